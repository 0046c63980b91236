//! LVS sections: `virtual_server_group`, `virtual_server`, `real_server`
//! and the checkers.

use super::addr::{parse_ip, words};
use super::model::{
    BfdCheck, CheckKind, CheckTarget, Checker, DnsCheck, HttpUrl, LbKind, Protocol, RealServer, SorryServer, VirtualServer, VirtualServerGroup, VirtualServerKey, VsgEntry,
};
use super::tree::{Node, Text};
use super::values::{Ctx, parse_i64};
use std::net::IpAddr;

/// keepalived keeps connect_timeout in a 32-bit count of microseconds.
const MAX_CONNECT_TIMEOUT_SECS: f64 = 4_294.967_295;

/// Longest delay_loop/timer keepalived accepts (seconds).
const MAX_TIMER_SECS: f64 = 4_294_967.0;

fn port(ctx: &mut Ctx<'_>, n: &Node, s: &str) -> Option<u16> {
    match parse_i64(s).and_then(|v| u16::try_from(v).ok()) {
        Some(p) => Some(p),
        None => {
            ctx.warn(n.pos, format!("Invalid port '{s}'"));
            None
        }
    }
}

pub fn virtual_server_group(ctx: &mut Ctx<'_>, n: &Node) -> Option<VirtualServerGroup> {
    let Some(name) = n.arg(0) else {
        ctx.warn(n.pos, "virtual_server_group requires a name");
        return None;
    };
    let mut g = VirtualServerGroup { name: name.to_string(), entries: Vec::new() };
    for c in ctx.value_block(n) {
        let w = words(c);
        if w[0] == "fwmark" {
            match w.get(1).and_then(|s| parse_u32_any(s)) {
                Some(m) => g.entries.push(VsgEntry::Fwmark(m)),
                None => ctx.warn(c.pos, format!("virtual server group {name}: invalid fwmark")),
            }
            continue;
        }
        let Some(range) = vsg_range(w[0]) else {
            ctx.warn(c.pos, format!("Invalid virtual server group IP address/range {}", w[0]));
            continue;
        };
        let p = match w.get(1) {
            Some(s) => match port(ctx, c, s) {
                Some(p) => p,
                None => continue,
            },
            None => 0,
        };
        g.entries.push(VsgEntry::Range { first: range.0, last: range.1, port: p });
    }
    if n.args.len() > 1 {
        ctx.warn(n.pos, format!("virtual_server_group {name} has extra parameters {} - ignoring", n.args[1..].join(" ")));
    }
    if g.entries.is_empty() {
        ctx.warn(n.pos, format!("virtual server group {name} has no entries - removing"));
        return None;
    }
    Some(g)
}

/// `A.B.C.D[-E]` (last octet/group range) or a single address.
fn vsg_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    match s.rsplit_once('-') {
        None => parse_ip(s).map(|a| (a, a)),
        Some((first, last)) => {
            let a = parse_ip(first)?;
            let b = match a {
                IpAddr::V4(v4) => {
                    let mut o = v4.octets();
                    o[3] = u8::try_from(parse_i64(last)?).ok()?;
                    IpAddr::from(o)
                }
                IpAddr::V6(v6) => {
                    let mut g = v6.segments();
                    g[7] = u16::from_str_radix(last, 16).ok()?;
                    IpAddr::from(g)
                }
            };
            (b >= a).then_some((a, b))
        }
    }
}

