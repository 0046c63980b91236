//! `Mirror`: the kernel's links and addresses as the reflector last saw them, in fixed-capacity
//! tables, and the typed [`Change`]s each rtnetlink event makes to them.
//!
//! Pure state: no socket, no clock, no allocation. [`Mirror::apply`] takes one parsed
//! [`Event`] and returns what changed; [`Diff`] walks two mirrors (before and after a resync)
//! and yields the same kinds of change, so the VRRP engine handles a resync like any other
//! burst of events.
//!
//! Links are keyed by ifindex, addresses by (ifindex, address, prefix length): IPv4 lets the
//! same address sit on one link twice with different prefixes.

use std::net::IpAddr;

use log::warn;

use super::addr::Addr;
use super::consts::{IFF_LOWER_UP, IFF_RUNNING, IFF_UP};
use super::event::Event;
use super::fixed_map::FixedMap;
use super::link::{Link, OperState};
use super::route::Route;
use super::types::{AddrFamily, HwAddr, IfName};

/// Links the mirror holds at least. The reflector sizes its mirror from
/// the config at setup (`ReflectorConfig::for_config`: its interfaces,
/// VLANs and VMACs, with room to spare), preallocated once; past that a
/// link is not mirrored (logged and counted: `os::capacity`).
pub const MAX_LINKS: usize = 256;
/// Addresses the mirror holds at least (the soak's 255 instances set up to
/// 509 VIPs on one node), over all links; sized from the config like the
/// links. Past it an address is not mirrored (logged and counted).
pub const MAX_ADDRS: usize = 1024;
/// The most changes one event (or one diffed link) can produce: see [`Mirror::apply`].
pub const MAX_CHANGES_PER_EVENT: usize = 12;

/// What one event changed, in the order the engine should act on it.
pub type Changes = heapless::Vec<Change, MAX_CHANGES_PER_EVENT>;

/// A link as mirrored: what the VRRP engine decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub name: IfName,
    /// IFF_* flags as last reported.
    pub flags: u32,
    pub operstate: OperState,
    /// 0 until the kernel reports one.
    pub mtu: u32,
    /// Empty until the kernel reports one.
    pub mac: HwAddr,
    /// IFLA_INFO_KIND ("veth", "macvlan", ...), `None` for physical devices.
    pub kind: Option<heapless::String<16>>,
}

impl LinkState {
    fn from_link(l: &Link) -> Self {
        Self {
            index: l.index,
            name: l.name.clone(),
            flags: l.flags,
            operstate: l.operstate,
            mtu: l.mtu.unwrap_or(0),
            mac: l.mac.clone().unwrap_or_default(),
            kind: l.kind.clone(),
        }
    }

    /// Administratively up (IFF_UP).
    pub fn admin_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Carrier present (IFF_LOWER_UP).
    pub fn lower_up(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
    }

    /// Operational (IFF_RUNNING: up, carrier, not dormant).
    pub fn running(&self) -> bool {
        self.flags & IFF_RUNNING != 0
    }

    /// The "interface up" that VRRP instances track; [`Change::LinkUp`]/[`Change::LinkDown`]
    /// report its edges. keepalived's `FLAGS_UP` is IFF_UP and IFF_RUNNING; this also asks
    /// for IFF_LOWER_UP. The difference is one transient: right after `ip link set up` the
    /// kernel reports IFF_RUNNING (operstate still "unknown") before its link watcher has
    /// looked at the carrier, so a link without carrier would flap up and down. Once the
    /// operstate is known, IFF_RUNNING implies IFF_LOWER_UP, and devices that never report
    /// carrier (lo, dummy) keep IFF_LOWER_UP set.
    pub fn usable(&self) -> bool {
        self.admin_up() && self.running() && self.lower_up()
    }
}

/// The key of a mirrored address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// An address as mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrState {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// IFA_F_* (the full 32 bits when the kernel sent IFA_FLAGS).
    pub flags: u32,
    pub scope: u8,
    /// IPv4 label (`eth0:vip`).
    pub label: Option<IfName>,
}

