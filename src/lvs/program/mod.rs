//! Bringing the kernel's IPVS table to what `desired` says, with the
//! fewest changes (the IPVS client's planner): unchanged services and
//! destinations are not touched, so established connections go on. Only
//! services this configuration names are managed; anything else in the
//! table belongs to someone else and is left alone. At a clean stop the
//! managed services are removed, as keepalived does.
//!
//! State is remembered by identity (`identity`), so a reload that changes
//! one real server touches only that destination. After a checker child
//! restart nothing is remembered: real servers start up as keepalived adds
//! them, and an alpha real server that has no verdict yet keeps what the
//! kernel's table says (present with a weight: up), so the first sync does
//! not pull and re-add destinations that were fine (keepalived, which does
//! not read the table, would leave them too, but then never remove a stale
//! one; we remove it at the first failed check).
//!
//! The kernel's table is read only for a full reconcile: at start, at a
//! reload, and so after a checker child restart. Its ops run a batch at a
//! time (`reconcile_step`), so that the child's message loop answers the
//! watchdog between batches: 10,000 destinations are 10,000 netlink round
//! trips. Between reads, what we know of our services is `cache`, kept by
//! our own successful ops; a check event computes only its own virtual
//! server and applies the difference from the cache. An op that fails
//! re-reads its service, and the difference is planned again once.

use super::group;
#[cfg(test)]
use super::group::Member;
pub use super::service::service_for;
use super::hooks::{Alert, AlertSubject, Hooks, STOP_SCRIPT_TIMEOUT, VsHooks};
use super::identity::{RsIdent, VsIdent, rs_ident, vs_ident};
use super::kernel::{StopFlush, TimeoutsMemory, TimeoutsStep, stop_flush};
use super::{QuorumChange, QuorumMemory, RsView, VsWant, default_view, desired, desired_vs};
use crate::check::{CheckEvent, CheckEventKind, RsId};
use crate::config::model::{CheckKind, Config, LbKind, RealServer, VirtualServer};
use crate::ipvs::{Destination, FwdMethod, Ipvs, IpvsError, Op, Service, ServiceKey};
use crate::ipvs::plan::plan_service;
use std::collections::{HashMap, HashSet, VecDeque};

use std::rc::Rc;

fn fwd(kind: LbKind) -> FwdMethod {
    match kind {
        LbKind::Nat => FwdMethod::Masq,
        LbKind::Dr => FwdMethod::DirectRoute,
        LbKind::Tun => FwdMethod::Tunnel,
    }
}

/// The IPVS services and destinations for one wanted virtual server: one
/// service per member (a group gives several), all with the same
/// destinations.
pub fn to_ipvs(config: &Config, want: &VsWant) -> Vec<(Service, Vec<Destination>)> {
    let Some(vs) = config.virtual_servers.get(want.index) else { return Vec::new() };
    group::members(config, vs)
        .into_iter()
        .filter_map(|m| {
            let svc = service_for(config, vs, m)?;
            let dests = want
                .dests
                .iter()
                .map(|d| Destination::new(d.addr, group::dest_port(d.fwd, d.port, m), fwd(d.fwd)).with_weight(d.weight.max(0) as u32))
                .collect();
            Some((svc, dests))
        })
        .collect()
}

fn check_kind_name(k: &CheckKind) -> &'static str {
    match k {
        CheckKind::Tcp => "TCP CHECK",
        CheckKind::Http(_) => "HTTP_GET CHECK",
        CheckKind::Ssl(_) => "SSL_GET CHECK",
        CheckKind::Smtp(_) => "SMTP CHECK",
        CheckKind::Misc(_) => "MISC CHECK",
        CheckKind::Dns(_) => "DNS CHECK",
        CheckKind::Udp(_) => "UDP CHECK",
        CheckKind::Ping => "PING CHECK",
        CheckKind::File(_) => "FILE CHECK",
    }
}

/// The alert's message for checker `idx` of `rs` (its checkers, then its
/// BFD_CHECKs, as the plan lists them), in keepalived's words.
fn checker_message(rs: &RealServer, idx: usize, up: bool) -> Option<String> {
    if let Some(c) = rs.checkers.get(idx) {
        return Some(format!("=> {} {} on service <=", check_kind_name(&c.kind), if up { "succeed" } else { "failed" }));
    }
    // check_bfd.c's own words: "succeeded", not the others' "succeed".
    let b = rs.bfd_checks.get(idx - rs.checkers.len())?;
    Some(format!("=> BFD CHECK {} {} on service <=", b.name, if up { "succeeded" } else { "failed" }))
}

