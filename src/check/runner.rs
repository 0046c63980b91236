//! One task per checker on the caller's single-threaded `LocalExecutor`.
//!
//! Each task waits a random warmup in [0, warmup], then loops: run the
//! probe (every wait inside bounded by connect_timeout, misc_timeout),
//! feed the outcome to its real server's `RsState`, pass any resulting
//! `CheckEvent` to the sink, and sleep the delay the state machine chose
//! (delay_loop, or delay_before_retry while retrying).
//!
//! Allocation: the tasks, their timers and one `Async` registration per
//! connection (async-io keeps an `Arc` per source), plus the boxed TLS
//! handshake of SSL_GET. Requests are prebuilt in the plan; responses go
//! through fixed stack buffers.

use super::net::{Failure, random_upto};
use super::plan::{CheckSpec, Probe, RealServerPlan};
use super::state::{CheckEvent, Outcome, RsId, RsState};
use super::tls::TlsConnector;
use super::{dns, file, http, misc, ping, smtp, tcp, udp};
use async_io::{Async, Timer};
use smol::{LocalExecutor, Task};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

/// The shortest pause between two runs of one checker.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// Runs `spec`'s probe once.
pub async fn run_once(spec: &CheckSpec, tls: &dyn TlsConnector) -> Result<Outcome, Failure> {
    let t = &spec.target;
    match &spec.probe {
        Probe::Tcp => tcp::check(t).await.map(|_| Outcome::UP),
        Probe::Http {
            urls,
            tls: with_tls,
        } => http::check(t, urls, with_tls.then_some(tls))
            .await
            .map(|_| Outcome::UP),
        Probe::Smtp { helo, hosts } => smtp::check(t, helo, hosts).await.map(|_| Outcome::UP),
        Probe::Misc {
            cmd,
            timeout,
            dynamic,
        } => misc::check(cmd.as_ref(), *timeout, *dynamic).await,
        Probe::Dns { qtype, name } => dns::check(t, *qtype, name).await.map(|_| Outcome::UP),
        Probe::Udp(u) => udp::check(t, u).await.map(|_| Outcome::UP),
        Probe::Ping => ping::check(t).await.map(|_| Outcome::UP),
        Probe::File {
            path,
            weight,
            reverse,
            base_weight,
        } => file::check(path, *weight, *reverse, *base_weight),
        // Told by the BFD child, never run: no session news is no change.
        Probe::Bfd { .. } => Err(Failure::BfdDown),
    }
}

fn kind_name(p: &Probe) -> &'static str {
    match p {
        Probe::Tcp => "TCP_CHECK",
        Probe::Http { tls: false, .. } => "HTTP_GET",
        Probe::Http { tls: true, .. } => "SSL_GET",
        Probe::Smtp { .. } => "SMTP_CHECK",
        Probe::Misc { .. } => "MISC_CHECK",
        Probe::Dns { .. } => "DNS_CHECK",
        Probe::Udp(_) => "UDP_CHECK",
        Probe::Ping => "PING_CHECK",
        Probe::File { .. } => "FILE_CHECK",
        Probe::Bfd { .. } => "BFD_CHECK",
    }
}

/// A real server's report from its state and its checkers' specs;
/// `enabled`: its checkers are not suspended.
pub fn report_of(s: &RsState, specs: &[CheckSpec], enabled: bool) -> RsReport {
    report_with(s, specs.iter().map(|c| &c.probe), enabled)
}

/// As `report_of`, from the checkers' probes in order.
fn report_with<'a>(s: &RsState, probes: impl Iterator<Item = &'a Probe> + Clone, enabled: bool) -> RsReport {
    let last = s.last().map(|l| (probes.clone().nth(l.checker as usize).map_or("?", kind_name), l.failure));
    let checkers = probes
        .enumerate()
        .filter_map(|(i, probe)| {
            let c = s.checker(i)?;
            Some(CheckerReport {
                enabled,
                up: c.is_up(),
                has_run: c.has_run(),
                retry_it: shown_retry_it(probe, c),
                weight: s.checker_weight(i),
                last: s.checker_run(i),
            })
        })
        .collect();
    RsReport { id: s.id(), up: s.alive(), weight: s.weight(), checks_run: s.checks_run(), last, checkers }
}

/// keepalived's `retry_it` for a checker in `c`'s state. Most kinds (TCP,
/// SMTP, DNS, UDP, PING, MISC) count as `CheckerRetry` does and zero it at
/// each decision; HTTP_GET / SSL_GET's epilog does not zero it when the
/// checker goes down: a failed checker shows retry + 1 until a success.
pub fn shown_retry_it(probe: &Probe, c: &super::state::CheckerRetry) -> u32 {
    match probe {
        Probe::Http { .. } if c.has_run() && !c.is_up() => c.policy().retry.saturating_add(1),
        _ => c.retry_it(),
    }
}