impl AddrState {
    pub fn family(&self) -> AddrFamily {
        AddrFamily::of(&self.addr)
    }

    fn key(&self) -> AddrKey {
        AddrKey {
            ifindex: self.ifindex,
            addr: self.addr,
            prefix_len: self.prefix_len,
        }
    }

    fn from_addr(a: &Addr) -> Self {
        Self {
            ifindex: a.ifindex,
            addr: a.addr,
            prefix_len: a.prefix_len,
            flags: a.flags,
            scope: a.scope,
            label: a.label.clone(),
        }
    }
}

/// One typed change to the kernel's links and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link appeared (or was first seen). Followed by its flag edges (`AdminUp`,
    /// `CarrierChanged`, `LinkUp`) when it arrived up: as in keepalived, a new link starts
    /// out down and must be seen to come up.
    LinkAdded {
        index: u32,
        name: IfName,
    },
    /// A link went away, with every address it had (no `AddrRemoved` follows for them).
    /// Preceded by its down edges.
    LinkRemoved {
        index: u32,
        name: IfName,
    },
    /// Same ifindex, new name. keepalived treats this as the old name's interface lost and
    /// a new one appearing under the new name.
    LinkRenamed {
        index: u32,
        old: IfName,
        new: IfName,
    },
    /// IFF_UP set / cleared (`ip link set dev X up|down`).
    AdminUp {
        index: u32,
    },
    AdminDown {
        index: u32,
    },
    /// IFF_LOWER_UP changed: carrier gained or lost.
    CarrierChanged {
        index: u32,
        carrier: bool,
    },
    /// The interface became usable / stopped being usable: IFF_UP, IFF_RUNNING and
    /// IFF_LOWER_UP all set ([`LinkState::usable`]; keepalived's "up" without its transient).
    LinkUp {
        index: u32,
    },
    LinkDown {
        index: u32,
    },
    MtuChanged {
        index: u32,
        old: u32,
        new: u32,
    },
    MacChanged {
        index: u32,
    },
    AddrAdded {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
    AddrRemoved {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
    /// An address already present was reported again with other flags, scope or label
    /// (e.g. IPv6 duplicate address detection finishing: IFA_F_TENTATIVE cleared).
    AddrUpdated {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        old_flags: u32,
        new_flags: u32,
    },
    /// Routes are passed through, not mirrored (only with the reflector's route option).
    RouteAdded(Route),
    RouteRemoved(Route),
    /// The kernel dropped broadcasts (ENOBUFS); the mirror was re-read from a dump. The
    /// changes that follow are the difference between the old mirror and the new one.
    Resynced,
}

/// Counts of what the mirror could not hold or could not match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorCounters {
    /// A link or address dropped because its table was full.
    pub capacity_hits: u64,
    /// A delete of a link or address the mirror never saw: a sign of a missed broadcast.
    pub unknown_deletes: u64,
    /// An event that cannot be right (ifindex 0, empty name): ignored.
    pub rejected: u64,
}

/// The mirrored links and addresses.
pub struct Mirror {
    links: FixedMap<u32, LinkState>,
    addrs: FixedMap<AddrKey, AddrState>,
    counters: MirrorCounters,
}

impl Default for Mirror {
    fn default() -> Self {
        Self::new()
    }
}

impl Mirror {
    /// A mirror of the least capacities (`MAX_LINKS`, `MAX_ADDRS`).
    pub fn new() -> Self {
        Self::with_capacity(MAX_LINKS, MAX_ADDRS)
    }

    /// A mirror for `links` links and `addrs` addresses (at least the
    /// least), allocated here once.
    pub fn with_capacity(links: usize, addrs: usize) -> Self {
        Self {
            links: FixedMap::with_capacity(links.max(MAX_LINKS)),
            addrs: FixedMap::with_capacity(addrs.max(MAX_ADDRS)),
            counters: MirrorCounters {
                capacity_hits: 0,
                unknown_deletes: 0,
                rejected: 0,
            },
        }
    }

