//! Top-level blocks vigil keeps unmodelled (`garp_group`, `track_group`,
//! `linkbeat_interfaces`, `SSL`, `child_wait_time`, `instance`): what
//! keepalived 2.2.7 checks as it reads them, so the verdict matches. Their
//! interfaces are checked in validate (they need the host).

use super::diag::Diags;
use super::model::{Config, RawOption};
use super::tree::Node;
use super::values::{Ctx, read_decimal_micros};

fn raw(keyword: &str, args: Vec<String>) -> RawOption {
    RawOption { keyword: keyword.into(), args }
}

/// `garp_group { garp_interval T; gna_interval T; interface IF; interfaces { IF... } }`
pub fn garp_group(ctx: &mut Ctx<'_>, n: &Node, index: usize, cfg: &mut Config) {
    let mut have_delay = false;
    for c in ctx.need_block(n) {
        if c.keyword != "interfaces" {
            ctx.no_block(c);
        }
        match &*c.keyword {
            "garp_interval" | "gna_interval" => {
                let Some(a) = ctx.arg(c, 0) else { continue };
                let r = read_decimal_micros(a, 0, i32::MAX as u64);
                for m in r.complaints {
                    ctx.warn(c.pos, m);
                }
                match r.value {
                    Some(_) => have_delay = true,
                    None => ctx.warn(c.pos, format!("garp_group {} '{a}' invalid", c.keyword)),
                }
                // (An unreadable number that strtoull reads as in range is
                // taken, with only the number's complaint.)
            }
            // Checked against the host in validate (check_interfaces).
            "interface" => {
                ctx.arg(c, 0);
            }
            "interfaces" => {
                if ctx.value_block(c).is_empty() {
                    ctx.warn(c.pos, "Warning - empty garp_group interfaces block");
                }
            }
            _ => ctx.unknown(c),
        }
    }
    if !have_delay {
        ctx.warn(n.pos, format!("garp group {index} does not have any delay set - removing"));
    }
    cfg.other.push(raw("garp_group", Vec::new()));
}

/// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] ... }`
pub fn linkbeat_interfaces(ctx: &mut Ctx<'_>, n: &Node, cfg: &mut Config) {
    for l in ctx.value_block(n) {
        let kind_ok = matches!(l.arg(0), None | Some("MII" | "ETHTOOL" | "IOCTL")) && l.args.len() <= 1;
        if !kind_ok {
            ctx.warn(l.pos, format!("extra characters {} in linkbeat interface", l.arg(0).unwrap_or("")));
        }
    }
    cfg.other.push(raw("linkbeat_interfaces", Vec::new()));
}

/// `track_group NAME { group { INSTANCE... } }`
pub fn track_group(ctx: &mut Ctx<'_>, n: &Node, cfg: &mut Config) {
    let (Some(name), 1) = (n.arg(0), n.args.len()) else {
        ctx.warn(n.pos, "track_group must have a name - skipping");
        return;
    };
    for c in ctx.need_block(n) {
        match &*c.keyword {
            "group" => {
                if ctx.value_block(c).is_empty() {
                    ctx.warn(c.pos, format!("Warning - track group {name} has empty group block"));
                }
            }
            _ => ctx.unknown(c),
        }
    }
    cfg.other.push(ctx.raw(n));
}

/// `SSL { password P; ca FILE; certificate FILE; key FILE }`
pub fn ssl(ctx: &mut Ctx<'_>, n: &Node, cfg: &mut Config) {
    for c in ctx.need_block(n) {
        ctx.no_block(c);
        let what = match &*c.keyword {
            "password" => "password",
            "ca" => "cafile",
            "certificate" => "certfile",
            "key" => "keyfile",
            _ => {
                ctx.unknown(c);
                continue;
            }
        };
        if c.arg(0).is_none() {
            ctx.warn(c.pos, format!("SSL {what} missing"));
        }
    }
    cfg.other.push(ctx.raw(n));
}

/// `child_wait_time SECS` and `instance NAME`.
pub fn scalar(ctx: &mut Ctx<'_>, n: &Node, cfg: &mut Config) {
    ctx.no_block(n);
    match &*n.keyword {
        "child_wait_time" => {
            let Some(a) = ctx.arg(n, 0) else { return };
            if super::values::parse_i64(a).is_none_or(|v| !(0..=i64::from(u32::MAX)).contains(&v)) {
                ctx.warn(n.pos, super::values::unsigned_complaint(a, 0, i64::from(u32::MAX)));
                ctx.warn(n.pos, format!("Invalid child_wait_time {a}"));
                return;
            }
        }
        "instance" if n.arg(0).is_none() => {
            ctx.warn(n.pos, "instance name missing - ignoring");
            return;
        }
        _ => {}
    }
    cfg.other.push(ctx.raw(n));
}

/// The interfaces garp_group and linkbeat_interfaces blocks name that the
/// host does not have.
pub fn check_interfaces(tree: &[Node], exists: impl Fn(&str) -> bool, diags: &mut Diags) {
    // An interface belongs to one garp_group.
    let mut grouped: Vec<&str> = Vec::new();
    for n in tree {
        match &*n.keyword {
            "garp_group" => {
                for c in n.children() {
                    let names: Vec<(&str, super::diag::Pos)> = match &*c.keyword {
                        "interface" => c.arg(0).map(|i| (i, c.pos)).into_iter().collect(),
                        "interfaces" => c
                            .children()
                            .iter()
                            .flat_map(|l| std::iter::once(&*l.keyword).chain(l.args.iter().map(|a| &**a)).map(|i| (i, l.pos)))
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (i, pos) in names {
                        if !exists(i) {
                            diags.warn(pos, format!("WARNING - interface {i} specified for garp_group doesn't exist"));
                        } else if grouped.contains(&i) {
                            diags.warn(pos, format!("garp_group already specified for {i} - ignoring"));
                        } else {
                            grouped.push(i);
                        }
                    }
                }
            }
            "linkbeat_interfaces" => {
                for l in n.children().iter().filter(|l| !exists(&l.keyword)) {
                    diags.warn(l.pos, format!("unknown interface {} specified for linkbeat interface", l.keyword));
                }
            }
            _ => {}
        }
    }
}

/// `track_group NAME` on static addresses, routes and rules must name a
/// track_group defined before it (static_track_group_find).
pub fn check_track_groups(tree: &[Node], diags: &mut Diags) {
    let mut defined: Vec<&str> = Vec::new();
    for n in tree {
        match &*n.keyword {
            "track_group" => defined.extend(n.arg(0)),
            "static_ipaddress" | "static_routes" | "static_rules" => {
                for l in n.children() {
                    let words: Vec<&str> = std::iter::once(&*l.keyword).chain(l.args.iter().map(|a| &**a)).collect();
                    for w in words.windows(2).filter(|w| w[0] == "track_group") {
                        if !defined.contains(&w[1]) {
                            diags.warn(l.pos, format!("track_group {} not found", w[1]));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
