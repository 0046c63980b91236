//! Whole adverts as the sockets see them, with the receive checks that belong in the codec.
//!
//! IPv4: a raw socket (`IPPROTO_VRRP` or `IPPROTO_AH`) delivers the IPv4 header, so the datagram
//! layout is `IPv4 header [+ AH] + VRRP`, and we send the same with `IP_HDRINCL`, as keepalived.
//! IPv6: a raw socket delivers only the VRRP message; source, destination and hop limit (from the
//! `IPV6_HOPLIMIT` cmsg) come in as arguments.
//!
//! Receive checks, in keepalived's order where it matters for counters: IP header sanity and total
//! length, protocol, AH presence vs our auth type, TTL/hop limit 255 (skipped for unicast as
//! keepalived does), version, type, length vs address count, checksum, auth type, password or
//! AH ICV and SPI. Not here (instance state): VRID lookup, the v2 interval match, the VIP list
//! match, the AH sequence (see [`AhSeqCounter`](super::AhSeqCounter)), unicast source checks.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::ah::{self, AhHeader};
use super::error::{Error, Result};
use super::ipv4::{self, Ipv4Packet};
use super::packet::{AddressFamily, AuthType, Packet};
use super::repr::{
    AcceptChecksums, AuthData, AuthKey, ChecksumCtx, ChecksumKind, IpPair, V2Auth, VersionFields,
    VrrpRepr,
};
use super::{IPPROTO_AH, IPPROTO_VRRP, VRRP_TTL};

/// How an instance receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxConfig {
    /// The instance's v2 authentication (v3 adverts carry none; AH must then be absent).
    pub auth: AuthKey,
    /// v3 over IPv4: checksum kinds accepted.
    pub accept: AcceptChecksums,
    /// Unicast peers configured: keepalived then skips the TTL check and zeroes TTL in the AH ICV.
    pub unicast: bool,
}

impl RxConfig {
    /// Multicast, no authentication, RFC 5798 checksums.
    pub const fn new() -> RxConfig {
        RxConfig {
            auth: AuthKey::None,
            accept: AcceptChecksums::STRICT,
            unicast: false,
        }
    }
}

impl Default for RxConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// An accepted IPv4 advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Advert {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    /// Which checksum the sender used (for keepalived's automatic old-unicast switch).
    pub checksum: ChecksumKind,
    /// AH sequence number, for the instance's [`AhSeqCounter`](super::AhSeqCounter).
    pub ah_seq: Option<u32>,
    pub repr: VrrpRepr,
}

/// An accepted IPv6 advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Advert {
    pub checksum: ChecksumKind,
    pub repr: VrrpRepr,
}

fn check_v2_auth(repr: &VrrpRepr, key: &AuthKey) -> Result<()> {
    let VersionFields::V2 { auth, .. } = repr.fields else {
        return Ok(());
    };
    if auth.auth_type() != key.auth_type() {
        return Err(Error::AuthTypeMismatch {
            expected: u8::from(key.auth_type()),
            received: u8::from(auth.auth_type()),
        });
    }
    match (auth, key) {
        (V2Auth::Pass(got), AuthKey::Pass(want)) if !ah::constant_time_eq(&got, want) => {
            Err(Error::AuthFailure)
        }
        _ => Ok(()),
    }
}

