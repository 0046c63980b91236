//! keepalived.conf's addresses, routes and rules turned into rtnetlink
//! requests: shared by the boot-time static addressing and by the VRRP
//! engine's VIPs, virtual routes and virtual rules.

use crate::config::model;
use crate::netlink::{self, AddrFamily, AddrSpec, NetlinkError, Rtnl, RouteSpec, RuleSpec, consts};
use std::net::IpAddr;

#[derive(Debug)]
pub enum NetconfError {
    NoDevice,
    BadName(String),
    Unsupported(&'static str),
    Netlink(NetlinkError),
}

impl std::fmt::Display for NetconfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetconfError::NoDevice => f.write_str("no `dev` given"),
            NetconfError::BadName(n) => write!(f, "bad interface name {n:?}"),
            NetconfError::Unsupported(what) => write!(f, "{what} is not supported yet"),
            NetconfError::Netlink(e) => write!(f, "{e}"),
        }
    }
}

impl From<NetlinkError> for NetconfError {
    fn from(e: NetlinkError) -> Self {
        NetconfError::Netlink(e)
    }
}

pub fn ifindex(nl: &mut Rtnl, dev: &str) -> Result<u32, NetconfError> {
    netlink::if_name(dev).ok_or_else(|| NetconfError::BadName(dev.to_string()))?;
    Ok(nl.link_index(dev)?)
}

pub fn exists_ok(r: netlink::Result<()>) -> Result<(), NetconfError> {
    match r {
        Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => Ok(()),
        other => Ok(other?),
    }
}

/// The request for one address line; `default_dev` is the VRRP instance's
/// interface (VIPs without `dev`).
pub fn addr_spec(nl: &mut Rtnl, a: &model::IpAddress, default_dev: Option<&str>) -> Result<AddrSpec, NetconfError> {
    let dev = a.dev.as_deref().or(default_dev).ok_or(NetconfError::NoDevice)?;
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
    Ok(spec)
}

pub fn prefix(p: &model::IpPrefix) -> Result<netlink::IpPrefix, NetconfError> {
    netlink::IpPrefix::new(p.addr, p.prefix_len).ok_or(NetconfError::Unsupported("a prefix longer than its family"))
}

pub fn route_spec(nl: &mut Rtnl, r: &model::Route, default_dev: Option<&str>) -> Result<RouteSpec, NetconfError> {
    if !r.nexthops.is_empty() {
        return Err(NetconfError::Unsupported("a multipath route"));
    }
    let mut spec = RouteSpec::new(prefix(&r.dst)?);
    spec.gateway = r.gateway;
    spec.oif = match r.dev.as_deref().or(if r.gateway.is_none() && r.route_type == model::RouteType::Unicast { default_dev } else { None }) {
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
        model::RouteType::Nat => return Err(NetconfError::Unsupported("route type nat")),
    };
    Ok(spec)
}

pub fn rule_spec(r: &model::Rule) -> Result<RuleSpec, NetconfError> {
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
        model::RuleAction::Goto => return Err(NetconfError::Unsupported("rule goto")),
        model::RuleAction::Nop => netlink::RuleAction::Nop,
        model::RuleAction::Blackhole => netlink::RuleAction::Blackhole,
        model::RuleAction::Unreachable => netlink::RuleAction::Unreachable,
        model::RuleAction::Prohibit => netlink::RuleAction::Prohibit,
    };
    Ok(spec)
}
