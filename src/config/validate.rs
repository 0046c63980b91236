//! The checks keepalived makes once the whole file is read: references
//! between sections, interfaces present on the machine, VRID clashes,
//! version-dependent ranges, script security. Each complaint here is one
//! keepalived 2.2.7 reports in `-t` mode (so its exit is non-zero).

use super::diag::{Diags, Pos};
use super::model::{Config, Protocol, TrackRef, VirtualServer, VirtualServerGroup, VirtualServerKey, VsgEntry};
use super::tree::Node;
use std::net::IpAddr;

/// What validation needs to know about the host.
pub struct HostEnv {
    /// Fixed interface list (tests); None = ask the kernel, in the calling
    /// thread's network namespace.
    pub interfaces: Option<Vec<String>>,
    /// Whether the `keepalived_script` user exists.
    pub default_script_user_exists: bool,
    /// Take every interface as present (the configuration runs in another
    /// network namespace).
    pub any_interface: bool,
}

impl HostEnv {
    pub fn probe() -> HostEnv {
        HostEnv {
            interfaces: None,
            default_script_user_exists: matches!(nix::unistd::User::from_name("keepalived_script"), Ok(Some(_))),
            any_interface: false,
        }
    }

    /// Whether `name` is a macvlan (a VMAC keepalived may take over). A
    /// fixed list holds none.
    pub fn is_macvlan(&self, name: &str) -> bool {
        if self.any_interface {
            return true;
        }
        if self.interfaces.is_some() {
            return false;
        }
        let Ok(n) = crate::netlink::types::IfName::try_from(name) else { return false };
        crate::netlink::rtnl::Rtnl::new()
            .and_then(|mut r| r.link(&crate::netlink::link::LinkRef::Name(n)))
            .is_ok_and(|l| l.kind.as_deref() == Some("macvlan"))
    }

    /// Whether `name` is a loopback device (keepalived: hw_type
    /// ARPHRD_LOOPBACK, which `lo` alone has; the kernel marks it
    /// IFF_LOOPBACK). A fixed list holds none.
    pub fn is_loopback(&self, name: &str) -> bool {
        if self.any_interface || self.interfaces.is_some() {
            return false;
        }
        let Ok(n) = crate::netlink::types::IfName::try_from(name) else { return false };
        crate::netlink::rtnl::Rtnl::new()
            .and_then(|mut r| r.link(&crate::netlink::link::LinkRef::Name(n)))
            .is_ok_and(|l| l.flags & crate::netlink::consts::IFF_LOOPBACK != 0)
    }

    pub fn interface_exists(&self, name: &str) -> bool {
        if self.any_interface {
            return true;
        }
        match &self.interfaces {
            Some(list) => list.iter().any(|i| i == name),
            // if_nametoindex asks the kernel through a socket, so it sees the
            // caller's network namespace (sysfs would show the mount's).
            None => nix::net::if_::if_nametoindex(name).is_ok(),
        }
    }
}

/// The line of the top-level `keyword NAME` block, or of the first
/// top-level `keyword` when `name` is None.
pub(super) fn pos_of(tree: &[Node], keyword: &str, name: Option<&str>) -> Pos {
    tree.iter()
        .find(|n| n.keyword == keyword && (name.is_none() || n.arg(0) == name))
        .map(|n| n.pos)
        .unwrap_or_default()
}

/// The line of `child` (first word) inside the top-level `keyword NAME`
/// block, searching nested blocks too.
pub(super) fn child_pos(tree: &[Node], keyword: &str, name: &str, child: &str) -> Pos {
    fn find(nodes: &[Node], child: &str) -> Option<Pos> {
        for n in nodes {
            if n.keyword == child {
                return Some(n.pos);
            }
            if let Some(p) = find(n.children(), child) {
                return Some(p);
            }
        }
        None
    }
    tree.iter()
        .filter(|n| n.keyword == keyword && n.arg(0) == Some(name))
        .find_map(|n| find(n.children(), child))
        .unwrap_or_else(|| pos_of(tree, keyword, Some(name)))
}