/// Where events go. Called on the scheduler thread; must not block.
pub type EventSink = Rc<dyn Fn(CheckEvent)>;

/// Virtual servers whose checkers are suspended (ha_suspend), by index.
/// A suspended checker does not probe: it wakes every delay_loop to look
/// again, and its real server keeps the state it had (keepalived's
/// `checker->enabled`).
#[derive(Clone, Debug, Default)]
pub struct Suspended(Rc<RefCell<Vec<bool>>>);

impl Suspended {
    pub fn is(&self, vs: u16) -> bool {
        self.0.borrow().get(vs as usize).copied().unwrap_or(false)
    }

    /// Suspends or resumes `vs`'s checkers; true when that changed.
    pub fn set(&self, vs: u16, on: bool) -> bool {
        let mut v = self.0.borrow_mut();
        if v.len() <= vs as usize {
            if !on {
                return false;
            }
            v.resize(vs as usize + 1, false);
        }
        std::mem::replace(&mut v[vs as usize], on) != on
    }
}

/// One real server's state as status and the data dump show it. Built
/// only on request.
#[derive(Clone, Debug, Default)]
pub struct RsReport {
    pub id: RsId,
    pub up: bool,
    /// A weight set by a checker.
    pub weight: Option<i32>,
    pub checks_run: u64,
    /// The last check: its kind, and why it failed (None: it succeeded).
    pub last: Option<(&'static str, Option<Failure>)>,
    /// Each checker, in the real server's order.
    pub checkers: Vec<CheckerReport>,
}

/// One checker's runtime state (keepalived's checker_t fields its dump
/// prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckerReport {
    /// Not suspended (ha_suspend).
    pub enabled: bool,
    pub up: bool,
    pub has_run: bool,
    /// keepalived's `retry_it` as that checker kind keeps it.
    pub retry_it: u32,
    /// The weight the checker set (MISC_CHECK misc_dynamic, FILE_CHECK).
    pub weight: Option<i32>,
    /// The latest run: when, and why it failed (None: it succeeded).
    pub last: Option<crate::check::state::CheckerRun>,
}

/// The running checkers. Dropping it cancels every task (sockets close,
/// running scripts are killed by `RunningScript`'s drop).
pub struct Checkers {
    servers: Vec<Rc<RealServerChecks>>,
    ctx: Rc<TaskContext>,
    /// Checkers whose tasks are not spawned yet (`spawn_more`), in order:
    /// the real server's index in `servers`, the checker's in its list,
    /// and its slot in `tasks`.
    unspawned: VecDeque<(u32, u16, u32)>,
    /// Every checker's task, real server by real server in `servers`'
    /// order, each real server's in its list's (None: not spawned yet).
    tasks: Vec<Option<Task<()>>>,
    /// Tasks spawned for this config, and tasks a reload kept running.
    started: usize,
    kept: usize,
}

/// One real server under check: its checkers (each task reads its own
/// spec from here rather than holding a copy) and its state. One
/// allocation, shared by the real server's checker tasks.
struct RealServerChecks {
    specs: Few<SharedSpec>,
    state: RefCell<RsState>,
    /// The checkers' context, here rather than in each TCP_CHECK task:
    /// the task's allocation then fits musl's 160-byte class (it took a
    /// 192-byte slot), and this one stays within its own (also 192).
    ctx: Rc<TaskContext>,
}

/// A checker's spec. TCP_CHECKs that differ only in their address (the
/// real servers of a virtual server, as a rule) share one `CheckSpec`, its
/// `target.dst` that of the first of them: `dst` is this checker's. 40
/// bytes a real server instead of a 224-byte copy each. Other kinds have
/// their own (`dst` is theirs: HTTP_GET's request names the address).
struct SharedSpec {
    spec: Rc<CheckSpec>,
    dst: std::net::SocketAddr,
}

impl SharedSpec {
    /// The checker's own spec, as the config planned it (on request).
    fn to_spec(&self) -> CheckSpec {
        let mut s = (*self.spec).clone();
        s.target.dst = self.dst;
        s
    }

    /// `to_spec() == *b` without building the copy (a reload compares
    /// 40,000 of them). Destructured whole: a field added to either struct
    /// must be compared here too.
    fn is(&self, b: &CheckSpec) -> bool {
        let CheckSpec { probe, target, policy, warmup } = b;
        let super::plan::Target { dst, bindto, bind_port, bind_if, fwmark, connect_timeout } = target;
        let a = &*self.spec;
        self.dst == *dst
            && a.probe == *probe
            && a.policy == *policy
            && a.warmup == *warmup
            && a.target.bindto == *bindto
            && a.target.bind_port == *bind_port
            && a.target.bind_if == *bind_if
            && a.target.fwmark == *fwmark
            && a.target.connect_timeout == *connect_timeout
    }
}

/// Hands out shared TCP_CHECK specs while the checkers are prepared: the
/// last template seen per virtual server is reused when a real server's
/// TCP_CHECK matches it but for the address.
#[derive(Default)]
struct SpecSharer {
    last: Option<(u16, Rc<CheckSpec>)>,
}

