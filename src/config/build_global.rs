//! `global_defs { ... }`.

use super::addr::parse_ip;
use super::model::{GlobalDefs, IptablesChains, LvsSyncDaemon, LvsTimeouts, SmtpServer};
use super::tree::{Node, Text};
use super::values::{ArgSpec, Ctx, parse_bool, parse_i64};
use std::net::IpAddr;

/// global_defs keywords keepalived 2.2.7 (Debian build) knows and we keep
/// unmodelled, with what each takes.
const RAW_GLOBAL: &[(&str, ArgSpec)] = {
    use ArgSpec::*;
    const U: i64 = u32::MAX as i64;
    &[
        ("bfd_cpu_affinity", NumList), ("bfd_process_name", Word), ("bfd_rlimit_rttime", Num(1, U)),
        ("checker_cpu_affinity", NumList), ("checker_log_all_failures", OptBool), ("checker_process_name", Word),
        ("checker_rlimit_rttime", Num(1, U)), ("data_use_instance", OptBool),
        ("dbus_service_name", Word), ("disable_local_igmp", Any), ("enable_dbus", Any),
        ("enable_snmp_checker", Any), ("enable_snmp_rfc", Any), ("enable_snmp_rfcv2", Any),
        ("enable_snmp_rfcv3", Any), ("enable_snmp_vrrp", Any), ("enable_snmp_keepalived", Any),
        ("enable_traps", Any), ("fifo_write_vrrp_states_on_reload", Any),
        ("lvs_flush_on_stop", Any),
        ("lvs_netlink_cmd_rcv_bufs", Num(0, U)), ("lvs_netlink_cmd_rcv_bufs_force", OptBool),
        ("lvs_netlink_monitor_rcv_bufs", Num(0, U)), ("lvs_netlink_monitor_rcv_bufs_force", OptBool),
        ("lvs_notify_fifo", Word), ("lvs_notify_fifo_script", Word),
        ("nftables", Any), ("nftables_counters", Any), ("nftables_ifindex", Any), ("nftables_ipvs", Any),
        ("nftables_ipvs_priority", Num(i32::MIN as i64, i32::MAX as i64)),
        ("nftables_ipvs_start_fwmark", Num(1, U)), ("nftables_priority", Num(i32::MIN as i64, i32::MAX as i64)),
        ("no_checker_emails", OptBool), ("log_unknown_vrids", Any), ("lvs_process_name", Word), ("no_email_faults", Any), ("notify_fifo_script", Word),
        ("process_monitor_rcv_bufs", Num(0, U)), ("process_monitor_rcv_bufs_force", OptBool),
        ("process_names", Any), ("process_name", Word), ("random_seed", Num(0, U)),
        ("reload_check_config", Any), ("reload_file", Any), ("reload_repeat", Any), ("reload_time_file", Word),
        ("rs_init_notifies", OptBool), ("shutdown_script", Word), ("shutdown_script_timeout", Num(1, 1000)),
        ("snmp_socket", Word), ("startup_script", Word), ("startup_script_timeout", Num(1, 1000)),
        ("tmp_config_directory", Word), ("vmac_addr_prefix", Word),
        ("vmac_prefix", Word), ("vrrp_cpu_affinity", NumList), ("vrrp_down_timer_adverts", Num(1, 100)),
        ("vrrp_min_garp", OptBool), ("vrrp_netlink_cmd_rcv_bufs", Num(0, U)),
        ("vrrp_netlink_cmd_rcv_bufs_force", OptBool), ("vrrp_netlink_monitor_rcv_bufs", Num(0, U)),
        ("vrrp_netlink_monitor_rcv_bufs_force", OptBool), ("vrrp_notify_fifo_script", Word),
        ("vrrp_notify_priority_changes", OptBool), ("vrrp_process_name", Word), ("vrrp_rlimit_rttime", Num(1, U)),
        ("vrrp_rx_bufs_multiplier", Num(1, U)), 
       
    ]
};

/// keepalived's number reading (read_int): its complaint names the value.
fn number(ctx: &mut Ctx<'_>, n: &Node, v: &str, lo: i64, hi: i64) -> Option<i64> {
    match parse_i64(v) {
        Some(x) if (lo..=hi).contains(&x) => Some(x),
        Some(_) => {
            ctx.warn(n.pos, format!("number '{v}' outside range [{lo}, {hi}]"));
            None
        }
        None => {
            ctx.warn(n.pos, format!("invalid number '{v}'"));
            None
        }
    }
}

