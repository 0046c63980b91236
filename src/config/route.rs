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
    while i < w.len() {
        let key = w[i];
        let val = w.get(i + 1).copied();
        let mut step = 2;
        match key {
            "src" => match val.and_then(parse_ip) {
                Some(a) => r.src = Some(a),
                None => {
                    ctx.warn(n.pos, format!("Invalid route src address {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "via" | "gw" => {
                if key == "gw" {
                    ctx.warn(n.pos, "\"gw\" for routes is deprecated. Please use \"via\"");
                }
                match val.and_then(parse_ip) {
                    Some(a) => r.gateway = Some(a),
                    None => {
                        ctx.warn(n.pos, format!("Invalid route via address {}", val.unwrap_or("")));
                        bad = true
                    }
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
                            nh.via = parse_ip(v);
                            if nh.via.is_none() {
                                ctx.warn(n.pos, format!("Invalid nexthop address {v}"));
                                bad = true;
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
                let target = if key == "default" { "0.0.0.0/0" } else { key };
                if let Some(p) = parse_prefix(target).or_else(|| {
                    parse_ipv4_aton(target).map(|addr| IpPrefix { addr, prefix_len: 32 })
                }) {
                    dst = Some(p);
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
        if step == 2 && val.is_none() {
            ctx.warn(n.pos, format!("Missing value for route option '{key}'"));
            bad = true;
        }
        i += step.max(1);
    }
    let Some(dst) = dst else {
        ctx.warn(n.pos, "Route has no destination");
        return None;
    };
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