/// The checkers' view of each real server by its place in the config:
/// per virtual server, per real server (None: no verdict yet). At 40,000
/// real servers a table indexed by place, not a map by identity: a reload
/// moves 40,000 small values rather than hashing 40,000 identities thrice.
#[derive(Clone, Debug, Default)]
struct Views {
    by_vs: Vec<Vec<ViewSlot>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ViewSlot {
    view: Option<RsView>,
    /// At a reload, on the old table: the real server is in the new config.
    kept: bool,
}

impl Views {
    fn sized(config: &Config) -> Views {
        Views { by_vs: config.virtual_servers.iter().map(|vs| vec![ViewSlot::default(); vs.real_servers.len()]).collect() }
    }

    fn slot(&mut self, id: RsId) -> Option<&mut ViewSlot> {
        self.by_vs.get_mut(id.vs as usize)?.get_mut(id.rs as usize)
    }

    fn get(&self, id: RsId) -> Option<RsView> {
        self.by_vs.get(id.vs as usize)?.get(id.rs as usize)?.view
    }

    /// Sets a view; a place the config does not have grows the table
    /// (a config applied before `sized`: tests).
    fn set(&mut self, id: RsId, v: Option<RsView>) {
        let (vi, ri) = (id.vs as usize, id.rs as usize);
        if self.by_vs.len() <= vi {
            self.by_vs.resize_with(vi + 1, Vec::new);
        }
        let row = &mut self.by_vs[vi];
        if row.len() <= ri {
            row.resize(ri + 1, ViewSlot::default());
        }
        row[ri].view = v;
    }

    fn take(&mut self, id: RsId) -> Option<RsView> {
        self.slot(id).and_then(|s| s.view.take())
    }

    fn mark_kept(&mut self, id: RsId) {
        if let Some(s) = self.slot(id) {
            s.kept = true;
        }
    }

    fn kept(&self, id: RsId) -> bool {
        self.by_vs.get(id.vs as usize).and_then(|r| r.get(id.rs as usize)).is_some_and(|s| s.kept)
    }
}

/// The most ops whose room the reconcile queue keeps once it is done.
const PENDING_KEPT: usize = 1024;

/// The kernel's table as last read.
type Table = Vec<(Service, Vec<Destination>)>;

/// Our services as the kernel has them, as far as we know: read at a full
/// reconcile, then kept by our own successful ops.
type Cache = HashMap<ServiceKey, (Service, Vec<Destination>)>;

pub struct Lvs {
    ipvs: Option<Ipvs>,
    config: Rc<Config>,
    prepared: Vec<VsHooks>,
    memory: QuorumMemory,
    /// The checkers' view of each real server, by its place in `config`
    /// (carried to the new places at a reload, `identity::Carried`).
    views: Views,
    managed: Vec<ServiceKey>,
    cache: Cache,
    /// The full reconcile's ops not run yet, and what `managed` becomes
    /// once they are (until then it also holds the services they remove).
    pending: VecDeque<Op>,
    wanted_keys: Vec<ServiceKey>,
    /// Virtual servers with events during the reconcile: planned against
    /// the cache again once its ops are done. `stale`: services whose op
    /// failed, read again then; `owners`: the virtual server of each.
    dirty: HashSet<usize>,
    stale: HashSet<ServiceKey>,
    owners: HashMap<ServiceKey, usize>,
    reconciling: bool,
    hooks: Rc<dyn Hooks>,
    /// The first config has been applied (lvs_flush happens before it).
    started: bool,
    /// The first full reconcile has read the kernel's table (what a
    /// predecessor left is adopted only then, never at a reload).
    adopted: bool,
    timeouts: TimeoutsMemory,
    /// Real servers an operator drained (`vigil ctl drain`): weight 0 in
    /// IPVS while their checks go on. By identity, so a reload keeps them.
    drained: HashSet<RsIdent>,
}

/// Weight 0 for every drained real server of `want` (sorry servers are
/// never drained; quorum is computed before, on the checkers' verdicts).
fn overlay_drains(drained: &HashSet<RsIdent>, want: &mut crate::lvs::VsWant) {
    if drained.is_empty() {
        return;
    }
    for d in want.dests.iter_mut().filter(|d| !d.sorry) {
        if drained.contains(&RsIdent { vs: want.ident.clone(), addr: d.addr, port: d.port }) {
            d.weight = 0;
        }
    }
}

/// Netlink ops per `reconcile_step`.
pub const RECONCILE_BATCH: usize = 64;

impl Lvs {
    /// Opens IPVS (logs once if the kernel has none).
    pub fn new(hooks: Rc<dyn Hooks>) -> Lvs {
        let ipvs = match Ipvs::open().and_then(|mut i| i.never_wait().map(|()| i)) {
            Ok(i) => Some(i),
            Err(IpvsError::NotAvailable) => {
                log::warn!("IPVS is not available in this kernel: virtual servers are checked but not programmed");
                None
            }
            Err(e) => {
                log::error!("IPVS: {e}");
                None
            }
        };
        let mut l = Lvs::without_ipvs(hooks);
        l.ipvs = ipvs;
        l
    }

