//! /tmp/keepalived.data: keepalived 2.2.7's data dump. The global
//! definitions, then the VRRP topology (one ` VRRP Instance = NAME` block of
//! `   Key = value` lines each, the layout exporters parse), the socket
//! pool, the sync groups, the scripts and the interfaces. What we have no
//! equivalent for is printed as keepalived prints its default.

use super::{View, cmd_str, format_vip, micros_since_epoch, timestamp};
use crate::config::dump::{Writer, global_definitions};
use crate::config::model::{AuthType, Config, VrrpInstance};
use crate::script::track::ScriptState;
use crate::vrrp::fsm::State;
use crate::vrrp::instance::InstanceStatus;
use std::fmt::Write as _;

/// The advert interval in keepalived's units: whole seconds for v2
/// (rounded, as the engine sends it), microseconds.
pub fn advert_us(i: &VrrpInstance, version: u8) -> u64 {
    let cs = i.advert_int.0 as u64;
    if version == 3 { cs * 10_000 } else { ((cs + 50) / 100).clamp(1, 255) * 1_000_000 }
}

/// RFC 3768 / 9568 Master_Down_Interval for `priority`, as keepalived computes it.
pub fn master_down_us(adver_us: u64, priority: u8) -> u64 {
    3 * adver_us + ((256 - priority as u64) * adver_us) / 256
}

/// The garp and advert settings an instance runs with (its own, else global_defs).
pub struct Garp {
    pub delay: u32,
    pub repeat: u32,
    pub refresh: u32,
    pub refresh_repeat: u32,
    pub lower_prio_delay: u32,
    pub lower_prio_repeat: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
}

pub fn garp(c: &Config, i: &VrrpInstance) -> Garp {
    let g = &c.global;
    let delay = i.garp_master_delay.unwrap_or(g.vrrp_garp_master_delay);
    let repeat = i.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat);
    Garp {
        delay,
        repeat,
        refresh: i.garp_master_refresh.unwrap_or(g.vrrp_garp_master_refresh),
        refresh_repeat: i.garp_master_refresh_repeat.unwrap_or(g.vrrp_garp_master_refresh_repeat),
        lower_prio_delay: i.garp_lower_prio_delay.or(g.vrrp_garp_lower_prio_delay).unwrap_or(delay),
        lower_prio_repeat: i.garp_lower_prio_repeat.or(g.vrrp_garp_lower_prio_repeat).unwrap_or(repeat),
        lower_prio_no_advert: i.lower_prio_no_advert.unwrap_or(g.vrrp_lower_prio_no_advert),
        higher_prio_send_advert: i.higher_prio_send_advert.unwrap_or(g.vrrp_higher_prio_send_advert),
    }
}

fn script_weight(c: &Config, name: &str, r: Option<i32>) -> i32 {
    r.or_else(|| c.vrrp_scripts.iter().find(|s| s.name == name).map(|s| s.weight)).unwrap_or(0)
}

