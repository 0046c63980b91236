//! Which virtual server and real server a config entry is, independent of
//! where it sits in the file: a reload that inserts or removes a server
//! shifts the indices (`RsId`), not these. The state remembered across a
//! reload (checker state, quorum, notify history) is keyed by them.
//!
//! As keepalived's vs_iseq / rs_iseq: a virtual server is its address,
//! port and protocol, its fwmark and address family, or its group name
//! (we add the protocol, so that TCP and UDP servers over one group stay
//! apart); a real server is its address and port within its virtual server.

use crate::check::RsId;
use crate::config::model::{Config, Protocol, VirtualServer, VirtualServerKey};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VsIdent {
    Addr { addr: IpAddr, port: u16, proto: u8 },
    Fwmark { mark: u32, v6: bool },
    Group { name: String, proto: u8 },
    Unset,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsIdent {
    pub vs: VsIdent,
    pub addr: IpAddr,
    pub port: Option<u16>,
}

fn proto(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

pub fn vs_ident(vs: &VirtualServer) -> VsIdent {
    match &vs.key {
        VirtualServerKey::Addr { addr, port } => VsIdent::Addr { addr: *addr, port: *port, proto: proto(vs.protocol) },
        VirtualServerKey::Fwmark(mark) => {
            VsIdent::Fwmark { mark: *mark, v6: vs.real_servers.first().is_some_and(|r| r.addr.is_ipv6()) }
        }
        VirtualServerKey::Group(name) => VsIdent::Group { name: name.clone(), proto: proto(vs.protocol) },
        VirtualServerKey::Unset => VsIdent::Unset,
    }
}

pub fn rs_ident(config: &Config, id: RsId) -> Option<RsIdent> {
    let vs = config.virtual_servers.get(id.vs as usize)?;
    let rs = vs.real_servers.get(id.rs as usize)?;
    Some(RsIdent { vs: vs_ident(vs), addr: rs.addr, port: rs.port })
}

/// For a reload from `old` to `new`: each real server of `new` that `old`
/// has too, and its id under `old`.
///
/// Matched a virtual server at a time (2,000 identities), then within it:
/// a virtual server whose real servers are the same addresses and ports in
/// the same order (a reload that changes a weight, as a rule) maps them by
/// position, without a hash of each; otherwise by address and port (the
/// first of duplicates wins). Hashing the 40,000 real server identities of
/// both configs was most of a reload's time.
#[derive(Clone, Debug, Default)]
pub struct Carried {
    by_vs: Vec<VsMap>,
}

#[derive(Clone, Debug)]
enum VsMap {
    /// A virtual server `old` does not have.
    New,
    /// The old virtual server at this index, its real servers where they were.
    Same(u16),
    /// The old virtual server at this index, and each real server's old index.
    Remap(u16, Vec<Option<u16>>),
}

impl Carried {
    pub fn between(old: &Config, new: &Config) -> Carried {
        let mut b = CarriedBuilder::new(old);
        for vs in &new.virtual_servers {
            b.push(old, vs);
        }
        b.finish()
    }

    /// Real server `id` of the new config's id under the old, if the old had it.
    pub fn get(&self, id: RsId) -> Option<RsId> {
        match self.by_vs.get(id.vs as usize)? {
            VsMap::New => None,
            VsMap::Same(v) => Some(RsId { vs: *v, rs: id.rs }),
            VsMap::Remap(v, map) => map.get(id.rs as usize).copied().flatten().map(|rs| RsId { vs: *v, rs }),
        }
    }
}

/// `Carried::between` a virtual server at a time (a reload's preparation
/// runs in batches, `role::check`).
pub struct CarriedBuilder {
    old_vs: HashMap<VsIdent, usize>,
    seen: std::collections::HashSet<VsIdent>,
    by_vs: Vec<VsMap>,
}

impl CarriedBuilder {
    pub fn new(old: &Config) -> CarriedBuilder {
        let mut old_vs: HashMap<VsIdent, usize> = HashMap::with_capacity(old.virtual_servers.len());
        for (i, vs) in old.virtual_servers.iter().enumerate() {
            old_vs.entry(vs_ident(vs)).or_insert(i);
        }
        CarriedBuilder { old_vs, seen: std::collections::HashSet::new(), by_vs: Vec::new() }
    }

    /// The new config's next virtual server.
    pub fn push(&mut self, old: &Config, vs: &VirtualServer) {
        let m = self.map(old, vs);
        self.by_vs.push(m);
    }

    fn map(&mut self, old: &Config, vs: &VirtualServer) -> VsMap {
        let id = vs_ident(vs);
        let Some(&oi) = self.old_vs.get(&id) else { return VsMap::New };
        if !self.seen.insert(id) {
            return VsMap::New;
        }
        let (Ok(o16), Some(ovs)) = (u16::try_from(oi), old.virtual_servers.get(oi)) else { return VsMap::New };
        let same = ovs.real_servers.len() == vs.real_servers.len()
            && ovs.real_servers.iter().zip(&vs.real_servers).all(|(a, b)| a.addr == b.addr && a.port == b.port);
        if same {
            return VsMap::Same(o16);
        }
        let mut before: HashMap<(IpAddr, Option<u16>), u16> = HashMap::with_capacity(ovs.real_servers.len());
        for (ri, rs) in ovs.real_servers.iter().enumerate() {
            if let Ok(ri) = u16::try_from(ri) {
                before.entry((rs.addr, rs.port)).or_insert(ri);
            }
        }
        let mut taken = std::collections::HashSet::with_capacity(vs.real_servers.len());
        let map = vs.real_servers.iter().map(|rs| before.get(&(rs.addr, rs.port)).copied().filter(|_| taken.insert((rs.addr, rs.port)))).collect();
        VsMap::Remap(o16, map)
    }

    pub fn finish(self) -> Carried {
        Carried { by_vs: self.by_vs }
    }
}

/// As `Carried::between`, as a map (tests).
#[cfg(test)]
pub fn carried(old: &Config, new: &Config) -> HashMap<RsId, RsId> {
    let c = Carried::between(old, new);
    let mut out = HashMap::new();
    for (vi, vs) in new.virtual_servers.iter().enumerate() {
        for ri in 0..vs.real_servers.len() {
            let id = RsId { vs: vi as u16, rs: ri as u16 };
            if let Some(o) = c.get(id) {
                out.insert(id, o);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::RealServer;

    fn rs(addr: &str, port: u16) -> RealServer {
        RealServer { addr: addr.parse().unwrap(), port: Some(port), weight: 1, ..RealServer::default() }
    }

    fn vs(key: VirtualServerKey, rss: Vec<RealServer>) -> VirtualServer {
        VirtualServer { key, real_servers: rss, ..VirtualServer::default() }
    }

    fn addr(a: &str, p: u16) -> VirtualServerKey {
        VirtualServerKey::Addr { addr: a.parse().unwrap(), port: p }
    }

    #[test]
    fn reload_maps_servers_by_identity_not_index() {
        let old = Config {
            virtual_servers: vec![
                vs(addr("192.0.2.1", 80), vec![rs("10.0.0.1", 80), rs("10.0.0.2", 80)]),
                vs(VirtualServerKey::Group("g".into()), vec![rs("10.0.1.1", 80)]),
            ],
            ..Config::default()
        };
        // A new virtual server in front, a real server inserted, one gone.
        let new = Config {
            virtual_servers: vec![
                vs(addr("192.0.2.9", 80), vec![rs("10.0.0.1", 80)]),
                vs(addr("192.0.2.1", 80), vec![rs("10.0.0.3", 80), rs("10.0.0.2", 80)]),
                vs(VirtualServerKey::Group("g".into()), vec![rs("10.0.1.1", 80)]),
            ],
            ..Config::default()
        };
        let m = carried(&old, &new);
        assert_eq!(m.len(), 2);
        assert_eq!(m[&RsId { vs: 1, rs: 1 }], RsId { vs: 0, rs: 1 });
        assert_eq!(m[&RsId { vs: 2, rs: 0 }], RsId { vs: 1, rs: 0 });
        // Same address under another virtual server is another real server.
        assert!(!m.contains_key(&RsId { vs: 0, rs: 0 }));
    }

    #[test]
    fn servers_where_they_were_map_by_place_and_others_by_address() {
        let old = Config {
            virtual_servers: vec![
                vs(addr("192.0.2.1", 80), vec![rs("10.0.0.1", 80), rs("10.0.0.2", 80)]),
                vs(addr("192.0.2.2", 80), vec![rs("10.0.2.1", 80), rs("10.0.2.2", 80), rs("10.0.2.1", 80)]),
            ],
            ..Config::default()
        };
        let mut new = old.clone();
        // A weight changed: same places.
        new.virtual_servers[0].real_servers[1].weight = 5;
        // The second virtual server's real servers reordered, one gone; its
        // duplicate maps once (the first of each wins, as before).
        new.virtual_servers[1].real_servers = vec![rs("10.0.2.2", 80), rs("10.0.2.1", 80), rs("10.0.2.1", 80), rs("10.0.2.9", 80)];
        let c = Carried::between(&old, &new);
        let id = |vs, rs| RsId { vs, rs };
        assert_eq!(c.get(id(0, 0)), Some(id(0, 0)));
        assert_eq!(c.get(id(0, 1)), Some(id(0, 1)));
        assert_eq!(c.get(id(1, 0)), Some(id(1, 1)));
        assert_eq!(c.get(id(1, 1)), Some(id(1, 0)));
        assert_eq!(c.get(id(1, 2)), None);
        assert_eq!(c.get(id(1, 3)), None);
        assert_eq!(c.get(id(2, 0)), None);
        // Nothing changed at all: each maps to its place.
        let same = Carried::between(&old, &old);
        assert_eq!(same.get(id(1, 2)), Some(id(1, 2)));
    }

    #[test]
    fn protocol_and_port_are_part_of_the_identity() {
        let mut a = vs(addr("192.0.2.1", 80), vec![rs("10.0.0.1", 80)]);
        let b = a.clone();
        a.protocol = Protocol::Udp;
        assert_ne!(vs_ident(&a), vs_ident(&b));
        let old = Config { virtual_servers: vec![b.clone()], ..Config::default() };
        let mut c = b;
        c.real_servers[0].port = Some(81);
        let new = Config { virtual_servers: vec![c], ..Config::default() };
        assert!(carried(&old, &new).is_empty());
    }
}