fn parse_u32_any(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The IPVS schedulers keepalived accepts by name.
pub(super) const IPVS_SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"];

const RAW_VS: &[&str] = &[
    "weight",
    "persistence_engine", "ops", "ip_family", "retry", "delay_before_retry", "warmup",
    "connect_timeout", "snmp_name",
];

pub fn virtual_server(ctx: &mut Ctx<'_>, n: &Node) -> Option<VirtualServer> {
    let mut vs = VirtualServer::default();
    let key = match (n.arg(0), n.arg(1)) {
        (Some("fwmark"), Some(m)) => parse_u32_any(m).map(VirtualServerKey::Fwmark),
        (Some("group"), Some(g)) => Some(VirtualServerKey::Group(g.to_string())),
        (Some(a), p) => match (parse_ip(a), p) {
            (Some(addr), Some(p)) => port(ctx, n, p).map(|port| VirtualServerKey::Addr { addr, port }),
            (Some(addr), None) => Some(VirtualServerKey::Addr { addr, port: 0 }),
            (None, _) => None,
        },
        _ => None,
    };
    let Some(key) = key else {
        ctx.warn(n.pos, format!("Invalid virtual server '{}' - skipping", n.args.join(" ")));
        return None;
    };
    vs.key = key;
    let mut protocol_set = false;
    // Room for exactly the real servers named (the model is kept tight).
    vs.real_servers.reserve_exact(n.children().iter().filter(|c| c.keyword == "real_server").count());
    for c in ctx.need_block(n) {
        let kw = &*c.keyword;
        if kw == "real_server" {
            if let Some(rs) = real_server(ctx, c, &vs) {
                vs.real_servers.push(rs);
            }
            continue;
        }
        ctx.no_block(c);
        match kw {
            "delay_loop" => {
                if let Some(t) = ctx.timer(c, 0.000_001, MAX_TIMER_SECS) {
                    vs.delay_loop = t;
                }
            }
            "lb_algo" | "lvs_sched" => match c.arg(0) {
                Some(a) if IPVS_SCHEDULERS.contains(&a) => vs.lb_algo = a.to_string(),
                other => ctx.warn(c.pos, format!("Invalid lvs_scheduler '{}' - ignoring", other.unwrap_or(""))),
            },
            "lb_kind" | "lvs_method" => match c.arg(0).and_then(lb_kind_word) {
                Some(k) => {
                    vs.lb_kind = k;
                    if let Err(m) = tunnel_options(&c.args[1..], "virtual") {
                        ctx.warn(c.pos, m);
                    }
                }
                None => ctx.warn(c.pos, format!("PARSER : unknown [{}] routing method for virtual server.", c.arg(0).unwrap_or(""))),
            },
            "protocol" => {
                protocol_set = true;
                // keepalived compares the protocol without case (strcasecmp);
                // lb_kind and lb_algo are case-sensitive.
                match c.arg(0).map(str::to_ascii_uppercase).as_deref() {
                    Some("TCP") => vs.protocol = Protocol::Tcp,
                    Some("UDP") => vs.protocol = Protocol::Udp,
                    Some("SCTP") => vs.protocol = Protocol::Sctp,
                    _ => ctx.warn(c.pos, format!("Unknown protocol {} - ignoring", c.arg(0).unwrap_or(""))),
                }
            }
            "persistence_timeout" => {
                vs.persistence_timeout = match c.arg(0) {
                    None => Some(360),
                    Some(s) => ctx.int_value(c, s, 1, i64::from(u32::MAX)).map(|v| v as u32),
                }
            }
            "persistence_granularity" => match c.arg(0).and_then(super::addr::parse_ipv4_aton) {
                Some(a) => vs.persistence_granularity = Some(a),
                None => ctx.warn(c.pos, format!("Invalid persistence_granularity '{}'", c.arg(0).unwrap_or(""))),
            },
            "virtualhost" => vs.virtualhost = ctx.string(c),
            "sorry_server" => match (c.arg(0).and_then(parse_ip), c.arg(1)) {
                (Some(addr), p) => {
                    let port = p.and_then(|p| port(ctx, c, p));
                    vs.sorry_server = Some(SorryServer { addr, port, lb_kind: None });
                }
                _ => ctx.warn(c.pos, format!("Invalid sorry server IP address {} - skipping", c.arg(0).unwrap_or(""))),
            },
            "sorry_server_inhibit" if vs.sorry_server.is_none() => {
                ctx.warn(c.pos, "Ignoring sorry_server inhibit used before or without sorry_server")
            }
            "sorry_server_inhibit" => vs.sorry_server_inhibit = true,
            // keepalived applies it to the sorry server configured so far.
            "sorry_server_lvs_method" => match (vs.sorry_server.as_mut(), c.arg(0).and_then(lb_kind_word)) {
                (None, _) => ctx.warn(c.pos, "sorry_server forwarding used without sorry_server"),
                (Some(s), Some(k)) => {
                    s.lb_kind = Some(k);
                    if let Err(m) = tunnel_options(&c.args[1..], "sorry") {
                        ctx.warn(c.pos, m);
                    }
                }
                (Some(_), None) => {
                    ctx.warn(c.pos, format!("PARSER : unknown [{}] routing method for sorry server.", c.arg(0).unwrap_or("")))
                }
            },
            "quorum" => {
                if let Some(q) = ctx.u32(c, 1, u32::MAX) {
                    vs.quorum = q;
                }
            }
            "quorum_up" => ctx.script_once(c, &mut vs.quorum_up, "virtual server"),
            "quorum_down" => ctx.script_once(c, &mut vs.quorum_down, "virtual server"),
            "hysteresis" => {
                if let Some(h) = ctx.u32(c, 0, u32::MAX) {
                    vs.hysteresis = h;
                }
            }
            // keepalived ignores any argument here.
            "inhibit_on_failure" => vs.inhibit_on_failure = true,
            // keepalived ignores any argument to these.
            "alpha" => vs.alpha = true,
            "omega" => vs.omega = true,
            "ha_suspend" => vs.ha_suspend = true,
            "smtp_alert" => vs.smtp_alert = ctx.flag(c),
            // Scheduler flags: always for flag-N; the hashing ones only under
            // the sh or mh scheduler chosen so far (keepalived judges them
            // line by line, and names sh in its warning either way).
            "flag-1" | "flag-2" | "flag-3" => {
                let raw = ctx.raw(c);
                vs.other.push(raw);
            }
            "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "hashed" => {
                if matches!(vs.lb_algo.as_str(), "sh" | "mh") {
                    let raw = ctx.raw(c);
                    vs.other.push(raw);
                } else {
                    ctx.warn(c.pos, format!("{kw} only applies to sh scheduler - ignoring"));
                }
            }
            "ip_family" if !matches!(c.arg(0), Some("inet" | "inet6")) => {
                ctx.warn(c.pos, format!("unknown address family {}", c.arg(0).unwrap_or("")))
            }
            "retry" if !c.arg(0).and_then(parse_i64).is_some_and(|v| (1..=i64::from(u32::MAX)).contains(&v)) => {
                let a = c.arg(0).unwrap_or("");
                retry_value_complaint(ctx, c, a);
            }
            k if RAW_VS.contains(&k) => {
                let spec = timing_spec(k);
                if let Some(raw) = ctx.raw_checked(c, spec) {
                    vs.other.push(raw);
                }
            }
            _ => ctx.unknown(c),
        }
    }
    sorry_server_inhibit(ctx, n, &mut vs, protocol_set);
    real_server_ports(ctx, n, &mut vs);
    if protocol_set && matches!(vs.key, VirtualServerKey::Fwmark(_)) {
        ctx.warn(n.pos, format!("Warning: Virtual server FWM {}: protocol specified for fwmark - protocol will be ignored", n.arg(1).unwrap_or("")));
    }
    Some(vs)
}

