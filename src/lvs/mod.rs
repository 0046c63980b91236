//! The checker child's IPVS side. This file is pure (no I/O, tested on its
//! own): what the IPVS table should hold, given the configuration and what
//! the checkers say: keepalived's rules for real servers,
//! inhibit_on_failure, quorum with hysteresis, and the sorry server.
//! `program` does the I/O: it reconciles the kernel's table to that, and
//! runs the hooks; `kernel` and `suspend` talk to the kernel too.
//!
//! - `group`: the IPVS services a virtual server stands for (groups).
//! - `identity`: servers by what they are, not where they sit in the file.
//! - `hooks`: notify scripts and SMTP alerts on transitions.
//! - `fifo`: the notify FIFO lines of those transitions.
//! - `kernel`: kernel-wide settings (lvs_timeouts, lvs_flush).
//! - `program`: the kernel's table brought to `desired`, and the hooks.
//! - `service`: the IPVS service settings of a virtual server.
//! - `suspend`: ha_suspend, checkers following the virtual address.
//! - `status`: virtual and real servers as status shows them.
//! - `dump`: /tmp/keepalived_check.data (SIGUSR1), keepalived's layout.

use crate::check::RsId;

pub mod dump;
pub mod fifo;
pub mod group;
pub mod hooks;
pub mod identity;
pub mod kernel;
pub mod program;
pub mod service;
pub mod status;
pub mod suspend;
use crate::config::model::{Config, LbKind, VirtualServer};
use identity::{VsIdent, vs_ident};
use std::collections::HashMap;
use std::net::IpAddr;

/// What the checkers say about one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsView {
    pub up: bool,
    /// A weight set by a checker (MISC_CHECK misc_dynamic, FILE_CHECK).
    pub weight: Option<i32>,
}

/// One destination as it should be in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestWant {
    pub addr: IpAddr,
    /// As configured (a plain address virtual server's real servers always
    /// have one); None: see `group::dest_port`.
    pub port: Option<u16>,
    pub weight: i32,
    /// How IPVS forwards to it (its own `lvs_method`, else the virtual
    /// server's `lb_kind`).
    pub fwd: LbKind,
    /// The sorry server rather than a real server.
    pub sorry: bool,
}

/// One virtual server as it should be in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsWant {
    pub index: usize,
    pub ident: VsIdent,
    pub dests: Vec<DestWant>,
    pub quorum_up: bool,
}

/// What must be remembered between two evaluations (hysteresis), by
/// virtual server identity so that it survives a reload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumMemory {
    up: HashMap<VsIdent, bool>,
}

impl QuorumMemory {
    pub fn get(&self, vs: &VsIdent) -> Option<bool> {
        self.up.get(vs).copied()
    }

    /// Forgets the virtual servers `keep` refuses (gone at a reload).
    pub fn retain(&mut self, keep: impl Fn(&VsIdent) -> bool) {
        self.up.retain(|k, _| keep(k));
    }
}

/// A quorum transition, for quorum_up / quorum_down scripts and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumChange {
    pub index: usize,
    pub up: bool,
    /// The first evaluation of this virtual server ("Starting with quorum").
    pub init: bool,
    /// The weight of the live real servers, and the threshold crossed.
    pub live: i64,
    pub threshold: i64,
}

/// The real server's view when the checkers have said nothing yet:
/// keepalived adds real servers as up at start, unless in alpha mode (a
/// real server without checkers is always up).
pub fn default_view(vs: &VirtualServer, rs: &crate::config::model::RealServer) -> RsView {
    RsView { up: rs.checkers.is_empty() || !vs.alpha, weight: None }
}

/// The table for `config`, with `rs` the checkers' view (None: no verdict
/// yet, `default_view` applies).
///
/// Quorum (keepalived's update_quorum_state): a virtual server starts with
/// quorum down and gains it when the live weight reaches quorum +
/// hysteresis; it loses it below quorum - hysteresis, or when no weight is
/// left at all. Its first evaluation reports a change when quorum is up
/// (quorum_up runs at start) or, with a sorry server, when it is down.
/// While quorum is down and a sorry server is configured, the sorry server
/// replaces the real servers (inhibited ones stay at weight 0).
pub fn desired(config: &Config, rs: impl Fn(RsId) -> Option<RsView>, memory: &mut QuorumMemory) -> (Vec<VsWant>, Vec<QuorumChange>) {
    let mut out = Vec::with_capacity(config.virtual_servers.len());
    let mut changes = Vec::new();
    for vi in 0..config.virtual_servers.len() {
        let Some((want, change)) = desired_vs(config, vi, &rs, memory) else { continue };
        out.push(want);
        changes.extend(change);
    }
    (out, changes)
}