/// `vrrp_priority` / `checker_priority` / `bfd_priority`: a nice value, -20..19,
/// with keepalived's words (get_priority); a bad one leaves the setting as it was.
fn process_priority(ctx: &mut Ctx<'_>, n: &Node, process: &str) -> Option<i32> {
    let Some(v) = n.arg(0) else {
        ctx.warn(n.pos, format!("No {process} process priority specified"));
        return None;
    };
    let p = number(ctx, n, v, -20, 19);
    if p.is_none() {
        ctx.warn(n.pos, format!("Invalid {process} process priority specified"));
    }
    p.map(|p| p as i32)
}

/// `*_rt_priority`: SCHED_RR 1..99; keepalived takes a number out of range
/// as its nearest bound, with a complaint (get_realtime_priority).
fn rt_priority(ctx: &mut Ctx<'_>, n: &Node, process: &str) -> Option<u32> {
    let Some(v) = n.arg(0) else {
        ctx.warn(n.pos, format!("No {process} process real-time priority specified"));
        return None;
    };
    let Some(p) = number(ctx, n, v, i64::from(i32::MIN), i64::from(i32::MAX)) else {
        ctx.warn(n.pos, format!("{process} process real-time priority '{v}' invalid"));
        return None;
    };
    if p < 1 {
        ctx.warn(n.pos, format!("{process} process real-time priority {p} less than minimum 1 - setting to minimum"));
        return Some(1);
    }
    if p > 99 {
        ctx.warn(n.pos, format!("{process} process real-time priority {p} greater than maximum 99 - setting to maximum"));
        return Some(99);
    }
    Some(p as u32)
}

