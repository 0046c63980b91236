//! A child process (`--role vrrp`, `--role check` or `--role bfd`): the runtime every
//! role shares, and one file per role for what it does with it.
//!
//! The runtime owns the child's single-threaded scheduler, its channel to
//! the parent on fd 3, its signalfd and its pid file. It answers the
//! watchdog hello from its message loop, so a wedged loop stops the
//! answers. A role (`Duties`) is handed each new configuration, the
//! start-up work it asks for a batch at a time, the dump signals and the
//! stop.
//!
//! A new configuration goes in three steps, so that a large one (40,000
//! real servers) never keeps a hello waiting: `prepare` (what carries over,
//! what to plan: reads the two configs only) runs between messages and
//! yields a batch at a time; `apply` puts it in force in one short step;
//! the work that leaves (`busy`/`work`) runs a batch per turn, and
//! `ConfigApplied` goes to the parent once it is done. A newer
//! configuration arriving during `prepare` supersedes the one prepared
//! (nothing of it was in force); one arriving during the work is prepared
//! meanwhile, and the earlier generation is reported before it. The parent
//! sees the generations put in force, in order, the newest last.
//!
//! - `vrrp`: the VRRP engine, rebuilt when its part of the config changes.
//! - `check`: the health checkers and the IPVS side they drive.
//! - `bfd`: the BFD sessions.
//! - `gate`: what keeps the message loop off its sockets when a check, not
//!   the parent, woke the scheduler.

mod bfd;
mod check;
mod gate;
mod vrrp;

use crate::cli::{Options, Role};
use crate::config::Config;
use crate::ipc::{self, ConfigSummary, Msg};
use crate::supervisor::spawn::CHILD_IPC_FD;
use gate::{Gate, Gated};
use smol::LocalExecutor;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;

/// The configuration this child runs with, and its generation. Shared
/// (`Rc`): a role that keeps the config (the checker child's IPVS side)
/// holds this one rather than a copy, which at 10,000 real servers is
/// megabytes.
#[derive(Default)]
pub struct Applied {
    pub generation: u32,
    pub config: Rc<Config>,
}

impl Applied {
    /// True before the first configuration.
    pub fn first(&self) -> bool {
        self.generation == 0
    }
}

/// What a role's duties reach of the runtime.
pub struct Runtime {
    pub ex: Rc<LocalExecutor<'static>>,
    pub tx: ipc::Sender,
    /// `--dont-release-ipvs`: leave the IPVS services at a clean stop.
    pub dont_release_ipvs: bool,
    /// `--json-version`: the layout of /tmp/keepalived.json.
    pub json_version: u8,
}

/// How a child stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Asked to (the parent's Stop, SIGTERM, SIGINT): release what we hold.
    Clean,
    /// The parent went away: stop sending, leave the kernel state in place.
    Orphaned,
}

/// What a role does with the runtime's events. Each method runs on the
/// message loop: none may block.
#[allow(async_fn_in_trait)]
pub trait Duties: Sized {
    const ROLE: Role;
    /// What `prepare` works out for `apply`.
    type Prepared: Default + 'static;
    fn new(rt: &Runtime) -> Self;
    /// The part of a reload that reads only the two configurations (what
    /// carries over, what to plan), run by the message loop between its
    /// messages, a batch per turn (the future yields between batches), so
    /// that a large reload does not keep the watchdog's hello waiting.
    /// Touches nothing in force: a newer configuration arriving meanwhile
    /// drops it unfinished.
    fn prepare(&self, _old: &Applied, _new: &Rc<Config>) -> Preparing<Self::Prepared> {
        Box::pin(async { Self::Prepared::default() })
    }
    /// Puts `new` in force with what `prepare` worked out; `old` is the
    /// configuration in force until now (empty, generation 0, at start).
    /// Work it leaves (checker tasks to spawn, IPVS ops) goes through
    /// `busy`/`work`.
    async fn apply(&mut self, rt: &Runtime, old: &Applied, new: &Rc<Config>, prepared: Self::Prepared);
    /// The instances a restarted VRRP child's predecessor held as master.
    fn resume(&mut self, _masters: Vec<String>) {}
    /// True while start-up work is left: the loop then calls `work` a batch
    /// per turn.
    fn busy(&self) -> bool {
        false
    }
    fn work(&mut self, _rt: &Runtime) {}
    /// A dump signal (DATA, STATS, STATS_CLEAR, JSON): the role writes
    /// keepalived's file for it, if it has one.
    fn dump(&mut self, rt: &Runtime, what: crate::os::signals::Dump);
    /// This role's part of a status report, as of now.
    fn report(&self) -> crate::ipc::Report;
    /// The BFD child's news of a session (the VRRP child's track_bfd).
    fn bfd_state(&mut self, _name: &str, _up: bool) {}
    /// A restarted BFD child: its predecessor's Up sessions, to take over.
    fn bfd_carried(&mut self, _sessions: Vec<crate::bfd::engine::Carried>) {}
    /// An operator's action (`vigil ctl`); its outcome in words.
    fn ctl(&mut self, action: &crate::ipc::CtlAction) -> Result<String, String> {
        Err(format!("the {} child does not {action}", Self::ROLE.name()))
    }
    async fn stop(&mut self, rt: &Runtime, how: Stop);
}

