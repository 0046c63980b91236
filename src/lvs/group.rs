//! The IPVS services one virtual server stands for. A `virtual_server IP
//! PORT` or `virtual_server fwmark N` is one service; a `virtual_server
//! group NAME` is one service per member of the group, as keepalived
//! programs them (ipvswrapper.c, ipvs_group_range_cmd): an address range
//! `A.B.C.D-E PORT` is every address from first to last with the entry's
//! port, a `fwmark N` entry a fwmark service. All of them get the same
//! destinations; the real servers are checked once, not once per member.
//!
//! Port 0 (a group entry without a port, or `virtual_server IP 0`) is only
//! valid for a persistent service: keepalived then sets persistence_timeout
//! 360 for the whole virtual server ("zero port only valid for persistent
//! services - setting"); `persistence` below applies that to groups.

use crate::config::model::{Config, LbKind, RealServer, VirtualServer, VirtualServerKey, VsgEntry};
use std::net::IpAddr;

/// keepalived's IPVS_SVC_PERSISTENT_TIMEOUT, forced on port-0 services.
pub const ZERO_PORT_PERSISTENCE: u32 = 360;

/// One IPVS service of a virtual server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member {
    Addr { addr: IpAddr, port: u16 },
    Fwmark(u32),
}

/// Every address of `first..=last` (same family; the parser only lets the
/// last octet / last group vary). Empty when the range is inverted or the
/// families differ.
pub fn expand_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b)).map(|x| IpAddr::V4(x.into())).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b)).map(|x| IpAddr::V6(x.into())).collect(),
        _ => Vec::new(),
    }
}

/// The services `vs` stands for, in config order, duplicates dropped. A
/// group that does not exist gives none (keepalived ignores such a server).
pub fn members(config: &Config, vs: &VirtualServer) -> Vec<Member> {
    match &vs.key {
        VirtualServerKey::Addr { addr, port } => vec![Member::Addr { addr: *addr, port: *port }],
        VirtualServerKey::Fwmark(m) => vec![Member::Fwmark(*m)],
        VirtualServerKey::Group(name) => {
            let mut out: Vec<Member> = Vec::new();
            for g in config.virtual_server_groups.iter().filter(|g| &g.name == name) {
                for e in &g.entries {
                    let add: Vec<Member> = match e {
                        VsgEntry::Range { first, last, port } => {
                            expand_range(*first, *last).into_iter().map(|addr| Member::Addr { addr, port: *port }).collect()
                        }
                        VsgEntry::Fwmark(m) => vec![Member::Fwmark(*m)],
                        VsgEntry::Empty => Vec::new(),
                    };
                    for m in add {
                        if !out.contains(&m) {
                            out.push(m);
                        }
                    }
                }
            }
            out
        }
        VirtualServerKey::Unset => Vec::new(),
    }
}

/// The persistence timeout the services get: the configured one, else 360 s
/// when a group address entry has port 0 (keepalived's rule; a plain
/// `virtual_server IP 0` already got it at config validation).
pub fn persistence(config: &Config, vs: &VirtualServer) -> Option<u32> {
    if vs.persistence_timeout.is_some() {
        return vs.persistence_timeout;
    }
    let zero_port = members(config, vs).iter().any(|m| matches!(m, Member::Addr { port: 0, .. }));
    zero_port.then_some(ZERO_PORT_PERSISTENCE)
}

/// The destination port of a real server (or sorry server, `port` its
/// configured port) under `member`. NAT: the configured port, else the
/// member's. Direct routing and tunnelling cannot change the port: the
/// member's port (keepalived resets a differing one). A fwmark service has
/// no port: 0 unless NAT names one.
///
/// keepalived leaves an unset port at 0 under a group, which the kernel
/// treats as "the packet's port": for an address member that is the
/// member's port, which we program explicitly so that the table reads the
/// same as for a plain virtual server.
pub fn dest_port(fwd: LbKind, port: Option<u16>, member: Member) -> u16 {
    match (member, fwd) {
        (Member::Addr { port: mp, .. }, LbKind::Nat) => port.unwrap_or(mp),
        (Member::Addr { port: mp, .. }, _) => mp,
        (Member::Fwmark(_), LbKind::Nat) => port.unwrap_or(0),
        (Member::Fwmark(_), _) => 0,
    }
}

