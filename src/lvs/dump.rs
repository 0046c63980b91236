//! /tmp/keepalived_check.data, the checker process's answer to SIGUSR1, in
//! keepalived 2.2.7's layout (its check_data.c dump_vs / dump_rs /
//! dump_vsg, check_api.c dump_checker and each checker kind's dump; checked
//! line by line against a capture of keepalived 2.2.7 in the QEMU guest,
//! tests/data/dump/keepalived_check.data): the global definitions, then the
//! LVS topology and the health checkers.
//!
//! Stand-ins where vigil keeps no such state: a virtual server is `alive`
//! once configured (keepalived sets it when the service is in IPVS);
//! `previous effective_weight` is 0; `reloaded` is 0; a MISC_CHECK's
//! `Last status` after a failure is 1 (the exit status is not kept); an
//! HTTP checker's `Failed URL` is its first URL.

use crate::check::plan::{CheckSpec, Probe, UrlSpec, dns_type};
use crate::check::runner::{CheckerReport, RsReport};
use crate::check::{RsId, plan};
use crate::config::dump::{Writer, global_definitions};
use crate::config::model::{
    CheckKind, Checker, Config, LbKind, Protocol, RawOption, RealServer, VirtualServer, VirtualServerKey, VsgEntry,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

pub const CHECK_DATA: &str = "/tmp/keepalived_check.data";

/// keepalived's default connection timeout of a virtual server (5 s).
const DEFAULT_CONNECT_TIMEOUT_US: u64 = 5_000_000;
/// IPVS's largest weight (real_weight clamps to it).
const IPVS_WEIGHT_MAX: i64 = 65535;

fn secs(us: u64) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

fn us(d: Duration) -> u128 {
    d.as_micros()
}

fn fwd(kind: LbKind) -> &'static str {
    match kind {
        LbKind::Nat => "NAT",
        LbKind::Dr => "DR",
        LbKind::Tun => "TUN",
    }
}

fn on(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn raw<'a>(other: &'a [RawOption], kw: &str) -> Option<&'a RawOption> {
    other.iter().rev().find(|o| o.keyword == kw)
}

fn raw_arg<'a>(other: &'a [RawOption], kw: &str) -> Option<&'a str> {
    raw(other, kw).map(|o| o.args.first().map_or("", String::as_str))
}

/// A timer keyword's value in microseconds (keepalived's read_timer: seconds).
fn raw_us(other: &[RawOption], kw: &str) -> Option<u64> {
    let s: f64 = raw_arg(other, kw)?.parse().ok()?;
    (s >= 0.0).then(|| (s * 1e6).round() as u64)
}

fn raw_flag(other: &[RawOption], kw: &str) -> Option<bool> {
    raw(other, kw).map(|o| !matches!(o.args.first().map(String::as_str), Some("false" | "off" | "no" | "0")))
}

/// The port keepalived leaves on a real (or sorry) server after
/// validate_check_config: NAT keeps its own (a plain virtual server's
/// when it has none); other methods take the virtual server's, and a
/// fwmark service's real servers have none.
fn server_port(vs: &VirtualServer, kind: LbKind, port: Option<u16>) -> u16 {
    match (&vs.key, kind) {
        (VirtualServerKey::Addr { port: vp, .. }, LbKind::Nat) => port.filter(|p| *p != 0).unwrap_or(*vp),
        (VirtualServerKey::Addr { port: vp, .. }, _) => *vp,
        (VirtualServerKey::Fwmark(_), LbKind::Nat) => port.unwrap_or(0),
        (VirtualServerKey::Fwmark(_), _) => 0,
        _ => port.unwrap_or(0),
    }
}

/// keepalived's FMT_RS (inet_sockaddrtotrio): `[ADDR]:proto:PORT`.
fn fmt_rs(vs: &VirtualServer, addr: IpAddr, port: u16) -> String {
    format!("[{addr}]:{}:{port}", vs.protocol_name())
}

fn rs_port(vs: &VirtualServer, rs: &RealServer) -> u16 {
    server_port(vs, vs.rs_lb_kind(rs), rs.port)
}

fn protocol_line(vs: &VirtualServer) -> &'static str {
    match (&vs.key, vs.protocol) {
        (VirtualServerKey::Fwmark(_), _) => "none",
        (_, Protocol::Tcp) => "TCP",
        (_, Protocol::Udp) => "UDP",
        (_, Protocol::Sctp) => "SCTP",
    }
}

fn family_of<'a>(mut addrs: impl Iterator<Item = &'a IpAddr>) -> Option<&'static str> {
    addrs.next().map(|a| if a.is_ipv4() { "inet" } else { "inet6" })
}

