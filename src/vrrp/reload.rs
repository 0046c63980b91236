//! What a reload (SIGHUP) does to each VRRP instance: old config vs new,
//! pure. keepalived 2.2.7 keeps an instance across a reload when the new
//! config has one on the same interface with the same VRID, address family,
//! unicast-ness (and, unicast, source address) and use_vmac (its
//! `vrrp_exist`, which ignores the name); that one keeps its state and takes
//! the rest of the new settings. vigil does the same, and also restarts an
//! instance whose VRRP version, source address, VMAC name or
//! vmac_xmit_base changed: its sockets or its adverts' identity change, so
//! its peers see a new router either way.
//!
//! Sync groups: keepalived keeps a group's state when the group keeps its
//! name and members (`state_same_at_reload`); otherwise the group starts
//! from INIT and its members that were master go back to backup (no
//! priority 0; VIPs removed; notify backup), so the group elects again.

use crate::config::model::{Config, VrrpInstance};
use std::net::IpAddr;

/// What identifies an instance to its peers and to the machine: any
/// change restarts it (a new election).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub interface: Option<String>,
    pub vrid: u8,
    pub v6: bool,
    pub version: u8,
    pub unicast: bool,
    /// unicast_src_ip / mcast_src_ip.
    pub src: Option<IpAddr>,
    pub use_vmac: Option<String>,
    pub vmac_xmit_base: bool,
}

impl Identity {
    pub fn of(config: &Config, inst: &VrrpInstance) -> Identity {
        Identity {
            interface: inst.interface.clone(),
            vrid: inst.virtual_router_id,
            v6: inst.virtual_ipaddress.first().is_some_and(|a| a.addr.is_ipv6()),
            version: inst.version.unwrap_or(config.global.vrrp_version),
            unicast: !inst.unicast_peers.is_empty(),
            src: inst.unicast_src_ip.or(inst.mcast_src_ip),
            use_vmac: inst.use_vmac.clone(),
            vmac_xmit_base: inst.vmac_xmit_base,
        }
    }