pub fn global_defs(ctx: &mut Ctx<'_>, children: &[Node], g: &mut GlobalDefs) {
    // The fifo keywords already read: each may be given once.
    const FIFO_KWS: &[&str] = &[
        "notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo", "notify_fifo_script", "vrrp_notify_fifo_script",
        "lvs_notify_fifo_script",
    ];
    let mut seen_fifo: Vec<&str> = Vec::new();
    for n in children {
        let kw = &*n.keyword;
        let fifo_again = FIFO_KWS.contains(&kw) && seen_fifo.contains(&kw);
        if FIFO_KWS.contains(&kw) {
            seen_fifo.push(kw);
        }
        if kw != "notification_email" {
            ctx.no_block(n);
        }
        match kw {
            "router_id" => g.router_id = ctx.string(n),
            "notification_email" => {
                if n.block.as_ref().is_none_or(|b| b.is_empty()) {
                    ctx.warn(n.pos, "Warning - empty notification_email block");
                }
                for c in ctx.value_block(n) {
                    g.notification_email.push(c.keyword.to_string());
                    g.notification_email.extend(c.args.iter().map(|a| a.to_string()));
                }
            }
            "notification_email_from" => g.notification_email_from = ctx.string(n),
            "smtp_server" => {
                if n.arg(0).is_some_and(|h| super::addr::parse_ipv4_aton(h).is_none()) {
                    // Debian's 2.2.7 takes an address only.
                    ctx.warn(n.pos, format!("Invalid smtp server {}", n.args.join(" ")));
                } else if let Some(host) = ctx.arg(n, 0) {
                    let port = match n.arg(1) {
                        None => Some(25),
                        Some(p) => ctx.int_value(n, p, 1, 65535).map(|v| v as u16),
                    };
                    if let Some(port) = port {
                        g.smtp_server = Some(SmtpServer { host: host.to_string(), port });
                    }
                }
            }
            "smtp_connect_timeout" => {
                if let Some(v) = ctx.u32(n, 1, 3600) {
                    g.smtp_connect_timeout = v;
                }
            }
            // keepalived ignores it without a value.
            "smtp_helo_name" => {
                if let Some(h) = n.arg(0) {
                    g.smtp_helo_name = Some(h.to_string());
                }
            }
            "smtp_alert" => g.smtp_alert = ctx.flag(n),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = ctx.flag(n),
            "smtp_alert_checker" => g.smtp_alert_checker = ctx.flag(n),
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => {
                // `script_user USER [GROUP]`: identities only, no command.
                if let Some(user) = ctx.arg(n, 0) {
                    let group = n.arg(1);
                    if user_exists(user) && group.is_none_or(group_exists) {
                        g.script_user = Some(super::model::Script {
                            argv: Vec::new(),
                            user: Some(user.to_string()),
                            group: group.map(String::from),
                        });
                    } else {
                        ctx.warn(n.pos, "Error setting global script uid/gid");
                    }
                }
            }
            "default_interface" => g.default_interface = ctx.string(n),
            "dynamic_interfaces" if n.arg(0).is_none_or(|a| a == "allow_if_changes") => g.dynamic_interfaces = true,
            "vrrp_version" => {
                if let Some(v) = ctx.u32(n, 2, 3) {
                    g.vrrp_version = v as u8;
                }
            }
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            // keepalived ignores any argument here.
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = true,
            "vrrp_garp_master_delay" => set(&mut g.vrrp_garp_master_delay, ctx.u32(n, 0, 86400)),
            "vrrp_garp_master_repeat" => set(&mut g.vrrp_garp_master_repeat, repeat_count(ctx, n)),
            "vrrp_garp_master_refresh" => set(&mut g.vrrp_garp_master_refresh, ctx.u32(n, 0, 1_000_000)),
            "vrrp_garp_master_refresh_repeat" => set(&mut g.vrrp_garp_master_refresh_repeat, repeat_count(ctx, n)),
            "vrrp_garp_lower_prio_delay" => g.vrrp_garp_lower_prio_delay = ctx.u32(n, 0, 86400),
            "vrrp_garp_lower_prio_repeat" => g.vrrp_garp_lower_prio_repeat = ctx.u32(n, 0, 1_000_000),
            "vrrp_garp_interval" => set(&mut g.vrrp_garp_interval, garp_interval(ctx, n)),
            "vrrp_gna_interval" => set(&mut g.vrrp_gna_interval, garp_interval(ctx, n)),
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = ctx.flag(n).unwrap_or(true),
            "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = ctx.flag(n).unwrap_or(true),
            "vrrp_mcast_group4" => match n.arg(0).and_then(parse_ip) {
                Some(IpAddr::V4(a)) if a.is_multicast() => g.vrrp_mcast_group4 = a,
                _ => ctx.warn(n.pos, format!("vrrp_mcast_group4 '{}' is not a valid IPv4 multicast address", n.arg(0).unwrap_or(""))),
            },
            "vrrp_mcast_group6" => match n.arg(0).and_then(parse_ip) {
                Some(IpAddr::V6(a)) if a.is_multicast() => g.vrrp_mcast_group6 = a,
                _ => ctx.warn(n.pos, format!("vrrp_mcast_group6 '{}' is not a valid IPv6 multicast address", n.arg(0).unwrap_or(""))),
            },
            "vrrp_iptables" => {
                // Debian's 2.2.7 is built with nftables only and says so.
                ctx.warn(n.pos, "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option");
                g.vrrp_iptables = Some(IptablesChains {
                    in_chain: n.arg(0).map(String::from),
                    out_chain: n.arg(1).map(String::from),
                })
            }
            "max_auto_priority" => {
                g.max_auto_priority = match n.arg(0) {
                    None => Some(-1),
                    Some(s) => ctx.int_value(n, s, -1, 99).map(|v| v as i32),
                }
            }
            "vrrp_priority" => g.vrrp_priority = process_priority(ctx, n, "vrrp").or(g.vrrp_priority),
            "checker_priority" => g.checker_priority = process_priority(ctx, n, "checker").or(g.checker_priority),
            "bfd_priority" => g.bfd_priority = process_priority(ctx, n, "bfd").or(g.bfd_priority),
            "vrrp_no_swap" => g.vrrp_no_swap = true,
            "checker_no_swap" => g.checker_no_swap = true,
            "bfd_no_swap" => g.bfd_no_swap = true,
            "vrrp_rt_priority" => g.vrrp_rt_priority = rt_priority(ctx, n, "vrrp").or(g.vrrp_rt_priority),
            "checker_rt_priority" => g.checker_rt_priority = rt_priority(ctx, n, "checker").or(g.checker_rt_priority),
            "bfd_rt_priority" => g.bfd_rt_priority = rt_priority(ctx, n, "bfd").or(g.bfd_rt_priority),
            // Kept raw (nothing applies an RLIMIT_RTTIME yet), with keepalived's second complaint.
            "vrrp_rlimit_rttime" | "checker_rlimit_rttime" | "bfd_rlimit_rttime"
                if n.arg(0).is_some_and(|v| !parse_i64(v).is_some_and(|x| (1..=i64::from(u32::MAX)).contains(&x))) =>
            {
                let v = n.arg(0).unwrap_or("");
                number(ctx, n, v, 1, i64::from(u32::MAX));
                let process = kw.split('_').next().unwrap_or("");
                ctx.warn(n.pos, format!("Invalid {process} real-time limit - {v}"));
            }
            // A second one is ignored, with keepalived's complaint.
            _ if fifo_again => ctx.warn(n.pos, format!("{kw} already specified - ignoring {}", n.arg(0).unwrap_or(""))),
            "vrrp_notify_fifo" => g.vrrp_notify_fifo = ctx.script(n),
            "notify_fifo" => g.notify_fifo = ctx.script(n),
            "lvs_flush" => g.lvs_flush = true,
            // `vrrp_garp_extra_if [all] SECONDS`
            "vrrp_garp_extra_if" => {
                let secs = if n.arg(0) == Some("all") { n.arg(1) } else { n.arg(0) };
                match secs.and_then(parse_i64) {
                    Some(v) if (1..=86400).contains(&v) => {
                        let raw = ctx.raw(n);
                        g.other.push(raw);
                    }
                    _ => ctx.warn(n.pos, format!("vrrp_garp_extra_if '{}' invalid - ignoring", n.args.join(" "))),
                }
            }
            "include_check" => {
                let bad = n.args.iter().find(|a| {
                    let w = a.trim_start_matches(['+', '-']);
                    !matches!(w, "readable" | "match" | "wildcard_match" | "brace_match")
                });
                match bad {
                    Some(b) => ctx.warn(n.pos, format!("Unknown include_check type '{b}' - ignoring")),
                    None => {
                        let raw = ctx.raw(n);
                        g.other.push(raw);
                    }
                }
            }
            // keepalived's deprecated spelling, same meaning.
            "lvs_flush_onstop" if matches!(n.arg(0), None | Some("VS")) => {
                let mut raw = ctx.raw(n);
                raw.keyword = "lvs_flush_on_stop".into();
                g.other.push(raw);
            }
            "lvs_flush_on_stop" | "lvs_flush_onstop" if !matches!(n.arg(0), None | Some("VS")) => {
                ctx.warn(n.pos, format!("Unknown lvs_flush_on_stop type {}", n.arg(0).unwrap_or("")))
            }
            "reload_time_file" if n.args.len() != 1 => ctx.warn(n.pos, "reload_time_file invalid"),
            // Deprecated spellings of the *_rlimit_rttime keywords.
            "vrrp_rlimit_rtime" | "checker_rlimit_rtime" | "bfd_rlimit_rtime" => {
                if let Some(raw) = ctx.raw_checked(n, ArgSpec::Num(1, i64::from(u32::MAX))) {
                    g.other.push(raw);
                }
            }
            "checker_log_all_failures" if n.arg(0).is_some_and(|a| parse_bool(a).is_none()) => {
                ctx.warn(n.pos, "Invalid value for checker_log_all_failures specified")
            }
            "dynamic_interfaces" if n.arg(0).is_some_and(|a| a != "allow_if_changes") => {
                g.dynamic_interfaces = true;
                ctx.warn(n.pos, format!("Unknown dynamic_interfaces option '{}'", n.arg(0).unwrap_or("")))
            }
            "min_auto_priority_delay" => match n.arg(0).and_then(parse_i64) {
                Some(v) if (1..=10_000_000).contains(&v) => {
                    let raw = ctx.raw(n);
                    g.other.push(raw);
                }
                v => {
                    let a = n.arg(0).unwrap_or("");
                    ctx.warn(n.pos, match v {
                        Some(_) => format!("number '{a}' outside range [1, 10000000]"),
                        None => format!("invalid number '{a}'"),
                    });
                    ctx.warn(n.pos, format!("min_auto_priority_delay '{a}' must be in [1, 10000000] - ignoring"))
                }
            },
            "config_save_dir" => {
                let Some(d) = ctx.arg(n, 0) else { continue };
                if std::path::Path::new(d).exists() && !std::path::Path::new(d).is_dir() {
                    ctx.warn(n.pos, format!("config_save_dir {d} exists and is not a directory"))
                } else {
                    let raw = ctx.raw(n);
                    g.other.push(raw);
                }
            }
            "umask" => match umask_bits(&n.args) {
                Ok(_) => {
                    let raw = ctx.raw(n);
                    g.other.push(raw);
                }
                Err(m) => ctx.warn(n.pos, m),
            },
            "vrrp_rx_bufs_policy" => {
                for m in rx_bufs_policy(&n.args) {
                    ctx.warn(n.pos, m);
                }
                let raw = ctx.raw(n);
                g.other.push(raw);
            }
            "vrrp_startup_delay" => {
                let a = n.arg(0).unwrap_or("");
                let r = super::values::read_decimal_micros(a, 1_000, u64::from(u32::MAX));
                for m in r.complaints {
                    ctx.warn(n.pos, m);
                }
                match r.value {
                    Some(_) => {
                        let raw = ctx.raw(n);
                        g.other.push(raw);
                    }
                    None => ctx.warn(n.pos, format!("vrrp_startup_delay '{a}' is invalid")),
                }
            }
            "lvs_sync_daemon" => {
                if let Some(d) = &g.lvs_sync_daemon {
                    ctx.warn(n.pos, format!("lvs_sync_daemon has already been specified as {} {} - ignoring", d.interface, d.vrrp_instance));
                } else {
                    g.lvs_sync_daemon = lvs_sync_daemon(ctx, n);
                }
            }
            "lvs_timeouts" => g.lvs_timeouts = lvs_timeouts(ctx, n),
            "lvs_sync_daemon_interface" => {
                ctx.warn(n.pos, "lvs_sync_daemon_interface is deprecated - please use lvs_sync_daemon");
            }
            k if let Some((_, spec)) = RAW_GLOBAL.iter().find(|(name, _)| *name == k) => {
                if let Some(raw) = ctx.raw_checked(n, *spec) {
                    g.other.push(raw);
                }
            }
            _ => ctx.unknown(n),
        }
    }
}

