//! Raw IP sockets for VRRP adverts (protocol 112), one pair per interface
//! and family: a receive socket bound to the device only (a raw socket
//! bound to an address would drop multicast), joined to the group, and a
//! send socket bound to the instance's source address so the kernel puts
//! that address (the one the v3 checksum covered) in the IP header.
//!
//! TTL / hop limit 255 on everything we send; our own multicast is not
//! looped back. IPv4 receive delivers the IP header (we check TTL there);
//! IPv6 delivers the VRRP message only, with the hop limit and the
//! destination address in control messages.

use super::{bind_to_device, setsockopt, socket};
use nix::sys::socket::{MsgFlags, SockaddrIn, SockaddrIn6, bind, sendto};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

pub const IPPROTO_VRRP: libc::c_int = 112;
pub const IPPROTO_AH: libc::c_int = 51;
pub const VRRP_GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// One received datagram's metadata. For IPv4 the buffer starts with the
/// IP header; for IPv6 with the VRRP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub src: IpAddr,
    /// IPv6: from IPV6_PKTINFO. IPv4: None (it is in the IP header).
    pub dst: Option<IpAddr>,
    /// IPv6: from IPV6_HOPLIMIT. IPv4: None (it is in the IP header).
    pub hop_limit: Option<u8>,
    pub ifindex: Option<u32>,
}

pub struct AdvertSocket {
    fd: OwnedFd,
    v6: bool,
    /// Datagrams the kernel dropped because the receive queue was full, as it last said
    /// (SO_RXQ_OVFL: a running count, sent with each datagram; receive sockets only).
    queue_drops: std::cell::Cell<u32>,
}

