//! `vigil genhash`: keepalived's genhash. Fetches a URL over HTTP or HTTPS
//! and prints the MD5 digest of the body, the value HTTP_GET / SSL_GET's
//! `digest` expects. Reached as `vigil genhash ARGS`, `vigil -T ARGS`,
//! `vigil --genhash ARGS` (keepalived's spelling), or through a link named
//! `genhash`. Same options as keepalived 2.2.7's genhash.
//!
//! The digest is computed exactly as the checker computes it (one code
//! path: `check::genhash` over the whole response), so what this prints
//! is what a check compares against.
//!
//! Difference from keepalived: a failure (connection refused, timeout, no
//! header/body separator) exits 1 with a message on stderr; keepalived's
//! genhash prints "Connection failed" and exits 0.

use crate::check::tls_rustls::RustlsConnector;
use crate::check::{Failure, Target, TlsConnector, digest_hex, genhash, http_request};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
Usage: vigil genhash COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h

Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds
";

/// The largest response read (the digest covers all of it).
const MAX_RESPONSE: usize = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub ssl: bool,
    pub sni: bool,
    pub server: IpAddr,
    pub port: u16,
    pub url: String,
    pub vhost: Option<String>,
    pub verbose: bool,
    pub fwmark: Option<u32>,
    pub protocol: Option<String>,
    pub timeout: Duration,
}

/// Parses genhash's arguments (after the command word). `Ok(None)`: help.
pub fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut ssl = false;
    let mut sni = false;
    let mut verbose = false;
    let (mut server, mut port, mut url, mut vhost, mut fwmark, mut protocol) = (None, None, None, None, None, None);
    let mut timeout = Duration::from_secs(5);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n, Some(v.to_string())),
            _ if !a.starts_with("--") && a.starts_with('-') && a.len() > 2 => (&a[..2], Some(a[2..].to_string())),
            _ => (a, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args.get(i).cloned().ok_or_else(|| format!("option {name} needs a value"))?;
            i += 1;
            Ok(v)
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "-S" | "--use-ssl" => ssl = true,
            "-I" | "--use-sni" => sni = true,
            "-v" | "--verbose" => verbose = true,
            "-s" | "--server" => {
                let v = value()?;
                server = Some(v.parse::<IpAddr>().map_err(|_| format!("invalid server address {v:?}"))?);
            }
            "-p" | "--port" => {
                let v = value()?;
                port = Some(v.parse::<u16>().map_err(|_| format!("invalid port {v:?}"))?);
            }
            "-u" | "--url" => url = Some(value()?),
            "-V" | "--use-virtualhost" => vhost = Some(value()?),
            "-m" | "--fwmark" => {
                let v = value()?;
                fwmark = Some(v.parse::<u32>().map_err(|_| format!("invalid fwmark {v:?}"))?);
            }
            "-P" | "--protocol" => {
                let v = value()?;
                if !matches!(v.as_str(), "1.0" | "1.0c" | "1.0C" | "1.1") {
                    return Err(format!("invalid protocol {v:?} (1.0, 1.0c or 1.1)"));
                }
                protocol = Some(v);
            }
            "-t" | "--timeout" => {
                let v = value()?;
                let s: u64 = v.parse().map_err(|_| format!("invalid timeout {v:?}"))?;
                timeout = Duration::from_secs(s.clamp(1, 3600));
            }
            _ => return Err(format!("unknown option {a:?}")),
        }
    }
    let server = server.ok_or("a server address is needed (-s)")?;
    let url = url.ok_or("a url is needed (-u)")?;
    Ok(Some(Args {
        ssl,
        sni,
        server,
        port: port.unwrap_or(if ssl { 443 } else { 80 }),
        url,
        vhost,
        verbose,
        fwmark,
        protocol,
        timeout,
    }))
}

/// What a fetch gave: the whole response and the body's digest.
pub struct Fetched {
    pub response: Vec<u8>,
    pub digest: [u8; 16],
    pub header_len: usize,
    pub elapsed: Duration,
}