    /// The first difference, named by keepalived's keyword (for the log).
    pub fn differs(&self, other: &Identity) -> Option<&'static str> {
        if self.interface != other.interface {
            Some("interface")
        } else if self.vrid != other.vrid {
            Some("virtual_router_id")
        } else if self.v6 != other.v6 {
            Some("address family")
        } else if self.version != other.version {
            Some("version")
        } else if self.unicast != other.unicast {
            Some("unicast_peer (unicast vs multicast)")
        } else if self.src != other.src {
            Some("source address")
        } else if self.use_vmac != other.use_vmac {
            Some("use_vmac")
        } else if self.vmac_xmit_base != other.vmac_xmit_base {
            Some("vmac_xmit_base")
        } else {
            None
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// (new index, old index): kept running, new settings applied in place.
    pub kept: Vec<(usize, usize)>,
    /// Old indices: stopped as at a clean stop.
    pub removed: Vec<usize>,
    /// New indices: started as at start-up.
    pub added: Vec<usize>,
    /// Instances of the same name that restart, and why (removed + added).
    pub restarted: Vec<(String, &'static str)>,
    /// New indices of kept instances whose sync group is new or changed
    /// its members: a master among them goes back to backup.
    pub regrouped: Vec<usize>,
}

pub fn plan(old: &Config, new: &Config) -> Plan {
    let old_ids: Vec<Identity> = old.vrrp_instances.iter().map(|i| Identity::of(old, i)).collect();
    let mut taken = vec![false; old.vrrp_instances.len()];
    let mut p = Plan::default();
    for (j, inst) in new.vrrp_instances.iter().enumerate() {
        let id = Identity::of(new, inst);
        // The same name first, then any instance keepalived would match.
        let same_name = old.vrrp_instances.iter().position(|o| o.name == inst.name);
        let found = same_name
            .filter(|&i| !taken[i] && old_ids[i] == id)
            .or_else(|| (0..old_ids.len()).find(|&i| !taken[i] && old_ids[i] == id));
        match found {
            Some(i) => {
                taken[i] = true;
                p.kept.push((j, i));
            }
            None => {
                if let Some(why) = same_name.and_then(|i| old_ids[i].differs(&id)) {
                    p.restarted.push((inst.name.clone(), why));
                }
                p.added.push(j);
            }
        }
    }
    p.removed = (0..old.vrrp_instances.len()).filter(|&i| !taken[i]).collect();
    for &(j, i) in &p.kept {
        let group_of = |c: &Config, name: &str| c.sync_groups.iter().find(|g| g.group.iter().any(|m| m == name)).cloned();
        let (og, ng) = (group_of(old, &old.vrrp_instances[i].name), group_of(new, &new.vrrp_instances[j].name));
        let same = match (&og, &ng) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                let mut am = a.group.clone();
                let mut bm = b.group.clone();
                am.sort();
                bm.sort();
                a.name == b.name && am == bm
            }
            _ => false,
        };
        if !same && ng.is_some() {
            p.regrouped.push(j);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_str};
    use std::path::Path;

    fn conf(instances: &str) -> Config {
        let text = format!("global_defs {{\n router_id t\n}}\n{instances}");
        let l = load_str(&text, Path::new("/nonexistent/t.conf"), &LoadOptions::default());
        assert!(l.is_valid(), "{text}");
        l.config
    }

    fn inst(name: &str, body: &str) -> String {
        format!("vrrp_instance {name} {{\n interface eth0\n virtual_router_id 51\n priority 100\n advert_int 1\n {body}\n virtual_ipaddress {{\n  192.0.2.100/24\n }}\n}}\n")
    }

    #[test]
    fn settings_apply_in_place_identity_restarts() {
        let old = conf(&inst("VI_1", ""));
        // Priority, interval, preemption, auth, peers' list: in place.
        for body in ["priority 150", "advert_int 2", "nopreempt", "authentication {\n auth_type PASS\n auth_pass x\n}", "preempt_delay 5"] {
            let new = conf(&inst("VI_1", body));
            assert_eq!(plan(&old, &new).kept, vec![(0, 0)], "{body}");
        }
        // VRID, version, family (IPv6 VIPs), unicast: a restart.
        let new = conf(&inst("VI_1", "").replace("virtual_router_id 51", "virtual_router_id 52"));
        let p = plan(&old, &new);
        assert_eq!((p.kept.len(), p.removed.clone(), p.added.clone()), (0, vec![0], vec![0]));
        assert_eq!(p.restarted, vec![("VI_1".to_string(), "virtual_router_id")]);
        let new = conf(&inst("VI_1", "version 3"));
        assert_eq!(plan(&old, &new).restarted[0].1, "version");
        let new = conf(&inst("VI_1", "unicast_peer {\n 192.0.2.2\n}"));
        assert_eq!(plan(&old, &new).restarted[0].1, "unicast_peer (unicast vs multicast)");
    }

    #[test]
    fn added_removed_renamed_and_reordered() {
        let a = inst("A", "");
        let b = inst("B", "").replace("virtual_router_id 51", "virtual_router_id 52");
        let old = conf(&format!("{a}{b}"));
        // Reordered: both kept, indices follow.
        let new = conf(&format!("{b}{a}"));
        assert_eq!(plan(&old, &new).kept, vec![(0, 1), (1, 0)]);
        // B gone, C new.
        let c = inst("C", "").replace("virtual_router_id 51", "virtual_router_id 53");
        let p = plan(&old, &conf(&format!("{a}{c}")));
        assert_eq!((p.kept, p.removed, p.added), (vec![(0, 0)], vec![1], vec![1]));
        // Renamed on the same interface and VRID: kept, as keepalived.
        let p = plan(&old, &conf(&format!("{}{b}", inst("A2", ""))));
        assert_eq!(p.kept, vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn sync_group_membership_change_regroups() {
        let a = inst("A", "");
        let b = inst("B", "").replace("virtual_router_id 51", "virtual_router_id 52");
        let c = inst("C", "").replace("virtual_router_id 51", "virtual_router_id 53");
        let g = |m: &str| format!("vrrp_sync_group G {{\n group {{\n {m}\n }}\n}}\n");
        let old = conf(&format!("{}{a}{b}{c}", g("A\n B")));
        assert!(plan(&old, &conf(&format!("{}{a}{b}{c}", g("B\n A")))).regrouped.is_empty());
        assert_eq!(plan(&old, &conf(&format!("{}{a}{b}{c}", g("A\n B\n C")))).regrouped, vec![0, 1, 2]);
        // Leaving a group: no group to follow, nothing to redo.
        assert!(plan(&old, &conf(&format!("{a}{b}{c}"))).regrouped.is_empty());
    }
}