fn address_family(c: &Config, vs: &VirtualServer) -> String {
    if let Some(f) = raw_arg(&vs.other, "ip_family") {
        return format!("Address family = {f}");
    }
    let from_rs = || family_of(vs.real_servers.iter().map(|r| &r.addr));
    let fam = match &vs.key {
        VirtualServerKey::Addr { addr, .. } => Some(if addr.is_ipv4() { "inet" } else { "inet6" }),
        VirtualServerKey::Group(g) => {
            let addrs: Vec<&IpAddr> = c
                .virtual_server_groups
                .iter()
                .filter(|x| &x.name == g)
                .flat_map(|x| &x.entries)
                .filter_map(|e| match e {
                    VsgEntry::Range { first, .. } => Some(first),
                    _ => None,
                })
                .collect();
            if addrs.iter().any(|a| a.is_ipv4()) && addrs.iter().any(|a| a.is_ipv6()) {
                return "Address family = IPv4 & IPv6".into();
            }
            family_of(addrs.into_iter()).or_else(from_rs)
        }
        _ => from_rs(),
    };
    format!("Address family = {}", fam.unwrap_or("unknown"))
}

fn groups(s: &mut String, c: &Config) {
    for g in &c.virtual_server_groups {
        let has = |v6: bool| g.entries.iter().any(|e| matches!(e, VsgEntry::Range { first, .. } if first.is_ipv6() == v6));
        let _ = writeln!(s, " ------< Virtual server group >------");
        let _ = writeln!(s, " Virtual Server Group = {}, IPv4 = {}, IPv6 = {}", g.name, yes(has(false)), yes(has(true)));
        // Alive: the virtual servers of this group by protocol (each is
        // alive once configured, as in the virtual server section).
        let users: Vec<&VirtualServer> =
            c.virtual_servers.iter().filter(|v| matches!(&v.key, VirtualServerKey::Group(n) if n == &g.name)).collect();
        let count = |p: Protocol| users.iter().filter(|v| v.protocol == p).count();
        for e in &g.entries {
            match e {
                VsgEntry::Range { first, last, port } => {
                    if first == last {
                        let _ = writeln!(s, "   VIP = {first}, VPORT = {port}");
                    } else {
                        let _ = writeln!(s, "   VIP Range = {first}-{last}, VPORT = {port}");
                    }
                    let (t, u, sc) = (count(Protocol::Tcp), count(Protocol::Udp), count(Protocol::Sctp));
                    let _ = writeln!(s, "     Alive: {t} tcp, {u} udp, {sc} sctp");
                    let _ = writeln!(s, "     reloaded = False");
                }
                VsgEntry::Fwmark(_) | VsgEntry::Empty => {}
            }
        }
        for e in &g.entries {
            if let VsgEntry::Fwmark(m) = e {
                let v4 = users.iter().filter(|v| v.real_servers.iter().any(|r| r.addr.is_ipv4())).count();
                let v6 = users.iter().filter(|v| v.real_servers.iter().any(|r| r.addr.is_ipv6())).count();
                let _ = writeln!(s, "   FWMARK = {m}");
                let _ = writeln!(s, "     Alive: {v4} IPv4, {v6} IPv6");
                let _ = writeln!(s, "     reloaded = False");
            }
        }
    }
}

fn script_line(what: &str, sc: &crate::config::model::Script) -> String {
    format!("{what} = {}, uid:gid {}", crate::vrrp::dump::cmd_str(sc), uid_gid(sc))
}

fn uid_gid(sc: &crate::config::model::Script) -> String {
    let uid = sc.user.as_deref().and_then(|u| nix::unistd::User::from_name(u).ok().flatten()).map_or(0, |u| u.uid.as_raw());
    let gid = sc
        .group
        .as_deref()
        .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
        .map(|g| g.gid.as_raw())
        .or_else(|| sc.user.as_deref().and_then(|u| nix::unistd::User::from_name(u).ok().flatten()).map(|u| u.gid.as_raw()))
        .unwrap_or(0);
    format!("{uid}:{gid}")
}

/// The smtp_alert default chain: own, global checker, global, else `dflt`.
fn smtp(c: &Config, own: Option<bool>, dflt: bool) -> bool {
    own.or(c.global.smtp_alert_checker).or(c.global.smtp_alert).unwrap_or(dflt)
}

struct RsView<'a> {
    rs: &'a RealServer,
    report: Option<&'a RsReport>,
}