/// A reload's preparation in progress (`Duties::prepare`).
pub type Preparing<P> = std::pin::Pin<Box<dyn std::future::Future<Output = P>>>;

/// Real servers (or instances) a reload's preparation handles between two
/// yields to the message loop.
/// 8,192: a few milliseconds on the host, about a tenth of a second under
/// TCG; each yield lets the executor run every check that came due (at
/// 40,000 checks a second, about 15 ms of them on the host), so smaller
/// batches made the reload no cheaper, only longer.
pub const PREPARE_BATCH: usize = 8192;

/// Counts a preparation's work and yields to the message loop once a
/// batch of it is done.
#[derive(Default)]
pub struct Budget {
    used: usize,
}

impl Budget {
    pub async fn spend(&mut self, n: usize) {
        self.used += n;
        if self.used >= PREPARE_BATCH {
            self.used = 0;
            smol::future::yield_now().await;
        }
    }
}

/// The configuration being prepared, and its generation.
struct Pending<P> {
    generation: u32,
    config: Rc<Config>,
    prepared: Preparing<P>,
}

/// What the loop knows of the reloads in progress.
struct Reloads<P> {
    /// The newest configuration received, being prepared.
    pending: Option<Pending<P>>,
    /// A generation put in force whose work (`busy`) is not done yet:
    /// reported to the parent (`ConfigApplied`) when it is, or when a
    /// newer one is put in force (generations are reported in order).
    unreported: Option<(u32, ConfigSummary)>,
}

impl<P> Reloads<P> {
    fn new() -> Self {
        Reloads { pending: None, unreported: None }
    }

    /// A configuration to prepare. One still being prepared is dropped
    /// (nothing of it was in force): its generation is returned. The newest
    /// is always the one prepared, so none is lost that matters.
    fn receive(&mut self, generation: u32, config: Rc<Config>, prepared: Preparing<P>) -> Option<u32> {
        let superseded = self.pending.take().map(|p| p.generation);
        self.pending = Some(Pending { generation, config, prepared });
        superseded
    }

    /// The prepared configuration to put in force now, and the earlier
    /// generation to report first (its work is this one's now).
    fn take_prepared(&mut self) -> Option<(Pending<P>, Option<(u32, ConfigSummary)>)> {
        let p = self.pending.take()?;
        Some((p, self.unreported.take()))
    }

    /// `generation` is in force: to report now, unless its work goes on.
    fn in_force(&mut self, generation: u32, summary: ConfigSummary, busy: bool) -> Option<(u32, ConfigSummary)> {
        self.unreported = Some((generation, summary));
        self.work_done(busy)
    }

    /// After a turn of work: the generation to report, once none is left.
    fn work_done(&mut self, busy: bool) -> Option<(u32, ConfigSummary)> {
        if busy { None } else { self.unreported.take() }
    }
}

