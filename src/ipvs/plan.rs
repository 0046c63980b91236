//! The reconciler: what to send so that the kernel's tables become the wanted ones, with
//! the fewest changes. Pure: the checker feeds it `services()`/`dests()` and its config.
//!
//! - A service is matched by [`Service::key`], a destination by address and port.
//! - Same settings: untouched. Other settings: an edit in place (`SET_SERVICE`/`SET_DEST`),
//!   never delete + add, which would drop the service's connections.
//! - A removed service is one `DelService`: the kernel removes its destinations with it.
//! - Per service the order is add/edit service, add dests, edit dests, delete dests: a
//!   service never has fewer real servers mid-plan than before or after it.
//! - Deleted services come first, so a wanted service can never collide with a leftover.
//! - A key repeated in `wanted` counts once (the first); later copies are ignored.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::types::{Destination, Service, ServiceKey};

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(Service),
    AddDest(Service, Destination),
    EditDest(Service, Destination),
    DelDest(Service, Destination),
}

/// The ops that bring `current` to `wanted`; each wanted service's are
/// [`plan_service`]'s against the current one with its key.
pub fn plan(
    current: &[(Service, Vec<Destination>)],
    wanted: &[(Service, Vec<Destination>)],
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut wanted_keys: HashSet<ServiceKey> = HashSet::with_capacity(wanted.len());
    let mut wanted_first = Vec::with_capacity(wanted.len());
    for w in wanted {
        if wanted_keys.insert(w.0.key()) {
            wanted_first.push(w);
        }
    }
    // The first current service of each key, indexed: 2,000 services are
    // not 4,000,000 comparisons.
    let mut by_key: HashMap<ServiceKey, &(Service, Vec<Destination>)> = HashMap::with_capacity(current.len());
    for c in current {
        let k = c.0.key();
        if !wanted_keys.contains(&k) && !by_key.contains_key(&k) {
            ops.push(Op::DelService(c.0.clone()));
        }
        by_key.entry(k).or_insert(c);
    }
    for w in wanted_first {
        ops.extend(plan_service(by_key.get(&w.0.key()).copied(), w));
    }
    ops
}

/// The ops for one wanted service against what the kernel has of it (None:
/// absent): add or edit the service, add destinations, edit destinations,
/// delete destinations, the current destinations indexed so that 10,000
/// destinations are not 100,000,000 comparisons. A destination repeated in
/// `wanted` counts once (the first).
pub fn plan_service(current: Option<&(Service, Vec<Destination>)>, wanted: &(Service, Vec<Destination>)) -> Vec<Op> {
    let (w, wdests) = wanted;
    let mut ops = Vec::new();
    let cdests: &[Destination] = match current {
        None => {
            ops.push(Op::AddService(w.clone()));
            &[]
        }
        Some((c, d)) => {
            if !c.same_settings(w) {
                ops.push(Op::EditService(w.clone()));
            }
            d
        }
    };
    let mut by_key: HashMap<(IpAddr, u16), &Destination> = HashMap::with_capacity(cdests.len());
    for c in cdests {
        by_key.entry(c.key()).or_insert(c);
    }
    let mut edits = Vec::new();
    let mut wanted_dests = HashSet::with_capacity(wdests.len());
    for d in wdests {
        if !wanted_dests.insert(d.key()) {
            continue;
        }
        match by_key.get(&d.key()) {
            None => ops.push(Op::AddDest(w.clone(), *d)),
            Some(c) if *c != d => edits.push(Op::EditDest(w.clone(), *d)),
            Some(_) => {}
        }
    }
    ops.extend(edits);
    let mut deleted = HashSet::new();
    for c in cdests {
        if !wanted_dests.contains(&c.key()) && deleted.insert(c.key()) {
            ops.push(Op::DelDest(w.clone(), *c));
        }
    }
    ops
}