impl SpecSharer {
    fn share(&mut self, vs: u16, spec: &CheckSpec) -> SharedSpec {
        let dst = spec.target.dst;
        if spec.probe != Probe::Tcp {
            return SharedSpec { spec: Rc::new(spec.clone()), dst };
        }
        if let Some((v, t)) = &self.last
            && *v == vs
            && same_but_dst(t, spec)
        {
            return SharedSpec { spec: t.clone(), dst };
        }
        let t = Rc::new(spec.clone());
        self.last = Some((vs, t.clone()));
        SharedSpec { spec: t, dst }
    }
}

/// Equal in all but `target.dst`'s address and port: the family is the
/// same (the socket is made from the shared one, `net::bound_socket`).
fn same_but_dst(a: &CheckSpec, b: &CheckSpec) -> bool {
    let (x, y) = (&a.target, &b.target);
    x.dst.is_ipv4() == y.dst.is_ipv4()
        && a.probe == b.probe
        && a.policy == b.policy
        && a.warmup == b.warmup
        && x.bindto == y.bindto
        && x.bind_port == y.bind_port
        && x.bind_if == y.bind_if
        && x.fwmark == y.fwmark
        && x.connect_timeout == y.connect_timeout
}

/// What every checker task needs besides its real server: one allocation
/// for all of them, not three handles in each task.
struct TaskContext {
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
    suspended: Suspended,
    slots: Slots,
}

pub use super::slots::MAX_CHECKS_IN_FLIGHT;
use super::few::Few;
use super::slots::Slots;

/// One real server's state as a reload hands it on: its id under the old
/// config, its state, and its checkers.
#[derive(Clone, Debug)]
pub struct CarriedState {
    pub id: RsId,
    pub state: RsState,
    pub checkers: Vec<CheckSpec>,
}

/// Which old checker each new checker continues: the first unused one with
/// the same probe and target (timing may differ, as keepalived's compare).
pub fn match_checkers(new: &[CheckSpec], old: &[CheckSpec]) -> Vec<Option<usize>> {
    let mut used = vec![false; old.len()];
    new.iter()
        .map(|n| {
            let j = old
                .iter()
                .enumerate()
                .position(|(j, o)| !used[j] && o.probe == n.probe && o.target == n.target)?;
            used[j] = true;
            Some(j)
        })
        .collect()
}

impl Checkers {
    /// No real server yet, with room for `plans`' (and `unspawned` checkers
    /// waiting for their task): what is pushed next does not reallocate.
    fn with_room(ctx: Rc<TaskContext>, plans: &[RealServerPlan], unspawned: usize) -> Checkers {
        ctx.slots.reserve(checker_count(plans));
        Checkers {
            servers: Vec::with_capacity(plans.len()),
            ctx,
            unspawned: VecDeque::with_capacity(unspawned),
            tasks: Vec::with_capacity(checker_count(plans)),
            started: 0,
            kept: 0,
        }
    }

    /// The switch for suspending virtual servers' checkers (all run at
    /// spawn; set before the executor runs them to start suspended).
    pub fn suspended(&self) -> &Suspended {
        &self.ctx.suspended
    }

