//! The IPv4 header around an advert, as an IPv4 raw socket delivers it (RFC 791 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Options are allowed (IHL up to 15) and skipped: a fixed 20-byte header is not assumed on receive.

use core::net::Ipv4Addr;

use super::checksum;
use super::error::{Error, Result};

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST.end;
/// Longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// TOS keepalived sends adverts with (internetwork control, DSCP CS6).
pub const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

/// A read/write view of an IPv4 datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the fixed header is present, IHL ≥ 5, the header fits, and the total length covers the
    /// header and fits in the buffer. After this no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::BadIpHeader);
        }
        if hl > len {
            return Err(Error::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(Error::BadIpHeader);
        }
        if total > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, i: usize) -> u8 {
        self.b().get(i).copied().unwrap_or(0)
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.byte(at), self.byte(at + 1)])
    }

    fn addr_at(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::new(
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        )
    }

    pub fn version(&self) -> u8 {
        self.byte(field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::VER_IHL) & 0x0f) * 4
    }

    pub fn tos(&self) -> u8 {
        self.byte(field::TOS)
    }

    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT.start)
    }

    /// Flags and fragment offset, as one 16-bit word.
    pub fn flags_frag(&self) -> u16 {
        self.u16_at(field::FLG_OFF.start)
    }

    pub fn ttl(&self) -> u8 {
        self.byte(field::TTL)
    }

    pub fn protocol(&self) -> u8 {
        self.byte(field::PROTOCOL)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr_at(field::SRC.start)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr_at(field::DST.start)
    }

    /// The header with options.
    pub fn header(&self) -> &[u8] {
        let hl = self.header_len();
        self.b().get(..hl).unwrap_or(&[])
    }

    /// Bytes after the header up to the total length.
    pub fn payload(&self) -> &[u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        self.b().get(hl..total).unwrap_or(&[])
    }

    /// True when the header checksum verifies (a raw socket hands us what the kernel verified;
    /// captures and tests check it here).
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(at..at + 2) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }

    fn set_addr(&mut self, at: usize, a: Ipv4Addr) {
        if let Some(b) = self.buffer.as_mut().get_mut(at..at + 4) {
            b.copy_from_slice(&a.octets());
        }
    }

    /// Version 4 and the header length in bytes (multiple of 4, 20..=60).
    pub fn set_version_header_len(&mut self, header_len: usize) {
        let ihl = (header_len / 4).min(15) as u8;
        self.set_byte(field::VER_IHL, 0x40 | ihl);
    }

    pub fn set_tos(&mut self, v: u8) {
        self.set_byte(field::TOS, v);
    }

    pub fn set_total_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH.start, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        self.set_u16(field::IDENT.start, v);
    }

    pub fn set_flags_frag(&mut self, v: u16) {
        self.set_u16(field::FLG_OFF.start, v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.set_byte(field::TTL, v);
    }

    pub fn set_protocol(&mut self, v: u8) {
        self.set_byte(field::PROTOCOL, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM.start, v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.set_addr(field::SRC.start, a);
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.set_addr(field::DST.start, a);
    }

    /// Compute and write the header checksum (the kernel rewrites it under IP_HDRINCL anyway).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&[self.header()], 0);
        self.set_checksum(c);
    }

    /// Bytes after the header up to the total length, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        match self.buffer.as_mut().get_mut(hl..total) {
            Some(p) => p,
            None => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // frr-v3.pcap, first frame's IPv4 header + VRRP.
    const FRR: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x90, 0x50, 0x40, 0x00, 0xff, 0x70, 0xff, 0xe8, 0x0a, 0x61, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x96, 0x01, 0x00, 0x0a, 0x43, 0x3d, 0x0a, 0x61,
        0x00, 0x32,
    ];

    #[test]
    fn deconstruct() {
        let p = Ipv4Packet::new_checked(&FRR[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0xc0);
        assert_eq!(p.total_len(), 32);
        assert_eq!(p.ident(), 0x9050);
        assert_eq!(p.flags_frag(), 0x4000);
        assert_eq!(p.ttl(), 255);
        assert_eq!(p.protocol(), 112);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 97, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(p.payload().len(), 12);
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut b = [0xa5u8; 32];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version_header_len(20);
        p.set_tos(0xc0);
        p.set_total_len(32);
        p.set_ident(0x9050);
        p.set_flags_frag(0x4000);
        p.set_ttl(255);
        p.set_protocol(112);
        p.set_src_addr(Ipv4Addr::new(10, 97, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(224, 0, 0, 18));
        p.fill_checksum();
        p.payload_mut().copy_from_slice(&FRR[20..]);
        assert_eq!(b, FRR);
    }

    #[test]
    fn bad_lengths() {
        for n in 0..20 {
            assert_eq!(Ipv4Packet::new_checked(&FRR[..n]), Err(Error::Truncated));
        }
        assert_eq!(Ipv4Packet::new_checked(&FRR[..31]), Err(Error::Truncated));
        let mut b = FRR;
        b[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::BadIpHeader));
        b[0] = 0x4f;
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::Truncated));
        let mut b = FRR;
        b[3] = 10;
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::BadIpHeader));
    }
}