/// `vrrp_garp_interval` / `vrrp_gna_interval`: 0.000001 s to 4294.967295 s
/// (keepalived's read_decimal_unsigned: 0 is refused), its complaints.
fn garp_interval(ctx: &mut Ctx<'_>, n: &Node) -> Option<super::model::Microseconds> {
    let a = n.arg(0).unwrap_or("");
    let r = super::values::read_decimal_micros(a, 1, u64::from(u32::MAX));
    for m in r.complaints {
        ctx.warn(n.pos, m);
    }
    if r.value.is_none() {
        ctx.warn(n.pos, format!("{} '{a}' is invalid", n.keyword));
    }
    r.value.map(super::model::Microseconds)
}

/// A global GARP repeat count: 0 is taken as 1, with keepalived's
/// complaint.
fn repeat_count(ctx: &mut Ctx<'_>, n: &Node) -> Option<u32> {
    match n.arg(0).and_then(parse_i64).and_then(|v| u32::try_from(v).ok()) {
        Some(0) => {
            ctx.warn(n.pos, format!("{} must be greater than 0, setting to 1", n.keyword));
            Some(1)
        }
        Some(v) => Some(v),
        None => {
            ctx.warn(n.pos, format!("{} '{}' invalid - ignoring", n.keyword, n.arg(0).unwrap_or("")));
            None
        }
    }
}

