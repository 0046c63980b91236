//! keepalived's checks of each vrrp_instance once the whole file is read
//! (its vrrp_parser.c and vrrp_data.c complaints): duplicates, interfaces
//! and VMACs, unicast peers, tracking, priorities, state and preemption,
//! strict mode, authentication, advert intervals and VRID clashes.

use super::diag::{Diags, Pos};
use super::model::{AuthType, Centiseconds, Config, InitialState, VrrpInstance};
use super::tree::Node;
use super::validate::*;
use std::collections::HashMap;

pub(super) fn vrrp(cfg: &mut Config, tree: &[Node], env: &HostEnv, diags: &mut Diags, missing_if: &mut bool) {
    // Scripts keepalived disables leave the instances before their weights
    // are judged, without a word (the reasons are reported with the scripts).
    let disabled = super::script_security::disabled_vrrp_scripts(cfg, env);
    for inst in cfg.vrrp_instances.iter_mut() {
        inst.track_scripts.retain(|t| !disabled.contains(&t.name));
    }
    let tracked = TrackedNames::of(cfg);
    let global_version = cfg.global.vrrp_version;
    let strict = cfg.global.vrrp_strict;
    // (instance, VMAC name) of the VMACs named so far.
    let mut vmac_names: Vec<(String, String)> = Vec::new();
    // (interface, family is v6, vrid) -> instance name
    let mut vrids: HashMap<(String, bool, u8), String> = HashMap::new();
    drop_duplicate_instances(cfg, tree, diags);
    for inst in &mut cfg.vrrp_instances {
        let lines = InstanceLines::of(tree, &inst.name);
        check_interface(&lines, inst, env, diags, missing_if);
        check_vmac_name(&lines, inst, env, diags, &mut vmac_names);
        check_unicast(&lines, inst, diags);
        check_vmac_options(&lines, inst, diags);
        check_tracking(&lines, inst, &tracked, env, diags, missing_if);
        drop_floating_priority(&lines, inst, &tracked, diags);
        check_address_devices(&lines, inst, env, diags, missing_if);
        let v6 = inst.virtual_ipaddress.first().is_some_and(|a| a.addr.is_ipv6());
        let version = inst.version.unwrap_or(if v6 { 3 } else { global_version });
        // Strict mode (RFC conformance) refuses what the RFCs do not have.
        let strict = inst.strict_mode.unwrap_or(strict);
        check_state_and_preempt(&lines, inst, strict, diags);
        check_strict_mode(&lines, inst, version, strict, diags);
        check_authentication(&lines, inst, version, strict, diags);
        check_advert_interval(&lines, inst, version, diags);
        check_vip_count(&lines, inst, v6, version, diags);
        // Resolve what the rest of vigil needs spelled out.
        inst.version = Some(version);
        if inst.use_vmac.as_ref().is_some_and(|n| n.is_empty()) {
            inst.use_vmac = Some(format!("vrrp.{}", inst.virtual_router_id));
        }
        check_vrid_clash(&lines, inst, v6, &mut vrids, diags);
    }
}

/// The names (and weights) of what a VRRP instance may track.
struct TrackedNames {
    scripts: Vec<String>,
    files: Vec<String>,
    procs: Vec<String>,
    script_weights: HashMap<String, i32>,
    file_weights: HashMap<String, i32>,
    /// (members, sync_group_tracking_weight) of each sync group.
    sync_weights: Vec<(Vec<String>, bool)>,
}

impl TrackedNames {
    fn of(cfg: &Config) -> TrackedNames {
        TrackedNames {
            scripts: cfg.vrrp_scripts.iter().map(|s| s.name.clone()).collect(),
            files: cfg.track_files.iter().map(|s| s.name.clone()).collect(),
            procs: cfg.track_processes.iter().map(|s| s.name.clone()).collect(),
            script_weights: cfg.vrrp_scripts.iter().map(|s| (s.name.clone(), s.weight)).collect(),
            file_weights: cfg.track_files.iter().map(|s| (s.name.clone(), s.weight)).collect(),
            sync_weights: cfg.sync_groups.iter().map(|g| (g.group.clone(), g.sync_group_tracking_weight)).collect(),
        }
    }
}

