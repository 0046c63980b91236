//! The status as Prometheus metrics (text exposition format 0.0.4), for
//! `vigil metrics` and `--metrics-listen`.
//!
//! VRRP instances carry the names and labels of the widely used
//! keepalived exporter (mehdy/keepalived-exporter: `keepalived_*` with
//! `iname`, `intf`, `vrid`, `state`), so its dashboards and alerts work on
//! vigil unchanged; what that exporter has no name for is `vigil_*`. Every
//! name, its type and labels are listed in docs/features.md ("Status and metrics").

use super::status::Status;
use std::fmt::Write as _;

/// keepalived's state numbers, as its JSON dump and the exporter use them.
fn state_number(s: crate::vrrp::fsm::State) -> u32 {
    crate::vrrp::dump::state_num(s)
}

fn group_state_number(s: Option<&str>) -> i32 {
    match s {
        Some("BACKUP") => 1,
        Some("MASTER") => 2,
        Some("FAULT") => 3,
        Some("STOP") => 98,
        _ => 0,
    }
}

/// A label value escaped as the exposition format wants: `\\`, `\"`, `\n`.
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// One metric family: HELP and TYPE once, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", esc(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// Renders `st` as Prometheus text.
pub fn render(st: &Status) -> String {
    let mut out = String::with_capacity(4096);
    family(&mut out, "keepalived_up", "gauge", "1 while the daemon answers (vigil).").sample("keepalived_up", &[], 1);
    vrrp(&mut out, st);
    lvs(&mut out, st);
    bfd(&mut out, st);
    process(&mut out, st);
    out
}

type Counter = fn(&crate::vrrp::instance::InstanceStatus) -> u64;

fn vrrp(out: &mut String, st: &Status) {
    let counters: [(&str, &str, Counter); 17] = [
        ("keepalived_advertisements_received_total", "Advertisements received.", |i| i.counters.adverts_received),
        ("keepalived_advertisements_sent_total", "Advertisements sent.", |i| i.counters.adverts_sent),
        ("keepalived_become_master_total", "Times the instance became master.", |i| i.fsm.become_master),
        ("keepalived_release_master_total", "Times the instance left the master state.", |i| i.fsm.release_master),
        ("keepalived_packet_length_errors_total", "Adverts dropped for their length or a malformed IP header.", |i| i.counters.rx_errors.packet_length),
        ("keepalived_advertisements_interval_errors_total", "Adverts with another interval than ours (VRRPv2).", |i| i.fsm.interval_mismatch),
        ("keepalived_ip_ttl_errors_total", "Adverts with a TTL or hop limit other than 255.", |i| i.counters.rx_errors.ttl),
        ("keepalived_invalid_type_received_total", "Packets of another VRRP type than advertisement.", |i| i.counters.rx_errors.invalid_type),
        ("keepalived_address_list_errors_total", "Adverts listing other addresses than ours.", |i| i.counters.address_list_mismatch),
        ("keepalived_authentication_invalid_total", "Adverts with an unknown authentication type.", |i| i.counters.rx_errors.invalid_auth_type),
        ("keepalived_authentication_mismatch_total", "Adverts with another authentication type than ours.", |i| i.counters.rx_errors.auth_type_mismatch),
        ("keepalived_authentication_failure_total", "Adverts failing authentication.", |i| i.counters.rx_errors.auth_failure),
        ("keepalived_priority_zero_received_total", "Priority 0 adverts received (a master leaving).", |i| i.fsm.priority_zero_received),
        ("keepalived_priority_zero_sent_total", "Priority 0 adverts sent.", |i| i.fsm.priority_zero_sent),
        ("vigil_vrrp_gratuitous_sent_total", "Gratuitous ARPs and unsolicited neighbour advertisements sent.", |i| i.counters.garp_sent),
        ("vigil_vrrp_receive_queue_drops_total", "Datagrams the kernel dropped from the instance's full receive queue (a flood).", |i| i.counters.rx_queue_drops),
        ("vigil_vrrp_receive_budget_exhausted_total", "Turns that stopped reading at the per-turn budget with more waiting (a flood).", |i| i.counters.rx_budget_exhausted),
    ];
    for (name, help, get) in counters {
        let mut f = family(out, name, "counter", help);
        for i in &st.vrrp {
            let vrid = i.vrid.to_string();
            f.sample(name, &[("iname", &i.name), ("intf", &i.interface), ("vrid", &vrid), ("state", i.state.name())], get(i));
        }
    }
    let mut f = family(out, "keepalived_vrrp_state", "gauge", "State per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 98 STOP.");
    for i in &st.vrrp {
        let vrid = i.vrid.to_string();
        for vip in &i.vips {
            let addr = vip.split('/').next().unwrap_or(vip);
            f.sample("keepalived_vrrp_state", &[("iname", &i.name), ("intf", &i.interface), ("vrid", &vrid), ("ip_address", addr)], state_number(i.state));
        }
    }
    let gauges: [(&str, &str, fn(&crate::vrrp::instance::InstanceStatus) -> i64); 6] = [
        ("vigil_vrrp_state", "State: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 98 STOP.", |i| state_number(i.state) as i64),
        ("vigil_vrrp_priority", "Configured priority.", |i| i.priority as i64),
        ("vigil_vrrp_effective_priority", "Priority after tracking (what the instance advertises).", |i| i.effective_priority as i64),
        ("vigil_vrrp_master_priority", "Priority of the master heard (ours while master).", |i| i.master_priority as i64),
        ("vigil_vrrp_vips_set", "1 while the instance's VIPs are set on this machine.", |i| i.vips_set as i64),
        ("vigil_vrrp_demoted", "1 while an operator holds the instance demoted (vigil ctl demote).", |i| i.demoted as i64),
    ];
    for (name, help, get) in gauges {
        let mut f = family(out, name, "gauge", help);
        for i in &st.vrrp {
            let vrid = i.vrid.to_string();
            f.sample(name, &[("iname", &i.name), ("intf", &i.interface), ("vrid", &vrid)], get(i));
        }
    }
    let name = "vigil_vrrp_receive_errors_total";
    let mut f = family(out, name, "counter", "Packets dropped before the state machine, by reason.");
    for i in &st.vrrp {
        let e = &i.counters.rx_errors;
        let reasons = [
            ("packet_length", e.packet_length),
            ("ttl", e.ttl),
            ("invalid_type", e.invalid_type),
            ("version", e.version),
            ("checksum", e.checksum),
            ("protocol", e.protocol),
            ("invalid_auth_type", e.invalid_auth_type),
            ("auth_type_mismatch", e.auth_type_mismatch),
            ("auth_failure", e.auth_failure),
            ("other_vrid", i.counters.other_vrid),
        ];
        for (reason, n) in reasons {
            f.sample(name, &[("iname", &i.name), ("reason", reason)], n);
        }
    }
    let name = "vigil_vrrp_sync_group_state";
    let mut f = family(out, name, "gauge", "Sync group state: 0 none yet, 1 BACKUP, 2 MASTER, 3 FAULT, 98 STOP.");
    for g in &st.sync_groups {
        f.sample(name, &[("group", &g.name)], group_state_number(g.state.as_deref()));
    }
}