/// keepalived's umask: a number (C base rules) within 0777, or
/// `IRUSR|IWGRP|...` across the words.
fn umask_bits(args: &[Text<'_>]) -> Result<u32, String> {
    const BITS: &[(&str, u32)] = &[
        ("IRUSR", 0o400), ("IWUSR", 0o200), ("IXUSR", 0o100), ("IRGRP", 0o040), ("IWGRP", 0o020),
        ("IXGRP", 0o010), ("IROTH", 0o004), ("IWOTH", 0o002), ("IXOTH", 0o001),
    ];
    let Some(first) = args.first() else { return Err("umask missing bit value".into()) };
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        if args.len() != 1 {
            return Err("Extra parameter(s) to umask option".into());
        }
        let v = if let Some(h) = first.strip_prefix("0x").or_else(|| first.strip_prefix("0X")) {
            u32::from_str_radix(h, 16).ok()
        } else if first.len() > 1 && first.starts_with('0') {
            u32::from_str_radix(&first[1..], 8).ok()
        } else {
            first.parse().ok()
        };
        return v.filter(|v| v & !0o777 == 0).ok_or_else(|| format!("invalid umask value {first}"));
    }
    let mut bits = 0;
    let mut need_or = false;
    for a in args {
        let mut p: &str = a;
        while !p.is_empty() {
            if need_or {
                match p.strip_prefix('|') {
                    Some(r) => {
                        p = r;
                        need_or = false;
                        continue;
                    }
                    None => return Err(format!("Invalid umask syntax {a}")),
                }
            }
            match BITS.iter().find(|(name, _)| p.starts_with(name)) {
                Some((name, b)) => {
                    bits |= b;
                    p = &p[name.len()..];
                    need_or = true;
                }
                None => return Err(format!("Unknown umask bit {p}")),
            }
        }
    }
    if !need_or {
        return Err("umask missing bit value".into());
    }
    Ok(bits)
}

