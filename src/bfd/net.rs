//! The BFD child's sockets (RFC 5881 single hop, RFC 5883 multihop): one
//! receive socket per family and port, bound to the wildcard address, that
//! hands us the received TTL / hop limit; and one send socket per session,
//! bound to its source address and a source port from 49152–65535 (RFC 5881
//! §4: the same port for the session's life), sending with the session's TTL.
//!
//! Receiving allocates nothing: the caller's buffer, a control buffer on the
//! stack, raw recvmsg (as `vrrp::net::sock`).

use crate::vrrp::net::{cmsg_int, from_sockaddr, recvmsg_cmsgs, setsockopt, socket};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// RFC 5881 §4: the source port of a session's packets.
pub const SOURCE_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;
/// Tries at a free source port before giving up.
const SOURCE_PORT_TRIES: usize = 64;

/// One received datagram's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub src: SocketAddr,
    /// IP_TTL / IPV6_HOPLIMIT from the control message; None if the kernel gave none.
    pub ttl: Option<u8>,
}

pub struct Socket {
    fd: OwnedFd,
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn bind(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    use nix::sys::socket::{SockaddrIn, SockaddrIn6, bind};
    match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
    }
    Ok(())
}

impl Socket {
    /// The receive socket of a family on `port` (3784 single hop, 4784 multihop).
    pub fn receiver(v6: bool, port: u16) -> io::Result<Socket> {
        let fd = socket(if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_DGRAM, 0)?;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &1i32)?;
        let any = if v6 {
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &1i32)?;
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_RECVTTL, &1i32)?;
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        bind(&fd, SocketAddr::new(any, port))?;
        Ok(Socket { fd })
    }

    /// A session's send socket: from `source` (or the kernel's choice, of
    /// `neighbor`'s family) and a free port in `SOURCE_PORTS` drawn from
    /// `draw`, sending with TTL / hop limit `ttl`.
    pub fn sender(neighbor: IpAddr, source: Option<IpAddr>, ttl: u8, mut draw: impl FnMut() -> u32) -> io::Result<Socket> {
        let v6 = neighbor.is_ipv6();
        let fd = socket(if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_DGRAM, 0)?;
        if v6 {
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &i32::from(ttl))?;
        } else {
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TTL, &i32::from(ttl))?;
        }
        let ip = source.unwrap_or(if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) });
        let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
        let mut last = io::Error::from(io::ErrorKind::AddrInUse);
        for _ in 0..SOURCE_PORT_TRIES {
            let port = SOURCE_PORTS.start() + (draw() % span) as u16;
            match bind(&fd, SocketAddr::new(ip, port)) {
                Ok(()) => return Ok(Socket { fd }),
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// A session's send socket on a given source `port` (a session taken
    /// over from a previous process keeps its port).
    pub fn sender_on(neighbor: IpAddr, source: Option<IpAddr>, ttl: u8, port: u16) -> io::Result<Socket> {
        if !SOURCE_PORTS.contains(&port) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut once = Some(u32::from(port - SOURCE_PORTS.start()));
        let s = Socket::sender(neighbor, source, ttl, || once.take().unwrap_or(u32::MAX))?;
        if s.local_addr()?.port() != port {
            return Err(io::Error::from(io::ErrorKind::AddrInUse));
        }
        Ok(s)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let ss: nix::sys::socket::SockaddrStorage = nix::sys::socket::getsockname(self.fd.as_raw_fd())?;
        if let Some(a) = ss.as_sockaddr_in() {
            return Ok(SocketAddr::V4((*a).into()));
        }
        if let Some(a) = ss.as_sockaddr_in6() {
            return Ok(SocketAddr::V6((*a).into()));
        }
        Err(io::Error::from(io::ErrorKind::InvalidData))
    }

    /// One datagram to `dst`, without waiting (WouldBlock when the queue is full).
    pub fn send_to(&self, msg: &[u8], dst: SocketAddr) -> io::Result<usize> {
        use nix::sys::socket::{MsgFlags, SockaddrIn, SockaddrIn6, sendto};
        Ok(match dst {
            SocketAddr::V4(a) => sendto(self.fd.as_raw_fd(), msg, &SockaddrIn::from(a), MsgFlags::MSG_DONTWAIT)?,
            SocketAddr::V6(a) => sendto(self.fd.as_raw_fd(), msg, &SockaddrIn6::from(a), MsgFlags::MSG_DONTWAIT)?,
        })
    }

    /// Receives one datagram into `buf` (WouldBlock when none is queued).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut ttl = None;
        let (n, sa) = recvmsg_cmsgs(self.fd.as_raw_fd(), buf, |level, ty, data| {
            if (level == libc::IPPROTO_IP && ty == libc::IP_TTL) || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT) {
                ttl = cmsg_int(data).and_then(|v| u8::try_from(v).ok());
            }
        })?;
        let ip = from_sockaddr(&sa).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        // The port sits at the same offset in sockaddr_in and sockaddr_in6,
        // right after the family, in network order.
        // SAFETY: sockaddr_storage is at least as large as sockaddr_in; the
        // bytes were zeroed before the call, so the read is initialised.
        let port = u16::from_be(unsafe { (*(&sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port });
        Ok(Received { len: n, src: SocketAddr::new(ip, port), ttl })
    }
}