/// A real server that is also the sorry server (the same address and port
/// as written: no port is 0) decides the sorry server's inhibit setting, as
/// in keepalived's validate_check_config (before ports are settled).
fn sorry_server_inhibit(ctx: &mut Ctx<'_>, n: &Node, vs: &mut VirtualServer, protocol_set: bool) {
    let Some(ss) = vs.sorry_server.clone() else { return };
    // By then keepalived has defaulted a missing protocol to UDP.
    let mut shown = VirtualServer { key: vs.key.clone(), protocol: vs.protocol, ..Default::default() };
    if !protocol_set {
        shown.protocol = Protocol::Udp;
    }
    for rs in &vs.real_servers {
        if rs.addr != ss.addr || rs.port.unwrap_or(0) != ss.port.unwrap_or(0) {
            continue;
        }
        let rs_inhibit = rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
        if rs_inhibit != vs.sorry_server_inhibit {
            let as_written = RealServer { addr: rs.addr, port: Some(rs.port.unwrap_or(0)), ..Default::default() };
            ctx.warn(
                n.pos,
                format!(
                    "Virtual server {}: real server {} matches sorry server, but inhibit setting differs, {}ing on sorry server",
                    shown.fmt_vs(),
                    shown.fmt_rs(&as_written),
                    if rs_inhibit { "sett" } else { "clear" }
                ),
            );
            vs.sorry_server_inhibit = rs_inhibit;
        }
    }
}