/// keepalived's vrrp_rx_bufs_policy: MTU, ADVERT (any case) or a size;
/// its complaints. (It reads the size from the first word whatever word it
/// is looking at.)
fn rx_bufs_policy(args: &[Text<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = args.first() else { return vec!["vrrp_rx_bufs_policy missing".into()] };
    let (mut mtu, mut advert, mut size) = (false, false, false);
    for a in args {
        match a.to_ascii_uppercase().as_str() {
            "MTU" => mtu = true,
            "ADVERT" => advert = true,
            _ => {
                if first.starts_with('-') {
                    out.push(format!("negative number '{first}'"));
                    out.push(format!("Invalid vrrp_rx_bufs_policy {a}"));
                } else if parse_i64(first).and_then(|v| u32::try_from(v).ok()).is_some() {
                    size = true;
                } else {
                    out.push(format!("invalid number '{first}'"));
                    out.push(format!("Invalid vrrp_rx_bufs_policy {a}"));
                }
            }
        }
    }
    if size && (mtu || advert) {
        out.push("Cannot set vrrp_rx_bufs_policy size and policy, ignoring policy".into());
    } else if mtu && advert {
        out.push("Cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT".into());
    }
    out
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// `lvs_sync_daemon IF VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]`
fn lvs_sync_daemon(ctx: &mut Ctx<'_>, n: &Node) -> Option<LvsSyncDaemon> {
    let Some(interface) = n.arg(0) else {
        ctx.warn(n.pos, "lvs_sync_daemon requires an interface");
        return None;
    };
    let inst = n.arg(1).unwrap_or_default();
    let mut d = LvsSyncDaemon { interface: interface.into(), vrrp_instance: inst.into(), ..Default::default() };
    let mut i = 2;
    while i < n.args.len() {
        let val = n.arg(i + 1);
        let num = val.and_then(parse_i64);
        match &*n.args[i] {
            "id" => d.id = num.and_then(|v| u8::try_from(v).ok()),
            "maxlen" => d.maxlen = num.and_then(|v| u16::try_from(v).ok()),
            "port" => d.port = num.and_then(|v| u16::try_from(v).ok()),
            "ttl" => d.ttl = num.and_then(|v| u8::try_from(v).ok()),
            "group" => d.group = val.and_then(parse_ip),
            other => ctx.warn(n.pos, format!("Unknown option {other} specified for lvs_sync_daemon")),
        }
        i += 2;
    }
    Some(d)
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`
fn lvs_timeouts(ctx: &mut Ctx<'_>, n: &Node) -> Option<LvsTimeouts> {
    let mut t = LvsTimeouts::default();
    if n.args.is_empty() {
        ctx.warn(n.pos, "lvs_timeouts requires at least one option");
        return None;
    }
    let mut i = 0;
    while i < n.args.len() {
        let v = n.arg(i + 1).and_then(parse_i64).and_then(|v| u32::try_from(v).ok());
        match (&*n.args[i], v) {
            ("tcp", Some(v)) => t.tcp = Some(v),
            ("tcpfin", Some(v)) => t.tcpfin = Some(v),
            ("udp", Some(v)) => t.udp = Some(v),
            (k, _) => ctx.warn(n.pos, format!("Unknown or invalid lvs_timeouts option '{k}'")),
        }
        i += 2;
    }
    Some(t)
}

/// keepalived looks script users and groups up by name.
pub fn user_exists(name: &str) -> bool {
    matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
}

pub fn group_exists(name: &str) -> bool {
    matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
}