    /// Spawns the tasks of up to `n` more checkers onto `ex`; true once
    /// all are spawned. 10,000 at once would keep the caller's loop from
    /// answering the watchdog.
    pub fn spawn_more<'a>(&mut self, ex: &LocalExecutor<'a>, n: usize) -> bool {
        for _ in 0..n {
            let Some((server, idx, slot)) = self.unspawned.pop_front() else { break };
            let Some(rs) = self.servers.get(server as usize).cloned() else { continue };
            let idx = usize::from(idx);
            let ctx = self.ctx.clone();
            // Each task's future is as large as the probe it awaits: a
            // TCP_CHECK task must not carry HTTP's buffers (7.3 KiB a task
            // with one loop for every kind, under 1 KiB this way).
            let task = match rs.specs.get(idx).map(|s| &s.spec.probe) {
                // Told, not run: no task.
                Some(Probe::Bfd { .. }) => continue,
                Some(Probe::Tcp) => ex.spawn(TcpCheckTask::new(rs, idx as u16)),
                _ => ex.spawn(checker_loop(rs, idx, ctx)),
            };
            if let Some(t) = self.tasks.get_mut(slot as usize) {
                *t = Some(task);
                self.started += 1;
            }
        }
        if self.unspawned.is_empty() {
            // Its capacity (8 bytes a checker) is not needed again.
            self.unspawned = VecDeque::new();
        }
        self.unspawned.is_empty()
    }

    /// (tasks spawned for this config, tasks a reload kept running).
    pub fn task_counts(&self) -> (usize, usize) {
        (self.started, self.kept)
    }

    /// The checkers of `plans` after a reload from `self` (the previous
    /// config's): a real server whose identity both configs have and whose
    /// checkers are the same, timing included, keeps its tasks running (no
    /// check restarts, none runs early or late), under its new id; the
    /// others continue their state as `prepare_checkers_carried` does, in
    /// new tasks (`spawn_more`). `old_id`: the real server's id under the
    /// previous config, if it had it.
    pub fn continue_into(
        self,
        plans: &[RealServerPlan],
        old_id: impl Fn(&RealServerPlan) -> Option<RsId>,
    ) -> Checkers {
        let Checkers { servers: old_servers, ctx, tasks: mut old_tasks, .. } = self;
        // Each old real server's id, index and the slot of its first task,
        // by id (in config order already, as planned: a search, not 40,000
        // hashes).
        let mut by_id = Vec::with_capacity(old_servers.len());
        let mut slot = 0usize;
        for (i, r) in old_servers.iter().enumerate() {
            if let Ok(st) = r.state.try_borrow() {
                by_id.push((st.id(), i, slot));
            }
            slot += r.specs.len();
        }
        if !by_id.is_sorted_by_key(|e| e.0) {
            by_id.sort_by_key(|e| e.0);
        }
        // Ids are unique: one real server each.
        let find = |id: RsId| by_id.binary_search_by_key(&id, |e| e.0).ok().and_then(|k| by_id.get(k)).map(|e| (e.1, e.2));
        // The previous config's suspensions are by its indices: the new
        // config's are set again (`HaSuspend::attach`).
        ctx.suspended.0.borrow_mut().clear();
        let mut c = Checkers::with_room(ctx, plans, 0);
        let mut sharer = SpecSharer::default();
        let mut policies = Vec::new();
        for p in plans {
            let old = old_id(p).and_then(find);
            let same = old.and_then(|(i, s)| old_servers.get(i).map(|r| (r, s))).filter(|(r, _)| {
                r.specs.len() == p.checkers.len() && r.specs.iter().zip(&p.checkers).all(|(a, b)| a.is(b))
            });
            if let Some((r, first)) = same {
                r.state.borrow_mut().set_id(p.id);
                let server = c.servers.len() as u32;
                for idx in 0..r.specs.len() {
                    let task = old_tasks.get_mut(first + idx).and_then(Option::take);
                    if task.is_some() {
                        c.kept += 1;
                    } else {
                        c.unspawned.push_back((server, idx as u16, c.tasks.len() as u32));
                    }
                    c.tasks.push(task);
                }
                c.servers.push(r.clone());
                continue;
            }
            policies.clear();
            policies.extend(p.checkers.iter().map(|c| c.policy));
            let st = match old.and_then(|(i, _)| old_servers.get(i)) {
                Some(r) => {
                    let old_st = r.state.borrow();
                    let old_specs: Vec<CheckSpec> = r.specs.iter().map(SharedSpec::to_spec).collect();
                    RsState::carry_over(p.id, &policies, &old_st, &match_checkers(&p.checkers, &old_specs))
                }
                None => RsState::new(p.id, &policies),
            };
            c.push_server(&mut sharer, p, st);
        }
        // The tasks not kept (their real servers gone or changed) stop here.
        drop(old_tasks);
        c
    }

    /// Appends a real server whose tasks are still to spawn.
    fn push_server(&mut self, sharer: &mut SpecSharer, p: &RealServerPlan, st: RsState) {
        // Indices fit: at most 65,535 × 65,535 real servers (`plan`), and a
        // real server's checkers are a config block's few.
        let server = self.servers.len() as u32;
        for idx in 0..p.checkers.len().min(usize::from(u16::MAX)) {
            self.unspawned.push_back((server, idx as u16, self.tasks.len() as u32));
            self.tasks.push(None);
        }
        let specs = p.checkers.iter().map(|c| sharer.share(p.id.vs, c)).collect();
        self.servers.push(Rc::new(RealServerChecks { specs, state: RefCell::new(st), ctx: self.ctx.clone() }));
    }

    /// Checkers whose tasks are still to spawn.
    pub fn pending_tasks(&self) -> usize {
        self.unspawned.len()
    }

    /// Whether checkers are left for `spawn_more`.
    pub fn spawning(&self) -> bool {
        !self.unspawned.is_empty()
    }

    /// Every real server's current view: (id, alive, weight set by a checker).
    pub fn states(&self) -> Vec<(RsId, bool, Option<i32>)> {
        self.servers
            .iter()
            .filter_map(|r| r.state.try_borrow().ok().map(|s| (s.id(), s.alive(), s.weight())))
            .collect()
    }

    /// Every real server's state as status shows it.
    pub fn report(&self) -> Vec<RsReport> {
        self.servers
            .iter()
            .filter_map(|r| {
                let s = r.state.try_borrow().ok()?;
                Some(report_with(&s, r.specs.iter().map(|c| &c.spec.probe), !self.ctx.suspended.is(s.id().vs)))
            })
            .collect()
    }

    /// The BFD child says session `name` entered (`up`) or left Up: each
    /// BFD_CHECK of it whose checker is not already so changes, as
    /// keepalived's bfd_check_handle_event does (an alpha checker may
    /// differ from its neighbours'). Returns how many changed.
    pub fn bfd_changed(&self, name: &str, up: bool) -> usize {
        let mut changed = 0;
        for rs in &self.servers {
            for (idx, s) in rs.specs.iter().enumerate() {
                if !matches!(&s.spec.probe, Probe::Bfd { name: n } if n == name) {
                    continue;
                }
                let step = {
                    let Ok(mut st) = rs.state.try_borrow_mut() else { continue };
                    if st.checker(idx).is_none_or(|c| c.is_up() == up) {
                        continue;
                    }
                    let failure = (!up).then_some(Failure::BfdDown);
                    st.note(idx, failure, std::time::SystemTime::now());
                    st.on_result(idx, if up { Outcome::UP } else { Outcome::Down })
                };
                changed += 1;
                log::info!("BFD check of [{name}] RS({}) is {}", s.dst, if up { "UP" } else { "DOWN" });
                if let Some(ev) = step.event {
                    (self.ctx.sink)(ev);
                }
            }
        }
        changed
    }

    /// Every real server's state, for the next config to continue.
    pub fn snapshot(&self) -> Vec<CarriedState> {
        self.servers
            .iter()
            .filter_map(|r| {
                let st = r.state.try_borrow().ok()?.clone();
                Some(CarriedState { id: st.id(), state: st, checkers: r.specs.iter().map(SharedSpec::to_spec).collect() })
            })
            .collect()
    }
}

