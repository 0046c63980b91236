//! keepalived's `lvs_sync_daemon`: the kernel's IPVS connection-sync daemon follows one
//! VRRP instance. While the instance is MASTER the master daemon sends the connection table
//! to the peers; in every other state the backup daemon receives it, so that the node that
//! takes over knows the connections already.
//!
//! As keepalived 2.x, in the VRRP child:
//! - at start, what an earlier run left behind is cleared and the backup daemon is started
//!   (the master one straight away for an instance resumed as master);
//! - on becoming MASTER the backup daemon is stopped and the master one started; on leaving
//!   MASTER (to BACKUP or FAULT) the reverse;
//! - at shutdown the daemon that runs is stopped;
//! - syncid defaults to the instance's virtual_router_id; interface, maxlen, port, ttl and
//!   group are passed only when configured (the kernel's defaults: 8848, ttl 1, 224.0.0.81,
//!   maxlen from the interface's MTU).
//!
//! Unlike keepalived the requests do not run on the scheduler: starting and stopping the
//! kernel's sync threads is quick on hardware but took over 5 s under QEMU TCG, and adverts
//! must not wait for it. One helper thread per process owns the IPVS socket and is fed
//! through a channel; it applies only the latest wish (a flap while a slow stop runs
//! collapses into one change) and compares the wish with the daemons the kernel reports, so
//! a reload that keeps the same daemon changes nothing and a restarted child adopts what the
//! crashed one started. Errors are logged, never fatal. The decision is pure: [`role_for`]
//! and [`plan`].

use crate::config::Config;
use crate::ipvs::{DaemonState, Ipvs, IpvsError, SyncDaemon};
use crate::vrrp::fsm::State;
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// The sync daemon the configuration asks for, and the instance it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncdSpec {
    /// Index of the instance in `config.vrrp_instances`.
    pub instance: usize,
    pub instance_name: String,
    /// The daemon to run; its `state` is set per VRRP state by [`SyncdSpec::daemon`].
    pub daemon: SyncDaemon,
}

impl SyncdSpec {
    /// Resolves `global_defs { lvs_sync_daemon IF INSTANCE [id N] ... }`, or else the old
    /// per-instance `lvs_sync_daemon_interface IF` (the first instance that has it), as
    /// keepalived does. None when neither is configured or the instance does not exist.
    pub fn from_config(config: &Config) -> Option<SyncdSpec> {
        let (index, interface, id, extra) = match &config.global.lvs_sync_daemon {
            Some(d) => {
                let Some(i) = config.vrrp_instances.iter().position(|v| v.name == d.vrrp_instance) else {
                    log::warn!("lvs_sync_daemon: no vrrp_instance {:?}; the sync daemon is not run", d.vrrp_instance);
                    return None;
                };
                (i, d.interface.as_str(), d.id, Some(d))
            }
            None => {
                let i = config.vrrp_instances.iter().position(|v| v.lvs_sync_daemon_interface.is_some())?;
                (i, config.vrrp_instances[i].lvs_sync_daemon_interface.as_deref()?, None, None)
            }
        };
        let inst = &config.vrrp_instances[index];
        let syncid = u32::from(id.unwrap_or(inst.virtual_router_id));
        let Some(mut daemon) = SyncDaemon::new(DaemonState::Backup, interface, syncid) else {
            log::warn!("lvs_sync_daemon: interface name {interface:?} is too long; the sync daemon is not run");
            return None;
        };
        if let Some(d) = extra {
            daemon.sync_maxlen = d.maxlen.filter(|v| *v != 0);
            daemon.mcast_port = d.port.filter(|v| *v != 0);
            daemon.mcast_ttl = d.ttl.filter(|v| *v != 0);
            daemon.mcast_group = d.group;
        }
        Some(SyncdSpec { instance: index, instance_name: inst.name.clone(), daemon })
    }

    /// The daemon in `role`.
    pub fn daemon(&self, role: DaemonState) -> SyncDaemon {
        SyncDaemon { state: role, ..self.daemon.clone() }
    }
}