impl RsView<'_> {
    fn checker(&self, i: usize) -> Option<&CheckerReport> {
        self.report.and_then(|r| r.checkers.get(i))
    }
    fn up(&self) -> bool {
        self.report.is_none_or(|r| r.up)
    }
    fn effective_weight(&self) -> i64 {
        i64::from(self.report.and_then(|r| r.weight).unwrap_or(self.rs.weight))
    }
    fn failed_checkers(&self, specs: &[CheckSpec]) -> usize {
        (0..specs.len()).filter(|&i| !self.checker(i).map_or(!specs[i].policy.alpha, |c| c.up)).count()
    }
}

fn virtual_server(s: &mut String, c: &Config, vs: &VirtualServer, quorum_up: bool, servers: &[(RsView<'_>, &[CheckSpec])]) {
    let _ = writeln!(s, " ------< Virtual server >------");
    match &vs.key {
        VirtualServerKey::Group(_) => {
            let _ = writeln!(s, " VS GROUP = {}", vs.fmt_vs());
        }
        VirtualServerKey::Fwmark(m) => {
            let _ = writeln!(s, " VS FWMARK = {m}");
        }
        VirtualServerKey::Addr { addr, port } => {
            let _ = writeln!(s, " VS VIP = {addr}, VPORT = {port}");
        }
        VirtualServerKey::Unset => {}
    }
    if let Some(v) = &vs.virtualhost {
        let _ = writeln!(s, "   VirtualHost = {v}");
    }
    let _ = writeln!(s, "   {}", address_family(c, vs));
    let vs_timeout = raw_us(&vs.other, "connect_timeout").unwrap_or(DEFAULT_CONNECT_TIMEOUT_US);
    let _ = writeln!(s, "   connection timeout = {}", secs(vs_timeout));
    let _ = writeln!(s, "   delay_loop = {}", secs(vs.delay_loop.0));
    let _ = writeln!(s, "   lvs_sched = {}", vs.lb_algo);
    let flag = |kw: &str| if raw(&vs.other, kw).is_some() { "enabled" } else { "disabled" };
    let _ = writeln!(s, "   Hashed = {}", flag("hashed"));
    match vs.lb_algo.as_str() {
        "sh" | "mh" => {
            for f in ["port", "fallback"] {
                let kw = format!("{}-{f}", vs.lb_algo);
                let _ = writeln!(s, "   {kw} = {}", flag(&kw));
            }
        }
        _ => {
            for f in ["flag-1", "flag-2", "flag-3"] {
                let _ = writeln!(s, "   {f} = {}", flag(f));
            }
        }
    }
    let ops = raw(&vs.other, "ops").is_some();
    let inactive = if ops && vs.protocol != Protocol::Udp && !matches!(vs.key, VirtualServerKey::Fwmark(_)) {
        " (inactive due to not UDP)"
    } else {
        ""
    };
    let _ = writeln!(s, "   One packet scheduling = {}{inactive}", if ops { "enabled" } else { "disabled" });
    if let Some(t) = vs.persistence_timeout.filter(|t| *t != 0) {
        let _ = writeln!(s, "   persistence timeout = {t}");
    }
    match vs.persistence_granularity {
        Some(IpAddr::V4(g)) => {
            let _ = writeln!(s, "   persistence granularity = {g}");
        }
        // keepalived keeps an IPv6 granularity as a prefix length.
        Some(IpAddr::V6(g)) => {
            let _ = writeln!(s, "   persistence granularity = {}", u128::from(g).count_ones());
        }
        None => {}
    }
    let _ = writeln!(s, "   protocol = {}", protocol_line(vs));
    let _ = writeln!(s, "   alpha is {}", on(vs.alpha));
    let _ = writeln!(s, "   omega is {}", on(vs.omega));
    retry_lines(s, &vs.other);
    let _ = writeln!(s, "   Inhibit on failure is {}", on(vs.inhibit_on_failure));
    let _ = writeln!(s, "   quorum = {}, hysteresis = {}", vs.quorum, vs.hysteresis);
    if let Some(q) = &vs.quorum_up {
        let _ = writeln!(s, "   {}", script_line("Quorum up notify script", q));
    }
    if let Some(q) = &vs.quorum_down {
        let _ = writeln!(s, "   {}", script_line("Quorum down notify script", q));
    }
    if vs.ha_suspend {
        let _ = writeln!(s, "   Using HA suspend");
    }
    let _ = writeln!(s, "   Using smtp notification = {}", yes(smtp(c, vs.smtp_alert, false)));
    let _ = writeln!(s, "   default forwarding method = {}", fwd(vs.lb_kind));
    if let Some(ss) = &vs.sorry_server {
        let kind = vs.sorry_lb_kind(ss);
        let port = server_port(vs, kind, ss.port);
        let dup = vs.real_servers.iter().any(|r| r.addr == ss.addr && rs_port(vs, r) == port);
        let _ = writeln!(s, "   sorry server {}= {}", if dup { "(duplicates rs) " } else { "" }, fmt_rs(vs, ss.addr, port));
        let _ = writeln!(s, "     forwarding method = {}", fwd(kind));
        let _ = writeln!(s, "     Inhibit on failure is {}", on(vs.sorry_server_inhibit));
    }
    let _ = writeln!(s, "   alive = 1");
    let _ = writeln!(s, "   quorum_state_up = {}", quorum_up as u8);
    let _ = writeln!(s, "   reloaded = 0");
    for (v, specs) in servers {
        real_server(s, c, vs, v, specs);
    }
}

/// A virtual or real server's own retry, delay_before_retry and warmup,
/// printed only when set.
fn retry_lines(s: &mut String, other: &[RawOption]) {
    if let Some(r) = raw_arg(other, "retry") {
        let _ = writeln!(s, "   Retry count = {r}");
    }
    if let Some(d) = raw_us(other, "delay_before_retry") {
        let _ = writeln!(s, "   Retry delay = {}", secs(d));
    }
    if let Some(w) = raw_us(other, "warmup") {
        let _ = writeln!(s, "   Warmup = {}", secs(w));
    }
}

fn real_server(s: &mut String, c: &Config, vs: &VirtualServer, v: &RsView<'_>, specs: &[CheckSpec]) {
    let rs = v.rs;
    let eff = v.effective_weight();
    let _ = writeln!(s, "   ------< Real server >------");
    let _ = writeln!(
        s,
        "   RIP = {}, RPORT = {}, WEIGHT = {} EFF WEIGHT = {eff}",
        rs.addr,
        rs_port(vs, rs),
        eff.clamp(0, IPVS_WEIGHT_MAX)
    );
    let _ = writeln!(s, "   forwarding method = {}", fwd(vs.rs_lb_kind(rs)));
    let _ = writeln!(s, "   Alpha is {}", on(raw_flag(&rs.other, "alpha").unwrap_or(vs.alpha)));
    let timeout = raw_us(&rs.other, "connect_timeout")
        .or_else(|| raw_us(&vs.other, "connect_timeout"))
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT_US);
    let _ = writeln!(s, "   connection timeout = {}", secs(timeout));
    let lo = raw_arg(&rs.other, "lthreshold").unwrap_or("0");
    let hi = raw_arg(&rs.other, "uthreshold").unwrap_or("0");
    let _ = writeln!(s, "   connection limit range = {lo} -> {hi}");
    let _ = writeln!(s, "   Delay loop = {}", secs(raw_us(&rs.other, "delay_loop").unwrap_or(vs.delay_loop.0)));
    // keepalived copies the virtual server's into the real server's.
    let inherited: Vec<RawOption> = ["retry", "delay_before_retry", "warmup"]
        .iter()
        .filter_map(|kw| raw(&rs.other, kw).or_else(|| raw(&vs.other, kw)).cloned())
        .collect();
    retry_lines(s, &inherited);
    let _ = writeln!(s, "   Inhibit on failure is {}", on(rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure)));
    if let Some(n) = &rs.notify_up {
        let _ = writeln!(s, "     {}", script_line("RS up notify script", n));
    }
    if let Some(n) = &rs.notify_down {
        let _ = writeln!(s, "     {}", script_line("RS down notify script", n));
    }
    if let Some(h) = raw_arg(&rs.other, "virtualhost") {
        let _ = writeln!(s, "    VirtualHost = '{h}'");
    }
    let _ = writeln!(s, "   Using smtp notification = {}", yes(smtp(c, rs.smtp_alert, true)));
    let _ = writeln!(s, "   initial weight = {}", rs.weight);
    let _ = writeln!(s, "   effective weight = {eff}");
    let _ = writeln!(s, "   previous effective_weight = 0");
    let up = v.up();
    let _ = writeln!(s, "   alive = {}", up as u8);
    let _ = writeln!(s, "   num failed checkers = {}", v.failed_checkers(specs));
    // In IPVS while alive, or kept there at weight 0 by inhibit_on_failure.
    let set = up || rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
    let _ = writeln!(s, "   RS set = {}", set as u8);
    let _ = writeln!(s, "   reloaded = 0");
}

