//! Address, route and rule lines (`virtual_ipaddress`, `static_routes`,
//! `virtual_rules`, ...), parsed into the typed structs the netlink layer
//! applies.

use super::model::{IpAddress, IpPrefix, Scope};
use super::tree::Node;
use super::values::{Ctx, parse_i64};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// keepalived 2.2.7 rejects `a.b.c.d-e` in virtual_ipaddress.
const ALLOW_ADDRESS_RANGES: bool = false;

/// Most addresses one range line (`a.b.c.d-e`) may expand to.
const MAX_RANGE: u32 = 65536;

/// The words of a value-block line: its keyword and arguments.
pub fn words<'n>(n: &'n Node) -> Vec<&'n str> {
    std::iter::once(&*n.keyword).chain(n.args.iter().map(|a| &**a)).collect()
}

pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// inet_aton(3): `a`, `a.b`, `a.b.c` or `a.b.c.d`, each part decimal, octal
/// (leading 0) or hex (0x); keepalived reads some IPv4 values this way.
pub fn parse_ipv4_aton(s: &str) -> Option<IpAddr> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    let parts: Vec<u64> = s
        .split('.')
        .map(|p| {
            if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u64::from_str_radix(h, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u64::from_str_radix(&p[1..], 8).ok()
            } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    let v: u64 = match parts.as_slice() {
        [a] if *a <= 0xffff_ffff => *a,
        [a, b] if *a <= 0xff && *b <= 0xff_ffff => a << 24 | b,
        [a, b, c] if *a <= 0xff && *b <= 0xff && *c <= 0xffff => a << 24 | b << 16 | c,
        [a, b, c, d] if [a, b, c, d].iter().all(|x| **x <= 0xff) => a << 24 | b << 16 | c << 8 | d,
        _ => return None,
    };
    Some(IpAddr::V4(Ipv4Addr::from(v as u32)))
}

/// `ADDR[/LEN]`; without a length the host length of the family.
pub fn parse_prefix(s: &str) -> Option<IpPrefix> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr = parse_ip(a)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match l {
        Some(l) => {
            let v = parse_i64(l)?;
            if !(0..=max).contains(&v) {
                return None;
            }
            v as u8
        }
        None => max as u8,
    };
    Some(IpPrefix { addr, prefix_len })
}

pub fn parse_scope(s: &str) -> Option<Scope> {
    Some(match s {
        "global" | "universe" => Scope::Global,
        "site" => Scope::Site,
        "link" => Scope::Link,
        "host" => Scope::Host,
        "nowhere" => Scope::Nowhere,
        _ => Scope::Other(u8::try_from(parse_i64(s)?).ok()?),
    })
}

/// `ADDR[-LAST][/LEN]`: the addresses of a range (last octet for IPv4,
/// last group, hexadecimal, for IPv6).
fn parse_range(s: &str) -> Option<(Vec<IpAddr>, Option<u8>)> {
    let (body, len) = match s.split_once('/') {
        Some((b, l)) => (b, Some(l)),
        None => (s, None),
    };
    let (first, last) = match body.rsplit_once('-') {
        Some((f, l)) => (f, Some(l)),
        None => (body, None),
    };
    let addr = parse_ip(first)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => {
            let v = parse_i64(l)?;
            if !(0..=max).contains(&v) {
                return None;
            }
            Some(v as u8)
        }
        None => None,
    };
    let Some(last) = last else { return Some((vec![addr], len)) };
    // keepalived 2.2.7 takes no range in an address list (only in a
    // virtual_server_group); keep the parser for when it does.
    if !ALLOW_ADDRESS_RANGES || len.is_some() {
        return None;
    }
    let addrs = match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let end = u8::try_from(parse_i64(last)?).ok()?;
            if end < o[3] {
                return None;
            }
            (o[3]..=end).map(|x| IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], x))).collect()
        }
        IpAddr::V6(a) => {
            let mut g = a.segments();
            let end = u16::from_str_radix(last, 16).ok()?;
            if end < g[7] || u32::from(end - g[7]) >= MAX_RANGE {
                return None;
            }
            let start = g[7];
            (start..=end)
                .map(|x| {
                    g[7] = x;
                    IpAddr::V6(Ipv6Addr::from(g))
                })
                .collect()
        }
    };
    Some((addrs, len))
}