/// A checker task of any kind but TCP_CHECK: an async loop, its future as
/// large as the largest probe it awaits.
async fn checker_loop(rs: Rc<RealServerChecks>, idx: usize, ctx: Rc<TaskContext>) {
    // Not a TCP_CHECK: its own spec, `dst` included (`SpecSharer`).
    let Some(spec) = rs.specs.get(idx).map(|s| &*s.spec) else { return };
    Timer::after(random_upto(spec.warmup)).await;
    loop {
        if ctx.suspended.is(rs.state.borrow().id().vs) {
            Timer::after(spec.policy.delay_loop.max(MIN_DELAY)).await;
            continue;
        }
        let result = run_once(spec, &*ctx.tls).await;
        let next = record(&rs, idx, &ctx, result);
        Timer::after(next).await;
    }
}

/// Feeds one run's result to its real server's state, logs it, passes any
/// event on; returns the delay before the next run.
fn record(rs: &RealServerChecks, idx: usize, ctx: &TaskContext, result: Result<Outcome, Failure>) -> Duration {
    let Some(SharedSpec { spec, dst }) = rs.specs.get(idx) else { return Duration::from_secs(1) };
    let outcome = match result {
        Ok(o) => o,
        Err(_) => Outcome::Down,
    };
    let step = {
        let mut st = rs.state.borrow_mut();
        st.note(idx, result.err(), std::time::SystemTime::now());
        st.on_result(idx, outcome)
    };
    if let Err(f) = result {
        log::debug!(
            "{} {}: {f}{}",
            kind_name(&spec.probe),
            dst,
            if step.retrying { " (retrying)" } else { "" }
        );
    }
    if let Some(ev) = step.event {
        let why = match result {
            Err(f) => format!(": {f}"),
            Ok(_) => String::new(),
        };
        log::info!(
            "{} on {}: real server {} {}{why}",
            kind_name(&spec.probe),
            dst,
            ev.real_server.rs,
            if ev.up { "up" } else { "down" }
        );
        (ctx.sink)(ev);
    }
    // A zero delay_loop must not turn into a busy loop.
    step.next.max(MIN_DELAY)
}

/// A TCP_CHECK task: `checker_loop` for TCP_CHECK written out as a state
/// machine, so that a task holds only what a TCP_CHECK needs: its real
/// server, the connection in flight and one timer, which both paces the
/// checks and bounds the connect (about 100 bytes; the async loop held a
/// timer for each, the futures' own state and their spec references: 3 to 4
/// times that). Same steps and same order: warmup, then per run connect,
/// writable or connect_timeout, SO_ERROR, close, record, delay.
struct TcpCheckTask {
    rs: Rc<RealServerChecks>,
    idx: u16,
    timer: Timer,
    /// The connection in flight; none while sleeping.
    conn: Option<Async<std::net::TcpStream>>,
    /// Waiting for a connection slot (`MAX_CHECKS_IN_FLIGHT`), or holding one.
    queued: bool,
    holding: bool,
}

impl TcpCheckTask {
    fn new(rs: Rc<RealServerChecks>, idx: u16) -> TcpCheckTask {
        let warmup = rs.specs.get(usize::from(idx)).map_or(Duration::ZERO, |s| s.spec.warmup);
        TcpCheckTask { rs, idx, timer: Timer::after(random_upto(warmup)), conn: None, queued: false, holding: false }
    }

