//! The engine's view of an advert, over the wire codec: what it needs to
//! build ours (a template `VrrpRepr` made once, then only the priority, the
//! IP ident and the AH sequence change) and to judge one received.

use super::fsm::AdvertInterval;
use super::net::Received;
use super::wire::{self, AhSeqCounter, AuthKey, RxConfig, TxIpv4, V2Auth, VersionFields, VirtualAddresses, VrrpRepr};
use crate::config::model::{AuthType, IpAddress, VrrpInstance};
use std::net::{IpAddr, Ipv6Addr};

/// keepalived sends adverts with TOS "internetwork control".
const TOS_INTERNETCONTROL: u8 = 0xc0;

/// Per-instance constants of our adverts, and the little state they carry
/// (IP ident, AH sequence).
pub struct AdvertCtx {
    pub vrid: u8,
    pub src: IpAddr,
    /// Our adverts' version fields and addresses. The addresses are kept at
    /// their own length (a `VrrpRepr` holds room for 255 IPv6 addresses,
    /// 4 KiB per instance); the repr is built on the stack at each send.
    fields: VersionFields,
    addrs: Addrs,
    rx: RxConfig,
    ah_key: Option<wire::AuthData>,
    ah_seq: AhSeqCounter,
    ident: u16,
}

/// A received advert that passed every check that does not depend on state.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub vrid: u8,
    pub priority: u8,
    pub src: IpAddr,
    pub interval: AdvertInterval,
    pub addresses_match: bool,
    /// VRRPv3 over IPv4 whose checksum covers the message alone, as RFC 9568
    /// §5.2.8 now words it (RFC 5798 and the deployed base, keepalived
    /// 2.2.7 and FRR included, put the IPv4 pseudo-header under it).
    pub message_only_checksum: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    OtherVrid,
    Wire(wire::Error),
    /// An AH sequence number at or below the last one: a replay.
    Replay,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::OtherVrid => f.write_str("other VRID"),
            Reject::Wire(e) => write!(f, "{e}"),
            Reject::Replay => f.write_str("AH sequence number replayed"),
        }
    }
}

/// An instance's own addresses, at their own length.
enum Addrs {
    V4(Box<[std::net::Ipv4Addr]>),
    V6(Box<[Ipv6Addr]>),
}

impl Addrs {
    /// As the wire wants them (at most `wire::MAX_VIPS`, checked by `AdvertCtx::new`).
    fn to_wire(&self) -> VirtualAddresses {
        match self {
            Addrs::V4(a) => VirtualAddresses::V4(heapless::Vec::from_slice(a).unwrap_or_default()),
            Addrs::V6(a) => VirtualAddresses::V6(heapless::Vec::from_slice(a).unwrap_or_default()),
        }
    }

    /// The same addresses, in any order.
    fn matches(&self, heard: &VirtualAddresses) -> bool {
        match (self, heard) {
            (Addrs::V4(x), VirtualAddresses::V4(y)) => x.len() == y.len() && x.iter().all(|i| y.contains(i)),
            (Addrs::V6(x), VirtualAddresses::V6(y)) => x.len() == y.len() && x.iter().all(|i| y.contains(i)),
            _ => false,
        }
    }
}

impl AdvertCtx {
    pub fn new(inst: &VrrpInstance, version: u8, interval: AdvertInterval, src: IpAddr, vips: &[IpAddress]) -> Result<Self, String> {
        let v6 = src.is_ipv6();
        if v6 && version != 3 {
            return Err("IPv6 needs VRRP version 3".into());
        }
        let addresses = if v6 {
            let mut v = heapless::Vec::new();
            for a in vips.iter().filter_map(|a| match a.addr {
                IpAddr::V6(x) => Some(x),
                _ => None,
            }) {
                v.push(a).map_err(|_| format!("more than {} addresses in one advert", wire::MAX_VIPS))?;
            }
            VirtualAddresses::V6(v)
        } else {
            let mut v = heapless::Vec::new();
            for a in vips.iter().filter_map(|a| match a.addr {
                IpAddr::V4(x) => Some(x),
                _ => None,
            }) {
                v.push(a).map_err(|_| format!("more than {} addresses in one advert", wire::MAX_VIPS))?;
            }
            VirtualAddresses::V4(v)
        };
        let (key, auth) = match (&inst.authentication, version) {
            (Some(a), 2) => match a.auth_type {
                AuthType::Pass => {
                    let d = wire::auth_data(&a.auth_pass);
                    (AuthKey::Pass(d), V2Auth::Pass(d))
                }
                AuthType::Ah => {
                    if v6 {
                        return Err("AH authentication is IPv4 only".into());
                    }
                    (AuthKey::Ah(wire::auth_data(&a.auth_pass)), V2Auth::Ah)
                }
            },
            _ => (AuthKey::None, V2Auth::None),
        };
        let fields = match interval {
            AdvertInterval::V2(secs) => VersionFields::V2 { adver_int: secs, auth },
            AdvertInterval::V3(cs) => VersionFields::V3 { adver_int: cs },
        };
        let unicast = !inst.unicast_peers.is_empty();
        let ah_key = match key {
            AuthKey::Ah(k) => Some(k),
            _ => None,
        };
        Ok(AdvertCtx {
            vrid: inst.virtual_router_id,
            src,
            fields,
            addrs: match addresses {
                VirtualAddresses::V4(v) => Addrs::V4(v.iter().copied().collect()),
                VirtualAddresses::V6(v) => Addrs::V6(v.iter().copied().collect()),
            },
            rx: RxConfig { auth: key, accept: V3_IPV4_ACCEPT, unicast },
            ah_key,
            ah_seq: AhSeqCounter::new(),
            ident: 0,
        })
    }
}