fn instance(s: &mut String, v: &View, c: &VrrpInstance, st: &InstanceStatus) {
    let cfg = v.config;
    let version = c.version.unwrap_or(cfg.global.vrrp_version);
    let v6 = c.virtual_ipaddress.first().is_some_and(|a| a.addr.is_ipv6());
    let ifname = c.use_vmac.clone().unwrap_or_else(|| st.interface.clone());
    let adver = advert_us(c, version);
    let w = |s: &mut String, line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    w(s, format!(" VRRP Instance = {}", c.name));
    w(s, format!("   VRRP Version = {version}"));
    if let Some(g) = cfg.sync_groups.iter().find(|g| g.group.contains(&c.name)) {
        w(s, format!("   Sync group = {}", g.name));
    }
    if v6 {
        w(s, "   Using Native IPv6".into());
    }
    w(s, format!("   State = {}", st.state.name()));
    if st.state == State::Backup {
        w(s, format!("   Master router = {}", st.master.map(|a| a.to_string()).unwrap_or_else(|| "(none)".into())));
        w(s, format!("   Master priority = {}", st.master_priority));
        if version == 3 {
            w(s, format!("   Master advert int = {:.2} sec", adver as f64 / 1e6));
        }
    }
    w(s, "   Flags: none".into());
    w(s, format!("   Wantstate = {}", st.state.name()));
    w(s, "   Number of config faults = 0".into());
    w(s, format!("   Number of interface and track script faults = {}", (st.state == State::Fault) as u8));
    let scripts_init = c
        .track_scripts
        .iter()
        .filter(|t| cfg.vrrp_scripts.iter().position(|d| d.name == t.name).and_then(|i| v.scripts.get(i)) == Some(&ScriptState::Init))
        .count();
    w(s, format!("   Number of track scripts init = {scripts_init}"));
    let (t, human) = timestamp(st.last_transition_ms * 1000);
    w(s, format!("   Last transition = {t} ({human})"));
    let now = micros_since_epoch(v.now);
    let down = master_down_us(adver, c.priority);
    match st.state {
        State::Master => {
            let (t, human) = timestamp(now + adver);
            w(s, format!("   Read timeout = {t} ({human})"));
        }
        State::Backup => {
            let (t, human) = timestamp(now + down);
            w(s, format!("   Read timeout = {t} ({human})"));
        }
        _ => w(s, "   Read timeout = DISABLED".into()),
    }
    w(s, format!("   Master down timer = {down} usecs"));
    if let Some(vmac) = &c.use_vmac {
        w(s, format!("   Use VMAC, i/f name {vmac}, is_up = true, xmit_base = {}", c.vmac_xmit_base));
        w(s, format!("   Interface = {vmac}, vmac on {}{}", st.interface, if c.vmac_xmit_base { ", xmit base i/f" } else { "" }));
    } else {
        w(s, format!("   Interface = {ifname}"));
    }
    if c.dont_track_primary {
        w(s, "   VRRP interface tracking disabled".into());
    }
    if c.skip_check_adv_addr.unwrap_or(cfg.global.vrrp_skip_check_adv_addr) {
        w(s, "   Skip checking advert IP addresses".into());
    }
    if c.strict_mode.unwrap_or(cfg.global.vrrp_strict) {
        w(s, "   Enforcing strict VRRP compliance".into());
    }
    let from_config = c.unicast_src_ip.or(c.mcast_src_ip).is_some();
    w(
        s,
        format!(
            "   Using src_ip = {}{}",
            st.src_ip.map(|a| a.to_string()).unwrap_or_else(|| "(none)".into()),
            if from_config { " (from configuration)" } else { "" }
        ),
    );
    if c.unicast_peers.is_empty() {
        if v6 {
            let index = nix::net::if_::if_nametoindex(ifname.as_str()).unwrap_or(0);
            w(s, format!("   Multicast address {}, ifindex {index}", cfg.global.vrrp_mcast_group6));
        } else {
            w(s, format!("   Multicast address {}", cfg.global.vrrp_mcast_group4));
        }
    }
    let g = garp(cfg, c);
    w(s, format!("   Gratuitous ARP delay = {}", g.delay));
    w(s, format!("   Gratuitous ARP repeat = {}", g.repeat));
    w(s, format!("   Gratuitous ARP refresh = {}", g.refresh));
    w(s, format!("   Gratuitous ARP refresh repeat = {}", g.refresh_repeat));
    w(s, format!("   Gratuitous ARP lower priority delay = {}", g.lower_prio_delay));
    w(s, format!("   Gratuitous ARP lower priority repeat = {}", g.lower_prio_repeat));
    w(s, "   Down timer adverts = 3".into());
    w(s, format!("   Send advert after receive lower priority advert = {}", !g.lower_prio_no_advert));
    w(s, format!("   Send advert after receive higher priority advert = {}", g.higher_prio_send_advert));
    w(s, format!("   Virtual Router ID = {}", c.virtual_router_id));
    w(s, format!("   Priority = {}", c.priority));
    w(s, format!("   Effective priority = {}", st.effective_priority));
    w(s, format!("   Total priority = {}", st.effective_priority));
    if version == 3 {
        w(s, format!("   Advert interval = {} milli-sec", adver / 1000));
        if st.state == State::Backup {
            w(s, format!("   Master advert interval = {} milli-sec", adver / 1000));
        }
    } else {
        w(s, format!("   Advert interval = {} sec", adver / 1_000_000));
    }
    let accept = !crate::vrrp::instance::wants_no_accept(cfg, c);
    w(s, format!("   Accept = {}", if accept { "enabled" } else { "disabled" }));
    w(s, format!("   Preempt = {}", if c.nopreempt { "disabled" } else { "enabled" }));
    if c.preempt_delay.0 > 0 {
        w(s, format!("   Preempt delay = {} secs", c.preempt_delay.0 as f64 / 1e6));
    }
    w(s, "   Promote_secondaries = disabled".into());
    match &c.authentication {
        Some(a) if a.auth_type == AuthType::Ah => w(s, "   Authentication type = IPSEC_AH".into()),
        Some(a) => {
            w(s, "   Authentication type = SIMPLE_PASSWORD".into());
            w(s, format!("   Password = {}", a.auth_pass));
        }
        None if version == 2 => w(s, "   Authentication type = none".into()),
        None => {}
    }
    if !c.virtual_ipaddress.is_empty() {
        w(s, format!("   Virtual IP ({}):", c.virtual_ipaddress.len()));
        for a in &c.virtual_ipaddress {
            w(s, format!("     {}", format_vip(a, &ifname, st.vips_set)));
        }
    }
    if !c.virtual_ipaddress_excluded.is_empty() {
        w(s, "   Virtual IP Excluded :".into());
        for a in &c.virtual_ipaddress_excluded {
            w(s, format!("     {}", format_vip(a, &ifname, st.vips_set)));
        }
    }
    if !c.unicast_peers.is_empty() {
        w(s, "   Unicast Peer :".into());
        for p in &c.unicast_peers {
            w(s, format!("     {}", p.addr));
        }
    }
    w(s, format!("   fd_in {}, fd_out {}", st.fd_in, st.fd_out));
    if !c.virtual_routes.is_empty() {
        w(s, "   Virtual Routes :".into());
        for r in &c.virtual_routes {
            let mut l = format!("{}/{}", r.dst.addr, r.dst.prefix_len);
            if let Some(gw) = r.gateway {
                l += &format!(" via {}{gw}", if gw.is_ipv4() { "inet " } else { "inet6 " });
            }
            if let Some(d) = &r.dev {
                l += &format!(" dev {d}");
            }
            if r.no_track {
                l += " no_track";
            }
            w(s, format!("     {l}"));
        }
    }
    if !c.track_interfaces.is_empty() {
        w(s, "   Tracked interfaces :".into());
        for t in &c.track_interfaces {
            w(s, format!("     {} weight {}", t.name, t.weight.unwrap_or(0)));
        }
    }
    if !c.track_scripts.is_empty() {
        w(s, "   Tracked scripts :".into());
        for t in &c.track_scripts {
            w(s, format!("     {} weight {}", t.name, script_weight(cfg, &t.name, t.weight)));
        }
    }
    if !c.track_files.is_empty() {
        w(s, "   Tracked files :".into());
        for t in &c.track_files {
            w(s, format!("     {} weight {}", t.name, t.weight.unwrap_or(0)));
        }
    }
    if !c.track_processes.is_empty() {
        w(s, "   Tracked processes :".into());
        for t in &c.track_processes {
            w(s, format!("     {} weight {}", t.name, t.weight.unwrap_or(0)));
        }
    }
    w(s, format!("   Using smtp notification = {}", if c.smtp_alert.unwrap_or(false) { "yes" } else { "no" }));
    w(s, "   Notify deleted = Fault".into());
    for (script, what) in [
        (&c.notify_backup, "Backup"),
        (&c.notify_master, "Master"),
        (&c.notify_fault, "Fault"),
        (&c.notify_stop, "Stop"),
        (&c.notify, "Generic"),
        (&c.notify_master_rx_lower_pri, "Master rx lower pri"),
    ] {
        if let Some(sc) = script {
            w(s, format!("   {what} state transition script = {}, uid:gid 0:0", cmd_str(sc)));
        }
    }
    w(s, "   Notify priority changes = false".into());
}