/// keepalived's default_delay_before_retry of each kind, in microseconds:
/// 1 s; HTTP_GET and SSL_GET 3 s; DNS_CHECK none (0: delay_loop applies).
fn default_delay_before_retry(k: &CheckKind) -> u64 {
    match k {
        CheckKind::Http(_) | CheckKind::Ssl(_) => 3_000_000,
        CheckKind::Dns(_) => 0,
        _ => 1_000_000,
    }
}

/// Whether keepalived gives the kind connection options (`Connection`).
fn has_connection(k: &CheckKind) -> bool {
    !matches!(k, CheckKind::Misc(_) | CheckKind::File(_))
}

/// The lines keepalived's dump_checker starts every checker with; returns
/// (up, has run).
fn checker_head(s: &mut String, vs: &VirtualServer, rs: &RealServer, spec: &CheckSpec, r: Option<&CheckerReport>) -> (bool, bool) {
    let _ = writeln!(s, " {} -> {}", vs.fmt_vs(), fmt_rs(vs, rs.addr, rs_port(vs, rs)));
    let (up, has_run) = r.map_or((!spec.policy.alpha, false), |r| (r.up, r.has_run));
    let _ = writeln!(s, "   Enabled = {}", yes(r.is_none_or(|r| r.enabled)));
    let _ = writeln!(s, "   Up = {}", yes(up));
    let _ = writeln!(s, "   Has run = {}", yes(has_run));
    let _ = writeln!(s, "   Current weight = {}", r.and_then(|r| r.weight).unwrap_or(0));
    (up, has_run)
}