/// The line of the value line starting `first` in the first top-level
/// `keyword` block.
pub(super) fn child_pos_top(tree: &[Node], keyword: &str, first: &str) -> Pos {
    tree.iter()
        .filter(|n| n.keyword == keyword)
        .flat_map(|n| n.children())
        .find(|c| c.keyword == first)
        .map(|c| c.pos)
        .unwrap_or_else(|| pos_of(tree, keyword, None))
}

/// The line of the first `keyword ARG` statement under `nodes`, at any depth.
pub(super) fn find_line(nodes: &[Node], keyword: &str, arg: &str) -> Option<Pos> {
    nodes.iter().find_map(|n| {
        if n.keyword == keyword && n.arg(0) == Some(arg) {
            Some(n.pos)
        } else {
            find_line(n.children(), keyword, arg)
        }
    })
}

pub fn validate(cfg: &mut Config, tree: &[Node], env: &HostEnv, diags: &mut Diags) {
    // With `net_namespace`, interfaces live in a namespace that may not
    // exist yet: they cannot be checked from here.
    let in_other_ns;
    // With `dynamic_interfaces`, keepalived waits for missing interfaces
    // (if_get_by_ifname creates them) instead of reporting them.
    let env = if cfg.global.net_namespace.is_some() || cfg.global.dynamic_interfaces {
        in_other_ns = HostEnv { interfaces: None, default_script_user_exists: env.default_script_user_exists, any_interface: true };
        &in_other_ns
    } else {
        env
    };
    let mut missing_interface = false;
    super::validate_vrrp::vrrp(cfg, tree, env, diags, &mut missing_interface);
    sync_groups(cfg, tree, diags);
    statics(cfg, tree, env, diags, &mut missing_interface);
    virtual_servers(cfg, tree, diags);
    super::script_security::check(cfg, tree, env, diags);
    if missing_interface {
        diags.warn(tree.first().map(|n| n.pos).unwrap_or_default(), "Non-existent interface specified in configuration");
    }
}

pub(super) fn check_route_dev(tree: &[Node], _inst: &str, dev: Option<&str>, env: &HostEnv, diags: &mut Diags, missing_if: &mut bool) {
    if let Some(dev) = dev
        && !env.interface_exists(dev) {
            diags.warn(pos_of(tree, "vrrp_instance", None), format!("WARNING - interface {dev} for VROUTE nexthop doesn't exist"));
            *missing_if = true;
        }
}

fn sync_groups(cfg: &mut Config, tree: &[Node], diags: &mut Diags) {
    let names: Vec<String> = cfg.vrrp_instances.iter().map(|i| i.name.clone()).collect();
    let mut in_group: Vec<String> = Vec::new();
    cfg.sync_groups.retain_mut(|g| {
        let gpos = pos_of(tree, "vrrp_sync_group", Some(&g.name));
        let gname = g.name.clone();
        let mut taken = 0;
        g.group.retain(|m| {
            let ok = names.contains(m);
            if !ok {
                diags.warn(gpos, format!("Virtual router {m} specified in sync group {gname} doesn't exist - ignoring"));
                return false;
            }
            if in_group.contains(m) {
                diags.warn(gpos, format!("Virtual router {m} cannot exist in more than one sync group; ignoring {gname}"));
                taken += 1;
                return false;
            }
            in_group.push(m.clone());
            true
        });
        if g.group.is_empty() && taken > 0 {
            diags.warn(gpos, format!("Sync group {gname}, no matching virtual router found in group declaration - removing"));
            return false;
        }
        match g.group.len() {
            0 => {
                diags.warn(gpos, format!("Sync group {gname} has no virtual router(s). removing"));
                false
            }
            1 => {
                diags.warn(gpos, format!("Sync group {gname} has only 1 virtual router(s) - this probably isn't what you want"));
                true
            }
            _ => true,
        }
    });
    tracked_twice(cfg, tree, diags);
    owner_member_weights(cfg, tree, diags);
}