fn sockpool(s: &mut String, v: &View) {
    let _ = writeln!(s, "------< VRRP Sockpool >------");
    for (c, st, _) in v.instances() {
        let v6 = c.virtual_ipaddress.first().is_some_and(|a| a.addr.is_ipv6());
        let ah = c.authentication.as_ref().is_some_and(|a| a.auth_type == AuthType::Ah);
        let _ = writeln!(s, " fd_in {} fd_out = {}", st.fd_in, st.fd_out);
        let _ = writeln!(s, "   Interface = {}", c.use_vmac.as_deref().unwrap_or(&st.interface));
        let _ = writeln!(s, "   Family = {}", if v6 { "IPv6" } else { "IPv4" });
        let _ = writeln!(s, "   Protocol = {}", if ah { "AH" } else { "VRRP" });
        let _ = writeln!(s, "   Type = {}", if c.unicast_peers.is_empty() { "Multicast" } else { "Unicast" });
        let _ = writeln!(s, "   Rx buf size = 0");
        let _ = writeln!(s, "   VRRP instances");
        let _ = writeln!(s, "     {} vrid {}", c.name, c.virtual_router_id);
    }
}

fn sync_groups(s: &mut String, v: &View) {
    if v.config.sync_groups.is_empty() {
        return;
    }
    let _ = writeln!(s, "------< VRRP Sync groups >------");
    for g in &v.config.sync_groups {
        let st = v.groups.iter().find(|x| x.name == g.name);
        let members: Vec<&InstanceStatus> = g.group.iter().filter_map(|m| v.status.iter().find(|i| &i.name == m)).collect();
        let fault = members.iter().filter(|m| m.state == State::Fault).count();
        let init = members.iter().filter(|m| m.state == State::Initialize).count();
        let _ = writeln!(s, " VRRP Sync Group = {}, {}", g.name, st.and_then(|x| x.state.clone()).unwrap_or_else(|| "INIT".into()));
        let _ = writeln!(s, "   Num member fault {fault}, num member init {init}");
        let _ = writeln!(s, "   VRRP member instances :");
        for m in &g.group {
            let _ = writeln!(s, "     {m}");
        }
        if g.sync_group_tracking_weight {
            let _ = writeln!(s, "   sync group tracking weight set");
        }
        let _ = writeln!(s, "   Using smtp notification = {}", if g.smtp_alert.unwrap_or(false) { "yes" } else { "no" });
        for (script, what) in [
            (&g.notify_backup, "Backup"),
            (&g.notify_master, "Master"),
            (&g.notify_fault, "Fault"),
            (&g.notify_stop, "Stop"),
            (&g.notify, "Generic"),
        ] {
            if let Some(sc) = script {
                let _ = writeln!(s, "   {what} state transition script = {}, uid:gid 0:0", cmd_str(sc));
            }
        }
    }
}