/// Which daemon runs while the instance is in `state`: the master daemon only while MASTER,
/// the backup daemon otherwise (keepalived starts it at init, and in FAULT too); none once
/// the instance has stopped.
pub fn role_for(state: State) -> Option<DaemonState> {
    match state {
        State::Master => Some(DaemonState::Master),
        State::Initialize | State::Backup | State::Fault => Some(DaemonState::Backup),
        State::Stop => None,
    }
}

/// One request to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOp {
    Stop(DaemonState),
    Start(SyncDaemon),
}

/// Whether `running` (as the kernel reports it, with its defaults filled in) is the daemon
/// `wanted` asks for: what `wanted` leaves to the kernel may be anything.
pub fn satisfies(running: &SyncDaemon, wanted: &SyncDaemon) -> bool {
    fn same<T: PartialEq>(have: &Option<T>, want: &Option<T>) -> bool {
        want.is_none() || have == want
    }
    running.state == wanted.state
        && running.mcast_ifn == wanted.mcast_ifn
        && running.syncid == wanted.syncid
        && same(&running.sync_maxlen, &wanted.sync_maxlen)
        && same(&running.mcast_group, &wanted.mcast_group)
        && same(&running.mcast_port, &wanted.mcast_port)
        && same(&running.mcast_ttl, &wanted.mcast_ttl)
}

/// The requests that take the kernel from the daemons `running` to `wanted` (None: no
/// daemon). Every daemon that is not the wanted one is stopped first (the kernel runs at
/// most one master and one backup; a daemon with other settings is restarted), then the
/// wanted one is started unless it already runs.
pub fn plan(running: &[SyncDaemon], wanted: Option<&SyncDaemon>) -> Vec<SyncOp> {
    let mut ops = Vec::new();
    let mut have = false;
    for r in running {
        match wanted {
            Some(w) if !have && satisfies(r, w) => have = true,
            _ => {
                let op = SyncOp::Stop(r.state);
                if !ops.contains(&op) {
                    ops.push(op);
                }
            }
        }
    }
    if let Some(w) = wanted.filter(|_| !have) {
        ops.push(SyncOp::Start(w.clone()));
    }
    ops
}

/// When the kernel's list of daemons cannot be read: keepalived's blind sequence, both
/// daemons stopped (errors for one that was not running are expected) and the wanted one
/// started.
pub fn plan_blind(wanted: Option<&SyncDaemon>) -> Vec<SyncOp> {
    let mut ops = vec![SyncOp::Stop(DaemonState::Master), SyncOp::Stop(DaemonState::Backup)];
    if let Some(w) = wanted {
        ops.push(SyncOp::Start(w.clone()));
    }
    ops
}

/// A wish sent to the helper thread: the daemon to run (None: none), and who to tell once
/// it has been applied.
struct Want {
    daemon: Option<SyncDaemon>,
    done: Option<smol::channel::Sender<()>>,
}

/// The process's sync-daemon helper thread, started on first use.
#[derive(Clone)]
pub struct Syncd {
    tx: Sender<Want>,
}

static HELPER: OnceLock<Option<Syncd>> = OnceLock::new();

impl Syncd {
    /// The process's helper (started now if it is not running yet); None if the thread
    /// cannot be started (logged).
    pub fn shared() -> Option<Syncd> {
        HELPER
            .get_or_init(|| {
                let (tx, rx) = channel();
                match std::thread::Builder::new().name("vigil-syncd".into()).spawn(move || helper(rx)) {
                    Ok(_) => Some(Syncd { tx }),
                    Err(e) => {
                        log::error!("lvs_sync_daemon: cannot start the helper thread: {e}; the sync daemon is not managed");
                        None
                    }
                }
            })
            .clone()
    }

    /// Asks for `daemon` (None: no daemon) without waiting.
    pub fn want(&self, daemon: Option<SyncDaemon>) {
        let _ = self.tx.send(Want { daemon, done: None });
    }

    /// Asks for `daemon` now; the answer tells when it has been applied.
    pub fn want_tracked(&self, daemon: Option<SyncDaemon>) -> Applied {
        let (done, wait) = smol::channel::bounded(1);
        let sent = self.tx.send(Want { daemon, done: Some(done) }).is_ok();
        Applied { wait: sent.then_some(wait) }
    }
}

