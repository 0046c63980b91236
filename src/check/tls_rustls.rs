//! SSL_GET over rustls: the `TlsConnector` the checker child passes to
//! `spawn_checkers` once the TLS crates are in Cargo.toml.
//!
//! NOT YET IN THE MODULE TREE. To enable, add to Cargo.toml:
//!
//! ```toml
//! rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
//! futures-rustls = { version = "0.26", default-features = false, features = ["ring", "tls12"] }
//! ```
//!
//! and `pub mod tls_rustls;` in check/mod.rs. Verified out of tree against
//! `openssl s_server -www` with and without SNI (the test below).
//!
//! As keepalived by default: the server certificate is not verified (any
//! certificate is accepted; handshake signatures still are checked), SNI is
//! sent only when `enable_sni` gave a name. No webpki-roots needed.

use super::net::Failure;
use super::tls::{Handshake, TlsConnector, TlsStream};
use async_io::Async;
use futures_rustls::rustls::{
    self, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;

#[derive(Debug)]
struct AcceptAnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

pub struct RustlsConnector {
    with_sni: futures_rustls::TlsConnector,
    without_sni: futures_rustls::TlsConnector,
}

impl RustlsConnector {
    pub fn new() -> Result<RustlsConnector, rustls::Error> {
        // ring, not aws-lc-rs: it builds for static musl without a C toolchain. Newer rustls
        // (the fuzz crate's lock resolves one) deprecates it for lacking post-quantum key
        // exchange, which a health check to a real server does not need.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(AcceptAnyCert(provider.signature_verification_algorithms));
        let make = |sni: bool| -> Result<futures_rustls::TlsConnector, rustls::Error> {
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth();
            cfg.enable_sni = sni;
            Ok(futures_rustls::TlsConnector::from(Arc::new(cfg)))
        };
        Ok(RustlsConnector {
            with_sni: make(true)?,
            without_sni: make(false)?,
        })
    }
}

impl TlsConnector for RustlsConnector {
    fn connect<'a>(
        &'a self,
        tcp: Async<TcpStream>,
        server_name: Option<&'a str>,
        peer: IpAddr,
    ) -> Handshake<'a> {
        Box::pin(async move {
            let (c, name) = match server_name.and_then(|n| ServerName::try_from(n.to_string()).ok())
            {
                Some(n) => (&self.with_sni, n),
                None => (&self.without_sni, ServerName::IpAddress(peer.into())),
            };
            match c.connect(name, tcp).await {
                Ok(s) => Ok(Box::new(s) as Box<dyn TlsStream>),
                Err(_) => Err(Failure::Tls),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RustlsConnector;
    use crate::check::*;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    #[test]
    fn ssl_get_through_rustls() {
        let dir = std::env::temp_dir().join(format!("vigil-ssl-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let (cert, key) = (
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string(),
        );
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=rs.test",
                "-keyout",
                &key,
                "-out",
                &cert,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.map(|s| s.success()).unwrap_or(false) {
            return; // no openssl binary: nothing to talk to
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut srv = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &port.to_string(),
                "-cert",
                &cert,
                "-key",
                &key,
                "-www",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let dst = format!("127.0.0.1:{port}").parse().unwrap();
        let tls = RustlsConnector::new().unwrap();
        for sni in [None, Some("rs.test".to_string())] {
            let url = UrlSpec {
                path: "/".into(),
                request: http_request("/", None, None, dst),
                digest: None,
                status: vec![(200, 299)],
                sni,
            };
            let spec = CheckSpec {
                probe: Probe::Http {
                    urls: vec![url],
                    tls: true,
                },
                target: Target::new(dst, Duration::from_secs(3)),
                policy: RetryPolicy {
                    retry: 0,
                    delay_loop: Duration::from_secs(1),
                    delay_before_retry: Duration::from_secs(1),
                    alpha: false,
                },
                warmup: Duration::ZERO,
            };
            let r = smol::block_on(run_once(&spec, &tls));
            assert_eq!(r, Ok(Outcome::UP));
        }
        let _ = srv.kill();
        let _ = srv.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