fn scripts(s: &mut String, v: &View) {
    let cfg = v.config;
    let used: Vec<(usize, &crate::config::model::VrrpScript)> = cfg
        .vrrp_scripts
        .iter()
        .enumerate()
        .filter(|(_, d)| cfg.vrrp_instances.iter().any(|i| i.track_scripts.iter().any(|t| t.name == d.name)))
        .collect();
    if used.is_empty() {
        return;
    }
    let _ = writeln!(s, "------< VRRP Scripts >------");
    for (i, d) in used {
        let state = v.scripts.get(i).copied().unwrap_or(ScriptState::Init);
        let _ = writeln!(s, " VRRP Script = {}", d.name);
        let _ = writeln!(s, "   Command = {}", cmd_str(&d.script));
        let _ = writeln!(s, "   Interval = {} sec", d.interval);
        let _ = writeln!(s, "   Timeout = {} sec", d.timeout.unwrap_or(0));
        let _ = writeln!(s, "   Weight = {}{}", d.weight, if d.weight_reverse { " reverse" } else { "" });
        let _ = writeln!(s, "   Rise = {}", d.rise);
        let _ = writeln!(s, "   Fall = {}", d.fall);
        let _ = writeln!(s, "   Result = {}", if state == ScriptState::Up { d.rise } else { 0 });
        let _ = writeln!(s, "   Insecure = no");
        let _ = writeln!(s, "   Init state = {}", if state == ScriptState::Init { "INIT" } else { "unknown" });
        let _ = writeln!(
            s,
            "   Status = {}",
            match state {
                ScriptState::Init => "INIT",
                ScriptState::Up => "GOOD",
                ScriptState::Down => "BAD",
            }
        );
        let _ = writeln!(s, "   Script uid:gid = 0:0");
        let _ = writeln!(s, "   VRRP instances :");
        let _ = writeln!(s, "   Tracking instances :");
        for inst in cfg.vrrp_instances.iter() {
            if let Some(t) = inst.track_scripts.iter().find(|t| t.name == d.name) {
                let _ = writeln!(s, "     {}, weight {}", inst.name, script_weight(cfg, &d.name, t.weight));
            }
        }
        let _ = writeln!(s, "   State = idle");
    }
}