/// A wish on its way: [`Applied::wait`] until the helper has applied it.
pub struct Applied {
    wait: Option<smol::channel::Receiver<()>>,
}

impl Applied {
    /// True once applied; false if `bound` passed first (the helper finishes the request
    /// anyway) or the helper is gone.
    pub async fn wait(self, bound: Duration) -> bool {
        let Some(wait) = self.wait else { return false };
        smol::future::or(async { wait.recv().await.is_ok() }, async {
            async_io::Timer::after(bound).await;
            false
        })
        .await
    }
}

/// The helper thread: applies the latest wish, one at a time, until the channel closes.
fn helper(rx: Receiver<Want>) {
    let mut ipvs: Option<Ipvs> = None;
    let mut said_unavailable = false;
    while let Ok(first) = rx.recv() {
        // Only the latest wish matters; everyone who asked is told once it is applied.
        let mut wish = first;
        let mut waiting: Vec<smol::channel::Sender<()>> = Vec::new();
        while let Ok(next) = rx.try_recv() {
            waiting.extend(wish.done.take());
            wish = next;
        }
        waiting.extend(wish.done.take());
        apply(&mut ipvs, &mut said_unavailable, wish.daemon.as_ref());
        for w in waiting {
            let _ = w.try_send(());
        }
    }
}

fn describe(d: &SyncDaemon) -> String {
    format!("{} daemon on {} syncid {}", role_name(d.state), d.mcast_ifn, d.syncid)
}

fn role_name(s: DaemonState) -> &'static str {
    match s {
        DaemonState::Master => "master",
        DaemonState::Backup => "backup",
        DaemonState::Unknown(_) => "unknown",
    }
}

/// Takes the kernel to `wanted`; every failure is logged. A request slower than a second
/// is logged with its time (the kernel stops its threads synchronously).
fn apply(ipvs: &mut Option<Ipvs>, said_unavailable: &mut bool, wanted: Option<&SyncDaemon>) {
    if ipvs.is_none() {
        match Ipvs::open() {
            Ok(h) => *ipvs = Some(h),
            Err(IpvsError::NotAvailable) => {
                if !*said_unavailable {
                    log::warn!("lvs_sync_daemon: IPVS is not available in this kernel; the sync daemon is not run");
                    *said_unavailable = true;
                }
                return;
            }
            Err(e) => {
                log::error!("lvs_sync_daemon: {e}");
                return;
            }
        }
    }
    let Some(h) = ipvs.as_mut() else { return };
    let ops = match h.daemons() {
        Ok(running) => plan(&running, wanted),
        Err(e) => {
            log::warn!("lvs_sync_daemon: reading the running daemons: {e}; stopping both and starting afresh");
            plan_blind(wanted)
        }
    };
    for op in ops {
        let t0 = Instant::now();
        let (what, r) = match &op {
            SyncOp::Stop(s) => (format!("stopping the {} daemon", role_name(*s)), h.stop_daemon(*s)),
            SyncOp::Start(d) => (format!("starting the {}", describe(d)), h.start_daemon(d)),
        };
        let took = t0.elapsed();
        match r {
            Ok(()) => log::info!("lvs_sync_daemon: {what} ({} ms)", took.as_millis()),
            Err(e) if matches!(op, SyncOp::Stop(_)) && e.is_absent() => {
                log::debug!("lvs_sync_daemon: {what}: was not running")
            }
            Err(IpvsError::Timeout) => {
                // The socket may still carry the late answer: a fresh one next time.
                log::error!("lvs_sync_daemon: {what}: no answer from the kernel within {} s", took.as_secs());
                *ipvs = None;
                return;
            }
            Err(e) => log::error!("lvs_sync_daemon: {what}: {e}"),
        }
    }
}

/// The engine's side: told every state of the followed instance, it asks the helper for a
/// change only when the daemon to run changes.
pub struct SyncdLink {
    spec: SyncdSpec,
    helper: Syncd,
    last: Cell<Option<Option<DaemonState>>>,
}

impl SyncdLink {
    pub fn new(spec: SyncdSpec) -> Option<SyncdLink> {
        Some(SyncdLink { helper: Syncd::shared()?, spec, last: Cell::new(None) })
    }

