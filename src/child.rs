//! A child process (`--role vrrp` or `--role check`): its own
//! single-threaded scheduler, a channel to the parent on fd 3, its pid file.
//! It answers the watchdog hello from its scheduler loop, so a wedged loop
//! stops the answers. The VRRP engine and the checkers run on this scheduler.

use crate::cli::{Options, Role};
use crate::config::Config;
use crate::ipc::{self, ConfigSummary, Msg};
use crate::supervisor::spawn::CHILD_IPC_FD;
use crate::vrrp::engine::Engine;
use smol::LocalExecutor;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The configuration this child runs with, and its generation.
#[derive(Default)]
pub struct Applied {
    pub generation: u32,
    pub config: Config,
}

/// Checker tasks spawned per turn of the message loop.
const SPAWN_BATCH: usize = 256;

pub fn summarize(c: &Config) -> ConfigSummary {
    ConfigSummary {
        vrrp_instances: c.vrrp_instances.len() as u32,
        virtual_servers: c.virtual_servers.len() as u32,
        router_id: c.global.router_id.clone().unwrap_or_default(),
    }
}

pub fn run(opts: &Options) -> i32 {
    let role = opts.role;
    let pid_file = match role {
        Role::Vrrp => opts.vrrp_pid_file.clone(),
        _ => opts.checkers_pid_file.clone(),
    };
    // Safety: the parent put our channel end on fd 3 and closed the rest.
    if nix::fcntl::fcntl(CHILD_IPC_FD, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        log::error!("{} child: no channel on fd {CHILD_IPC_FD}; not started by vigil?", role.name());
        return 2;
    }
    let fd = unsafe { OwnedFd::from_raw_fd(CHILD_IPC_FD) };
    let _ = nix::fcntl::fcntl(CHILD_IPC_FD, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    if let Err(e) = crate::pidfile::write(&pid_file) {
        log::warn!("pid file {}: {e}", pid_file.display());
    }
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    let code = async_io::block_on(ex.run(main(role, fd, ex.clone(), opts.dont_release_ipvs)));
    crate::supervisor::remove_pid_file(&pid_file);
    log::info!("{} child stopped", role.name());
    code
}

async fn main(role: Role, fd: OwnedFd, ex: Rc<LocalExecutor<'static>>, dont_release_ipvs: bool) -> i32 {
    let (tx, mut rx) = match ipc::channel(fd) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{} child: channel: {e}", role.name());
            return 2;
        }
    };
    let signals = match crate::signals::signalfd(crate::signals::CHILD_SIGNALS).and_then(async_io::Async::new) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{} child: signalfd: {e}", role.name());
            return 2;
        }
    };
    let applied = Rc::new(RefCell::new(Applied::default()));
    let mut engine: Option<Engine> = None;
    let mut resume: Vec<String> = Vec::new();
    let mut checkers: Option<crate::check::Checkers> = None;
    // The checker child's IPVS side: opened on the first config with
    // virtual servers, kept across reloads, torn down at a clean stop.
    let lvs: Rc<RefCell<Option<crate::lvs::program::Lvs>>> = Rc::new(RefCell::new(None));
    // Its notify scripts, awaited (bounded) at a clean stop.
    let mut lvs_hooks: Option<Rc<crate::lvs::hooks::SpawnHooks>> = None;
    // ha_suspend's address follower: started with the first config that
    // uses it, kept across reloads.
    let mut ha_suspend: Option<(Rc<crate::lvs::suspend::HaSuspend>, smol::Task<()>)> = None;
    if role == Role::Check {
        // A socket per check in flight: keepalived-scale configs (10,000
        // real servers, many unanswering) outrun the usual 1024.
        match crate::check::net::raise_nofile_limit() {
            Ok(n) => log::info!("check child: open files limit {n}"),
            Err(e) => log::warn!("check child: raising the open files limit: {e}"),
        }
    }
    let _ = tx.try_send(&Msg::Ready { pid: std::process::id() });
    log::info!("{} child running", role.name());
    enum Ev {
        Msg(Result<Msg, ipc::IpcError>),
        Sig(std::io::Result<i32>),
        /// A batch of start-up work: checker tasks to spawn, the LVS
        /// reconcile's netlink ops.
        Work,
    }
    // This loop is the block_on future, polled on every wake-up of any task
    // (each check), which keeps the watchdog's hello prompt; the gate lets
    // it look at its sockets only when one of them woke it.
    let gate = Arc::new(Gate { woken: AtomicBool::new(false), outer: Mutex::new(None) });
    let gate_waker = Waker::from(gate.clone());
    loop {
        // The start-up work is done here, a batch per turn, after any
        // message (the watchdog's hello) and between the executor's turns
        // (the checkers); in a task of its own it would run up to 200
        // batches per executor turn before this loop ran again.
        let busy = checkers.as_ref().is_some_and(|c| c.spawning())
            || lvs.borrow().as_ref().is_some_and(|l| l.reconciling());
        let ev = std::pin::pin!(smol::future::or(
            async { Ev::Msg(rx.recv().await) },
            smol::future::or(async { Ev::Sig(signals.read_with(|fd| crate::signals::read(fd)).await) }, async {
                if !busy {
                    std::future::pending::<()>().await;
                }
                smol::future::yield_now().await;
                Ev::Work
            }),
        ));
        let ev = Gated { gate: &gate, inner: &gate_waker, fut: ev, started: false }.await;
        match ev {
            Ev::Work => {
                if let Some(c) = checkers.as_mut() {
                    c.spawn_more(&ex, SPAWN_BATCH);
                }
                if let Some(l) = lvs.borrow_mut().as_mut() {
                    l.reconcile_step(crate::lvs::program::RECONCILE_BATCH);
                }
            }
            Ev::Msg(Ok(Msg::Hello { seq })) => {
                if let Err(e) = tx.try_send(&Msg::HelloAck { seq, mem: crate::mem::stats(), checks: crate::check::checks_run() }) {
                    log::warn!("answering hello: {e}");
                }
            }
            Ev::Msg(Ok(Msg::Config { generation, config })) => {
                let summary = summarize(&config);
                crate::sched::apply(role, &config.global);
                let vrrp_changed = {
                    let a = applied.borrow();
                    a.generation == 0 || a.config.vrrp_instances != config.vrrp_instances || a.config.global != config.global
                };
                if role == Role::Vrrp && vrrp_changed {
                    // The engine is rebuilt from the new config; masters it
                    // keeps stay master on the wire (no priority 0) and the
                    // new engine resumes them.
                    if let Some(e) = engine.take() {
                        let kept = e.stop_for_reload(&applied.borrow().config, &config).await;
                        resume.extend(kept);
                    }
                    // State changes go to the parent as they happen.
                    let to_parent = tx.clone();
                    let on_change: crate::vrrp::engine::OnChange = Rc::new(move |st| {
                        let _ = to_parent.try_send(&Msg::VrrpStatus { instances: st.to_vec() });
                    });
                    engine = Some(Engine::start(&ex, &config, &resume, on_change));
                    resume.clear();
                }
                let lvs_changed = {
                    let a = applied.borrow();
                    a.generation == 0 || a.config.virtual_servers != config.virtual_servers || a.config.virtual_server_groups != config.virtual_server_groups
                };
                if role == Role::Check && lvs_changed {
                    // The checkers are rebuilt from the new config; a real
                    // server both configs have (same identity, whatever its
                    // place in the file) continues its state, so a reload
                    // touches only what it changes.
                    let old_config = applied.borrow().config.clone();
                    let snapshot = checkers.take().map(|c| c.snapshot()).unwrap_or_default();
                    let carried = crate::lvs::identity::carried(&old_config, &config);
                    let by_old: std::collections::HashMap<crate::check::RsId, &crate::check::runner::CarriedState> =
                        snapshot.iter().map(|c| (c.id, c)).collect();
                    let plans = crate::check::plan(&config);
                    let shared: Rc<Config> = Rc::new((*config).clone());
                    if !config.virtual_servers.is_empty() && lvs.borrow().is_none() {
                        let ex2 = ex.clone();
                        let h = Rc::new(crate::lvs::hooks::SpawnHooks::new(
                            move |f| ex2.spawn(f).detach(),
                            Rc::new(crate::lvs::hooks::LogAlerts),
                        ));
                        lvs_hooks = Some(h.clone());
                        *lvs.borrow_mut() = Some(crate::lvs::program::Lvs::new(h));
                    }
                    let mut carried_views = Vec::new();
                    if !plans.is_empty() {
                        let lvs2 = lvs.clone();
                        let sink: crate::check::EventSink = Rc::new(move |ev: crate::check::CheckEvent| {
                            // Events come from checker tasks, never from
                            // inside an Lvs call: the borrow cannot clash.
                            match lvs2.try_borrow_mut() {
                                Ok(mut l) => {
                                    if let Some(l) = l.as_mut() {
                                        l.on_event(ev);
                                    }
                                }
                                Err(_) => log::error!("check event for real server {:?} lost: LVS state busy", ev.real_server),
                            }
                        });
                        let tls: Rc<dyn crate::check::TlsConnector> = match crate::check::tls_rustls::RustlsConnector::new() {
                            Ok(c) => Rc::new(c),
                            Err(e) => {
                                log::error!("TLS unavailable for SSL_GET: {e}");
                                Rc::new(crate::check::NoTls)
                            }
                        };
                        // Their tasks are spawned a batch per turn (Ev::Work).
                        let c = crate::check::runner::prepare_checkers_carried(&plans, tls, sink, |p| {
                            carried.get(&p.id).and_then(|old| by_old.get(old).copied())
                        });
                        if ha_suspend.is_none() && config.virtual_servers.iter().any(|v| v.ha_suspend) {
                            ha_suspend = crate::lvs::suspend::HaSuspend::start(&ex);
                        }
                        if let Some((h, _)) = &ha_suspend {
                            // Before the executor runs the new tasks.
                            h.attach(shared.clone(), c.suspended().clone());
                        }
                        for (id, up, weight) in c.states() {
                            if carried.contains_key(&id) {
                                carried_views.push((id, crate::lvs::RsView { up, weight }));
                            }
                        }
                        log::info!(
                            "check child: {} real server(s) under check, {} carried over",
                            plans.len(),
                            carried_views.len()
                        );
                        checkers = Some(c);
                    }
                    if let Some(h) = &lvs_hooks {
                        h.set_fifos(&config.global);
                    }
                    if let Some(l) = lvs.borrow_mut().as_mut() {
                        l.apply(shared, &carried_views);
                    }
                }
                let global_changed = applied.borrow().config.global != config.global;
                if role == Role::Check && !lvs_changed && global_changed {
                    // Only global_defs changed: the same servers, new
                    // FIFOs, lvs_timeouts, script settings, lvs_flush_on_stop.
                    if let Some(h) = &lvs_hooks {
                        h.set_fifos(&config.global);
                    }
                    if let Some(l) = lvs.borrow_mut().as_mut() {
                        l.apply(Rc::new((*config).clone()), &[]);
                    }
                }
                {
                    let mut a = applied.borrow_mut();
                    a.generation = generation;
                    a.config = *config;
                }
                log::info!(
                    "{} child: config generation {generation} in force ({} vrrp instances, {} virtual servers)",
                    role.name(),
                    summary.vrrp_instances,
                    summary.virtual_servers
                );
                if let Err(e) = tx.send(&Msg::ConfigApplied { generation, summary }).await {
                    log::warn!("reporting config: {e}");
                }
            }
            Ev::Msg(Ok(Msg::Resume { masters })) => {
                log::info!("{} child: resuming as master: {}", role.name(), masters.join(", "));
                resume = masters;
            }
            Ev::Msg(Ok(Msg::DumpLog)) => {
                let _ = tx.send(&Msg::LogLines { lines: crate::log::recent_lines() }).await;
            }
            Ev::Msg(Ok(Msg::Wedge)) => {
                log::warn!("{} child: wedging the scheduler loop on request (fault injection)", role.name());
                #[allow(clippy::empty_loop)]
                loop {
                    std::hint::spin_loop();
                }
            }
            Ev::Msg(Ok(Msg::Stop)) => {
                if let Some(e) = engine.take() {
                    e.stop().await;
                }
                stop_lvs(&lvs, &lvs_hooks, !dont_release_ipvs).await;
                return 0;
            }
            Ev::Msg(Ok(other)) => log::warn!("{} child: unexpected message {other:?}", role.name()),
            Ev::Msg(Err(ipc::IpcError::Closed)) | Ev::Msg(Err(ipc::IpcError::Io(_))) => {
                log::warn!("{} child: parent channel closed; stopping", role.name());
                if let Some(e) = engine.take() {
                    e.stop().await;
                }
                return 1;
            }
            Ev::Msg(Err(e)) => log::warn!("{} child: {e}", role.name()),
            Ev::Sig(Ok(sig)) if sig == libc::SIGTERM || sig == libc::SIGINT => {
                if let Some(e) = engine.take() {
                    e.stop().await;
                }
                stop_lvs(&lvs, &lvs_hooks, !dont_release_ipvs).await;
                return 0;
            }
            Ev::Sig(Ok(sig)) if sig == libc::SIGUSR1 || sig == libc::SIGUSR2 => {
                if let Some(e) = &engine {
                    e.dump();
                }
                if let Some(c) = &checkers {
                    for (id, up, weight) in c.states() {
                        log::info!("virtual server {} real server {}: {}{}", id.vs, id.rs, if up { "up" } else { "down" }, weight.map(|w| format!(" weight {w}")).unwrap_or_default());
                    }
                }
            }
            Ev::Sig(Ok(sig)) => log::debug!("{} child: signal {sig}", role.name()),
            Ev::Sig(Err(e)) => log::warn!("{} child: signalfd: {e}", role.name()),
        }
    }
}

