//! What the IPVS table should hold, given the configuration and what the
//! checkers say: keepalived's rules for real servers, inhibit_on_failure,
//! quorum with hysteresis, and the sorry server. Pure: no I/O, tested on its
//! own; the checker child reconciles the kernel's table to it.

use crate::check::RsId;

pub mod program;
use crate::config::model::{Config, VirtualServer, VirtualServerKey};
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
    pub port: u16,
    pub weight: i32,
    /// The sorry server rather than a real server.
    pub sorry: bool,
}

/// One virtual server as it should be in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsWant {
    pub index: usize,
    pub key: VirtualServerKey,
    pub dests: Vec<DestWant>,
    pub quorum_up: bool,
}

/// What must be remembered between two evaluations (hysteresis).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumMemory {
    up: Vec<Option<bool>>,
}

/// A quorum transition, for quorum_up / quorum_down scripts and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumChange {
    pub index: usize,
    pub up: bool,
}

fn vs_port(vs: &VirtualServer) -> u16 {
    match vs.key {
        VirtualServerKey::Addr { port, .. } => port,
        _ => 0,
    }
}

/// The table for `config`, with `rs` the checkers' view (a real server
/// without checkers, or not yet seen, counts as up unless `alpha`).
pub fn desired(config: &Config, rs: impl Fn(RsId) -> Option<RsView>, memory: &mut QuorumMemory) -> (Vec<VsWant>, Vec<QuorumChange>) {
    let mut out = Vec::with_capacity(config.virtual_servers.len());
    let mut changes = Vec::new();
    memory.up.resize(config.virtual_servers.len(), None);
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        let mut dests = Vec::new();
        let mut live: i64 = 0;
        for (ri, r) in vs.real_servers.iter().enumerate() {
            let id = RsId { vs: vi as u16, rs: ri as u16 };
            let view = rs(id).unwrap_or(RsView { up: r.checkers.is_empty() || !vs.alpha, weight: None });
            let weight = view.weight.unwrap_or(r.weight);
            let port = r.port.unwrap_or_else(|| vs_port(vs));
            if view.up {
                live += weight.max(0) as i64;
                dests.push(DestWant { addr: r.addr, port, weight, sorry: false });
            } else if r.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure) {
                dests.push(DestWant { addr: r.addr, port, weight: 0, sorry: false });
            }
        }
        // keepalived: quorum goes down below quorum - hysteresis and comes
        // back at quorum + hysteresis; it starts from what the sum says.
        let q = vs.quorum as i64;
        let h = vs.hysteresis as i64;
        let was = memory.up[vi];
        let now = match was {
            None => live >= q,
            Some(true) => live >= q - h,
            Some(false) => live >= q + h,
        };
        if was.is_some() && was != Some(now) {
            changes.push(QuorumChange { index: vi, up: now });
        }
        memory.up[vi] = Some(now);
        if let Some(s) = &vs.sorry_server {
            let port = s.port.unwrap_or_else(|| vs_port(vs));
            if !now {
                dests.push(DestWant { addr: s.addr, port, weight: 1, sorry: true });
            } else if vs.sorry_server_inhibit {
                dests.push(DestWant { addr: s.addr, port, weight: 0, sorry: true });
            }
        }
        out.push(VsWant { index: vi, key: vs.key.clone(), dests, quorum_up: now });
    }
    (out, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{RealServer, SorryServer};

    fn rs(addr: &str, weight: i32) -> RealServer {
        RealServer { addr: addr.parse().unwrap(), port: Some(80), weight, ..RealServer::default() }
    }

    fn config(quorum: u32, hysteresis: u32, inhibit: bool, sorry: bool) -> Config {
        let vs = VirtualServer {
            key: VirtualServerKey::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 },
            quorum,
            hysteresis,
            inhibit_on_failure: inhibit,
            sorry_server: sorry.then(|| SorryServer { addr: "192.0.2.99".parse().unwrap(), port: Some(8080) }),
            real_servers: vec![rs("198.51.100.1", 2), rs("198.51.100.2", 3)],
            ..VirtualServer::default()
        };
        Config { virtual_servers: vec![vs], ..Config::default() }
    }

    fn view(up: [bool; 2]) -> impl Fn(RsId) -> Option<RsView> {
        move |id| Some(RsView { up: up[id.rs as usize], weight: None })
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
        // quorum 4, hysteresis 1: both up (5) = up; one down (2 < 3) = down;
        // back at 5 >= 5 = up.
        let c = config(4, 1, false, true);
        let mut m = QuorumMemory::default();
        let (t, ch) = desired(&c, view([true, true]), &mut m);
        assert!(t[0].quorum_up && ch.is_empty());
        assert!(!t[0].dests.iter().any(|d| d.sorry));
        let (t, ch) = desired(&c, view([false, true]), &mut m);
        // 3 >= 4 - 1: still up (hysteresis).
        assert!(t[0].quorum_up && ch.is_empty());
        let (t, ch) = desired(&c, view([true, false]), &mut m);
        // 2 < 3: down, the sorry server comes in.
        assert!(!t[0].quorum_up);
        assert_eq!(ch, vec![QuorumChange { index: 0, up: false }]);
        assert!(t[0].dests.iter().any(|d| d.sorry && d.weight == 1 && d.port == 8080));
        let (t, ch) = desired(&c, view([false, true]), &mut m);
        // 3 < 4 + 1: stays down.
        assert!(!t[0].quorum_up && ch.is_empty());
        let (t, ch) = desired(&c, view([true, true]), &mut m);
        assert!(t[0].quorum_up);
        assert_eq!(ch, vec![QuorumChange { index: 0, up: true }]);
        assert!(!t[0].dests.iter().any(|d| d.sorry));
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_weight_zero() {
        let mut c = config(1, 0, false, true);
        c.virtual_servers[0].sorry_server_inhibit = true;
        let (t, _) = desired(&c, view([true, true]), &mut QuorumMemory::default());
        assert!(t[0].dests.iter().any(|d| d.sorry && d.weight == 0));
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
