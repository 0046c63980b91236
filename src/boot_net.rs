//! At boot of the appliance: keepalived's `static_ipaddress`,
//! `static_routes` and `static_rules` applied through rtnetlink, so the
//! appliance's own addressing comes from keepalived.conf. Interfaces that
//! get a static address are brought up. Already-present entries count as
//! applied (a re-exec or reload must not fail on them).

use crate::config::model::{self, Config};
use crate::netlink::{self, AddrFamily, AddrSpec, LinkRef, NetlinkError, Rtnl, RouteSpec, RuleSpec, consts};
use std::net::IpAddr;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub addresses: usize,
    pub routes: usize,
    pub rules: usize,
    pub failed: usize,
}

/// Applies everything it can; logs each failure and goes on.
pub fn apply_static(config: &Config) -> Applied {
    let mut out = Applied::default();
    if config.static_ipaddress.is_empty() && config.static_routes.is_empty() && config.static_rules.is_empty() {
        return out;
    }
    let mut nl = match Rtnl::new() {
        Ok(nl) => nl,
        Err(e) => {
            log::error!("static addressing: rtnetlink: {e}");
            out.failed = config.static_ipaddress.len() + config.static_routes.len() + config.static_rules.len();
            return out;
        }
    };
    for a in &config.static_ipaddress {
        match address(&mut nl, a) {
            Ok(()) => out.addresses += 1,
            Err(e) => {
                out.failed += 1;
                log::error!("static_ipaddress {}/{}: {e}", a.addr, a.prefix_len);
            }
        }
    }
    for r in &config.static_routes {
        match route(&mut nl, r) {
            Ok(()) => out.routes += 1,
            Err(e) => {
                out.failed += 1;
                log::error!("static_routes {}/{}: {e}", r.dst.addr, r.dst.prefix_len);
            }
        }
    }
    for r in &config.static_rules {
        match rule(&mut nl, r) {
            Ok(()) => out.rules += 1,
            Err(e) => {
                out.failed += 1;
                log::error!("static_rules: {e}");
            }
        }
    }
    log::info!(
        "static addressing: {} address(es), {} route(s), {} rule(s) applied, {} failed",
        out.addresses,
        out.routes,
        out.rules,
        out.failed
    );
    out
}

#[derive(Debug)]
pub enum StaticError {
    NoDevice,
    BadName(String),
    Unsupported(&'static str),
    Netlink(NetlinkError),
}

impl std::fmt::Display for StaticError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaticError::NoDevice => f.write_str("no `dev` given"),
            StaticError::BadName(n) => write!(f, "bad interface name {n:?}"),
            StaticError::Unsupported(what) => write!(f, "{what} is not supported yet"),
            StaticError::Netlink(e) => write!(f, "{e}"),
        }
    }
}

impl From<NetlinkError> for StaticError {
    fn from(e: NetlinkError) -> Self {
        StaticError::Netlink(e)
    }
}

fn ifindex(nl: &mut Rtnl, dev: &str) -> Result<u32, StaticError> {
    netlink::if_name(dev).ok_or_else(|| StaticError::BadName(dev.to_string()))?;
    Ok(nl.link_index(dev)?)
}

fn exists_ok(r: netlink::Result<()>) -> Result<(), StaticError> {
    match r {
        Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => Ok(()),
        other => Ok(other?),
    }
}

fn address(nl: &mut Rtnl, a: &model::IpAddress) -> Result<(), StaticError> {
    let dev = a.dev.as_deref().ok_or(StaticError::NoDevice)?;
    let index = ifindex(nl, dev)?;
    let mut spec = AddrSpec::new(index, a.addr, a.prefix_len);
    spec.scope = a.scope.map_or(consts::RT_SCOPE_UNIVERSE, |s| s.rt_value());
    spec.broadcast = match a.broadcast {
        Some(IpAddr::V4(b)) => Some(b),
        _ => None,
    };
    spec.peer = a.peer.map(|p| p.addr);
    spec.label = a.label.as_deref().and_then(netlink::if_name);
    if a.nodad {
        spec.flags |= consts::IFA_F_NODAD;
    }
    if a.noprefixroute {
        spec.flags |= consts::IFA_F_NOPREFIXROUTE;
    }
    exists_ok(nl.addr_add(&spec))?;
    nl.link_set_up(LinkRef::Index(index), true)?;
    Ok(())
}

fn prefix(p: &model::IpPrefix) -> Result<netlink::IpPrefix, StaticError> {
    netlink::IpPrefix::new(p.addr, p.prefix_len).ok_or(StaticError::Unsupported("a prefix longer than its family"))
}

fn route(nl: &mut Rtnl, r: &model::Route) -> Result<(), StaticError> {
    if !r.nexthops.is_empty() {
        return Err(StaticError::Unsupported("a multipath route"));
    }
    let mut spec = RouteSpec::new(prefix(&r.dst)?);
    spec.gateway = r.gateway;
    spec.oif = match &r.dev {
        Some(d) => Some(ifindex(nl, d)?),
        None => None,
    };
    spec.prefsrc = r.src;
    spec.metric = r.metric;
    if let Some(t) = r.table {
        spec.table = t;
    }
    spec.scope = r.scope.map(|s| s.rt_value());
    spec.protocol = r.protocol.unwrap_or(consts::RTPROT_KEEPALIVED);
    spec.kind = match r.route_type {
        model::RouteType::Unicast => netlink::RouteType::Unicast,
        model::RouteType::Blackhole => netlink::RouteType::Blackhole,
        model::RouteType::Unreachable => netlink::RouteType::Unreachable,
        model::RouteType::Prohibit => netlink::RouteType::Prohibit,
        model::RouteType::Throw => netlink::RouteType::Throw,
        model::RouteType::Local => netlink::RouteType::Local,
        model::RouteType::Broadcast => netlink::RouteType::Broadcast,
        model::RouteType::Anycast => netlink::RouteType::Anycast,
        model::RouteType::Multicast => netlink::RouteType::Multicast,
        model::RouteType::Nat => return Err(StaticError::Unsupported("route type nat")),
    };
    exists_ok(nl.route_add(&spec))
}

fn rule(nl: &mut Rtnl, r: &model::Rule) -> Result<(), StaticError> {
    let family = r
        .from
        .or(r.to)
        .map(|p| AddrFamily::of(&p.addr))
        .unwrap_or(AddrFamily::Inet);
    let mut spec = RuleSpec::new(family, r.table.unwrap_or(0));
    spec.from = r.from.as_ref().map(prefix).transpose()?;
    spec.to = r.to.as_ref().map(prefix).transpose()?;
    spec.priority = r.priority;
    spec.iif = r.iif.as_deref().and_then(netlink::if_name);
    spec.oif = r.oif.as_deref().and_then(netlink::if_name);
    spec.fwmark = r.fwmark;
    spec.fwmask = r.fwmask;
    spec.protocol = r.protocol.unwrap_or(consts::RTPROT_KEEPALIVED);
    spec.action = match r.action {
        model::RuleAction::Table => netlink::RuleAction::ToTable,
        model::RuleAction::Goto => return Err(StaticError::Unsupported("rule goto")),
        model::RuleAction::Nop => netlink::RuleAction::Nop,
        model::RuleAction::Blackhole => netlink::RuleAction::Blackhole,
        model::RuleAction::Unreachable => netlink::RuleAction::Unreachable,
        model::RuleAction::Prohibit => netlink::RuleAction::Prohibit,
    };
    exists_ok(nl.rule_add(&spec))
}