/// The checker child's clean stop: omega notifiers, managed IPVS services
/// removed, then (bounded) the scripts it started are awaited.
async fn stop_lvs(lvs: &RefCell<Option<crate::lvs::program::Lvs>>, hooks: &Option<Rc<crate::lvs::hooks::SpawnHooks>>, release: bool) {
    if let Some(l) = lvs.borrow_mut().as_mut() {
        l.teardown(release);
    }
    if let Some(h) = hooks {
        h.idle(crate::lvs::hooks::STOP_SCRIPT_TIMEOUT + std::time::Duration::from_millis(500)).await;
    }
}

/// The wakers a gated future hands out: a wake marks the gate and passes the
/// wake on to whoever polls the gated future.
struct Gate {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(w) = self.outer.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Polls `fut` on its first poll and then only after one of its own wakers
/// fired: a poll for another reason returns Pending without touching it.
/// async-io takes a second poll of an I/O future for readiness and retries
/// the read (a syscall and two epoll_ctl each), so polling the message
/// loop's sockets on every check's wake-up cost about four syscalls a check.
/// No wake is lost: the outer waker is stored before `woken` is read, and a
/// wake that comes while `fut` is polled sets `woken` again.
struct Gated<'a, F> {
    gate: &'a Arc<Gate>,
    inner: &'a Waker,
    fut: F,
    started: bool,
}

impl<F: Future + Unpin> Future for Gated<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut outer = self.gate.outer.lock().unwrap_or_else(|e| e.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let woken = self.gate.woken.swap(false, Ordering::SeqCst);
        if self.started && !woken {
            return Poll::Pending;
        }
        self.started = true;
        let inner = self.inner;
        Pin::new(&mut self.fut).poll(&mut Context::from_waker(inner))
    }
}