/// keepalived's vrrp_sync_set_group: a group with an address owner (priority 255) among its
/// members cannot float its priority, so its weighted tracking loses its weight (a line's
/// weight, or else the tracked object's own), with one complaint each, in keepalived's order
/// and words.
fn owner_member_weights(cfg: &mut Config, tree: &[Node], diags: &mut Diags) {
    let owners: Vec<String> = cfg.vrrp_instances.iter().filter(|i| i.priority == 255).map(|i| i.name.clone()).collect();
    let script_w: Vec<(String, i32)> = cfg.vrrp_scripts.iter().map(|s| (s.name.clone(), s.weight)).collect();
    let file_w: Vec<(String, i32)> = cfg.track_files.iter().map(|f| (f.name.clone(), f.weight)).collect();
    let proc_w: Vec<(String, i32)> = cfg.track_processes.iter().map(|p| (p.name.clone(), p.weight)).collect();
    let own = |defs: &[(String, i32)], name: &str| defs.iter().find(|(n, _)| n == name).map_or(0, |(_, w)| *w);
    for g in &mut cfg.sync_groups {
        if !g.group.iter().any(|m| owners.contains(m)) {
            continue;
        }
        let gpos = pos_of(tree, "vrrp_sync_group", Some(&g.name));
        let gname = g.name.clone();
        let mut clear = |refs: &mut Vec<TrackRef>, what: &str, defaults: &[(String, i32)], how: &str| {
            for t in refs.iter_mut() {
                if t.weight.unwrap_or_else(|| own(defaults, &t.name)) != 0 {
                    diags.warn(
                        gpos,
                        format!("({gname}) Cannot have weighted track {what} '{}' with member having priority 255 - {how}", t.name),
                    );
                    t.weight = Some(0);
                }
            }
        };
        clear(&mut g.track_scripts, "script", &script_w, "clearing weight");
        clear(&mut g.track_processes, "process", &proc_w, "setting weight 0");
        clear(&mut g.track_files, "file", &file_w, "setting weight 0");
        clear(&mut g.track_bfds, "bfd", &[], "setting weight 0");
        clear(&mut g.track_interfaces, "interface", &[], "clearing weight");
    }
}

/// keepalived's add_vrrp_to_interface: an interface a sync group tracks
/// that one of its members also tracks (by `track_interface`, or as its own
/// interface unless `dont_track_primary`) is reported for that member.
fn tracked_twice(cfg: &Config, tree: &[Node], diags: &mut Diags) {
    for g in &cfg.sync_groups {
        for m in &g.group {
            let Some(inst) = cfg.vrrp_instances.iter().find(|i| &i.name == m) else { continue };
            let own = inst.interface.as_deref().filter(|_| !inst.dont_track_primary);
            for t in &g.track_interfaces {
                if own == Some(t.name.as_str()) || inst.track_interfaces.iter().any(|i| i.name == t.name) {
                    diags.warn(
                        pos_of(tree, "vrrp_instance", Some(m)),
                        format!(
                            "({m}) track_interface {} is configured on VRRP instance and sync group. Remove vrrp instance or sync group config",
                            t.name
                        ),
                    );
                }
            }
        }
    }
}

fn statics(cfg: &Config, tree: &[Node], env: &HostEnv, diags: &mut Diags, missing_if: &mut bool) {
    super::build_misc::check_interfaces(tree, |i| env.interface_exists(i), diags);
    super::build_misc::check_track_groups(tree, diags);
    for o in cfg.other.iter().filter(|o| o.keyword == "interface_up_down_delays") {
        if let Some(i) = o.args.first().filter(|i| !env.interface_exists(i)) {
            diags.warn(
                child_pos_top(tree, "interface_up_down_delays", i),
                format!("unknown interface {i} specified for up/down delay"),
            );
        }
    }
    for a in &cfg.static_ipaddress {
        if let Some(dev) = &a.dev
            && !env.interface_exists(dev) {
                diags.warn(
                    pos_of(tree, "static_ipaddress", None),
                    format!("WARNING - interface {dev} for ip address {}/{} doesn't exist", a.addr, a.prefix_len),
                );
                *missing_if = true;
            }
    }
    for r in &cfg.static_routes {
        let devs = r.dev.iter().chain(r.nexthops.iter().filter_map(|n| n.dev.as_ref()));
        for dev in devs {
            if !env.interface_exists(dev) {
                diags.warn(pos_of(tree, "static_routes", None), format!("WARNING - interface {dev} for VROUTE nexthop doesn't exist"));
                *missing_if = true;
            }
        }
    }
}