/// Fetches `a.url` and digests the body, bounded by `a.timeout` overall.
pub async fn fetch(a: &Args) -> Result<Fetched, Failure> {
    let dst = SocketAddr::new(a.server, a.port);
    let mut target = Target::new(dst, a.timeout);
    target.fwmark = a.fwmark;
    let request = http_request(&a.url, a.protocol.as_deref(), a.vhost.as_deref(), dst);
    let started = Instant::now();
    let work = async {
        let tcp = crate::check::net::tcp_connect(&target).await?;
        let mut response = Vec::new();
        if a.ssl {
            let tls = RustlsConnector::new().map_err(|_| Failure::TlsUnavailable)?;
            let name = if a.sni { a.vhost.as_deref() } else { None };
            let mut s = tls.connect(tcp, name, a.server).await?;
            exchange(&mut s, &request, &mut response).await?;
        } else {
            let mut s = tcp;
            exchange(&mut s, &request, &mut response).await?;
        }
        Ok::<_, Failure>(response)
    };
    let response = crate::check::net::timeout(a.timeout, work).await?;
    let header_len = find_header_end(&response).ok_or(Failure::NoHeaders)?;
    let digest = genhash(&response).ok_or(Failure::NoHeaders)?;
    Ok(Fetched { response, digest, header_len, elapsed: started.elapsed() })
}

async fn exchange<S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    request: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    s.write_all(request).await.map_err(|e| crate::check::net::io_failure(&e))?;
    s.flush().await.map_err(|e| crate::check::net::io_failure(&e))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.map_err(|e| crate::check::net::io_failure(&e))?;
        if n == 0 {
            return Ok(());
        }
        if out.len() + n > MAX_RESPONSE {
            // A response over the cap: as good as a broken one.
            return Err(Failure::Io(libc::EFBIG));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Length of the header block including its blank line.
fn find_header_end(r: &[u8]) -> Option<usize> {
    r.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).or_else(|| r.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
}

/// Runs genhash; returns the process exit code.
pub fn main(args: &[String]) -> u8 {
    let a = match parse(args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("genhash: {e}\n{USAGE}");
            return 1;
        }
    };
    match smol::block_on(fetch(&a)) {
        Ok(f) => {
            if a.verbose {
                let head = String::from_utf8_lossy(&f.response[..f.header_len]);
                println!("-----------------------[ HTTP Header Ascii Buffer ]-----------------------");
                print!("{head}");
                println!("-----------------------[        HTML Buffer        ]-----------------------");
                println!("{} bytes", f.response.len() - f.header_len);
                println!("-----------------------[ HTML hash final resulting ]-----------------------");
            }
            println!("{}", digest_hex(&f.digest));
            if a.verbose {
                println!("\nGlobal response time for [{}] = {} usecs", a.url, f.elapsed.as_micros());
            }
            0
        }
        Err(e) => {
            eprintln!("genhash: {}:{}{}: {e}", a.server, a.port, a.url);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_keepalived_genhash_options() {
        let a = parse(&s(&["-S", "-s", "10.0.0.1", "-p", "8443", "-u", "/x", "-V", "h.example", "-I", "-P", "1.1", "-t", "3"]))
            .unwrap()
            .unwrap();
        assert!(a.ssl && a.sni);
        assert_eq!(a.server, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((a.port, a.url.as_str(), a.vhost.as_deref()), (8443, "/x", Some("h.example")));
        assert_eq!(a.timeout, Duration::from_secs(3));
        let a = parse(&s(&["--server=::1", "--url", "/"])).unwrap().unwrap();
        assert_eq!(a.port, 80);
        assert!(parse(&s(&["-h"])).unwrap().is_none());
        assert!(parse(&s(&["-s", "nohost", "-u", "/"])).is_err());
        assert!(parse(&s(&["-u", "/"])).is_err());
        assert!(parse(&s(&["-s", "1.2.3.4", "-u", "/", "-P", "2"])).is_err());
        assert!(parse(&s(&["-s", "1.2.3.4", "-u", "/", "--bogus"])).is_err());
    }

    #[test]
    fn header_end() {
        assert_eq!(find_header_end(b"HTTP/1.0 200 OK\r\n\r\nbody"), Some(19));
        assert_eq!(find_header_end(b"HTTP/1.0 200 OK\n\nbody"), Some(17));
        assert_eq!(find_header_end(b"HTTP/1.0 200 OK\r\n"), None);
    }
}
