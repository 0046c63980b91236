//! ha_suspend: a virtual server's checkers run only while its address is
//! a local address in the checker child's network namespace (with VRRP,
//! only the node holding the VIP checks). keepalived's
//! update_checker_activity:
//!
//! - checkers of such a virtual server start suspended unless the address
//!   is already there, and follow the netlink address broadcasts;
//! - a suspended checker does not probe; its real server keeps the state it
//!   had, and nothing changes in IPVS (no event, no notify);
//! - the same address on several interfaces counts until the last goes.
//!
//! The addresses followed: a plain virtual server's, and the address
//! members of a group (any one local is enough). keepalived never matches a
//! group (its address test returns early for one, so such checkers would
//! never run) nor a fwmark service (no address); here a virtual server with
//! no address to follow is never suspended.

use super::group::{self, Member};
use super::hooks::{rs_name, vs_name};
use crate::check::runner::Suspended;
use crate::config::model::{Config, VirtualServer};
use crate::netlink::mirror::{Change, Mirror};
use crate::netlink::reflector::{Reflector, ReflectorConfig};
use smol::{LocalExecutor, Task};
use std::cell::RefCell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

/// Whether `vs`'s checkers are to be suspended, given which addresses are
/// local.
pub fn suspended(config: &Config, vs: &VirtualServer, is_local: impl Fn(IpAddr) -> bool) -> bool {
    if !vs.ha_suspend {
        return false;
    }
    let mut any = false;
    for m in group::members(config, vs) {
        if let Member::Addr { addr, .. } = m {
            if is_local(addr) {
                return false;
            }
            any = true;
        }
    }
    any
}

/// Follows the local addresses and suspends or resumes the checkers.
pub struct HaSuspend {
    local: RefCell<HashSet<IpAddr>>,
    /// The checkers in force, and their config.
    target: RefCell<Option<(Rc<Config>, Suspended)>>,
}

impl HaSuspend {
    /// Subscribes to address changes in this thread's namespace (a dump:
    /// blocks for milliseconds) and follows them on `ex`.
    pub fn start(ex: &LocalExecutor<'static>) -> Option<(Rc<HaSuspend>, Task<()>)> {
        let refl = match Reflector::start(ReflectorConfig::default()) {
            Ok(r) => r,
            Err(e) => {
                log::error!("netlink reflector: {e}; ha_suspend cannot follow addresses, checkers run");
                return None;
            }
        };
        let me = Rc::new(HaSuspend { local: RefCell::new(HashSet::new()), target: RefCell::new(None) });
        me.local_changed(refl.mirror());
        let task = ex.spawn(follow(refl, me.clone()));
        Some((me, task))
    }

    /// New checkers (start or reload): those whose address is not local
    /// start suspended.
    pub fn attach(&self, config: Rc<Config>, s: Suspended) {
        {
            let local = self.local.borrow();
            for (vi, vs) in config.virtual_servers.iter().enumerate() {
                if suspended(&config, vs, |a| local.contains(&a)) && s.set(vi as u16, true) {
                    for rs in vs.real_servers.iter().filter(|r| !r.checkers.is_empty()) {
                        log::info!("Deactivating healthchecker for service {} for VS {}", rs_name(vs, rs), vs_name(vs));
                    }
                }
            }
        }
        *self.target.borrow_mut() = Some((config, s));
    }

    fn local_changed(&self, m: &Mirror) {
        let now: HashSet<IpAddr> = m.addrs().map(|a| a.addr).collect();
        if *self.local.borrow() == now {
            return;
        }
        *self.local.borrow_mut() = now;
        let target = self.target.borrow();
        let Some((config, s)) = target.as_ref() else { return };
        let local = self.local.borrow();
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            let on = suspended(config, vs, |a| local.contains(&a));
            if s.set(vi as u16, on) {
                for rs in vs.real_servers.iter().filter(|r| !r.checkers.is_empty()) {
                    log::info!(
                        "{} healthchecker for service {} for VS {}",
                        if on { "Suspending" } else { "Activating" },
                        rs_name(vs, rs),
                        vs_name(vs)
                    );
                }
            }
        }
    }
}

async fn follow(mut refl: Reflector, me: Rc<HaSuspend>) {
    loop {
        match refl.next().await {
            Ok(Change::AddrAdded { .. } | Change::AddrRemoved { .. } | Change::LinkRemoved { .. } | Change::Resynced) => {
                me.local_changed(refl.mirror())
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("netlink reflector (ha_suspend): {e}");
                async_io::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{VirtualServerGroup, VirtualServerKey, VsgEntry};

    fn vs(key: VirtualServerKey, ha: bool) -> VirtualServer {
        VirtualServer { key, ha_suspend: ha, ..VirtualServer::default() }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn follows_the_virtual_address() {
        let c = Config::default();
        let v = vs(VirtualServerKey::Addr { addr: ip("192.0.2.10"), port: 80 }, true);
        assert!(suspended(&c, &v, |_| false));
        assert!(!suspended(&c, &v, |a| a == ip("192.0.2.10")));
        assert!(suspended(&c, &v, |a| a == ip("192.0.2.11")));
        // Without ha_suspend: never.
        let v = vs(VirtualServerKey::Addr { addr: ip("192.0.2.10"), port: 80 }, false);
        assert!(!suspended(&c, &v, |_| false));
    }

    #[test]
    fn a_group_runs_while_any_member_address_is_local_and_fwmark_always() {
        let c = Config {
            virtual_server_groups: vec![VirtualServerGroup {
                name: "g".into(),
                entries: vec![VsgEntry::Range { first: ip("192.0.2.1"), last: ip("192.0.2.3"), port: 80 }, VsgEntry::Fwmark(4)],
            }],
            ..Config::default()
        };
        let g = vs(VirtualServerKey::Group("g".into()), true);
        assert!(suspended(&c, &g, |_| false));
        assert!(!suspended(&c, &g, |a| a == ip("192.0.2.3")));
        assert!(!suspended(&c, &vs(VirtualServerKey::Fwmark(4), true), |_| false));
        let fw_only = Config {
            virtual_server_groups: vec![VirtualServerGroup { name: "f".into(), entries: vec![VsgEntry::Fwmark(4)] }],
            ..Config::default()
        };
        assert!(!suspended(&fw_only, &vs(VirtualServerKey::Group("f".into()), true), |_| false));
    }
}