/// `desired` for the virtual server at `vi` alone (a check event touches
/// only its own virtual server); None if there is none at `vi`.
pub fn desired_vs(
    config: &Config,
    vi: usize,
    rs: impl Fn(RsId) -> Option<RsView>,
    memory: &mut QuorumMemory,
) -> Option<(VsWant, Option<QuorumChange>)> {
    let vs = config.virtual_servers.get(vi)?;
    {
        let ident = vs_ident(vs);
        let mut reals = Vec::new();
        let mut live: i64 = 0;
        for (ri, r) in vs.real_servers.iter().enumerate() {
            let id = RsId { vs: vi as u16, rs: ri as u16 };
            let view = rs(id).unwrap_or_else(|| default_view(vs, r));
            let weight = view.weight.unwrap_or(r.weight);
            let inhibit = r.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
            if view.up {
                live += weight.max(0) as i64;
            }
            reals.push((r, view.up, weight, inhibit));
        }
        let q = vs.quorum as i64;
        let h = vs.hysteresis as i64;
        let was = memory.up.get(&ident).copied();
        let threshold = if was == Some(true) { q - h } else { q + h };
        let now = match was {
            Some(true) => live > 0 && live >= threshold,
            _ => live >= threshold,
        };
        let report = match was {
            None => now || vs.sorry_server.is_some(),
            Some(w) => w != now,
        };
        let change = report.then_some(QuorumChange { index: vi, up: now, init: was.is_none(), live, threshold });
        memory.up.insert(ident.clone(), now);
        let sorry_in = !now && vs.sorry_server.is_some();
        let mut dests = Vec::new();
        for (r, up, weight, inhibit) in reals {
            let d = |weight| DestWant { addr: r.addr, port: r.port, weight, fwd: vs.rs_lb_kind(r), sorry: false };
            if up && !sorry_in {
                dests.push(d(weight));
            } else if inhibit {
                dests.push(d(0));
            }
        }
        if let Some(s) = &vs.sorry_server {
            if sorry_in {
                // First, so that it wins over a real server at the same address.
                dests.insert(0, DestWant { addr: s.addr, port: s.port, weight: 1, fwd: vs.sorry_lb_kind(s), sorry: true });
            } else if vs.sorry_server_inhibit {
                dests.push(DestWant { addr: s.addr, port: s.port, weight: 0, fwd: vs.sorry_lb_kind(s), sorry: true });
            }
        }
        // A sorry server that is also a real server: one destination.
        let mut seen: Vec<(IpAddr, Option<u16>)> = Vec::new();
        dests.retain(|d| {
            let k = (d.addr, d.port);
            let fresh = !seen.contains(&k);
            seen.push(k);
            fresh
        });
        Some((VsWant { index: vi, ident, dests, quorum_up: now }, change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{RealServer, SorryServer, VirtualServerKey};

    fn rs(addr: &str, weight: i32) -> RealServer {
        RealServer { addr: addr.parse().unwrap(), port: Some(80), weight, ..RealServer::default() }
    }

    fn config(quorum: u32, hysteresis: u32, inhibit: bool, sorry: bool) -> Config {
        let vs = VirtualServer {
            key: VirtualServerKey::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 },
            quorum,
            hysteresis,
            inhibit_on_failure: inhibit,
            sorry_server: sorry.then(|| SorryServer { addr: "192.0.2.99".parse().unwrap(), port: Some(8080), lb_kind: None }),
            real_servers: vec![rs("198.51.100.1", 2), rs("198.51.100.2", 3)],
            ..VirtualServer::default()
        };
        Config { virtual_servers: vec![vs], ..Config::default() }
    }

    fn view(up: [bool; 2]) -> impl Fn(RsId) -> Option<RsView> {
        move |id| Some(RsView { up: up[id.rs as usize], weight: None })
    }

    fn ups(ch: &[QuorumChange]) -> Vec<(bool, bool)> {
        ch.iter().map(|c| (c.up, c.init)).collect()
    }

    #[test]
    fn down_servers_leave_or_go_to_weight_zero() {
        let mut m = QuorumMemory::default();
        let (t, _) = desired(&config(1, 0, false, false), view([true, false]), &mut m);
        assert_eq!(t[0].dests.len(), 1);
        assert_eq!(t[0].dests[0].weight, 2);
        let (t, _) = desired(&config(1, 0, true, false), view([true, false]), &mut QuorumMemory::default());
        assert_eq!(t[0].dests.iter().map(|d| d.weight).collect::<Vec<_>>(), vec![2, 0]);
    }

    #[test]
    fn quorum_with_hysteresis_and_the_sorry_server() {
        // quorum 4, hysteresis 1: start needs 4 + 1; once up, down below
        // 4 - 1; back at 4 + 1.
        let c = config(4, 1, false, true);
        let mut m = QuorumMemory::default();
        let (t, ch) = desired(&c, view([true, true]), &mut m);
        // Starting with quorum up is reported (quorum_up runs at start).
        assert!(t[0].quorum_up);
        assert_eq!(ups(&ch), vec![(true, true)]);
        assert!(!t[0].dests.iter().any(|d| d.sorry));
        let (t, ch) = desired(&c, view([false, true]), &mut m);
        // 3 >= 4 - 1: still up (hysteresis).
        assert!(t[0].quorum_up && ch.is_empty());
        let (t, ch) = desired(&c, view([true, false]), &mut m);
        // 2 < 3: down; the sorry server replaces the live real server.
        assert!(!t[0].quorum_up);
        assert_eq!(ups(&ch), vec![(false, false)]);
        assert_eq!((ch[0].live, ch[0].threshold), (2, 3));
        assert_eq!(t[0].dests, vec![DestWant { addr: "192.0.2.99".parse().unwrap(), port: Some(8080), weight: 1, fwd: LbKind::Nat, sorry: true }]);
        let (t, ch) = desired(&c, view([false, true]), &mut m);
        // 3 < 4 + 1: stays down.
        assert!(!t[0].quorum_up && ch.is_empty());
        let (t, ch) = desired(&c, view([true, true]), &mut m);
        assert!(t[0].quorum_up);
        assert_eq!(ups(&ch), vec![(true, false)]);
        assert!(!t[0].dests.iter().any(|d| d.sorry));
        assert_eq!(t[0].dests.len(), 2);
    }

    #[test]
    fn starting_without_quorum_is_reported_only_with_a_sorry_server() {
        let (t, ch) = desired(&config(4, 0, false, false), view([false, true]), &mut QuorumMemory::default());
        assert!(!t[0].quorum_up && ch.is_empty());
        // Below quorum without a sorry server the live ones still serve.
        assert_eq!(t[0].dests.len(), 1);
        let (_, ch) = desired(&config(4, 0, false, true), view([false, true]), &mut QuorumMemory::default());
        assert_eq!(ups(&ch), vec![(false, true)]);
    }

    #[test]
    fn quorum_is_lost_when_no_weight_is_left() {
        // quorum 1, hysteresis 1: once up the threshold is 0, yet keepalived
        // drops quorum when no weight is left at all.
        let mut c = config(1, 0, false, false);
        c.virtual_servers[0].hysteresis = 1;
        let mut m = QuorumMemory::default();
        let (_, ch) = desired(&c, view([true, true]), &mut m);
        assert_eq!(ups(&ch), vec![(true, true)]);
        let (t, ch) = desired(&c, view([false, false]), &mut m);
        assert!(!t[0].quorum_up);
        assert_eq!(ups(&ch), vec![(false, false)]);
    }

    #[test]
    fn quorum_memory_follows_identity_not_index() {
        let c = config(4, 0, false, false);
        let mut m = QuorumMemory::default();
        desired(&c, view([true, true]), &mut m);
        // The same virtual server now second in the file: no new report.
        let mut c2 = c.clone();
        let mut other = c.virtual_servers[0].clone();
        other.key = VirtualServerKey::Addr { addr: "192.0.2.11".parse().unwrap(), port: 80 };
        c2.virtual_servers.insert(0, other);
        let (_, ch) = desired(&c2, view([true, true]), &mut m);
        assert_eq!(ch.iter().map(|c| (c.index, c.init)).collect::<Vec<_>>(), vec![(0, true)]);
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_weight_zero() {
        let mut c = config(1, 0, false, true);
        c.virtual_servers[0].sorry_server_inhibit = true;
        let (t, _) = desired(&c, view([true, true]), &mut QuorumMemory::default());
        assert!(t[0].dests.iter().any(|d| d.sorry && d.weight == 0));
    }

    #[test]
    fn inhibited_servers_stay_at_zero_while_the_sorry_server_serves() {
        let c = config(4, 0, true, true);
        let (t, _) = desired(&c, view([false, true]), &mut QuorumMemory::default());
        let got: Vec<_> = t[0].dests.iter().map(|d| (d.addr.to_string(), d.weight, d.sorry)).collect();
        assert_eq!(
            got,
            vec![("192.0.2.99".into(), 1, true), ("198.51.100.1".into(), 0, false), ("198.51.100.2".into(), 0, false)]
        );
    }

    #[test]
    fn checker_weights_and_alpha() {
        let mut c = config(1, 0, false, false);
        c.virtual_servers[0].alpha = true;
        c.virtual_servers[0].real_servers[0].checkers.push(Default::default());
        // Not yet checked with alpha: down; no checkers: up.
        let (t, _) = desired(&c, |_| None, &mut QuorumMemory::default());
        assert_eq!(t[0].dests.iter().map(|d| d.addr.to_string()).collect::<Vec<_>>(), vec!["198.51.100.2"]);
        let (t, _) = desired(&c, |_| Some(RsView { up: true, weight: Some(7) }), &mut QuorumMemory::default());
        assert_eq!(t[0].dests.iter().map(|d| d.weight).collect::<Vec<_>>(), vec![7, 7]);
    }
}