fn lvs(out: &mut String, st: &Status) {
    let name = "vigil_virtual_server_quorum_up";
    let mut f = family(out, name, "gauge", "1 while the virtual server has quorum (absent before its first evaluation).");
    for v in &st.virtual_servers {
        if let Some(q) = v.quorum_up {
            f.sample(name, &[("virtual_server", &v.name)], q as u8);
        }
    }
    type Rs = crate::lvs::status::RealServerStatus;
    let rs: [(&str, &str, &str, fn(&Rs) -> i64); 4] = [
        ("vigil_real_server_up", "gauge", "1 while the real server's checkers say it is up.", |r| r.up as i64),
        ("vigil_real_server_weight", "gauge", "The weight IPVS gives the real server.", |r| r.weight as i64),
        ("vigil_real_server_checks_total", "counter", "Checks run on the real server.", |r| r.checks_run as i64),
        ("vigil_real_server_drained", "gauge", "1 while an operator holds the real server at weight 0 (vigil ctl drain).", |r| r.drained as i64),
    ];
    for (name, kind, help, get) in rs {
        let mut f = family(out, name, kind, help);
        for v in &st.virtual_servers {
            for r in &v.real_servers {
                f.sample(name, &[("virtual_server", &v.name), ("real_server", &r.name)], get(r));
            }
        }
    }
    let name = "vigil_real_server_last_check_ok";
    let mut f = family(out, name, "gauge", "1 if the last check succeeded, 0 if it failed (absent before the first).");
    for v in &st.virtual_servers {
        for r in &v.real_servers {
            if let (Some(ok), Some(kind)) = (r.last_ok, &r.last_check) {
                f.sample(name, &[("virtual_server", &v.name), ("real_server", &r.name), ("checker", kind)], ok as u8);
            }
        }
    }
}