fn checker(s: &mut String, vs: &VirtualServer, rs: &RealServer, ch: &Checker, spec: &CheckSpec, r: Option<&CheckerReport>) {
    let p = &spec.policy;
    let (up, has_run) = checker_head(s, vs, rs, spec, r);
    if !matches!(ch.kind, CheckKind::File(_)) {
        let _ = writeln!(s, "   Alpha = {}", yes(p.alpha));
        let _ = writeln!(s, "   Delay loop = {} us", us(p.delay_loop));
        let _ = writeln!(s, "   Warmup = {} us", us(spec.warmup));
        let _ = writeln!(s, "   Retries = {}", p.retry);
        if p.retry > 0 {
            let _ = writeln!(s, "   Delay before retry = {} us", us(p.delay_before_retry));
            let _ = writeln!(s, "   Retries iterations = {}", r.map_or(p.retry, |r| r.retry_it));
        }
        let _ = writeln!(s, "   Default delay before retry = {} us", default_delay_before_retry(&ch.kind));
    }
    let _ = writeln!(s, "   Log all failures = {}", yes(ch.log_all_failures.unwrap_or(false)));
    if has_connection(&ch.kind) {
        let t = &spec.target;
        let _ = writeln!(s, "   Connection");
        let _ = writeln!(s, "     Dest = [{}]:{}", t.dst.ip(), t.dst.port());
        if let Some(b) = t.bindto {
            let _ = writeln!(s, "     Bind to = [{b}]:{}", t.bind_port.unwrap_or(0));
        }
        if let Some(i) = &t.bind_if {
            let _ = writeln!(s, "     Bind i/f = {i}");
        }
        if let Some(m) = t.fwmark.filter(|m| *m != 0) {
            let _ = writeln!(s, "     Mark = {m}");
        }
        let _ = writeln!(s, "     Timeout = {:.6}", t.connect_timeout.as_secs_f64());
    }
    kind_dump(s, ch, spec, up, has_run, r);
}

/// A BFD_CHECK as keepalived's dump_checker and dump_bfd_check write it:
/// the common state, and no timing (it is told, never run).
fn bfd_checker(s: &mut String, vs: &VirtualServer, rs: &RealServer, name: &str, spec: &CheckSpec, r: Option<&CheckerReport>) {
    checker_head(s, vs, rs, spec, r);
    let _ = writeln!(s, "   Keepalive method = BFD_CHECK");
    let _ = writeln!(s, "   Name = {name}");
    let _ = writeln!(s, "   Alpha is {}", if spec.policy.alpha { "ON" } else { "OFF" });
}

/// HTTP status codes as keepalived lists them: runs of accepted codes in
/// 100..=599, `200` or `200-299`.
fn status_runs(s: &mut String, url: &UrlSpec) {
    let mut start: Option<u16> = None;
    for code in 100..=600u16 {
        let ok = code <= 599 && url.status_ok(code);
        match (ok, start) {
            (true, None) => start = Some(code),
            (false, Some(a)) => {
                if a == code - 1 {
                    let _ = writeln!(s, "       {a}");
                } else {
                    let _ = writeln!(s, "       {a}-{}", code - 1);
                }
                start = None;
            }
            _ => {}
        }
    }
}

