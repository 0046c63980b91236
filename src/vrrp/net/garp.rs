//! Gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6),
//! so that switches and hosts move a VIP to the new master's MAC at once.
//! Frames are built into fixed buffers: sending allocates nothing.
//!
//! Gratuitous ARP, as keepalived sends it: an ARP request broadcast from
//! the interface (or virtual) MAC, sender = target = the VIP.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |           destination MAC ff:ff:ff:ff:ff:ff  (6)              |
//! |           source MAC (6)          | ethertype 0x0806          |
//! | htype 1         | ptype 0x0800    | hlen 6 | plen 4 | oper 1  |
//! | sender MAC (6) | sender IP = VIP (4) | target MAC ff.. (6)    |
//! | target IP = VIP (4)                                           |
//! +---------------------------------------------------------------+
//! ```
//!
//! Unsolicited NA (RFC 4861 §7.2.6): ICMPv6 type 136 to ff02::1, hop limit
//! 255, Override set, target = the VIP, with a target link-layer address
//! option. Sent on a raw ICMPv6 socket: the kernel fills in the checksum.

use super::sock::send_to;
use super::{bind_to_device, setsockopt, socket};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::{Rc, Weak};

pub type Mac = [u8; 6];

pub const ARP_FRAME_LEN: usize = 42;
pub const NA_LEN: usize = 32;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Builds a gratuitous ARP frame.
pub fn build_garp(mac: &Mac, vip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&[0xff; 6]);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// Builds the ICMPv6 part of an unsolicited NA (checksum left 0 for the kernel).
pub fn build_na(mac: &Mac, target: Ipv6Addr, router: bool) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = 136;
    m[1] = 0;
    // Flags: R (router), S = 0 (unsolicited), O (override).
    m[4] = if router { 0x80 } else { 0 } | 0x20;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 2; // target link-layer address
    m[25] = 1; // length in units of 8 octets
    m[26..32].copy_from_slice(mac);
    m
}

/// Gratuitous ARP on one interface, through the thread's one AF_PACKET
/// socket (each send names its interface). A socket per instance cost
/// the kernel a network grace period at each close (packet_release's
/// synchronize_net, about 12 ms): 1,000 instances took 12 s to stop.
pub struct ArpSocket {
    fd: Rc<OwnedFd>,
    ifindex: u32,
}

thread_local! {
    /// The AF_PACKET socket the thread's instances share, while any holds it.
    static SHARED_ARP: RefCell<Weak<OwnedFd>> = const { RefCell::new(Weak::new()) };
}

impl AsFd for ArpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl ArpSocket {
    pub fn new(ifindex: u32) -> io::Result<Self> {
        let fd = SHARED_ARP.with(|shared| -> io::Result<Rc<OwnedFd>> {
            if let Some(fd) = shared.borrow().upgrade() {
                return Ok(fd);
            }
            // Protocol 0: we only send, so nothing is queued for us to read.
            let fd = Rc::new(socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?);
            *shared.borrow_mut() = Rc::downgrade(&fd);
            Ok(fd)
        })?;
        Ok(ArpSocket { fd, ifindex })
    }

    pub fn send_garp(&self, mac: &Mac, vip: Ipv4Addr) -> io::Result<()> {
        let frame = build_garp(mac, vip);
        // nix has no safe constructor for a sockaddr_ll (LinkAddr), so the
        // link-layer address and sendto stay raw.
        // SAFETY: sockaddr_ll is plain integers and a byte array; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0x0806u16.to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: frame and sll are live locals; the pointers and lengths
        // passed describe exactly them, and the kernel only reads them.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}

/// A raw ICMPv6 socket on one interface for unsolicited NAs.
pub struct NaSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl NaSocket {
    pub fn new(ifname: &str, ifindex: u32) -> io::Result<Self> {
        let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
        bind_to_device(&fd, ifname)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &255i32)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(ifindex as i32))?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &0i32)?;
        Ok(NaSocket { fd, ifindex })
    }

    pub fn send_na(&self, mac: &Mac, target: Ipv6Addr, router: bool) -> io::Result<()> {
        let msg = build_na(mac, target, router);
        send_to(&self.fd, &msg, SocketAddr::new(ALL_NODES.into(), 0), self.ifindex).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instances_share_one_packet_socket_while_any_holds_it() {
        let a = match super::ArpSocket::new(1) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("SKIPPED: no AF_PACKET socket here ({e}; needs CAP_NET_RAW)");
                assert!(std::env::var("VIGIL_REQUIRE_ALL").as_deref() != Ok("1"), "VIGIL_REQUIRE_ALL=1 and the test was skipped");
                return;
            }
        };
        let b = super::ArpSocket::new(2).expect("a second ArpSocket");
        assert_eq!(a.as_fd().as_raw_fd(), b.as_fd().as_raw_fd(), "two packet sockets for two instances");
        assert_eq!(std::rc::Rc::strong_count(&a.fd), 2);
        drop(a);
        drop(b);
        assert!(super::SHARED_ARP.with(|s| s.borrow().upgrade().is_none()), "the shared socket outlived its last instance");
    }

    use super::*;

    #[test]
    fn garp_golden_bytes() {
        let f = build_garp(&[0x02, 0, 0, 0, 0, 0x01], Ipv4Addr::new(192, 0, 2, 100));
        let want: [u8; ARP_FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06, // ethernet
            0, 1, 0x08, 0, 6, 4, 0, 1, // arp header, request
            0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 100, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100, // target
        ];
        assert_eq!(f, want);
    }

    #[test]
    fn na_golden_bytes() {
        let m = build_na(&[0, 0, 0x5e, 0, 2, 0x33], "2001:db8::100".parse().unwrap(), true);
        assert_eq!(&m[..8], &[136, 0, 0, 0, 0xa0, 0, 0, 0]);
        assert_eq!(&m[8..24], &"2001:db8::100".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(&m[24..], &[2, 1, 0, 0, 0x5e, 0, 2, 0x33]);
    }
}
