//! VRRP v2 (RFC 3768) and v3 (RFC 9568, which obsoletes RFC 5798) adverts on the wire, IPv4 and IPv6.
//!
//! Built as smoltcp's `wire/`: zero-copy views (`Packet<T: AsRef<[u8]>>`) with field offset
//! constants, `new_checked` = `new_unchecked` + `check_len`, setters only on `AsMut<[u8]>`, and a
//! [`VrrpRepr`] with `parse`/`emit`/`buffer_len`. Nothing here allocates or panics on any input.
//!
//! Layers, one idea per file:
//! - [`packet`]: the VRRP message view (header, addresses, v2 auth data).
//! - [`ipv4`]: the IPv4 header view, because an IPv4 raw socket delivers it.
//! - [`ah`]: the IPsec AH header keepalived puts between IPv4 and VRRP for v2 `auth_type AH`,
//!   its ICV and its sequence counter.
//! - [`hmac`]: HMAC-MD5 (RFC 2104) over scattered parts.
//! - [`checksum`]: the Internet checksum and the IPv4/IPv6 pseudo-headers.
//! - [`repr`]: the typed advert ([`VrrpRepr`]) and the newtypes for intervals.
//! - [`datagram`]: whole adverts as the sockets see them (IPv4 header included, or IPv6 payload
//!   with addresses and hop limit passed in), with every receive check keepalived makes in the codec.

#[macro_use]
mod macros;

pub mod ah;
pub mod checksum;
pub mod datagram;
pub mod error;
pub mod hmac;
pub mod ipv4;
pub mod packet;
pub mod repr;

pub use ah::{AhHeader, AhSeqCounter};
pub use datagram::{
    Ipv4Advert, Ipv6Advert, RxConfig, TxIpv4, emit_ipv4, emit_ipv6, ipv4_len, parse_ipv4,
    parse_ipv6,
};
pub use error::Error;
pub use ipv4::Ipv4Packet;
pub use packet::{AddressFamily, AuthType, MessageType, Packet, Version};
pub use repr::{
    AcceptChecksums, AuthData, AuthKey, Centiseconds, ChecksumCtx, ChecksumKind, IpPair, Seconds,
    V2Auth, VersionFields, VirtualAddresses, VrrpRepr, auth_data,
};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.3).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of the IPsec Authentication Header (RFC 2402).
pub const IPPROTO_AH: u8 = 51;
/// The TTL / hop limit every advert is sent with and must arrive with (RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 multicast group of VRRP (224.0.0.18).
pub const MCAST_GROUP_V4: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (ff02::12).
pub const MCAST_GROUP_V6: core::net::Ipv6Addr =
    core::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Most addresses one advert carries: the count field is 8 bits wide, and keepalived's limit is
/// `min(VRRP_MAX_ADDR = 255, what fits in the MTU)`; the MTU part is the I/O layer's to apply.
pub const MAX_VIPS: usize = 255;
/// Length of the v2 authentication data (and of keepalived's `auth_pass`, zero padded).
pub const AUTH_DATA_LEN: usize = 8;