    /// Computes and runs the hooks, programs nothing (tests, hosts
    /// without IPVS).
    pub fn without_ipvs(hooks: Rc<dyn Hooks>) -> Lvs {
        Lvs {
            ipvs: None,
            config: Rc::new(Config::default()),
            prepared: Vec::new(),
            memory: QuorumMemory::default(),
            views: Views::default(),
            managed: Vec::new(),
            cache: Cache::new(),
            pending: VecDeque::new(),
            wanted_keys: Vec::new(),
            dirty: HashSet::new(),
            stale: HashSet::new(),
            owners: HashMap::new(),
            reconciling: false,
            hooks,
            started: false,
            adopted: false,
            timeouts: TimeoutsMemory::default(),
            drained: HashSet::new(),
        }
    }

    pub fn config(&self) -> &Rc<Config> {
        &self.config
    }

    /// Drains (weight 0, checks go on) or restores real server `rs` of
    /// virtual server `vs` (both by index in the current config). False
    /// when it already was in that state.
    pub fn set_drained(&mut self, id: RsId, on: bool) -> bool {
        let Some(key) = rs_ident(&self.config, id) else { return false };
        let changed = if on { self.drained.insert(key) } else { self.drained.remove(&key) };
        if changed {
            self.sync_vs(id.vs as usize);
        }
        changed
    }

    pub fn is_drained(&self, id: RsId) -> bool {
        rs_ident(&self.config, id).is_some_and(|k| self.drained.contains(&k))
    }

    /// Restores every drained real server (a clean stop with -I leaves the
    /// table as the checks want it, not as an operator bent it).
    pub fn restore_all(&mut self) {
        let vss: HashSet<usize> = (0..self.config.virtual_servers.len()).collect();
        self.drained.clear();
        for vi in vss {
            self.sync_vs(vi);
        }
    }

    /// Virtual server `index`'s quorum as last evaluated.
    pub fn quorum_up(&self, index: usize) -> Option<bool> {
        let vs = self.config.virtual_servers.get(index)?;
        self.memory.get(&crate::lvs::identity::vs_ident(vs))
    }

    /// The checkers' view of a real server, by its id in the current config.
    pub fn view(&self, id: RsId) -> Option<RsView> {
        self.views.get(id)
    }

    /// Takes `config` in force (start or reload) and plans a full reconcile
    /// (run by `reconcile_step`). `carried`: the
    /// state of every real server that the previous config had too, as the
    /// new checkers continue it (by its id in `config`).
    ///
    /// A real server gone while up gets notify_down ("=> Removing <="); a
    /// virtual server gone while it had quorum gets quorum_down. A carried
    /// real server keeps its state: no hook, no IPVS change, unless the new
    /// config itself changes its verdict (a failed checker removed).
    pub fn apply(&mut self, config: Rc<Config>, carried: &[(RsId, RsView)]) {
        let map = super::identity::Carried::between(&self.config, &config);
        self.apply_carried(config, carried, &map);
    }

