//! The VRRP child's engine: one task per instance on the child's
//! single-threaded scheduler. Each task owns its instance outright and
//! waits on three things only: its receive socket, its state machine's
//! next deadline, and its inbox (tracking inputs, a reload's new settings).
//! A reload keeps the tasks of the instances it keeps (`Engine::reload`).

use super::fsm::{self, Input, State};
use super::dump;
use super::instance::{Instance, InstanceStatus, Reconfig};
use crate::os::signals::Dump;
use super::syncd::{SyncdLink, SyncdSpec};
use super::track::{Coordinator, Inbox};
use crate::netlink::mirror::Change;
use crate::netlink::reflector::{Reflector, ReflectorConfig, ReflectorCounters};
use crate::alert::VrrpAlerts;
use crate::notify::{Notifier, NotifyScripts};
use crate::script::prepare_script;
use crate::notify::fifo::NotifyFifo;
use crate::script::track::{ScriptTracker, intervals, run_tracker};
use crate::config::Config;
use smol::{LocalExecutor, Task};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// The monotonic clock the state machines run on: microseconds since the
/// engine's start, read only here.
#[derive(Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock { origin: std::time::Instant::now() }
    }
    pub fn now(&self) -> fsm::Instant {
        fsm::Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }
    pub fn to_std(&self, at: fsm::Instant) -> std::time::Instant {
        self.origin + Duration::from_micros(at.as_micros())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Datagrams one instance takes from its socket per turn of its task.
/// Under a flood the rest waits in the socket: timers, adverts and the
/// watchdog's hello are served between turns. 64: a peer's advert per
/// turn many times over, and a turn stays short (tests/vrrp_flood.rs).
pub const RX_BUDGET: usize = 64;

pub struct Engine {
    /// Every instance, in the config's order (a reload reorders them).
    members: Vec<Member>,
    coord: Rc<RefCell<Coordinator>>,
    /// The reflector and the script trackers: dropped first at a stop.
    watchers: Vec<Task<()>>,
    /// The reflectors' counters since this child started, reloads
    /// included: overruns (ENOBUFS) and the resyncs that answered them.
    netlink: Rc<Cell<ReflectorCounters>>,
    notifier: Rc<Notifier>,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    clock: Clock,
    no_accept: Option<Rc<RefCell<crate::netlink::nft::NoAccept>>>,
    /// The IPVS sync daemon that follows one instance (lvs_sync_daemon).
    syncd: Option<Rc<SyncdLink>>,
    ex: Rc<LocalExecutor<'static>>,
    on_change: OnChange,
    /// The configuration the engine runs, for the dump files.
    config: Config,
    /// Counters as STATS_CLEAR last saw them, per instance.
    cleared: RefCell<Vec<dump::KaStats>>,
}

/// One instance and the task that drives it (None when it could not be
/// set up: it stays in FAULT). The task holds the instance borrowed while
/// it runs; stopping cancels the task first.
struct Member {
    slot: Rc<RefCell<Option<Instance>>>,
    task: Option<Task<()>>,
    link: Rc<TaskLink>,
}

/// What the engine and an instance's task share: how the engine reaches a
/// running task without blocking it. The task reads these when its inbox
/// wakes it.
struct TaskLink {
    /// Where the instance is in the config (its status entry and its
    /// coordinator entry); a reload may move it.
    index: Cell<usize>,
    inbox: Rc<Inbox>,
    /// A reload's new settings, for the task to apply in place.
    reconfig: RefCell<Option<Reconfig>>,
    /// Set for the instance lvs_sync_daemon follows.
    syncd: RefCell<Option<Rc<SyncdLink>>>,
}

/// How long a stop waits for the sync daemon to be stopped. The kernel stops its threads
/// synchronously (seconds under QEMU TCG); the parent gives a stopping child 5 s in all.
const SYNCD_STOP_WAIT: Duration = Duration::from_secs(2);

/// Called with every instance's status whenever one changes state (the
/// VRRP child passes it on to the parent). Not called in steady state.
///
/// It gets the shared status, not a copy: a copy per change made 500
/// simultaneous takeovers copy 1,000 statuses 500 times (and late); the
/// receiver copies once, when it sends.
pub type OnChange = Rc<dyn Fn(&Rc<RefCell<Vec<InstanceStatus>>>)>;

impl Engine {
    /// Starts every vrrp_instance of `config` on `ex`.
    /// Instances named in `resume` were master in the VRRP child this one
    /// replaces: they take the mastership back at once. State changes of
    /// instances and groups with smtp_alert go to `alerts`.
    pub fn start(ex: &Rc<LocalExecutor<'static>>, config: &Config, resume: &[String], on_change: OnChange, alerts: Option<Rc<VrrpAlerts>>) -> Engine {
        let clock = Clock::new();
        let status = Rc::new(RefCell::new(Vec::new()));
        let spawner = ex.clone();
        let notifier = Rc::new(Notifier::new(move |f| spawner.spawn(f).detach()));
        if let Some(a) = alerts {
            notifier.set_alerts(a);
        }
        open_fifos(&notifier, config);
        let inboxes: Vec<Rc<Inbox>> = config.vrrp_instances.iter().filter_map(|_| Inbox::new().map_err(|e| log::error!("eventfd: {e}")).ok()).collect();
        let coord = Rc::new(RefCell::new(Coordinator::new(config, &inboxes)));
        coord.borrow_mut().set_notifier(notifier.clone());
        // The sync daemon is told every state of the instance it follows, from its first.
        let syncd = SyncdSpec::from_config(config).and_then(SyncdLink::new).map(Rc::new);
        let mut engine = Engine {
            members: Vec::new(),
            coord,
            watchers: Vec::new(),
            netlink: Rc::new(Cell::new(ReflectorCounters::default())),
            notifier,
            status,
            clock,
            no_accept: None,
            syncd,
            ex: ex.clone(),
            on_change,
            config: config.clone(),
            cleared: RefCell::new(Vec::new()),
        };
        engine.ensure_no_accept(config);
        for (i, inst) in config.vrrp_instances.iter().enumerate() {
            engine.status.borrow_mut().push(initial_status(config, inst));
            let Some(inbox) = inboxes.get(i).cloned() else { continue };
            let start = if resume.contains(&inst.name) { Input::ResumeMaster } else { Input::Startup };
            let m = engine.spawn_member(config, i, inbox, start);
            engine.members.push(m);
        }
        engine.watchers = start_watchers(ex, config, &engine.coord, &engine.netlink);
        engine
    }

    /// One nftables table for every no_accept instance of this child, set
    /// up when the first instance wants it.
    fn ensure_no_accept(&mut self, config: &Config) {
        if self.no_accept.is_some() || !config.vrrp_instances.iter().any(|i| super::instance::wants_no_accept(config, i)) {
            return;
        }
        match crate::netlink::nft::NoAccept::setup() {
            Ok(n) => self.no_accept = Some(Rc::new(RefCell::new(n))),
            Err(e) => log::error!("no_accept: cannot set up the nftables filter: {e}; VIPs will accept traffic"),
        }
    }

    /// Sets up instance `i` of `config` and spawns its task, which begins
    /// with `start`; on failure the instance stays in FAULT, with no task.
    fn spawn_member(&self, config: &Config, i: usize, inbox: Rc<Inbox>, start: Input) -> Member {
        let inst = &config.vrrp_instances[i];
        let follow = self.syncd.clone().filter(|l| l.spec().instance_name == inst.name);
        let slot = Rc::new(RefCell::new(None));
        let link = Rc::new(TaskLink { index: Cell::new(i), inbox, reconfig: RefCell::new(None), syncd: RefCell::new(follow.clone()) });
        match Instance::setup(config, inst) {
            Ok(mut instance) => {
                instance.notify = Some((self.notifier.clone(), NotifyScripts::for_instance(inst, &config.global)));
                if super::instance::wants_no_accept(config, inst) {
                    instance.no_accept = self.no_accept.clone();
                }
                *slot.borrow_mut() = Some(instance);
                let ctx = Ctx { clock: self.clock, start, status: self.status.clone(), changed: self.on_change.clone(), link: link.clone(), coord: self.coord.clone() };
                let task = self.ex.spawn(run(slot.clone(), ctx));
                Member { slot, task: Some(task), link }
            }
            Err(e) => {
                log::error!("({}) cannot start: {e}; instance stays in FAULT", inst.name);
                if let Some(s) = self.status.borrow_mut().get_mut(i) {
                    s.state = State::Fault;
                }
                // keepalived runs the backup daemon for an instance in FAULT too.
                if let Some(l) = follow {
                    l.state_changed(fsm::State::Fault);
                }
                (self.on_change)(&self.status);
                Member { slot, task: None, link }
            }
        }
    }

    pub fn sync_groups(&self) -> Vec<super::instance::SyncGroupStatus> {
        self.coord.borrow().group_status()
    }

    /// The netlink reflectors' counters since this child started.
    pub fn netlink_counters(&self) -> ReflectorCounters {
        self.netlink.get()
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        let mut v = self.status.borrow().clone();
        let coord = self.coord.borrow();
        for s in &mut v {
            s.demoted = coord.is_demoted(&s.name);
        }
        v
    }

    /// `vigil ctl demote` / `undemote`: see `Coordinator::set_demoted`.
    /// The BFD child's news: session `name` is Up, or no longer (track_bfd).
    pub fn bfd_changed(&self, name: &str, up: bool) {
        self.coord.borrow_mut().bfd_changed(name, up);
    }

    pub fn set_demoted(&self, name: &str, on: bool) -> Result<bool, String> {
        self.coord.borrow_mut().set_demoted(name, on)
    }

    /// A dump signal: keepalived's file for it, built from the config and
    /// the instances' status as of now (each task keeps its entry in
    /// `status` current). DATA and STATS also log one line per instance.
    pub fn dump(&self, what: Dump, json_version: u8) {
        let status = self.status.borrow();
        if matches!(what, Dump::Data | Dump::Stats) {
            for s in status.iter() {
                log::info!("({}) {} prio {}/{}: {}", s.name, s.state, s.effective_priority, s.priority, s.counters);
            }
        }
        let groups = self.sync_groups();
        let scripts = self.coord.borrow().scripts.clone();
        let cleared = self.cleared.borrow();
        let view = dump::View { config: &self.config, status: &status, groups: &groups, scripts: &scripts, cleared: &cleared, now: std::time::SystemTime::now() };
        match what {
            Dump::Data => dump::write(dump::DATA_FILE, &dump::data::render(&view)),
            Dump::Stats | Dump::StatsClear => dump::write(dump::STATS_FILE, &dump::stats::render(&view)),
            Dump::Json => dump::write(dump::JSON_FILE, &dump::json::render(&view, json_version)),
        }
        if what == Dump::StatsClear {
            // As keepalived: the file shows the counters, then they start
            // again from zero (in the dump files; status and metrics keep
            // counting, as Prometheus counters must).
            let now: Vec<dump::KaStats> = status.iter().map(dump::KaStats::of).collect();
            drop(cleared);
            *self.cleared.borrow_mut() = now;
            log::info!("VRRP statistics cleared");
        }
    }

    /// Stops every instance: masters send priority 0 and drop their VIPs.
    pub async fn stop(mut self) {
        let syncd_stopped = self.syncd.take().map(|l| l.stop());
        drop(std::mem::take(&mut self.watchers));
        let members = std::mem::take(&mut self.members);
        self.stop_members(members).await;
        // The filter goes with the last VIP it guarded.
        if let Some(na) = &self.no_accept {
            if let Err(e) = na.borrow_mut().teardown() {
                log::warn!("no_accept: removing the nftables filter: {e}");
            }
        }
        self.settle(syncd_stopped).await;
    }

    /// Lets the STOP notifications run (keepalived gives them a second),
    /// and the sync daemon stop, bounded.
    async fn settle(&self, syncd_stopped: Option<super::syncd::Applied>) {
        self.notifier.idle(Duration::from_secs(2)).await;
        if let Some(applied) = syncd_stopped
            && !applied.wait(SYNCD_STOP_WAIT).await
        {
            log::warn!("lvs_sync_daemon: not stopped within {} ms more; left to finish on its own", SYNCD_STOP_WAIT.as_millis());
        }
    }

    /// Stops instances as at a clean stop: each master sends priority 0;
    /// VIPs removed, VMACs deleted, notify stop. Their tasks are cancelled
    /// all together first (cancelling drops a task's borrow of its
    /// instance; one at a time, each cancel waited for an executor turn).
    /// With a packet socket per instance (`garp::ArpSocket` shares one now),
    /// each close also waited a network grace period: 1,000 instances took
    /// 7 s, past the parent's stop bound, which left 623 masters' VIPs
    /// behind and their backups waiting out Master_Down_Interval.
    async fn stop_members(&self, mut members: Vec<Member>) {
        let mut cancels: Vec<_> = members.iter_mut().filter_map(|m| m.task.take()).map(|t| Box::pin(t.cancel())).collect();
        // A first poll starts each cancellation; one executor turn then
        // finishes them all.
        for c in cancels.iter_mut() {
            let _ = smol::future::poll_once(c.as_mut()).await;
        }
        for c in cancels {
            c.await;
        }
        // Every master's priority 0 and every VIP's removal first, the
        // sockets' closes after.
        for m in &members {
            self.stop_instance(m);
        }
    }

    /// Stops one instance whose task is gone.
    fn stop_instance(&self, m: &Member) {
        let index = m.link.index.get();
        let Ok(mut guard) = m.slot.try_borrow_mut() else {
            log::error!("instance {index}: still borrowed at its stop: its VIPs may stay");
            return;
        };
        if let Some(inst) = guard.as_mut() {
            let actions = inst.fsm.handle(self.clock.now(), Input::Shutdown);
            inst.exec(actions);
            // Whatever the state was, leave no VIP behind.
            inst.remove_vips();
            inst.teardown();
            self.coord.borrow_mut().state_changed(index, inst.fsm.state());
            log::info!("({}) stopped: {}", inst.name, inst.counters);
        }
    }

    /// A reload (SIGHUP) with a changed VRRP config or global settings:
    /// instances the new config keeps (see `vrrp::reload`) go on running,
    /// in the same task with the same sockets, state and timers, and take
    /// their new settings in place; the others stop as at a clean stop, and
    /// new ones start as at start-up. Trackers restart with the results
    /// they had.
    pub async fn reload(&mut self, old: &Config, new: &Config) {
        let plan = super::reload::plan(old, new);
        // The dump files describe the new config; STATS_CLEAR's baseline
        // was per instance of the old one.
        self.config = new.clone();
        self.cleared.borrow_mut().clear();
        for (name, why) in &plan.restarted {
            log::info!("({name}) {why} changed: the instance restarts (a new election)");
        }
        // Instances that could not be set up are tried again.
        let mut kept = Vec::new();
        let mut added = plan.added.clone();
        let mut removed = plan.removed.clone();
        for &(j, i) in &plan.kept {
            if self.members.get(i).is_some_and(|m| m.task.is_some()) {
                kept.push((j, i));
            } else {
                removed.push(i);
                added.push(j);
            }
        }
        let syncd_changed = SyncdSpec::from_config(old).map(|s| (s.instance_name, s.daemon)) != SyncdSpec::from_config(new).map(|s| (s.instance_name, s.daemon));
        let syncd_stopped = if syncd_changed { self.syncd.take().map(|l| l.stop()) } else { None };
        if syncd_changed {
            self.syncd = SyncdSpec::from_config(new).and_then(SyncdLink::new).map(Rc::new);
        }
        drop(std::mem::take(&mut self.watchers));

        let mut old_members: Vec<Option<Member>> = std::mem::take(&mut self.members).into_iter().map(Some).collect();
        let gone: Vec<Member> = removed.iter().filter_map(|&i| old_members.get_mut(i).and_then(Option::take)).collect();
        self.stop_members(gone).await;
        self.ensure_no_accept(new);
        // The notify FIFOs as the new config names them.
        if (&old.global.notify_fifo, &old.global.vrrp_notify_fifo) != (&new.global.notify_fifo, &new.global.vrrp_notify_fifo) {
            self.notifier.clear_fifos();
            open_fifos(&self.notifier, new);
        }

        // The new order: kept instances with their inboxes, new ones with new inboxes.
        let n = new.vrrp_instances.len();
        let mut slots: Vec<Option<Member>> = (0..n).map(|_| None).collect();
        let mut inboxes: Vec<Option<Rc<Inbox>>> = vec![None; n];
        for &(j, i) in &kept {
            if let Some(m) = old_members.get_mut(i).and_then(Option::take) {
                inboxes[j] = Some(m.link.inbox.clone());
                slots[j] = Some(m);
            }
        }
        let inboxes: Vec<Rc<Inbox>> = inboxes.into_iter().flat_map(|b| b.or_else(|| Inbox::new().map_err(|e| log::error!("eventfd: {e}")).ok())).collect();
        if inboxes.len() != n {
            log::error!("reload: no eventfd for every instance; instances without one do not run");
        }
        let mut coord = Coordinator::new(new, &inboxes);
        coord.set_notifier(self.notifier.clone());
        coord.carry_from(&self.coord.borrow(), old, new, &kept);
        *self.coord.borrow_mut() = coord;

        let old_status = std::mem::take(&mut *self.status.borrow_mut());
        let mut status: Vec<InstanceStatus> = new.vrrp_instances.iter().map(|i| initial_status(new, i)).collect();
        for &(j, i) in &kept {
            if let Some(s) = old_status.get(i) {
                status[j] = InstanceStatus { name: new.vrrp_instances[j].name.clone(), ..s.clone() };
            }
        }
        *self.status.borrow_mut() = status;

        // Kept instances: the new settings go to their tasks.
        let shared = Rc::new(new.clone());
        for &(j, _) in &kept {
            let Some(m) = &slots[j] else { continue };
            let inst = &new.vrrp_instances[j];
            m.link.index.set(j);
            let follow = self.syncd.clone().filter(|l| l.spec().instance_name == inst.name);
            if syncd_changed && let (Some(l), Some(st)) = (&follow, self.coord.borrow().state_of(j)) {
                l.state_changed(st);
            }
            *m.link.syncd.borrow_mut() = follow;
            *m.link.reconfig.borrow_mut() = Some(Reconfig {
                config: shared.clone(),
                index: j,
                notify: Some((self.notifier.clone(), NotifyScripts::for_instance(inst, &new.global))),
                no_accept: if super::instance::wants_no_accept(new, inst) { self.no_accept.clone() } else { None },
            });
            m.link.inbox.wake();
        }
        // keepalived: a sync group that is new or changed its members
        // starts from INIT, and its masters go back to backup.
        for &j in &plan.regrouped {
            if self.coord.borrow().state_of(j) == Some(State::Master)
                && let Some(m) = &slots[j]
            {
                log::info!("({}) sync group changed by the reload: back to backup", new.vrrp_instances[j].name);
                m.link.inbox.push(Input::SyncBackup);
            }
        }
        // New instances start as at start-up.
        for j in 0..n {
            if slots[j].is_none()
                && let Some(inbox) = inboxes.get(j).cloned()
            {
                slots[j] = Some(self.spawn_member(new, j, inbox, Input::Startup));
            }
        }
        self.members = slots.into_iter().flatten().collect();
        // Trackers from their carried results; the reflector re-reads the
        // links, and every instance is sent what its tracking says now.
        self.watchers = start_watchers(&self.ex, new, &self.coord, &self.netlink);
        self.coord.borrow_mut().refresh();
        (self.on_change)(&self.status);
        self.settle(syncd_stopped).await;
    }
}

/// The status an instance has before its task first reports.
fn initial_status(config: &Config, inst: &crate::config::model::VrrpInstance) -> InstanceStatus {
    InstanceStatus {
        name: inst.name.clone(),
        state: State::Initialize,
        priority: inst.priority,
        vrid: inst.virtual_router_id,
        version: inst.version.unwrap_or(config.global.vrrp_version),
        interface: inst.interface.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn open_fifos(notifier: &Notifier, config: &Config) {
    for fifo in [&config.global.notify_fifo, &config.global.vrrp_notify_fifo].into_iter().flatten() {
        if let Some(path) = fifo.argv.first() {
            match NotifyFifo::open(std::path::Path::new(path), None) {
                Ok(f) => notifier.add_fifo(f),
                Err(e) => log::error!("notify_fifo {path}: {e}"),
            }
        }
    }
}

/// The reflector's tables sized for `config`, allocated once at its start
/// (a reload starts a new one): every link the config names (instances'
/// interfaces, tracked interfaces, the devices of VIPs and static
/// addresses) and a VMAC per `use_vmac` instance, each with a few addresses
/// (an IPv6 link-local, the host's own), and every VIP; twice that, and some,
/// for the links and addresses the host has besides. 1,000 instances on as
/// many VLANs with VMACs need about 2,000 links and 7,000 addresses: the
/// fixed 256 and 1,024 would drop most of them.
pub fn reflector_config(config: &Config) -> ReflectorConfig {
    let mut names: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let (mut vmacs, mut vips) = (0usize, 0usize);
    for v in &config.vrrp_instances {
        names.extend(v.interface.as_deref());
        names.extend(v.track_interfaces.iter().map(|t| t.name.as_str()));
        vmacs += usize::from(v.use_vmac.is_some());
        for a in v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded) {
            vips += 1;
            names.extend(a.dev.as_deref());
        }
    }
    for a in &config.static_ipaddress {
        names.extend(a.dev.as_deref());
    }
    let links = names.len() + vmacs;
    let mut rc = ReflectorConfig {
        links: 2 * links + 64,
        addrs: 2 * (3 * links + vips + config.static_ipaddress.len()) + 256,
        ..ReflectorConfig::default()
    };
    // keepalived's receive buffer for its netlink monitor: SO_RCVBUF, or
    // SO_RCVBUFFORCE with `_force` (vigil's own default forces its size).
    if let Some(n) = global_number(config, "vrrp_netlink_monitor_rcv_bufs").filter(|&n| n > 0) {
        rc.rcvbuf = n;
        rc.rcvbuf_force = global_flag(config, "vrrp_netlink_monitor_rcv_bufs_force");
    }
    rc
}

/// A global_defs number the model keeps unmodelled (`-t` judged it).
fn global_number(config: &Config, kw: &str) -> Option<usize> {
    config.global.other.iter().rev().find(|o| o.keyword == kw)?.args.first()?.parse().ok()
}

/// A global_defs flag the model keeps unmodelled: present and not
/// false/off/no/0, as keepalived reads an optional boolean.
fn global_flag(config: &Config, kw: &str) -> bool {
    config.global.other.iter().rev().find(|o| o.keyword == kw).is_some_and(|o| {
        !matches!(o.args.first().map(String::as_str), Some("false" | "off" | "no" | "0"))
    })
}

/// The reflector and the trackers the instances and groups of `config`
/// use, each reporting to `coord`. Script trackers go on from the result
/// the coordinator holds for them (carried over a reload).
fn start_watchers(
    ex: &Rc<LocalExecutor<'static>>,
    config: &Config,
    coord: &Rc<RefCell<Coordinator>>,
    netlink: &Rc<Cell<ReflectorCounters>>,
) -> Vec<Task<()>> {
    let mut watchers = Vec::new();
    match Reflector::start(reflector_config(config)) {
        Ok(refl) => {
            // The mirror as it is now: interfaces already down count from the start.
            coord.borrow_mut().links_changed(refl.mirror());
            watchers.push(ex.spawn(reflect(refl, coord.clone(), netlink.clone())));
        }
        Err(e) => log::error!("netlink reflector: {e}; interfaces and VIPs are not tracked"),
    }
    for (fi, def) in config.track_files.iter().enumerate() {
        let used = config.vrrp_instances.iter().any(|v| v.track_files.iter().any(|t| t.name == def.name))
            || config.sync_groups.iter().any(|g| g.track_files.iter().any(|t| t.name == def.name));
        if used {
            let coord = coord.clone();
            let name = def.name.clone();
            watchers.push(ex.spawn(super::watch::watch_file(def.clone(), move |v| {
                log::info!("VRRP_Track_File({name}) value {v}");
                coord.borrow_mut().file_changed(fi, v);
            })));
        }
    }
    for (pi, def) in config.track_processes.iter().enumerate() {
        let used = config.vrrp_instances.iter().any(|v| v.track_processes.iter().any(|t| t.name == def.name))
            || config.sync_groups.iter().any(|g| g.track_processes.iter().any(|t| t.name == def.name));
        if used {
            let coord = coord.clone();
            let name = def.name.clone();
            watchers.push(ex.spawn(super::watch::watch_process(def.clone(), move |up| {
                log::info!("VRRP_Track_Process({name}) {}", if up { "up" } else { "down" });
                coord.borrow_mut().process_changed(pi, up);
            })));
        }
    }
    for (si, def) in config.vrrp_scripts.iter().enumerate() {
        let used = config.vrrp_instances.iter().any(|v| v.track_scripts.iter().any(|t| t.name == def.name))
            || config.sync_groups.iter().any(|g| g.track_scripts.iter().any(|t| t.name == def.name));
        if !used {
            continue;
        }
        let Some(cmd) = prepare_script(&def.script, &config.global) else {
            log::warn!("VRRP_Script({}) disabled", def.name);
            continue;
        };
        let (interval, timeout) = intervals(def);
        let carried = coord.borrow().scripts.get(si).copied().unwrap_or(crate::script::track::ScriptState::Init);
        let tracker = ScriptTracker::resume(def, carried);
        let coord = coord.clone();
        let name = def.name.clone();
        watchers.push(ex.spawn(async move {
            run_tracker(&cmd, tracker, interval, timeout, |ev| {
                log::info!("VRRP_Script({name}) {:?} (run {})", ev.state, ev.run);
                coord.borrow_mut().script_changed(si, ev.state);
            })
            .await
        }));
    }
    watchers
}

/// Follows the kernel through the reflector and tells the coordinator.
async fn reflect(mut refl: Reflector, coord: Rc<RefCell<Coordinator>>, netlink: Rc<Cell<ReflectorCounters>>) {
    // What the reflectors before this one counted.
    let before = netlink.get();
    loop {
        let next = refl.next().await;
        netlink.set(before.plus(&refl.counters()));
        match next {
            Ok(Change::AddrRemoved { addr, .. }) => coord.borrow_mut().addr_removed(addr),
            Ok(Change::AddrAdded { .. }) | Ok(Change::AddrUpdated { .. }) | Ok(Change::RouteAdded(_)) | Ok(Change::RouteRemoved(_)) => {}
            Ok(_) => coord.borrow_mut().links_changed(refl.mirror()),
            Err(e) => {
                log::warn!("netlink reflector: {e}");
                async_io::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

struct Ctx {
    clock: Clock,
    start: Input,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: OnChange,
    link: Rc<TaskLink>,
    coord: Rc<RefCell<Coordinator>>,
}

async fn run(slot: Rc<RefCell<Option<Instance>>>, ctx: Ctx) {
    let Ctx { clock, start, status, changed, link, coord } = ctx;
    let inbox = link.inbox.clone();
    let Ok(mut guard) = slot.try_borrow_mut() else { return };
    let Some(inst) = guard.as_mut() else { return };
    let report = |inst: &Instance| {
        let index = link.index.get();
        if let Some(s) = status.borrow_mut().get_mut(index) {
            *s = inst.status();
        }
        coord.borrow_mut().state_changed(index, inst.fsm.state());
        if let Some(l) = link.syncd.borrow().as_ref() {
            l.state_changed(inst.fsm.state());
        }
        changed(&status);
    };
    let actions = inst.fsm.handle(clock.now(), start);
    inst.exec(actions);
    report(inst);
    // One timer, re-armed each turn: creating a timer per turn would cost
    // the reactor an allocation now and then on the advert path.
    let mut timer = async_io::Timer::never();
    loop {
        match inst.fsm.poll_at() {
            Some(at) => timer.set_at(clock.to_std(at)),
            None => timer.set_after(Duration::from_secs(3600)),
        }
        let readable = smol::future::or(
            async {
                match inst.rx.readable().await {
                    Ok(()) => true,
                    Err(_) => {
                        // A broken socket: don't spin; the timer still runs.
                        async_io::Timer::after(Duration::from_millis(100)).await;
                        false
                    }
                }
            },
            smol::future::or(
                async {
                    (&mut timer).await;
                    false
                },
                async {
                    inbox.wait().await;
                    false
                },
            ),
        )
        .await;
        // With -m, count what our own handling of this wake-up allocates
        // (the reactor's own allocations fall outside this window).
        // A reload's new settings, before the inputs the reload queued
        // with them. Not steady state: counted apart, and the whole status
        // (name, VIPs) is refreshed.
        let reload_allocs = crate::os::mem::thread_allocs();
        let reconfig = link.reconfig.borrow_mut().take();
        if let Some(r) = reconfig {
            inst.reconfigure(&r, clock.now());
            if let Some(s) = status.borrow_mut().get_mut(link.index.get()) {
                *s = inst.status();
            }
            inst.counters.transition_allocs += crate::os::mem::thread_allocs() - reload_allocs;
        }
        let allocs_before = crate::os::mem::thread_allocs();
        let mut changed_state = false;
        // Tracking first: a fault or a priority change applies before the
        // packets that arrived with it.
        while let Some(input) = inbox.pop() {
            let actions = inst.fsm.handle(clock.now(), input);
            changed_state |= inst.exec(actions);
        }
        let mut more_waiting = false;
        let drops_before = inst.counters.rx_queue_drops;
        if readable {
            let mut taken = 0;
            loop {
                if taken == RX_BUDGET {
                    // A flood: the rest waits in the socket (the kernel
                    // drops what overflows it) while the timers below, the
                    // other instances and the watchdog's hello get a turn.
                    inst.counters.rx_budget_exhausted += 1;
                    crate::os::capacity::hit(crate::os::capacity::Cap::VrrpRxBudget, format_args!("({}) the rest of a flood waits for the next turn", inst.name));
                    more_waiting = true;
                    break;
                }
                let r = inst.recv();
                taken += 1;
                match r {
                    Ok(meta) => {
                        inst.counters.rx_queue_drops = u64::from(inst.rx.get_ref().queue_drops());
                        changed_state |= inst.on_packet(meta, clock.now());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("({}) receive: {e}", inst.name);
                        break;
                    }
                }
            }
        }
        if inst.counters.rx_queue_drops > drops_before {
            // Before the deadlines: a flood that made our own kernel drop
            // adverts must not by itself make a backup take over.
            let actions = inst.fsm.handle(clock.now(), Input::ReceiveOverflow);
            changed_state |= inst.exec(actions);
        }
        // Deadlines are checked after every wake-up: a busy socket must not
        // starve the timers.
        if inst.fsm.poll_at().is_some_and(|at| at <= clock.now()) {
            let actions = inst.fsm.poll(clock.now());
            changed_state |= inst.exec(actions);
        }
        // Steady state is what allocates nothing: a turn with a state change
        // (notify scripts, status strings) is counted apart.
        let allocs = crate::os::mem::thread_allocs() - allocs_before;
        if changed_state {
            inst.counters.transition_allocs += allocs;
        } else {
            inst.counters.handling_allocs += allocs;
        }
        if changed_state {
            report(inst);
        } else if let Some(s) = status.borrow_mut().get_mut(link.index.get()) {
            // Counters, priorities, the master heard: plain numbers,
            // copied without allocating.
            s.set_live(inst.live());
        }
        if more_waiting {
            // Let every other task (and the reactor, which block_on runs
            // between turns) go first; the socket is still readable after.
            smol::future::yield_now().await;
        }
    }
}

#[cfg(test)]
mod reflector_size_tests {
    use super::*;
    use crate::netlink::event::Event;
    use crate::netlink::mirror::Mirror;

    // keepalived's netlink monitor buffer keywords size the reflector's
    // socket: SO_RCVBUFFORCE only with `_force`; without them, vigil's own.
    #[test]
    fn the_monitor_receive_buffer_follows_keepalived_keywords() {
        let rc = |g: &str| {
            let text = format!("global_defs {{\n{g}}}\nvrrp_instance V {{\n    interface eth0\n    virtual_router_id 1\n}}\n");
            let loaded = crate::config::load_str(&text, std::path::Path::new("/nonexistent/t.conf"), &crate::config::LoadOptions::default());
            reflector_config(&loaded.config)
        };
        let d = ReflectorConfig::default();
        let none = rc("");
        assert_eq!((none.rcvbuf, none.rcvbuf_force), (d.rcvbuf, true));
        let plain = rc("    vrrp_netlink_monitor_rcv_bufs 65536\n");
        assert_eq!((plain.rcvbuf, plain.rcvbuf_force), (65536, false));
        let forced = rc("    vrrp_netlink_monitor_rcv_bufs 4096\n    vrrp_netlink_monitor_rcv_bufs_force\n");
        assert_eq!((forced.rcvbuf, forced.rcvbuf_force), (4096, true));
        let off = rc("    vrrp_netlink_monitor_rcv_bufs 4096\n    vrrp_netlink_monitor_rcv_bufs_force false\n");
        assert_eq!((off.rcvbuf, off.rcvbuf_force), (4096, false));
    }

    // 1,000 instances, each on its own VLAN with a VMAC and two VIPs: the
    // reflector's tables are sized for their links and addresses, and a
    // mirror of that size holds them all (the fixed 256 links did not).
    #[test]
    fn a_thousand_instances_over_vlans_and_vmacs_fit_the_mirror() {
        let mut text = String::new();
        for i in 0..1000u32 {
            text += &format!(
                "vrrp_instance VI_{i} {{\n    interface vlan{i}\n    use_vmac vrrp.{i}\n    virtual_router_id {}\n    priority 100\n    \
                 virtual_ipaddress {{\n        10.{}.{}.1/32\n        10.{}.{}.2/32\n    }}\n}}\n",
                i % 255 + 1,
                i / 250,
                i % 250,
                i / 250,
                i % 250
            );
        }
        let loaded = crate::config::load_str(&text, std::path::Path::new("/nonexistent/t.conf"), &crate::config::LoadOptions::default());
        assert_eq!(loaded.config.vrrp_instances.len(), 1000, "{:?}", loaded.diagnostics.first());
        let rc = reflector_config(&loaded.config);
        assert!(rc.links >= 4000 && rc.addrs >= 8000, "{} links, {} addresses", rc.links, rc.addrs);
        // The host: a physical link, 1,000 VLANs and 1,000 VMACs, each with a
        // link-local and the VLANs with an address of the host's; the VIPs on the VMACs.
        let mut m = Mirror::with_capacity(rc.links, rc.addrs);
        for idx in 1..=2001u32 {
            let link = crate::netlink::link::Link {
                index: idx,
                name: crate::netlink::types::if_name(&format!("if{idx}")).unwrap(),
                flags: 0,
                mtu: Some(1500),
                mac: None,
                operstate: crate::netlink::link::OperState::Up,
                carrier: Some(true),
                kind: None,
            };
            m.apply(&Event::NewLink(link));
            let ll = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, idx as u16);
            m.apply(&Event::NewAddr(crate::netlink::addr::Addr::new(idx, ll.into(), 64)));
            for k in 0..2u32 {
                let a = std::net::Ipv4Addr::from(0x0a00_0000 + idx * 4 + k);
                m.apply(&Event::NewAddr(crate::netlink::addr::Addr::new(idx, a.into(), 32)));
            }
        }
        assert_eq!((m.link_count(), m.addr_count(), m.counters().capacity_hits), (2001, 6003, 0));
    }
}