fn kind_dump(s: &mut String, ch: &Checker, spec: &CheckSpec, up: bool, has_run: bool, r: Option<&CheckerReport>) {
    match (&ch.kind, &spec.probe) {
        (CheckKind::Http(h) | CheckKind::Ssl(h), Probe::Http { urls, tls }) => {
            let proto = match h.http_protocol.as_deref() {
                Some("1.0C" | "1.0c") => "1.0C",
                Some("1.1") => "1.1",
                _ => "1.0",
            };
            let _ = writeln!(s, "   Keepalive method = {}_GET, http protocol {proto}", if *tls { "SSL" } else { "HTTP" });
            if let Some(v) = &h.virtualhost {
                let _ = writeln!(s, "   Virtualhost = {v}");
            }
            let _ = writeln!(s, "   Enable SNI {}set", if h.enable_sni { "" } else { "un" });
            let _ = writeln!(s, "   Fast recovery {}set", if h.fast_recovery { "" } else { "un" });
            for (i, u) in urls.iter().enumerate() {
                let _ = writeln!(s, "   Checked url = {}", u.path);
                if let Some(d) = &u.digest {
                    let _ = writeln!(s, "     digest = {}", d.iter().map(|b| format!("{b:02x}")).collect::<String>());
                }
                let _ = writeln!(s, "     HTTP Status Code(s)");
                status_runs(s, u);
                let cu = h.urls.get(i);
                if let Some(v) = cu.and_then(|u| u.virtualhost.as_deref()) {
                    let _ = writeln!(s, "     Virtual host = {v}");
                }
                if let Some(re) = cu.and_then(|u| u.regex.as_deref()) {
                    let _ = writeln!(s, "     Regex = \"{re}\"");
                    let _ = writeln!(s, "     Regex options:");
                    let _ = writeln!(s, "     Regex ref count = 1");
                }
            }
            // keepalived keeps the URL that failed while the checker is down.
            if has_run && !up && let Some(u) = urls.first() {
                let _ = writeln!(s, "   Failed URL = {}", u.path);
            }
        }
        (CheckKind::Tcp, _) => {
            let _ = writeln!(s, "   Keepalive method = TCP_CHECK");
        }
        (CheckKind::Smtp(_), Probe::Smtp { helo, .. }) => {
            let _ = writeln!(s, "   Keepalive method = SMTP_CHECK");
            let _ = writeln!(s, "   helo = {helo}");
        }
        (CheckKind::Misc(m), _) => {
            let _ = writeln!(s, "   Keepalive method = MISC_CHECK");
            // As typed: the capture shows '/bin/true' where /bin is a link.
            let script = m.misc_path.argv.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
            let _ = writeln!(s, "   script = {script}");
            let _ = writeln!(s, "   timeout = {}", m.misc_timeout.map_or(0, |t| t.0 / 1_000_000));
            let _ = writeln!(s, "   dynamic = {}", if m.misc_dynamic { "YES" } else { "NO" });
            let _ = writeln!(s, "   uid:gid = {}", uid_gid(&m.misc_path));
            if let Some(run) = r.and_then(|r| r.last) {
                let (num, human) = crate::vrrp::dump::timestamp(crate::vrrp::dump::micros_since_epoch(run.at));
                // timestamp gives `Sun Dec  6 21:43:58.787209 2026`; MISC
                // prints ctime's text then the microseconds.
                let human = match human.split_once('.').and_then(|(a, rest)| rest.split_once(' ').map(|(u, y)| (a, u, y))) {
                    Some((a, usec, year)) => format!("{a} {year}.{usec}"),
                    None => human,
                };
                let _ = writeln!(s, "   Last ran = {num} ({human})");
                let status = match (run.failure, r.and_then(|r| r.weight)) {
                    (None, Some(w)) if m.misc_dynamic => w + 2,
                    (None, _) => 0,
                    (Some(_), _) => 1,
                };
                let _ = writeln!(s, "   Last status = {status}");
            }
        }
        (CheckKind::Dns(d), _) => {
            let t = if d.query_type.is_empty() { "A".to_string() } else { d.query_type.to_ascii_uppercase() };
            let _ = writeln!(s, "   Keepalive method = DNS_CHECK");
            let _ = writeln!(s, "   Type = {t}");
            let _ = writeln!(s, "   Name = {}", if d.name.is_empty() { "." } else { &d.name });
        }
        (CheckKind::Udp(u), _) => {
            let _ = writeln!(s, "   Keepalive method = UDP_CHECK");
            match &u.payload {
                Some(p) => {
                    let _ = writeln!(s, "   Payload len = {}", p.len());
                }
                None => {
                    let _ = writeln!(s, "   Payload specified = no");
                }
            }
            let _ = writeln!(s, "   Require reply = {}", yes(u.require_reply.is_some()));
            if let Some(reply) = &u.require_reply {
                let _ = writeln!(s, "     Min reply length = {}", u.min_reply_length.unwrap_or(0));
                let _ = writeln!(s, "     Max reply length = {}", u.max_reply_length.unwrap_or(0));
                let _ = writeln!(s, "     Reply data len = {}", reply.len());
                if !reply.is_empty() {
                    let _ = writeln!(s, "     Reply data mask = no");
                }
            }
        }
        (CheckKind::Ping, _) => {
            let _ = writeln!(s, "   Keepalive method = PING_CHECK");
        }
        (CheckKind::File(f), _) => {
            let _ = writeln!(s, "   Keepalive method = FILE_CHECK");
            let _ = writeln!(s, "     Tracked file = {}", f.track_file);
            let _ = writeln!(s, "     Reloaded = No");
        }
        // A plan's probe always matches its checker's kind.
        _ => {}
    }
}

