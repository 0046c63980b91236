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
use async_io::Timer;
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
    }
}

/// A real server's report from its state and its checkers' specs;
/// `enabled`: its checkers are not suspended.
pub fn report_of(s: &RsState, specs: &[CheckSpec], enabled: bool) -> RsReport {
    let last = s.last().map(|l| (specs.get(l.checker as usize).map_or("?", |c| kind_name(&c.probe)), l.failure));
    let checkers = specs
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let c = s.checker(i)?;
            Some(CheckerReport {
                enabled,
                up: c.is_up(),
                has_run: c.has_run(),
                retry_it: shown_retry_it(&spec.probe, c),
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
    states: Vec<Rc<RefCell<RsState>>>,
    /// Each real server's checkers, to match them with a new config's.
    specs: Vec<Vec<CheckSpec>>,
    suspended: Suspended,
    /// Checkers whose tasks are not spawned yet (`spawn_more`), in order,
    /// with what their tasks need.
    unspawned: VecDeque<(CheckSpec, usize, Rc<RefCell<RsState>>)>,
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
    _tasks: Vec<Task<()>>,
}

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
    /// The switch for suspending virtual servers' checkers (all run at
    /// spawn; set before the executor runs them to start suspended).
    pub fn suspended(&self) -> &Suspended {
        &self.suspended
    }

    /// Spawns the tasks of up to `n` more checkers onto `ex`; true once
    /// all are spawned. 10,000 at once would keep the caller's loop from
    /// answering the watchdog.
    pub fn spawn_more<'a>(&mut self, ex: &LocalExecutor<'a>, n: usize) -> bool {
        for _ in 0..n {
            let Some((spec, idx, state)) = self.unspawned.pop_front() else { break };
            let (tls, sink, suspended) = (self.tls.clone(), self.sink.clone(), self.suspended.clone());
            // Each task's future is as large as the probe it awaits: a
            // TCP_CHECK task must not carry HTTP's buffers (7.3 KiB a task
            // with one loop for every kind, under 1 KiB this way).
            let task = match spec.probe {
                Probe::Tcp => ex.spawn(checker_loop::<TcpProbe>(spec, idx, state, tls, sink, suspended)),
                _ => ex.spawn(checker_loop::<AnyProbe>(spec, idx, state, tls, sink, suspended)),
            };
            self._tasks.push(task);
        }
        self.unspawned.is_empty()
    }

    /// Whether checkers are left for `spawn_more`.
    pub fn spawning(&self) -> bool {
        !self.unspawned.is_empty()
    }

    /// Every real server's current view: (id, alive, weight set by a checker).
    pub fn states(&self) -> Vec<(RsId, bool, Option<i32>)> {
        self.states
            .iter()
            .filter_map(|s| s.try_borrow().ok().map(|s| (s.id(), s.alive(), s.weight())))
            .collect()
    }

    /// Every real server's state as status shows it.
    pub fn report(&self) -> Vec<RsReport> {
        self.states
            .iter()
            .zip(&self.specs)
            .filter_map(|(s, specs)| {
                let s = s.try_borrow().ok()?;
                Some(report_of(&s, specs, !self.suspended.is(s.id().vs)))
            })
            .collect()
    }

    /// Every real server's state, for the next config to continue.
    pub fn snapshot(&self) -> Vec<CarriedState> {
        self.states
            .iter()
            .zip(&self.specs)
            .filter_map(|(s, specs)| {
                let st = s.try_borrow().ok()?.clone();
                Some(CarriedState { id: st.id(), state: st, checkers: specs.clone() })
            })
            .collect()
    }
}

/// How a checker task runs its probe; one implementation per future size.
trait RunProbe {
    async fn run(spec: &CheckSpec, tls: &dyn TlsConnector) -> Result<Outcome, Failure>;
}

/// TCP_CHECK only: the task holds no other probe's state.
struct TcpProbe;

impl RunProbe for TcpProbe {
    async fn run(spec: &CheckSpec, tls: &dyn TlsConnector) -> Result<Outcome, Failure> {
        match spec.probe {
            Probe::Tcp => tcp::check(&spec.target).await.map(|_| Outcome::UP),
            _ => Box::pin(run_once(spec, tls)).await,
        }
    }
}

/// Every other kind.
struct AnyProbe;

impl RunProbe for AnyProbe {
    async fn run(spec: &CheckSpec, tls: &dyn TlsConnector) -> Result<Outcome, Failure> {
        run_once(spec, tls).await
    }
}

async fn checker_loop<P: RunProbe>(
    spec: CheckSpec,
    idx: usize,
    state: Rc<RefCell<RsState>>,
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
    suspended: Suspended,
) {
    Timer::after(random_upto(spec.warmup)).await;
    loop {
        let vs = state.borrow().id().vs;
        if suspended.is(vs) {
            Timer::after(spec.policy.delay_loop.max(MIN_DELAY)).await;
            continue;
        }
        let result = P::run(&spec, &*tls).await;
        let outcome = match result {
            Ok(o) => o,
            Err(_) => Outcome::Down,
        };
        let step = {
            let mut st = state.borrow_mut();
            st.note(idx, result.err(), std::time::SystemTime::now());
            st.on_result(idx, outcome)
        };
        if let Err(f) = result {
            log::debug!(
                "{} {}: {f}{}",
                kind_name(&spec.probe),
                spec.target.dst,
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
                spec.target.dst,
                ev.real_server.rs,
                if ev.up { "up" } else { "down" }
            );
            sink(ev);
        }
        // A zero delay_loop must not turn into a busy loop.
        Timer::after(step.next.max(MIN_DELAY)).await;
    }
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
    let mut states = Vec::with_capacity(plans.len());
    let mut specs = Vec::with_capacity(plans.len());
    let mut unspawned = VecDeque::new();
    let suspended = Suspended::default();
    for p in plans {
        let policies: Vec<_> = p.checkers.iter().map(|c| c.policy).collect();
        let st = match carried(p) {
            Some(old) => RsState::carry_over(p.id, &policies, &old.state, &match_checkers(&p.checkers, &old.checkers)),
            None => RsState::new(p.id, &policies),
        };
        let state = Rc::new(RefCell::new(st));
        for (idx, spec) in p.checkers.iter().enumerate() {
            unspawned.push_back((spec.clone(), idx, state.clone()));
        }
        states.push(state);
        specs.push(p.checkers.clone());
    }
    let tasks = Vec::with_capacity(unspawned.len());
    Checkers {
        states,
        specs,
        suspended,
        unspawned,
        tls,
        sink,
        _tasks: tasks,
    }
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
