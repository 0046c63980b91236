//! Route lines (`static_routes`, `virtual_routes`):
//! `[src ADDR] [TYPE] DST [via|gw GW] [or GW] [dev IF] [table N] [metric N] ...`.

use super::addr::{parse_ip, parse_prefix, parse_scope, u32_of, words};
use super::model::{IpPrefix, Nexthop, RawOption, Route, RouteType};
use super::tree::Node;
use super::values::{Ctx, parse_i64};

/// A destination word: (parsed, is `default`/`any`/`all`, the prefix).
fn dest(word: &str) -> (bool, bool, Option<IpPrefix>) {
    let is_default = matches!(word, "default" | "any" | "all");
    let target = if is_default { "0.0.0.0/0" } else { word };
    // inet_pton, as keepalived's parse_ipaddress (a bare number is a type).
    let p = parse_prefix(target);
    (p.is_some(), is_default, p)
}

/// The routing protocol number keepalived marks its routes with.
const RTPROT_KEEPALIVED: u8 = 18;

/// A route protocol: a number, or a name of /etc/iproute2/rt_protos (the
/// standard ones, as keepalived's rttables.c knows them).
fn route_protocol(s: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("unspec", 0), ("redirect", 1), ("kernel", 2), ("boot", 3), ("static", 4), ("gated", 8), ("ra", 9),
        ("mrt", 10), ("zebra", 11), ("bird", 12), ("dnrouted", 13), ("xorp", 14), ("ntk", 15), ("dhcp", 16),
        ("keepalived", 18), ("babel", 42), ("openr", 99), ("bgp", 186), ("isis", 187), ("ospf", 188), ("rip", 189),
        ("eigrp", 192),
    ];
    NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).or_else(|| u8::try_from(parse_c_number(s)?).ok())
}

/// A number as strtoul with base 0 reads it (0x.., 0.., decimal).
fn parse_c_number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// A TOS / DS field: a number up to 255 or a name of rt_dsfield.
fn dsfield(s: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("default", 0x00), ("AF11", 0x28), ("AF12", 0x30), ("AF13", 0x38), ("AF21", 0x48), ("AF22", 0x50),
        ("AF23", 0x58), ("AF31", 0x68), ("AF32", 0x70), ("AF33", 0x78), ("AF41", 0x88), ("AF42", 0x90),
        ("AF43", 0x98), ("CS1", 0x20), ("CS2", 0x40), ("CS3", 0x60), ("CS4", 0x80), ("CS5", 0xa0), ("CS6", 0xc0),
        ("CS7", 0xe0), ("EF", 0xb8),
    ];
    NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).or_else(|| u8::try_from(u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()?).ok())
}

/// A realm: a number or a name of rt_realms ("cosmos" is 0).
fn realm(s: &str) -> Option<u32> {
    if s == "cosmos" {
        return Some(0);
    }
    // iproute2's realm numbers stop at 255.
    parse_c_number(s).filter(|v| *v <= 255).map(|v| v as u32)
}

/// keepalived's get_time_rtt: a number, with an optional s/sec/secs or
/// ms/msec/msecs unit.
fn route_time_ok(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let num = ["msecs", "msec", "ms", "secs", "sec", "s"].iter().find_map(|u| lower.strip_suffix(u)).unwrap_or(&lower);
    !num.is_empty() && super::values::parse_decimal(num).is_some()
}

fn route_type(s: &str) -> Option<RouteType> {
    Some(match s {
        "unicast" => RouteType::Unicast,
        "blackhole" => RouteType::Blackhole,
        "unreachable" => RouteType::Unreachable,
        "prohibit" => RouteType::Prohibit,
        "throw" => RouteType::Throw,
        "local" => RouteType::Local,
        "broadcast" => RouteType::Broadcast,
        "anycast" => RouteType::Anycast,
        "multicast" => RouteType::Multicast,
        "nat" => RouteType::Nat,
        // A number is a type too (rt_types has the kernel's RTN_* values).
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => match n.parse::<u8>().ok()? {
            2 => RouteType::Local,
            3 => RouteType::Broadcast,
            4 => RouteType::Anycast,
            5 => RouteType::Multicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            9 => RouteType::Throw,
            10 => RouteType::Nat,
            _ => RouteType::Unicast,
        },
        _ => return None,
    })
}

