//! /tmp/keepalived.json. json_version 1 is keepalived 2.2.7's: an array
//! with one `{"data": {...}, "stats": {...}}` object per instance, keys in
//! keepalived's order, optional keys (notify scripts, evips, routes,
//! tracking, auth_data) only when configured. json_version 2 is keepalived
//! 2.3's: the same array under `"vrrp"` in an object (with the tracked
//! processes under `"track_process"`), and the intervals as numbers of
//! seconds with fractions (`garp_delay`, `adver_int`, `master_adver_int`).

use super::data::{advert_us, garp};
use super::{KaStats, View, cmd_str, format_vip, state_num};
use crate::config::model::{AuthType, Config, VrrpInstance};
use crate::vrrp::fsm::State;
use crate::vrrp::instance::InstanceStatus;

/// A JSON object written in key order, as keepalived's json_writer does.
struct Obj(String);

impl Obj {
    fn new() -> Obj {
        Obj(String::from("{"))
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&serde_json::to_string(k).unwrap_or_default());
        self.0.push(':');
    }
    fn raw(&mut self, k: &str, v: impl std::fmt::Display) {
        self.key(k);
        self.0.push_str(&v.to_string());
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.0.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    fn strs(&mut self, k: &str, v: &[String]) {
        if v.is_empty() {
            return;
        }
        self.key(k);
        self.0.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// keepalived 2.3 prints these with %g: 5, 1, 0.5.
fn g(x: f64) -> String {
    format!("{x}")
}

fn data(v: &View, c: &VrrpInstance, st: &InstanceStatus, version: u8) -> String {
    let cfg: &Config = v.config;
    let vers = c.version.unwrap_or(cfg.global.vrrp_version);
    let gp = garp(cfg, c);
    let adver = advert_us(c, vers);
    let mut o = Obj::new();
    o.str("iname", &c.name);
    o.raw("dont_track_primary", c.dont_track_primary as u8);
    o.raw("skip_check_adv_addr", c.skip_check_adv_addr.unwrap_or(cfg.global.vrrp_skip_check_adv_addr) as u8);
    o.raw("strict_mode", c.strict_mode.unwrap_or(cfg.global.vrrp_strict) as u8);
    o.str("vmac_ifname", c.use_vmac.as_deref().unwrap_or(""));
    o.str("ifp_ifname", c.use_vmac.as_deref().unwrap_or(&st.interface));
    // The priority the master we listen to advertises; none heard as master.
    o.raw("master_priority", if st.state == State::Backup { st.master_priority } else { 0 });
    o.raw("last_transition", format!("{:.6}", st.last_transition_ms as f64 / 1000.0));
    if version == 2 {
        o.raw("garp_delay", g(gp.delay as f64));
    } else {
        o.raw("garp_delay", gp.delay);
    }
    o.raw("garp_refresh", gp.refresh);
    o.raw("garp_rep", gp.repeat);
    o.raw("garp_refresh_rep", gp.refresh_repeat);
    o.raw("garp_lower_prio_delay", gp.lower_prio_delay);
    o.raw("garp_lower_prio_rep", gp.lower_prio_repeat);
    o.raw("lower_prio_no_advert", gp.lower_prio_no_advert as u8);
    o.raw("higher_prio_send_advert", gp.higher_prio_send_advert as u8);
    o.raw("vrid", c.virtual_router_id);
    o.raw("base_priority", c.priority);
    o.raw("effective_priority", st.effective_priority);
    o.raw("vipset", st.vips_set);
    o.raw("promote_secondaries", false);
    if version == 2 {
        o.raw("adver_int", g(adver as f64 / 1e6));
        o.raw("master_adver_int", g(adver as f64 / 1e6));
    } else {
        o.raw("adver_int", adver / 1_000_000);
        o.raw("master_adver_int", adver / 1_000_000);
    }
    o.raw("accept", (!crate::vrrp::instance::wants_no_accept(cfg, c)) as u8);
    o.raw("nopreempt", c.nopreempt);
    o.raw("preempt_delay", c.preempt_delay.0 / 1_000_000);
    o.raw("state", state_num(st.state));
    o.raw("wantstate", state_num(st.state));
    o.raw("version", vers);
    o.raw("smtp_alert", c.smtp_alert.unwrap_or(false));
    o.raw("notify_deleted", false);
    for (k, sc) in [
        ("script_backup", &c.notify_backup),
        ("script_master", &c.notify_master),
        ("script_fault", &c.notify_fault),
        ("script_stop", &c.notify_stop),
        ("script", &c.notify),
        ("script_master_rx_lower_pri", &c.notify_master_rx_lower_pri),
    ] {
        if let Some(sc) = sc {
            o.str(k, &cmd_str(sc));
        }
    }
    let ifname = c.use_vmac.clone().unwrap_or_else(|| st.interface.clone());
    o.strs("vips", &c.virtual_ipaddress.iter().map(|a| format_vip(a, &ifname, st.vips_set)).collect::<Vec<_>>());
    o.strs("evips", &c.virtual_ipaddress_excluded.iter().map(|a| format_vip(a, &ifname, st.vips_set)).collect::<Vec<_>>());
    let routes: Vec<String> = c
        .virtual_routes
        .iter()
        .map(|r| {
            let mut l = format!("{}/{}", r.dst.addr, r.dst.prefix_len);
            if let Some(gw) = r.gateway {
                l += &format!(" via {}{gw}", if gw.is_ipv4() { "inet " } else { "inet6 " });
            }
            l
        })
        .collect();
    o.strs("vroutes", &routes);
    o.strs("track_ifp", &c.track_interfaces.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
    let scripts: Vec<String> = c
        .track_scripts
        .iter()
        .filter_map(|t| cfg.vrrp_scripts.iter().find(|d| d.name == t.name))
        .map(|d| cmd_str(&d.script))
        .collect();
    o.strs("track_script", &scripts);
    if version == 2 {
        o.strs("track_process", &c.track_processes.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
    }
    let auth = match &c.authentication {
        None => 0,
        Some(a) if a.auth_type == AuthType::Ah => 2,
        Some(_) => 1,
    };
    o.raw("auth_type", auth);
    if let Some(a) = &c.authentication {
        o.str("auth_data", &a.auth_pass);
    }
    o.end()
}

fn stats(k: &KaStats) -> String {
    let mut o = Obj::new();
    for (key, n) in [
        ("advert_rcvd", k.advert_rcvd),
        ("advert_sent", k.advert_sent),
        ("become_master", k.become_master),
        ("release_master", k.release_master),
        ("packet_len_err", k.packet_len_err),
        ("advert_interval_err", k.advert_interval_err),
        ("ip_ttl_err", k.ip_ttl_err),
        ("invalid_type_rcvd", k.invalid_type_rcvd),
        ("addr_list_err", k.addr_list_err),
        ("invalid_authtype", k.invalid_authtype),
        ("authtype_mismatch", k.authtype_mismatch),
        ("auth_failure", k.auth_failure),
        ("pri_zero_rcvd", k.pri_zero_rcvd),
        ("pri_zero_sent", k.pri_zero_sent),
    ] {
        o.raw(key, n);
    }
    o.end()
}

/// keepalived 2.3's tracked process objects (json_version 2).
fn track_processes(v: &View) -> String {
    let items: Vec<String> = v
        .config
        .track_processes
        .iter()
        .map(|p| {
            let mut o = Obj::new();
            o.str("process", p.process.first().map(String::as_str).unwrap_or(""));
            if p.process.len() > 1 {
                o.str("parameters", &p.process[1..].join(" "));
            }
            o.str("param_match", p.param_match.as_deref().unwrap_or(if p.process.len() > 1 { "exact" } else { "none" }));
            o.raw("min_processes", p.quorum);
            if let Some(m) = p.quorum_max {
                o.raw("max_processes", m);
            }
            o.raw("weight", if p.weight_reverse { -p.weight } else { p.weight });
            o.raw("terminate_delay", g(p.terminate_delay.map_or(0.0, |d| d.0 as f64 / 1e6)));
            o.raw("fork_delay", g(p.fork_delay.map_or(0.0, |d| d.0 as f64 / 1e6)));
            o.raw("fork_delay_timer_running", false);
            o.raw("terminate_delay_timer_running", false);
            o.raw("full_command", p.full_command);
            o.end()
        })
        .collect();
    format!("[{}]", items.join(","))
}

pub fn render(v: &View, version: u8) -> String {
    let items: Vec<String> = v
        .instances()
        .map(|(c, st, k)| format!("{{\"data\":{},\"stats\":{}}}", data(v, c, st, version), stats(&k)))
        .collect();
    let array = format!("[{}]", items.join(","));
    if version == 2 {
        let mut o = Obj::new();
        o.raw("vrrp", array);
        if !v.config.track_processes.is_empty() {
            o.raw("track_process", track_processes(v));
        }
        o.end()
    } else {
        array
    }
}
