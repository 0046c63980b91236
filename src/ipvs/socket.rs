//! A NETLINK_GENERIC request socket: `netlink::NlSocket` opened on the generic family,
//! with its errors in IPVS terms.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::SockProtocol;

use crate::netlink::{NetlinkError, NlSocket};

use super::error::{IpvsError, Result};

#[derive(Debug)]
pub struct GenlSocket(NlSocket);

fn ipvs_err(e: NetlinkError) -> IpvsError {
    match e {
        NetlinkError::ReplyTruncated { len } => IpvsError::ReplyTruncated { len },
        other => IpvsError::Io(other.errno().unwrap_or(Errno::EIO)),
    }
}

impl GenlSocket {
    pub fn open() -> Result<Self> {
        NlSocket::open(SockProtocol::NetlinkGeneric, 0).map(Self).map_err(ipvs_err)
    }

    pub fn port_id(&self) -> u32 {
        self.0.port_id()
    }

    /// Bounds how long a blocking `recv` waits; it then fails with `Io(EAGAIN)`.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        self.0.set_nonblocking(on).map_err(ipvs_err)
    }

    pub fn set_recv_timeout(&self, timeout: Duration) -> Result<()> {
        self.0.set_recv_timeout(timeout).map_err(ipvs_err)
    }

    pub fn send(&self, msg: &[u8]) -> Result<()> {
        self.0.send(msg).map_err(ipvs_err)
    }

    /// Receives one datagram from the kernel; datagrams from other senders are dropped.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.0.recv(buf).map_err(ipvs_err)
    }
}

impl AsFd for GenlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for GenlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
