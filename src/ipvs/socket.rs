//! A NETLINK_GENERIC request socket: raw datagrams in and out, nothing parsed here.
//! The same shape as `netlink::NlSocket`, which only opens NETLINK_ROUTE.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use log::debug;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, getsockname,
    recvmsg, sendto, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use crate::netlink::consts::{NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOL_NETLINK};

use super::error::{IpvsError, Result};

#[derive(Debug)]
pub struct GenlSocket {
    fd: OwnedFd,
    port: u32,
}

impl GenlSocket {
    /// Opens a NETLINK_GENERIC socket bound to a kernel-chosen port id, with capped,
    /// extended acks (best effort: older kernels lack them and still work).
    pub fn open() -> Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkGeneric,
        )
        .map_err(IpvsError::Io)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(IpvsError::Io)?;
        let port = getsockname::<NetlinkAddr>(fd.as_raw_fd())
            .map_err(IpvsError::Io)?
            .pid();
        set_int_opt(&fd, NETLINK_CAP_ACK, 1);
        set_int_opt(&fd, NETLINK_EXT_ACK, 1);
        Ok(Self { fd, port })
    }

    pub fn port_id(&self) -> u32 {
        self.port
    }

    /// Bounds how long a blocking `recv` waits; it then fails with `Io(EAGAIN)`.
    pub fn set_recv_timeout(&self, timeout: Duration) -> Result<()> {
        setsockopt(
            &self.fd,
            sockopt::ReceiveTimeout,
            &TimeVal::from(libc::timeval {
                tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                tv_usec: timeout.subsec_micros().into(),
            }),
        )
        .map_err(IpvsError::Io)
    }

    pub fn send(&self, msg: &[u8]) -> Result<()> {
        loop {
            match sendto(
                self.fd.as_raw_fd(),
                msg,
                &NetlinkAddr::new(0, 0),
                MsgFlags::empty(),
            ) {
                Ok(n) if n == msg.len() => return Ok(()),
                Ok(_) => return Err(IpvsError::Io(Errno::EMSGSIZE)),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(IpvsError::Io(e)),
            }
        }
    }

    /// Receives one datagram from the kernel; datagrams from other senders are dropped.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let (bytes, flags, sender) = {
                let mut iov = [IoSliceMut::new(buf)];
                match recvmsg::<NetlinkAddr>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty())
                {
                    Ok(r) => (r.bytes, r.flags, r.address.map(|a| a.pid())),
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(IpvsError::Io(e)),
                }
            };
            if sender != Some(0) {
                debug!("ipvs: dropped {bytes} bytes from port {sender:?}");
                continue;
            }
            if flags.contains(MsgFlags::MSG_TRUNC) {
                return Err(IpvsError::ReplyTruncated { len: bytes });
            }
            return Ok(bytes);
        }
    }
}

fn set_int_opt(fd: &OwnedFd, opt: i32, val: libc::c_int) {
    // SAFETY: fd is a valid socket for the call; the pointer and length describe `val`,
    // which outlives the call. nix has no typed wrapper for these netlink options.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_NETLINK,
            opt,
            (&val as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        debug!(
            "ipvs: netlink option {opt} not supported: {}",
            Errno::last()
        );
    }
}

impl AsFd for GenlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for GenlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
