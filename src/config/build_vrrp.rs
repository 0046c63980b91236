//! VRRP sections: `vrrp_script`, `vrrp_track_file`, `vrrp_track_process`,
//! `vrrp_sync_group`, `vrrp_instance`.

use super::addr::{self, parse_ip};
use super::model::{
    AuthType, Authentication, Centiseconds, InitialState, Script, SyncGroup, TrackFileDef, TrackProcessDef,
    TrackRef, UnicastPeer, VrrpInstance, VrrpScript,
};
use super::tree::Node;
use super::values::{ArgSpec, Ctx, parse_i64};

/// A vrrp_script's interval and timeout: whole seconds up to UINT_MAX / 10^6.
const MAX_SCRIPT_SECS: i64 = 4294;


/// The advert interval keepalived reads: 0.01 s to 255 s.
const MIN_ADVERT_MICROS: u64 = 10_000;
const MAX_ADVERT_MICROS: u64 = 255_000_000;
/// VRRP authentication data is 8 bytes.
const AUTH_PASS_LEN: usize = 8;

fn name_of(ctx: &mut Ctx<'_>, n: &Node) -> Option<String> {
    match n.arg(0) {
        Some(s) => Some(s.to_string()),
        None => {
            ctx.warn(n.pos, format!("{} requires a name", n.keyword));
            None
        }
    }
}

