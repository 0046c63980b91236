//! TCP_CHECK (keepalived's check_tcp.c): a connect within connect_timeout
//! is success; the connection is closed at once.

use super::net::{Failure, tcp_connect};
use super::plan::Target;
use async_io::Async;
use std::net::TcpStream;

pub async fn check(t: &Target) -> Result<(), Failure> {
    let s = tcp_connect(t).await?;
    drop(s);
    Ok(())
}

/// The first half of `check` for the checker task's state machine
/// (`runner`): the socket, bound as `t` says, its connect to `dst` started
/// (`t` may be a spec shared by real servers, its own `dst` another's).
pub fn start(t: &Target, dst: std::net::SocketAddr) -> Result<Async<TcpStream>, Failure> {
    super::net::tcp_start(t, dst)
}

/// The second half, once the socket is writable: did the connect succeed?
pub fn connected(s: &Async<TcpStream>) -> Result<(), Failure> {
    super::net::tcp_connected(s)
}
