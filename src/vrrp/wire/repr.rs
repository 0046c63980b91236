//! The typed advert: [`VrrpRepr`] with `parse`, `emit` and `buffer_len`, and the units it carries.

use core::net::{Ipv4Addr, Ipv6Addr};

use heapless::Vec;

use super::checksum;
use super::error::{Error, Result};
use super::packet::{AddressFamily, AuthType, MessageType, Packet, Version, message_len};
use super::{AUTH_DATA_LEN, IPPROTO_VRRP, MAX_VIPS, MCAST_GROUP_V4};
/// The advert interval's units, shared with the state machine and the config model.
pub use crate::vrrp::fsm::{Centiseconds, Seconds};

/// Eight bytes of v2 authentication data: keepalived's `auth_pass`, zero padded.
pub type AuthData = [u8; AUTH_DATA_LEN];

/// keepalived's handling of `auth_pass`: the first 8 bytes, zero padded.
pub fn auth_data(pass: &str) -> AuthData {
    let mut d = [0u8; AUTH_DATA_LEN];
    let b = pass.as_bytes();
    let n = b.len().min(AUTH_DATA_LEN);
    d[..n].copy_from_slice(&b[..n]);
    d
}

/// What a v2 advert says about authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum V2Auth {
    None,
    /// Simple text password, as carried in the auth data.
    Pass(AuthData),
    /// IPsec AH: the AH header itself lives between IPv4 and VRRP (see [`super::ah`]).
    Ah,
}

impl V2Auth {
    pub const fn auth_type(&self) -> AuthType {
        match self {
            V2Auth::None => AuthType::None,
            V2Auth::Pass(_) => AuthType::Pass,
            V2Auth::Ah => AuthType::Ah,
        }
    }
}

/// The authentication an instance is configured with (receive expectation, AH key to send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKey {
    None,
    Pass(AuthData),
    Ah(AuthData),
}

impl AuthKey {
    pub const fn auth_type(&self) -> AuthType {
        match self {
            AuthKey::None => AuthType::None,
            AuthKey::Pass(_) => AuthType::Pass,
            AuthKey::Ah(_) => AuthType::Ah,
        }
    }
}

/// The fields whose meaning depends on the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionFields {
    V2 { adver_int: Seconds, auth: V2Auth },
    V3 { adver_int: Centiseconds },
}

impl VersionFields {
    pub const fn version(&self) -> Version {
        match self {
            VersionFields::V2 { .. } => Version::V2,
            VersionFields::V3 { .. } => Version::V3,
        }
    }
}

/// The virtual addresses of one advert, all of one family, at most [`MAX_VIPS`].
/// Fixed capacity on purpose (no heap on the advert path), hence the unequal variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VirtualAddresses {
    V4(Vec<Ipv4Addr, MAX_VIPS>),
    V6(Vec<Ipv6Addr, MAX_VIPS>),
}