/// The interfaces the instances run on, as the kernel has them now.
fn interfaces(s: &mut String, v: &View) {
    let _ = writeln!(s, "------< Interfaces >------");
    let mut names: Vec<String> = vec!["lo".into()];
    for (c, st, _) in v.instances() {
        let n = c.use_vmac.clone().unwrap_or_else(|| st.interface.clone());
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    let addrs: Vec<nix::ifaddrs::InterfaceAddress> = nix::ifaddrs::getifaddrs().map(|a| a.collect()).unwrap_or_default();
    for name in names {
        let sys = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{name}/{f}")).map(|x| x.trim().to_string()).unwrap_or_default();
        let v4 = addrs
            .iter()
            .filter(|a| a.interface_name == name)
            .find_map(|a| a.address.as_ref().and_then(|x| x.as_sockaddr_in()).map(|x| x.ip().to_string()));
        let v6 = addrs
            .iter()
            .filter(|a| a.interface_name == name)
            .find_map(|a| a.address.as_ref().and_then(|x| x.as_sockaddr_in6()).map(|x| x.ip()).filter(|ip| (ip.segments()[0] & 0xffc0) == 0xfe80))
            .map(|ip| ip.to_string());
        let lo = name == "lo";
        let _ = writeln!(s, " Name = {name}");
        let _ = writeln!(s, "   index = {}", nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0));
        let _ = writeln!(s, "   IPv4 address = {}", v4.unwrap_or_else(|| "(none)".into()));
        let _ = writeln!(s, "   IPv6 address = {}", v6.unwrap_or_else(|| "(none)".into()));
        if !lo {
            let _ = writeln!(s, "   MAC = {}", sys("address"));
            let _ = writeln!(s, "   MAC broadcast = {}", sys("broadcast"));
        }
        let up = sys("operstate") != "down";
        let state = if lo { "UP, RUNNING, no broadcast, loopback, no multicast" } else if up { "UP, RUNNING" } else { "DOWN" };
        let _ = writeln!(s, "   State = {state}");
        let _ = writeln!(s, "   Seen up = {}", up as u8);
        let _ = writeln!(s, "   Delayed state change running = false");
        let _ = writeln!(s, "   Up debounce timer = 0us");
        let _ = writeln!(s, "   Down debounce timer = 0us");
        let _ = writeln!(s, "   MTU = {}", sys("mtu"));
        let _ = writeln!(s, "   HW Type = {}", if lo { "LOOPBACK" } else { "ETHERNET" });
        let _ = writeln!(s, "   NIC netlink status update");
        let _ = writeln!(s, "   Reset ARP config counter 0");
        let conf = |k: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/{k}")).map(|x| x.trim().to_string()).unwrap_or_else(|_| "0".into());
        let _ = writeln!(s, "   Original arp_ignore {}", conf("arp_ignore"));
        let _ = writeln!(s, "   Original arp_filter {}", conf("arp_filter"));
        let _ = writeln!(s, "   Original promote_secondaries {}", conf("promote_secondaries"));
        let _ = writeln!(s, "   Reset promote_secondaries counter 0");
        let tracking: Vec<String> = v
            .instances()
            .filter(|(c, st, _)| c.use_vmac.as_deref().unwrap_or(&st.interface) == name)
            .map(|(c, _, _)| c.name.clone())
            .collect();
        if !tracking.is_empty() {
            let _ = writeln!(s, "   Tracking VRRP instances :");
            for t in tracking {
                let _ = writeln!(s, "     {t}, weight 0");
            }
        }
    }
}

pub fn render(v: &View) -> String {
    let mut s = global_definitions(v.config, Writer::Child);
    s.push_str("------< VRRP Topology >------\n");
    for (c, st, _) in v.instances() {
        instance(&mut s, v, c, st);
    }
    sockpool(&mut s, v);
    sync_groups(&mut s, v);
    scripts(&mut s, v);
    interfaces(&mut s, v);
    s
}