    /// This task among those waiting for a slot: its real server's
    /// allocation and its checker's index.
    fn key(rs: &Rc<RealServerChecks>, idx: u16) -> u64 {
        (Rc::as_ptr(rs) as usize as u64) ^ (u64::from(idx) << 48)
    }
}

impl Drop for TcpCheckTask {
    fn drop(&mut self) {
        // Cancelled (a reload or a stop): its slot, or its place in the queue, goes.
        if self.holding {
            self.rs.ctx.slots.release();
        }
        if self.queued {
            self.rs.ctx.slots.forget(TcpCheckTask::key(&self.rs, self.idx));
        }
    }
}

impl std::future::Future for TcpCheckTask {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        use std::pin::Pin;
        use std::task::Poll;
        let TcpCheckTask { rs, idx, timer, conn, queued, holding } = &mut *self;
        let ctx = &*rs.ctx;
        let key = TcpCheckTask::key(rs, *idx);
        let idx = usize::from(*idx);
        let Some(SharedSpec { spec, dst }) = rs.specs.get(idx) else { return Poll::Ready(()) };
        loop {
            let result = match conn {
                None => {
                    // Sleeping (warmup, delay_loop, delay_before_retry); once
                    // queued for a slot its timer has fired already.
                    if !*queued && Pin::new(&mut *timer).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if ctx.suspended.is(rs.state.borrow().id().vs) {
                        if std::mem::take(queued) {
                            ctx.slots.forget(key);
                        }
                        timer.set_after(spec.policy.delay_loop.max(MIN_DELAY));
                        continue;
                    }
                    if !ctx.slots.acquire(key, queued, cx) {
                        return Poll::Pending;
                    }
                    *queued = false;
                    *holding = true;
                    match tcp::start(&spec.target, *dst) {
                        Ok(c) => {
                            *conn = Some(c);
                            timer.set_after(spec.target.connect_timeout);
                            continue;
                        }
                        Err(f) => Err(f),
                    }
                }
                // Connecting, within connect_timeout.
                Some(c) => match c.poll_writable(cx) {
                    Poll::Ready(Ok(())) => tcp::connected(c),
                    Poll::Ready(Err(e)) => Err(super::net::io_failure(&e)),
                    Poll::Pending => match Pin::new(&mut *timer).poll(cx) {
                        Poll::Ready(_) => Err(Failure::Timeout),
                        Poll::Pending => return Poll::Pending,
                    },
                },
            };
            // The run is over (the connection closes here): record it,
            // sleep until the next.
            *conn = None;
            if std::mem::take(holding) {
                ctx.slots.release();
            }
            timer.set_after(record(rs, idx, ctx, result.map(|_| Outcome::UP)));
        }
    }
}

/// How many checkers `plans` has: the task table's size, allocated once.
fn checker_count(plans: &[RealServerPlan]) -> usize {
    plans.iter().map(|p| p.checkers.len()).sum()
}

/// Spawns one task per checker of every real server onto `ex`.
pub fn spawn_checkers<'a>(
    ex: &LocalExecutor<'a>,
    plans: &[RealServerPlan],
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
) -> Checkers {
    spawn_checkers_carried(ex, plans, tls, sink, |_| None)
}

/// As `spawn_checkers`, each real server continuing the state `carried`
/// gives for it (a reload: the same real server under the old config).
pub fn spawn_checkers_carried<'a, 'c>(
    ex: &LocalExecutor<'a>,
    plans: &[RealServerPlan],
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
    carried: impl Fn(&RealServerPlan) -> Option<&'c CarriedState>,
) -> Checkers {
    let mut c = prepare_checkers_carried(plans, tls, sink, carried);
    c.spawn_more(ex, usize::MAX);
    c
}

