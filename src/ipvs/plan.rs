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

use std::collections::HashSet;

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

pub fn plan(
    current: &[(Service, Vec<Destination>)],
    wanted: &[(Service, Vec<Destination>)],
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut wanted_keys: HashSet<ServiceKey> = HashSet::new();
    let mut wanted_first = Vec::new();
    for w in wanted {
        if wanted_keys.insert(w.0.key()) {
            wanted_first.push(w);
        }
    }
    let mut seen_current: HashSet<ServiceKey> = HashSet::new();
    for (svc, _) in current {
        let k = svc.key();
        if !wanted_keys.contains(&k) && seen_current.insert(k) {
            ops.push(Op::DelService(svc.clone()));
        }
    }
    for (w, wdests) in wanted_first {
        let key = w.key();
        let cur = current.iter().find(|(c, _)| c.key() == key);
        let cdests: &[Destination] = match cur {
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
        let mut adds = Vec::new();
        let mut edits = Vec::new();
        let mut wanted_dests = HashSet::new();
        for d in wdests {
            if !wanted_dests.insert(d.key()) {
                continue;
            }
            match cdests.iter().find(|c| c.key() == d.key()) {
                None => adds.push(Op::AddDest(w.clone(), *d)),
                Some(c) if c != d => edits.push(Op::EditDest(w.clone(), *d)),
                Some(_) => {}
            }
        }
        ops.extend(adds);
        ops.extend(edits);
        let mut deleted = HashSet::new();
        for c in cdests {
            if !wanted_dests.contains(&c.key()) && deleted.insert(c.key()) {
                ops.push(Op::DelDest(w.clone(), *c));
            }
        }
    }
    ops
}