    pub fn spec(&self) -> &SyncdSpec {
        &self.spec
    }

    /// The followed instance is now in `state`.
    pub fn state_changed(&self, state: State) {
        let role = role_for(state);
        if self.last.replace(Some(role)) == Some(role) {
            return;
        }
        self.helper.want(role.map(|r| self.spec.daemon(r)));
    }

    /// Asks for the daemon to stop (a shutdown, or a reload to a config without
    /// lvs_sync_daemon); await [`Applied::wait`] for it.
    pub fn stop(&self) -> Applied {
        self.last.set(Some(None));
        self.helper.want_tracked(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{GlobalDefs, LvsSyncDaemon, VrrpInstance};
    use std::net::{IpAddr, Ipv4Addr};

    fn daemon(state: DaemonState, ifn: &str, syncid: u32) -> SyncDaemon {
        SyncDaemon::new(state, ifn, syncid).unwrap()
    }

    fn config(global: Option<LvsSyncDaemon>, old_keyword: Option<&str>) -> Config {
        let mut c = Config::default();
        c.global = GlobalDefs { lvs_sync_daemon: global, ..Default::default() };
        for (name, vrid) in [("VI_0", 7u8), ("VI_1", 51)] {
            c.vrrp_instances.push(VrrpInstance {
                name: name.into(),
                virtual_router_id: vrid,
                lvs_sync_daemon_interface: if name == "VI_1" { old_keyword.map(String::from) } else { None },
                ..Default::default()
            });
        }
        c
    }

    #[test]
    fn master_daemon_only_while_master() {
        assert_eq!(role_for(State::Master), Some(DaemonState::Master));
        for s in [State::Initialize, State::Backup, State::Fault] {
            assert_eq!(role_for(s), Some(DaemonState::Backup), "{s:?}");
        }
        assert_eq!(role_for(State::Stop), None);
    }

    #[test]
    fn syncid_defaults_to_the_instances_vrid() {
        let g = LvsSyncDaemon { interface: "eth1".into(), vrrp_instance: "VI_1".into(), ..Default::default() };
        let s = SyncdSpec::from_config(&config(Some(g.clone()), None)).unwrap();
        assert_eq!((s.instance, s.instance_name.as_str()), (1, "VI_1"));
        assert_eq!(s.daemon, daemon(DaemonState::Backup, "eth1", 51));
        let s = SyncdSpec::from_config(&config(Some(LvsSyncDaemon { id: Some(5), ..g }), None)).unwrap();
        assert_eq!(s.daemon.syncid, 5);
        assert_eq!(s.daemon(DaemonState::Master).state, DaemonState::Master);
    }

    #[test]
    fn options_pass_through_and_zero_means_kernel_default() {
        let g = LvsSyncDaemon {
            interface: "eth0".into(),
            vrrp_instance: "VI_0".into(),
            id: Some(9),
            maxlen: Some(1400),
            port: Some(0),
            ttl: Some(3),
            group: Some(IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3))),
        };
        let d = SyncdSpec::from_config(&config(Some(g), None)).unwrap().daemon;
        assert_eq!((d.syncid, d.sync_maxlen, d.mcast_port, d.mcast_ttl), (9, Some(1400), None, Some(3)));
        assert_eq!(d.mcast_group, Some(IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3))));
    }

    #[test]
    fn old_per_instance_keyword_and_missing_instance() {
        let s = SyncdSpec::from_config(&config(None, Some("eth2"))).unwrap();
        assert_eq!((s.instance, s.daemon.clone()), (1, daemon(DaemonState::Backup, "eth2", 51)));
        // The global keyword wins over the old one.
        let g = LvsSyncDaemon { interface: "eth0".into(), vrrp_instance: "VI_0".into(), ..Default::default() };
        assert_eq!(SyncdSpec::from_config(&config(Some(g), Some("eth2"))).unwrap().instance, 0);
        let g = LvsSyncDaemon { interface: "eth0".into(), vrrp_instance: "nope".into(), ..Default::default() };
        assert_eq!(SyncdSpec::from_config(&config(Some(g), None)), None);
        assert_eq!(SyncdSpec::from_config(&config(None, None)), None);
        let g = LvsSyncDaemon { interface: "a-very-long-interface".into(), vrrp_instance: "VI_0".into(), ..Default::default() };
        assert_eq!(SyncdSpec::from_config(&config(Some(g), None)), None);
    }

    #[test]
    fn start_from_nothing_and_adopt_what_runs() {
        let b = daemon(DaemonState::Backup, "eth0", 5);
        assert_eq!(plan(&[], Some(&b)), vec![SyncOp::Start(b.clone())]);
        // The kernel reports its defaults; a wish that leaves them open is met.
        let mut reported = b.clone();
        reported.sync_maxlen = Some(1472);
        reported.mcast_port = Some(8848);
        reported.mcast_ttl = Some(1);
        reported.mcast_group = Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81)));
        assert_eq!(plan(&[reported.clone()], Some(&b)), vec![]);
        // ... but not one that asks for another port.
        let mut other_port = b.clone();
        other_port.mcast_port = Some(9000);
        assert_eq!(plan(&[reported], Some(&other_port)), vec![SyncOp::Stop(DaemonState::Backup), SyncOp::Start(other_port)]);
    }

    #[test]
    fn becoming_master_stops_backup_then_starts_master() {
        let b = daemon(DaemonState::Backup, "eth0", 5);
        let m = daemon(DaemonState::Master, "eth0", 5);
        assert_eq!(plan(&[b.clone()], Some(&m)), vec![SyncOp::Stop(DaemonState::Backup), SyncOp::Start(m.clone())]);
        assert_eq!(plan(&[m.clone()], Some(&b)), vec![SyncOp::Stop(DaemonState::Master), SyncOp::Start(b.clone())]);
        // Both left behind by someone: the unwanted one goes, the wanted one stays.
        assert_eq!(plan(&[m.clone(), b.clone()], Some(&m)), vec![SyncOp::Stop(DaemonState::Backup)]);
    }

    #[test]
    fn other_interface_or_syncid_is_restarted_and_shutdown_stops_all() {
        let b = daemon(DaemonState::Backup, "eth0", 5);
        let old = daemon(DaemonState::Backup, "eth1", 5);
        assert_eq!(plan(&[old], Some(&b)), vec![SyncOp::Stop(DaemonState::Backup), SyncOp::Start(b.clone())]);
        let old = daemon(DaemonState::Backup, "eth0", 6);
        assert_eq!(plan(&[old], Some(&b)), vec![SyncOp::Stop(DaemonState::Backup), SyncOp::Start(b.clone())]);
        let m = daemon(DaemonState::Master, "eth0", 5);
        assert_eq!(plan(&[m, b], None), vec![SyncOp::Stop(DaemonState::Master), SyncOp::Stop(DaemonState::Backup)]);
        assert_eq!(plan(&[], None), vec![]);
    }

    #[test]
    fn blind_plan_is_keepalived_sequence() {
        let m = daemon(DaemonState::Master, "eth0", 5);
        assert_eq!(
            plan_blind(Some(&m)),
            vec![SyncOp::Stop(DaemonState::Master), SyncOp::Stop(DaemonState::Backup), SyncOp::Start(m)]
        );
        assert_eq!(plan_blind(None).len(), 2);
    }

    /// The engine's link asks the helper only when the role changes: BACKUP -> FAULT keeps
    /// the backup daemon without a request.
    #[test]
    fn link_dedupes_roles() {
        let (tx, rx) = channel();
        let spec = SyncdSpec { instance: 0, instance_name: "VI_1".into(), daemon: daemon(DaemonState::Backup, "eth0", 5) };
        let link = SyncdLink { spec, helper: Syncd { tx }, last: Cell::new(None) };
        for s in [State::Backup, State::Fault, State::Backup, State::Master, State::Master, State::Fault] {
            link.state_changed(s);
        }
        let got: Vec<_> = rx.try_iter().map(|w| w.daemon.map(|d| d.state)).collect();
        assert_eq!(got, vec![Some(DaemonState::Backup), Some(DaemonState::Master), Some(DaemonState::Backup)]);
    }
}