/// One `static_routes` / `virtual_routes` line.
pub fn route_line(ctx: &mut Ctx<'_>, n: &Node, is_static: bool) -> Option<Route> {
    let w = words(n);
    let mut r = Route::default();
    let mut dst: Option<IpPrefix> = None;
    let mut dst_text = String::new();
    let mut i = 0;
    let mut bad = false;
    // The family named by `inet`/`inet6` or set by the first address
    // (true: IPv6).
    let mut family: Option<bool> = None;
    let mut dst_default = false;
    while i < w.len() {
        let key = w[i];
        let val = w.get(i + 1).copied();
        let mut step = 2;
        match key {
            "src" => match val.and_then(parse_ip) {
                Some(a) if family.is_some_and(|v6| v6 != a.is_ipv6()) => {
                    ctx.warn(n.pos, "Cannot mix IPv4 and IPv6 addresses for route");
                    bad = true
                }
                Some(a) => {
                    family = Some(a.is_ipv6());
                    r.src = Some(a)
                }
                None => {
                    ctx.warn(n.pos, format!("invalid route src address {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "inet" | "inet6" => {
                let v6 = key == "inet6";
                if family.is_some_and(|f| f != v6) {
                    let other = if v6 { "IPv4" } else { "IPv6" };
                    ctx.warn(n.pos, format!("{key} specified for {other} route"));
                    bad = true;
                }
                family = Some(v6);
                // keepalived 2.2.7 steps over the word after `inet`/`inet6`
                // too (its loop adds one more): `inet6 DST ...` loses DST.
                step = if val.is_some() { 2 } else { 1 };
            }
            "via" | "gw" => {
                if key == "gw" {
                    ctx.warn(n.pos, "\"gw\" for routes is deprecated. Please use \"via\"");
                }
                // `via [inet|inet6] ADDR`, as iproute2 writes it.
                let (named, val) = match val {
                    Some(f @ ("inet" | "inet6")) => {
                        step = 3;
                        (Some(f == "inet6"), w.get(i + 2).copied())
                    }
                    v => (None, v),
                };
                match val.and_then(parse_ip) {
                    Some(a) if named.is_some_and(|v6| v6 != a.is_ipv6()) || family.is_some_and(|v6| v6 != a.is_ipv6()) => {
                        ctx.warn(n.pos, "Cannot mix IPv4 and IPv6 addresses for route");
                        bad = true
                    }
                    Some(a) => {
                        family = Some(a.is_ipv6());
                        r.gateway = Some(a)
                    }
                    None => {
                        ctx.warn(n.pos, format!("invalid route via address {}", val.unwrap_or("")));
                        bad = true
                    }
                }
                if val.is_none() {
                    step = 2;
                }
            }
            "or" => {
                ctx.warn(n.pos, "\"or\" for routes is deprecated. Please use \"nexthop\"");
                match val.and_then(parse_ip) {
                    Some(a) => {
                        if r.nexthops.is_empty() {
                            r.nexthops.push(Nexthop { via: r.gateway.take(), dev: r.dev.clone(), ..Default::default() });
                        }
                        r.nexthops.push(Nexthop { via: Some(a), ..Default::default() });
                    }
                    None => bad = true,
                }
            }
            "nexthop" => {
                let (nh, took) = nexthop(ctx, n, &w[i + 1..], &mut bad);
                r.nexthops.push(nh);
                step = 1 + took;
            }
            "dev" | "oif" => match val {
                Some(v) => r.dev = Some(v.to_string()),
                None => bad = true,
            },
            "table" => match val.and_then(|v| match v {
                "main" => Some(254),
                "local" => Some(255),
                "default" => Some(253),
                // strtoul: a negative number wraps.
                _ => u32_of(Some(v)).or_else(|| parse_i64(v).filter(|x| *x < 0).map(|x| x as u32)),
            }) {
                Some(t) => r.table = Some(t),
                None => {
                    ctx.warn(n.pos, format!("Routing table {} not found for route", val.unwrap_or("")));
                    bad = true
                }
            },
            "metric" | "preference" | "priority" => match u32_of(val) {
                Some(m) => r.metric = Some(m),
                None => {
                    ctx.warn(n.pos, format!("Invalid metric {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "scope" => match val.and_then(parse_scope) {
                Some(s) => r.scope = Some(s),
                None => {
                    ctx.warn(n.pos, format!("Invalid route scope {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "protocol" => match val.and_then(route_protocol) {
                Some(p) => r.protocol = Some(p),
                None => {
                    ctx.warn(n.pos, format!("Protocol {} not found or invalid for route", val.unwrap_or("")));
                    bad = true
                }
            },
            // Metrics: [lock] NUMBER (keepalived's get_u32/get_u8 with its
            // read_unsigned complaint first), or a time for rtt & co.
            "mtu" | "advmss" | "reordering" | "cwnd" | "ssthresh" | "window" | "initcwnd" | "initrwnd" | "hoplimit"
            | "quickack" | "fastopen_no_cookie" | "rtt" | "rttvar" | "rto_min" => {
                let (locked, ok) = metric(ctx, n, &mut r, key, val, w.get(i + 2).copied());
                if locked {
                    step = 3;
                }
                if !ok {
                    bad = true;
                }
            }
            "onlink" => {
                r.onlink = true;
                step = 1
            }
            // `to DST`, as ip route writes it.
            "to" => step = 1,
            "no_track" => {
                r.no_track = true;
                step = 1
            }
            // Static routes only (allow_track_group).
            "track_group" if is_static => r.track_group = val.map(String::from),
            "tos" | "dsfield" => {
                if val.and_then(dsfield).is_none() {
                    ctx.warn(n.pos, format!("TOS value {} is invalid", val.unwrap_or("")));
                    bad = true;
                }
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            "realms" => {
                let ok = val.is_some_and(|v| {
                    let (a, b) = v.split_once('/').map_or((v, None), |(a, b)| (a, Some(b)));
                    realm(a).is_some() && b.is_none_or(|b| realm(b).is_some())
                });
                if !ok {
                    ctx.warn(n.pos, format!("Invalid realms {} for route", val.unwrap_or("")));
                    bad = true;
                } else if family == Some(true) {
                    ctx.warn(n.pos, "realms are only valid for IPv4");
                    bad = true;
                } else {
                    family = Some(false);
                }
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            "expires" | "pref" => {
                if family == Some(false) {
                    ctx.warn(n.pos, format!("{key} is only valid for IPv6"));
                    bad = true;
                } else {
                    family = Some(true);
                    let v = val.unwrap_or("");
                    let ok = match key {
                        "pref" => matches!(v, "low" | "medium" | "high") || parse_i64(v).is_some_and(|x| (0..=255).contains(&x)),
                        _ => parse_i64(v).is_some_and(|x| (0..=i64::from(u32::MAX)).contains(&x)),
                    };
                    if !ok {
                        ctx.warn(n.pos, format!("Invalid {key} {} {v} specified for route", if key == "pref" { "value" } else { "time" }));
                        bad = true;
                    }
                }
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            "features" => {
                if val != Some("ecn") {
                    ctx.warn(n.pos, format!("feature {} not supported", val.unwrap_or("")));
                }
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            "ttl-propagate" => {
                if !matches!(val, Some("enabled" | "disabled")) {
                    ctx.warn(n.pos, format!("ttl-propagate value {} not recognised", val.unwrap_or("")));
                }
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            "congctl" => {
                let args: Vec<String> = if val == Some("lock") {
                    step = 3;
                    w[i + 1..(i + 3).min(w.len())].iter().map(|s| s.to_string()).collect()
                } else {
                    val.into_iter().map(String::from).collect()
                };
                r.other.push(RawOption { keyword: key.into(), args });
            }
            "vrf" => {
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            _ => {
                // A word that reads as an address is the destination; a
                // later one replaces an earlier one, as in keepalived.
                // `default` (also `any`, `all`) takes the family of the
                // rest of the line.
                // A type word (name or number) is read first, and the
                // word after it is then the destination (keepalived's
                // find_rttables_rtntype before parse_route).
                if let (Some(t), Some(next)) = (route_type(key), val) {
                    r.route_type = t;
                    step = 2;
                    let (ok, is_default, p) = dest(next);
                    match p {
                        Some(p) if ok => {
                            if !is_default && family.is_some_and(|v6| v6 != p.addr.is_ipv6()) {
                                ctx.warn(n.pos, format!("Cannot mix IPv4 and IPv6 addresses for route ({next})"));
                                bad = true;
                            } else if !is_default {
                                family = Some(p.addr.is_ipv6());
                            }
                            dst = Some(p);
                            dst_default = is_default;
                            dst_text = next.to_string();
                        }
                        _ => {
                            ctx.warn(n.pos, format!("VRRP parsed invalid IP {next}. skipping IP..."));
                            ctx.warn(n.pos, format!("unknown route keyword {next}"));
                            bad = true;
                        }
                    }
                    i += step;
                    continue;
                }
                let is_default = matches!(key, "default" | "any" | "all");
                let target = if is_default { "0.0.0.0/0" } else { key };
                if let Some(p) = parse_prefix(target) {
                    if !is_default && family.is_some_and(|v6| v6 != p.addr.is_ipv6()) {
                        ctx.warn(n.pos, format!("Cannot mix IPv4 and IPv6 addresses for route ({key})"));
                        bad = true;
                    } else if !is_default {
                        family = Some(p.addr.is_ipv6());
                    }
                    dst = Some(p);
                    dst_default = is_default;
                    dst_text = key.to_string();
                } else if let (None, Some(t)) = (dst, route_type(key)) {
                    r.route_type = t;
                } else {
                    ctx.warn(n.pos, format!("VRRP parsed invalid IP {key}. skipping IP..."));
                    ctx.warn(n.pos, format!("unknown route keyword {key}"));
                    bad = true;
                }
                step = 1;
            }
        }
        if step >= 2 && val.is_none() {
            ctx.warn(n.pos, format!("Missing value for route option '{key}'"));
            bad = true;
        }
        i += step.max(1);
        // keepalived stops reading the line at its first error.
        if bad {
            break;
        }
    }
    let Some(mut dst) = dst else {
        if !bad {
            ctx.warn(n.pos, "Route must have a destination");
        }
        return None;
    };
    if dst_default && family == Some(true) {
        dst = IpPrefix { addr: std::net::Ipv6Addr::UNSPECIFIED.into(), prefix_len: 0 };
    }
    r.dst = dst;
    if bad {
        return None;
    }
    // A tracked route gets keepalived's own protocol.
    if !r.no_track && r.protocol.is_some_and(|p| p != RTPROT_KEEPALIVED) {
        ctx.warn(n.pos, format!("Route cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol"));
        r.protocol = Some(RTPROT_KEEPALIVED);
    }
    // keepalived tracks routes by their interface.
    if r.dev.is_none() && !r.no_track && r.nexthops.iter().all(|n| n.dev.is_none()) {
        ctx.warn(n.pos, format!("Warning - cannot track route {dst_text} with no interface specified, not tracking"));
    }
    Some(r)
}

/// `nexthop [via ADDR] [dev IF] [weight N] [onlink] ...`: the words after
/// `nexthop`, up to the next one. Returns the hop and the words it took.
fn nexthop(ctx: &mut Ctx<'_>, n: &Node, w: &[&str], bad: &mut bool) -> (Nexthop, usize) {
    let mut nh = Nexthop::default();
    let mut j = 0;
    while j < w.len() && w[j] != "nexthop" {
        match (w[j], w.get(j + 1).copied()) {
            ("via" | "gw", Some(v)) => {
                // `via [inet|inet6] ADDR`
                let (named, v) = match v {
                    "inet" | "inet6" => {
                        j += 1;
                        (Some(v == "inet6"), w.get(j + 1).copied().unwrap_or(""))
                    }
                    _ => (None, v),
                };
                nh.via = parse_ip(v);
                match nh.via {
                    None => {
                        ctx.warn(n.pos, format!("invalid nexthop address {v}"));
                        *bad = true;
                    }
                    Some(a) if named.is_some_and(|v6| v6 != a.is_ipv6()) => {
                        ctx.warn(n.pos, "Address family mismatch for next hop");
                        *bad = true;
                    }
                    Some(_) => {}
                }
                j += 2
            }
            ("dev", Some(v)) => {
                nh.dev = Some(v.to_string());
                j += 2
            }
            ("weight", Some(v)) => {
                nh.weight = u32_of(Some(v));
                j += 2
            }
            ("onlink", _) => {
                nh.onlink = true;
                j += 1
            }
            (other, _) => {
                ctx.warn(n.pos, format!("Unknown nexthop option '{other}'"));
                j += 1
            }
        }
    }
    (nh, j)
}

/// A route metric `KEY [lock] VALUE` (`after` is the word after `lock`):
/// a bounded number, or a time for rtt & co. `mtu` is modelled, the rest
/// kept as written. Returns (locked, value good).
fn metric(ctx: &mut Ctx<'_>, n: &Node, r: &mut Route, key: &str, val: Option<&str>, after: Option<&str>) -> (bool, bool) {
    let lockable = matches!(key, "mtu" | "advmss" | "reordering" | "cwnd" | "ssthresh" | "rtt" | "rttvar" | "rto_min");
    let (locked, v) = match val {
        Some("lock") if lockable => (true, after),
        v => (false, v),
    };
    let v = v.unwrap_or("");
    let ok = match key {
        "rtt" | "rttvar" | "rto_min" => route_time_ok(v),
        _ => {
            let max: i64 = match key {
                "hoplimit" => 255,
                "quickack" | "fastopen_no_cookie" => 1,
                _ => i64::from(u32::MAX),
            };
            match parse_i64(v) {
                Some(x) if (0..=max).contains(&x) && !v.starts_with('-') => {
                    if key == "mtu" {
                        r.mtu = u32::try_from(x).ok();
                    }
                    true
                }
                _ => {
                    ctx.warn(n.pos, super::values::unsigned_complaint(v, 0, max));
                    false
                }
            }
        }
    };
    if ok {
        if key != "mtu" {
            let mut args: Vec<String> = Vec::new();
            if locked {
                args.push("lock".into());
            }
            args.push(v.to_string());
            r.other.push(RawOption { keyword: key.into(), args });
        }
    } else {
        ctx.warn(n.pos, match key {
            "mtu" => format!("Invalid MTU {v} specified for route"),
            "advmss" | "hoplimit" => format!("Invalid {key} {v} specified for route"),
            "rtt" | "rttvar" => format!("Invalid {key} {v} for route"),
            _ => format!("Invalid {key} value {v} specified for route"),
        });
    }
    (locked, ok)
}

