//! A received VRRP datagram through the receive path: `vrrp::advert::decode`
//! (VRID, version and AH-sequence checks) over `wire::parse_ipv4` /
//! `parse_ipv6` (every codec check), for one of several instance shapes:
//! v2 with no auth, PASS or AH, v3 over IPv4 and IPv6, multicast or unicast.
//!
//! Input: byte 0 picks the shape, byte 1 the IPv6 hop limit, the rest is
//! the datagram (IPv4: from the IP header; IPv6: the VRRP message).
//! Invariants: what `decode` accepts the codec accepts too; an advert the
//! codec accepts re-encodes, and the encoding parses back to the same advert.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vigil::config::model::{AuthType, Authentication, IpAddress, UnicastPeer, VrrpInstance};
use vigil::vrrp::advert::{AdvertCtx, V3_IPV4_ACCEPT, decode};
use vigil::vrrp::fsm::{AdvertInterval, Centiseconds, Seconds};
use vigil::vrrp::net::Received;
use vigil::vrrp::wire::{self, AuthKey, RxConfig, TxIpv4};

const PASS: &str = "secret";

struct Shape {
    version: u8,
    v6: bool,
    auth: Option<AuthType>,
    unicast: bool,
}

fn shape(b: u8) -> Shape {
    let unicast = b & 0x80 != 0;
    match b % 5 {
        0 => Shape { version: 2, v6: false, auth: None, unicast },
        1 => Shape { version: 2, v6: false, auth: Some(AuthType::Pass), unicast },
        2 => Shape { version: 2, v6: false, auth: Some(AuthType::Ah), unicast },
        3 => Shape { version: 3, v6: false, auth: None, unicast },
        _ => Shape { version: 3, v6: true, auth: None, unicast },
    }
}

/// The VRID where `decode` looks for it, so that the instance matches and
/// the fuzzer reaches the codec (the mismatch path is one compare).
fn vrid_of(pkt: &[u8], v6: bool) -> u8 {
    let at = if v6 {
        1
    } else {
        let ihl = usize::from(pkt.first().copied().unwrap_or(0) & 0x0f) * 4;
        if pkt.get(9) == Some(&wire::IPPROTO_AH) { ihl + wire::ah::HEADER_LEN + 1 } else { ihl + 1 }
    };
    pkt.get(at).copied().unwrap_or(1)
}

fn vips(v6: bool) -> Vec<IpAddress> {
    let addrs: Vec<IpAddr> = if v6 {
        vec!["fe80::1".parse().unwrap(), "2001:db8::100".parse().unwrap()]
    } else {
        vec![Ipv4Addr::new(192, 168, 122, 200).into(), Ipv4Addr::new(10, 0, 0, 100).into()]
    };
    addrs.into_iter().map(|addr| IpAddress { addr, prefix_len: 24, ..IpAddress::default() }).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Some((&hop, pkt)) = rest.split_first() else { return };
    let s = shape(sel);
    let src: IpAddr = if s.v6 { Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2).into() } else { Ipv4Addr::new(192, 168, 122, 2).into() };
    let peer: IpAddr = if s.v6 { Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3).into() } else { Ipv4Addr::new(192, 168, 122, 3).into() };
    let inst = VrrpInstance {
        virtual_router_id: vrid_of(pkt, s.v6),
        authentication: s.auth.map(|auth_type| Authentication { auth_type, auth_pass: PASS.into() }),
        unicast_peers: if s.unicast { vec![UnicastPeer { addr: peer, min_ttl: None, max_ttl: None }] } else { Vec::new() },
        ..VrrpInstance::default()
    };
    let interval = if s.version == 2 { AdvertInterval::V2(Seconds(1)) } else { AdvertInterval::V3(Centiseconds::new(100).unwrap()) };
    let mut ctx = AdvertCtx::new(&inst, s.version, interval, src, &vips(s.v6)).expect("valid instance shape");
    let meta = Received {
        len: pkt.len(),
        src: peer,
        dst: Some(if s.v6 { wire::MCAST_GROUP_V6.into() } else { wire::MCAST_GROUP_V4.into() }),
        hop_limit: s.v6.then_some(hop),
        ifindex: Some(2),
    };
    let heard = decode(pkt, &meta, &mut ctx);
    if let Ok(h) = &heard {
        assert_eq!(h.vrid, inst.virtual_router_id);
    }

    // The codec alone, and the round trip of what it accepts.
    let key = match s.auth {
        Some(AuthType::Pass) => AuthKey::Pass(wire::auth_data(PASS)),
        Some(AuthType::Ah) => AuthKey::Ah(wire::auth_data(PASS)),
        None => AuthKey::None,
    };
    let rx = RxConfig { auth: key, accept: V3_IPV4_ACCEPT, unicast: s.unicast };
    let mut buf = [0xa5u8; 2048];
    if s.v6 {
        let (IpAddr::V6(src6), Some(IpAddr::V6(dst6))) = (meta.src, meta.dst) else { unreachable!() };
        let parsed = wire::parse_ipv6(pkt, src6, dst6, Some(hop), &rx);
        assert!(heard.is_err() || parsed.is_ok(), "decode accepted what the codec refuses");
        if let Ok(a) = parsed {
            let n = wire::emit_ipv6(&a.repr, src6, dst6, &mut buf).expect("an accepted advert re-encodes");
            assert_eq!(n, a.repr.buffer_len());
            let b = wire::parse_ipv6(&buf[..n], src6, dst6, Some(255), &rx).expect("our encoding parses");
            assert_eq!(b.repr, a.repr);
        }
    } else if let Ok(a) = {
        let parsed = wire::parse_ipv4(pkt, &rx);
        assert!(heard.is_err() || parsed.is_ok(), "decode accepted what the codec refuses");
        parsed
    } {
        let mut tx = TxIpv4::new(a.src, a.ident);
        tx.dst = a.dst;
        tx.unicast = s.unicast;
        if let AuthKey::Ah(k) = key {
            tx.ah = Some((k, a.ah_seq.unwrap_or(1)));
        }
        let n = wire::emit_ipv4(&a.repr, &tx, &mut buf).expect("an accepted advert re-encodes");
        assert_eq!(n, wire::ipv4_len(&a.repr));
        let b = wire::parse_ipv4(&buf[..n], &rx).expect("our encoding parses");
        assert_eq!(b.repr, a.repr);
        assert_eq!((b.src, b.dst, b.ident), (a.src, a.dst, a.ident));
    }
});
