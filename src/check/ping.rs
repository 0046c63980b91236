//! PING_CHECK (keepalived's check_ping.c): one ICMP (or ICMPv6) echo
//! request; an echo reply from the target within connect_timeout is
//! success.
//!
//! An unprivileged ping socket (`SOCK_DGRAM`, IPPROTO_ICMP: allowed by
//! net.ipv4.ping_group_range) is tried first; the kernel then owns the id
//! and filters replies. Without one we fall back to a raw socket
//! (CAP_NET_RAW), which sees every ICMP packet: we match type, id and seq.

use super::net::{Failure, bound_socket, io_failure, random_u64, timeout};
use super::plan::Target;
use async_io::Async;
use nix::sys::socket::{self, SockProtocol, SockType, SockaddrStorage};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};

const PAYLOAD: &[u8; 16] = b"vigil-ping-check";
const ECHO_LEN: usize = 8 + PAYLOAD.len();

/// The Internet checksum (RFC 1071).
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request into `buf`.
pub fn echo_request(buf: &mut [u8; ECHO_LEN], v6: bool, id: u16, seq: u16) {
    buf[0] = if v6 { 128 } else { 8 };
    buf[1] = 0;
    buf[2..4].copy_from_slice(&[0, 0]);
    buf[4..6].copy_from_slice(&id.to_be_bytes());
    buf[6..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..].copy_from_slice(PAYLOAD);
    if !v6 {
        // ICMPv6 checksums need the pseudo-header: the kernel fills them in.
        let c = checksum(&buf[..]);
        buf[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Is `pkt` (an ICMP message, IP header already stripped) our echo reply?
/// `id`: None when the kernel owns it (ping sockets).
pub fn is_reply(pkt: &[u8], v6: bool, id: Option<u16>, seq: u16) -> bool {
    if pkt.len() < 8 || pkt[0] != if v6 { 129 } else { 0 } {
        return false;
    }
    let id_ok = id.is_none_or(|i| u16::from_be_bytes([pkt[4], pkt[5]]) == i);
    id_ok && u16::from_be_bytes([pkt[6], pkt[7]]) == seq
}

/// Which kind of ICMP socket a check used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingSocket {
    /// `SOCK_DGRAM` ping socket: no privilege, kernel-owned id.
    Unprivileged,
    /// `SOCK_RAW`: needs CAP_NET_RAW.
    Raw,
}

/// Opens the ICMP socket for `t`: unprivileged when the kernel allows it.
pub fn open(t: &Target) -> Result<(OwnedFd, PingSocket), Failure> {
    let proto = if t.dst.is_ipv4() {
        SockProtocol::Icmp
    } else {
        SockProtocol::IcmpV6
    };
    match bound_socket(t, SockType::Datagram, Some(proto)) {
        Ok(fd) => Ok((fd, PingSocket::Unprivileged)),
        Err(Failure::Socket(e))
            if e == libc::EACCES || e == libc::EPERM || e == libc::EPROTONOSUPPORT =>
        {
            bound_socket(t, SockType::Raw, Some(proto)).map(|fd| (fd, PingSocket::Raw))
        }
        Err(e) => Err(e),
    }
}

pub async fn check(t: &Target) -> Result<(), Failure> {
    let v6 = t.dst.is_ipv6();
    let (fd, kind) = open(t)?;
    let raw = kind == PingSocket::Raw;
    let dst = SockaddrStorage::from(std::net::SocketAddr::new(t.dst.ip(), 0));
    socket::connect(fd.as_raw_fd(), &dst).map_err(|e| Failure::Connect(e as i32))?;
    // UdpSocket is only the fd's carrier: send/recv on a connected socket.
    let sock = Async::new(UdpSocket::from(fd)).map_err(|e| io_failure(&e))?;
    let r = random_u64();
    let (id, seq) = (r as u16, (r >> 16) as u16);
    let mut req = [0u8; ECHO_LEN];
    echo_request(&mut req, v6, id, seq);
    let want_id = if raw { Some(id) } else { None };
    timeout(t.connect_timeout, async {
        sock.send(&req).await.map_err(|e| io_failure(&e))?;
        let mut buf = [0u8; 1500];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| io_failure(&e))?;
            let pkt = &buf[..n];
            // Raw IPv4 sockets hand us the IP header too.
            let pkt = if raw && !v6 {
                let ihl = usize::from(pkt.first().copied().unwrap_or(0) & 0x0f) * 4;
                pkt.get(ihl..).unwrap_or(&[])
            } else {
                pkt
            };
            if is_reply(pkt, v6, want_id, seq) {
                return Ok(());
            }
        }
    })
    .await
    .map_err(|e| {
        if e == Failure::Timeout {
            Failure::Ping
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_bytes_and_checksum() {
        let mut b = [0xa5; ECHO_LEN];
        echo_request(&mut b, false, 0x0102, 0x0304);
        assert_eq!(&b[..2], &[8, 0]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(checksum(&b), 0, "a correct checksum sums to zero");
        let mut reply = b;
        reply[0] = 0;
        assert!(is_reply(&reply, false, Some(0x0102), 0x0304));
        assert!(!is_reply(&reply, false, Some(0x0103), 0x0304));
        assert!(is_reply(&reply, false, None, 0x0304));
        assert!(
            !is_reply(&b, false, None, 0x0304),
            "our own request is not a reply"
        );
        assert!(!is_reply(&reply[..4], false, None, 0x0304));
    }
}
