//! The parent: spawns the VRRP, checker and BFD children, keeps them alive with
//! the watchdog hello, restarts them by policy, relays reloads, serves the
//! console and the control socket, and stops everything cleanly.
//!
//! Everything runs on one single-threaded scheduler. Tasks only turn I/O
//! (signals, ticks, channel messages, console lines, control requests) into
//! `Event`s; one loop owns all state and handles events in order.

pub mod console;
pub mod console_io;
mod control;
pub mod handover;
mod http;
pub(crate) use http::CONNECTIONS_MAX as METRICS_CONNECTIONS_MAX;
pub mod hwwdt;
pub mod metrics;
pub mod policy;
mod watchdog;
mod query;
pub mod spawn;
pub mod status;

pub use control::query;

use crate::cli::{Options, Role};
use crate::config::{self, Config};
use crate::ipc::{self, ConfigSummary, Msg};
use crate::os::mem::MemStats;
use console::PROMPT;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use policy::RestartPolicy;
use smol::channel::{Receiver as EvRx, Sender as EvTx};
use smol::{LocalExecutor, Task};
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long children get to stop after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The children: VRRP, checker, BFD.
pub const SLOTS: usize = 3;

/// What the parent does once everything is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Exit,
    PowerOff,
    Reboot,
}

enum Event {
    Signal(i32),
    Tick,
    FromChild { role: Role, incarnation: u64, msg: Msg },
    ChannelClosed { role: Role, incarnation: u64 },
    RestartDue { role: Role, incarnation: u64 },
    ConsoleLine(String),
    ConsoleClosed,
    Control(control::Request),
    StopDeadline,
    /// A status request waited long enough for the children's reports.
    QueryDeadline(u32),
    /// A request to the metrics listener.
    Http(http::Request),
    /// A `vigil ctl` action waited long enough for its child.
    CtlDeadline(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Spawned, not yet answering.
    Starting,
    Running,
    /// Waiting out a restart backoff.
    Backoff,
    /// Not running, and not to be restarted (-P/-C, -R, or stopping).
    Stopped,
}

impl SlotState {
    fn name(self) -> &'static str {
        match self {
            SlotState::Starting => "starting",
            SlotState::Running => "running",
            SlotState::Backoff => "backoff",
            SlotState::Stopped => "stopped",
        }
    }
}

struct Slot {
    role: Role,
    enabled: bool,
    state: SlotState,
    /// When `state` was entered (for the hardware watchdog's bounds).
    since: Instant,
    pid: Option<u32>,
    incarnation: u64,
    sender: Option<ipc::Sender>,
    tasks: Vec<Task<()>>,
    restarts: u32,
    watchdog_kills: u32,
    /// Instances the parent handed over for this (VRRP) child while it was down.
    handovers: u64,
    policy: RestartPolicy,
    pending_hello: Option<u32>,
    /// When the pending hello was sent.
    hello_at: Instant,
    /// The last hello found the child's queue full and was not sent (the
    /// child is still reading a large message): the next one must go.
    hello_deferred: bool,
    /// The channel's `written` count when the last hello was sent.
    written_at_hello: u64,
    /// When a full queue first deferred the hello (the child not taking
    /// anything since).
    deferred_at: Instant,
    /// The channel's `written` count when the last hello was deferred.
    written_at_defer: u64,
    last_answer: Option<Instant>,
    /// When the last failure was seen (for the restart-latency log).
    failed_at: Option<Instant>,
    config_generation: u32,
    summary: ConfigSummary,
    mem: MemStats,
    /// Checks the child has run (the checker child), from its last answer.
    checks: u64,
    /// Its last report (the VRRP child's instances, the checker child's
    /// virtual servers).
    vrrp: Vec<crate::vrrp::instance::InstanceStatus>,
    sync_groups: Vec<crate::vrrp::instance::SyncGroupStatus>,
    virtual_servers: Vec<crate::lvs::status::VirtualServerStatus>,
    /// The BFD child's sessions, from its last report.
    bfd: Vec<crate::bfd::status::SessionStatus>,
    alerts: crate::alert::AlertCounters,
    /// The child's capacity hits, from its last report.
    capacity_hits: Vec<(String, u64)>,
    /// The VRRP child's netlink reflector counters, from its last report.
    netlink: Option<crate::netlink::reflector::ReflectorCounters>,
}