    /// Room for `links` links and `addrs` addresses (a reload's config that
    /// needs more; allocates).
    pub fn reserve(&mut self, links: usize, addrs: usize) {
        self.links.reserve(links);
        self.addrs.reserve(addrs);
    }

    /// (links, addresses) it can hold.
    pub fn capacity(&self) -> (usize, usize) {
        (self.links.capacity(), self.addrs.capacity())
    }

    /// Forgets every link and address (counters are kept).
    pub fn clear(&mut self) {
        self.links.clear();
        self.addrs.clear();
    }

    pub fn counters(&self) -> MirrorCounters {
        self.counters
    }

    /// Returns the counters and zeroes them (the reflector folds them into its own totals
    /// before it replaces a mirror).
    pub fn take_counters(&mut self) -> MirrorCounters {
        core::mem::take(&mut self.counters)
    }

    pub fn link(&self, index: u32) -> Option<&LinkState> {
        self.links.get(&index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&LinkState> {
        self.links.values().find(|l| l.name.as_str() == name)
    }

    pub fn links(&self) -> impl Iterator<Item = &LinkState> {
        self.links.values()
    }

    pub fn addrs(&self) -> impl Iterator<Item = &AddrState> {
        self.addrs.values()
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = &AddrState> {
        self.addrs.values().filter(move |a| a.ifindex == index)
    }

    /// Whether `ip` is on link `index`, with any prefix length.
    pub fn has_addr(&self, index: u32, ip: IpAddr) -> bool {
        self.addrs_of(index).any(|a| a.addr == ip)
    }

    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    pub fn addr_count(&self) -> usize {
        self.addrs.len()
    }

    /// Applies one event and returns what it changed (empty when nothing the mirror keeps
    /// changed, e.g. a statistics-only RTM_NEWLINK). Never allocates, never panics: a full
    /// table or an impossible event is logged and counted instead.
    ///
    /// Bounded output: a stale link holding the same name under another index is removed
    /// first (3 down edges + LinkRemoved = 4), then a new link gives LinkAdded + 3 up edges
    /// (4) and a known link at most Renamed + 3 edges + Mtu + Mac (6); a removed link gives
    /// 3 edges + LinkRemoved (4); an address 1. At most 10, within
    /// [`MAX_CHANGES_PER_EVENT`].
    pub fn apply(&mut self, event: &Event) -> Changes {
        let mut out = Changes::new();
        match event {
            Event::NewLink(l) => self.new_link(l, &mut out),
            Event::DelLink(l) => self.del_link(l.index, &mut out),
            Event::NewAddr(a) => self.new_addr(a, &mut out),
            Event::DelAddr(a) => self.del_addr(a, &mut out),
            Event::NewRoute(r) => push(&mut out, Change::RouteAdded(r.clone())),
            Event::DelRoute(r) => push(&mut out, Change::RouteRemoved(r.clone())),
            Event::NewRule(_) | Event::DelRule(_) => {}
        }
        out
    }

    fn new_link(&mut self, l: &Link, out: &mut Changes) {
        if l.index == 0 || l.name.is_empty() {
            self.counters.rejected += 1;
            warn!(
                "netlink mirror: ignored link with index {} name {:?}",
                l.index, l.name
            );
            return;
        }
        let mut new = LinkState::from_link(l);
        // Another index under this name: that link's DELLINK or rename was missed (the
        // kernel keeps names unique), so it is gone.
        let stale = self
            .links
            .values()
            .find(|o| o.name == new.name && o.index != new.index)
            .map(|o| o.index);
        if let Some(stale) = stale {
            self.counters.unknown_deletes += 1;
            self.del_link(stale, out);
        }
        if let Some(old) = self.links.get_mut(&l.index) {
            // Attributes a message left out keep their last value.
            if l.mtu.is_none() {
                new.mtu = old.mtu;
            }
            if l.mac.is_none() {
                new.mac = old.mac.clone();
            }
            if l.kind.is_none() {
                new.kind = old.kind.clone();
            }
            link_changes(Some(old), Some(&new), out);
            *old = new;
            return;
        }
        if self.links.len() >= self.links.capacity() {
            self.counters.capacity_hits += 1;
            crate::os::capacity::hit(
                crate::os::capacity::Cap::MirrorLinks,
                format_args!("netlink mirror: link {} not mirrored (room for {})", new.name, self.links.capacity()),
            );
            return;
        }
        link_changes(None, Some(&new), out);
        // Cannot fail: checked for room above and the key is new.
        let _ = self.links.insert(new.index, new);
    }

    fn del_link(&mut self, index: u32, out: &mut Changes) {
        let Some(old) = self.links.remove(&index) else {
            self.counters.unknown_deletes += 1;
            return;
        };
        // The link's addresses go with it (the kernel's own RTM_DELADDRs, when they come
        // after this, then find nothing).
        self.addrs.retain(|_, a| a.ifindex != index);
        link_changes(Some(&old), None, out);
    }

    fn new_addr(&mut self, a: &Addr, out: &mut Changes) {
        if a.ifindex == 0 {
            self.counters.rejected += 1;
            return;
        }
        let new = AddrState::from_addr(a);
        let key = new.key();
        if let Some(old) = self.addrs.get_mut(&key) {
            if *old != new {
                push(out, addr_updated(old, &new));
                *old = new;
            }
            return;
        }
        if self.addrs.len() >= self.addrs.capacity() {
            self.counters.capacity_hits += 1;
            crate::os::capacity::hit(
                crate::os::capacity::Cap::MirrorAddrs,
                format_args!("netlink mirror: address {} not mirrored (room for {})", a.addr, self.addrs.capacity()),
            );
            return;
        }
        push(out, addr_added(&new));
        let _ = self.addrs.insert(key, new);
    }

    fn del_addr(&mut self, a: &Addr, out: &mut Changes) {
        let key = AddrKey {
            ifindex: a.ifindex,
            addr: a.addr,
            prefix_len: a.prefix_len,
        };
        match self.addrs.remove(&key) {
            Some(old) => push(out, addr_removed(&old)),
            None => self.counters.unknown_deletes += 1,
        }
    }
}

fn push(out: &mut Changes, c: Change) {
    // The bound is proven in `apply`'s comment; a miss would only lose a change, never panic.
    if out.push(c).is_err() {
        warn!("netlink mirror: more than {MAX_CHANGES_PER_EVENT} changes from one event");
    }
}

fn addr_added(a: &AddrState) -> Change {
    Change::AddrAdded {
        ifindex: a.ifindex,
        addr: a.addr,
        prefix_len: a.prefix_len,
    }
}

fn addr_removed(a: &AddrState) -> Change {
    Change::AddrRemoved {
        ifindex: a.ifindex,
        addr: a.addr,
        prefix_len: a.prefix_len,
    }
}

fn addr_updated(old: &AddrState, new: &AddrState) -> Change {
    Change::AddrUpdated {
        ifindex: new.ifindex,
        addr: new.addr,
        prefix_len: new.prefix_len,
        old_flags: old.flags,
        new_flags: new.flags,
    }
}

/// The changes between two states of one link; `None` is "absent", treated as all flags
/// clear so that appearing and disappearing links report their up/down edges too.
fn link_changes(old: Option<&LinkState>, new: Option<&LinkState>, out: &mut Changes) {
    let Some(any) = new.or(old) else { return };
    let index = any.index;
    let flags = |l: Option<&LinkState>| l.map_or(0, |l| l.flags);
    let usable = |l: Option<&LinkState>| l.is_some_and(LinkState::usable);
    let (of, nf) = (flags(old), flags(new));

    match (old, new) {
        (None, Some(n)) => push(
            out,
            Change::LinkAdded {
                index,
                name: n.name.clone(),
            },
        ),
        (Some(o), Some(n)) if o.name != n.name => push(
            out,
            Change::LinkRenamed {
                index,
                old: o.name.clone(),
                new: n.name.clone(),
            },
        ),
        _ => {}
    }
    if (of ^ nf) & IFF_UP != 0 {
        push(
            out,
            if nf & IFF_UP != 0 {
                Change::AdminUp { index }
            } else {
                Change::AdminDown { index }
            },
        );
    }
    if (of ^ nf) & IFF_LOWER_UP != 0 {
        push(
            out,
            Change::CarrierChanged {
                index,
                carrier: nf & IFF_LOWER_UP != 0,
            },
        );
    }
    match (usable(old), usable(new)) {
        (false, true) => push(out, Change::LinkUp { index }),
        (true, false) => push(out, Change::LinkDown { index }),
        _ => {}
    }
    if let (Some(o), Some(n)) = (old, new) {
        if o.mtu != n.mtu {
            push(
                out,
                Change::MtuChanged {
                    index,
                    old: o.mtu,
                    new: n.mtu,
                },
            );
        }
        if o.mac != n.mac {
            push(out, Change::MacChanged { index });
        }
    }
    if let (Some(o), None) = (old, new) {
        push(
            out,
            Change::LinkRemoved {
                index,
                name: o.name.clone(),
            },
        );
    }
}

/// Where a [`Diff`] walk is: each phase walks one table by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Old links: removed or changed.
    OldLinks(usize),
    /// New links not in the old mirror: added.
    NewLinks(usize),
    /// Old addresses: removed (unless their link went) or updated.
    OldAddrs(usize),
    /// New addresses not in the old mirror: added.
    NewAddrs(usize),
    Done,
}

/// An incremental walk over the differences between two mirrors, one link or address per
/// step, so a resync of a large mirror produces its changes without a large queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diff {
    phase: Phase,
}

impl Default for Diff {
    fn default() -> Self {
        Self::new()
    }
}

impl Diff {
    pub const fn new() -> Self {
        Self {
            phase: Phase::OldLinks(0),
        }
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Advances past one item, appending its changes (possibly none) to `out`; `false` once
    /// the walk is complete. `old` and `new` must not change between calls.
    pub fn step(&mut self, old: &Mirror, new: &Mirror, out: &mut Changes) -> bool {
        match self.phase {
            Phase::OldLinks(i) => match old.links.value_at(i) {
                Some(o) => {
                    link_changes(Some(o), new.links.get(&o.index), out);
                    self.phase = Phase::OldLinks(i + 1);
                }
                None => self.phase = Phase::NewLinks(0),
            },
            Phase::NewLinks(i) => match new.links.value_at(i) {
                Some(n) => {
                    if !old.links.contains_key(&n.index) {
                        link_changes(None, Some(n), out);
                    }
                    self.phase = Phase::NewLinks(i + 1);
                }
                None => self.phase = Phase::OldAddrs(0),
            },
            Phase::OldAddrs(i) => match old.addrs.value_at(i) {
                Some(o) => {
                    match new.addrs.get(&o.key()) {
                        Some(n) if n != o => push(out, addr_updated(o, n)),
                        Some(_) => {}
                        // LinkRemoved already covers the addresses of a link that went.
                        None if new.links.contains_key(&o.ifindex) => push(out, addr_removed(o)),
                        None => {}
                    }
                    self.phase = Phase::OldAddrs(i + 1);
                }
                None => self.phase = Phase::NewAddrs(0),
            },
            Phase::NewAddrs(i) => match new.addrs.value_at(i) {
                Some(n) => {
                    if !old.addrs.contains_key(&n.key()) {
                        push(out, addr_added(n));
                    }
                    self.phase = Phase::NewAddrs(i + 1);
                }
                None => self.phase = Phase::Done,
            },
            Phase::Done => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::consts::RT_SCOPE_UNIVERSE;
    use crate::netlink::types::if_name;

    fn link(index: u32, name: &str, flags: u32) -> Link {
        Link {
            index,
            name: if_name(name).unwrap(),
            flags,
            mtu: Some(1500),
            mac: Some(HwAddr::from_slice(&[2, 0, 0, 0, 0, index as u8]).unwrap()),
            operstate: OperState::Up,
            carrier: Some(true),
            kind: None,
        }
    }

    fn addr(ifindex: u32, ip: &str, len: u8) -> Addr {
        let mut a = Addr::new(ifindex, ip.parse().unwrap(), len);
        a.scope = RT_SCOPE_UNIVERSE;
        a
    }

    const UP_RUNNING: u32 = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

    #[test]
    fn link_lifecycle_reports_typed_edges() {
        let mut m = Mirror::new();
        let c = m.apply(&Event::NewLink(link(3, "eth0", UP_RUNNING)));
        let name = if_name("eth0").unwrap();
        assert_eq!(
            c.as_slice(),
            &[
                Change::LinkAdded {
                    index: 3,
                    name: name.clone()
                },
                Change::AdminUp { index: 3 },
                Change::CarrierChanged {
                    index: 3,
                    carrier: true
                },
                Change::LinkUp { index: 3 },
            ]
        );
        // Statistics-only update: nothing.
        assert!(
            m.apply(&Event::NewLink(link(3, "eth0", UP_RUNNING)))
                .is_empty()
        );
        // Carrier lost.
        let c = m.apply(&Event::NewLink(link(3, "eth0", IFF_UP)));
        assert_eq!(
            c.as_slice(),
            &[
                Change::CarrierChanged {
                    index: 3,
                    carrier: false
                },
                Change::LinkDown { index: 3 }
            ]
        );
        // Renamed, MTU changed.
        let mut l = link(3, "wan", IFF_UP);
        l.mtu = Some(9000);
        let c = m.apply(&Event::NewLink(l));
        assert_eq!(
            c.as_slice(),
            &[
                Change::LinkRenamed {
                    index: 3,
                    old: name,
                    new: if_name("wan").unwrap()
                },
                Change::MtuChanged {
                    index: 3,
                    old: 1500,
                    new: 9000
                },
            ]
        );
        assert_eq!(m.link_by_name("wan").map(|l| l.index), Some(3));
        assert!(m.link_by_name("eth0").is_none());
        m.apply(&Event::NewAddr(addr(3, "192.0.2.1", 24)));
        let c = m.apply(&Event::DelLink(link(3, "wan", 0)));
        assert_eq!(
            c.as_slice(),
            &[
                Change::AdminDown { index: 3 },
                Change::LinkRemoved {
                    index: 3,
                    name: if_name("wan").unwrap()
                }
            ]
        );
        assert_eq!(m.addr_count(), 0, "a removed link's addresses go with it");
        assert!(m.apply(&Event::DelLink(link(3, "wan", 0))).is_empty());
        assert_eq!(m.counters().unknown_deletes, 1);
    }

    #[test]
    fn stale_name_is_replaced_by_the_new_index() {
        let mut m = Mirror::new();
        m.apply(&Event::NewLink(link(3, "eth0", 0)));
        let c = m.apply(&Event::NewLink(link(7, "eth0", 0)));
        assert_eq!(
            c[0],
            Change::LinkRemoved {
                index: 3,
                name: if_name("eth0").unwrap()
            }
        );
        assert_eq!(
            c[1],
            Change::LinkAdded {
                index: 7,
                name: if_name("eth0").unwrap()
            }
        );
        assert_eq!(m.link_count(), 1);
    }

    #[test]
    fn addresses_added_updated_removed() {
        let mut m = Mirror::new();
        m.apply(&Event::NewLink(link(2, "eth0", UP_RUNNING)));
        let ip = "2001:db8::1".parse().unwrap();
        let mut a = addr(2, "2001:db8::1", 64);
        a.flags = 0x40; // IFA_F_TENTATIVE
        assert_eq!(
            m.apply(&Event::NewAddr(a.clone())).as_slice(),
            &[Change::AddrAdded {
                ifindex: 2,
                addr: ip,
                prefix_len: 64
            }]
        );
        assert!(m.has_addr(2, ip));
        assert!(!m.has_addr(3, ip));
        a.flags = 0;
        assert_eq!(
            m.apply(&Event::NewAddr(a.clone())).as_slice(),
            &[Change::AddrUpdated {
                ifindex: 2,
                addr: ip,
                prefix_len: 64,
                old_flags: 0x40,
                new_flags: 0
            }]
        );
        // Same address, other prefix: a second entry (IPv4 allows it; keyed the same way).
        m.apply(&Event::NewAddr(addr(2, "2001:db8::1", 128)));
        assert_eq!(m.addrs_of(2).count(), 2);
        assert_eq!(
            m.apply(&Event::DelAddr(a)).as_slice(),
            &[Change::AddrRemoved {
                ifindex: 2,
                addr: ip,
                prefix_len: 64
            }]
        );
        assert!(m.has_addr(2, ip));
    }

    #[test]
    fn full_tables_are_counted_not_fatal() {
        let mut m = Mirror::new();
        for i in 1..=MAX_LINKS as u32 + 5 {
            m.apply(&Event::NewLink(link(i, &format!("l{i}"), 0)));
        }
        assert_eq!(m.link_count(), MAX_LINKS);
        assert_eq!(m.counters().capacity_hits, 5);
        for i in 0..MAX_ADDRS as u32 + 3 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            m.apply(&Event::NewAddr(addr(1, &ip.to_string(), 32)));
        }
        assert_eq!(m.addr_count(), MAX_ADDRS);
        assert_eq!(m.counters().capacity_hits, 8);
    }

    #[test]
    fn impossible_events_are_rejected() {
        let mut m = Mirror::new();
        let mut l = link(0, "x", 0);
        assert!(m.apply(&Event::NewLink(l.clone())).is_empty());
        l.index = 4;
        l.name.clear();
        assert!(m.apply(&Event::NewLink(l)).is_empty());
        assert!(
            m.apply(&Event::NewAddr(addr(0, "192.0.2.1", 24)))
                .is_empty()
        );
        assert_eq!(m.counters().rejected, 3);
        assert!(
            m.apply(&Event::DelAddr(addr(9, "192.0.2.1", 24)))
                .is_empty()
        );
    }

    #[test]
    fn diff_reports_what_apply_would() {
        let mut old = Mirror::new();
        old.apply(&Event::NewLink(link(2, "eth0", UP_RUNNING)));
        old.apply(&Event::NewLink(link(3, "eth1", UP_RUNNING)));
        old.apply(&Event::NewAddr(addr(2, "192.0.2.1", 24)));
        old.apply(&Event::NewAddr(addr(3, "198.51.100.1", 24)));
        let mut new = Mirror::new();
        new.apply(&Event::NewLink(link(2, "eth0", IFF_UP | IFF_LOWER_UP)));
        new.apply(&Event::NewLink(link(4, "eth1", UP_RUNNING)));
        new.apply(&Event::NewAddr(addr(2, "192.0.2.2", 24)));
        let mut d = Diff::new();
        let mut all = Vec::new();
        let mut out = Changes::new();
        while d.step(&old, &new, &mut out) {
            all.extend(out.iter().cloned());
            out.clear();
        }
        assert!(d.is_done());
        let eth1 = if_name("eth1").unwrap();
        assert_eq!(
            all,
            vec![
                Change::LinkDown { index: 2 },
                Change::AdminDown { index: 3 },
                Change::CarrierChanged {
                    index: 3,
                    carrier: false
                },
                Change::LinkDown { index: 3 },
                Change::LinkRemoved {
                    index: 3,
                    name: eth1.clone()
                },
                Change::LinkAdded {
                    index: 4,
                    name: eth1
                },
                Change::AdminUp { index: 4 },
                Change::CarrierChanged {
                    index: 4,
                    carrier: true
                },
                Change::LinkUp { index: 4 },
                Change::AddrRemoved {
                    ifindex: 2,
                    addr: "192.0.2.1".parse().unwrap(),
                    prefix_len: 24
                },
                Change::AddrAdded {
                    ifindex: 2,
                    addr: "192.0.2.2".parse().unwrap(),
                    prefix_len: 24
                },
            ]
        );
    }
}
