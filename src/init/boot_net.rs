//! At boot of the appliance: keepalived's `static_ipaddress`,
//! `static_routes` and `static_rules` applied through rtnetlink, so the
//! appliance's own addressing comes from keepalived.conf. Interfaces that
//! get a static address are brought up. Already-present entries count as
//! applied (a re-exec or reload must not fail on them).

use crate::config::model::{self, Config};
use crate::netlink::netconf::{self, NetconfError, exists_ok};
use crate::netlink::{LinkRef, Rtnl};

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

fn address(nl: &mut Rtnl, a: &model::IpAddress) -> Result<(), NetconfError> {
    let spec = netconf::addr_spec(nl, a, None)?;
    exists_ok(nl.addr_add(&spec))?;
    nl.link_set_up(LinkRef::Index(spec.ifindex), true)?;
    Ok(())
}

fn route(nl: &mut Rtnl, r: &model::Route) -> Result<(), NetconfError> {
    let spec = netconf::route_spec(nl, r, None)?;
    exists_ok(nl.route_add(&spec))
}

fn rule(nl: &mut Rtnl, r: &model::Rule) -> Result<(), NetconfError> {
    let spec = netconf::rule_spec(r)?;
    exists_ok(nl.rule_add(&spec))
}