pub fn summarize(c: &Config) -> ConfigSummary {
    ConfigSummary {
        vrrp_instances: c.vrrp_instances.len() as u32,
        virtual_servers: c.virtual_servers.len() as u32,
        router_id: c.global.router_id.clone().unwrap_or_default(),
    }
}

/// Runs the child named by `opts.role` until it stops; its exit code.
pub fn run(opts: &Options) -> i32 {
    let role = opts.role;
    let pid_file = opts.child_pid_file(role).to_path_buf();
    if nix::fcntl::fcntl(CHILD_IPC_FD, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        log::error!("{} child: no channel on fd {CHILD_IPC_FD}; not started by vigil?", role.name());
        return 2;
    }
    // SAFETY: fd 3 is open (checked above) and nothing else in this process
    // owns it: the parent put our channel end there and closed the rest.
    let fd = unsafe { OwnedFd::from_raw_fd(CHILD_IPC_FD) };
    let _ = nix::fcntl::fcntl(CHILD_IPC_FD, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    // The script helper first: forked while this process is one thread and
    // still holds every privilege, which its scripts keep. The BFD child
    // runs no scripts.
    if role != Role::Bfd {
        match crate::script::helper::start() {
            Ok(pid) => log::info!("{} child: script helper {pid} started", role.name()),
            Err(e) => log::error!("{} child: script helper: {e}; scripts will run from this child", role.name()),
        }
    }
    if let Err(e) = crate::os::pidfile::write(&pid_file) {
        log::warn!("pid file {}: {e}", pid_file.display());
    }
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    let code = match role {
        Role::Vrrp => async_io::block_on(ex.run(serve::<vrrp::Vrrp>(fd, ex.clone(), opts))),
        Role::Bfd => async_io::block_on(ex.run(serve::<bfd::Bfd>(fd, ex.clone(), opts))),
        _ => async_io::block_on(ex.run(serve::<check::Check>(fd, ex.clone(), opts))),
    };
    crate::supervisor::remove_pid_file(&pid_file);
    log::info!("{} child stopped", role.name());
    code
}

enum Ev<P> {
    Msg(Result<Msg, ipc::IpcError>),
    Sig(std::io::Result<i32>),
    /// A turn for the role's start-up work (checker tasks to spawn, the LVS
    /// reconcile's netlink ops).
    Work,
    /// A reload's preparation is done.
    Prepared(P),
}

/// What the loop does after an event.
enum Next {
    Go,
    Exit(i32),
}

/// The message loop: parent messages, signals and the role's start-up work.
async fn serve<D: Duties>(fd: OwnedFd, ex: Rc<LocalExecutor<'static>>, opts: &Options) -> i32 {
    let name = D::ROLE.name();
    let (tx, mut rx) = match ipc::channel(fd) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{name} child: channel: {e}");
            return 2;
        }
    };
    let signals = match crate::os::signals::signalfd(crate::os::signals::CHILD_SIGNALS).and_then(async_io::Async::new) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{name} child: signalfd: {e}");
            return 2;
        }
    };
    let rt = Runtime { ex, tx, dont_release_ipvs: opts.dont_release_ipvs, json_version: opts.json_version };
    let mut duties = D::new(&rt);
    // Set-up done (channel, signalfd, the role's start): from here on the
    // child runs with its role's capabilities and system calls only.
    drop_privileges(D::ROLE, opts);
    let mut applied = Applied::default();
    let _ = rt.tx.try_send(&Msg::Ready { pid: std::process::id() });
    log::info!("{name} child running");
    // This loop is the block_on future, polled on every wake-up of any task
    // (each check), which keeps the watchdog's hello prompt; the gate lets
    // it look at its sockets only when one of them woke it.
    let (gate, gate_waker) = Gate::new();
    let mut reloads: Reloads<D::Prepared> = Reloads::new();
    // Messages that act on the config in force (an operator's action, a
    // BFD session's state: the parent replays both to a restarted child
    // right after its config), held while a config is being prepared and
    // handled once it is in force, in the order they came.
    let mut held: Vec<Msg> = Vec::new();
    loop {
        // The start-up work is done here, a batch per turn, after any
        // message (the watchdog's hello) and between the executor's turns
        // (the checkers); in a task of its own it would run up to 200
        // batches per executor turn before this loop ran again.
        let busy = duties.busy();
        let ev = {
            let preparing = &mut reloads.pending;
            let ev = std::pin::pin!(smol::future::or(
                async { Ev::Msg(rx.recv().await) },
                smol::future::or(
                    async { Ev::Sig(signals.read_with(|fd| crate::os::signals::read(fd)).await) },
                    smol::future::or(
                        async {
                            if !busy {
                                std::future::pending::<()>().await;
                            }
                            smol::future::yield_now().await;
                            Ev::Work
                        },
                        async {
                            match preparing {
                                Some(p) => Ev::Prepared(p.prepared.as_mut().await),
                                None => std::future::pending().await,
                            }
                        },
                    ),
                ),
            ));
            Gated::new(&gate, &gate_waker, ev).await
        };
        let next = match ev {
            Ev::Work => {
                duties.work(&rt);
                if let Some((generation, summary)) = reloads.work_done(duties.busy()) {
                    report_applied(&rt, generation, summary).await;
                }
                Next::Go
            }
            Ev::Prepared(prepared) => {
                if let Some((p, earlier)) = reloads.take_prepared() {
                    // An earlier generation's work still going on is this
                    // one's now: that generation was in force, and is
                    // reported before this one.
                    if let Some((generation, summary)) = earlier {
                        report_applied(&rt, generation, summary).await;
                    }
                    let (generation, summary) = put_in_force(&rt, &mut duties, &mut applied, p, prepared).await;
                    if let Some((generation, summary)) = reloads.in_force(generation, summary, duties.busy()) {
                        report_applied(&rt, generation, summary).await;
                    }
                }
                let mut next = Next::Go;
                if reloads.pending.is_none() {
                    for m in std::mem::take(&mut held) {
                        if let Next::Exit(code) = on_message(&rt, &mut duties, Ok(m)).await {
                            next = Next::Exit(code);
                            break;
                        }
                    }
                }
                next
            }
            Ev::Msg(Ok(Msg::Config { generation, config })) => {
                let config: Rc<Config> = Rc::from(config);
                log::debug!("{name} child: config generation {generation} received; preparing it");
                let prepared = duties.prepare(&applied, &config);
                if let Some(old) = reloads.receive(generation, config, prepared) {
                    log::info!("{name} child: config generation {old} superseded by {generation} before it was in force");
                }
                Next::Go
            }
            Ev::Msg(Ok(m @ (Msg::Ctl { .. } | Msg::BfdState { .. }))) if reloads.pending.is_some() => {
                held.push(m);
                Next::Go
            }
            Ev::Msg(m) => on_message(&rt, &mut duties, m).await,
            Ev::Sig(Ok(sig)) if sig == libc::SIGTERM || sig == libc::SIGINT => {
                duties.stop(&rt, Stop::Clean).await;
                Next::Exit(0)
            }
            Ev::Sig(Ok(sig)) if crate::os::signals::Dump::from_signal(sig).is_some() => {
                if let Some(what) = crate::os::signals::Dump::from_signal(sig) {
                    duties.dump(&rt, what);
                }
                Next::Go
            }
            Ev::Sig(Ok(sig)) => {
                log::debug!("{name} child: signal {sig}");
                Next::Go
            }
            Ev::Sig(Err(e)) => {
                log::warn!("{name} child: signalfd: {e}");
                Next::Go
            }
        };
        if let Next::Exit(code) = next {
            return code;
        }
    }
}