fn virtual_servers(cfg: &mut Config, tree: &[Node], diags: &mut Diags) {
    let vs_nodes: Vec<&Node> = tree.iter().filter(|n| n.keyword == "virtual_server").collect();
    let groups: Vec<String> = cfg.virtual_server_groups.iter().map(|g| g.name.clone()).collect();
    let cfg_groups = cfg.virtual_server_groups.clone();
    let cfg_track_files: Vec<String> = cfg.track_files.iter().map(|t| t.name.clone()).collect();
    let mut idx = 0;
    cfg.virtual_servers.retain_mut(|vs| {
        // Builders keep virtual servers in tree order; find this one's node.
        let node = loop {
            match vs_nodes.get(idx) {
                Some(n) if same_key(n, &vs.key) => break Some(*n),
                Some(_) => idx += 1,
                None => break None,
            }
        };
        idx += 1;
        check_virtual_server(vs, node, &groups, &cfg_groups, &cfg_track_files, diags)
    });
}

/// One virtual server's checks, in keepalived's order; false drops it.
fn check_virtual_server(
    vs: &mut VirtualServer,
    node: Option<&Node>,
    groups: &[String],
    cfg_groups: &[VirtualServerGroup],
    track_files: &[String],
    diags: &mut Diags,
) -> bool {
    let pos = node.map(|n| n.pos).unwrap_or_default();
    drop_unknown_file_checks(vs, node, pos, track_files, diags);
    let kids = node.map(|n| n.children()).unwrap_or(&[]);
    // keepalived's service_type: set only by a protocol it took.
    let protocol_set = kids.iter().any(|c| {
        c.keyword == "protocol"
            && c.arg(0).is_some_and(|p| ["TCP", "UDP", "SCTP"].contains(&p.to_ascii_uppercase().as_str()))
    });
    let mut label = describe(&vs.key, protocol_set.then_some(vs.protocol));
    if let VirtualServerKey::Group(g) = &vs.key
        && let Some(grp) = cfg_groups.iter().find(|grp| &grp.name == g)
    {
        super::validate_group::port_warnings(vs, &grp.entries, pos, diags);
    }
    if let VirtualServerKey::Group(g) = &vs.key
        && !groups.contains(g) {
            // keepalived drops it without a complaint.
            log::info!("config: virtual server group {g} not found");
            return true;
        }
    drop_other_family(vs, pos, diags);
    if vs.real_servers.is_empty() {
        diags.warn(pos, format!("Virtual server {label} has no real servers - ignoring"));
        return false;
    }
    // keepalived's protocol checks (the UDP default, ops needing UDP)
    // apply to address services and to groups with address members;
    // a fwmark, or a group of fwmarks only, has no protocol in IPVS.
    // (fwmark members, members) of the service, if it has any: a fwmark
    // is one of one.
    let members = match &vs.key {
        VirtualServerKey::Fwmark(_) => Some((1, 1)),
        VirtualServerKey::Group(g) => cfg_groups.iter().find(|grp| &grp.name == g).map(|grp| {
            (grp.entries.iter().filter(|e| matches!(e, VsgEntry::Fwmark(_))).count(), grp.entries.len())
        }),
        _ => None,
    };
    let fwmark_only = members.is_some_and(|(fw, all)| fw == all);
    // keepalived's ha_suspend check looks at the group's fwmark list,
    // mixed with addresses or not.
    let any_fwmark = members.is_some_and(|(fw, _)| fw > 0);
    if !fwmark_only && !protocol_set {
        diags.warn(pos, format!("Virtual server {label}: no protocol set - defaulting to UDP"));
        vs.protocol = Protocol::Udp;
        label = describe(&vs.key, Some(Protocol::Udp));
    }
    if vs.protocol != Protocol::Udp
        && !fwmark_only
        && vs.other.iter().any(|o| o.keyword == "ops")
    {
        diags.warn(pos, format!("Virtual server {label}: one packet scheduling requires UDP - resetting"));
        vs.other.retain(|o| o.keyword != "ops");
    }
    if vs.ha_suspend && any_fwmark {
        diags.warn(pos, format!("Virtual server {label}: cannot use ha_suspend with fwmarks - clearing ha_suspend"));
        vs.ha_suspend = false;
    }
    report_default_method(vs, kids, pos, &label, diags);
    check_quorum(vs, pos, &label, diags);
    check_zero_port(vs, cfg_groups, pos, &label, diags);
    // A group of fwmarks only ignores the protocol (an fwmark virtual
    // server's own case is reported as it is read).
    if fwmark_only && protocol_set && matches!(vs.key, VirtualServerKey::Group(_)) {
        diags.warn(pos, format!("Warning: Virtual server {label}: protocol specified for fwmark - protocol will be ignored"));
    }
    true
}