impl Slot {
    /// Every (re)start and back-off restarts `since`, even from the same
    /// state; a running child's answers leave it alone.
    fn set_state(&mut self, state: SlotState) {
        if !(self.state == SlotState::Running && state == SlotState::Running) {
            self.since = Instant::now();
        }
        self.state = state;
    }

    fn new(role: Role, enabled: bool) -> Self {
        Slot {
            role,
            enabled,
            state: SlotState::Stopped,
            since: Instant::now(),
            pid: None,
            incarnation: 0,
            sender: None,
            tasks: Vec::new(),
            restarts: 0,
            watchdog_kills: 0,
            handovers: 0,
            policy: RestartPolicy::default(),
            pending_hello: None,
            hello_at: Instant::now(),
            hello_deferred: false,
            written_at_defer: 0,
            written_at_hello: 0,
            deferred_at: Instant::now(),
            last_answer: None,
            failed_at: None,
            config_generation: 0,
            summary: ConfigSummary::default(),
            mem: MemStats::default(),
            checks: 0,
            vrrp: Vec::new(),
            sync_groups: Vec::new(),
            virtual_servers: Vec::new(),
            bfd: Vec::new(),
            alerts: Default::default(),
            capacity_hits: Vec::new(),
            netlink: None,
        }
    }
}

pub struct Parent {
    opts: Options,
    init: bool,
    ex: Rc<LocalExecutor<'static>>,
    tx: EvTx<Event>,
    /// VRRP, checker, BFD (`slot_index`).
    slots: [Slot; SLOTS],
    config: Box<Config>,
    generation: u32,
    reloads_refused: u32,
    seq: u32,
    started: Instant,
    started_ms: u64,
    both_answering_logged: bool,
    /// When the parent's own loop last came back from a long stretch of
    /// work (a reload's parse, a large status): time it could not read the
    /// children's answers, which is not counted against them.
    busy_until: Option<Instant>,
    /// systemd's $NOTIFY_SOCKET (Type=notify), when it set one.
    notify: Option<crate::os::sdnotify::Notifier>,
    stopping: Option<Shutdown>,
    console_enabled: bool,
    console_task: Option<Task<()>>,
    shell_pid: Option<u32>,
    control_task: Option<Task<()>>,
    metrics_task: Option<Task<()>>,
    /// Status requests waiting for the children's reports.
    queries: Vec<query::Pending>,
    query_id: u32,
    /// `vigil ctl` actions in force (drains, demotions), replayed to a
    /// restarted child; and those waiting for their child's answer.
    ctl_active: Vec<ipc::CtlAction>,
    ctl_pending: Vec<(u32, control::Request, ipc::CtlAction)>,
    /// The hardware watchdog PID 1 armed, petted on the tick while
    /// `hwwdt::decide` says the parent supervises; disarmed in `finish`.
    hw: Option<crate::init::hwwdt::HwWatchdog>,
    hw_policy: crate::init::hwwdt::Policy,
    /// Why the last tick did not pet (logged on change only).
    hw_withheld: Option<String>,
    /// The BFD child's last word on each session (Up or not), passed on to
    /// the VRRP child and replayed to a restarted one.
    bfd_up: Vec<(String, bool)>,
    /// The BFD child's Up sessions as it last reported them, handed to a
    /// restarted BFD child so that its sessions do not flap.
    bfd_carried: Vec<crate::bfd::engine::Carried>,
}