    /// `apply`, with `map` the real servers `config` has of the config in
    /// force until now (worked out beforehand, `role::check`).
    pub fn apply_carried(&mut self, config: Rc<Config>, carried: &[(RsId, RsView)], map: &super::identity::Carried) {
        let old = std::mem::replace(&mut self.config, config.clone());
        let old_prepared = std::mem::replace(&mut self.prepared, super::hooks::prepare(&config));
        for (vs, h) in config.virtual_servers.iter().zip(&self.prepared) {
            for w in super::service::warnings(vs, &h.name) {
                log::warn!("{w}");
            }
        }
        let new_vs: HashSet<VsIdent> = config.virtual_servers.iter().map(vs_ident).collect();
        // The views move to the real servers' new places; what is left in
        // `old_views` is of the real servers gone.
        let mut old_views = std::mem::replace(&mut self.views, Views::sized(&config));
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            for ri in 0..vs.real_servers.len() {
                let id = RsId { vs: vi as u16, rs: ri as u16 };
                if let Some(o) = map.get(id) {
                    let v = old_views.take(o);
                    self.views.set(id, v);
                    old_views.mark_kept(o);
                }
            }
        }
        for (vi, vs) in old.virtual_servers.iter().enumerate() {
            let vid = vs_ident(vs);
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let id = RsId { vs: vi as u16, rs: ri as u16 };
                if old_views.kept(id) {
                    continue;
                }
                let up = old_views.get(id).unwrap_or_else(|| default_view(vs, rs)).up;
                if up && let Some(h) = old_prepared.get(vi).and_then(|v| v.real_servers.get(ri)) {
                    let name = super::hooks::rs_name(vs, rs);
                    log::info!("real server {name} of {} no longer exists", old_prepared[vi].name);
                    self.rs_hooks(&old_prepared[vi], h, &name, false, "=> Removing <=");
                }
            }
            if !new_vs.contains(&vid) && self.memory.get(&vid) == Some(true)
                && let Some(h) = old_prepared.get(vi)
            {
                self.vs_hooks(h, false, "=> Removing <=".to_string());
            }
        }
        self.kernel_settings();
        self.memory.retain(|k| new_vs.contains(k));
        for &(id, now) in carried {
            let (Some(vs), Some(rs)) = (
                config.virtual_servers.get(id.vs as usize),
                config.virtual_servers.get(id.vs as usize).and_then(|v| v.real_servers.get(id.rs as usize)),
            ) else {
                continue;
            };
            let before = self.views.get(id).unwrap_or_else(|| default_view(vs, rs));
            self.views.set(id, Some(now));
            if before.up != now.up {
                self.rs_transition(id, now.up, None);
            }
        }
        self.begin_reconcile();
    }

    /// Whether a full reconcile has ops left (see `reconcile_step`).
    pub fn reconciling(&self) -> bool {
        self.reconciling
    }

    /// Applies `apply`'s full reconcile to the end at once (tests).
    pub fn sync(&mut self) {
        self.begin_reconcile();
        while !self.reconcile_step(usize::MAX) {}
    }

    pub fn on_event(&mut self, ev: CheckEvent) {
        let id = ev.real_server;
        let (Some(vs), Some(rs)) = (
            self.config.virtual_servers.get(id.vs as usize),
            self.config.virtual_servers.get(id.vs as usize).and_then(|v| v.real_servers.get(id.rs as usize)),
        ) else {
            return;
        };
        let before = self.views.get(id);
        self.views.set(id, Some(RsView { up: ev.up, weight: ev.weight }));
        let was_up = before.unwrap_or_else(|| default_view(vs, rs)).up;
        // A health event is a transition, or an alpha checker's first
        // failure (nothing changed, keepalived notifies it all the same).
        if ev.kind == CheckEventKind::Health && (was_up != ev.up || before.is_none()) {
            self.rs_transition(id, ev.up, checker_message(rs, ev.checker as usize, ev.up));
        }
        self.sync_vs(id.vs as usize);
    }

    fn rs_transition(&self, id: RsId, up: bool, checker: Option<String>) {
        let Some(vh) = self.prepared.get(id.vs as usize) else { return };
        let Some(h) = vh.real_servers.get(id.rs as usize) else { return };
        let Some(vs) = self.config.virtual_servers.get(id.vs as usize) else { return };
        let Some(rs) = vs.real_servers.get(id.rs as usize) else { return };
        let name = super::hooks::rs_name(vs, rs);
        let msg = checker.unwrap_or_else(|| format!("=> {} <=", if up { "Up" } else { "Down" }));
        log::info!("real server {name} of {} {}", vh.name, if up { "up" } else { "down" });
        let state = if up { "UP" } else { "DOWN" };
        if let Some(cmd) = if up { &h.notify_up } else { &h.notify_down } {
            self.hooks.script(cmd, None);
        }
        self.hooks.fifo(&super::fifo::rs_line(&vh.name, &name, up));
        if h.alert {
            self.hooks.alert(Alert {
                subject: AlertSubject::RealServer { vs: vh.name.clone(), rs: name },
                state,
                message: msg,
            });
        }
    }

    /// A real server going down for good (removed, or shutdown with omega).
    fn rs_hooks(&self, vh: &VsHooks, h: &super::hooks::RsHooks, name: &str, stopping: bool, msg: &str) {
        if let Some(cmd) = &h.notify_down {
            self.hooks.script(cmd, stopping.then_some(STOP_SCRIPT_TIMEOUT));
        }
        self.hooks.fifo(&super::fifo::rs_line(&vh.name, name, false));
        if h.alert {
            self.hooks.alert(Alert {
                subject: AlertSubject::RealServer { vs: vh.name.clone(), rs: name.to_string() },
                state: "DOWN",
                message: msg.to_string(),
            });
        }
    }

    /// quorum_down for a virtual server going away (removed, or shutdown).
    fn vs_hooks(&self, vh: &VsHooks, stopping: bool, msg: String) {
        if let Some(cmd) = &vh.quorum_down {
            self.hooks.script(cmd, stopping.then_some(STOP_SCRIPT_TIMEOUT));
        }
        self.hooks.fifo(&super::fifo::vs_line(&vh.name, false));
        if vh.alert {
            self.hooks.alert(Alert { subject: AlertSubject::VirtualServer { vs: vh.name.clone() }, state: "DOWN", message: msg });
        }
    }

    fn quorum_change(&self, c: &QuorumChange) {
        let Some(vh) = self.prepared.get(c.index) else { return };
        let Some(vs) = self.config.virtual_servers.get(c.index) else { return };
        let what = match (c.up, c.init) {
            (true, true) => "Starting with quorum up",
            (true, false) => "Gained quorum",
            (false, true) => "Starting with quorum down",
            (false, false) => "Lost quorum",
        };
        let text = format!("{what} {}+{}={} <= {}", vs.quorum, vs.hysteresis, c.threshold, c.live);
        log::info!("{text} for VS {}", vh.name);
        if let Some(cmd) = if c.up { &vh.quorum_up } else { &vh.quorum_down } {
            self.hooks.script(cmd, None);
        }
        self.hooks.fifo(&super::fifo::vs_line(&vh.name, c.up));
        if vh.alert {
            self.hooks.alert(Alert {
                subject: AlertSubject::VirtualServer { vs: vh.name.clone() },
                state: if c.up { "UP" } else { "DOWN" },
                message: format!("=> {text} <="),
            });
        }
    }

    fn read_table(&mut self) -> Option<Table> {
        let ipvs = self.ipvs.as_mut()?;
        let current = match ipvs.services() {
            Ok(list) => list,
            Err(e) => {
                log::error!("IPVS: listing services: {e}");
                return None;
            }
        };
        let mut t = Table::with_capacity(current.len());
        for svc in current {
            let dests = ipvs.dests(&svc).unwrap_or_default();
            t.push((svc, dests));
        }
        Some(t)
    }

    /// lvs_flush at start, lvs_timeouts at start and reload (see `kernel`).
    fn kernel_settings(&mut self) {
        let first = !std::mem::replace(&mut self.started, true);
        let Some(ipvs) = self.ipvs.as_mut() else { return };
        if first && self.config.global.lvs_flush {
            match ipvs.flush() {
                Ok(()) => log::info!("IPVS: table flushed at start (lvs_flush)"),
                Err(e) => log::error!("IPVS: lvs_flush: {e}"),
            }
        }
        let want = self.config.global.lvs_timeouts.clone();
        set_timeouts(ipvs, &mut self.timeouts, want.as_ref());
    }

    /// Reads the kernel's table, computes every virtual server (quorum
    /// hooks run here) and queues the ops that bring our services to it.
    fn begin_reconcile(&mut self) {
        self.pending.clear();
        self.dirty.clear();
        self.stale.clear();
        self.reconciling = false;
        // The kernel's table is read at the first full reconcile (a start, or a restarted
        // child taking over what its predecessor left). At a reload it is what our own ops
        // left, the cache (kept by each op that succeeded; a failed one has its service read
        // again): dumping 2,000 services one by one again took seconds under TCG.
        let table = if self.adopted && self.ipvs.is_some() { Some(self.cache.values().cloned().collect()) } else { self.read_table() };
        let config = self.config.clone();
        // A checked real server without a verdict whose virtual server the kernel already has
        // (a restarted checker child, or a table left by -I) carries on from what the kernel
        // has, weight included: nothing is pulled, re-added or re-weighted before its first
        // check, and that check's verdict is a transition only if it differs.
        if let Some(t) = table.as_ref().filter(|_| !std::mem::replace(&mut self.adopted, true)) {
            let by_key = index_table(t);
            for (vi, vs) in config.virtual_servers.iter().enumerate() {
                for (ri, rs) in vs.real_servers.iter().enumerate().filter(|(_, rs)| !rs.checkers.is_empty()) {
                    let id = RsId { vs: vi as u16, rs: ri as u16 };
                    if self.views.get(id).is_some() {
                        continue;
                    }
                    if let Some(v) = table_view(|k| by_key.get(k).copied(), &config, vs, rs) {
                        self.views.set(id, Some(v));
                    }
                }
            }
        }
        let views = &self.views;
        let index = table.as_ref().map(index_table);
        let view = |id: RsId| {
            checkers_view(&config, views, id, |vs, rs| index.as_ref().is_some_and(|i| in_table(|k| i.get(k).copied(), &config, vs, rs)))
        };
        let (mut wants, changes) = desired(&config, view, &mut self.memory);
        for w in &mut wants {
            overlay_drains(&self.drained, w);
        }
        for c in &changes {
            self.quorum_change(c);
        }
        let Some(table) = table else { return };
        let mut wanted: Vec<(Service, Vec<Destination>)> = Vec::new();
        self.owners.clear();
        for w in &wants {
            for t in to_ipvs(&config, w) {
                self.owners.entry(t.0.key()).or_insert(w.index);
                wanted.push(t);
            }
        }
        let wanted_keys: Vec<ServiceKey> = wanted.iter().map(|(s, _)| s.key()).collect();
        let wanted_set: HashSet<ServiceKey> = wanted_keys.iter().cloned().collect();
        let managed: HashSet<ServiceKey> = self.managed.iter().cloned().collect();
        self.cache = table
            .into_iter()
            .filter(|(s, _)| wanted_set.contains(&s.key()) || managed.contains(&s.key()))
            .map(|t| (t.0.key(), t))
            .collect();
        for (k, (svc, _)) in &self.cache {
            if !wanted_set.contains(k) {
                self.pending.push_back(Op::DelService(svc.clone()));
            }
        }
        let mut seen = HashSet::new();
        for w in &wanted {
            if seen.insert(w.0.key()) {
                self.pending.extend(plan_service(self.cache.get(&w.0.key()), w));
            }
        }
        // Until the ops are done, a stop removes what they would remove too.
        self.managed.extend(wanted_keys.iter().filter(|k| !managed.contains(k)).cloned());
        self.wanted_keys = wanted_keys;
        self.reconciling = true;
    }

    /// Runs up to `budget` ops of the full reconcile; true when it is done
    /// (then the virtual servers that had events meanwhile are synced).
    pub fn reconcile_step(&mut self, budget: usize) -> bool {
        if !self.reconciling {
            return true;
        }
        for _ in 0..budget {
            let Some(op) = self.pending.pop_front() else { break };
            if !self.run_op(&op) {
                self.stale.insert(op_service(&op).key());
            }
        }
        if !self.pending.is_empty() {
            return false;
        }
        // The queue's room goes back: a first reconcile of 40,000 real servers queued
        // 42,000 ops of 152 bytes, and the room they left stayed resident (6 MiB of the
        // checker child's RSS in the guest) for ops that, after it, come a few at a time.
        if self.pending.capacity() > PENDING_KEPT {
            self.pending = VecDeque::new();
        }
        self.reconciling = false;
        // A failed op: its service is read again and planned once more.
        for key in std::mem::take(&mut self.stale) {
            self.resync_service(&key);
            if let Some(&vi) = self.owners.get(&key) {
                self.dirty.insert(vi);
            }
        }
        self.managed = std::mem::take(&mut self.wanted_keys);
        let mut dirty: Vec<usize> = self.dirty.drain().collect();
        dirty.sort_unstable();
        for vi in dirty {
            self.sync_vs(vi);
        }
        true
    }

    /// Brings one virtual server's services to the config and the
    /// checkers' view, from what the cache says the kernel has.
    fn sync_vs(&mut self, vi: usize) {
        let config = self.config.clone();
        let views = &self.views;
        let cache = &self.cache;
        let view = |id: RsId| checkers_view(&config, views, id, |vs, rs| in_table(|k| cache.get(k).map(|(_, d)| d.as_slice()), &config, vs, rs));
        let Some((mut want, change)) = desired_vs(&config, vi, view, &mut self.memory) else { return };
        overlay_drains(&self.drained, &mut want);
        if let Some(c) = &change {
            self.quorum_change(c);
        }
        if self.ipvs.is_none() {
            return;
        }
        if self.reconciling {
            self.dirty.insert(vi);
            return;
        }
        for w in to_ipvs(&config, &want) {
            let key = w.0.key();
            let mut failed = false;
            for op in plan_service(self.cache.get(&key), &w) {
                failed |= !self.run_op(&op);
            }
            if failed {
                // Once more from what the kernel says.
                self.resync_service(&key);
                for op in plan_service(self.cache.get(&key), &w) {
                    self.run_op(&op);
                }
            }
            if !self.managed.contains(&key) {
                self.managed.push(key);
            }
        }
    }

    /// Runs one op; on success the cache follows it.
    fn run_op(&mut self, op: &Op) -> bool {
        let Some(ipvs) = self.ipvs.as_mut() else { return false };
        let r = match op {
            Op::AddService(s) => ipvs.add_service(s),
            Op::EditService(s) => ipvs.edit_service(s),
            Op::DelService(s) => ipvs.del_service(s),
            Op::AddDest(s, d) => ipvs.add_dest(s, d),
            Op::EditDest(s, d) => ipvs.edit_dest(s, d),
            Op::DelDest(s, d) => ipvs.del_dest(s, d),
        };
        match r {
            Ok(()) => {
                log::info!("IPVS: {op}");
                record(&mut self.cache, op);
                true
            }
            Err(e) => {
                log::error!("IPVS: {op}: {e}");
                false
            }
        }
    }

    /// Reads one of our services back from the kernel into the cache.
    fn resync_service(&mut self, key: &ServiceKey) {
        let Some(ipvs) = self.ipvs.as_mut() else { return };
        let svc = match ipvs.services() {
            Ok(list) => list.into_iter().find(|s| s.key() == *key),
            Err(e) => {
                log::error!("IPVS: listing services: {e}");
                return;
            }
        };
        match svc {
            Some(svc) => {
                let dests = ipvs.dests(&svc).unwrap_or_default();
                self.cache.insert(*key, (svc, dests));
            }
            None => {
                self.cache.remove(key);
            }
        }
    }

    /// At a clean stop: with omega, the notifiers of real servers that are
    /// up (notify_down) and of each virtual server (quorum_down) run, killed
    /// after a second; then the managed services are removed, unless
    /// `release` is false (-I, --dont-release-ipvs: the table stays as it
    /// is; the timeouts are put back all the same, as keepalived).
    pub fn teardown(&mut self, release: bool) {
        for (vi, vs) in self.config.virtual_servers.iter().enumerate() {
            if !vs.omega {
                continue;
            }
            let Some(vh) = self.prepared.get(vi) else { continue };
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let id = RsId { vs: vi as u16, rs: ri as u16 };
                let up = self.views.get(id).unwrap_or_else(|| default_view(vs, rs)).up;
                if up && let Some(h) = vh.real_servers.get(ri) {
                    self.rs_hooks(vh, h, &super::hooks::rs_name(vs, rs), true, "=> Shutting down <=");
                }
            }
            self.vs_hooks(vh, true, "=> Shutting down <=".to_string());
        }
        self.pending.clear();
        self.reconciling = false;
        let Some(ipvs) = self.ipvs.as_mut() else { return };
        // The kernel's timeouts are put back even with -I, as keepalived
        // 2.2.7 does (seen in the guest: tests/lvs_guest.rs, step 6).
        set_timeouts(ipvs, &mut self.timeouts, None);
        if !release {
            log::info!("IPVS: leaving {} service(s) in the kernel at stop (--dont-release-ipvs)", self.managed.len());
            self.managed.clear();
            return;
        }
        if stop_flush(&self.config.global) == StopFlush::Full {
            match ipvs.flush() {
                Ok(()) => log::info!("IPVS: table flushed at stop (lvs_flush_on_stop)"),
                Err(e) => log::error!("IPVS: lvs_flush_on_stop: {e}"),
            }
            self.managed.clear();
            return;
        }
        let Ok(current) = ipvs.services() else { return };
        for svc in current.iter().filter(|s| self.managed.contains(&s.key())) {
            if let Err(e) = ipvs.del_service(svc) {
                log::warn!("IPVS: removing {:?}: {e}", svc.key());
            }
        }
        self.managed.clear();
    }
}