/// The config's checkers that have a plan (a DNS_CHECK of an unknown type
/// has none), in order.
fn planned(rs: &RealServer) -> impl Iterator<Item = &Checker> {
    rs.checkers.iter().filter(|c| !matches!(&c.kind, CheckKind::Dns(d) if dns_type(&d.query_type).is_none()))
}

/// The whole file. `config` None: no virtual servers (the global part only).
pub fn check_data(config: Option<&Config>, servers: &[RsReport], quorum: impl Fn(usize) -> Option<bool>) -> String {
    let default = Config::default();
    let c = config.unwrap_or(&default);
    let mut s = global_definitions(c, Writer::Checker);
    if c.virtual_servers.is_empty() {
        return s;
    }
    let by_id: HashMap<RsId, &RsReport> = servers.iter().map(|r| (r.id, r)).collect();
    let plans: HashMap<RsId, Vec<CheckSpec>> = plan(c).into_iter().map(|p| (p.id, p.checkers)).collect();
    let none: Vec<CheckSpec> = Vec::new();
    let rs_of = |vi: usize, ri: usize| {
        let id = RsId { vs: vi as u16, rs: ri as u16 };
        (by_id.get(&id).copied(), plans.get(&id).unwrap_or(&none))
    };
    let _ = writeln!(s, "------< LVS Topology >------");
    let _ = writeln!(s, " System is compiled with LVS v1.2.1");
    groups(&mut s, c);
    for (vi, vs) in c.virtual_servers.iter().enumerate() {
        let views: Vec<(RsView<'_>, &[CheckSpec])> = vs
            .real_servers
            .iter()
            .enumerate()
            .map(|(ri, rs)| {
                let (report, specs) = rs_of(vi, ri);
                (RsView { rs, report }, specs.as_slice())
            })
            .collect();
        virtual_server(&mut s, c, vs, quorum(vi).unwrap_or(true), &views);
    }
    let mut head = false;
    for (vi, vs) in c.virtual_servers.iter().enumerate() {
        for (ri, rs) in vs.real_servers.iter().enumerate() {
            let (report, specs) = rs_of(vi, ri);
            for (i, (ch, spec)) in planned(rs).zip(specs).enumerate() {
                if !head {
                    let _ = writeln!(s, "------< Health checkers >------");
                    head = true;
                }
                checker(&mut s, vs, rs, ch, spec, report.and_then(|r| r.checkers.get(i)));
            }
            // The BFD_CHECKs follow the others in the plan.
            for (i, spec) in specs.iter().enumerate() {
                if let Probe::Bfd { name } = &spec.probe {
                    if !head {
                        let _ = writeln!(s, "------< Health checkers >------");
                        head = true;
                    }
                    bfd_checker(&mut s, vs, rs, name, spec, report.and_then(|r| r.checkers.get(i)));
                }
            }
        }
    }
    s
}

/// SIGUSR1 in the checker child.
pub fn write_check_data(config: Option<&Config>, servers: &[RsReport], quorum: impl Fn(usize) -> Option<bool>) {
    let text = check_data(config, servers, quorum);
    match crate::os::atomic_file::write(std::path::Path::new(CHECK_DATA), text.as_bytes(), 0o600) {
        Ok(()) => log::info!("check data written to {CHECK_DATA}"),
        Err(e) => log::warn!("{CHECK_DATA}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::runner::report_of;
    use crate::check::state::{Outcome, RsState};
    use crate::check::Failure;

    fn load(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("vigil-lvsdump-{}-{}", std::process::id(), text.len()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("k.conf");
        std::fs::write(&p, text).unwrap();
        let loaded = crate::config::load(&p, &Default::default());
        let _ = std::fs::remove_dir_all(&dir);
        loaded.config
    }

    /// The checkers' state when keepalived 2.2.7 wrote the capture: nothing
    /// listens on 127.0.0.1:22 or :8080, so the TCP_CHECK and HTTP_GET
    /// checkers have run once and failed (their first failure takes them
    /// down at once); /bin/true succeeded.
    fn capture_state(c: &Config) -> Vec<RsReport> {
        let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_593_438);
        plan(c)
            .iter()
            .map(|p| {
                let policies: Vec<_> = p.checkers.iter().map(|s| s.policy).collect();
                let mut st = RsState::new(p.id, &policies);
                for (i, spec) in p.checkers.iter().enumerate() {
                    let failure = match spec.probe {
                        Probe::Misc { .. } => None,
                        _ => Some(Failure::Refused),
                    };
                    st.note(i, failure, at);
                    st.on_result(i, if failure.is_some() { Outcome::Down } else { Outcome::UP });
                }
                report_of(&st, &p.checkers, true)
            })
            .collect()
    }

    /// The runtime values the comparison masks: when the MISC_CHECK last
    /// ran (a timestamp). Every other line, key and value must match.
    fn masked(line: &str) -> &str {
        if line.starts_with("   Last ran = ") { "   Last ran = <runtime>" } else { line }
    }

    #[test]
    fn matches_keepalived_2_2_7s_capture_line_for_line() {
        let c = load(include_str!("../../tests/data/dump/keepalived_check.conf"));
        let servers = capture_state(&c);
        // The first virtual server's quorum (1) is down: both its real
        // servers are down; the fwmark one's is up.
        let got = check_data(Some(&c), &servers, |i| Some(i != 0));
        let want = include_str!("../../tests/data/dump/keepalived_check.data");
        let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().map(masked).collect(), want.lines().map(masked).collect());
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "line {}", n + 1);
        }
        assert_eq!(got.len(), want.len(), "{}", got.join("\n"));
    }

    #[test]
    fn misc_last_ran_is_seconds_then_ctime_with_microseconds() {
        let c = load(include_str!("../../tests/data/dump/keepalived_check.conf"));
        let out = check_data(Some(&c), &capture_state(&c), |_| Some(true));
        let line = out.lines().find(|l| l.starts_with("   Last ran = ")).unwrap();
        assert!(line.starts_with("   Last ran = 1796593438.000000 ("), "{line}");
        assert!(line.ends_with(" 2026.000000)"), "{line}");
    }

    #[test]
    fn groups_sorry_servers_and_other_kinds_follow_keepalived() {
        let text = "virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 5\n}\nvirtual_server group G {\n delay_loop 4\n lb_algo sh\n lb_kind DR\n protocol TCP\n sorry_server 192.0.2.9 81\n persistence_timeout 30\n real_server 198.51.100.1 80 {\n  weight 2\n  inhibit_on_failure\n  DNS_CHECK {\n   type A\n   name example.org\n  }\n  SMTP_CHECK {\n   helo_name mx.example\n   connect_timeout 3\n  }\n }\n}\n";
        let c = load(text);
        let out = check_data(Some(&c), &[], |_| None);
        for want in [
            " Virtual Server Group = G, IPv4 = yes, IPv6 = no\n",
            "   VIP Range = 192.0.2.1-192.0.2.3, VPORT = 80\n     Alive: 1 tcp, 0 udp, 0 sctp\n     reloaded = False\n",
            "   FWMARK = 5\n",
            " VS GROUP = [G]:0\n   Address family = inet\n",
            "   sh-port = disabled\n   sh-fallback = disabled\n",
            "   persistence timeout = 30\n",
            "   sorry server = [192.0.2.9]:tcp:81\n     forwarding method = DR\n     Inhibit on failure is OFF\n",
            "   Retries = 3\n   Delay before retry = 4000000 us\n   Retries iterations = 3\n   Default delay before retry = 0 us\n",
            "   Keepalive method = DNS_CHECK\n   Type = A\n   Name = example.org\n",
            "     Timeout = 3.000000\n   Keepalive method = SMTP_CHECK\n   helo = mx.example\n",
            "   RS set = 1\n",
        ] {
            assert!(out.contains(want), "{want:?} missing:\n{out}");
        }
    }
}