/// As `spawn_checkers_carried` with no task spawned yet: the states are
/// there (and `suspended`, to set before the tasks run); `spawn_more`
/// spawns the tasks.
pub fn prepare_checkers_carried<'c>(
    plans: &[RealServerPlan],
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
    carried: impl Fn(&RealServerPlan) -> Option<&'c CarriedState>,
) -> Checkers {
    let ctx = Rc::new(TaskContext { tls, sink, suspended: Suspended::default(), slots: Slots::default() });
    let mut c = Checkers::with_room(ctx, plans, checker_count(plans));
    let mut sharer = SpecSharer::default();
    // One buffer for all: a short-lived block per real server, between the
    // long-lived ones of the same size, would keep their pages resident.
    let mut policies = Vec::new();
    for p in plans {
        policies.clear();
        policies.extend(p.checkers.iter().map(|c| c.policy));
        let st = match carried(p) {
            Some(old) => RsState::carry_over(p.id, &policies, &old.state, &match_checkers(&p.checkers, &old.checkers)),
            None => RsState::new(p.id, &policies),
        };
        c.push_server(&mut sharer, p, st);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::plan::Target;
    use crate::check::state::RetryPolicy;

    fn spec(port: u16, probe: Probe, retry: u32) -> CheckSpec {
        let policy =
            RetryPolicy { retry, delay_loop: Duration::from_secs(1), delay_before_retry: Duration::from_secs(1), alpha: false };
        CheckSpec {
            probe,
            target: Target::new(([127, 0, 0, 1], port).into(), Duration::from_secs(1)),
            policy,
            warmup: Duration::ZERO,
        }
    }

    // What a TCP_CHECK costs per real server besides the reactor's and the
    // executor's share: its task and its real server's entry. Sizes, not
    // time: `cargo test --lib sizes -- --nocapture` prints them.
    #[test]
    fn sizes_of_a_tcp_checks_task_and_real_server() {
        use std::mem::size_of;
        let task = size_of::<TcpCheckTask>();
        let ctx = Rc::new(TaskContext { tls: Rc::new(crate::check::NoTls), sink: Rc::new(|_| {}), suspended: Suspended::default(), slots: Slots::default() });
        eprintln!(
            "TcpCheckTask {task} B, RealServerChecks {} B, CheckSpec {} B (Probe {}, Target {}), RsState {} B, async checker_loop {} B",
            size_of::<RealServerChecks>(),
            size_of::<CheckSpec>(),
            size_of::<Probe>(),
            size_of::<Target>(),
            size_of::<RsState>(),
            std::mem::size_of_val(&checker_loop(
                Rc::new(RealServerChecks { specs: Few::new(Vec::new()), state: RefCell::new(RsState::new(RsId::default(), &[])), ctx: ctx.clone() }),
                0,
                ctx,
            )),
        );
        eprintln!(
            "config model: RealServer {} B, Checker {} B, CheckKind {} B, CheckTarget {} B",
            size_of::<crate::config::model::RealServer>(),
            size_of::<crate::config::model::Checker>(),
            size_of::<crate::config::model::CheckKind>(),
            size_of::<crate::config::model::CheckTarget>(),
        );
        // A TCP_CHECK task is its real server, one timer and the connection
        // in flight; the async loop it replaced was 304 B. At 88 bytes its
        // allocation (async-task's header and the executor's wrapper around
        // it: 152 B) fits musl's 160-byte class; 8 more took a 192-byte slot,
        // 1.3 MB at 40,000 real servers.
        assert!(task <= 88, "TcpCheckTask grew to {task} bytes");
    }

    #[test]
    fn tcp_checks_of_a_virtual_server_share_a_spec_and_each_checks_its_own_address() {
        let ls: Vec<_> = (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let plan = |i: usize, vs: u16, timeout: u64| {
            let l = &ls[i];
            l.set_nonblocking(true).unwrap();
            let mut sp = spec(l.local_addr().unwrap().port(), Probe::Tcp, 0);
            sp.policy.delay_loop = Duration::from_millis(20);
            sp.target.connect_timeout = Duration::from_secs(timeout);
            RealServerPlan { id: RsId { vs, rs: i as u16 }, addr: l.local_addr().unwrap(), weight: 1, checkers: vec![sp] }
        };
        // Two alike in one virtual server, one with another timeout.
        let plans = vec![plan(0, 0, 1), plan(1, 0, 1), plan(2, 0, 2)];
        let mut c = prepare_checkers_carried(&plans, Rc::new(crate::check::NoTls), Rc::new(|_| {}), |_| None);
        let spec_of = |i: usize| c.servers[i].specs[0].spec.clone();
        assert!(Rc::ptr_eq(&spec_of(0), &spec_of(1)));
        assert!(!Rc::ptr_eq(&spec_of(1), &spec_of(2)));
        // A reload matches checkers on their own specs, address included.
        let snap = c.snapshot();
        for (s, p) in snap.iter().zip(&plans) {
            assert_eq!(s.checkers, p.checkers);
        }
        let ex = LocalExecutor::new();
        c.spawn_more(&ex, usize::MAX);
        smol::future::block_on(ex.run(Timer::after(Duration::from_millis(300))));
        for (i, l) in ls.iter().enumerate() {
            assert!(std::iter::from_fn(|| l.accept().ok()).count() > 0, "real server {i} was not checked");
        }
        assert!(c.states().iter().all(|(_, up, _)| *up));
    }

    #[test]
    fn a_reload_keeps_the_tasks_of_unchanged_real_servers_under_their_new_ids() {
        let ls: Vec<_> = (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let plan = |i: usize, rs: u16, delay_ms: u64| {
            let l = &ls[i];
            l.set_nonblocking(true).unwrap();
            let mut sp = spec(l.local_addr().unwrap().port(), Probe::Tcp, 0);
            sp.policy.delay_loop = Duration::from_millis(delay_ms);
            RealServerPlan { id: RsId { vs: 0, rs }, addr: l.local_addr().unwrap(), weight: 1, checkers: vec![sp] }
        };
        let ex = LocalExecutor::new();
        let c = spawn_checkers(&ex, &[plan(0, 0, 20), plan(1, 1, 20)], Rc::new(crate::check::NoTls), Rc::new(|_| {}));
        assert_eq!(c.task_counts(), (2, 0));
        smol::future::block_on(ex.run(Timer::after(Duration::from_millis(200))));
        let before: Vec<u64> = c.servers.iter().map(|r| r.state.borrow().checks_run()).collect();
        assert!(before.iter().all(|&n| n > 0), "{before:?}");
        // Server 1 moves to the front unchanged; server 0 is retimed; a third is new.
        let new = [plan(1, 0, 20), plan(0, 1, 30), plan(2, 2, 20)];
        let old_id = |p: &RealServerPlan| match p.addr {
            a if a == ls[0].local_addr().unwrap() => Some(RsId { vs: 0, rs: 0 }),
            a if a == ls[1].local_addr().unwrap() => Some(RsId { vs: 0, rs: 1 }),
            _ => None,
        };
        let kept = c.servers[1].clone();
        let mut c = c.continue_into(&new, old_id);
        assert_eq!(c.task_counts(), (0, 1));
        assert_eq!(c.pending_tasks(), 2);
        assert!(Rc::ptr_eq(&c.servers[0], &kept), "the unchanged real server's checks were rebuilt");
        assert_eq!(c.servers[0].state.borrow().id(), RsId { vs: 0, rs: 0 });
        // The retimed one continues its state in a new task.
        assert_eq!(c.servers[1].state.borrow().checks_run(), before[0]);
        c.spawn_more(&ex, usize::MAX);
        assert_eq!(c.task_counts(), (2, 1));
        smol::future::block_on(ex.run(Timer::after(Duration::from_millis(200))));
        // The kept task ran on all along.
        assert!(c.servers[0].state.borrow().checks_run() > before[1]);
        assert!(c.servers[2].state.borrow().checks_run() > 0);
    }

    #[test]
    fn a_shared_spec_is_compared_as_its_own_copy_would_be() {
        let a = spec(80, Probe::Tcp, 1);
        let shared = SharedSpec { spec: Rc::new(spec(81, Probe::Tcp, 1)), dst: a.target.dst };
        let mut variants = vec![a.clone()];
        let mut b = a.clone();
        b.target.dst.set_port(82);
        variants.push(b);
        let mut b = a.clone();
        b.policy.retry = 7;
        variants.push(b);
        let mut b = a.clone();
        b.target.bind_if = Some("eth0".into());
        variants.push(b);
        let mut b = a.clone();
        b.warmup = Duration::from_secs(9);
        variants.push(b);
        variants.push(spec(80, Probe::Ping, 1));
        for v in &variants {
            assert_eq!(shared.is(v), shared.to_spec() == *v, "{v:?}");
        }
        assert!(shared.is(&a));
    }

    #[test]
    fn checkers_match_by_probe_and_target_not_timing() {
        let old = vec![spec(80, Probe::Tcp, 1), spec(81, Probe::Tcp, 1), spec(80, Probe::Ping, 1)];
        // Reordered, one retimed, one new: each old checker used once.
        let new = vec![spec(80, Probe::Ping, 5), spec(80, Probe::Tcp, 3), spec(82, Probe::Tcp, 1), spec(80, Probe::Tcp, 1)];
        assert_eq!(match_checkers(&new, &old), vec![Some(2), Some(0), None, None]);
    }

    #[test]
    fn a_suspended_virtual_server_does_not_probe_and_resumes() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let mut sp = spec(l.local_addr().unwrap().port(), Probe::Tcp, 0);
        sp.policy.delay_loop = Duration::from_millis(20);
        let plans = vec![RealServerPlan { id: RsId { vs: 3, rs: 0 }, addr: l.local_addr().unwrap(), weight: 1, checkers: vec![sp] }];
        let ex = LocalExecutor::new();
        let events = Rc::new(RefCell::new(0));
        let ev2 = events.clone();
        let c = spawn_checkers(&ex, &plans, Rc::new(crate::check::NoTls), Rc::new(move |_| *ev2.borrow_mut() += 1));
        assert!(c.suspended().set(3, true));
        assert!(!c.suspended().set(3, true));
        let accepted = |l: &std::net::TcpListener| std::iter::from_fn(|| l.accept().ok()).count();
        let run_for = |ms| smol::future::block_on(ex.run(Timer::after(Duration::from_millis(ms))));
        run_for(200);
        assert_eq!(accepted(&l), 0, "a suspended checker connected");
        let before = c.states();
        assert!(c.suspended().set(3, false));
        run_for(200);
        assert!(accepted(&l) > 0, "the resumed checker never connected");
        // Up before, up after: no event, the state as it was.
        assert_eq!(c.states(), before);
        assert_eq!(*events.borrow(), 0);
    }
}