impl AdvertCtx {
    /// A reload's new context goes on from the old one's IP ident and AH
    /// sequence number (a peer rejects a sequence number that goes back).
    pub fn continue_from(&mut self, old: &AdvertCtx) {
        self.ident = old.ident;
        self.ah_seq = old.ah_seq;
    }
}

/// VRRPv3 over IPv4: the checksums we accept. We send RFC 5798's
/// pseudo-header form, which keepalived 2.2.7 and FRR 8.4 send and require
/// (a message-only advert is "Invalid VRRPv3 checksum" to them); RFC 9568
/// §5.2.8 computes it over the VRRP message alone, so a router that follows
/// the new text is accepted too, and counted (`Heard::message_only_checksum`).
pub const V3_IPV4_ACCEPT: wire::AcceptChecksums =
    wire::AcceptChecksums { pseudo_header: true, old_unicast: false, message_only: true };

/// Builds our advert for `dst` into `buf`; returns its length. IPv4: the
/// whole datagram (sent with IP_HDRINCL, as AH covers the IP header);
/// IPv6: the VRRP message.
pub fn encode(ctx: &mut AdvertCtx, priority: u8, dst: IpAddr, buf: &mut [u8]) -> Result<usize, wire::Error> {
    let repr = VrrpRepr { vrid: ctx.vrid, priority, fields: ctx.fields, addresses: ctx.addrs.to_wire() };
    match (ctx.src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            ctx.ident = ctx.ident.wrapping_add(1);
            let mut tx = TxIpv4::new(src, ctx.ident);
            tx.dst = dst;
            tx.ttl = wire::VRRP_TTL;
            tx.tos = TOS_INTERNETCONTROL;
            tx.unicast = ctx.rx.unicast;
            if let Some(key) = ctx.ah_key {
                let seq = ctx.ah_seq.next_tx().ok_or(wire::Error::AhReplay { received: u32::MAX, last: u32::MAX })?;
                tx.ah = Some((key, seq));
            }
            wire::emit_ipv4(&repr, &tx, buf)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => wire::emit_ipv6(&repr, src, dst, buf),
        _ => Err(wire::Error::BadIpHeader),
    }
}

/// The VRID of a received datagram, without parsing it whole (another
/// instance's adverts may use other authentication).
fn peek_vrid(pkt: &[u8], v6: bool) -> Option<u8> {
    if v6 {
        return pkt.get(1).copied();
    }
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let off = if *pkt.get(9)? == wire::IPPROTO_AH { ihl + wire::ah::HEADER_LEN } else { ihl };
    pkt.get(off + 1).copied()
}