impl AsFd for AdvertSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AdvertSocket {
    /// A receive socket on `ifname`, joined to `groups` (multicast mode) or
    /// to none (unicast mode). With AH authentication the IP protocol of
    /// adverts is AH (51), not VRRP: `ah` picks the socket's protocol.
    pub fn receiver(ifname: &str, ifindex: u32, v6: bool, groups: &[IpAddr], ah: bool) -> io::Result<Self> {
        let proto = if ah { IPPROTO_AH } else { IPPROTO_VRRP };
        let fd = socket(if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_RAW, proto)?;
        bind_to_device(&fd, ifname)?;
        if v6 {
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &1i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &1i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &0i32)?;
        } else {
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &0i32)?;
        }
        // The kernel reports the drops of a full receive queue (a flood): counted, not silent.
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &1i32)?;
        let s = AdvertSocket { fd, v6, queue_drops: std::cell::Cell::new(0) };
        for g in groups {
            s.join(*g, ifindex)?;
        }
        Ok(s)
    }

    /// A send socket on `ifname` with source `src` (bound; for IPv6 a
    /// link-local source needs the scope id = ifindex).
    pub fn sender(ifname: &str, ifindex: u32, src: IpAddr) -> io::Result<Self> {
        let v6 = src.is_ipv6();
        let fd = socket(if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_RAW, IPPROTO_VRRP)?;
        bind_to_device(&fd, ifname)?;
        if v6 {
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &255i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &255i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &0i32)?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(ifindex as i32))?;
        } else {
            // We build the whole IPv4 datagram: AH authenticates the header.
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_HDRINCL, &1i32)?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &255i32)?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TTL, &255i32)?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &0i32)?;
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: ifindex as i32,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        }
        // Freebind: the source may be a VIP this node does not hold yet,
        // or (IPv6) a link-local address still tentative while DAD runs on
        // an interface that just came up: without it bind fails and the
        // instance would stay in FAULT (keepalived starts and sends once
        // the address is usable).
        if v6 {
            let _ = setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, &1i32);
        } else {
            let _ = setsockopt(&fd, libc::IPPROTO_IP, libc::IP_FREEBIND, &1i32);
        }
        match scoped(SocketAddr::new(src, 0), ifindex) {
            SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
            SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
        }
        Ok(AdvertSocket { fd, v6, queue_drops: std::cell::Cell::new(0) })
    }

    pub fn join(&self, group: IpAddr, ifindex: u32) -> io::Result<()> {
        match group {
            IpAddr::V4(g) => {
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(g.octets()) },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: ifindex as i32,
                };
                setsockopt(&self.fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)
            }
            IpAddr::V6(g) => {
                let mreq = libc::ipv6_mreq { ipv6mr_multiaddr: libc::in6_addr { s6_addr: g.octets() }, ipv6mr_interface: ifindex };
                setsockopt(&self.fd, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)
            }
        }
    }

    /// Sends one advert: for IPv4 a whole datagram (IP_HDRINCL), for IPv6
    /// the VRRP message (the kernel adds the header).
    pub fn send_to(&self, msg: &[u8], dst: IpAddr, ifindex: u32) -> io::Result<usize> {
        send_to(&self.fd, msg, SocketAddr::new(dst, 0), ifindex)
    }

    /// Lets the kernel drop the adverts of `siblings` (other VRIDs this
    /// configuration receives on the same socket kind; see `filter`), or
    /// none when empty. Replaces the filter set before.
    pub fn filter_vrids(&self, siblings: &[u8]) -> io::Result<()> {
        let Some(prog) = super::filter::program(self.v6, siblings) else {
            // SO_DETACH_FILTER fails with ENOENT when none is attached: fine.
            return match super::setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_DETACH_FILTER, &0i32) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                r => r,
            };
        };
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
        // `fprog` points into `prog`, alive until the call returns; the kernel copies it.
        super::setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    /// Datagrams the kernel dropped from this socket's full receive queue so far, as of the
    /// last datagram received (0 until it drops one).
    pub fn queue_drops(&self) -> u32 {
        self.queue_drops.get()
    }

    /// Receives one datagram into `buf` (WouldBlock when none is queued), with its hop limit,
    /// destination and interface (IPv6) and the kernel's count of queue drops.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let (mut dst, mut hop_limit, mut ifindex, mut drops) = (None, None, None, None);
        let (n, sa) = super::recvmsg_cmsgs(self.fd.as_raw_fd(), buf, |level, ty, data| match (level, ty) {
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => drops = super::cmsg_int(data).map(|v| v as u32),
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => hop_limit = super::cmsg_int(data).and_then(|v| u8::try_from(v).ok()),
            // struct in6_pktinfo: the destination address, then the interface index.
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= 20 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&data[..16]);
                dst = Some(IpAddr::V6(Ipv6Addr::from(a)));
                ifindex = super::cmsg_int(&data[16..20]).map(|v| v as u32);
            }
            _ => {}
        })?;
        if let Some(d) = drops {
            self.queue_drops.set(d);
        }
        let src = from_sockaddr(&sa).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(Received { len: n, src, dst, hop_limit, ifindex })
    }
}

/// `addr` with the scope id a link-local or multicast IPv6 address needs
/// (the interface it is on); other addresses unchanged.
fn scoped(addr: SocketAddr, ifindex: u32) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if is_link_local(a.ip()) || a.ip().is_multicast() => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, ifindex)),
        SocketAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        v4 => v4,
    }
}

/// One non-blocking datagram to `dst` (scoped to `ifindex` as `scoped` says).
pub(crate) fn send_to(fd: &OwnedFd, msg: &[u8], dst: SocketAddr, ifindex: u32) -> io::Result<usize> {
    let n = match scoped(dst, ifindex) {
        SocketAddr::V4(a) => sendto(fd.as_raw_fd(), msg, &SockaddrIn::from(a), MsgFlags::MSG_DONTWAIT)?,
        SocketAddr::V6(a) => sendto(fd.as_raw_fd(), msg, &SockaddrIn6::from(a), MsgFlags::MSG_DONTWAIT)?,
    };
    Ok(n)
}

pub(crate) fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: ss_family says the kernel wrote a sockaddr_in at the
            // start of the storage, which is larger and at least as aligned;
            // every byte of it is initialised (zeroed before the call).
            let sin: libc::sockaddr_in = unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes())))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for a sockaddr_in6 (AF_INET6).
            let sin6: libc::sockaddr_in6 = unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

pub fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}