impl VirtualAddresses {
    pub const fn family(&self) -> AddressFamily {
        match self {
            VirtualAddresses::V4(_) => AddressFamily::Ipv4,
            VirtualAddresses::V6(_) => AddressFamily::Ipv6,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            VirtualAddresses::V4(v) => v.len(),
            VirtualAddresses::V6(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Source and destination of the IP datagram: they enter the v3 and IPv6 checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPair {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl IpPair {
    pub const fn family(&self) -> AddressFamily {
        match self {
            IpPair::V4 { .. } => AddressFamily::Ipv4,
            IpPair::V6 { .. } => AddressFamily::Ipv6,
        }
    }
}

/// How the VRRP checksum was (or is to be) computed.
///
/// Over IPv6 it is always [`ChecksumKind::PseudoHeader`] (the kernel computes it with
/// `IPV6_CHECKSUM`), and v2 over IPv4 is always [`ChecksumKind::MessageOnly`] (RFC 3768). Only v3
/// over IPv4 has a choice, because implementations differ:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    /// RFC 5798 §5.2.8: IPv4 pseudo-header with the datagram's real source and destination.
    /// keepalived 2.2.7 and the FRR capture here do this.
    PseudoHeader,
    /// keepalived ≤ 1.3.5 in unicast: pseudo-header with destination 224.0.0.18 whatever the real
    /// one (keepalived `old_unicast_checksum`, and its automatic switch on receipt).
    OldUnicast,
    /// Message only, no pseudo-header: keepalived's later `v3_checksum_as_v2`, RFC 9568's reading.
    MessageOnly,
}

/// Which v3-over-IPv4 checksums a receiver accepts; they are tried in the order of the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptChecksums {
    pub pseudo_header: bool,
    pub old_unicast: bool,
    pub message_only: bool,
}

impl AcceptChecksums {
    /// RFC 5798 only.
    pub const STRICT: AcceptChecksums = AcceptChecksums {
        pseudo_header: true,
        old_unicast: false,
        message_only: false,
    };
    /// Any of the three (the parsed kind tells the caller which one the peer uses).
    pub const ANY: AcceptChecksums = AcceptChecksums {
        pseudo_header: true,
        old_unicast: true,
        message_only: true,
    };

    /// Only the one kind `kind`.
    pub const fn only(kind: ChecksumKind) -> AcceptChecksums {
        AcceptChecksums {
            pseudo_header: matches!(kind, ChecksumKind::PseudoHeader),
            old_unicast: matches!(kind, ChecksumKind::OldUnicast),
            message_only: matches!(kind, ChecksumKind::MessageOnly),
        }
    }
}

/// What parse and emit need from outside the VRRP message to check or write the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChecksumCtx {
    pub ips: IpPair,
    /// v3 over IPv4: the kind to send.
    pub v3_ipv4_tx: ChecksumKind,
    /// v3 over IPv4: the kinds to accept.
    pub v3_ipv4_rx: AcceptChecksums,
}

impl ChecksumCtx {
    /// RFC 5798 both ways.
    pub const fn new(ips: IpPair) -> ChecksumCtx {
        ChecksumCtx {
            ips,
            v3_ipv4_tx: ChecksumKind::PseudoHeader,
            v3_ipv4_rx: AcceptChecksums::STRICT,
        }
    }
}

/// Starting sum for `kind` over a message of `len` bytes.
fn initial_sum(ips: IpPair, kind: ChecksumKind, len: usize) -> u64 {
    match (ips, kind) {
        (IpPair::V6 { src, dst }, _) => {
            checksum::pseudo_header_v6(src, dst, IPPROTO_VRRP, len as u32)
        }
        (IpPair::V4 { src, dst }, ChecksumKind::PseudoHeader) => {
            checksum::pseudo_header_v4(src, dst, IPPROTO_VRRP, len as u16)
        }
        (IpPair::V4 { src, .. }, ChecksumKind::OldUnicast) => {
            checksum::pseudo_header_v4(src, MCAST_GROUP_V4, IPPROTO_VRRP, len as u16)
        }
        (IpPair::V4 { .. }, ChecksumKind::MessageOnly) => 0,
    }
}

/// The one kind a version/family pair allows, or `None` for v3 over IPv4 (a choice).
const fn fixed_kind(version: Version, family: AddressFamily) -> Option<ChecksumKind> {
    match (version, family) {
        (_, AddressFamily::Ipv6) => Some(ChecksumKind::PseudoHeader),
        (Version::V3, AddressFamily::Ipv4) => None,
        _ => Some(ChecksumKind::MessageOnly),
    }
}

/// Which accepted checksum kind `message` verifies with, if any.
pub fn verify_checksum(
    message: &[u8],
    version: Version,
    ctx: &ChecksumCtx,
) -> Option<ChecksumKind> {
    let ok = |kind| {
        checksum::fold(initial_sum(ctx.ips, kind, message.len()) + checksum::sum(message)) == 0xffff
    };
    if let Some(kind) = fixed_kind(version, ctx.ips.family()) {
        return if ok(kind) { Some(kind) } else { None };
    }
    let a = ctx.v3_ipv4_rx;
    [
        (a.pseudo_header, ChecksumKind::PseudoHeader),
        (a.old_unicast, ChecksumKind::OldUnicast),
        (a.message_only, ChecksumKind::MessageOnly),
    ]
    .into_iter()
    .find(|&(on, kind)| on && ok(kind))
    .map(|(_, kind)| kind)
}

/// A VRRP advert, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VrrpRepr {
    pub vrid: u8,
    pub priority: u8,
    pub fields: VersionFields,
    pub addresses: VirtualAddresses,
}

impl VrrpRepr {
    pub const fn version(&self) -> Version {
        self.fields.version()
    }

