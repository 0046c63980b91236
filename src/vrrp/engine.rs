//! The VRRP child's engine: one task per instance on the child's
//! single-threaded scheduler. Each task owns its instance outright and
//! waits on three things only: its receive socket, its state machine's
//! next deadline, and commands from the child (stop).

use super::dump;
use super::fsm::{self, Input, State};
use crate::os::signals::Dump;
use super::instance::{Instance, InstanceStatus};
use super::syncd::{SyncdLink, SyncdSpec};
use super::track::{Coordinator, Inbox};
use crate::netlink::mirror::Change;
use crate::netlink::reflector::{Reflector, ReflectorConfig};
use crate::alert::VrrpAlerts;
use crate::notify::{Notifier, NotifyScripts};
use crate::script::prepare_script;
use crate::notify::fifo::NotifyFifo;
use crate::script::track::{ScriptTracker, intervals, run_tracker};
use crate::config::Config;
use smol::{LocalExecutor, Task};
use std::cell::RefCell;
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

pub struct Engine {
    /// Each instance and the task that drives it. The task holds the
    /// instance borrowed while it runs; stopping cancels the task first.
    instances: Vec<(usize, Rc<RefCell<Option<Instance>>>, Task<()>)>,
    coord: Rc<RefCell<Coordinator>>,
    /// The reflector and the script trackers: dropped first at a stop.
    watchers: Vec<Task<()>>,
    notifier: Rc<Notifier>,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    clock: Clock,
    no_accept: Option<Rc<RefCell<crate::netlink::nft::NoAccept>>>,
    /// The IPVS sync daemon that follows one instance (lvs_sync_daemon).
    syncd: Option<Rc<SyncdLink>>,
    /// The configuration the engine runs, for the dump files.
    config: Config,
    /// Counters as STATS_CLEAR last saw them, per instance.
    cleared: RefCell<Vec<dump::KaStats>>,
}

/// How long a stop waits for the sync daemon to be stopped. The kernel stops its threads
/// synchronously (seconds under QEMU TCG); the parent gives a stopping child 5 s in all.
const SYNCD_STOP_WAIT: Duration = Duration::from_secs(2);

