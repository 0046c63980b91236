//! /tmp/keepalived_check.data, the checker process's answer to SIGUSR1, in
//! keepalived 2.2.7's layout (derived from keepalived's check_data.c and
//! check_api.c dump functions; the host kernel has no IPVS to capture one
//! beside keepalived): the global definitions, then the LVS topology (one
//! ` ------< Virtual server >------` block per virtual server with its
//! real servers) and the health checkers.

use crate::check::runner::RsReport;
use crate::config::dump::{Writer, global_definitions};
use crate::config::model::{CheckKind, Config, LbKind, Protocol, VirtualServer, VirtualServerKey, VsgEntry};
use std::fmt::Write as _;

pub const CHECK_DATA: &str = "/tmp/keepalived_check.data";

fn secs(us: u64) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

fn fwd(kind: LbKind) -> &'static str {
    match kind {
        LbKind::Nat => "NAT",
        LbKind::Dr => "DR",
        LbKind::Tun => "TUN",
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn on(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

fn check_name(k: &CheckKind) -> &'static str {
    match k {
        CheckKind::Tcp => "TCP_CHECK",
        CheckKind::Http(_) => "HTTP_GET",
        CheckKind::Ssl(_) => "SSL_GET",
        CheckKind::Smtp(_) => "SMTP_CHECK",
        CheckKind::Misc(_) => "MISC_CHECK",
        CheckKind::Dns(_) => "DNS_CHECK",
        CheckKind::Udp(_) => "UDP_CHECK",
        CheckKind::Ping => "PING_CHECK",
        CheckKind::File(_) => "FILE_CHECK",
    }
}

fn groups(s: &mut String, c: &Config) {
    for g in &c.virtual_server_groups {
        let _ = writeln!(s, " ------< Virtual server group >------");
        let _ = writeln!(s, " Virtual Server Group = {}", g.name);
        for e in &g.entries {
            match e {
                VsgEntry::Range { first, last, port } if first == last => {
                    let _ = writeln!(s, "   VIP = {first}, VPORT = {port}");
                }
                VsgEntry::Range { first, last, port } => {
                    let end = match last {
                        std::net::IpAddr::V4(a) => a.octets()[3].to_string(),
                        std::net::IpAddr::V6(a) => format!("{:x}", a.segments()[7]),
                    };
                    let _ = writeln!(s, "   VIP Range = {first}-{end}, VPORT = {port}");
                }
                VsgEntry::Fwmark(m) => {
                    let _ = writeln!(s, "   FWMARK = {m}");
                }
                VsgEntry::Empty => {}
            }
        }
    }
}

fn virtual_server(s: &mut String, vs: &VirtualServer, quorum_up: bool, servers: &[crate::lvs::status::RealServerStatus]) {
    let _ = writeln!(s, " ------< Virtual server >------");
    match &vs.key {
        VirtualServerKey::Group(g) => {
            let _ = writeln!(s, " VS GROUP = {}", vs.fmt_vs().replace(&format!("[{g}]"), g));
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
    if let VirtualServerKey::Addr { addr, .. } = &vs.key {
        let _ = writeln!(s, "   Address family = inet{}", if addr.is_ipv4() { "" } else { "6" });
    }
    let _ = writeln!(s, "   connection timeout = {}", secs(5_000_000));
    let _ = writeln!(s, "   delay_loop = {}", secs(vs.delay_loop.0));
    let _ = writeln!(s, "   lvs_sched = {}", vs.lb_algo);
    let _ = writeln!(s, "   Hashed = disabled");
    for f in ["flag-1", "flag-2", "flag-3"] {
        let _ = writeln!(s, "   {f} = disabled");
    }
    let _ = writeln!(s, "   One packet scheduling = disabled");
    if let Some(t) = vs.persistence_timeout {
        let _ = writeln!(s, "   persistence timeout = {t}");
    }
    if let Some(g) = vs.persistence_granularity {
        let _ = writeln!(s, "   persistence granularity = {g}");
    }
    let _ = writeln!(s, "   protocol = {}", protocol(vs.protocol));
    let _ = writeln!(s, "   alpha is {}", on(vs.alpha));
    let _ = writeln!(s, "   omega is {}", on(vs.omega));
    let _ = writeln!(s, "   Inhibit on failure is {}", on(vs.inhibit_on_failure));
    let _ = writeln!(s, "   quorum = {}, hysteresis = {}", vs.quorum, vs.hysteresis);
    if let Some(q) = &vs.quorum_up {
        let _ = writeln!(s, "   Quorum up notify script = {}, uid:gid 0:0", crate::vrrp::dump::cmd_str(q));
    }
    if let Some(q) = &vs.quorum_down {
        let _ = writeln!(s, "   Quorum down notify script = {}, uid:gid 0:0", crate::vrrp::dump::cmd_str(q));
    }
    if vs.ha_suspend {
        let _ = writeln!(s, "   Using HA suspend");
    }
    let _ = writeln!(s, "   Using smtp notification = {}", if vs.smtp_alert.unwrap_or(false) { "yes" } else { "no" });
    let _ = writeln!(s, "   default forwarding method = {}", fwd(vs.lb_kind));
    if let Some(ss) = &vs.sorry_server {
        let port = ss.port.unwrap_or(match vs.key {
            VirtualServerKey::Addr { port, .. } => port,
            _ => 0,
        });
        let _ = writeln!(s, "   sorry server = [{}]:{}:{port}", ss.addr, protocol(vs.protocol));
        let _ = writeln!(s, "   sorry server forwarding method = {}", fwd(vs.sorry_lb_kind(ss)));
    }
    let alive = quorum_up;
    let _ = writeln!(s, "   alive = {}", alive as u8);
    let _ = writeln!(s, "   quorum_state_up = {}", quorum_up as u8);
    let _ = writeln!(s, "   reloaded = 0");
    for (rs, st) in vs.real_servers.iter().zip(servers) {
        let port = rs.port.unwrap_or(match vs.key {
            VirtualServerKey::Addr { port, .. } => port,
            _ => 0,
        });
        let _ = writeln!(s, "   ------< Real server >------");
        let _ = writeln!(s, "   RIP = {}, RPORT = {port}, WEIGHT = {}", rs.addr, st.weight);
        let _ = writeln!(s, "   forwarding method = {}", fwd(rs.lb_kind.unwrap_or(vs.lb_kind)));
        let _ = writeln!(s, "   Alpha is {}", on(vs.alpha));
        let _ = writeln!(s, "   connection timeout = {}", secs(5_000_000));
        let _ = writeln!(s, "   connection limit range = 0 -> 0");
        let _ = writeln!(s, "   Delay loop = {}", secs(vs.delay_loop.0));
        let _ = writeln!(s, "   Inhibit on failure is {}", on(rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure)));
        if let Some(n) = &rs.notify_up {
            let _ = writeln!(s, "     RS up notify script = {}, uid:gid 0:0", crate::vrrp::dump::cmd_str(n));
        }
        if let Some(n) = &rs.notify_down {
            let _ = writeln!(s, "     RS down notify script = {}, uid:gid 0:0", crate::vrrp::dump::cmd_str(n));
        }
        let _ = writeln!(s, "   Using smtp notification = {}", if rs.smtp_alert.unwrap_or(true) { "yes" } else { "no" });
        let _ = writeln!(s, "   initial weight = {}", rs.weight);
        let _ = writeln!(s, "   previous weight = {}", rs.weight);
        let _ = writeln!(s, "   alive = {}", st.up as u8);
        let failed = if st.up { 0 } else { rs.checkers.len().max(1) };
        let _ = writeln!(s, "   num failed checkers = {failed}");
        let _ = writeln!(s, "   RS set = {}", st.up as u8);
        let _ = writeln!(s, "   reloaded = 0");
    }
}

fn checkers(s: &mut String, c: &Config, report: &[crate::lvs::status::VirtualServerStatus]) {
    let _ = writeln!(s, "------< Health checkers >------");
    for (vs, vst) in c.virtual_servers.iter().zip(report) {
        for (rs, rst) in vs.real_servers.iter().zip(&vst.real_servers) {
            for ch in &rs.checkers {
                let _ = writeln!(s, " {}", rst.name);
                let _ = writeln!(s, "   Keepalive method = {}", check_name(&ch.kind));
                let _ = writeln!(s, "   Initial state = {}", if rst.up { "up" } else { "down" });
                let _ = writeln!(s, "   Enabled = yes");
                let _ = writeln!(s, "   Is up = {}", if rst.up { "yes" } else { "no" });
                let _ = writeln!(s, "   Has run = {}", if rst.checks_run > 0 { "yes" } else { "no" });
                let _ = writeln!(s, "   Alpha = {}", if ch.alpha.unwrap_or(vs.alpha) { "yes" } else { "no" });
                let _ = writeln!(s, "   Delay loop = {} us", ch.delay_loop.unwrap_or(vs.delay_loop).0);
                let _ = writeln!(s, "   Warmup = {} us", ch.warmup.unwrap_or(ch.delay_loop.unwrap_or(vs.delay_loop)).0);
                let _ = writeln!(s, "   Retries = {}", ch.retry.unwrap_or(1));
                if let Some(d) = ch.delay_before_retry {
                    let _ = writeln!(s, "   Delay before retry = {} us", d.0);
                }
                let _ = writeln!(s, "   Connection timeout = {}", secs(ch.connect_timeout.0));
            }
        }
    }
}

/// The whole file. `config` None: no virtual servers (the global part only).
pub fn check_data(config: Option<&Config>, servers: &[RsReport], quorum: impl Fn(usize) -> Option<bool>) -> String {
    let default = Config::default();
    let c = config.unwrap_or(&default);
    let mut s = global_definitions(c, Writer::Child);
    if !c.virtual_servers.is_empty() {
        let report = crate::lvs::status::report(c, servers, &quorum, |_| false);
        let _ = writeln!(s, "------< LVS Topology >------");
        let _ = writeln!(s, " System is compiled with LVS v1.2.1");
        groups(&mut s, c);
        for (i, (vs, st)) in c.virtual_servers.iter().zip(&report).enumerate() {
            virtual_server(&mut s, vs, quorum(i).unwrap_or(true), &st.real_servers);
        }
        checkers(&mut s, c, &report);
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

    #[test]
    fn a_virtual_server_and_its_real_server() {
        let text = "virtual_server 192.0.2.10 80 {\n delay_loop 3\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 198.51.100.1 8080 {\n  weight 2\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n}\n";
        let dir = std::env::temp_dir().join(format!("vigil-lvsdump-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("k.conf");
        std::fs::write(&p, text).unwrap();
        let loaded = crate::config::load(&p, &Default::default());
        let out = check_data(Some(&loaded.config), &[], |_| Some(true));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.starts_with("------< Global definitions >------\n"), "{out}");
        assert!(out.contains("------< LVS Topology >------\n"), "{out}");
        assert!(out.contains(" VS VIP = 192.0.2.10, VPORT = 80\n"), "{out}");
        assert!(out.contains("   lvs_sched = rr\n"), "{out}");
        assert!(out.contains("   RIP = 198.51.100.1, RPORT = 8080, WEIGHT = 2\n"), "{out}");
        assert!(out.contains("   Keepalive method = TCP_CHECK\n"), "{out}");
    }
}
