//! A reload's new settings taken in place by a running instance: same
//! task, same sockets (unless authentication moves to or from IPsec-AH),
//! same state machine state and timers. VIPs, virtual routes and rules that
//! stay are left alone; while they are set, added ones are added (VIPs with
//! a gratuitous ARP / unsolicited NA burst, as on becoming master) and
//! removed ones deleted.

use super::{Instance, Settings};
use crate::config::model::Config;
use crate::netlink::netconf;
use crate::netlink::nft::NoAccept;
use crate::notify::{Notifier, NotifyScripts};
use crate::vrrp::fsm::{self, Input, State};
use crate::vrrp::net::AdvertSocket;
use crate::vrrp::net::garp::{ArpSocket, NaSocket};
use std::cell::RefCell;
use std::rc::Rc;

/// What a kept instance's task is handed at a reload: the new config and
/// where the instance is in it, and the engine-wide parts it uses.
pub struct Reconfig {
    pub config: Rc<Config>,
    pub index: usize,
    pub notify: Option<(Rc<Notifier>, NotifyScripts)>,
    pub no_accept: Option<Rc<RefCell<NoAccept>>>,
}

impl Instance {
    /// Applies `r` in place. Anything that cannot be resolved (an address
    /// spec, a socket) leaves every setting as it was, logged.
    pub fn reconfigure(&mut self, r: &Reconfig, now: fsm::Instant) {
        let Some(inst) = r.config.vrrp_instances.get(r.index) else { return };
        let mut set = match Settings::resolve(&r.config, inst, &mut self.nl.borrow_mut(), self.ctx.src, &self.vip_dev) {
            Ok(s) => s,
            Err(e) => {
                log::error!("({}) reload: {e}; the previous settings stay", self.name);
                return;
            }
        };
        // Sockets first, so that a failure changes nothing.
        let rx = if set.ah != self.ah {
            let groups = self.group.as_slice();
            match AdvertSocket::receiver(&self.interface, self.rx_ifindex, self.ctx.src.is_ipv6(), groups, set.ah).and_then(async_io::Async::new) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::error!("({}) reload: receive socket: {e}; the previous settings stay", self.name);
                    return;
                }
            }
        } else {
            None
        };
        if self.arp.is_none() && set.vips.iter().any(|a| a.addr.is_ipv4()) {
            match ArpSocket::new(self.vip_index) {
                Ok(s) => self.arp = Some(s),
                Err(e) => log::error!("({}) reload: arp socket: {e}", self.name),
            }
        }
        if self.na.is_none() && set.vips.iter().any(|a| a.addr.is_ipv6()) {
            match NaSocket::new(&self.vip_dev, self.vip_index) {
                Ok(s) => self.na = Some(s),
                Err(e) => log::error!("({}) reload: neighbour advertisement socket: {e}", self.name),
            }
        }
        if let Some(rx) = rx {
            self.rx = rx;
            self.ah = set.ah;
        }
        // The reload may have added or removed siblings on this link.
        if let Err(e) = self.rx.get_ref().filter_vrids(&crate::vrrp::net::filter::siblings(&r.config, inst)) {
            log::warn!("({}) reload: the sibling VRID filter: {e}; every advert on the link is read", self.name);
        }
        if self.name != inst.name {
            log::info!("({}) renamed {} by the reload (same interface and VRID)", self.name, inst.name);
            self.name = inst.name.clone();
        }
        // The IP ident and the AH sequence go on: peers reject a replayed one.
        set.ctx.continue_from(&self.ctx);

        let added: Vec<_> = set.vips.iter().filter(|v| !self.vips.contains(v)).cloned().collect();
        let removed = self.vips.iter().filter(|v| !set.vips.contains(v)).count();
        if self.vips_set {
            self.swap_addresses(&set, r.no_accept.as_ref());
        }
        let before = (self.fsm.base_priority(), self.fsm.config().advert_interval);
        self.vips = set.vips;
        self.routes = set.routes;
        self.rules = set.rules;
        self.dsts = set.dsts;
        self.ctx = set.ctx;
        self.strict = set.strict;
        self.skip_check_adv_addr = set.skip_check_adv_addr;
        self.no_accept = r.no_accept.clone();
        self.notify = r.notify.clone();
        let actions = self.fsm.handle(now, Input::Reconfigure(set.fc));
        self.exec(actions);
        log::info!(
            "({}) reloaded in place, {}: priority {} -> {}, advert_int {:?} -> {:?}, VIPs +{} -{}",
            self.name,
            self.fsm.state(),
            before.0,
            self.fsm.base_priority(),
            before.1,
            self.fsm.config().advert_interval,
            added.len(),
            removed
        );
        if self.fsm.state() == State::Master {
            // The log line the reload of a master was always known by.
            log::info!("({}) kept as master across the reload", self.name);
            // keepalived 2.2.7, seen on the wire: a reload that adds a VIP
            // sends a burst for every VIP; one that adds none sends none.
            let repeat = self.fsm.config().garp.master_repeat;
            if self.vips_set && !added.is_empty() && repeat > 0 {
                self.send_gratuitous(repeat);
            }
        }
    }

    /// While the VIPs are set: deletes what the new settings drop, adds
    /// what they bring, leaves the rest alone; the no_accept filter follows.
    fn swap_addresses(&mut self, set: &Settings, no_accept: Option<&Rc<RefCell<NoAccept>>>) {
        for spec in self.rules.iter().filter(|r| !set.rules.contains(r)) {
            let _ = self.nl.borrow_mut().rule_del(spec);
        }
        for spec in self.routes.iter().filter(|r| !set.routes.contains(r)) {
            let _ = self.nl.borrow_mut().route_del(spec);
        }
        for spec in self.vips.iter().filter(|v| !set.vips.contains(v)) {
            super::delete_vip(&mut self.nl.borrow_mut(), &mut self.counters, self.no_accept.as_deref(), &self.name, spec);
        }
        for spec in &set.vips {
            let new = !self.vips.contains(spec);
            // The filter for every VIP it did not guard yet.
            if let Some(na) = no_accept
                && (new || self.no_accept.is_none())
                && let Err(e) = na.borrow_mut().add(spec.addr)
            {
                log::error!("({}) no_accept filter for {}: {e}", self.name, spec.addr);
            }
            if !new {
                if no_accept.is_none() && let Some(old) = &self.no_accept {
                    let _ = old.borrow_mut().del(spec.addr);
                }
                continue;
            }
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().addr_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding {}/{}: {e}", self.name, spec.addr, spec.prefix_len);
            }
        }
        for spec in set.routes.iter().filter(|r| !self.routes.contains(r)) {
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().route_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding virtual route: {e}", self.name);
            }
        }
        for spec in set.rules.iter().filter(|r| !self.rules.contains(r)) {
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().rule_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding virtual rule: {e}", self.name);
            }
        }
    }
}