/// Called with every instance's status whenever one changes state (the
/// VRRP child passes it on to the parent). Not called in steady state.
pub type OnChange = Rc<dyn Fn(&[InstanceStatus])>;

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
        for fifo in [&config.global.notify_fifo, &config.global.vrrp_notify_fifo].into_iter().flatten() {
            if let Some(path) = fifo.argv.first() {
                match NotifyFifo::open(std::path::Path::new(path), None) {
                    Ok(f) => notifier.add_fifo(f),
                    Err(e) => log::error!("notify_fifo {path}: {e}"),
                }
            }
        }
        // One nftables table for every no_accept instance of this child.
        let no_accept = if config.vrrp_instances.iter().any(|i| super::instance::wants_no_accept(config, i)) {
            match crate::netlink::nft::NoAccept::setup() {
                Ok(n) => Some(Rc::new(RefCell::new(n))),
                Err(e) => {
                    log::error!("no_accept: cannot set up the nftables filter: {e}; VIPs will accept traffic");
                    None
                }
            }
        } else {
            None
        };
        let inboxes: Vec<Rc<Inbox>> = config.vrrp_instances.iter().filter_map(|_| Inbox::new().map_err(|e| log::error!("eventfd: {e}")).ok()).collect();
        let coord = Rc::new(RefCell::new(Coordinator::new(config, &inboxes)));
        coord.borrow_mut().set_notifier(notifier.clone());
        // The sync daemon is told every state of the instance it follows, from its first.
        let syncd = SyncdSpec::from_config(config).and_then(SyncdLink::new).map(Rc::new);
        let mut instances = Vec::new();
        for (i, inst) in config.vrrp_instances.iter().enumerate() {
            let follow = syncd.clone().filter(|l| l.spec().instance == i);
            status.borrow_mut().push(InstanceStatus {
                name: inst.name.clone(),
                state: State::Initialize,
                priority: inst.priority,
                vrid: inst.virtual_router_id,
                version: inst.version.unwrap_or(config.global.vrrp_version),
                interface: inst.interface.clone().unwrap_or_default(),
                ..Default::default()
            });
            let slot = Rc::new(RefCell::new(None));
            let Some(inbox) = inboxes.get(i).cloned() else { continue };
            match Instance::setup(config, inst) {
                Ok(mut instance) => {
                    instance.notify = Some((notifier.clone(), NotifyScripts::for_instance(inst, &config.global)));
                    if super::instance::wants_no_accept(config, inst) {
                        instance.no_accept = no_accept.clone();
                    }
                    *slot.borrow_mut() = Some(instance);
                    let start = if resume.contains(&inst.name) { Input::ResumeMaster } else { Input::Startup };
                    let ctx = Ctx { index: i, clock, start, status: status.clone(), changed: on_change.clone(), inbox, coord: coord.clone(), syncd: follow };
                    let task = ex.spawn(run(slot.clone(), ctx));
                    instances.push((i, slot, task));
                }
                Err(e) => {
                    log::error!("({}) cannot start: {e}; instance stays in FAULT", inst.name);
                    if let Some(s) = status.borrow_mut().get_mut(i) {
                        s.state = State::Fault;
                    }
                    // keepalived runs the backup daemon for an instance in FAULT too.
                    if let Some(l) = follow {
                        l.state_changed(fsm::State::Fault);
                    }
                    on_change(&status.borrow());
                }
            }
        }
        let mut watchers = Vec::new();
        match Reflector::start(ReflectorConfig::default()) {
            Ok(refl) => {
                // The mirror as it is now: interfaces already down count from the start.
                coord.borrow_mut().links_changed(refl.mirror());
                watchers.push(ex.spawn(reflect(refl, coord.clone())));
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
            let tracker = ScriptTracker::from_config(def);
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
        Engine { instances, coord, watchers, notifier, status, clock, no_accept, syncd, config: config.clone(), cleared: RefCell::new(Vec::new()) }
    }

    pub fn sync_groups(&self) -> Vec<super::instance::SyncGroupStatus> {
        self.coord.borrow().group_status()
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
    pub async fn stop(self) {
        self.stop_keeping(&[], false).await;
    }

    /// Stops for a reload. Masters whose instance the new config still has
    /// (same name, interface and VRID) are left as they are on the wire:
    /// no priority 0, VIPs and VMAC kept; their names are returned, for the
    /// new engine to resume them as master. A reload is then hitless.
    pub async fn stop_for_reload(self, old: &Config, new: &Config) -> Vec<String> {
        let same = |name: &str| {
            let a = old.vrrp_instances.iter().find(|i| i.name == name);
            let b = new.vrrp_instances.iter().find(|i| i.name == name);
            matches!((a, b), (Some(a), Some(b)) if a.interface == b.interface && a.virtual_router_id == b.virtual_router_id && a.use_vmac == b.use_vmac)
        };
        let keep: Vec<String> = self.status.borrow().iter().filter(|s| s.state == State::Master && same(&s.name)).map(|s| s.name.clone()).collect();
        // With lvs_sync_daemon still configured the new engine's first report reconciles
        // the kernel with it (nothing changes for a daemon that stays as it is); without it,
        // the daemon stops here.
        let keep_syncd = SyncdSpec::from_config(new).is_some();
        self.stop_keeping(&keep, keep_syncd).await;
        keep
    }

    async fn stop_keeping(self, keep: &[String], keep_syncd: bool) {
        let clock = self.clock;
        // First, as keepalived: the stop runs on the helper thread while the instances stop.
        let syncd_stopped = self.syncd.as_ref().filter(|_| !keep_syncd).map(|l| l.stop());
        drop(self.watchers);
        for (index, slot, task) in self.instances {
            // Cancelling drops the task's borrow of the instance.
            task.cancel().await;
            let Ok(mut guard) = slot.try_borrow_mut() else { continue };
            if let Some(inst) = guard.as_mut() {
                if keep.contains(&inst.name) {
                    log::info!("({}) kept as master across the reload", inst.name);
                    continue;
                }
                let actions = inst.fsm.handle(clock.now(), Input::Shutdown);
                inst.exec(actions);
                // Whatever the state was, leave no VIP behind.
                inst.remove_vips();
                inst.teardown();
                self.coord.borrow_mut().state_changed(index, inst.fsm.state());
                log::info!("({}) stopped: {}", inst.name, inst.counters);
            }
        }
        // The filter goes with the last VIP it guarded; masters kept over a
        // reload are re-added to a fresh table by the new engine.
        if keep.is_empty() {
            if let Some(na) = &self.no_accept {
                if let Err(e) = na.borrow_mut().teardown() {
                    log::warn!("no_accept: removing the nftables filter: {e}");
                }
            }
        }
        // Let the STOP notifications run (keepalived gives them a second).
        self.notifier.idle(Duration::from_secs(2)).await;
        if let Some(applied) = syncd_stopped
            && !applied.wait(SYNCD_STOP_WAIT).await
        {
            log::warn!("lvs_sync_daemon: not stopped within {} ms more; left to finish on its own", SYNCD_STOP_WAIT.as_millis());
        }
    }
}

/// Follows the kernel through the reflector and tells the coordinator.
async fn reflect(mut refl: Reflector, coord: Rc<RefCell<Coordinator>>) {
    loop {
        match refl.next().await {
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
    index: usize,
    clock: Clock,
    start: Input,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: OnChange,
    inbox: Rc<Inbox>,
    coord: Rc<RefCell<Coordinator>>,
    /// Set for the instance lvs_sync_daemon follows.
    syncd: Option<Rc<SyncdLink>>,
}

async fn run(slot: Rc<RefCell<Option<Instance>>>, ctx: Ctx) {
    let Ctx { index, clock, start, status, changed, inbox, coord, syncd } = ctx;
    let Ok(mut guard) = slot.try_borrow_mut() else { return };
    let Some(inst) = guard.as_mut() else { return };
    let report = |inst: &Instance| {
        if let Some(s) = status.borrow_mut().get_mut(index) {
            *s = inst.status();
        }
        coord.borrow_mut().state_changed(index, inst.fsm.state());
        if let Some(l) = &syncd {
            l.state_changed(inst.fsm.state());
        }
        changed(&status.borrow());
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
        let allocs_before = crate::os::mem::thread_allocs();
        let mut changed_state = false;
        // Tracking first: a fault or a priority change applies before the
        // packets that arrived with it.
        while let Some(input) = inbox.pop() {
            let actions = inst.fsm.handle(clock.now(), input);
            changed_state |= inst.exec(actions);
        }
        if readable {
            loop {
                let r = inst.rx.get_ref().recv(&mut inst.rx_buf[..]);
                match r {
                    Ok(meta) => changed_state |= inst.on_packet(meta, clock.now()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("({}) receive: {e}", inst.name);
                        break;
                    }
                }
            }
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
        } else if let Some(s) = status.borrow_mut().get_mut(index) {
            // Counters, priorities, the master heard: plain numbers,
            // copied without allocating.
            s.set_live(inst.live());
        }
    }
}