/// `dest_port` for a real server.
pub fn rs_port(vs: &VirtualServer, rs: &RealServer, member: Member) -> u16 {
    dest_port(vs.rs_lb_kind(rs), rs.port, member)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::VirtualServerGroup;

    fn cfg(entries: Vec<VsgEntry>) -> Config {
        Config {
            virtual_server_groups: vec![VirtualServerGroup { name: "web".into(), entries }],
            ..Config::default()
        }
    }

    fn group_vs() -> VirtualServer {
        VirtualServer { key: VirtualServerKey::Group("web".into()), ..VirtualServer::default() }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_is_every_address_with_the_entry_port() {
        let c = cfg(vec![
            VsgEntry::Range { first: ip("192.0.2.10"), last: ip("192.0.2.12"), port: 80 },
            VsgEntry::Range { first: ip("192.0.2.20"), last: ip("192.0.2.20"), port: 443 },
            VsgEntry::Fwmark(7),
        ]);
        let m = members(&c, &group_vs());
        assert_eq!(
            m,
            vec![
                Member::Addr { addr: ip("192.0.2.10"), port: 80 },
                Member::Addr { addr: ip("192.0.2.11"), port: 80 },
                Member::Addr { addr: ip("192.0.2.12"), port: 80 },
                Member::Addr { addr: ip("192.0.2.20"), port: 443 },
                Member::Fwmark(7),
            ]
        );
        // A configured persistence stays; none needed with ports.
        assert_eq!(persistence(&c, &group_vs()), None);
    }

    #[test]
    fn ipv6_ranges_and_duplicates() {
        let c = cfg(vec![
            VsgEntry::Range { first: ip("2001:db8::fe"), last: ip("2001:db8::100"), port: 53 },
            VsgEntry::Range { first: ip("2001:db8::ff"), last: ip("2001:db8::ff"), port: 53 },
        ]);
        let m = members(&c, &group_vs());
        assert_eq!(m.len(), 3);
        assert_eq!(m[2], Member::Addr { addr: ip("2001:db8::100"), port: 53 });
        assert!(expand_range(ip("192.0.2.5"), ip("192.0.2.4")).is_empty());
        assert!(expand_range(ip("192.0.2.5"), ip("2001:db8::1")).is_empty());
    }

    #[test]
    fn port_zero_forces_persistence_and_unknown_groups_are_empty() {
        let c = cfg(vec![VsgEntry::Range { first: ip("192.0.2.1"), last: ip("192.0.2.1"), port: 0 }]);
        assert_eq!(persistence(&c, &group_vs()), Some(ZERO_PORT_PERSISTENCE));
        let mut vs = group_vs();
        vs.persistence_timeout = Some(50);
        assert_eq!(persistence(&c, &vs), Some(50));
        vs.key = VirtualServerKey::Group("nope".into());
        assert!(members(&c, &vs).is_empty());
    }

    #[test]
    fn destination_ports() {
        let a = Member::Addr { addr: ip("192.0.2.1"), port: 80 };
        let f = Member::Fwmark(3);
        assert_eq!(dest_port(LbKind::Nat, None, a), 80);
        assert_eq!(dest_port(LbKind::Nat, Some(8080), a), 8080);
        assert_eq!(dest_port(LbKind::Nat, None, f), 0);
        assert_eq!(dest_port(LbKind::Nat, Some(8080), f), 8080);
        assert_eq!(dest_port(LbKind::Dr, Some(8080), a), 80);
        assert_eq!(dest_port(LbKind::Dr, Some(8080), f), 0);
        assert_eq!(dest_port(LbKind::Tun, None, f), 0);
        // A real server's own lvs_method decides, not the virtual server's.
        let mut vs = group_vs();
        vs.lb_kind = LbKind::Dr;
        let rs = RealServer { port: Some(8080), lb_kind: Some(LbKind::Nat), ..RealServer::default() };
        assert_eq!(rs_port(&vs, &rs, a), 8080);
    }
}
