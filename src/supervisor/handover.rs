//! A crash loop must not split the brain. While the VRRP child is down, its
//! instances send no adverts, but the VIPs it added stay on the interfaces.
//! A restart within the peers' patience resumes the mastership (`Resume`);
//! a back-off that outlasts it would let a peer take over while this node
//! still answers for the VIPs. So before such a back-off the parent, which
//! keeps the child's last report, hands each master instance over on the
//! child's behalf, as a clean stop would: one advert with priority 0 (the
//! peers take over after their skew time), then the VIPs, virtual routes and
//! rules removed. The child then comes back as a backup.
//!
//! The decision is pure ([`due`]); the act ([`hand_over`]) opens the
//! instance's sockets for the moment it needs them.

use crate::config::Config;
use crate::vrrp::fsm::State;
use crate::vrrp::instance::{Instance, InstanceStatus};
use std::time::Duration;

/// What a restarted VRRP child needs, from its spawn to its first advert, on
/// a loaded machine (measured: 20-60 ms on the host, under 300 ms in a TCG
/// guest).
pub const RESTART_ALLOWANCE: Duration = Duration::from_millis(500);

/// The master instances in `last` (the child's last report) that a restart
/// after `delay` would not save. A peer declares the master down after its
/// Master_Down_Interval (three advert intervals plus a skew) counted from the
/// last advert, which may have left up to one interval before the crash: the
/// restarted child must advertise again within two intervals of it.
pub fn due(config: &Config, last: &[InstanceStatus], delay: Duration) -> Vec<String> {
    last.iter()
        .filter(|s| s.state == State::Master)
        .filter(|s| {
            let Some(inst) = config.vrrp_instances.iter().find(|i| i.name == s.name) else { return false };
            let interval = Duration::from_millis(u64::from(inst.advert_int.0) * 10);
            delay + RESTART_ALLOWANCE >= interval * 2
        })
        .map(|s| s.name.clone())
        .collect()
}

/// Hands `names` over: a priority-0 advert, then the VIPs, routes and rules
/// removed. Failures are logged; what could be done is done.
pub fn hand_over(config: &Config, names: &[String]) {
    for name in names {
        let Some(inst) = config.vrrp_instances.iter().find(|i| &i.name == name) else { continue };
        match Instance::setup(config, inst) {
            Ok(mut i) => {
                i.hand_over();
                log::warn!("({name}) handed over for the VRRP child: priority 0 sent, VIPs removed");
            }
            Err(e) => log::error!("({name}) cannot hand over for the VRRP child: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Centiseconds, VrrpInstance};

    fn status(name: &str, state: State) -> InstanceStatus {
        InstanceStatus { name: name.into(), state, ..Default::default() }
    }

    #[test]
    fn only_masters_whose_peers_would_lose_patience() {
        let mut c = Config::default();
        for (name, cs) in [("fast", 100u32), ("slow", 500)] {
            c.vrrp_instances.push(VrrpInstance { name: name.into(), advert_int: Centiseconds(cs), ..Default::default() });
        }
        let last = [status("fast", State::Master), status("slow", State::Master), status("gone", State::Master)];
        // advert_int 1 s: a restart within 1.5 s is in time, 2 s is not.
        assert!(due(&c, &last, Duration::from_millis(1000)).is_empty());
        assert_eq!(due(&c, &last, Duration::from_millis(1500)), ["fast"]);
        assert_eq!(due(&c, &last, Duration::from_secs(2)), ["fast"]);
        // advert_int 5 s: patient peers; an instance no longer configured is left alone.
        assert_eq!(due(&c, &last, Duration::from_secs(10)), ["fast", "slow"]);
        // Backups have nothing to hand over.
        let backups = [status("fast", State::Backup), status("slow", State::Fault)];
        assert!(due(&c, &backups, Duration::from_secs(30)).is_empty());
    }
}
