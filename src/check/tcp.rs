//! TCP_CHECK (keepalived's check_tcp.c): a connect within connect_timeout
//! is success; the connection is closed at once.

use super::net::{Failure, tcp_connect};
use super::plan::Target;

pub async fn check(t: &Target) -> Result<(), Failure> {
    let s = tcp_connect(t).await?;
    drop(s);
    Ok(())
}