/// Parse and check an IPv4 datagram as delivered by a raw socket.
pub fn parse_ipv4(buf: &[u8], cfg: &RxConfig) -> Result<Ipv4Advert> {
    let ip = Ipv4Packet::new_checked(buf)?;
    if ip.version() != 4 {
        return Err(Error::BadIpHeader);
    }
    let total = usize::from(ip.total_len());
    if total != buf.len() {
        return Err(Error::LengthMismatch {
            expected: total,
            actual: buf.len(),
        });
    }
    let proto = ip.protocol();
    if proto != IPPROTO_VRRP && proto != IPPROTO_AH {
        return Err(Error::WrongProtocol(proto));
    }
    let payload = ip.payload();
    let has_ah = proto == IPPROTO_AH;
    let want_ah = matches!(cfg.auth, AuthKey::Ah(_));
    if has_ah != want_ah {
        let received = if has_ah {
            u8::from(AuthType::Ah)
        } else {
            payload.get(4).copied().unwrap_or(0)
        };
        return Err(Error::AuthTypeMismatch {
            expected: u8::from(cfg.auth.auth_type()),
            received,
        });
    }
    let (ah_bytes, vrrp) = if has_ah {
        if payload.len() < ah::HEADER_LEN {
            return Err(Error::Truncated);
        }
        payload.split_at(ah::HEADER_LEN)
    } else {
        (&[][..], payload)
    };
    let packet = Packet::new_checked(vrrp)?;
    if !cfg.unicast && ip.ttl() != VRRP_TTL {
        return Err(Error::BadTtl(ip.ttl()));
    }
    let ctx = ChecksumCtx {
        ips: IpPair::V4 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        },
        v3_ipv4_tx: ChecksumKind::PseudoHeader,
        v3_ipv4_rx: cfg.accept,
    };
    let (repr, checksum) = VrrpRepr::parse_with_checksum(&packet, &ctx)?;
    check_v2_auth(&repr, &cfg.auth)?;
    let mut ah_seq = None;
    if let AuthKey::Ah(key) = &cfg.auth {
        ah::verify(ip.header(), ah_bytes, vrrp, key, cfg.unicast)?;
        ah_seq = Some(AhHeader::new_checked(ah_bytes)?.seq());
    }
    Ok(Ipv4Advert {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        ttl: ip.ttl(),
        ident: ip.ident(),
        checksum,
        ah_seq,
        repr,
    })
}

/// Parse and check a VRRP message from an IPv6 raw socket. `hop_limit` comes from the
/// `IPV6_HOPLIMIT` cmsg (`None` when the socket did not give one: not checked).
pub fn parse_ipv6(
    buf: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: Option<u8>,
    cfg: &RxConfig,
) -> Result<Ipv6Advert> {
    let packet = Packet::new_checked(buf)?;
    if let Some(h) = hop_limit
        && !cfg.unicast
        && h != VRRP_TTL
    {
        return Err(Error::BadTtl(h));
    }
    let ctx = ChecksumCtx::new(IpPair::V6 { src, dst });
    let (repr, checksum) = VrrpRepr::parse_with_checksum(&packet, &ctx)?;
    check_v2_auth(&repr, &cfg.auth)?;
    Ok(Ipv6Advert { checksum, repr })
}

/// How to send an IPv4 advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxIpv4 {
    pub src: Ipv4Addr,
    /// 224.0.0.18, or the unicast peer.
    pub dst: Ipv4Addr,
    /// keepalived counts from 1 per instance and skips 0 (the kernel would replace 0).
    pub ident: u16,
    /// 255 (keepalived lets unicast configure it).
    pub ttl: u8,
    /// 0xc0 as keepalived.
    pub tos: u8,
    /// keepalived sends without DF; FRR sets it.
    pub dont_fragment: bool,
    /// v3: which checksum to send.
    pub v3_checksum: ChecksumKind,
    /// v2 AH: key and this advert's sequence number (from [`AhSeqCounter::next_tx`](super::AhSeqCounter::next_tx)).
    pub ah: Option<(AuthData, u32)>,
    /// Unicast: TTL is zeroed in the AH ICV (keepalived).
    pub unicast: bool,
}

impl TxIpv4 {
    /// keepalived's defaults for a multicast advert from `src`.
    pub const fn new(src: Ipv4Addr, ident: u16) -> TxIpv4 {
        TxIpv4 {
            src,
            dst: super::MCAST_GROUP_V4,
            ident,
            ttl: VRRP_TTL,
            tos: ipv4::TOS_INTERNETWORK_CONTROL,
            dont_fragment: false,
            v3_checksum: ChecksumKind::PseudoHeader,
            ah: None,
            unicast: false,
        }
    }
}