/// One `virtual_ipaddress`-style line; a range gives several entries.
pub fn ip_address_line(ctx: &mut Ctx<'_>, n: &Node, is_static: bool) -> Vec<IpAddress> {
    let w = words(n);
    let Some((addrs, len)) = parse_range(w[0]) else {
        ctx.warn(n.pos, format!("VRRP parsed invalid IP {}. skipping IP...", w[0]));
        return Vec::new();
    };
    let mut tmpl = IpAddress { prefix_len: len.unwrap_or(if addrs[0].is_ipv4() { 32 } else { 128 }), ..Default::default() };
    let mut have_broadcast = false;
    let mut brd_fill: Option<bool> = None;
    let mut i = 1;
    while i < w.len() {
        let key = w[i];
        let val = w.get(i + 1).copied();
        let mut takes = true;
        match (key, val) {
            ("dev", Some(v)) => tmpl.dev = Some(v.to_string()),
            ("label", Some(v)) => tmpl.label = Some(v.to_string()),
            // Static addresses only (keepalived's alloc_ipaddress).
            ("track_group", Some(v)) if is_static => tmpl.track_group = Some(v.to_string()),
            ("use_vmac", _) if !is_static => takes = false,
            ("mngtmpaddr", _) => takes = false,
            ("scope", Some(v)) => match parse_scope(v) {
                Some(s) => tmpl.scope = Some(s),
                None => ctx.warn(n.pos, format!("Invalid scope '{v}' specified for {} - ignoring", w[0])),
            },
            ("brd" | "broadcast", Some(v)) => {
                if addrs[0].is_ipv6() {
                    ctx.warn(
                        n.pos,
                        format!("VRRP is trying to assign a broadcast {key} to the IPv6 address {} !!?? WTF... skipping VIP...", w[0]),
                    );
                    return Vec::new();
                }
                have_broadcast = true;
                // `+`: host bits set, `-`: host bits clear (iproute2's forms),
                // resolved once the prefix (or peer) is known.
                match v {
                    "+" => brd_fill = Some(true),
                    "-" => brd_fill = Some(false),
                    _ => match v.parse::<Ipv4Addr>() {
                        Ok(b) => tmpl.broadcast = Some(IpAddr::V4(b)),
                        Err(_) => {
                            ctx.warn(n.pos, format!("VRRP is trying to assign invalid broadcast {v}. skipping VIP..."));
                            return Vec::new();
                        }
                    },
                }
            }
            // keepalived: a peer address without a prefix length, of the
            // address's family, once; the address's own length is then
            // the peer's.
            ("peer", Some(v)) => match parse_ip(v) {
                _ if tmpl.peer.is_some() => ctx.warn(n.pos, format!("Peer {v} - another peer has already been specified")),
                Some(a) if a.is_ipv4() != addrs[0].is_ipv4() => {
                    ctx.warn(n.pos, format!("Peer address {v} does not match address family"))
                }
                Some(a) => {
                    let host = if a.is_ipv4() { 32 } else { 128 };
                    if tmpl.prefix_len != host {
                        ctx.warn(n.pos, "Cannot specify address prefix when specifying peer address - ignoring");
                    }
                    tmpl.peer = Some(IpPrefix { addr: a, prefix_len: host });
                    tmpl.prefix_len = host;
                }
                None => {
                    ctx.warn(n.pos, format!("VRRP parsed invalid IP {v}. skipping IP..."));
                    ctx.warn(n.pos, format!("Invalid peer address {v}"));
                }
            },
            ("preferred_lft", Some(v)) => match parse_i64(v).and_then(|x| u32::try_from(x).ok()) {
                Some(x) => tmpl.preferred_lft = Some(x),
                None if v == "forever" => tmpl.preferred_lft = Some(u32::MAX),
                None => ctx.warn(n.pos, format!("Invalid preferred_lft '{v}' - ignoring")),
            },
            ("home", _) => {
                tmpl.home = true;
                takes = false
            }
            ("-nodad" | "nodad", _) => {
                tmpl.nodad = true;
                takes = false
            }
            ("noprefixroute", _) => {
                tmpl.noprefixroute = true;
                takes = false
            }
            ("autojoin", _) => {
                tmpl.autojoin = true;
                takes = false
            }
            ("no_track", _) => {
                tmpl.no_track = true;
                takes = false
            }
            ("dev" | "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft", None) => {
                ctx.warn(n.pos, format!("No {key} parameter specified for {}", w[0]));
                return Vec::new();
            }
            _ => {
                ctx.warn(n.pos, format!("Unknown configuration entry '{key}' for ip address - ignoring"));
                takes = false
            }
        }
        i += if takes { 2 } else { 1 };
    }
    if have_broadcast && tmpl.peer.is_some() {
        ctx.warn(n.pos, "Cannot specify broadcast and peer addresses - ignoring broadcast address");
        tmpl.broadcast = None;
    } else if let Some(fill) = brd_fill {
        if tmpl.prefix_len <= 30 {
            let base = match tmpl.peer.map(|p| p.addr).unwrap_or(addrs[0]) {
                IpAddr::V4(a) => u32::from(a),
                IpAddr::V6(_) => 0,
            };
            let host = u32::MAX.checked_shr(u32::from(tmpl.prefix_len)).unwrap_or(0);
            let b = if fill { base | host } else { base & !host };
            tmpl.broadcast = Some(IpAddr::V4(Ipv4Addr::from(b)));
        } else {
            ctx.warn(n.pos, format!("Address prefix length {} too long for broadcast", tmpl.prefix_len));
        }
    }
    addrs.into_iter().map(|addr| IpAddress { addr, ..tmpl.clone() }).collect()
}

pub(super) fn u32_of(s: Option<&str>) -> Option<u32> {
    s.and_then(parse_i64).and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("10.0.0.1/24").map(|p| p.prefix_len), Some(24));
        assert_eq!(parse_prefix("10.0.0.1").map(|p| p.prefix_len), Some(32));
        assert_eq!(parse_prefix("fe80::1").map(|p| p.prefix_len), Some(128));
        assert!(parse_prefix("10.0.0./24").is_none());
        assert!(parse_prefix("10.0.0.1/33").is_none());
    }

    #[test]
    #[ignore = "keepalived 2.2.7 has no address ranges in address lists"]
    fn ranges() {
        let (a, _) = parse_range("192.168.200.3-10").unwrap_or_default();
        assert_eq!(a.len(), 8);
        let (a, _) = parse_range("ae00::2-9").unwrap_or_default();
        assert_eq!(a.len(), 8);
        assert!(parse_range("1.2.3.9-3").is_none());
        assert!(parse_range("1.2.3.9-300").is_none());
    }
}
