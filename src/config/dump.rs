//! keepalived's "Global definitions" section, the head of every data dump
//! (keepalived_parent.data, keepalived.data, keepalived_check.data), in
//! keepalived 2.2.7's layout: one ` Key = value` line per setting, what we
//! do not model printed as keepalived prints its default.

use super::model::{Config, GlobalDefs};

/// Where the parent writes its part on SIGUSR1, as keepalived's parent does.
pub const PARENT_DATA: &str = "/tmp/keepalived_parent.data";

/// Which process prints the section: the parent has not resolved the
/// per-instance defaults the VRRP child prints. keepalived's checker child
/// prints the parent's layout (no default interface, the lower priority
/// GARP settings unresolved): its capture matches the parent's line for
/// line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Parent,
    /// The VRRP child.
    Child,
    /// The checker child.
    Checker,
}

fn on_off(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn tristate(v: Option<bool>) -> &'static str {
    match v {
        None => "unset",
        Some(true) => "true",
        Some(false) => "false",
    }
}

/// The section, header line included.
pub fn global_definitions(c: &Config, who: Writer) -> String {
    let g: &GlobalDefs = &c.global;
    let mut s = String::with_capacity(2400);
    let mut w = |line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    w("------< Global definitions >------".into());
    w(format!(" Network namespace = {}", g.net_namespace.as_deref().unwrap_or("(default)")));
    w(" Network namespace ipvs = (main namespace)".into());
    if let Some(id) = &g.router_id {
        w(format!(" Router ID = {id}"));
    }
    if let Some(srv) = &g.smtp_server {
        w(format!(" Smtp server = {}", srv.host));
        w(format!(" Smtp server port = {}", srv.port));
    }
    if let Some(h) = &g.smtp_helo_name {
        w(format!(" Smtp HELO name = {h}"));
    }
    if g.smtp_server.is_some() {
        w(format!(" Smtp server connection timeout = {}", g.smtp_connect_timeout));
    }
    if let Some(from) = &g.notification_email_from {
        w(format!(" Email notification from = {from}"));
    }
    for to in &g.notification_email {
        w(format!(" Email notification = {to}"));
    }
    w(format!(" Default smtp_alert = {}", tristate(g.smtp_alert)));
    w(format!(" Default smtp_alert_vrrp = {}", tristate(g.smtp_alert_vrrp)));
    w(format!(" Default smtp_alert_checker = {}", tristate(g.smtp_alert_checker)));
    w(" Checkers log all failures = false".into());
    w(" No test config before reload".into());
    w(format!(" Dynamic interfaces = {}", on_off(g.dynamic_interfaces)));
    if who == Writer::Child {
        w(format!(" Default interface = {}", g.default_interface.as_deref().unwrap_or("eth0")));
    }
    w(" Disable local IGMP = no".into());
    w(format!(" LVS flush = {}", on_off(g.lvs_flush)));
    w(" LVS flush on stop = disabled".into());
    if let Some(f) = &g.notify_fifo {
        w(format!(" Global notify fifo = {}", f.argv.first().map(|a| &**a).unwrap_or("")));
    }
    if let Some(f) = &g.vrrp_notify_fifo {
        w(format!(" VRRP notify fifo = {}", f.argv.first().map(|a| &**a).unwrap_or("")));
    }
    w(" FIFO write vrrp states on reload = false".into());
    w(" VRRP notify priority changes = false".into());
    w(format!(" VRRP IPv4 mcast group = {}", g.vrrp_mcast_group4));
    w(format!(" VRRP IPv6 mcast group = {}", g.vrrp_mcast_group6));
    w(format!(" Gratuitous ARP delay = {}", g.vrrp_garp_master_delay));
    w(format!(" Gratuitous ARP repeat = {}", g.vrrp_garp_master_repeat));
    w(format!(" Gratuitous ARP refresh timer = {}", g.vrrp_garp_master_refresh));
    w(format!(" Gratuitous ARP refresh repeat = {}", g.vrrp_garp_master_refresh_repeat));
    // The parent prints the lower priority settings unresolved (keepalived's PARAMETER_UNSET).
    let unset = u32::MAX;
    let (lp_delay, lp_rep) = match who {
        Writer::Parent | Writer::Checker => (g.vrrp_garp_lower_prio_delay.unwrap_or(unset), g.vrrp_garp_lower_prio_repeat.unwrap_or(unset)),
        Writer::Child => (
            g.vrrp_garp_lower_prio_delay.unwrap_or(g.vrrp_garp_master_delay),
            g.vrrp_garp_lower_prio_repeat.unwrap_or(g.vrrp_garp_master_repeat),
        ),
    };
    w(format!(" Gratuitous ARP lower priority delay = {lp_delay}"));
    w(format!(" Gratuitous ARP lower priority repeat = {lp_rep}"));
    w(" Num adverts before down = 3".into());
    w(" Gratuitous ARP for each secondary VMAC = 0s".into());
    w(format!(" Send advert after receive lower priority advert = {}", on_off(!g.vrrp_lower_prio_no_advert)));
    w(format!(" Send advert after receive higher priority advert = {}", on_off(g.vrrp_higher_prio_send_advert)));
    w(format!(" Gratuitous ARP interval = {:.6}", g.vrrp_garp_interval.0 as f64 / 1e6));
    w(format!(" Gratuitous NA interval = {:.6}", g.vrrp_gna_interval.0 as f64 / 1e6));
    w(format!(" VRRP default protocol version = {}", g.vrrp_version));
    if let Some(ch) = &g.vrrp_iptables {
        w(format!(" Iptables input chain = {}", ch.in_chain.as_deref().unwrap_or("")));
        w(format!(" Iptables output chain = {}", ch.out_chain.as_deref().unwrap_or("")));
    }
    w(" nftables without counters".into());
    w(" libnftnl version 1.2.3".into());
    w(format!(" VRRP check unicast_src = {}", on_off(g.vrrp_check_unicast_src)));
    w(format!(" VRRP skip check advert addresses = {}", on_off(g.vrrp_skip_check_adv_addr)));
    w(format!(" VRRP strict mode = {}", on_off(g.vrrp_strict)));
    w(format!(" Max auto priority = {}", g.max_auto_priority.unwrap_or(0)));
    w(" Min auto priority delay = 1000000 usecs".into());
    w(format!(" VRRP process priority = {}", g.vrrp_priority.unwrap_or(0)));
    w(format!(" VRRP don't swap = {}", on_off(g.vrrp_no_swap)));
    w(format!(" VRRP realtime priority = {}", g.vrrp_rt_priority.unwrap_or(0)));
    w(" VRRP realtime limit = 10000".into());
    w(format!(" Checker process priority = {}", g.checker_priority.unwrap_or(0)));
    w(format!(" Checker don't swap = {}", on_off(g.checker_no_swap)));
    w(format!(" Checker realtime priority = {}", g.checker_rt_priority.unwrap_or(0)));
    w(" Checker realtime limit = 10000".into());
    w(format!(" BFD process priority = {}", g.bfd_priority.unwrap_or(0)));
    w(format!(" BFD don't swap = {}", on_off(g.bfd_no_swap)));
    w(format!(" BFD realtime priority = {}", g.bfd_rt_priority.unwrap_or(0)));
    w(" BFD realtime limit = 10000".into());
    for l in ["SNMP vrrp disabled", "SNMP checker disabled", "SNMP RFCv2 disabled", "SNMP RFCv3 disabled", "SNMP traps disabled"] {
        w(format!(" {l}"));
    }
    w(" SNMP socket = default (unix:/var/agentx/master)".into());
    w(" DBus disabled".into());
    w(" DBus service name = ".into());
    w(format!(" Script security {}", if g.enable_script_security { "enabled" } else { "disabled" }));
    w(" Default script uid:gid 0:0".into());
    for k in [
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_cmd_rcv_bufs_force",
        "vrrp_netlink_monitor_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs_force",
        "process_monitor_rcv_bufs",
        "process_monitor_rcv_bufs_force",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_cmd_rcv_bufs_force",
        "lvs_netlink_monitor_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs_force",
        "rs_init_notifies",
        "no_checker_emails",
    ] {
        w(format!(" {k} = 0"));
    }
    w(" rx_bufs_multiples = 3".into());
    w(" umask = 0177".into());
    s
}

