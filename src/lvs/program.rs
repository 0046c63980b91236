//! Bringing the kernel's IPVS table to what `desired` says, with the
//! fewest changes (the IPVS client's planner): unchanged services and
//! destinations are not touched, so established connections go on. Only
//! services this configuration names are managed; anything else in the
//! table belongs to someone else and is left alone. At a clean stop the
//! managed services are removed, as keepalived does.

use super::{QuorumMemory, RsView, VsWant, desired};
use crate::check::{CheckEvent, RsId};
use crate::config::model::{Config, LbKind, Protocol as CfgProtocol, VirtualServerKey};
use crate::ipvs::{Destination, FwdMethod, Ipvs, IpvsError, Op, Protocol, Service, ServiceKey, plan};
use crate::netlink::AddrFamily;
use std::collections::HashMap;

/// The IPVS service and destinations for one wanted virtual server.
pub fn to_ipvs(config: &Config, want: &VsWant) -> Option<(Service, Vec<Destination>)> {
    let vs = config.virtual_servers.get(want.index)?;
    let proto = match vs.protocol {
        CfgProtocol::Tcp => Protocol::Tcp,
        CfgProtocol::Udp => Protocol::Udp,
        CfgProtocol::Sctp => Protocol::Sctp,
    };
    let mut svc = match &vs.key {
        VirtualServerKey::Addr { addr, port } => Service::new(proto, *addr, *port, &vs.lb_algo)?,
        VirtualServerKey::Fwmark(m) => {
            let af = vs.real_servers.first().map(|r| AddrFamily::of(&r.addr)).unwrap_or(AddrFamily::Inet);
            Service::fwmark(af, *m, &vs.lb_algo)?
        }
        // virtual_server_group: not programmed yet.
        _ => return None,
    };
    if let Some(t) = vs.persistence_timeout {
        let prefix = match vs.persistence_granularity {
            Some(std::net::IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
            _ => svc.af.max_prefix_len(),
        };
        svc = svc.persistent(t, prefix)?;
    }
    let fwd = match vs.lb_kind {
        LbKind::Nat => FwdMethod::Masq,
        LbKind::Dr => FwdMethod::DirectRoute,
        LbKind::Tun => FwdMethod::Tunnel,
    };
    let dests = want.dests.iter().map(|d| Destination::new(d.addr, d.port, fwd).with_weight(d.weight.max(0) as u32)).collect();
    Some((svc, dests))
}

pub struct Lvs {
    ipvs: Option<Ipvs>,
    memory: QuorumMemory,
    views: HashMap<RsId, RsView>,
    managed: Vec<ServiceKey>,
}

impl Lvs {
    /// Opens IPVS (logs once if the kernel has none).
    pub fn new() -> Lvs {
        let ipvs = match Ipvs::open() {
            Ok(i) => Some(i),
            Err(IpvsError::NotAvailable) => {
                log::warn!("IPVS is not available in this kernel: virtual servers are checked but not programmed");
                None
            }
            Err(e) => {
                log::error!("IPVS: {e}");
                None
            }
        };
        Lvs { ipvs, memory: QuorumMemory::default(), views: HashMap::new(), managed: Vec::new() }
    }

    pub fn on_event(&mut self, config: &Config, ev: CheckEvent) {
        self.views.insert(ev.real_server, RsView { up: ev.up, weight: ev.weight });
        self.sync(config);
    }

    /// Brings the kernel's table to the config and the checkers' view.
    pub fn sync(&mut self, config: &Config) {
        let views = &self.views;
        let (wants, changes) = desired(config, |id| views.get(&id).copied(), &mut self.memory);
        for c in changes {
            log::info!("virtual server {}: quorum {}", c.index, if c.up { "up" } else { "lost" });
        }
        let Some(ipvs) = self.ipvs.as_mut() else { return };
        let wanted: Vec<(Service, Vec<Destination>)> = wants.iter().filter_map(|w| to_ipvs(config, w)).collect();
        let wanted_keys: Vec<ServiceKey> = wanted.iter().map(|(s, _)| s.key()).collect();
        let current = match ipvs.services() {
            Ok(list) => list,
            Err(e) => {
                log::error!("IPVS: listing services: {e}");
                return;
            }
        };
        let mut ours = Vec::new();
        for svc in current {
            let k = svc.key();
            if wanted_keys.contains(&k) || self.managed.contains(&k) {
                let dests = ipvs.dests(&svc).unwrap_or_default();
                ours.push((svc, dests));
            }
        }
        for op in plan(&ours, &wanted) {
            let r = match &op {
                Op::AddService(s) => ipvs.add_service(s),
                Op::EditService(s) => ipvs.edit_service(s),
                Op::DelService(s) => ipvs.del_service(s),
                Op::AddDest(s, d) => ipvs.add_dest(s, d),
                Op::EditDest(s, d) => ipvs.edit_dest(s, d),
                Op::DelDest(s, d) => ipvs.del_dest(s, d),
            };
            match r {
                Ok(()) => log::info!("IPVS: {op:?}"),
                Err(e) => log::error!("IPVS: {op:?}: {e}"),
            }
        }
        self.managed = wanted_keys;
    }

    /// Removes the services this configuration manages.
    pub fn teardown(&mut self) {
        let Some(ipvs) = self.ipvs.as_mut() else { return };
        let Ok(current) = ipvs.services() else { return };
        for svc in current.iter().filter(|s| self.managed.contains(&s.key())) {
            if let Err(e) = ipvs.del_service(svc) {
                log::warn!("IPVS: removing {:?}: {e}", svc.key());
            }
        }
        self.managed.clear();
    }
}

impl Default for Lvs {
    fn default() -> Self {
        Self::new()
    }
}