/// Where an instance was written: what its complaints point at, and the
/// keywords it was given.
struct InstanceLines<'a> {
    tree: &'a [Node<'a>],
    name: String,
    /// The `vrrp_instance` line.
    pos: Pos,
    /// The lines of its (first) block.
    kids: Vec<&'a Node<'a>>,
}

impl<'a> InstanceLines<'a> {
    fn of(tree: &'a [Node], name: &str) -> InstanceLines<'a> {
        let kids = tree
            .iter()
            .filter(|n| n.keyword == "vrrp_instance" && n.arg(0) == Some(name))
            .take(1)
            .flat_map(|n| n.children())
            .collect();
        InstanceLines { tree, name: name.to_string(), pos: pos_of(tree, "vrrp_instance", Some(name)), kids }
    }
    fn has_kw(&self, k: &str) -> bool {
        self.kids.iter().any(|c| c.keyword == k)
    }
    /// The line in the instance's block that mentions `child`.
    fn child_pos(&self, child: &str) -> Pos {
        child_pos(self.tree, "vrrp_instance", &self.name, child)
    }
    /// keepalived's VRRP_FLAG_UNICAST_CONFIGURED: set by these keywords
    /// as they are read, whether or not their value is good (an empty
    /// `unicast_peer {}` sets it too); `unicast_ttl` does not.
    fn unicast_configured(&self) -> bool {
        ["unicast_peer", "unicast_src_ip", "unicast_fault_no_peer", "check_unicast_src", "old_unicast_checksum"]
            .iter()
            .any(|k| self.has_kw(k))
    }
}

fn has_other(inst: &VrrpInstance, k: &str) -> bool {
    inst.other.iter().any(|o| o.keyword == k)
}

/// A second instance of the same name is refused.
fn drop_duplicate_instances(cfg: &mut Config, tree: &[Node], diags: &mut Diags) {
    let mut seen: Vec<String> = Vec::new();
    let mut dup_lines = tree.iter().filter(|n| n.keyword == "vrrp_instance");
    cfg.vrrp_instances.retain(|i| {
        let node = dup_lines.find(|n| n.arg(0) == Some(i.name.as_str()));
        if seen.contains(&i.name) {
            diags.warn(node.map(|n| n.pos).unwrap_or_default(), format!("vrrp instance {} already defined", i.name));
            false
        } else {
            seen.push(i.name.clone());
            true
        }
    });
}

fn check_interface(lines: &InstanceLines, inst: &mut VrrpInstance, env: &HostEnv, diags: &mut Diags, missing_if: &mut bool) {
    let name = &lines.name;
    // keepalived checks every `interface` line as it reads it (vrrp_int_handler):
    // a loopback is refused and leaves the instance without an interface,
    // until a later line gives it one.
    let if_lines = lines
        .tree
        .iter()
        .filter(|n| n.keyword == "vrrp_instance" && n.arg(0) == Some(name.as_str()))
        .flat_map(|n| n.children())
        .filter(|c| c.keyword == "interface");
    let mut last_loopback = false;
    for c in if_lines {
        let Some(i) = c.arg(0) else { continue };
        last_loopback = false;
        if !env.interface_exists(i) {
            diags.warn(c.pos, format!("WARNING - interface {i} for vrrp_instance {name} doesn't exist"));
            *missing_if = true;
        } else if env.is_loopback(i) {
            diags.warn(c.pos, format!("({name}) cannot use a loopback interface ({i}) for vrrp - ignoring"));
            last_loopback = true;
        }
    }
    if last_loopback {
        inst.interface = None;
    }
    if inst.interface.is_none() {
        diags.warn(lines.pos, format!("({name}) Unknown interface!"));
    }
}

/// use_vmac NAME (vrrp_vmac_handler): a usable interface name, not
/// another instance's, not an existing interface other than a
/// macvlan (keepalived also wants it private). Else the default name.
fn check_vmac_name(
    lines: &InstanceLines,
    inst: &mut VrrpInstance,
    env: &HostEnv,
    diags: &mut Diags,
    vmac_names: &mut Vec<(String, String)>,
) {
    let name = &lines.name;
    if let Some(vmac) = inst.use_vmac.clone().filter(|v| !v.is_empty()) {
        let vpos = lines.child_pos("use_vmac");
        let valid = vmac.len() < 16 && vmac != "." && vmac != ".." && !vmac.contains(['/', ':']) && !vmac.chars().any(char::is_whitespace);
        if !valid {
            diags.warn(vpos, format!("VMAC interface name '{vmac}' too long or invalid characters - ignoring"));
            inst.use_vmac = Some(String::new());
        } else if let Some(other) = vmac_names.iter().find(|(_, n)| *n == vmac).map(|(i, _)| i.clone()) {
            diags.warn(vpos, format!("({name}) VRRP instance {other} is already using {vmac} - ignoring name"));
            inst.use_vmac = Some(String::new());
        } else if env.interface_exists(&vmac) && !env.is_macvlan(&vmac) {
            diags.warn(vpos, format!("({name}) interface {vmac} already exists and is not a private macvlan; ignoring vmac if_name"));
            inst.use_vmac = Some(String::new());
        } else {
            vmac_names.push((name.clone(), vmac));
        }
    }
}

fn check_unicast(lines: &InstanceLines, inst: &mut VrrpInstance, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    let unicast_configured = lines.unicast_configured();
    // vrrp_end_handler: unicast with a VMAC (or ipvlan).
    if unicast_configured && (inst.use_vmac.is_some() || has_other(inst, "use_ipvlan")) {
        if inst.interface.is_none() {
            diags.warn(ipos, format!("({name}): Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac"));
            inst.use_vmac = None;
            inst.other.retain(|o| o.keyword != "use_ipvlan");
        } else if !inst.vmac_xmit_base {
            diags.warn(ipos, format!("({name}) unicast with use_vmac requires vmac_xmit_base - setting"));
            inst.vmac_xmit_base = true;
        }
    }
    if inst.unicast_peers.is_empty() && has_other(inst, "unicast_ttl") {
        diags.warn(ipos, format!("({name}): Cannot use unicast_ttl without unicast peers - resetting"));
        inst.other.retain(|o| o.keyword != "unicast_ttl");
    }
    if unicast_configured && inst.unicast_peers.is_empty() && !lines.has_kw("unicast_fault_no_peer") {
        diags.warn(
            ipos,
            format!("({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
        );
    }
}

/// The ipvlan and VMAC options that depend on each other.
fn check_vmac_options(lines: &InstanceLines, inst: &mut VrrpInstance, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    // An IPv4 ipvlan needs its own address (`use_ipvlan [IF] ADDR/LEN ...`).
    let ipvlan_v4_no_addr = inst.other.iter().find(|o| o.keyword == "use_ipvlan").is_some_and(|o| {
        !o.args.iter().any(|a| super::addr::parse_prefix(a).is_some())
            && !inst.virtual_ipaddress.first().is_some_and(|a| a.addr.is_ipv6())
    });
    if ipvlan_v4_no_addr && inst.interface.is_some() {
        diags.warn(ipos, format!("({name}) IPv4 ipvlan requires a source ip address to be configured. setting instance to fault state"));
    }
    // vrrp_complete_instance: a VMAC promotes secondaries by itself.
    if inst.interface.is_some() && inst.use_vmac.is_some() && has_other(inst, "promote_secondaries") {
        diags.warn(ipos, format!("({name}) promote_secondaries is automatically set for vmacs - ignoring"));
        inst.other.retain(|o| o.keyword != "promote_secondaries");
    }
    if inst.vmac_xmit_base && inst.use_vmac.is_none() {
        diags.warn(ipos, format!("({name}) vmac_xmit_base is only valid with a vmac"));
        inst.vmac_xmit_base = false;
    }
}

/// The required settings, and what is tracked: interfaces that exist,
/// scripts, files and processes that are defined.
fn check_tracking(
    lines: &InstanceLines,
    inst: &mut VrrpInstance,
    tracked: &TrackedNames,
    env: &HostEnv,
    diags: &mut Diags,
    missing_if: &mut bool,
) {
    let (name, ipos) = (&lines.name, lines.pos);
    // Tracking the instance's own interface is what it does anyway.
    if let Some(own) = inst.interface.clone() {
        inst.track_interfaces.retain(|t| {
            if t.name != own {
                return true;
            }
            diags.warn(lines.child_pos(&t.name), format!("({name}) Ignoring track_interface {own} since own interface"));
            false
        });
    }
    if inst.virtual_router_id == 0 {
        diags.warn(ipos, format!("({name}) the virtual router id must be set"));
    }
    if inst.virtual_ipaddress.is_empty() {
        diags.warn(ipos, format!("({name}) No VIP specified; at least one is sensible"));
    }
    for t in &inst.track_interfaces {
        if !env.interface_exists(&t.name) {
            diags.warn(lines.child_pos(&t.name), format!("({name}) tracked interface {} doesn't exist", t.name));
            *missing_if = true;
        }
    }
    inst.track_scripts.retain(|t| {
        let ok = tracked.scripts.contains(&t.name);
        if !ok {
            diags.warn(lines.child_pos(&t.name), format!("({name}) track script {} not found, ignoring...", t.name));
        }
        ok
    });
    inst.track_files.retain(|t| {
        let ok = tracked.files.contains(&t.name);
        if !ok {
            diags.warn(lines.child_pos(&t.name), format!("({name}) track file {} not found, ignoring...", t.name));
        }
        ok
    });
    inst.track_processes.retain(|t| {
        let ok = tracked.procs.contains(&t.name);
        if !ok {
            diags.warn(lines.child_pos(&t.name), format!("({name}) track process {} not found, ignoring...", t.name));
        }
        ok
    });
}

/// In a sync group (without sync_group_tracking_weight), or as the
/// address owner, an instance's priority cannot float: keepalived's
/// vrrp_complete_instance drops (or zeroes) weighted tracking.
fn drop_floating_priority(lines: &InstanceLines, inst: &mut VrrpInstance, tracked: &TrackedNames, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    let in_sync = tracked.sync_weights.iter().find(|(members, _)| members.contains(name)).map(|(_, tw)| *tw);
    let sync_no_weight = in_sync == Some(false);
    if !(sync_no_weight || inst.priority == 255) {
        return;
    }
    let why = |owner_word: &'static str| if sync_no_weight { "SYNC group" } else { owner_word };
    inst.track_interfaces.retain_mut(|t| {
        if t.weight.unwrap_or(0) == 0 {
            return true;
        }
        let w = if sync_no_weight { "weight " } else { "" };
        diags.warn(ipos, format!("({name}) ignoring {} tracked interface {w}due to {}", t.name, why("address owner")));
        t.weight = Some(0);
        sync_no_weight
    });
    inst.track_scripts.retain(|t| {
        let w = t.weight.unwrap_or_else(|| tracked.script_weights.get(&t.name).copied().unwrap_or(0));
        if w == 0 {
            return true;
        }
        diags.warn(ipos, format!("({name}) ignoring tracked script {} with weights due to {}", t.name, why("address_owner")));
        false
    });
    inst.track_files.retain_mut(|t| {
        let w = t.weight.unwrap_or_else(|| tracked.file_weights.get(&t.name).copied().unwrap_or(1));
        match w {
            0 => true,
            1 => {
                diags.warn(
                    ipos,
                    format!("({name}) ignoring weight from tracked file {} due to {}. specify weight 0", t.name, why("address_owner")),
                );
                t.weight = Some(0);
                true
            }
            w => {
                diags.warn(ipos, format!("({name}) ignoring tracked file {} with weight {w} due to {}", t.name, why("address_owner")));
                false
            }
        }
    });
    inst.track_bfds.retain(|t| {
        let w = t.weight.unwrap_or(0);
        if w == 0 {
            return true;
        }
        diags.warn(ipos, format!("({name}) ignoring tracked bfd {} with weight {w} due to {}", t.name, why("address_owner")));
        false
    });
}

/// The interfaces named by the instance's addresses and routes.
fn check_address_devices(lines: &InstanceLines, inst: &VrrpInstance, env: &HostEnv, diags: &mut Diags, missing_if: &mut bool) {
    for a in inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded) {
        if let Some(dev) = &a.dev
            && !env.interface_exists(dev) {
                diags.warn(
                    lines.child_pos(&a.addr.to_string()),
                    format!("WARNING - interface {dev} for ip address {}/{} doesn't exist", a.addr, a.prefix_len),
                );
                *missing_if = true;
            }
    }
    for r in &inst.virtual_routes {
        check_route_dev(lines.tree, &lines.name, r.dev.as_deref(), env, diags, missing_if);
    }
}

/// State and preemption, in vrrp_complete_instance's order: without a
/// `state` line the address owner starts MASTER; in strict mode only
/// the owner may.
fn check_state_and_preempt(lines: &InstanceLines, inst: &mut VrrpInstance, strict: bool, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    let owner = inst.priority == 255;
    if !lines.has_kw("state") {
        inst.state = if owner { InitialState::Master } else { InitialState::Backup };
    } else if strict && (inst.state == InitialState::Master) != owner {
        diags.warn(ipos, format!("({name}) State MASTER must match being address owner"));
        inst.state = if owner { InitialState::Master } else { InitialState::Backup };
    }
    if owner && inst.nopreempt {
        diags.warn(ipos, format!("({name}) nopreempt is incompatible with priority 255. resetting nopreempt"));
        inst.nopreempt = false;
    }
    if inst.state == InitialState::Master {
        if inst.nopreempt {
            diags.warn(ipos, format!("({name}) Warning - nopreempt will not work with initial state MASTER - clearing"));
            inst.nopreempt = false;
        }
        if inst.preempt_delay.0 != 0 {
            diags.warn(ipos, format!("({name}) Warning - preempt delay will not work with initial state MASTER - clearing"));
            inst.preempt_delay = super::model::Microseconds(0);
        }
    }
    if inst.preempt_delay.0 != 0 && strict {
        diags.warn(ipos, format!("({name}) preempt_delay is incompatible with strict mode - resetting"));
        inst.preempt_delay = super::model::Microseconds(0);
    }
    if inst.preempt_delay.0 != 0 && inst.nopreempt {
        diags.warn(ipos, format!("({name}) preempt_delay is incompatible with nopreempt mode - resetting"));
        inst.preempt_delay = super::model::Microseconds(0);
    }
}

fn check_strict_mode(lines: &InstanceLines, inst: &mut VrrpInstance, version: u8, strict: bool, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    if strict {
        if inst.accept == Some(true) && version == 2 {
            diags.warn(ipos, format!("({name}) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"));
            inst.accept = Some(false);
        }
        if inst.vmac_xmit_base {
            diags.warn(ipos, format!("({name}) xmit_base is incompatible with strict mode - resetting"));
            inst.vmac_xmit_base = false;
        }
    }
}

fn check_authentication(lines: &InstanceLines, inst: &mut VrrpInstance, version: u8, strict: bool, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    if inst.authentication.as_ref().is_some_and(|a| a.auth_pass.is_empty()) {
        diags.warn(ipos, format!("({name}) Authentication specified but no password given. Ignoring"));
        inst.authentication = None;
    }
    if let Some(auth) = &inst.authentication {
        if version == 3 {
            diags.warn(ipos, format!("({name}) VRRP version 3 does not support authentication. Ignoring."));
            inst.authentication = None;
        } else if strict {
            diags.warn(ipos, format!("({name}) Strict mode does not support authentication. Ignoring."));
            inst.authentication = None;
        } else if auth.auth_type == AuthType::Ah && inst.state == InitialState::Master && inst.priority != 255 {
            diags.warn(ipos, format!("({name}) Initial state master is incompatible with AH authentication - clearing"));
            inst.state = InitialState::Backup;
        }
    }
}

/// Version-dependent advert interval, judged on the microseconds
/// written (the model holds centiseconds).
fn check_advert_interval(lines: &InstanceLines, inst: &mut VrrpInstance, version: u8, diags: &mut Diags) {
    let (name, ipos) = (&lines.name, lines.pos);
    let us = lines
        .kids
        .iter()
        .filter(|c| c.keyword == "advert_int")
        .filter_map(|c| super::build_vrrp::advert_micros(c).0)
        .last()
        .unwrap_or(inst.advert_int.as_micros());
    let secs_f = us as f64 / 1_000_000.0;
    if version == 2 && us % 1_000_000 != 0 {
        diags.warn(ipos, format!("({name}) VRRPv2 advertisement interval {secs_f:.6}s must be an integer. rounding"));
        let secs = (us + 500_000) / 1_000_000;
        inst.advert_int = Centiseconds(secs.max(1) as u32 * 100);
    }
    if version == 3 && us >= (u64::from(Centiseconds::V3_MAX.0) + 1) * 10_000 {
        diags.warn(
            ipos,
            format!("({name}) VRRPv3 advertisement interval {secs_f:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s"),
        );
        inst.advert_int = Centiseconds::V3_MAX;
    } else if version == 3 && us % 10_000 != 0 {
        diags.warn(ipos, format!("({name}) VRRPv3 advertisement interval {secs_f:.6}s must be in units of 10ms - rounding"));
        inst.advert_int = Centiseconds((((us + 5_000) / 10_000) as u32).max(1));
    }
}

/// VRID clashes on one interface and family.
fn check_vrid_clash(
    lines: &InstanceLines,
    inst: &VrrpInstance,
    v6: bool,
    vrids: &mut HashMap<(String, bool, u8), String>,
    diags: &mut Diags,
) {
    let (name, ipos) = (&lines.name, lines.pos);
    if let (Some(ifname), vrid @ 1..=255) = (&inst.interface, inst.virtual_router_id) {
        let key = (ifname.clone(), v6, vrid);
        if let Some(other) = vrids.get(&key) {
            diags.warn(
                ipos,
                format!("{other} and {name} both use VRID {vrid} with IPv{} on interface {ifname}", if v6 { 6 } else { 4 }),
            );
        } else {
            vrids.insert(key, name.clone());
        }
    }
}

/// The most VIPs one advert carries: the count field's 255 (`vrrp::wire::MAX_VIPS`), or
/// fewer when they would not fit a `PACKET_MAX` datagram (IPv6: 90). As keepalived, the
/// excess are kept as eVIPs (set and removed with the others, not advertised).
pub(crate) fn max_advert_vips(v6: bool, version: u8, ah: bool) -> usize {
    use crate::vrrp::{instance::PACKET_MAX, wire};
    let (ip, addr) = if v6 { (40, 16) } else { (20, 4) };
    let auth = if version == 2 { wire::AUTH_DATA_LEN } else { 0 };
    let ah = if ah { wire::ah::HEADER_LEN } else { 0 };
    ((PACKET_MAX - ip - ah - wire::packet::HEADER_LEN - auth) / addr).min(wire::MAX_VIPS)
}

fn check_vip_count(lines: &InstanceLines, inst: &mut VrrpInstance, v6: bool, version: u8, diags: &mut Diags) {
    let ah = inst.authentication.as_ref().is_some_and(|a| a.auth_type == AuthType::Ah) && version == 2;
    let max = max_advert_vips(v6, version, ah);
    let count = inst.virtual_ipaddress.iter().filter(|a| a.addr.is_ipv6() == v6).count();
    if count <= max {
        return;
    }
    diags.warn(
        lines.pos,
        format!(
            "({}) Number of VIPs ({count}) exceeds maximum/space available in packet (max {max} addresses) - excess moved to eVIPs",
            lines.name
        ),
    );
    crate::os::capacity::hit(crate::os::capacity::Cap::AdvertVips, format_args!("({}) {} VIPs moved to the eVIPs", lines.name, count - max));
    let mut kept = 0;
    let mut excess = Vec::new();
    inst.virtual_ipaddress.retain(|a| {
        if a.addr.is_ipv6() != v6 {
            return true;
        }
        kept += 1;
        if kept > max {
            excess.push(a.clone());
            return false;
        }
        true
    });
    excess.append(&mut inst.virtual_ipaddress_excluded);
    inst.virtual_ipaddress_excluded = excess;
}