/// Length of the IPv4 datagram [`emit_ipv4`] writes for `repr`.
pub fn ipv4_len(repr: &VrrpRepr) -> usize {
    let ah = match repr.fields {
        VersionFields::V2 {
            auth: V2Auth::Ah, ..
        } => ah::HEADER_LEN,
        _ => 0,
    };
    ipv4::HEADER_LEN + ah + repr.buffer_len()
}

/// Write a whole IPv4 advert (header, AH if `repr` says so, VRRP); returns its length.
pub fn emit_ipv4(repr: &VrrpRepr, tx: &TxIpv4, buf: &mut [u8]) -> Result<usize> {
    let len = ipv4_len(repr);
    let total = u16::try_from(len).map_err(|_| Error::Exhausted)?;
    if repr.addresses.family() != AddressFamily::Ipv4 {
        return Err(Error::Exhausted);
    }
    let with_ah = matches!(
        repr.fields,
        VersionFields::V2 {
            auth: V2Auth::Ah,
            ..
        }
    );
    let ah_params = match (with_ah, tx.ah) {
        (true, Some(p)) => Some(p),
        (true, None) => return Err(Error::Exhausted),
        (false, _) => None,
    };
    let buf = buf.get_mut(..len).ok_or(Error::Exhausted)?;

    let mut ip = Ipv4Packet::new_unchecked(&mut *buf);
    ip.set_version_header_len(ipv4::HEADER_LEN);
    ip.set_tos(tx.tos);
    ip.set_total_len(total);
    ip.set_ident(tx.ident);
    ip.set_flags_frag(if tx.dont_fragment { 0x4000 } else { 0 });
    ip.set_ttl(tx.ttl);
    ip.set_protocol(if with_ah { IPPROTO_AH } else { IPPROTO_VRRP });
    ip.set_src_addr(tx.src);
    ip.set_dst_addr(tx.dst);
    ip.fill_checksum();

    let (header, rest) = buf.split_at_mut(ipv4::HEADER_LEN);
    let ah_len = if with_ah { ah::HEADER_LEN } else { 0 };
    let (ah_bytes, vrrp) = rest.split_at_mut(ah_len);
    let ctx = ChecksumCtx {
        ips: IpPair::V4 {
            src: tx.src,
            dst: tx.dst,
        },
        v3_ipv4_tx: tx.v3_checksum,
        v3_ipv4_rx: AcceptChecksums::STRICT,
    };
    repr.emit(&mut Packet::new_unchecked(&mut *vrrp), &ctx)?;

    if let Some((key, seq)) = ah_params {
        let mut h = AhHeader::new_unchecked(&mut *ah_bytes);
        h.set_next_header(IPPROTO_VRRP);
        h.set_payload_len(ah::PAYLOAD_LEN);
        h.set_reserved(0);
        h.set_spi(tx.src.octets());
        h.set_seq(seq);
        h.set_icv(&[0; ah::ICV_LEN]);
        let icv = ah::compute_icv(header, ah_bytes, vrrp, &key, tx.unicast)?;
        AhHeader::new_unchecked(&mut *ah_bytes).set_icv(&icv);
    }
    Ok(len)
}

/// Write a VRRP message for an IPv6 raw socket (the kernel adds the header); returns its length.
/// The checksum is filled with the pseudo-header; setting `IPV6_CHECKSUM` on the socket makes the
/// kernel write the same value.
pub fn emit_ipv6(repr: &VrrpRepr, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) -> Result<usize> {
    let len = repr.buffer_len();
    let buf = buf.get_mut(..len).ok_or(Error::Exhausted)?;
    repr.emit(
        &mut Packet::new_unchecked(buf),
        &ChecksumCtx::new(IpPair::V6 { src, dst }),
    )?;
    Ok(len)
}