/// FILE_CHECK names a track file defined earlier (check_file.c).
fn drop_unknown_file_checks(vs: &mut VirtualServer, node: Option<&Node>, pos: Pos, track_files: &[String], diags: &mut Diags) {
    let tf_names: Vec<&str> = track_files.iter().map(|a| &**a).collect();
    for rs in vs.real_servers.iter_mut() {
        rs.checkers.retain(|c| match &c.kind {
            super::model::CheckKind::File(f) if !tf_names.contains(&f.track_file.as_str()) => {
                let at = node.and_then(|n| find_line(n.children(), "track_file", &f.track_file)).unwrap_or(pos);
                diags.warn(at, format!("track_file {} not found", f.track_file));
                diags.warn(at, "FILE_CHECK has no track_file specified - ignoring");
                false
            }
            _ => true,
        });
    }
}

/// Sorry and real servers of the other address family are dropped.
fn drop_other_family(vs: &mut VirtualServer, pos: Pos, diags: &mut Diags) {
    // A sorry server of the other family (unless tunnelled) is dropped
    // (vs_end_handler).
    if let (VirtualServerKey::Addr { addr, .. }, Some(ss)) = (&vs.key, &vs.sorry_server)
        && ss.addr.is_ipv4() != addr.is_ipv4()
        && vs.sorry_lb_kind(ss) != super::model::LbKind::Tun
    {
        diags.warn(pos, format!("Address family of virtual server and sorry server {} don't match - skipping sorry server.", ss.addr));
        vs.sorry_server = None;
    }
    if let VirtualServerKey::Addr { addr, .. } = vs.key {
        vs.real_servers.retain(|rs| {
            let same = rs.addr.is_ipv4() == addr.is_ipv4();
            if !same {
                diags.warn(pos, format!("Address family of virtual server and real server {} don't match - skipping real server.", rs.addr));
            }
            same
        });
    }
}

/// The forwarding method and scheduler keepalived defaults, reported.
fn report_default_method(vs: &VirtualServer, kids: &[Node], pos: Pos, label: &str, diags: &mut Diags) {
    // Set only by a value keepalived took (lb_kind and lb_algo are
    // case-sensitive).
    let has_valid = |k: &[&str], ok: &dyn Fn(&str) -> bool| {
        kids.iter().any(|c| k.contains(&&*c.keyword) && c.arg(0).is_some_and(ok))
    };
    // Reported when a real (or the sorry) server has no method of its own.
    let someone_unset = vs.real_servers.iter().any(|r| r.lb_kind.is_none())
        || vs.sorry_server.as_ref().is_some_and(|s| s.lb_kind.is_none());
    if someone_unset && !has_valid(&["lb_kind", "lvs_method"], &|a| matches!(a, "NAT" | "DR" | "TUN")) {
        diags.warn(pos, format!("Virtual server {label}: no forwarding method set, setting default NAT"));
    }
    if !has_valid(&["lb_algo", "lvs_sched"], &|a| super::build_lvs::IPVS_SCHEDULERS.contains(&a)) {
        diags.warn(pos, format!("Virtual server {label}: no scheduler set, setting default 'wlc'"));
    }
}