pub fn vrrp_script(ctx: &mut Ctx<'_>, n: &Node) -> Option<VrrpScript> {
    let name = name_of(ctx, n)?;
    let mut s = VrrpScript { name, ..Default::default() };
    let mut script: Option<Script> = None;
    let mut user: Option<(String, Option<String>)> = None;
    for c in ctx.need_block(n) {
        ctx.no_block(c);
        match &*c.keyword {
            // The command is the first word (quoted for arguments); further
            // words are ignored: the user comes from `user`
            // (vrrp_vscript_script_handler).
            "script" => {
                if let Some(cmd) = ctx.arg(c, 0) {
                    let argv = super::values::split_script(cmd);
                    script = (!argv.is_empty()).then_some(Script { argv, user: None, group: None });
                }
            }
            // Whole seconds, 0 ..= 4294 (UINT_MAX / TIMER_HZ); 0 is taken as 1.
            "interval" | "timeout" => {
                let a = c.arg(0).unwrap_or("");
                let what = &c.keyword;
                let v = match parse_i64(a).filter(|v| (0..=MAX_SCRIPT_SECS).contains(v)) {
                    Some(0) => {
                        ctx.warn(c.pos, format!("({}): vrrp script {what} must be greater than 0, setting to 1", s.name));
                        Some(1)
                    }
                    Some(v) => Some(v as u32),
                    None => {
                        ctx.warn(c.pos, super::values::unsigned_complaint(a, 0, MAX_SCRIPT_SECS));
                        ctx.warn(c.pos, match &**what {
                            "interval" => format!("({}): vrrp script interval '{a}' must be between 1 and {MAX_SCRIPT_SECS} - ignoring", s.name),
                            _ => format!("({}): vrrp script timeout '{a}' invalid - ignoring", s.name),
                        });
                        None
                    }
                };
                if let Some(v) = v {
                    if *what == "interval" {
                        s.interval = v;
                    } else {
                        s.timeout = Some(v);
                    }
                }
            }
            "weight" => {
                if let Some(w) = ctx.int(c, -253, 253) {
                    s.weight = w as i32;
                    match c.arg(1) {
                        None => {}
                        Some("reverse") => s.weight_reverse = true,
                        Some(o) => ctx.warn(c.pos, format!("vrrp_script {} unknown weight option {o}", s.name)),
                    }
                }
            }
            "rise" => set(&mut s.rise, ctx.u32(c, 1, u32::MAX)),
            "fall" => set(&mut s.fall, ctx.u32(c, 1, u32::MAX)),
            "init_fail" => s.init_fail = true,
            "user" => {
                if let Some(u) = ctx.arg(c, 0) {
                    let g = c.arg(1);
                    if super::build_global::user_exists(u) && g.is_none_or(super::build_global::group_exists) {
                        user = Some((u.to_string(), g.map(String::from)));
                    } else {
                        ctx.warn(c.pos, format!("Unable to set uid/gid for vrrp script {}", s.name));
                    }
                }
            }
            _ => ctx.unknown(c),
        }
    }
    match script {
        Some(mut sc) => {
            if let Some((u, g)) = user {
                sc.user = Some(u);
                sc.group = g;
            }
            s.script = sc;
            Some(s)
        }
        None => {
            ctx.warn(n.pos, format!("No script set for vrrp_script {} - removing", s.name));
            None
        }
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

pub fn track_file_def(ctx: &mut Ctx<'_>, n: &Node) -> Option<TrackFileDef> {
    let name = name_of(ctx, n)?;
    let mut t = TrackFileDef { name, weight: 1, ..Default::default() };
    let mut weight_set = false;
    for c in ctx.need_block(n) {
        ctx.no_block(c);
        match &*c.keyword {
            "weight" if weight_set => {
                ctx.warn(c.pos, format!("Weight already set for track file {} - ignoring {}", t.name, c.args.join(" ")))
            }
            "file" if !t.file.is_empty() => {
                ctx.warn(c.pos, format!("File already set for track file {} - ignoring {}", t.name, c.args.join(" ")))
            }
            "file" => t.file = ctx.string(c).unwrap_or_default(),
            "weight" => {
                weight_set = true;
                if let Some(w) = ctx.int(c, -254, 254) {
                    t.weight = w as i32;
                    t.weight_reverse = c.arg(1) == Some("reverse");
                }
            }
            "init_file" => {
                let v = c.arg(0).and_then(parse_i64).unwrap_or(0) as i32;
                t.init_file = Some((v, c.args.iter().any(|a| a == "overwrite")));
            }
            _ => ctx.unknown(c),
        }
    }
    if t.file.is_empty() {
        ctx.warn(n.pos, format!("No file set for track_file {} - removing", t.name));
        return None;
    }
    Some(t)
}

pub fn track_process_def(ctx: &mut Ctx<'_>, n: &Node) -> Option<TrackProcessDef> {
    let name = name_of(ctx, n)?;
    let mut t = TrackProcessDef { name, quorum: 1, ..Default::default() };
    for c in ctx.need_block(n) {
        ctx.no_block(c);
        match &*c.keyword {
            "process" => t.process = c.args.iter().map(|a| a.to_string()).collect(),
            // keepalived takes exact (no value), initial or partial, the
            // parameters coming from the `process` line (vrrp/watch.rs).
            "param_match" => match c.arg(0) {
                None => t.param_match = Some("exact".to_string()),
                Some(o @ ("initial" | "partial")) => t.param_match = Some(o.to_string()),
                Some(o) => ctx.warn(c.pos, format!("Invalid param_match type {o} - ignoring")),
            },
            "weight" => {
                if let Some(w) = ctx.int(c, -254, 254) {
                    t.weight = w as i32;
                    t.weight_reverse = c.arg(1) == Some("reverse");
                }
            }
            "quorum" => set(&mut t.quorum, ctx.u32(c, 1, 65535)),
            "quorum_max" => t.quorum_max = ctx.u32(c, 0, 65535),
            "delay" | "terminate_delay" | "fork_delay" => {
                let a = c.arg(0).unwrap_or("");
                let r = super::values::read_decimal_micros(a, 1, 3_600_000_000);
                for m in r.complaints {
                    ctx.warn(c.pos, m);
                }
                let prefix = c.keyword.strip_suffix("delay").unwrap_or("");
                match r.value.map(super::model::Microseconds) {
                    None => ctx.warn(
                        c.pos,
                        format!("{prefix}delay ({a}) for vrrp_track_process {} must be between [0.000001..3600] inclusive. Ignoring...", t.name),
                    ),
                    Some(d) => match &*c.keyword {
                        "delay" => t.delay = Some(d),
                        "terminate_delay" => t.terminate_delay = Some(d),
                        _ => t.fork_delay = Some(d),
                    },
                }
            }
            "full_command" => t.full_command = true,
            _ => ctx.unknown(c),
        }
    }
    if t.process.is_empty() {
        ctx.warn(n.pos, format!("No process set for vrrp_track_process {} - removing", t.name));
        return None;
    }
    Some(t)
}

/// `IFNAME [weight N [reverse]]` lines of a track_interface block, as
/// keepalived's alloc_track_if reads them (`owner`: the instance or group).
fn track_interface_refs(ctx: &mut Ctx<'_>, n: &Node, owner: &str) -> Vec<TrackRef> {
    let mut out: Vec<TrackRef> = Vec::new();
    for c in ctx.value_block(n) {
        let name = &c.keyword;
        if out.iter().any(|o| &o.name == name) {
            ctx.warn(c.pos, format!("({owner}) duplicate track_interface {name} - ignoring"));
            continue;
        }
        let mut r = TrackRef { name: name.to_string(), weight: None, reverse: false };
        match c.args {
            [] => {}
            [o, ..] if o != "weight" => {
                ctx.warn(c.pos, format!("({owner}) unknown track_interface {name} option {o} - ignoring"));
                continue;
            }
            [_] => {
                ctx.warn(c.pos, format!("({owner}) weight without value specified for track_interface {name} - ignoring"));
                continue;
            }
            [_, w, rest @ ..] => {
                r.weight = Some(match parse_i64(w).filter(|w| (-254..=254).contains(w)) {
                    Some(w @ (-254 | 254)) => {
                        ctx.warn(c.pos, format!("({owner}) weight for {name} cannot be +/-254. Setting to +/-253"));
                        if w < 0 { -253 } else { 253 }
                    }
                    Some(w) => w as i32,
                    None => {
                        ctx.warn(c.pos, format!("({owner}) weight {w} for {name} must be between [-253..253] inclusive. Ignoring..."));
                        0
                    }
                });
                match rest.first().map(|a| &**a) {
                    None => {}
                    Some("reverse") => r.reverse = true,
                    // keepalived's own spelling.
                    Some(o) => ctx.warn(c.pos, format!("({owner}) unknown track_interace {name} weight option {o} - ignoring")),
                }
            }
        }
        out.push(r);
    }
    out
}

/// `NAME [weight N [reverse|noreverse]]` lines of the track_script,
/// track_file and track_process blocks, as keepalived's alloc_track_* read
/// them (`owner`: the instance or sync group); track_bfd keeps the simple
/// reading (vigil has no BFD).
fn track_refs(ctx: &mut Ctx<'_>, n: &Node, owner: &str) -> Vec<TrackRef> {
    let what = n.keyword.strip_prefix("track_").unwrap_or(&n.keyword).to_string();
    let mut out: Vec<TrackRef> = Vec::new();
    for c in ctx.value_block(n) {
        let name = &c.keyword;
        let mut r = TrackRef { name: name.to_string(), weight: None, reverse: false };
        match c.args {
            [] => {}
            [o, ..] if o != "weight" => {
                ctx.warn(c.pos, format!("({owner}) unknown track {what} option {o} - ignoring"));
                continue;
            }
            [_] => {
                ctx.warn(c.pos, format!("({owner}) weight without value specified for track {what} {name} - ignoring"));
                continue;
            }
            [_, w, rest @ ..] => {
                match parse_i64(w).filter(|w| (-254..=254).contains(w)) {
                    Some(w @ (-254 | 254)) if what == "script" => {
                        ctx.warn(c.pos, format!("({owner}) weight for {name} cannot be +/-254. Setting to +/-253"));
                        r.weight = Some(if w < 0 { -253 } else { 253 });
                    }
                    Some(w) => r.weight = Some(w as i32),
                    None => ctx.warn(c.pos, match what.as_str() {
                        "script" => format!("({owner}) track script {name}: weight must be between [-253..253] inclusive, ignoring..."),
                        _ => format!("({owner}) weight for track {what} {name} must be in [-254..254] inclusive. Ignoring..."),
                    }),
                }
                match rest.first().map(|a| &**a) {
                    None | Some("noreverse") => {}
                    Some("reverse") => r.reverse = true,
                    Some(o) if what == "file" => {
                        ctx.warn(c.pos, format!("({owner}) unknown track file {name} weight option {o} - ignoring"));
                        continue;
                    }
                    Some(o) => ctx.warn(c.pos, format!("({owner}) unknown track_{what} {name} weight option {o} - ignoring")),
                }
            }
        }
        if out.iter().any(|o| o.name == r.name) {
            ctx.warn(c.pos, format!("duplicate {} {} - ignoring", n.keyword, r.name));
            continue;
        }
        out.push(r);
    }
    out
}

/// track_bfd lines, as keepalived's alloc_track_bfd reads them:
/// `NAME [weight N [reverse|noreverse]]`, NAME a `bfd_instance` defined
/// above this line that tells the VRRP process its state; without a weight,
/// the instance's own `weight` (and `reverse`). Appended to `out`, which
/// may already hold the lines of an earlier block.
fn bfd_refs(ctx: &mut Ctx<'_>, n: &Node, owner: &str, out: &mut Vec<TrackRef>) {
    let (lo, hi) = super::model::bfd_limits::WEIGHT;
    for c in ctx.value_block(n) {
        let name = &c.keyword;
        let Some((default_weight, default_reverse)) = ctx.bfd.vrrp_weight(name) else {
            ctx.warn(c.pos, format!("({owner}) track bfd {name} not found, ignoring..."));
            continue;
        };
        if out.iter().any(|t| &t.name == name) {
            ctx.warn(c.pos, format!("({owner}) duplicate track_bfd {name} - ignoring"));
            continue;
        }
        let mut r = TrackRef { name: name.to_string(), weight: Some(default_weight), reverse: default_reverse };
        match c.args {
            [] => {}
            [o, ..] if o != "weight" => {
                ctx.warn(c.pos, format!("({owner}) unknown track bfd {name} option {o} - ignoring"));
                continue;
            }
            [_] => {
                ctx.warn(c.pos, format!("({owner}) weight without value specified for track bfd {name} - ignoring"));
                continue;
            }
            [_, w, rest @ ..] => {
                match parse_i64(w).filter(|w| (i64::from(lo)..=i64::from(hi)).contains(w)) {
                    Some(w) => r.weight = Some(w as i32),
                    None => {
                        if parse_i64(w).is_some() {
                            ctx.warn(c.pos, format!("number '{w}' outside range [{lo}, {hi}]"));
                        }
                        ctx.warn(
                            c.pos,
                            format!("({owner}) weight for track bfd {name} must be in [{lo}..{hi}] inclusive. Ignoring..."),
                        )
                    }
                }
                match rest.first().map(|a| &**a) {
                    None => {}
                    Some("reverse") => r.reverse = true,
                    Some("noreverse") => r.reverse = false,
                    Some(o) => {
                        ctx.warn(c.pos, format!("({owner}) unknown track bfd {name} weight option {o} - ignoring"));
                        continue;
                    }
                }
            }
        }
        out.push(r);
    }
}

pub fn sync_group(ctx: &mut Ctx<'_>, n: &Node) -> Option<SyncGroup> {
    let name = name_of(ctx, n)?;
    let mut g = SyncGroup { name, ..Default::default() };
    for c in ctx.need_block(n) {
        match &*c.keyword {
            "group" => {
                for m in ctx.value_block(c) {
                    g.group.push(m.keyword.to_string());
                    g.group.extend(m.args.iter().map(|a| a.to_string()));
                }
            }
            "track_interface" => {
                let owner = g.name.clone();
                g.track_interfaces = track_interface_refs(ctx, c, &owner)
            }
            "track_script" | "track_file" | "track_process" => {
                let owner = g.name.clone();
                let refs = track_refs(ctx, c, &owner);
                match &*c.keyword {
                    "track_script" => g.track_scripts = refs,
                    "track_file" => g.track_files = refs,
                    _ => g.track_processes = refs,
                }
            }
            "track_bfd" => {
                let owner = g.name.clone();
                bfd_refs(ctx, c, &owner, &mut g.track_bfds);
            }
            kw => {
                ctx.no_block(c);
                match kw {
                    "notify" => {
                        let owner = g.name.clone();
                        ctx.script_once(c, &mut g.notify, &owner)
                    }
                    "notify_master" => {
                        let owner = g.name.clone();
                        ctx.script_once(c, &mut g.notify_master, &owner)
                    }
                    "notify_backup" => {
                        let owner = g.name.clone();
                        ctx.script_once(c, &mut g.notify_backup, &owner)
                    }
                    "notify_fault" => {
                        let owner = g.name.clone();
                        ctx.script_once(c, &mut g.notify_fault, &owner)
                    }
                    "notify_stop" => {
                        let owner = g.name.clone();
                        ctx.script_once(c, &mut g.notify_stop, &owner)
                    }
                    "smtp_alert" => g.smtp_alert = ctx.flag(c),
                    "global_tracking" => {
                        ctx.warn(c.pos, format!("({}) global_tracking is deprecated. Use track_interface/script/file on the sync group", g.name));
                        g.global_tracking = true
                    }
                    "notify_priority_changes" if c.arg(0).is_some_and(|a| super::values::parse_bool(a).is_none()) => ctx.warn(
                        c.pos,
                        format!("({}) Invalid value '{}' for sync group notify_priority_changes specified", g.name, c.arg(0).unwrap_or("")),
                    ),
                    "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
                    "notify_deleted" | "notify_priority_changes" => {
                        let raw = ctx.raw(c);
                        g.other.push(raw)
                    }
                    _ => ctx.unknown(c),
                }
            }
        }
    }
    Some(g)
}

/// vrrp_instance keywords keepalived knows and we keep unmodelled.
const RAW_INSTANCE: &[(&str, ArgSpec)] = {
    use ArgSpec::*;
    &[
        ("debug", Num(0, 4)), ("native_ipv6", Any),
        ("kernel_rx_buf_size", Num(0, u32::MAX as i64)), ("mcast_dst_ip", Word), ("old_unicast_checksum", Any),
        ("promote_secondaries", Any), ("track_src_ip", Any), ("unicast_fault_no_peer", Any),
        ("unicast_ttl", Num(1, 255)), ("use_ipvlan", Any), ("use_vmac_addr", Any),
        ("notify_priority_changes", Any), ("down_timer_adverts", Num(1, 100)), ("vrf", Word),
        ("notify_deleted", Any),
    ]
};

pub fn vrrp_instance(ctx: &mut Ctx<'_>, n: &Node, next_pref: &mut u32) -> Option<VrrpInstance> {
    let name = name_of(ctx, n)?;
    let mut v = VrrpInstance { name, ..Default::default() };
    let mut priority_set = false;
    for c in ctx.need_block(n) {
        if c.keyword == "priority" {
            priority_set = true;
        }
        let kw = &*c.keyword;
        match kw {
            "authentication" => {
                if let Some(auth) = authentication(ctx, c, &v.name) {
                    v.authentication = Some(auth);
                }
            }
            "virtual_ipaddress" => {
                for a in ctx.value_block(c) {
                    let list = addr::ip_address_line(ctx, a, false);
                    v.virtual_ipaddress.extend(list);
                }
            }
            "virtual_ipaddress_excluded" => {
                for a in ctx.value_block(c) {
                    let list = addr::ip_address_line(ctx, a, false);
                    v.virtual_ipaddress_excluded.extend(list);
                }
            }
            "virtual_routes" => {
                for a in ctx.value_block(c) {
                    if let Some(r) = super::route::route_line(ctx, a, false) {
                        v.virtual_routes.push(r);
                    }
                }
            }
            "virtual_rules" => {
                for a in ctx.value_block(c) {
                    if let Some(r) = super::rule::rule_line(ctx, a, next_pref) {
                        v.virtual_rules.push(r);
                    }
                }
            }
            "unicast_peer" => {
                for a in ctx.value_block(c) {
                    match parse_ip(&a.keyword) {
                        Some(addr) => {
                            let mut p = UnicastPeer { addr, min_ttl: None, max_ttl: None };
                            // OPTION VALUE pairs (alloc_vrrp_unicast_peer).
                            let mut i = 0;
                            while i < a.args.len() {
                                let opt = &*a.args[i];
                                let Some(val) = a.arg(i + 1) else {
                                    ctx.warn(a.pos, format!("({}) {opt} is missing a value", v.name));
                                    break;
                                };
                                match parse_i64(val).and_then(|x| u8::try_from(x).ok()).filter(|_| !val.starts_with('-')) {
                                    None => ctx.warn(a.pos, super::values::unsigned_complaint(val, 0, 255)),
                                    Some(t) => match opt {
                                        "min_ttl" => p.min_ttl = Some(t),
                                        "max_ttl" => p.max_ttl = Some(t),
                                        _ => {
                                            ctx.warn(a.pos, format!("({}) unknown unicast_peer option {opt}", v.name));
                                            break;
                                        }
                                    },
                                }
                                i += 2;
                            }
                            if p.min_ttl.unwrap_or(0) > p.max_ttl.unwrap_or(255) {
                                ctx.warn(
                                    a.pos,
                                    format!(
                                        "({}) min_ttl {} > max_ttl {} - all packets will be discarded",
                                        v.name,
                                        p.min_ttl.unwrap_or(0),
                                        p.max_ttl.unwrap_or(255)
                                    ),
                                );
                            }
                            v.unicast_peers.push(p);
                        }
                        None => ctx.warn(a.pos, format!("({}) Invalid unicast peer address '{}'", v.name, a.keyword)),
                    }
                }
            }
            "track_interface" => {
                let owner = v.name.clone();
                let refs = track_interface_refs(ctx, c, &owner);
                v.track_interfaces.extend(refs)
            }
            "track_script" | "track_file" | "track_process" => {
                let owner = v.name.clone();
                let refs = track_refs(ctx, c, &owner);
                match &*c.keyword {
                    "track_script" => v.track_scripts.extend(refs),
                    "track_file" => v.track_files.extend(refs),
                    _ => v.track_processes.extend(refs),
                }
            }
            "track_bfd" => {
                let owner = v.name.clone();
                bfd_refs(ctx, c, &owner, &mut v.track_bfds);
            }
            _ => {
                ctx.no_block(c);
                instance_scalar(ctx, c, &mut v);
            }
        }
    }
    // keepalived makes a MASTER with no priority the address owner.
    if !priority_set && v.state == InitialState::Master {
        v.priority = 255;
    }
    // The state and preemption rules that depend on strict mode (known once
    // the whole file is read) are in validate.
    // The first VIP sets the instance's family; keepalived drops the others.
    if let Some(first) = v.virtual_ipaddress.first().map(|a| a.addr.is_ipv4()) {
        let name = v.name.clone();
        let vip_pos = child_line(n, "virtual_ipaddress");
        v.virtual_ipaddress.retain(|a| {
            let same = a.addr.is_ipv4() == first;
            if !same {
                ctx.warn(vip_pos, format!("({name}): address family must match VRRP instance [{}/{}] - ignoring", a.addr, a.prefix_len));
            }
            same
        });
    }
    Some(v)
}

/// An `authentication { auth_type ...; auth_pass ... }` block: the
/// authentication, if it names a type.
fn authentication(ctx: &mut Ctx<'_>, c: &Node, name: &str) -> Option<Authentication> {
    let mut auth = Authentication::default();
    let mut have_type = false;
    for a in ctx.need_block(c) {
        ctx.no_block(a);
        match &*a.keyword {
            "auth_type" => match a.arg(0) {
                Some("PASS") => {
                    auth.auth_type = AuthType::Pass;
                    have_type = true
                }
                Some("AH") => {
                    auth.auth_type = AuthType::Ah;
                    have_type = true
                }
                other => ctx.warn(a.pos, format!("({name}) unknown authentication type '{}'", other.unwrap_or(""))),
            },
            "auth_pass" => {
                if let Some(p) = ctx.arg(a, 0) {
                    let mut p = p.to_string();
                    if p.len() > AUTH_PASS_LEN {
                        ctx.warn(a.pos, format!("Truncating auth_pass to {AUTH_PASS_LEN} characters"));
                        let mut cut = AUTH_PASS_LEN;
                        while !p.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        p.truncate(cut);
                    }
                    auth.auth_pass = p;
                }
            }
            _ => ctx.unknown(a),
        }
    }
    have_type.then_some(auth)
}

/// An `advert_int` line's value in microseconds (keepalived reads it with
/// 6 decimal places, between 0.01 s and 255 s), with keepalived's
/// complaints about the number.
pub(super) fn advert_micros(c: &Node) -> (Option<u64>, Vec<String>) {
    let r = super::values::read_decimal_micros(c.arg(0).unwrap_or(""), MIN_ADVERT_MICROS, MAX_ADVERT_MICROS);
    (r.value, r.complaints)
}

/// Whether an IPv4 address read so far (VIPs, unicast peers, source
/// addresses) made the instance's family IPv4.
fn ipv4_so_far(v: &VrrpInstance) -> bool {
    let first = v
        .virtual_ipaddress
        .first()
        .map(|a| a.addr)
        .or(v.unicast_src_ip)
        .or(v.mcast_src_ip)
        .or(v.unicast_peers.first().map(|p| p.addr));
    first.is_some_and(|a| a.is_ipv4())
}

fn child_line(n: &Node, kw: &str) -> super::diag::Pos {
    n.children().iter().find(|c| c.keyword == kw).map(|c| c.pos).unwrap_or(n.pos)
}

fn instance_scalar(ctx: &mut Ctx<'_>, c: &Node, v: &mut VrrpInstance) {
    match &*c.keyword {
        "state" => match c.arg(0) {
            Some("MASTER") => v.state = InitialState::Master,
            Some("BACKUP") => v.state = InitialState::Backup,
            other => ctx.warn(c.pos, format!("({}) unknown state '{}', defaulting to BACKUP", v.name, other.unwrap_or(""))),
        },
        "interface" => v.interface = ctx.string(c),
        "virtual_router_id" => match c.arg(0).and_then(parse_i64) {
            Some(id) if (1..=255).contains(&id) => v.virtual_router_id = id as u8,
            _ => ctx.warn(c.pos, format!("({}) VRID '{}' not valid - must be between 1 & 255", v.name, c.arg(0).unwrap_or(""))),
        },
        "priority" => match c.arg(0).and_then(parse_i64) {
            Some(p) if (1..=255).contains(&p) => v.priority = p as u8,
            _ => ctx.warn(c.pos, format!("({}) Priority not valid! must be between 1 & 255. Using default 100", v.name)),
        },
        "advert_int" => match advert_micros(c) {
            (Some(us), complaints) => {
                for m in complaints {
                    ctx.warn(c.pos, m);
                }
                // Rounded to the centisecond here; validate reports (and
                // rounds) what the instance's VRRP version cannot carry.
                v.advert_int = Centiseconds(((us + 5_000) / 10_000).min(u64::from(u32::MAX)) as u32);
            }
            (None, complaints) => {
                for m in complaints {
                    ctx.warn(c.pos, m);
                }
                ctx.warn(c.pos, format!("({}) Advert interval ({}) not valid! Must be > 0 - ignoring", v.name, c.arg(0).unwrap_or("")));
            }
        },
        "version" => match c.arg(0).and_then(parse_i64) {
            Some(x @ 2..=3) => v.version = Some(x as u8),
            _ => ctx.warn(c.pos, format!("({}) Version not valid! must be between 2 & 3", v.name)),
        },
        "nopreempt" => v.nopreempt = true,
        "preempt" => v.nopreempt = false,
        "preempt_delay" => {
            if let Some(d) = ctx.timer(c, 0.0, 1000.0) {
                v.preempt_delay = d;
            }
        }
        "accept" => v.accept = Some(true),
        "no_accept" => v.accept = Some(false),
        "unicast_src_ip" => match c.arg(0).and_then(parse_ip) {
            Some(a) => v.unicast_src_ip = Some(a),
            None => ctx.warn(
                c.pos,
                format!("Configuration error: VRRP instance[{}] malformed src address[{}]. Skipping...", v.name, c.arg(0).unwrap_or("")),
            ),
        },
        "linkbeat_use_polling" => {
            ctx.warn(c.pos, format!("({}) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block", v.name))
        }
        "garp_extra_if" => {
            let secs = if c.arg(0) == Some("all") { c.arg(1) } else { c.arg(0) };
            match secs.and_then(parse_i64) {
                Some(x) if (0..=86400).contains(&x) => {
                    let raw = ctx.raw(c);
                    v.other.push(raw);
                }
                Some(_) => ctx.warn(c.pos, format!("({}): garp_extra_if '{}' invalid - ignoring", v.name, c.args.join(" "))),
                None => ctx.warn(c.pos, format!("({}): garp_extra_if specified without time - ignoring", v.name)),
            }
        }
        "mcast_dst_ip" => match c.arg(0).and_then(parse_ip) {
            Some(a) if a.is_multicast() => {
                let raw = ctx.raw(c);
                v.other.push(raw);
            }
            _ => ctx.warn(c.pos, format!("({}) malformed mcast dest address {}. Skipping...", v.name, c.arg(0).unwrap_or(""))),
        },
        "mcast_src_ip" => match c.arg(0).and_then(parse_ip) {
            Some(a) => v.mcast_src_ip = Some(a),
            None => ctx.warn(c.pos, format!("({}) Invalid mcast_src_ip '{}'", v.name, c.arg(0).unwrap_or(""))),
        },
        "use_vmac" if c.args.len() > 1 => ctx.warn(c.pos, "VMAC interface name already specified"),
        "use_vmac" => {
            if v.use_vmac.as_ref().is_some_and(|n| !n.is_empty()) && c.arg(0).is_some() {
                ctx.warn(c.pos, "VMAC interface name already specified");
            } else if v.use_vmac.as_ref().is_none_or(|n| n.is_empty()) {
                v.use_vmac = Some(c.arg(0).map(String::from).unwrap_or_default());
            }
        }
        "vmac_xmit_base" => v.vmac_xmit_base = true,
        "garp_master_delay" => v.garp_master_delay = ctx.u32(c, 0, 86400),
        "garp_master_repeat" => match c.arg(0).and_then(parse_i64) {
            Some(0) => {
                ctx.warn(c.pos, format!("({}): garp_master_repeat must be greater than 0, setting to 1", v.name));
                v.garp_master_repeat = Some(1);
            }
            _ => v.garp_master_repeat = ctx.u32(c, 1, 1_000_000),
        },
        "garp_master_refresh" => v.garp_master_refresh = ctx.u32(c, 0, 1_000_000),
        "garp_master_refresh_repeat" => match c.arg(0).and_then(parse_i64) {
            Some(0) => {
                ctx.warn(c.pos, format!("({}): garp_master_refresh_repeat must be greater than 0, setting to 1", v.name));
                v.garp_master_refresh_repeat = Some(1);
            }
            _ => v.garp_master_refresh_repeat = ctx.u32(c, 1, 1_000_000),
        },
        "notify_priority_changes" if c.arg(0).is_some_and(|a| super::values::parse_bool(a).is_none()) => ctx.warn(
            c.pos,
            format!("({}) Invalid value '{}' for notify_priority_changes specified", v.name, c.arg(0).unwrap_or("")),
        ),
        // Order matters, as in keepalived: `interface` already read.
        "vrf" if v.interface.is_some() => {
            ctx.warn(c.pos, format!("({}) Cannot specify VRF interface and interface - ignoring", v.name))
        }
        "vrf" if c.arg(0).is_some_and(|n| n.len() >= 16) => {
            ctx.warn(c.pos, format!("({}) VRF interface name '{}' too long - ignoring", v.name, c.arg(0).unwrap_or("")))
        }
        // The family is IPv4 once an IPv4 address has been read.
        "native_ipv6" if ipv4_so_far(v) => {
            ctx.warn(c.pos, format!("({}) Cannot specify native_ipv6 with IPv4 addresses", v.name))
        }
        "garp_lower_prio_delay" => v.garp_lower_prio_delay = ctx.u32(c, 0, 86400),
        "garp_lower_prio_repeat" => v.garp_lower_prio_repeat = ctx.u32(c, 0, 1_000_000),
        "lower_prio_no_advert" => v.lower_prio_no_advert = ctx.flag(c),
        "higher_prio_send_advert" => v.higher_prio_send_advert = ctx.flag(c),
        "notify" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify, &owner)
        }
        "notify_master" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify_master, &owner)
        }
        "notify_backup" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify_backup, &owner)
        }
        "notify_fault" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify_fault, &owner)
        }
        "notify_stop" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify_stop, &owner)
        }
        "notify_master_rx_lower_pri" => {
            let owner = v.name.clone();
            ctx.script_once(c, &mut v.notify_master_rx_lower_pri, &owner)
        }
        "smtp_alert" => v.smtp_alert = ctx.flag(c),
        "dont_track_primary" => v.dont_track_primary = true,
        "skip_check_adv_addr" => v.skip_check_adv_addr = ctx.flag(c),
        "strict_mode" => v.strict_mode = ctx.flag(c),
        "check_unicast_src" => v.check_unicast_src = true,
        "lvs_sync_daemon_interface" => {
            ctx.warn(c.pos, format!("({}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.", v.name));
            v.lvs_sync_daemon_interface = c.arg(0).map(String::from);
        }
        k if let Some((_, spec)) = RAW_INSTANCE.iter().find(|(name, _)| *name == k) => {
            if let Some(raw) = ctx.raw_checked(c, *spec) {
                v.other.push(raw);
            }
        }
        _ => ctx.unknown(c),
    }
}
