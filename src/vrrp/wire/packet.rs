//! The VRRP message: a zero-copy view over its bytes.
//!
//! VRRPv3 (RFC 5798 §5.1):
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                       IPvX Address(es)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! VRRPv2 (RFC 3768 §5.1), IPv4 only in the RFC:
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .........                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The 8 bytes of authentication data are present for v2 over IPv4 only (keepalived sends v2 over
//! IPv6 without them), whatever the auth type: zero unless the type is PASS.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::AUTH_DATA_LEN;
use super::error::{Error, Result};

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const AUTH_TYPE: usize = 4;
    pub const ADVER_INT_V2: usize = 5;
    pub const ADVER_INT_V3: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = field::ADDRESSES;

enum_with_unknown! {
    /// The 4-bit version field.
    pub enum Version(u8) {
        V2 = 2,
        V3 = 3,
    }
}

enum_with_unknown! {
    /// The 4-bit type field; only Advertisement exists.
    pub enum MessageType(u8) {
        Advertisement = 1,
    }
}

enum_with_unknown! {
    /// The v2 auth type field (RFC 2338 §5.3.6; RFC 3768 keeps only 0 but keepalived sends all three).
    pub enum AuthType(u8) {
        None = 0,
        Pass = 1,
        Ah = 2,
    }
}

/// Which IP family the addresses in the message belong to: the message does not say, the socket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
}

impl AddressFamily {
    /// Bytes per address.
    pub const fn addr_len(self) -> usize {
        match self {
            AddressFamily::Ipv4 => 4,
            AddressFamily::Ipv6 => 16,
        }
    }
}

/// Length of a VRRP message of `version` with `count` addresses of `family`.
pub const fn message_len(version: Version, family: AddressFamily, count: usize) -> usize {
    HEADER_LEN + count * family.addr_len() + auth_data_len(version, family)
}

/// Length of the trailing v2 authentication data: 8 for v2 over IPv4, else 0 (as keepalived).
pub const fn auth_data_len(version: Version, family: AddressFamily) -> usize {
    match (version, family) {
        (Version::V2, AddressFamily::Ipv4) => AUTH_DATA_LEN,
        _ => 0,
    }
}

