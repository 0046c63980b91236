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

/// Where events go. Called on the scheduler thread; must not block.
pub type EventSink = Rc<dyn Fn(CheckEvent)>;

/// The running checkers. Dropping it cancels every task (sockets close,
/// running scripts are killed by `RunningScript`'s drop).
pub struct Checkers {
    states: Vec<Rc<RefCell<RsState>>>,
    _tasks: Vec<Task<()>>,
}

impl Checkers {
    /// Every real server's current view: (id, alive, weight set by a checker).
    pub fn states(&self) -> Vec<(RsId, bool, Option<i32>)> {
        self.states
            .iter()
            .filter_map(|s| s.try_borrow().ok().map(|s| (s.id(), s.alive(), s.weight())))
            .collect()
    }
}

async fn checker_loop(
    spec: CheckSpec,
    idx: usize,
    state: Rc<RefCell<RsState>>,
    tls: Rc<dyn TlsConnector>,
    sink: EventSink,
) {
    Timer::after(random_upto(spec.warmup)).await;
    loop {
        let result = run_once(&spec, &*tls).await;
        let outcome = match result {
            Ok(o) => o,
            Err(_) => Outcome::Down,
        };
        let step = state.borrow_mut().on_result(idx, outcome);
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
    let mut states = Vec::with_capacity(plans.len());
    let mut tasks = Vec::new();
    for p in plans {
        let policies: Vec<_> = p.checkers.iter().map(|c| c.policy).collect();
        let state = Rc::new(RefCell::new(RsState::new(p.id, &policies)));
        for (idx, spec) in p.checkers.iter().enumerate() {
            let fut = checker_loop(spec.clone(), idx, state.clone(), tls.clone(), sink.clone());
            tasks.push(ex.spawn(fut));
        }
        states.push(state);
    }
    Checkers {
        states,
        _tasks: tasks,
    }
}