/// Runs the parent until it has stopped everything; returns what to do next.
/// `hw`: the hardware watchdog PID 1 armed, with its policy.
pub fn run(opts: Options, init: bool, config: Config, hw: Option<(crate::init::hwwdt::HwWatchdog, crate::init::hwwdt::Policy)>) -> Shutdown {
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    let (tx, rx) = smol::channel::unbounded();
    let console_enabled = opts.console || init;
    let parent = Parent {
        slots: [Slot::new(Role::Vrrp, !opts.check_only), Slot::new(Role::Check, !opts.vrrp_only), Slot::new(Role::Bfd, opts.runs_bfd(&config))],
        opts,
        init,
        ex: ex.clone(),
        tx,
        config: Box::new(config),
        generation: 1,
        reloads_refused: 0,
        seq: 0,
        started: Instant::now(),
        started_ms: crate::log::monotonic_ms(),
        both_answering_logged: false,
        busy_until: None,
        notify: if init { None } else { crate::os::sdnotify::Notifier::from_env() },
        stopping: None,
        console_enabled,
        console_task: None,
        shell_pid: None,
        control_task: None,
        metrics_task: None,
        queries: Vec::new(),
        query_id: 0,
        ctl_active: Vec::new(),
        ctl_pending: Vec::new(),
        hw_policy: hw.as_ref().map_or(crate::init::hwwdt::Policy::Off, |h| h.1),
        hw: hw.map(|h| h.0),
        hw_withheld: None,
        bfd_up: Vec::new(),
        bfd_carried: Vec::new(),
    };
    async_io::block_on(ex.run(parent.main(rx)))
}

impl Parent {
    async fn main(mut self, rx: EvRx<Event>) -> Shutdown {
        let _signals = match self.spawn_signal_task() {
            Ok(t) => Some(t),
            Err(e) => {
                log::error!("signalfd: {e}; signals will not be handled");
                None
            }
        };
        let tx = self.tx.clone();
        let interval = self.opts.watchdog;
        let _ticker = self.ex.spawn(async move {
            let mut t = async_io::Timer::interval(interval);
            loop {
                smol::stream::StreamExt::next(&mut t).await;
                if tx.send(Event::Tick).await.is_err() {
                    return;
                }
            }
        });
        match control::listen(&self.opts.control, self.tx.clone(), &self.ex) {
            Ok(t) => self.control_task = Some(t),
            Err(e) => log::warn!("control socket {}: {e}; `vigil status` will not answer", self.opts.control.display()),
        }
        if let Some(addr) = self.opts.metrics_listen {
            match http::listen(addr, self.tx.clone(), &self.ex) {
                Ok(t) => {
                    log::info!("metrics on http://{addr}/metrics");
                    self.metrics_task = Some(t);
                }
                Err(e) => log::error!("--metrics-listen {addr}: {e}; no metrics over HTTP"),
            }
        }
        log::info!(
            "vigil {} starting (pid {}, watchdog {} ms, config {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            interval.as_millis(),
            self.opts.config.display()
        );
        for f in &self.opts.unsupported_flags {
            log::warn!("option {f} is accepted for keepalived's command line but not implemented; ignored");
        }
        for i in 0..SLOTS {
            if self.slots[i].enabled {
                self.start_child(i);
            }
        }
        if self.console_enabled {
            self.start_console();
        }
        loop {
            let ev = match rx.recv().await {
                Ok(ev) => ev,
                Err(_) => return Shutdown::Exit,
            };
            let began = Instant::now();
            if let Some(done) = self.handle(ev) {
                self.finish();
                return done;
            }
            // Work of the parent's own that kept it from reading the
            // children's answers for a while (a reload's parse takes seconds
            // under TCG): their pending hellos get a full interval from now.
            let now = Instant::now();
            if now.duration_since(began) >= interval / 4 {
                log::debug!("parent busy {} ms; hellos pending get a full interval from now", now.duration_since(began).as_millis());
                self.busy_until = Some(now);
            }
        }
    }

    fn slot_index(role: Role) -> usize {
        match role {
            Role::Vrrp => 0,
            Role::Bfd => 2,
            _ => 1,
        }
    }