/// SIGUSR1 in the parent: /tmp/keepalived_parent.data, written whole.
pub fn write_parent_data(c: &Config) {
    let text = global_definitions(c, Writer::Parent);
    match crate::os::atomic_file::write(std::path::Path::new(PARENT_DATA), text.as_bytes(), 0o600) {
        Ok(()) => log::info!("data written to {PARENT_DATA}"),
        Err(e) => log::warn!("{PARENT_DATA}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_print_as_keepalived_2_2_7_prints_them() {
        let mut c = Config::default();
        c.global.router_id = Some("kadtest".into());
        let text = global_definitions(&c, Writer::Child);
        // keepalived 2.2.7's own capture of this config, global part.
        let want = include_str!("../../tests/data/dump/keepalived.data");
        let want: String = want.lines().take_while(|l| !l.starts_with("------< VRRP Topology")).map(|l| format!("{l}\n")).collect();
        assert_eq!(text, want);
    }

    #[test]
    fn the_checker_child_prints_the_parents_layout() {
        let mut c = Config::default();
        c.global.router_id = Some("capture".into());
        let want = include_str!("../../tests/data/dump/keepalived_check.data");
        let want: String = want.lines().take_while(|l| !l.starts_with("------< LVS Topology")).map(|l| format!("{l}\n")).collect();
        assert_eq!(global_definitions(&c, Writer::Checker), want);
    }
}