/// Puts a prepared configuration in force; its generation and summary.
async fn put_in_force<D: Duties>(
    rt: &Runtime,
    duties: &mut D,
    applied: &mut Applied,
    p: Pending<D::Prepared>,
    prepared: D::Prepared,
) -> (u32, ConfigSummary) {
    let name = D::ROLE.name();
    let Pending { generation, config, .. } = p;
    log::debug!("{name} child: config generation {generation} prepared; putting it in force");
    let summary = summarize(&config);
    crate::os::priority::apply(D::ROLE, &config.global);
    duties.apply(rt, applied, &config, prepared).await;
    applied.generation = generation;
    applied.config = config;
    log::info!(
        "{name} child: config generation {generation} in force ({} vrrp instances, {} virtual servers)",
        summary.vrrp_instances,
        summary.virtual_servers
    );
    (generation, summary)
}

async fn report_applied(rt: &Runtime, generation: u32, summary: ConfigSummary) {
    if let Err(e) = rt.tx.send(&Msg::ConfigApplied { generation, summary }).await {
        log::warn!("reporting config: {e}");
    }
}

/// Cuts this child to its role's capabilities, then installs its seccomp
/// filter (after: capset is not on the list). A failure is logged and the
/// child runs on as before: refusing to run would cost the VIPs.
fn drop_privileges(role: crate::cli::Role, opts: &Options) {
    let name = role.name();
    let keep = crate::os::caps::for_role(role);
    if std::env::var("VIGIL_CAPS").as_deref() == Ok("keep") {
        log::warn!("{name} child: VIGIL_CAPS=keep: capabilities not dropped");
    } else {
        match crate::os::caps::restrict(crate::os::caps::mask(keep)) {
            Ok(()) => log::info!("{name} child: capabilities cut to {}", crate::os::caps::names(keep)),
            Err(e) => log::error!("{name} child: dropping capabilities: {e}"),
        }
    }
    let mode = crate::os::seccomp::Mode::from_env(opts.no_seccomp);
    match crate::os::seccomp::install(role, mode) {
        Ok(_) if mode == crate::os::seccomp::Mode::Off => log::warn!("{name} child: no seccomp filter (--no-seccomp or VIGIL_SECCOMP=off)"),
        Ok(n) => log::info!(
            "{name} child: seccomp filter installed: {n} system calls allowed, others {}",
            if mode == crate::os::seccomp::Mode::Log { "logged (VIGIL_SECCOMP=log)" } else { "kill the process" }
        ),
        Err(e) => log::error!("{name} child: seccomp filter: {e}"),
    }
}

