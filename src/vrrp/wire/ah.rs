//! The IPsec Authentication Header (RFC 2402) keepalived puts between the IPv4 header and a VRRPv2
//! message when `auth_type AH`, with HMAC-MD5-96 (RFC 2403) keyed by the 8-byte zero-padded
//! `auth_pass`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header   |  Payload Len  |          RESERVED             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Security Parameters Index (SPI)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Sequence Number Field                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +        Authentication Data (ICV, HMAC-MD5 truncated to 96 bits)
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! keepalived's choices, which a peer must match to interoperate:
//! - Next Header 112, Payload Len 4 (24 bytes in 32-bit words minus 2), SPI = the sender's IPv4
//!   source address as it appears in the header (no SA negotiation in a multicast group).
//! - The ICV covers the IPv4 header with TOS, flags/fragment offset and header checksum zeroed,
//!   and TTL zeroed *only when unicasting* (multicast adverts keep TTL 255 in the ICV), then the
//!   AH header with a zero ICV, then the VRRP message.
//! - One sequence counter per instance serves both directions (see [`AhSeqCounter`]).

use super::error::{Error, Result};
use super::hmac::hmac_md5;
use super::ipv4::MAX_HEADER_LEN;
use super::{AUTH_DATA_LEN, IPPROTO_VRRP};

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: Field = 2..4;
    pub const SPI: Field = 4..8;
    pub const SEQ: Field = 8..12;
    pub const ICV: Field = 12..24;
}

/// Length of the AH header with a 96-bit ICV.
pub const HEADER_LEN: usize = field::ICV.end;
/// Payload Len value for a 24-byte AH header.
pub const PAYLOAD_LEN: u8 = (HEADER_LEN / 4 - 2) as u8;
/// Length of the truncated ICV.
pub const ICV_LEN: usize = 12;

/// A read/write view of an AH header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AhHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AhHeader<T> {
    pub const fn new_unchecked(buffer: T) -> AhHeader<T> {
        AhHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<AhHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes([
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        ])
    }

    pub fn next_header(&self) -> u8 {
        self.byte(field::NEXT_HEADER)
    }

    pub fn payload_len(&self) -> u8 {
        self.byte(field::PAYLOAD_LEN)
    }

    pub fn reserved(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::RESERVED.start),
            self.byte(field::RESERVED.start + 1),
        ])
    }

    /// SPI as the four bytes on the wire (keepalived: the sender's IPv4 address).
    pub fn spi(&self) -> [u8; 4] {
        self.u32_at(field::SPI.start).to_be_bytes()
    }

    pub fn seq(&self) -> u32 {
        self.u32_at(field::SEQ.start)
    }

    pub fn icv(&self) -> [u8; ICV_LEN] {
        let mut out = [0u8; ICV_LEN];
        if let Some(b) = self.buffer.as_ref().get(field::ICV) {
            out.copy_from_slice(b);
        }
        out
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AhHeader<T> {
    fn put(&mut self, range: core::ops::Range<usize>, v: &[u8]) {
        if let Some(b) = self.buffer.as_mut().get_mut(range)
            && b.len() == v.len()
        {
            b.copy_from_slice(v);
        }
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.put(field::NEXT_HEADER..field::NEXT_HEADER + 1, &[v]);
    }

    pub fn set_payload_len(&mut self, v: u8) {
        self.put(field::PAYLOAD_LEN..field::PAYLOAD_LEN + 1, &[v]);
    }

    pub fn set_reserved(&mut self, v: u16) {
        self.put(field::RESERVED, &v.to_be_bytes());
    }

    pub fn set_spi(&mut self, v: [u8; 4]) {
        self.put(field::SPI, &v);
    }

    pub fn set_seq(&mut self, v: u32) {
        self.put(field::SEQ, &v.to_be_bytes());
    }

    pub fn set_icv(&mut self, v: &[u8; ICV_LEN]) {
        self.put(field::ICV, v);
    }
}

/// HMAC-MD5-96 over `ip_header` (mutable fields zeroed here), `ah` (ICV zeroed here) and `vrrp`,
/// exactly as keepalived computes it. `zero_ttl`: keepalived zeroes the TTL only for unicast.
pub fn compute_icv(
    ip_header: &[u8],
    ah: &[u8],
    vrrp: &[u8],
    key: &[u8; AUTH_DATA_LEN],
    zero_ttl: bool,
) -> Result<[u8; ICV_LEN]> {
    if ip_header.len() < super::ipv4::HEADER_LEN
        || ip_header.len() > MAX_HEADER_LEN
        || ah.len() != HEADER_LEN
    {
        return Err(Error::Truncated);
    }
    let mut ip = [0u8; MAX_HEADER_LEN];
    let ip = &mut ip[..ip_header.len()];
    ip.copy_from_slice(ip_header);
    ip[1] = 0; // TOS
    ip[6] = 0; // flags + fragment offset
    ip[7] = 0;
    ip[10] = 0; // header checksum
    ip[11] = 0;
    if zero_ttl {
        ip[8] = 0;
    }
    let mut a = [0u8; HEADER_LEN];
    a.copy_from_slice(ah);
    a[field::ICV].fill(0);
    let digest = hmac_md5(key, &[ip, &a, vrrp]);
    let mut icv = [0u8; ICV_LEN];
    icv.copy_from_slice(&digest[..ICV_LEN]);
    Ok(icv)
}

/// Check an AH header in front of a VRRP message as keepalived does: next header VRRP, ICV, then
/// SPI equal to the source address. The sequence number is the caller's ([`AhSeqCounter::accept`]).
pub fn verify(
    ip_header: &[u8],
    ah: &[u8],
    vrrp: &[u8],
    key: &[u8; AUTH_DATA_LEN],
    zero_ttl: bool,
) -> Result<()> {
    let h = AhHeader::new_checked(ah)?;
    if h.next_header() != IPPROTO_VRRP {
        return Err(Error::BadAhHeader);
    }
    let want = compute_icv(ip_header, ah, vrrp, key, zero_ttl)?;
    if !constant_time_eq(&want, &h.icv()) {
        return Err(Error::AuthFailure);
    }
    let src = ip_header.get(12..16).ok_or(Error::Truncated)?;
    if h.spi() != src {
        return Err(Error::AuthFailure);
    }
    Ok(())
}

/// Compare without an early exit, so timing does not reveal how many ICV bytes matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// keepalived's `ipsecah_counter`: one number per instance for both directions. Sending uses the
/// next value; receiving accepts only a number above it and then adopts it, so a backup that takes
/// over continues above the old master's numbers and its peers accept it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AhSeqCounter {
    seq: u32,
    cycled: bool,
}