/// Brings the kernel's timeouts to `want` (None: the kernel's own, as
/// they were before we changed them).
fn set_timeouts(ipvs: &mut Ipvs, mem: &mut TimeoutsMemory, want: Option<&crate::config::model::LvsTimeouts>) {
    // Two rounds at most: save the kernel's values, then set.
    for _ in 0..2 {
        match mem.step(want) {
            TimeoutsStep::Keep => return,
            TimeoutsStep::Save => match ipvs.timeouts() {
                Ok(t) => mem.saved = Some(t),
                Err(e) => {
                    log::error!("IPVS: reading timeouts: {e}");
                    return;
                }
            },
            TimeoutsStep::Set(t) => {
                match ipvs.set_timeouts(&t) {
                    Ok(()) => {
                        log::info!("IPVS: timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp);
                        mem.set(t);
                    }
                    Err(e) => log::error!("IPVS: setting timeouts: {e}"),
                }
                return;
            }
        }
    }
}

/// What the checkers say of real server `id`: its verdict, or with none yet under alpha,
/// whether the kernel has it (`in_kernel`: the table as last read, or the cache); else None
/// (the real server's default).
fn checkers_view(
    config: &Config,
    views: &Views,
    id: RsId,
    in_kernel: impl Fn(&VirtualServer, &crate::config::model::RealServer) -> bool,
) -> Option<RsView> {
    if let Some(v) = views.get(id) {
        return Some(v);
    }
    let vs = config.virtual_servers.get(id.vs as usize)?;
    let rs = vs.real_servers.get(id.rs as usize)?;
    (vs.alpha && !rs.checkers.is_empty()).then(|| RsView { up: in_kernel(vs, rs), weight: None })
}

/// Whether the kernel's table has `rs` with a weight under one of `vs`'s services.
/// `dests_of`: a service's destinations in the table, by key (an index: 40,000 real servers
/// looked up in a 2,000-service table are not 80,000,000 comparisons).
fn in_table<'t>(
    dests_of: impl Fn(&ServiceKey) -> Option<&'t [Destination]>,
    config: &Config,
    vs: &VirtualServer,
    rs: &crate::config::model::RealServer,
) -> bool {
    group::members(config, vs).into_iter().any(|m| {
        service_for(config, vs, m).is_some_and(|svc| {
            let port = group::rs_port(vs, rs, m);
            dests_of(&svc.key()).is_some_and(|ds| ds.iter().any(|d| d.addr == rs.addr && d.port == port && d.weight > 0))
        })
    })
}