/// The quorum fits the real servers' total weight, the hysteresis the quorum.
fn check_quorum(vs: &mut VirtualServer, pos: Pos, label: &str, diags: &mut Diags) {
    let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight.max(0) as u32)).sum();
    if u64::from(vs.quorum) > total {
        diags.warn(pos, format!("Warning - quorum {} for {label} exceeds total weight of real servers {total}, reducing quorum to {total}", vs.quorum));
        vs.quorum = total as u32;
    }
    if vs.hysteresis >= vs.quorum && vs.hysteresis != 0 || (vs.quorum == 0 && vs.hysteresis == 0) {
        diags.warn(pos, format!("Virtual server {label}: hysteresis {} >= quorum {}; setting hysteresis to {}", vs.hysteresis, vs.quorum, vs.quorum.wrapping_sub(1)));
        vs.hysteresis = vs.quorum.wrapping_sub(1);
    }
}

/// Port 0 is for persistent services only: one is made persistent.
fn check_zero_port(vs: &mut VirtualServer, cfg_groups: &[VirtualServerGroup], pos: Pos, label: &str, diags: &mut Diags) {
    if let VirtualServerKey::Addr { port: 0, .. } = vs.key
        && vs.persistence_timeout.is_none() {
            diags.warn(pos, format!("Virtual server {label}: zero port only valid for persistent services - setting"));
            vs.persistence_timeout = Some(360);
        }
    // A group's address blocks need ports too, unless persistent.
    if let VirtualServerKey::Group(g) = &vs.key
        && vs.persistence_timeout.is_none()
        && cfg_groups
            .iter()
            .find(|grp| &grp.name == g)
            .is_some_and(|grp| grp.entries.iter().any(|e| matches!(e, VsgEntry::Range { port: 0, .. })))
    {
        diags.warn(pos, format!("Virtual server {label}: zero port only valid for persistent services - setting"));
        vs.persistence_timeout = Some(360);
    }
}

fn same_key(n: &Node, key: &VirtualServerKey) -> bool {
    match key {
        VirtualServerKey::Fwmark(_) => n.arg(0) == Some("fwmark"),
        VirtualServerKey::Group(g) => n.arg(0) == Some("group") && n.arg(1) == Some(g.as_str()),
        VirtualServerKey::Addr { addr, .. } => n.arg(0).and_then(|a| a.parse::<IpAddr>().ok()) == Some(*addr),
        VirtualServerKey::Unset => false,
    }
}

/// keepalived's FMT_VS: `[ADDR]:PROTO:PORT`, `FWM N` or `[GROUP]:0`.
fn describe(key: &VirtualServerKey, proto: Option<Protocol>) -> String {
    match key {
        VirtualServerKey::Addr { addr, port } => trio(*addr, proto, *port),
        VirtualServerKey::Fwmark(m) => format!("FWM {m}"),
        VirtualServerKey::Group(g) => format!("[{g}]:0"),
        VirtualServerKey::Unset => "?".into(),
    }
}

/// keepalived's inet_sockaddrtotrio: `[ADDR]:PROTO:PORT` (PROTO "none"
/// while no protocol is set).
fn trio(addr: IpAddr, proto: Option<Protocol>, port: u16) -> String {
    let p = match proto {
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Sctp) => "sctp",
        None => "none",
    };
    format!("[{addr}]:{p}:{port}")
}