    /// Parse and check version, type, length against the address count, and checksum.
    /// Authentication is the datagram layer's (it needs the key and, for AH, the IPv4 header).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, ctx: &ChecksumCtx) -> Result<VrrpRepr> {
        Self::parse_with_checksum(packet, ctx).map(|(r, _)| r)
    }

    /// As [`VrrpRepr::parse`], also saying which checksum kind verified.
    pub fn parse_with_checksum<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        ctx: &ChecksumCtx,
    ) -> Result<(VrrpRepr, ChecksumKind)> {
        packet.check_len()?;
        let version = packet.version();
        if let Version::Unknown(v) = version {
            return Err(Error::BadVersion(v));
        }
        if let MessageType::Unknown(t) = packet.msg_type() {
            return Err(Error::BadType(t));
        }
        let family = ctx.ips.family();
        let expected = packet.expected_len(family);
        if packet.len() != expected {
            return Err(Error::LengthMismatch {
                expected,
                actual: packet.len(),
            });
        }
        let message = packet.message(family).ok_or(Error::Truncated)?;
        let kind = verify_checksum(message, version, ctx).ok_or(Error::BadChecksum)?;

        let count = usize::from(packet.addr_count());
        let addresses = match family {
            AddressFamily::Ipv4 => {
                let mut v = Vec::new();
                for i in 0..count {
                    let a = packet.addr_v4(i).ok_or(Error::Truncated)?;
                    v.push(a).map_err(|_| Error::Exhausted)?;
                }
                VirtualAddresses::V4(v)
            }
            AddressFamily::Ipv6 => {
                let mut v = Vec::new();
                for i in 0..count {
                    let a = packet.addr_v6(i).ok_or(Error::Truncated)?;
                    v.push(a).map_err(|_| Error::Exhausted)?;
                }
                VirtualAddresses::V6(v)
            }
        };

        let fields = match version {
            Version::V3 => VersionFields::V3 {
                adver_int: Centiseconds::saturating(packet.adver_int_v3()),
            },
            _ => {
                let auth = match (packet.auth_type(), family) {
                    (AuthType::None, _) => V2Auth::None,
                    (AuthType::Pass, AddressFamily::Ipv4) => {
                        V2Auth::Pass(packet.auth_data().ok_or(Error::Truncated)?)
                    }
                    (AuthType::Ah, AddressFamily::Ipv4) => V2Auth::Ah,
                    (other, _) => return Err(Error::BadAuthType(u8::from(other))),
                };
                VersionFields::V2 {
                    adver_int: Seconds(packet.adver_int_v2()),
                    auth,
                }
            }
        };
        Ok((
            VrrpRepr {
                vrid: packet.vrid(),
                priority: packet.priority(),
                fields,
                addresses,
            },
            kind,
        ))
    }

    /// Bytes [`VrrpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        message_len(
            self.version(),
            self.addresses.family(),
            self.addresses.len(),
        )
    }

    /// Write the message and its checksum into the first [`VrrpRepr::buffer_len`] bytes.
    /// `Err(Exhausted)` when the buffer is shorter, or the addresses' family is not `ctx`'s.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        ctx: &ChecksumCtx,
    ) -> Result<()> {
        let family = self.addresses.family();
        if family != ctx.ips.family() || packet.len() < self.buffer_len() {
            return Err(Error::Exhausted);
        }
        let count = u8::try_from(self.addresses.len()).map_err(|_| Error::Exhausted)?;
        // v2 over IPv6 has no room for auth data (keepalived), so only auth type None is encodable.
        if let (
            VersionFields::V2 {
                auth: V2Auth::Pass(_) | V2Auth::Ah,
                ..
            },
            AddressFamily::Ipv6,
        ) = (self.fields, family)
        {
            return Err(Error::Exhausted);
        }
        packet.set_version_type(self.version(), MessageType::Advertisement);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_addr_count(count);
        match self.fields {
            VersionFields::V2 { adver_int, auth } => {
                packet.set_auth_type(auth.auth_type());
                packet.set_adver_int_v2(adver_int.0);
            }
            VersionFields::V3 { adver_int } => packet.set_adver_int_v3(adver_int.to_v3_field()),
        }
        packet.set_checksum(0);
        let block = packet.address_bytes_mut(family).ok_or(Error::Exhausted)?;
        match &self.addresses {
            VirtualAddresses::V4(v) => {
                for (dst, a) in block.chunks_exact_mut(4).zip(v) {
                    dst.copy_from_slice(&a.octets());
                }
            }
            VirtualAddresses::V6(v) => {
                for (dst, a) in block.chunks_exact_mut(16).zip(v) {
                    dst.copy_from_slice(&a.octets());
                }
            }
        }
        if let (VersionFields::V2 { auth, .. }, AddressFamily::Ipv4) = (self.fields, family) {
            let data = match auth {
                V2Auth::Pass(d) => d,
                _ => [0; AUTH_DATA_LEN],
            };
            packet
                .auth_data_mut()
                .ok_or(Error::Exhausted)?
                .copy_from_slice(&data);
        }
        let kind = fixed_kind(self.version(), family).unwrap_or(ctx.v3_ipv4_tx);
        let message = packet.message(family).ok_or(Error::Exhausted)?;
        let c = checksum::checksum(&[message], initial_sum(ctx.ips, kind, message.len()));
        packet.set_checksum(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> Ipv4Addr {
        Ipv4Addr::from(a)
    }

    fn ctx4() -> ChecksumCtx {
        ChecksumCtx::new(IpPair::V4 {
            src: v4([10, 97, 0, 2]),
            dst: MCAST_GROUP_V4,
        })
    }

    // keepalived-v3.pcap VRRP part.
    const V3: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x75, 0x3c, 0x0a, 0x61, 0x00, 0x32,
    ];

    fn v3_repr() -> VrrpRepr {
        let mut a = Vec::new();
        let _ = a.push(v4([10, 97, 0, 50]));
        VrrpRepr {
            vrid: 51,
            priority: 100,
            fields: VersionFields::V3 {
                adver_int: Centiseconds::saturating(10),
            },
            addresses: VirtualAddresses::V4(a),
        }
    }

    #[test]
    fn parse_v3() {
        let p = Packet::new_checked(&V3[..]).unwrap();
        let (r, k) = VrrpRepr::parse_with_checksum(&p, &ctx4()).unwrap();
        assert_eq!(r, v3_repr());
        assert_eq!(k, ChecksumKind::PseudoHeader);
    }

    #[test]
    fn construct_v3() {
        let r = v3_repr();
        let mut b = [0xa5u8; 12];
        assert_eq!(r.buffer_len(), 12);
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &ctx4())
            .unwrap();
        assert_eq!(b, V3);
    }

    #[test]
    fn emit_short_or_wrong_family_fails() {
        let r = v3_repr();
        let mut b = [0u8; 11];
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ctx4()),
            Err(Error::Exhausted)
        );
        let mut b = [0u8; 12];
        let c6 = ChecksumCtx::new(IpPair::V6 {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
        });
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &c6),
            Err(Error::Exhausted)
        );
    }

    #[test]
    fn checksum_kinds_are_distinguished() {
        let r = v3_repr();
        for kind in [
            ChecksumKind::PseudoHeader,
            ChecksumKind::OldUnicast,
            ChecksumKind::MessageOnly,
        ] {
            let mut ctx = ChecksumCtx::new(IpPair::V4 {
                src: v4([10, 0, 0, 1]),
                dst: v4([10, 0, 0, 2]),
            });
            ctx.v3_ipv4_tx = kind;
            let mut b = [0u8; 12];
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ctx)
                .unwrap();
            ctx.v3_ipv4_rx = AcceptChecksums::ANY;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(
                VrrpRepr::parse_with_checksum(&p, &ctx).map(|x| x.1),
                Ok(kind)
            );
            ctx.v3_ipv4_rx = AcceptChecksums::only(kind);
            assert!(VrrpRepr::parse(&p, &ctx).is_ok());
            for other in [
                ChecksumKind::PseudoHeader,
                ChecksumKind::OldUnicast,
                ChecksumKind::MessageOnly,
            ] {
                if other != kind {
                    ctx.v3_ipv4_rx = AcceptChecksums::only(other);
                    assert_eq!(VrrpRepr::parse(&p, &ctx), Err(Error::BadChecksum));
                }
            }
        }
    }

    #[test]
    fn receive_errors() {
        let c = ctx4();
        let mut b = V3;
        b[0] = 0x41;
        assert_eq!(
            VrrpRepr::parse(&Packet::new_unchecked(&b[..]), &c),
            Err(Error::BadVersion(4))
        );
        let mut b = V3;
        b[0] = 0x32;
        assert_eq!(
            VrrpRepr::parse(&Packet::new_unchecked(&b[..]), &c),
            Err(Error::BadType(2))
        );
        let mut b = V3;
        b[3] = 2;
        assert_eq!(
            VrrpRepr::parse(&Packet::new_unchecked(&b[..]), &c),
            Err(Error::LengthMismatch {
                expected: 16,
                actual: 12
            })
        );
        let mut b = V3;
        b[2] = 101;
        assert_eq!(
            VrrpRepr::parse(&Packet::new_unchecked(&b[..]), &c),
            Err(Error::BadChecksum)
        );
        assert_eq!(
            VrrpRepr::parse(&Packet::new_unchecked(&V3[..7]), &c),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn v2_over_ipv6_has_no_auth_data() {
        let ctx = ChecksumCtx::new(IpPair::V6 {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::UNSPECIFIED,
        });
        let mut a = Vec::new();
        let _ = a.push(Ipv6Addr::LOCALHOST);
        let mut r = VrrpRepr {
            vrid: 1,
            priority: 100,
            fields: VersionFields::V2 {
                adver_int: Seconds(1),
                auth: V2Auth::None,
            },
            addresses: VirtualAddresses::V6(a),
        };
        assert_eq!(r.buffer_len(), 24);
        let mut b = [0xa5u8; 24];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &ctx)
            .unwrap();
        assert_eq!(
            VrrpRepr::parse(&Packet::new_checked(&b[..]).unwrap(), &ctx),
            Ok(r.clone())
        );
        r.fields = VersionFields::V2 {
            adver_int: Seconds(1),
            auth: V2Auth::Pass(*b"12345678"),
        };
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ctx),
            Err(Error::Exhausted)
        );
        b[4] = 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        // Checksum now wrong too, but the auth type is refused only after it: fix it first.
        let mut fixed = b;
        fixed[6] = 0;
        fixed[7] = 0;
        let c = checksum::checksum(
            &[&fixed],
            initial_sum(ctx.ips, ChecksumKind::PseudoHeader, 24),
        );
        fixed[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(VrrpRepr::parse(&p, &ctx).is_err());
        assert_eq!(
            VrrpRepr::parse(&Packet::new_checked(&fixed[..]).unwrap(), &ctx),
            Err(Error::BadAuthType(1))
        );
    }

    #[test]
    fn units() {
        assert_eq!(Centiseconds::new(4096), None);
        assert_eq!(Centiseconds::new(4095).map(Centiseconds::get), Some(4095));
        assert_eq!(Centiseconds::saturating(u16::MAX), Centiseconds::V3_MAX);
        assert_eq!(Centiseconds::saturating(100).as_millis(), 1000);
        assert_eq!(Seconds(3).as_centiseconds(), 300);
        assert_eq!(auth_data("secret12345"), *b"secret12");
        assert_eq!(auth_data("ab"), *b"ab\0\0\0\0\0\0");
    }
}