/// Parses and checks a received datagram (IPv4: with its IP header).
pub fn decode(pkt: &[u8], meta: &Received, ctx: &mut AdvertCtx) -> Result<Heard, Reject> {
    let v6 = ctx.src.is_ipv6();
    match peek_vrid(pkt, v6) {
        Some(v) if v == ctx.vrid => {}
        Some(_) => return Err(Reject::OtherVrid),
        // Too short to carry a VRID: a truncated advert, not another router's.
        None => return Err(Reject::Wire(wire::Error::Truncated)),
    }
    let mut message_only_checksum = false;
    let (src, repr) = if v6 {
        let s = match meta.src {
            IpAddr::V6(s) => s,
            _ => Ipv6Addr::UNSPECIFIED,
        };
        let d = match meta.dst {
            Some(IpAddr::V6(d)) => d,
            _ => Ipv6Addr::UNSPECIFIED,
        };
        let a = wire::parse_ipv6(pkt, s, d, meta.hop_limit, &ctx.rx).map_err(Reject::Wire)?;
        (IpAddr::V6(s), a.repr)
    } else {
        let a = wire::parse_ipv4(pkt, &ctx.rx).map_err(Reject::Wire)?;
        if let Some(seq) = a.ah_seq {
            ctx.ah_seq.accept(seq).map_err(|_| Reject::Replay)?;
        }
        message_only_checksum = a.repr.version() == wire::Version::V3 && a.checksum == wire::ChecksumKind::MessageOnly;
        (IpAddr::V4(a.src), a.repr)
    };
    let ours = match ctx.fields {
        VersionFields::V2 { .. } => wire::Version::V2,
        VersionFields::V3 { .. } => wire::Version::V3,
    };
    if repr.version() != ours {
        return Err(Reject::Wire(wire::Error::BadVersion(repr.version().into())));
    }
    let interval = match repr.fields {
        VersionFields::V2 { adver_int, .. } => AdvertInterval::V2(adver_int),
        VersionFields::V3 { adver_int } => AdvertInterval::V3(adver_int),
    };
    let addresses_match = ctx.addrs.matches(&repr.addresses);
    Ok(Heard { vrid: repr.vrid, priority: repr.priority, src, interval, addresses_match, message_only_checksum })
}



#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ctx() -> AdvertCtx {
        let inst = VrrpInstance { virtual_router_id: 51, ..VrrpInstance::default() };
        let vip = IpAddress { addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)), prefix_len: 24, ..IpAddress::default() };
        let interval = AdvertInterval::V3(crate::vrrp::fsm::Centiseconds::new(100).expect("1 s"));
        AdvertCtx::new(&inst, 3, interval, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), &[vip]).expect("ctx")
    }

    fn internet_checksum(data: &[u8]) -> u16 {
        let mut acc: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    /// RFC 9568 §5.2.8: a v3 IPv4 advert whose checksum covers the VRRP
    /// message alone is accepted and counted as such; ours (RFC 5798's
    /// pseudo-header form) is accepted and not; a wrong one of either form
    /// is still dropped.
    #[test]
    fn rfc9568_message_only_checksum_is_accepted_and_marked() {
        let mut tx = ctx();
        let mut buf = [0u8; 1500];
        let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        let n = encode(&mut tx, 150, dst, &mut buf).expect("encode");
        let meta = Received { len: n, src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), dst: None, hop_limit: None, ifindex: None };
        let mut rx = ctx();
        let h = decode(&buf[..n], &meta, &mut rx).expect("pseudo-header form");
        assert!(!h.message_only_checksum);
        assert_eq!(h.priority, 150);

        let ihl = usize::from(buf[0] & 0x0f) * 4;
        let mut msg_only = buf;
        msg_only[ihl + 6..ihl + 8].fill(0);
        let c = internet_checksum(&msg_only[ihl..n]);
        msg_only[ihl + 6..ihl + 8].copy_from_slice(&c.to_be_bytes());
        let h = decode(&msg_only[..n], &meta, &mut rx).expect("message-only form");
        assert!(h.message_only_checksum);

        msg_only[ihl + 7] ^= 1;
        assert_eq!(decode(&msg_only[..n], &meta, &mut rx).map(|_| ()), Err(Reject::Wire(wire::Error::BadChecksum)));
    }

    /// A datagram cut before its VRID byte is a truncated advert (counted under
    /// packet_length), not another VRID's: the hostile-network campaign sends them.
    #[test]
    fn cut_before_the_vrid_is_truncated_not_another_vrid() {
        let mut tx = ctx();
        let mut buf = [0u8; 1500];
        let n = encode(&mut tx, 150, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)), &mut buf).expect("encode");
        let meta = Received { len: n, src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), dst: None, hop_limit: None, ifindex: None };
        let mut rx = ctx();
        for cut in [0, 1, 20, 21] {
            assert_eq!(decode(&buf[..cut], &meta, &mut rx).map(|_| ()), Err(Reject::Wire(wire::Error::Truncated)), "{cut} bytes");
        }
        assert!(matches!(decode(&buf[..22], &meta, &mut rx), Err(Reject::Wire(_))), "22 bytes");
        buf[21] = 99;
        assert_eq!(decode(&buf[..n], &meta, &mut rx).map(|_| ()), Err(Reject::OtherVrid));
    }
}
