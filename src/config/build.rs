//! Tree → typed model: the top level, dispatching to one builder per
//! section.

use super::addr;
use super::build_global::global_defs;
use super::build_lvs::{virtual_server, virtual_server_group};
use super::build_vrrp::{sync_group, track_file_def, track_process_def, vrrp_instance, vrrp_script};
use super::diag::Diags;
use super::model::Config;
use super::tree::Node;
use super::values::Ctx;

/// First preference keepalived assigns to a rule that has none.
const FIRST_DEFAULT_RULE_PREF: u32 = 16384;

/// Top-level keywords keepalived knows that we keep unmodelled.
const RAW_TOP: &[&str] = &[
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "linkbeat_use_polling",
    "child_wait_time",
    "linkbeat_interfaces",
    "track_group",
    "garp_group",
    "SSL",
];

/// Keywords whose block keepalived reads as raw value lines, by the block
/// they sit in ("" for the top level). A keyword is a value block only
/// there: a top-level `track_file NAME { ... }` defines a track file, and
/// `track_file NAME` in FILE_CHECK names one.
const VALUE_BLOCKS: &[(&str, &[&str])] = &[
    ("", &["static_ipaddress", "static_routes", "static_rules", "linkbeat_interfaces", "interface_up_down_delays"]),
    (
        "vrrp_instance",
        &[
            "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "unicast_peer",
            "track_interface", "track_script", "track_file", "track_process", "track_bfd",
        ],
    ),
    ("vrrp_sync_group", &["group", "track_interface", "track_script", "track_file", "track_process", "track_bfd"]),
    ("global_defs", &["notification_email"]),
    ("garp_group", &["interfaces"]),
    ("track_group", &["group"]),
];

/// The value-block keywords of a block (none for most).
fn value_blocks_in(parent: &str) -> &'static [&'static str] {
    VALUE_BLOCKS.iter().find(|(p, _)| *p == parent).map_or(&[], |(_, kws)| kws)
}

/// keepalived reads the lines after a value-block keyword that has no `{`
/// as its values, up to the next `}`: the statements that follow it are
/// swallowed (and are almost never valid values).
fn check_value_blocks(nodes: &[Node], parent: &str, diags: &mut Diags) {
    // Looked up once per block, not once per statement in it.
    let kws = value_blocks_in(parent);
    for (i, n) in nodes.iter().enumerate() {
        let value_block = !kws.is_empty() && kws.contains(&&*n.keyword);
        if value_block && !n.args.is_empty() && n.keyword != "group" {
            diags.warn(n.pos, format!("Block {} has extra parameters {} ...", n.keyword, n.args.join(" ")));
        }
        if n.block.is_none() && value_block && i + 1 < nodes.len() {
            diags.warn(n.pos, format!("Missing '{{' at beginning of {} block - the following lines are read as its values", n.keyword));
        }
        // A value block's lines are values, not statements.
        if !value_block && n.block.as_ref().is_some_and(|b| !b.is_empty()) {
            check_value_blocks(n.children(), &n.keyword, diags);
        }
    }
}

pub fn build_config(tree: &[Node], diags: &mut Diags) -> Config {
    check_value_blocks(tree, "", diags);
    let mut ctx = Ctx { diags, last: tree.last().filter(|n| n.block.is_none()).map(|n| n.pos), bfd: Default::default() };
    let mut cfg = Config::default();
    let mut next_pref = FIRST_DEFAULT_RULE_PREF;
    let mut garp_groups = 0;
    for n in tree {
        match &*n.keyword {
            "global_defs" => {
                ctx.no_args_ok(n);
                let children = ctx.need_block(n);
                global_defs(&mut ctx, children, &mut cfg.global);
            }
            "net_namespace" => {
                ctx.no_block(n);
                cfg.global.net_namespace = ctx.string(n);
            }
            "static_ipaddress" => {
                for c in ctx.value_block(n) {
                    let v = addr::ip_address_line(&mut ctx, c, true);
                    cfg.static_ipaddress.extend(v);
                }
            }
            "static_routes" => {
                for c in ctx.value_block(n) {
                    if let Some(r) = super::route::route_line(&mut ctx, c, true) {
                        cfg.static_routes.push(r);
                    }
                }
            }
            "static_rules" => {
                for c in ctx.value_block(n) {
                    if let Some(r) = super::rule::rule_line(&mut ctx, c, &mut next_pref) {
                        cfg.static_rules.push(r);
                    }
                }
            }
            "vrrp_script" => {
                if let Some(s) = vrrp_script(&mut ctx, n) {
                    cfg.vrrp_scripts.push(s);
                }
            }
            "vrrp_track_file" | "track_file" => {
                if let Some(t) = track_file_def(&mut ctx, n) {
                    cfg.track_files.push(t);
                }
            }
            "vrrp_track_process" => {
                if let Some(t) = track_process_def(&mut ctx, n) {
                    cfg.track_processes.push(t);
                }
            }
            "vrrp_sync_group" => {
                if let Some(g) = sync_group(&mut ctx, n) {
                    cfg.sync_groups.push(g);
                }
            }
            "vrrp_instance" => {
                if let Some(i) = vrrp_instance(&mut ctx, n, &mut next_pref) {
                    cfg.vrrp_instances.push(i);
                }
            }
            "virtual_server_group" => {
                if let Some(g) = virtual_server_group(&mut ctx, n) {
                    cfg.virtual_server_groups.push(g);
                }
            }
            "virtual_server" => {
                if let Some(v) = virtual_server(&mut ctx, n) {
                    cfg.virtual_servers.push(v);
                }
            }
            "interface_up_down_delays" => {
                // One `IFNAME DOWN_DELAY [UP_DELAY]` line per interface; the
                // interface is checked with the others in validate.
                for c in ctx.value_block(n) {
                    // The delays are timers of 0 to 255 s (read_timer's
                    // complaints; keepalived then only logs the line).
                    for d in c.args.iter().take(2) {
                        for m in super::values::read_decimal_micros(d, 0, 255_000_000).complaints {
                            ctx.warn(c.pos, m);
                        }
                    }
                    let args = super::addr::words(c).into_iter().map(String::from).collect();
                    cfg.other.push(super::model::RawOption { keyword: n.keyword.to_string(), args });
                }
            }
            "garp_group" => {
                super::build_misc::garp_group(&mut ctx, n, garp_groups, &mut cfg);
                garp_groups += 1;
            }
            "linkbeat_interfaces" => super::build_misc::linkbeat_interfaces(&mut ctx, n, &mut cfg),
            "track_group" => super::build_misc::track_group(&mut ctx, n, &mut cfg),
            "SSL" => super::build_misc::ssl(&mut ctx, n, &mut cfg),
            "child_wait_time" | "instance" => super::build_misc::scalar(&mut ctx, n, &mut cfg),
            "bfd_instance" => super::build_bfd::bfd_instance(&mut ctx, n, &mut cfg),
            k if RAW_TOP.contains(&k) => {
                // These take values, not blocks.
                if matches!(k, "net_namespace_ipvs" | "namespace_with_ipsets" | "use_pid_dir" | "linkbeat_use_polling") {
                    ctx.no_block(n);
                }
                let raw = ctx.raw(n);
                cfg.other.push(raw);
            }
            _ => ctx.unknown(n),
        }
    }
    cfg
}
