//! Route lines (`static_routes`, `virtual_routes`):
//! `[src ADDR] [TYPE] DST [via|gw GW] [or GW] [dev IF] [table N] [metric N] ...`.

use super::addr::{parse_ip, parse_ipv4_aton, parse_prefix, parse_scope, u32_of, words};
use super::model::{IpPrefix, Nexthop, RawOption, Route, RouteType};
use super::tree::Node;
use super::values::{Ctx, parse_i64};

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
        _ => return None,
    })
}

/// One `static_routes` / `virtual_routes` line.
pub fn route_line(ctx: &mut Ctx<'_>, n: &Node) -> Option<Route> {
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
                Some(a) => r.src = Some(a),
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
                // nexthop [via ADDR] [dev IF] [weight N] [onlink] ...
                let mut nh = Nexthop::default();
                let mut j = i + 1;
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
                                    bad = true;
                                }
                                Some(a) if named.is_some_and(|v6| v6 != a.is_ipv6()) => {
                                    ctx.warn(n.pos, "Address family mismatch for next hop");
                                    bad = true;
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
                r.nexthops.push(nh);
                step = j - i;
            }
            "dev" | "oif" => match val {
                Some(v) => r.dev = Some(v.to_string()),
                None => bad = true,
            },
            "table" => match val.and_then(|v| match v {
                "main" => Some(254),
                "local" => Some(255),
                "default" => Some(253),
                _ => u32_of(Some(v)),
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
            "protocol" | "proto" => match val.and_then(|v| u8::try_from(parse_i64(v)?).ok()) {
                Some(p) => r.protocol = Some(p),
                None => r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() }),
            },
            "mtu" => r.mtu = u32_of(val),
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
            "track_group" => r.track_group = val.map(String::from),
            "tos" | "dsfield" | "realms" | "advmss" | "rtt" | "rttvar" | "reordering" | "window" | "cwnd"
            | "ssthresh" | "initcwnd" | "initrwnd" | "features" | "quickack" | "congctl" | "pref" | "fastopen_no_cookie"
            | "hoplimit" | "expires" | "ttl-propagate" | "lock" | "rto_min" | "vrf" => {
                r.other.push(RawOption { keyword: key.into(), args: val.into_iter().map(String::from).collect() });
            }
            _ => {
                // A word that reads as an address is the destination; a
                // later one replaces an earlier one, as in keepalived.
                // `default` (also `any`, `all`) takes the family of the
                // rest of the line.
                let is_default = matches!(key, "default" | "any" | "all");
                let target = if is_default { "0.0.0.0/0" } else { key };
                if let Some(p) = parse_prefix(target).or_else(|| {
                    parse_ipv4_aton(target).map(|addr| IpPrefix { addr, prefix_len: 32 })
                }) {
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
    // keepalived tracks routes by their interface.
    if r.dev.is_none() && !r.no_track && r.nexthops.iter().all(|n| n.dev.is_none()) {
        ctx.warn(n.pos, format!("Warning - cannot track route {dst_text} with no interface specified, not tracking"));
    }
    Some(r)
}