/// A forwarding method as `lb_kind`, `lvs_method` and
/// `sorry_server_lvs_method` spell it.
/// The words after a forwarding method (`TUN type gue port 6080 csum`), as
/// keepalived's svr_forwarding_handler checks them (for any method).
fn tunnel_options(words: &[Text<'_>], s_type: &str) -> Result<(), String> {
    let (mut tun_type, mut port, mut csum) = ("ipip", None::<u16>, "nocsum");
    let mut i = 0;
    while i < words.len() {
        match &*words[i] {
            "type" => {
                let t = words.get(i + 1).ok_or_else(|| format!("Missing tunnel type for {s_type} server."))?;
                match &**t {
                    "ipip" | "gue" | "gre" => tun_type = if t == "ipip" { "ipip" } else if t == "gue" { "gue" } else { "gre" },
                    _ => return Err(format!("Unknown tunnel type {t} for {s_type} server.")),
                }
                i += 1;
            }
            "port" => {
                let p = words.get(i + 1).ok_or_else(|| format!("Missing port for {s_type} server gue tunnel."))?;
                match parse_i64(p).filter(|v| (1..=65535).contains(v)) {
                    Some(v) => port = Some(v as u16),
                    None => return Err(format!("Invalid gue tunnel port {p} for {s_type} server.")),
                }
                i += 1;
            }
            c @ ("nocsum" | "csum" | "remcsum") => csum = if c == "nocsum" { "nocsum" } else if c == "csum" { "csum" } else { "remcsum" },
            o => return Err(format!("Invalid tunnel option {o} for {s_type} server.")),
        }
        i += 1;
    }
    if (tun_type == "gue") != port.is_some() {
        return Err("gue tunnels require port, otherwise cannot have port.".into());
    }
    if tun_type == "ipip" && csum != "nocsum" {
        return Err("ipip tunnels do not support checksum option.".into());
    }
    if tun_type == "gre" && csum == "remcsum" {
        return Err("gre tunnels do not support remote checksum option.".into());
    }
    Ok(())
}

fn lb_kind_word(w: &str) -> Option<LbKind> {
    match w {
        "NAT" => Some(LbKind::Nat),
        "DR" => Some(LbKind::Dr),
        "TUN" => Some(LbKind::Tun),
        _ => None,
    }
}

/// keepalived's port rules for real servers and the sorry server, in its
/// validate_check_config. Only NAT can change the port, so:
/// - NAT: a port is kept; without one, a real server of an address virtual
///   server takes that one's port (a fwmark's stays unset: 0);
/// - DR/TUN under a fwmark: a port is cleared (reported);
/// - DR/TUN under an address: none takes the virtual server's port, a
///   different one is reset to it (reported);
/// - under a group nothing is changed (`lvs::group::dest_port` programs
///   each member), only reported: a DR/TUN port with fwmark members, or
///   one differing from an address member's.
fn real_server_ports(ctx: &mut Ctx<'_>, n: &Node, vs: &mut VirtualServer) {
    let vs_label = vs.fmt_vs();
    let mut reals = std::mem::take(&mut vs.real_servers);
    for rs in &mut reals {
        let nat = vs.rs_lb_kind(rs) == LbKind::Nat;
        match (&vs.key, rs.port) {
            (VirtualServerKey::Addr { port: vport, .. }, None) => rs.port = Some(*vport),
            (VirtualServerKey::Addr { port: vport, .. }, Some(p)) if !nat && p != *vport => {
                let rs_label = vs.fmt_rs(rs);
                ctx.warn(n.pos, format!("WARNING - virtual server {vs_label} and real server {rs_label} ports don't match - resetting"));
                rs.port = Some(*vport);
            }
            (VirtualServerKey::Fwmark(_), Some(_)) if !nat => {
                let rs_label = vs.fmt_rs(rs);
                ctx.warn(n.pos, format!("WARNING - fwmark virtual server {vs_label}, real server {rs_label} has port specified - clearing"));
                rs.port = None;
            }
            _ => {}
        }
    }
    vs.real_servers = reals;
    let Some(mut sorry) = vs.sorry_server.take() else { return };
    if vs.sorry_lb_kind(&sorry) != LbKind::Nat {
        match (&vs.key, sorry.port) {
            (VirtualServerKey::Addr { port: vport, .. }, None) => sorry.port = Some(*vport),
            (VirtualServerKey::Addr { port: vport, .. }, Some(p)) if p != *vport => {
                ctx.warn(n.pos, format!("WARNING - virtual server {vs_label} and sorry server ports don't match - resetting"));
                sorry.port = Some(*vport);
            }
            (VirtualServerKey::Fwmark(_), Some(_)) => {
                ctx.warn(n.pos, format!("WARNING - virtual server {vs_label}, sorry server has port specified - clearing"));
                sorry.port = None;
            }
            _ => {}
        }
    }
    vs.sorry_server = Some(sorry);
}

/// What the checker defaults given on a virtual or real server take.
fn timing_spec(k: &str) -> super::values::ArgSpec {
    use super::values::ArgSpec::*;
    match k {
        "snmp_name" => One,
        "ip_family" | "virtualhost" | "lvs_method" | "persistence_engine" | "sorry_server_lvs_method" => Word,
        "retry" => Num(1, u32::MAX as i64),
        "uthreshold" | "lthreshold" => Num(0, u32::MAX as i64),
        "weight" => Num(1, i32::MAX as i64),
        "connect_timeout" => TimerSecs,
        "delay_before_retry" | "warmup" | "delay_loop" => Secs,
        _ => Any,
    }
}

/// Query types DNS_CHECK accepts.
/// keepalived 2.2.7's empty-label test for a DNS_CHECK name: a leading
/// '.' (other than "."), "..", and also a '.' as the second character (its
/// scan starts at the name's first character, not at a '.', so "a.b" is
/// refused too).
fn dns_name_has_empty_label(name: &str) -> bool {
    let b = name.as_bytes();
    (b.first() == Some(&b'.') && b.len() > 1) || b.get(1) == Some(&b'.') || name.contains("..")
}

const DNS_TYPES: &[&str] = &["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];

const RAW_RS: &[&str] = &[
    "snmp_name",
    "uthreshold", "lthreshold", "alpha", "retry", "delay_before_retry", "warmup", "delay_loop", "connect_timeout",
    "virtualhost", "log_all_failures",
];

fn real_server(ctx: &mut Ctx<'_>, n: &Node, vs: &VirtualServer) -> Option<RealServer> {
    let Some(addr) = n.arg(0).and_then(parse_ip) else {
        ctx.warn(n.pos, format!("Invalid real server ip address/port {} - skipping", n.args.join(" ")));
        return None;
    };
    let p = match n.arg(1) {
        Some(s) => Some(port(ctx, n, s)?),
        None => None,
    };
    let mut rs = RealServer { addr, port: p, ..Default::default() };
    rs.checkers.reserve_exact(n.children().iter().filter(|c| checker_kind(&c.keyword).is_some()).count());
    for c in ctx.need_block(n) {
        let kw = &*c.keyword;
        if let Some(kind) = checker_kind(kw) {
            if let Some(ch) = checker(ctx, c, kind) {
                rs.checkers.push(ch);
            }
            continue;
        }
        if kw == "BFD_CHECK" {
            if let Some(b) = bfd_check(ctx, c, &vs.fmt_rs(&rs), &rs.bfd_checks) {
                rs.bfd_checks.push(b);
            }
            continue;
        }
        ctx.no_block(c);
        match kw {
            "weight" => match c.arg(0).and_then(parse_i64).and_then(|w| i32::try_from(w).ok()).filter(|w| *w >= 0) {
                Some(w) => rs.weight = w,
                None => ctx.warn(
                    c.pos,
                    format!("Real server weight {} is outside range 0-{}", c.arg(0).unwrap_or(""), i32::MAX),
                ),
            },
            "alpha" if c.arg(0).is_some_and(|a| super::values::parse_bool(a).is_none()) => {
                ctx.warn(c.pos, format!("Invalid alpha parameter {}", c.arg(0).unwrap_or("")))
            }
            "retry" if !c.arg(0).and_then(parse_i64).is_some_and(|v| (1..=i64::from(u32::MAX)).contains(&v)) => {
                let a = c.arg(0).unwrap_or("");
                retry_value_complaint(ctx, c, a);
            }
            "delay_loop" if !c.arg(0).and_then(super::values::parse_decimal).is_some_and(|d| d > 0.0) => {
                let a = c.arg(0).unwrap_or("");
                ctx.warn(c.pos, format!("real server delay_loop '{a}' invalid - ignoring"))
            }
            "inhibit_on_failure" => rs.inhibit_on_failure = ctx.flag(c),
            "notify_up" => ctx.script_once(c, &mut rs.notify_up, "real server"),
            "notify_down" => ctx.script_once(c, &mut rs.notify_down, "real server"),
            "smtp_alert" => rs.smtp_alert = ctx.flag(c),
            "lvs_method" => match c.arg(0).and_then(lb_kind_word) {
                Some(k) => {
                    rs.lb_kind = Some(k);
                    if let Err(m) = tunnel_options(&c.args[1..], "real") {
                        ctx.warn(c.pos, m);
                    }
                }
                None => ctx.warn(c.pos, format!("PARSER : unknown [{}] routing method for real server.", c.arg(0).unwrap_or(""))),
            },
            k if RAW_RS.contains(&k) => {
                if let Some(raw) = ctx.raw_checked(c, timing_spec(k)) {
                    rs.other.push(raw);
                }
            }
            _ => ctx.unknown(c),
        }
    }
    Some(rs)
}

/// A checker's retry count as keepalived's read_unsigned reads it, with
/// its complaint about the number and then the keyword's own.
fn retry_value(ctx: &mut Ctx<'_>, c: &Node, invalid: &str) -> Option<u32> {
    let a = c.arg(0).unwrap_or("");
    let complaint = if a.starts_with('-') {
        format!("negative number '{a}'")
    } else {
        match super::values::parse_i64(a) {
            Some(v) => match u32::try_from(v) {
                Ok(v) => return Some(v),
                Err(_) => format!("number '{a}' outside unsigned integer range"),
            },
            None => format!("invalid number '{a}'"),
        }
    };
    ctx.warn(c.pos, complaint);
    ctx.warn(c.pos, format!("{invalid} '{a}'"));
    None
}

/// A virtual or real server's `retry` outside 1..=4294967295: the number's
/// complaint, then the keyword's.
fn retry_value_complaint(ctx: &mut Ctx<'_>, c: &Node, a: &str) {
    let first = if a.starts_with('-') {
        format!("negative number '{a}'")
    } else if parse_i64(a).is_some() {
        format!("number '{a}' outside range [1, 4294967295]")
    } else {
        format!("invalid number '{a}'")
    };
    ctx.warn(c.pos, first);
    ctx.warn(c.pos, format!("retry value invalid - {a}"));
}

/// `BFD_CHECK { name NAME [alpha] }` as keepalived's check_bfd.c reads it: NAME a
/// `bfd_instance` defined above that tells the checker process its state, not already
/// checked on this real server (`rs_label`: its FMT_RS, `checked`: its BFD checks so far).
fn bfd_check(ctx: &mut Ctx<'_>, n: &Node, rs_label: &str, checked: &[BfdCheck]) -> Option<BfdCheck> {
    let mut found: Option<String> = None;
    let mut alpha = None;
    for k in ctx.need_block(n) {
        ctx.no_block(k);
        match &*k.keyword {
            "name" => {
                let problem = match k.args {
                    [name] if !ctx.bfd.checker_knows(name) => Some(format!("BFD {name} not configured")),
                    [name] => match &found {
                        Some(first) => Some(format!("BFD {name} already specified as {first}")),
                        None if name.len() > super::model::bfd_limits::NAME_MAX => Some(format!("BFD name {name} too long")),
                        None if checked.iter().any(|b| b.name == *name) => Some(format!("RS already monitoring {name}")),
                        None => {
                            found = Some(name.to_string());
                            None
                        }
                    },
                    _ => Some("No or too many names specified - skipping checker".to_string()),
                };
                if let Some(p) = problem {
                    // The checker is dropped: the rest of its block is read and ignored.
                    ctx.warn(k.pos, format!("({rs_label}) BFD_CHECK - {p}"));
                    return None;
                }
            }
            "alpha" => match k.arg(0) {
                // keepalived: a bare `alpha` is on; a bad value leaves it as it was.
                None => alpha = Some(true),
                Some(a) => match super::values::parse_bool(a) {
                    Some(b) => alpha = Some(b),
                    None => ctx.warn(k.pos, format!("Invalid alpha parameter {a}")),
                },
            },
            _ => ctx.unknown(k),
        }
    }
    if found.is_none() {
        ctx.warn(n.pos, format!("({rs_label}) No name has been specified for BFD_CHECKER - skipping"));
    }
    found.map(|name| BfdCheck { name, alpha })
}

fn checker_kind(kw: &str) -> Option<CheckKind> {
    Some(match kw {
        "TCP_CHECK" => CheckKind::Tcp,
        "HTTP_GET" => CheckKind::Http(Box::default()),
        "SSL_GET" => CheckKind::Ssl(Box::default()),
        "SMTP_CHECK" => CheckKind::Smtp(Box::default()),
        "MISC_CHECK" => CheckKind::Misc(Box::default()),
        "DNS_CHECK" => CheckKind::Dns(Box::new(DnsCheck { query_type: "SOA".into(), name: ".".into() })),
        "UDP_CHECK" => CheckKind::Udp(Box::default()),
        "PING_CHECK" => CheckKind::Ping,
        "FILE_CHECK" => CheckKind::File(Box::default()),
        _ => return None,
    })
}

/// Keywords of the connection target, shared by every checker (and by the
/// legacy SMTP `host { }` block). Returns false when `c` is not one.
fn target_keyword(ctx: &mut Ctx<'_>, c: &Node, t: &mut CheckTarget) -> bool {
    match &*c.keyword {
        "connect_ip" => match c.arg(0).and_then(parse_ip) {
            Some(a) => t.connect_ip = Some(a),
            None => ctx.warn(c.pos, format!("Invalid connect_ip '{}'", c.arg(0).unwrap_or(""))),
        },
        "connect_port" => match c.arg(0).and_then(parse_i64) {
            Some(p @ 1..=65535) => t.connect_port = Some(p as u16),
            _ => ctx.warn(c.pos, format!("Invalid checker connect_port '{}'", c.arg(0).unwrap_or(""))),
        },
        "bindto" => match c.arg(0).and_then(parse_ip) {
            Some(a) => t.bindto = Some(a),
            None => ctx.warn(c.pos, format!("Invalid bindto '{}'", c.arg(0).unwrap_or(""))),
        },
        "bind_port" => match ctx.arg(c, 0).map(|a| (a, parse_i64(a))) {
            Some((_, Some(p @ 1..=65535))) => t.bind_port = Some(p as u16),
            Some((a, _)) => ctx.warn(c.pos, format!("Invalid checker bind_port '{a}'")),
            None => {}
        },
        "bind_if" => t.bind_if = ctx.string(c),
        "fwmark" => match ctx.arg(c, 0).map(|a| (a, parse_i64(a).and_then(|v| u32::try_from(v).ok()))) {
            Some((_, Some(m))) => t.fwmark = Some(m),
            Some((a, None)) => ctx.warn(c.pos, format!("Invalid fwmark connection value '{a}'")),
            None => {}
        },
        _ => return false,
    }
    true
}

fn checker(ctx: &mut Ctx<'_>, n: &Node, mut kind: CheckKind) -> Option<Checker> {
    let mut ch = Checker::default();
    let mut target = CheckTarget::default();
    for c in ctx.need_block(n) {
        let kw = &*c.keyword;
        // Blocks inside checkers.
        match (&mut kind, kw) {
            (CheckKind::Http(h) | CheckKind::Ssl(h), "url") => {
                if let Some(u) = url(ctx, c) {
                    h.urls.push(u);
                }
                continue;
            }
            (CheckKind::Smtp(s), "host") => {
                let mut t = CheckTarget::default();
                for h in ctx.need_block(c) {
                    ctx.no_block(h);
                    // The legacy host block also takes the checker timings.
                    let timing = matches!(&*h.keyword, "retry" | "delay_before_retry" | "warmup" | "connect_timeout");
                    if !target_keyword(ctx, h, &mut t) && !timing {
                        ctx.unknown(h);
                    }
                }
                s.hosts.push(t);
                continue;
            }
            _ => {}
        }
        ctx.no_block(c);
        if target_keyword(ctx, c, &mut target) {
            continue;
        }
        match kw {
            "connect_timeout" => {
                if let Some(t) = ctx.timer(c, 0.000_001, MAX_CONNECT_TIMEOUT_SECS) {
                    ch.connect_timeout = t;
                    ch.connect_timeout_set = true;
                }
            }
            "retry" => ch.retry = retry_value(ctx, c, "Invalid retry connection value"),
            // HTTP_GET and SSL_GET only (check_http.c); elsewhere unknown.
            "nb_get_retry" if matches!(kind, CheckKind::Http(_) | CheckKind::Ssl(_)) => {
                ctx.warn(c.pos, "nb_get_retry is deprecated - please use 'retry'");
                ch.retry = retry_value(ctx, c, "Invalid nb_get_retry value");
            }
            "delay_before_retry" => ch.delay_before_retry = ctx.timer(c, 0.0, MAX_TIMER_SECS),
            "warmup" => ch.warmup = ctx.timer(c, 0.0, MAX_TIMER_SECS),
            "delay_loop" => ch.delay_loop = ctx.timer(c, 0.000_001, MAX_TIMER_SECS),
            "alpha" => ch.alpha = ctx.flag(c),
            "log_all_failures" => ch.log_all_failures = ctx.flag(c),
            _ => {
                if !kind_keyword(ctx, c, &mut kind) {
                    ctx.unknown(c);
                }
            }
        }
    }
    // keepalived removes a MISC_CHECK whose user (or group) cannot be set.
    if let CheckKind::Misc(m) = &kind
        && let Some(u) = &m.misc_path.user
        && (!super::build_global::user_exists(u)
            || m.misc_path.group.as_deref().is_some_and(|g| !super::build_global::group_exists(g)))
    {
        let pos = n.children().iter().rev().find(|c| c.keyword == "user").map(|c| c.pos).unwrap_or(n.pos);
        ctx.warn(pos, format!("Failed to set uid/gid for misc checker script '{}' - removing", m.misc_path.argv.join(" ")));
        return None;
    }
    if let CheckKind::Misc(m) = &kind
        && m.misc_path.argv.is_empty() {
            ctx.warn(n.pos, "MISC_CHECK has no misc_path - ignoring");
            return None;
        }
    if let CheckKind::Http(h) | CheckKind::Ssl(h) = &kind
        && h.urls.is_empty() {
            ctx.warn(n.pos, "HTTP/SSL_GET checker has no urls specified - ignoring");
            return None;
        }
    if let CheckKind::File(f) = &kind
        && f.track_file.is_empty() {
            ctx.warn(n.pos, "FILE_CHECK has no track_file specified - ignoring");
            return None;
        }
    if let Some(IpAddr::V6(a)) = target.connect_ip
        && a.segments()[0] & 0xffc0 == 0xfe80 && target.bind_if.is_none() {
            ctx.warn(n.pos, format!("Checker link local address {a} requires a bind_if"));
        }
    if let (Some(b), Some(c)) = (target.bindto, target.connect_ip)
        && b.is_ipv4() != c.is_ipv4() {
            ctx.warn(n.pos, format!("bindto address {b} does not match address family of connect_ip - skipping"));
            target.bindto = None;
        }
    ch.target = (target != CheckTarget::default()).then(|| Box::new(target));
    ch.kind = kind;
    Some(ch)
}

/// Keywords particular to one checker type.
fn kind_keyword(ctx: &mut Ctx<'_>, c: &Node, kind: &mut CheckKind) -> bool {
    match (kind, &*c.keyword) {
        (CheckKind::Http(h) | CheckKind::Ssl(h), k) => match k {
            "virtualhost" => h.virtualhost = ctx.string(c),
            "http_protocol" => match c.arg(0) {
                Some(v @ ("1.0" | "1.1" | "1.0C" | "1.0c")) => h.http_protocol = Some(v.to_string()),
                other => ctx.warn(c.pos, format!("Invalid http_protocol version {}", other.unwrap_or(""))),
            },
            "enable_sni" | "fast_recovery" => match c.arg(0).map(super::values::parse_bool) {
                Some(None) => ctx.warn(c.pos, format!("Invalid {k} parameter {}", c.arg(0).unwrap_or(""))),
                v => {
                    let on = v.flatten().unwrap_or(true);
                    if k == "enable_sni" {
                        h.enable_sni = on
                    } else {
                        h.fast_recovery = on
                    }
                }
            },
            _ => return false,
        },
        (CheckKind::Smtp(s), "helo_name") => s.helo_name = ctx.string(c),
        (CheckKind::Misc(m), k) => match k {
            "misc_path" => {
                if let Some(s) = ctx.script(c) {
                    m.misc_path.argv = s.argv;
                }
            }
            "misc_timeout" => m.misc_timeout = ctx.timer(c, 0.000_001, MAX_TIMER_SECS),
            "misc_dynamic" => m.misc_dynamic = true,
            "user" => {
                m.misc_path.user = c.arg(0).map(String::from);
                m.misc_path.group = c.arg(1).map(String::from);
            }
            _ => return false,
        },
        (CheckKind::Dns(d), k) => match k {
            // The type is compared without case (strcasecmp).
            "type" => match c.arg(0).map(str::to_ascii_uppercase) {
                Some(t) if DNS_TYPES.contains(&t.as_str()) => d.query_type = t,
                _ => ctx.warn(c.pos, format!("Unknown DNS check type {} - ignoring", c.arg(0).unwrap_or(""))),
            },
            "name" if d.name != "." => ctx.warn(c.pos, "DNS_CHECK name already specified - ignoring"),
            "name" => match c.arg(0) {
                Some(name) if dns_name_has_empty_label(name) => {
                    ctx.warn(c.pos, format!("DNS_CHECK name '{name}' has empty label - ignoring"))
                }
                _ => d.name = ctx.string(c).unwrap_or_else(|| d.name.clone()),
            },
            _ => return false,
        },
        (CheckKind::Udp(u), k) => match k {
            "payload" => u.payload = hex_bytes(ctx, c),
            "require_reply" => u.require_reply = hex_bytes(ctx, c),
            "min_reply_length" => u.min_reply_length = ctx.u32(c, 0, 65535),
            "max_reply_length" => u.max_reply_length = ctx.u32(c, 0, 65535),
            _ => return false,
        },
        (CheckKind::File(f), k) => match k {
            "track_file" => f.track_file = ctx.string(c).unwrap_or_default(),
            "weight" => match c.arg(0).and_then(parse_i64).and_then(|w| i32::try_from(w).ok()).filter(|w| *w != i32::MIN) {
                Some(w) => {
                    f.weight = w;
                    f.weight_reverse = c.arg(1) == Some("reverse");
                }
                None if c.arg(0).is_none() => ctx.warn(c.pos, "track file weight missing"),
                None => ctx.warn(c.pos, format!("weight for track file must be in [{}..{}] inclusive. Ignoring...", -i32::MAX, i32::MAX)),
            },
            _ => return false,
        },
        _ => return false,
    }
    true
}

/// keepalived's read_hex_str over the words joined by blanks: pairs of hex
/// digits (a lone digit before a blank or the end is one byte), blanks
/// skipped; in `require_reply` an `x` is a wildcard nibble. None: not hex
/// (or nothing). The model has no mask: a reply pattern keeps the bytes
/// before its first wildcard (the check compares a prefix, so it never
/// fails where keepalived's masked compare passes).
fn read_hex(s: &str, wildcard: bool) -> Option<Vec<u8>> {
    let nibble = |c: u8| -> Option<Option<u8>> {
        match c {
            b'0'..=b'9' => Some(Some(c - b'0')),
            b'a'..=b'f' => Some(Some(c - b'a' + 10)),
            b'A'..=b'F' => Some(Some(c - b'A' + 10)),
            b'x' | b'X' if wildcard => Some(None),
            _ => None,
        }
    };
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut masked = false;
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let hi = nibble(b[i])?;
        i += 1;
        let mut byte = hi.unwrap_or(0);
        let mut this_masked = hi.is_none();
        if i < b.len() && b[i] != b' ' {
            let lo = nibble(b[i])?;
            i += 1;
            byte = byte << 4 | lo.unwrap_or(0);
            this_masked |= lo.is_none();
        }
        masked |= this_masked;
        if !masked {
            out.push(byte);
        }
    }
    (masked || !out.is_empty()).then_some(out)
}

fn hex_bytes(ctx: &mut Ctx<'_>, c: &Node) -> Option<Vec<u8>> {
    let reply = c.keyword == "require_reply";
    if c.args.is_empty() {
        // `require_reply` alone: any reply (an empty prefix); a payload
        // needs its bytes.
        if !reply {
            ctx.warn(c.pos, "UDP_CHECK payload requires a payload");
        }
        return reply.then(Vec::new);
    }
    let v = read_hex(&c.args.join(" "), reply);
    if v.is_none() {
        ctx.warn(c.pos, format!("Invalid hex string for UDP_CHECK {}", if reply { "reply" } else { "payload" }));
    }
    v
}

fn url(ctx: &mut Ctx<'_>, n: &Node) -> Option<HttpUrl> {
    let mut u = HttpUrl::default();
    for c in ctx.need_block(n) {
        ctx.no_block(c);
        match &*c.keyword {
            "path" => u.path = ctx.string(c).unwrap_or_default(),
            "digest" => match c.arg(0) {
                Some(d) if u.digest.is_some() => ctx.warn(c.pos, format!("Digest '{d}' is a duplicate")),
                Some(d) if d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) => u.digest = Some(d.to_ascii_lowercase()),
                other => ctx.warn(c.pos, format!("digest '{}' is not a valid MD5 digest", other.unwrap_or(""))),
            },
            "status_code" => {
                for a in c.args {
                    let (lo, hi) = a.split_once('-').unwrap_or((a, a));
                    match (parse_i64(lo), parse_i64(hi)) {
                        (Some(l), Some(h)) if (100..=599).contains(&l) && (l..=599).contains(&h) => {
                            u.status_code.push((l as u16, h as u16))
                        }
                        _ => ctx.warn(c.pos, format!("Invalid HTTP_GET status code '{a}'")),
                    }
                }
            }
            "virtualhost" => u.virtualhost = ctx.string(c),
            // keepalived takes `regex` alone (and then has none).
            "regex" => u.regex = c.arg(0).map(String::from),
            "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" => {}
            _ => ctx.unknown(c),
        }
    }
    if u.path.is_empty() {
        ctx.warn(n.pos, "url has no path - ignoring");
        return None;
    }
    Some(u)
}