/// A read/write view of a VRRP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; accessors may then panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the fixed header is present; after this no accessor panics (the variable parts are
    /// returned as `Option`, since their length depends on the family).
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

    /// Whole buffer length.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.as_ref().is_empty()
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    pub fn version(&self) -> Version {
        Version::from(self.byte(field::VER_TYPE) >> 4)
    }

    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.byte(field::VER_TYPE) & 0x0f)
    }

    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    pub fn addr_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// v2: auth type. (In v3 this byte is the reserved nibble and the top of the interval.)
    pub fn auth_type(&self) -> AuthType {
        AuthType::from(self.byte(field::AUTH_TYPE))
    }

    /// v2: advert interval in whole seconds.
    pub fn adver_int_v2(&self) -> u8 {
        self.byte(field::ADVER_INT_V2)
    }

    /// v3: the 12-bit Max Adver Int in centiseconds (reserved bits masked off).
    pub fn adver_int_v3(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::ADVER_INT_V3.start),
            self.byte(field::ADVER_INT_V3.start + 1),
        ]) & 0x0fff
    }

    /// v3: the 4 reserved bits (sent as zero, ignored on receive).
    pub fn reserved_v3(&self) -> u8 {
        self.byte(field::ADVER_INT_V3.start) >> 4
    }

    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::CHECKSUM.start),
            self.byte(field::CHECKSUM.start + 1),
        ])
    }

    /// Message length the header implies for `family`.
    pub fn expected_len(&self, family: AddressFamily) -> usize {
        message_len(self.version(), family, usize::from(self.addr_count()))
    }

    /// The address block, if the buffer holds all `addr_count` addresses of `family`.
    pub fn address_bytes(&self, family: AddressFamily) -> Option<&[u8]> {
        let end = HEADER_LEN + usize::from(self.addr_count()) * family.addr_len();
        self.buffer.as_ref().get(HEADER_LEN..end)
    }

    /// The `i`th IPv4 address, if present.
    pub fn addr_v4(&self, i: usize) -> Option<Ipv4Addr> {
        if i >= usize::from(self.addr_count()) {
            return None;
        }
        let at = HEADER_LEN + i * 4;
        let b: [u8; 4] = self.buffer.as_ref().get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// The `i`th IPv6 address, if present.
    pub fn addr_v6(&self, i: usize) -> Option<Ipv6Addr> {
        if i >= usize::from(self.addr_count()) {
            return None;
        }
        let at = HEADER_LEN + i * 16;
        let b: [u8; 16] = self.buffer.as_ref().get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// v2 over IPv4: the 8 bytes of authentication data after the addresses.
    pub fn auth_data(&self) -> Option<[u8; AUTH_DATA_LEN]> {
        let at = HEADER_LEN + usize::from(self.addr_count()) * 4;
        self.buffer
            .as_ref()
            .get(at..at + AUTH_DATA_LEN)?
            .try_into()
            .ok()
    }

    /// The message bytes for `family` (header, addresses, auth data), if all present.
    pub fn message(&self, family: AddressFamily) -> Option<&[u8]> {
        self.buffer.as_ref().get(..self.expected_len(family))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
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

    pub fn set_version_type(&mut self, version: Version, msg_type: MessageType) {
        let v = u8::from(version) & 0x0f;
        let t = u8::from(msg_type) & 0x0f;
        self.set_byte(field::VER_TYPE, (v << 4) | t);
    }

    pub fn set_vrid(&mut self, v: u8) {
        self.set_byte(field::VRID, v);
    }

    pub fn set_priority(&mut self, v: u8) {
        self.set_byte(field::PRIORITY, v);
    }

    pub fn set_addr_count(&mut self, v: u8) {
        self.set_byte(field::COUNT, v);
    }

    pub fn set_auth_type(&mut self, v: AuthType) {
        self.set_byte(field::AUTH_TYPE, u8::from(v));
    }

    pub fn set_adver_int_v2(&mut self, secs: u8) {
        self.set_byte(field::ADVER_INT_V2, secs);
    }

    /// Writes the 12-bit interval with the reserved bits zero.
    pub fn set_adver_int_v3(&mut self, centis: u16) {
        self.set_u16(field::ADVER_INT_V3.start, centis & 0x0fff);
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM.start, v);
    }

    /// The address block for `family`, if the buffer is long enough for `addr_count` addresses.
    pub fn address_bytes_mut(&mut self, family: AddressFamily) -> Option<&mut [u8]> {
        let end = HEADER_LEN + usize::from(self.addr_count()) * family.addr_len();
        self.buffer.as_mut().get_mut(HEADER_LEN..end)
    }

    /// v2 over IPv4: the 8 bytes of authentication data.
    pub fn auth_data_mut(&mut self) -> Option<&mut [u8]> {
        let at = HEADER_LEN + usize::from(self.addr_count()) * 4;
        self.buffer.as_mut().get_mut(at..at + AUTH_DATA_LEN)
    }

    /// The message bytes for `family`, mutable.
    pub fn message_mut(&mut self, family: AddressFamily) -> Option<&mut [u8]> {
        let len = self.expected_len(family);
        self.buffer.as_mut().get_mut(..len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // keepalived-v3.pcap: VRRPv3 vrid 51 prio 100 intvl 10cs, 10.97.0.50.
    const V3: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x75, 0x3c, 0x0a, 0x61, 0x00, 0x32,
    ];

    #[test]
    fn deconstruct_v3() {
        let p = Packet::new_checked(&V3[..]).unwrap();
        assert_eq!(p.version(), Version::V3);
        assert_eq!(p.msg_type(), MessageType::Advertisement);
        assert_eq!(p.vrid(), 51);
        assert_eq!(p.priority(), 100);
        assert_eq!(p.addr_count(), 1);
        assert_eq!(p.adver_int_v3(), 10);
        assert_eq!(p.checksum(), 0x753c);
        assert_eq!(p.addr_v4(0), Some(Ipv4Addr::new(10, 97, 0, 50)));
        assert_eq!(p.addr_v4(1), None);
        assert_eq!(p.addr_v6(0), None);
        assert_eq!(p.expected_len(AddressFamily::Ipv4), 12);
        assert_eq!(p.auth_data(), None);
    }

    #[test]
    fn construct_v3() {
        let mut bytes = [0xa5u8; 12];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_version_type(Version::V3, MessageType::Advertisement);
        p.set_vrid(51);
        p.set_priority(100);
        p.set_addr_count(1);
        p.set_adver_int_v3(10);
        p.set_checksum(0x753c);
        p.address_bytes_mut(AddressFamily::Ipv4)
            .unwrap()
            .copy_from_slice(&[10, 97, 0, 50]);
        assert_eq!(bytes, V3);
    }

    #[test]
    fn unknown_values_decode() {
        let mut b = V3;
        b[0] = 0x52;
        b[4] = 7;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), Version::Unknown(5));
        assert_eq!(p.msg_type(), MessageType::Unknown(2));
        assert_eq!(p.auth_type(), AuthType::Unknown(7));
        assert_eq!(u8::from(AuthType::Unknown(7)), 7);
    }

    #[test]
    fn short_buffers() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&V3[..n]), Err(Error::Truncated));
        }
        let p = Packet::new_checked(&V3[..10]).unwrap();
        assert_eq!(p.addr_v4(0), None);
        assert_eq!(p.address_bytes(AddressFamily::Ipv4), None);
        assert_eq!(p.message(AddressFamily::Ipv4), None);
    }
}