async fn on_message<D: Duties>(rt: &Runtime, duties: &mut D, m: Result<Msg, ipc::IpcError>) -> Next {
    let name = D::ROLE.name();
    match m {
        Ok(Msg::Hello { seq }) => {
            let ack = Msg::HelloAck { seq, mem: crate::os::mem::stats(), checks: crate::check::checks_run() };
            // Without waiting (and allocating) as a rule; behind a large message
            // that fills the parent's queue, waiting for room.
            match rt.tx.try_send(&ack) {
                Err(ipc::IpcError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Err(e) = rt.tx.send(&ack).await {
                        log::warn!("answering hello: {e}");
                    }
                }
                Err(e) => log::warn!("answering hello: {e}"),
                Ok(()) => {}
            }
        }
        Ok(Msg::Query { id }) => {
            // A report is built and sent on request only; what that
            // allocates is counted apart from the steady state's.
            let before = crate::os::mem::thread_allocs();
            let mut report = duties.report();
            report.capacity_hits = crate::os::capacity::snapshot();
            if let Err(e) = rt.tx.send(&Msg::Report { id, report }).await {
                log::warn!("answering a status query: {e}");
            }
            crate::os::mem::count_on_request(crate::os::mem::thread_allocs() - before);
        }
        Ok(Msg::Ctl { id, action }) => {
            let result = duties.ctl(&action);
            match &result {
                Ok(m) => log::info!("{name} child: ctl {action}: {m}"),
                Err(e) => log::warn!("{name} child: ctl {action}: {e}"),
            }
            if let Err(e) = rt.tx.send(&Msg::CtlDone { id, result }).await {
                log::warn!("answering ctl: {e}");
            }
        }
        Ok(Msg::Resume { masters }) => {
            log::info!("{name} child: resuming as master: {}", masters.join(", "));
            duties.resume(masters);
        }
        Ok(Msg::BfdState { name, up }) => duties.bfd_state(&name, up),
        Ok(Msg::BfdCarried { sessions }) => duties.bfd_carried(sessions),
        Ok(Msg::DumpLog) => {
            let _ = rt.tx.send(&Msg::LogLines { lines: crate::log::recent_lines() }).await;
        }
        Ok(Msg::Wedge) => {
            log::warn!("{name} child: wedging the scheduler loop on request (fault injection)");
            #[allow(clippy::empty_loop)]
            loop {
                std::hint::spin_loop();
            }
        }
        Ok(Msg::ForbiddenSyscall) => {
            log::warn!("{name} child: calling acct(2), which the seccomp filter forbids, on request (fault injection)");
            crate::os::seccomp::call_forbidden();
            log::warn!("{name} child: acct(2) returned: no seccomp filter is killing");
        }
        Ok(Msg::Stop) => {
            duties.stop(rt, Stop::Clean).await;
            return Next::Exit(0);
        }
        Ok(other) => log::warn!("{name} child: unexpected message {other:?}"),
        Err(ipc::IpcError::Closed) | Err(ipc::IpcError::Io(_)) => {
            log::warn!("{name} child: parent channel closed; stopping");
            duties.stop(rt, Stop::Orphaned).await;
            return Next::Exit(1);
        }
        Err(e) => log::warn!("{name} child: {e}"),
    }
    Next::Go
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Preparing<()> {
        Box::pin(async {})
    }

    fn gens(v: &[Option<(u32, ConfigSummary)>]) -> Vec<u32> {
        v.iter().flatten().map(|(g, _)| *g).collect()
    }

    #[test]
    fn a_newer_config_supersedes_one_still_being_prepared() {
        let mut r: Reloads<()> = Reloads::new();
        assert_eq!(r.receive(2, Rc::default(), ready()), None);
        assert_eq!(r.receive(3, Rc::default(), ready()), Some(2));
        let (p, earlier) = r.take_prepared().unwrap();
        assert_eq!(p.generation, 3);
        assert!(earlier.is_none());
        assert!(r.take_prepared().is_none());
        assert_eq!(gens(&[r.in_force(3, ConfigSummary::default(), false)]), vec![3]);
    }

    #[test]
    fn a_generation_is_reported_once_its_work_is_done() {
        let mut r: Reloads<()> = Reloads::new();
        r.receive(2, Rc::default(), ready());
        r.take_prepared().unwrap();
        assert!(r.in_force(2, ConfigSummary::default(), true).is_none());
        assert!(r.work_done(true).is_none());
        assert_eq!(gens(&[r.work_done(false)]), vec![2]);
        assert!(r.work_done(false).is_none(), "reported once");
    }

    #[test]
    fn generations_are_reported_in_order_when_work_overlaps() {
        let mut r: Reloads<()> = Reloads::new();
        let mut reports = Vec::new();
        r.receive(2, Rc::default(), ready());
        let (_, earlier) = r.take_prepared().unwrap();
        reports.push(earlier);
        reports.push(r.in_force(2, ConfigSummary::default(), true));
        // Generation 3 arrives and is ready while 2's work goes on: 2 is
        // reported first, then 3 once the work is done.
        r.receive(3, Rc::default(), ready());
        let (p, earlier) = r.take_prepared().unwrap();
        assert_eq!(p.generation, 3);
        reports.push(earlier);
        reports.push(r.in_force(3, ConfigSummary::default(), true));
        reports.push(r.work_done(false));
        assert_eq!(gens(&reports), vec![2, 3]);
    }

    #[test]
    fn a_preparation_yields_once_per_batch() {
        let mut b = Budget::default();
        let polls = std::cell::Cell::new(0);
        let fut = async {
            for _ in 0..(PREPARE_BATCH * 3 / 100) {
                b.spend(100).await;
            }
        };
        let mut fut = std::pin::pin!(fut);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        while fut.as_mut().poll(&mut cx).is_pending() {
            polls.set(polls.get() + 1);
        }
        // 3 batches' worth: two or three yields, never one per call.
        assert!((2..=3).contains(&polls.get()), "{} yields", polls.get());
    }
}
