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
    /// Each real server's checkers, to match them with a new config's.
    specs: Vec<Vec<CheckSpec>>,
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
    /// Every real server's current view: (id, alive, weight set by a checker).
    pub fn states(&self) -> Vec<(RsId, bool, Option<i32>)> {
        self.states
            .iter()
            .filter_map(|s| s.try_borrow().ok().map(|s| (s.id(), s.alive(), s.weight())))
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
    let mut states = Vec::with_capacity(plans.len());
    let mut specs = Vec::with_capacity(plans.len());
    let mut tasks = Vec::new();
    for p in plans {
        let policies: Vec<_> = p.checkers.iter().map(|c| c.policy).collect();
        let st = match carried(p) {
            Some(old) => RsState::carry_over(p.id, &policies, &old.state, &match_checkers(&p.checkers, &old.checkers)),
            None => RsState::new(p.id, &policies),
        };
        let state = Rc::new(RefCell::new(st));
        for (idx, spec) in p.checkers.iter().enumerate() {
            let fut = checker_loop(spec.clone(), idx, state.clone(), tls.clone(), sink.clone());
            tasks.push(ex.spawn(fut));
        }
        states.push(state);
        specs.push(p.checkers.clone());
    }
    Checkers {
        states,
        specs,
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
}
