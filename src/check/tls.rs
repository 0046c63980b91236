//! SSL_GET's TLS layer behind a small trait, so a TLS library can be
//! plugged in without touching the checker.
//!
//! Until one is (rustls via futures-rustls), `NoTls` answers every
//! handshake with `Failure::TlsUnavailable`: SSL_GET checkers run, fail
//! and say why, as any other failing checker.
//!
//! keepalived does not verify the server certificate unless a CA file is
//! configured; an implementation should accept any certificate by default
//! and send SNI only when `enable_sni` gave a name.

use super::net::Failure;
use async_io::Async;
use smol::io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::net::{IpAddr, TcpStream};
use std::pin::Pin;

/// An established TLS session the HTTP checker reads and writes.
pub trait TlsStream: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> TlsStream for T {}

/// The handshake in progress (boxed: one allocation per SSL_GET connection).
pub type Handshake<'a> = Pin<Box<dyn Future<Output = Result<Box<dyn TlsStream>, Failure>> + 'a>>;

pub trait TlsConnector {
    /// Runs a client handshake over `tcp`. `server_name`: the SNI name, if
    /// any; `peer`: the address, for implementations that need a name.
    /// The caller bounds the handshake with connect_timeout.
    fn connect<'a>(
        &'a self,
        tcp: Async<TcpStream>,
        server_name: Option<&'a str>,
        peer: IpAddr,
    ) -> Handshake<'a>;
}

/// No TLS library linked: every SSL_GET fails with "TLS unavailable".
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTls;

impl TlsConnector for NoTls {
    fn connect<'a>(
        &'a self,
        tcp: Async<TcpStream>,
        _: Option<&'a str>,
        _: IpAddr,
    ) -> Handshake<'a> {
        drop(tcp);
        Box::pin(async { Err(Failure::TlsUnavailable) })
    }
}