impl AhSeqCounter {
    /// keepalived stops counting above this; the instance then stops sending and becomes backup.
    pub const LIMIT: u32 = 0xFFFF_FFFD;

    pub const fn new() -> Self {
        AhSeqCounter {
            seq: 0,
            cycled: false,
        }
    }

    /// The last number sent or accepted.
    pub const fn current(&self) -> u32 {
        self.seq
    }

    /// True once the counter ran past [`AhSeqCounter::LIMIT`] (keepalived's `cycle`).
    pub const fn cycled(&self) -> bool {
        self.cycled
    }

    /// The number for the next advert, or `None` once the counter has cycled: stop advertising.
    pub fn next_tx(&mut self) -> Option<u32> {
        if self.seq > Self::LIMIT {
            self.cycled = true;
            None
        } else {
            self.seq += 1;
            Some(self.seq)
        }
    }

    /// Receive check: accept only a number above the current one, and adopt it.
    pub fn accept(&mut self, received: u32) -> Result<()> {
        if received > self.seq {
            self.seq = received;
            Ok(())
        } else {
            Err(Error::AhReplay {
                received,
                last: self.seq,
            })
        }
    }

    /// Start again from zero (keepalived does when every master has gone).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let mut b = [0xa5u8; HEADER_LEN];
        let mut h = AhHeader::new_unchecked(&mut b[..]);
        h.set_next_header(112);
        h.set_payload_len(PAYLOAD_LEN);
        h.set_reserved(0);
        h.set_spi([10, 98, 0, 1]);
        h.set_seq(1);
        h.set_icv(&[1; ICV_LEN]);
        assert_eq!(&b[..12], &[0x70, 4, 0, 0, 10, 98, 0, 1, 0, 0, 0, 1]);
        let h = AhHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.icv(), [1; ICV_LEN]);
        assert_eq!(AhHeader::new_checked(&b[..23]), Err(Error::Truncated));
    }

    #[test]
    fn counter_as_keepalived() {
        let mut c = AhSeqCounter::new();
        assert_eq!(c.next_tx(), Some(1));
        assert_eq!(
            c.accept(1),
            Err(Error::AhReplay {
                received: 1,
                last: 1
            })
        );
        assert_eq!(c.accept(7), Ok(()));
        assert_eq!(c.next_tx(), Some(8));
        let mut c = AhSeqCounter {
            seq: AhSeqCounter::LIMIT,
            cycled: false,
        };
        assert_eq!(c.next_tx(), Some(0xFFFF_FFFE));
        assert_eq!(c.next_tx(), None);
        assert!(c.cycled());
        assert_eq!(c.accept(u32::MAX), Ok(()));
        assert_eq!(
            c.accept(u32::MAX),
            Err(Error::AhReplay {
                received: u32::MAX,
                last: u32::MAX
            })
        );
    }
}