    fn handle(&mut self, ev: Event) -> Option<Shutdown> {
        match ev {
            Event::Signal(sig) => return self.on_signal(sig),
            Event::Tick => self.on_tick(),
            Event::FromChild { role, incarnation, msg } => {
                let i = Self::slot_index(role);
                if self.slots[i].incarnation == incarnation {
                    self.on_child_msg(i, msg);
                }
            }
            Event::ChannelClosed { role, incarnation } => {
                let s = &self.slots[Self::slot_index(role)];
                if s.incarnation == incarnation && s.pid.is_some() {
                    log::debug!("{} child channel closed", role.name());
                }
            }
            Event::RestartDue { role, incarnation } => {
                let i = Self::slot_index(role);
                if self.slots[i].incarnation == incarnation && self.slots[i].state == SlotState::Backoff && self.stopping.is_none() {
                    self.start_child(i);
                }
            }
            Event::ConsoleLine(line) => return self.on_console(&line),
            Event::ConsoleClosed => {
                self.console_task = None;
            }
            Event::Control(req) => self.on_control(req),
            Event::Http(req) => {
                if req.path == "/metrics" {
                    self.ask(query::Asker::Http(req));
                } else {
                    self.ex.spawn(http::reply(req, 404, "not found; try /metrics\n".into())).detach();
                }
            }
            Event::CtlDeadline(id) => {
                if let Some(k) = self.ctl_pending.iter().position(|p| p.0 == id) {
                    let (_, req, action) = self.ctl_pending.swap_remove(k);
                    let text = format!("error: the {} child did not answer\n", action.role().name());
                    self.ex.spawn(control::reply(req, text)).detach();
                }
            }
            Event::QueryDeadline(id) => {
                if let Some(k) = self.queries.iter().position(|q| q.id == id) {
                    let q = self.queries.swap_remove(k);
                    self.answer(q.asker);
                }
            }
            Event::StopDeadline => {
                for s in &self.slots {
                    if let Some(pid) = s.pid {
                        log::warn!("{} child {pid} did not stop in time: SIGKILL", s.role.name());
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                }
                self.reap_blocking(Duration::from_secs(2));
                return self.stopping;
            }
        }
        None
    }

    fn spawn_signal_task(&self) -> std::io::Result<Task<()>> {
        let fd = crate::os::signals::signalfd(crate::os::signals::PARENT_SIGNALS)?;
        let io = async_io::Async::new(fd)?;
        let tx = self.tx.clone();
        Ok(self.ex.spawn(async move {
            loop {
                match io.read_with(|fd| crate::os::signals::read(fd)).await {
                    Ok(sig) => {
                        if tx.send(Event::Signal(sig)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        log::error!("signalfd read: {e}");
                        async_io::Timer::after(Duration::from_millis(100)).await;
                    }
                }
            }
        }))
    }

    fn on_signal(&mut self, sig: i32) -> Option<Shutdown> {
        if let Some(what) = crate::os::signals::Dump::from_signal(sig) {
            self.forward_dump(sig, what);
            return None;
        }
        match Signal::try_from(sig) {
            Ok(Signal::SIGCHLD) => return self.reap(),
            Ok(Signal::SIGHUP) => self.reload(),
            Ok(Signal::SIGTERM) => return self.begin_stop(if self.init { Shutdown::PowerOff } else { Shutdown::Exit }),
            // On the appliance, ctrl-alt-del arrives as SIGINT (CAD disabled).
            Ok(Signal::SIGINT) => return self.begin_stop(if self.init { Shutdown::Reboot } else { Shutdown::Exit }),
            Ok(Signal::SIGPWR) => return self.begin_stop(if self.init { Shutdown::PowerOff } else { Shutdown::Exit }),
            _ => log::debug!("ignored signal {sig}"),
        }
        None
    }

    /// A dump signal, passed on as keepalived's parent does: DATA to every
    /// child, STATS, STATS_CLEAR and JSON to the VRRP child only (the
    /// checker child has no counters to show). DATA also writes the
    /// parent's own file, /tmp/keepalived_parent.data.
    fn forward_dump(&mut self, sig: i32, what: crate::os::signals::Dump) {
        use crate::os::signals::Dump;
        if what == Dump::Data {
            let st = self.status();
            log::info!("status dump:\n{}", st.ps_table().trim_end());
            crate::config::dump::write_parent_data(&self.config);
        }
        for s in &self.slots {
            if what != Dump::Data && s.role != Role::Vrrp {
                continue;
            }
            if let Some(pid) = s.pid {
                // SAFETY: kill(2) with a pid we started and a valid signal number.
                let _ = unsafe { libc::kill(pid as i32, sig) };
            }
        }
    }

    /// Reaps every exited process: our children, shells, and (as PID 1)
    /// orphans re-parented to us.
    fn reap(&mut self) -> Option<Shutdown> {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid.as_raw() as u32, format!("exited with status {code}")),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    // SIGSYS is how the kernel ends a child that made a
                    // call its seccomp filter forbids.
                    let why = if sig == Signal::SIGSYS { " (a system call its seccomp filter forbids)" } else { "" };
                    self.on_exit(pid.as_raw() as u32, format!("killed by {sig}{why}"))
                }
                Ok(_) => continue,
            }
        }
        if self.stopping.is_some() && self.slots.iter().all(|s| s.pid.is_none()) {
            return self.stopping;
        }
        None
    }

    fn reap_blocking(&mut self, bound: Duration) {
        let until = Instant::now() + bound;
        while self.slots.iter().any(|s| s.pid.is_some()) && Instant::now() < until {
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn on_exit(&mut self, pid: u32, how: String) {
        if self.shell_pid == Some(pid) {
            self.shell_pid = None;
            println!("shell {how}");
            self.start_console();
            return;
        }
        let Some(i) = self.slots.iter().position(|s| s.pid == Some(pid)) else {
            log::debug!("reaped process {pid} ({how})");
            return;
        };
        let s = &mut self.slots[i];
        s.pid = None;
        s.sender = None;
        s.tasks.clear();
        s.pending_hello = None;
        s.hello_deferred = false;
        remove_pid_file(self.child_pid_file(self.slots[i].role));
        let s = &mut self.slots[i];
        if self.stopping.is_some() {
            log::info!("{} child {pid} stopped ({how})", s.role.name());
            s.set_state(SlotState::Stopped);
            return;
        }
        s.failed_at.get_or_insert_with(Instant::now);
        if self.opts.dont_respawn {
            log::error!("{} child {pid} {how}; not respawning (-R)", s.role.name());
            s.set_state(SlotState::Stopped);
            return;
        }
        let delay = s.policy.on_failure();
        s.restarts += 1;
        log::error!("{} child {pid} {how}; restart {} in {} ms", s.role.name(), s.restarts, delay.as_millis());
        if delay.is_zero() {
            self.start_child(i);
        } else {
            self.hand_over_if_due(i, delay);
            let s = &mut self.slots[i];
            s.set_state(SlotState::Backoff);
            let (tx, role, inc) = (self.tx.clone(), s.role, s.incarnation);
            s.tasks.push(self.ex.spawn(async move {
                async_io::Timer::after(delay).await;
                let _ = tx.send(Event::RestartDue { role, incarnation: inc }).await;
            }));
        }
    }

    /// Before the VRRP child backs off for `delay`: the master instances a
    /// restart would come too late for are handed over now (see handover),
    /// and are no longer resumed as master.
    fn hand_over_if_due(&mut self, i: usize, delay: Duration) {
        if self.slots[i].role != Role::Vrrp {
            return;
        }
        let due = handover::due(&self.config, &self.slots[i].vrrp, delay);
        if due.is_empty() {
            return;
        }
        log::warn!("vrrp child backs off for {} ms, longer than the peers wait: handing over {}", delay.as_millis(), due.join(", "));
        handover::hand_over(&self.config, &due);
        for st in self.slots[i].vrrp.iter_mut().filter(|st| due.contains(&st.name)) {
            st.state = crate::vrrp::fsm::State::Backup;
        }
        self.slots[i].handovers += due.len() as u64;
    }

    fn child_pid_file(&self, role: Role) -> &std::path::Path {
        self.opts.child_pid_file(role)
    }

    fn start_child(&mut self, i: usize) {
        let role = self.slots[i].role;
        let result = ipc::socketpair().and_then(|(ours, theirs)| {
            let pid = spawn::spawn_child(&self.opts, role, &theirs)?;
            drop(theirs);
            Ok((pid, ipc::channel(ours)?))
        });
        let s = &mut self.slots[i];
        s.incarnation += 1;
        s.tasks.clear();
        s.pending_hello = None;
        s.hello_deferred = false;
        match result {
            Err(e) => {
                log::error!("cannot start {} child: {e}", role.name());
                let delay = s.policy.on_failure().max(policy::FIRST_BACKOFF);
                self.hand_over_if_due(i, delay);
                let s = &mut self.slots[i];
                s.set_state(SlotState::Backoff);
                let (tx, inc) = (self.tx.clone(), s.incarnation);
                s.tasks.push(self.ex.spawn(async move {
                    async_io::Timer::after(delay).await;
                    let _ = tx.send(Event::RestartDue { role, incarnation: inc }).await;
                }));
            }
            Ok((pid, (sender, mut receiver))) => {
                log::info!("{} child started, pid {pid}", role.name());
                s.pid = Some(pid);
                s.set_state(SlotState::Starting);
                let (tx, inc) = (self.tx.clone(), s.incarnation);
                s.tasks.push(self.ex.spawn(async move {
                    loop {
                        match receiver.recv().await {
                            Ok(msg) => {
                                if tx.send(Event::FromChild { role, incarnation: inc, msg }).await.is_err() {
                                    return;
                                }
                            }
                            Err(ipc::IpcError::Decode(e)) => log::warn!("{} child sent an undecodable message: {e}", role.name()),
                            Err(ipc::IpcError::Frame(e)) => log::warn!("{} child sent a bad frame: {e}", role.name()),
                            Err(_) => {
                                let _ = tx.send(Event::ChannelClosed { role, incarnation: inc }).await;
                                return;
                            }
                        }
                    }
                }));
                let msg = Msg::Config { generation: self.generation, config: self.config.clone() };
                // A restarted VRRP child resumes what its predecessor held:
                // a crash must not cost the mastership.
                let masters: Vec<String> = s.vrrp.iter().filter(|i| i.state == crate::vrrp::fsm::State::Master).map(|i| i.name.clone()).collect();
                let resume = match role {
                    Role::Vrrp if !masters.is_empty() => Some(Msg::Resume { masters }),
                    Role::Bfd if !self.bfd_carried.is_empty() => Some(Msg::BfdCarried { sessions: self.bfd_carried.clone() }),
                    _ => None,
                };
                // What the operator put in force goes to the new child too.
                let mut replay: Vec<Msg> = self.ctl_active.iter().filter(|a| a.role() == role).map(|a| Msg::Ctl { id: 0, action: a.clone() }).collect();
                // A restarted VRRP or checker child hears where the BFD
                // sessions stand.
                if matches!(role, Role::Vrrp | Role::Check) {
                    replay.extend(self.bfd_up.iter().map(|(name, up)| Msg::BfdState { name: name.clone(), up: *up }));
                }
                let to_child = sender.clone();
                s.tasks.push(self.ex.spawn(async move {
                    if let Some(r) = resume {
                        if let Err(e) = to_child.send(&r).await {
                            log::warn!("sending the resume state to the {} child: {e}", role.name());
                        }
                    }
                    if let Err(e) = to_child.send(&msg).await {
                        log::warn!("sending the config to the {} child: {e}", role.name());
                    }
                    for m in replay {
                        if let Err(e) = to_child.send(&m).await {
                            log::warn!("replaying ctl to the {} child: {e}", role.name());
                        }
                    }
                }));
                s.sender = Some(sender);
            }
        }
    }

    fn on_child_msg(&mut self, i: usize, msg: Msg) {
        let now = Instant::now();
        let s = &mut self.slots[i];
        match msg {
            Msg::Ready { pid } => {
                s.set_state(SlotState::Running);
                s.last_answer = Some(now);
                match s.failed_at.take() {
                    Some(t) => log::info!(
                        "{} child {pid} answering, {} ms after its failure was seen",
                        s.role.name(),
                        now.duration_since(t).as_millis()
                    ),
                    None => log::info!("{} child {pid} answering", s.role.name()),
                }
                let all = self.slots.iter().filter(|s| s.enabled).all(|s| s.state == SlotState::Running);
                if all && !self.both_answering_logged {
                    self.both_answering_logged = true;
                    log::info!(
                        "vigil: both children answering after {} ms (parent started {} ms after boot)",
                        now.duration_since(self.started).as_millis(),
                        self.started_ms
                    );
                    // Ready as systemd means it: both loops run and answer.
                    if let Some(n) = &self.notify {
                        n.send("READY=1");
                    }
                }
            }
            Msg::HelloAck { seq, mem, checks } => {
                if s.pending_hello == Some(seq) {
                    s.pending_hello = None;
                    let failing = s.policy.consecutive_failures() > 0;
                    s.policy.on_answer();
                    if failing && s.policy.consecutive_failures() == 0 {
                        log::info!("{} child {} healthy again (answered hello {seq}): restart back-off reset", s.role.name(), s.pid.unwrap_or(0));
                    }
                }
                s.set_state(SlotState::Running);
                s.last_answer = Some(now);
                s.mem = mem;
                s.checks = checks;
            }
            Msg::ConfigApplied { generation, summary } => {
                log::info!("{} child applied config generation {generation}", s.role.name());
                s.config_generation = generation;
                s.summary = summary;
            }
            Msg::VrrpStatus { instances } => {
                s.vrrp = instances;
            }
            Msg::BfdCarried { sessions } => self.bfd_carried = sessions,
            Msg::BfdState { name, up } => {
                match self.bfd_up.iter_mut().find(|(n, _)| *n == name) {
                    Some(e) => e.1 = up,
                    None => self.bfd_up.push((name.clone(), up)),
                }
                // keepalived's BFD child writes to both: track_bfd and BFD_CHECK.
                for role in [Role::Vrrp, Role::Check] {
                    let v = &self.slots[Self::slot_index(role)];
                    if let Some(tx) = v.sender.as_ref().filter(|_| v.pid.is_some())
                        && let Err(e) = tx.try_send(&Msg::BfdState { name: name.clone(), up })
                    {
                        log::error!("bfd {name} {} not passed to the {} child: {e}", if up { "up" } else { "down" }, role.name());
                    }
                }
            }
            Msg::CtlDone { id, result } => {
                let Some(k) = self.ctl_pending.iter().position(|p| p.0 == id) else { return };
                let (_, req, action) = self.ctl_pending.swap_remove(k);
                let text = match result {
                    Ok(m) => {
                        // In force from now on: replayed to a restarted child.
                        let inverse = action.inverse();
                        self.ctl_active.retain(|a| *a != action && *a != inverse);
                        if matches!(action, ipc::CtlAction::Drain { on: true, .. } | ipc::CtlAction::Demote { on: true, .. }) {
                            self.ctl_active.push(action);
                        }
                        format!("ok: {m}\n")
                    }
                    Err(e) => format!("error: {e}\n"),
                };
                self.ex.spawn(control::reply(req, text)).detach();
            }
            Msg::Report { id, report } => {
                s.alerts = report.alerts;
                s.capacity_hits = report.capacity_hits;
                s.netlink = report.netlink;
                match s.role {
                    Role::Vrrp => {
                        s.vrrp = report.vrrp;
                        s.sync_groups = report.sync_groups;
                    }
                    Role::Bfd => s.bfd = report.bfd,
                    _ => s.virtual_servers = report.virtual_servers,
                }
                if let Some(k) = self.queries.iter().position(|q| q.id == id) {
                    self.queries[k].waiting[i] = false;
                    if self.queries[k].done() {
                        let q = self.queries.swap_remove(k);
                        self.answer(q.asker);
                    }
                }
            }
            Msg::LogLines { lines } => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "--- {} child log ---", s.role.name());
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
                let _ = write!(out, "{PROMPT}");
                let _ = out.flush();
            }
            other => log::warn!("{} child sent an unexpected message: {other:?}", s.role.name()),
        }
    }

    /// On the tick only (no wake-up of its own): pets the hardware watchdog
    /// if the parent is supervising its children.
    fn pet_hw_watchdog(&mut self) {
        let Some(w) = &self.hw else { return };
        let views: [hwwdt::SlotView; SLOTS] = std::array::from_fn(|i| {
            let s = &self.slots[i];
            hwwdt::SlotView {
                name: s.role.name(),
                enabled: s.enabled,
                state: s.state,
                since: s.since,
                last_answer: s.last_answer.unwrap_or(self.started),
            }
        });
        match hwwdt::decide(self.hw_policy, self.stopping.is_some(), Instant::now(), self.opts.watchdog, &views) {
            Ok(()) => {
                w.pet();
                if self.hw_withheld.take().is_some() {
                    log::warn!("hardware watchdog: supervising again; petting");
                }
            }
            Err(hwwdt::NotSupervising(why)) => {
                if self.hw_withheld.as_deref() != Some(why.as_str()) {
                    log::error!("hardware watchdog: not petting: {why}; the box resets within {} s", w.timeout().as_secs());
                    self.hw_withheld = Some(why);
                }
            }
        }
    }

    fn reload(&mut self) {
        // systemd shows `reloading` until READY=1 again, refused or not:
        // the running configuration stays in force either way.
        if let Some(n) = &self.notify {
            n.reloading();
        }
        self.reload_config();
        if let Some(n) = &self.notify {
            n.send("READY=1");
        }
    }

    fn reload_config(&mut self) {
        log::info!("reloading {}", self.opts.config.display());
        let loaded = config::load(&self.opts.config, &config::LoadOptions { config_id: self.opts.config_id.clone() });
        if loaded.refuses_reload() {
            for d in &loaded.diagnostics {
                log::error!("{d}");
            }
            self.reloads_refused += 1;
            log::error!(
                "reload refused: {} problem(s) in the new configuration; generation {} stays in force",
                loaded.diagnostics.len(),
                self.generation
            );
            return;
        }
        for d in &loaded.diagnostics {
            log::warn!("{d}");
        }
        self.generation += 1;
        self.config = Box::new(loaded.config);
        if let Some(last_good) = &self.opts.last_good {
            crate::init::persist::Persistent { config: self.opts.config.clone(), last_good: last_good.clone() }.save_last_good();
        }
        log::info!("configuration generation {} accepted; sending it to the children", self.generation);
        for s in &mut self.slots {
            if let Some(tx) = s.sender.clone() {
                let msg = Msg::Config { generation: self.generation, config: self.config.clone() };
                let role = s.role;
                s.tasks.push(self.ex.spawn(async move {
                    if let Err(e) = tx.send(&msg).await {
                        log::warn!("sending the config to the {} child: {e}", role.name());
                    }
                }));
            }
        }
        // keepalived starts its BFD child at a reload that brings the first
        // bfd_instance (and leaves one running when they all go).
        let b = Self::slot_index(Role::Bfd);
        if !self.slots[b].enabled && self.opts.runs_bfd(&self.config) {
            self.slots[b].enabled = true;
            self.start_child(b);
        }
    }

    fn begin_stop(&mut self, how: Shutdown) -> Option<Shutdown> {
        if self.stopping.is_some() {
            return None;
        }
        log::info!("stopping ({how:?})");
        if let Some(n) = &self.notify {
            n.send("STOPPING=1");
        }
        self.stopping = Some(how);
        self.console_task = None;
        for s in &mut self.slots {
            s.set_state(SlotState::Stopped);
            s.tasks.retain(|_| false);
            if let Some(pid) = s.pid {
                if let Some(tx) = &s.sender {
                    let _ = tx.try_send(&Msg::Stop);
                }
                let p = Pid::from_raw(pid as i32);
                let _ = kill(p, Signal::SIGTERM);
                // A stopped (hung) child must run to act on SIGTERM.
                let _ = kill(p, Signal::SIGCONT);
            }
        }
        if self.slots.iter().all(|s| s.pid.is_none()) {
            return Some(how);
        }
        let tx = self.tx.clone();
        self.ex
            .spawn(async move {
                async_io::Timer::after(STOP_TIMEOUT).await;
                let _ = tx.send(Event::StopDeadline).await;
            })
            .detach();
        None
    }

    fn finish(&mut self) {
        for s in &self.slots {
            remove_pid_file(self.child_pid_file(s.role));
        }
        self.control_task = None;
        self.metrics_task = None;
        control::remove(&self.opts.control);
        if let Some(w) = self.hw.take() {
            w.disarm();
        }
        log::info!("stopped");
    }
}

pub(super) fn print_prompt() {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(PROMPT.as_bytes());
    let _ = o.flush();
}

pub fn remove_pid_file(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("removing {}: {e}", path.display()),
    }
}

