//! A netlink socket (NETLINK_ROUTE, and the generic and netfilter families for IPVS and
//! nftables): raw datagrams in and out, nothing parsed here.
//!
//! `NlSocket` is an `OwnedFd` with `AsFd`/`AsRawFd`, so the reflector can make it
//! non-blocking and wrap it in `async_io::Async`; [`super::Rtnl`] uses it blocking with a
//! receive timeout.

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

use super::consts::{NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOL_NETLINK};
use super::error::{NetlinkError, Result};

#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
    port: u32,
}

impl NlSocket {
    /// Opens a NETLINK_ROUTE socket bound to a kernel-chosen port id and subscribed to
    /// `groups` (RTMGRP_* bits; 0 for a request socket). Asks for capped, extended acks so
    /// errors carry the kernel's message without echoing the whole request.
    pub fn route(groups: u32) -> Result<Self> {
        Self::open(SockProtocol::NetlinkRoute, groups)
    }

    /// Opens a netlink socket of any family (route, generic for IPVS, netfilter for
    /// nftables) the same way: kernel-chosen port, capped extended acks.
    pub fn open(protocol: SockProtocol, groups: u32) -> Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            protocol,
        )
        .map_err(NetlinkError::Io)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).map_err(NetlinkError::Io)?;
        let port = getsockname::<NetlinkAddr>(fd.as_raw_fd())
            .map_err(NetlinkError::Io)?
            .pid();
        // Both options are best effort: older kernels lack them and still work.
        let _ = set_int_opt(&fd, NETLINK_CAP_ACK, 1);
        let _ = set_int_opt(&fd, NETLINK_EXT_ACK, 1);
        Ok(Self { fd, port })
    }

    /// The port id the kernel assigned; replies to our requests carry it.
    pub fn port_id(&self) -> u32 {
        self.port
    }

    /// Bounds how long a blocking `recv` waits; it then fails with `Io(EAGAIN)`.
    pub fn set_recv_timeout(&self, timeout: Duration) -> Result<()> {
        setsockopt(
            &self.fd,
            sockopt::ReceiveTimeout,
            &TimeVal::from(libc::timeval {
                // A day at most: any real bound is far below it, and it fits every time_t.
                tv_sec: timeout.as_secs().min(86_400) as _,
                tv_usec: timeout.subsec_micros().into(),
            }),
        )
        .map_err(NetlinkError::Io)
    }

    /// Sizes the kernel's receive queue (SO_RCVBUF, doubled by the kernel and capped by
    /// net.core.rmem_max): a reflector that falls behind a burst gets ENOBUFS, not stalls.
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<()> {
        setsockopt(&self.fd, sockopt::RcvBuf, &bytes).map_err(NetlinkError::Io)
    }

    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let fl = fcntl(self.fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(NetlinkError::Io)?;
        let mut fl = OFlag::from_bits_truncate(fl);
        fl.set(OFlag::O_NONBLOCK, on);
        fcntl(self.fd.as_raw_fd(), FcntlArg::F_SETFL(fl)).map_err(NetlinkError::Io)?;
        Ok(())
    }

    /// Sends one request datagram to the kernel.
    pub fn send(&self, msg: &[u8]) -> Result<()> {
        loop {
            match sendto(
                self.fd.as_raw_fd(),
                msg,
                &NetlinkAddr::new(0, 0),
                MsgFlags::empty(),
            ) {
                Ok(n) if n == msg.len() => return Ok(()),
                Ok(_) => return Err(NetlinkError::Io(Errno::EMSGSIZE)),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(NetlinkError::Io(e)),
            }
        }
    }

    /// Receives one datagram from the kernel into `buf` and returns its length. Datagrams
    /// from other senders (a user-space process can unicast to our port) are dropped.
    /// Errors: `Io(EAGAIN)` on timeout or when non-blocking, `Io(ENOBUFS)` when the kernel
    /// dropped notifications (a reflector must resynchronise), `ReplyTruncated`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let (bytes, flags, sender) = {
                let mut iov = [IoSliceMut::new(buf)];
                match recvmsg::<NetlinkAddr>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty())
                {
                    Ok(r) => (r.bytes, r.flags, r.address.map(|a| a.pid())),
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(NetlinkError::Io(e)),
                }
            };
            if sender != Some(0) {
                debug!("netlink: dropped {bytes} bytes from port {sender:?}");
                continue;
            }
            if flags.contains(MsgFlags::MSG_TRUNC) {
                return Err(NetlinkError::ReplyTruncated { len: bytes });
            }
            return Ok(bytes);
        }
    }
}

fn set_int_opt(fd: &OwnedFd, opt: i32, val: libc::c_int) -> Result<()> {
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
    if rc == 0 {
        Ok(())
    } else {
        Err(NetlinkError::Io(Errno::last()))
    }
}

impl AsFd for NlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