fn bfd(out: &mut String, st: &Status) {
    type B = crate::bfd::status::SessionStatus;
    let per: [(&str, &str, &str, fn(&B) -> f64); 6] = [
        ("vigil_bfd_state", "gauge", "BFD session state (RFC 5880): 0 AdminDown, 1 Down, 2 Init, 3 Up.", |b| b.state as u8 as f64),
        ("vigil_bfd_detection_time_seconds", "gauge", "The session's Detection Time (0 before the peer's first packet).", |b| {
            b.detection_time_us.unwrap_or(0) as f64 / 1e6
        }),
        ("vigil_bfd_packets_received_total", "counter", "Control packets the session took.", |b| b.stats.rx as f64),
        ("vigil_bfd_packets_sent_total", "counter", "Control packets the session sent.", |b| b.stats.tx as f64),
        ("vigil_bfd_up_total", "counter", "Times the session came Up.", |b| b.stats.up as f64),
        ("vigil_bfd_detection_expired_total", "counter", "Times the peer was silent a Detection Time.", |b| b.stats.detection_expired as f64),
    ];
    for (name, kind, help, get) in per {
        let mut f = family(out, name, kind, help);
        for b in &st.bfd {
            f.sample(name, &[("instance", &b.name), ("neighbor", &b.neighbor)], get(b));
        }
    }
}

fn process(out: &mut String, st: &Status) {
    family(out, "vigil_uptime_seconds", "gauge", "Seconds since the parent started.").sample("vigil_uptime_seconds", &[], st.uptime_ms as f64 / 1000.0);
    family(out, "vigil_config_generation", "gauge", "Generation of the configuration in force (1 at start, +1 per reload).").sample("vigil_config_generation", &[], st.config_generation);
    family(out, "vigil_reloads_refused_total", "counter", "Reloads refused because the new configuration was invalid.").sample("vigil_reloads_refused_total", &[], st.reloads_refused);
    let children: [(&str, &str, &str, fn(&super::status::ChildStatus) -> u64); 5] = [
        ("vigil_child_up", "gauge", "1 while the child runs and answers the watchdog.", |c| (c.state == "running") as u64),
        ("vigil_child_restarts_total", "counter", "Times the child was restarted.", |c| c.restarts as u64),
        ("vigil_child_watchdog_kills_total", "counter", "Times the watchdog killed the child for not answering.", |c| c.watchdog_kills as u64),
        ("vigil_child_handovers_total", "counter", "Master instances the parent handed over while the child was down too long.", |c| c.handovers),
        ("vigil_child_checks_total", "counter", "Checks the child has run (the checker child).", |c| c.checks_run),
    ];
    for (name, kind, help, get) in children {
        let mut f = family(out, name, kind, help);
        for c in &st.children {
            f.sample(name, &[("role", &c.role)], get(c));
        }
    }
    let alerts: [(&str, &str, &str, fn(&crate::alert::AlertCounters) -> u64); 4] = [
        ("vigil_smtp_alerts_sent_total", "counter", "SMTP alerts the server accepted.", |a| a.sent),
        ("vigil_smtp_alerts_failed_total", "counter", "SMTP alerts lost to an unreachable, slow or refusing server.", |a| a.failed),
        ("vigil_smtp_alerts_dropped_total", "counter", "SMTP alerts dropped because the queue was full.", |a| a.dropped),
        ("vigil_smtp_alerts_queued", "gauge", "SMTP alerts waiting to be sent.", |a| a.queued),
    ];
    for (name, kind, help, get) in alerts {
        let mut f = family(out, name, kind, help);
        for c in &st.children {
            f.sample(name, &[("role", &c.role)], get(&c.alerts));
        }
    }
    let name = "vigil_capacity_hits_total";
    let mut f = family(out, name, "counter", "Times a fixed capacity was reached (summed over the processes; os::capacity).");
    for (cap, n) in &st.capacity_hits {
        f.sample(name, &[("capacity", cap)], *n);
    }
    if let Some(w) = &st.hw_watchdog {
        family(out, "vigil_hw_watchdog_petting", "gauge", "1 while PID 1 pets the hardware watchdog; 0: the box resets within vigil_hw_watchdog_timeout_seconds.")
            .sample("vigil_hw_watchdog_petting", &[("policy", &w.policy)], w.petting as u8);
        family(out, "vigil_hw_watchdog_timeout_seconds", "gauge", "The hardware watchdog's timeout.").sample("vigil_hw_watchdog_timeout_seconds", &[], w.timeout_s);
    }
    let name = "vigil_resident_memory_bytes";
    let mut f = family(out, name, "gauge", "Resident set size of each process.");
    if let Some(kb) = st.rss_kb {
        f.sample(name, &[("process", "parent")], kb * 1024);
    }
    for c in &st.children {
        if let Some(kb) = c.rss_kb {
            f.sample(name, &[("process", &c.role)], kb * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let mut st = Status::default();
        st.vrrp.push(crate::vrrp::instance::InstanceStatus { name: "VI_\"1".into(), vips: vec!["192.0.2.1/32".into()], ..Default::default() });
        let text = render(&st);
        let mut seen = std::collections::HashSet::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = l.split_whitespace().nth(2).unwrap();
            assert!(seen.insert(name.to_string()), "{name} twice");
        }
        assert!(text.contains("keepalived_vrrp_state{iname=\"VI_\\\"1\",intf=\"\",vrid=\"0\",ip_address=\"192.0.2.1\"} 0"), "{text}");
    }
}