/// What the kernel's table says of `rs` when it holds one of `vs`'s services: up with the
/// weight it has there (present with a weight), else down. None when none of `vs`'s services
/// is in the table (a first start).
fn table_view<'t>(
    dests_of: impl Fn(&ServiceKey) -> Option<&'t [Destination]>,
    config: &Config,
    vs: &VirtualServer,
    rs: &crate::config::model::RealServer,
) -> Option<RsView> {
    let mut service_seen = false;
    for m in group::members(config, vs) {
        let Some(svc) = service_for(config, vs, m) else { continue };
        let port = group::rs_port(vs, rs, m);
        if let Some(ds) = dests_of(&svc.key()) {
            service_seen = true;
            if let Some(d) = ds.iter().find(|d| d.addr == rs.addr && d.port == port && d.weight > 0) {
                let weight = i32::try_from(d.weight).ok().filter(|&w| w != rs.weight);
                return Some(RsView { up: true, weight });
            }
        }
    }
    service_seen.then_some(RsView { up: false, weight: None })
}

/// A table's services by key (the first of each), for `in_table` and `table_view`.
fn index_table(t: &Table) -> HashMap<ServiceKey, &[Destination]> {
    let mut by_key = HashMap::with_capacity(t.len());
    for (s, ds) in t {
        by_key.entry(s.key()).or_insert(ds.as_slice());
    }
    by_key
}

fn op_service(op: &Op) -> &Service {
    match op {
        Op::AddService(s) | Op::EditService(s) | Op::DelService(s) => s,
        Op::AddDest(s, _) | Op::EditDest(s, _) | Op::DelDest(s, _) => s,
    }
}

/// The cache after `op` succeeded.
fn record(cache: &mut Cache, op: &Op) {
    let key = op_service(op).key();
    match op {
        Op::AddService(s) => {
            cache.insert(key, (s.clone(), Vec::new()));
        }
        Op::EditService(s) => {
            if let Some(e) = cache.get_mut(&key) {
                e.0 = s.clone();
            }
        }
        Op::DelService(_) => {
            cache.remove(&key);
        }
        Op::AddDest(_, d) | Op::EditDest(_, d) => {
            if let Some((_, ds)) = cache.get_mut(&key) {
                match ds.iter_mut().find(|c| c.key() == d.key()) {
                    Some(c) => *c = *d,
                    None => ds.push(*d),
                }
            }
        }
        Op::DelDest(_, d) => {
            if let Some((_, ds)) = cache.get_mut(&key) {
                ds.retain(|c| c.key() != d.key());
            }
        }
    }
}

#[cfg(test)]
mod tests;
