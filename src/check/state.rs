//! keepalived's retry rules and real-server aggregation, as pure state
//! machines: outcomes in, events and the next delay out. No I/O, no clock.
//!
//! Per checker (keepalived's `*_epilog`, e.g. check_udp.c):
//! - A checker starts up (down with `alpha`), with `retry_it = retry` and
//!   `has_run = false`: the very first failure takes it down at once.
//! - Once it has succeeded, a checker that is up goes down only after
//!   `retry + 1` consecutive failures, the retries spaced by
//!   `delay_before_retry`; the checks in between by `delay_loop`.
//! - A checker that is down is not retried: one check per `delay_loop`,
//!   and the first success brings it up.
//!
//! Per real server (keepalived's `update_svr_checker_state`): it is alive
//! while none of its checkers is down.

use std::time::Duration;

/// Checks run in this process (every outcome fed to a real server's state).
static CHECKS_RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many checks this process has run: the checker child reports it to
/// the parent with each hello answer (`vigil status`: checks_run).
pub fn checks_run() -> u64 {
    CHECKS_RUN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Which real server: the indices of its virtual server in the config and of
/// the real server inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsId {
    pub vs: u16,
    pub rs: u16,
}

/// What one run of a checker found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Healthy. `weight`: the weight the real server should now have, for
    /// checkers that set one (MISC_CHECK misc_dynamic, FILE_CHECK).
    Up {
        weight: Option<i32>,
    },
    Down,
}

impl Outcome {
    pub const UP: Outcome = Outcome::Up { weight: None };
}

/// The output the checker child acts on: a real server's health (IPVS
/// destination in or out) or its weight changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckEventKind {
    Health,
    Weight,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckEvent {
    pub real_server: RsId,
    /// Which of the real server's checkers decided (its index in the
    /// real server's checker list): SMTP alerts name the checker.
    pub checker: u16,
    pub up: bool,
    /// The real server's weight now, when a checker set one (else the
    /// configured weight applies).
    pub weight: Option<i32>,
    pub kind: CheckEventKind,
}

/// The timing of one checker, defaults already applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retry: u32,
    pub delay_loop: Duration,
    pub delay_before_retry: Duration,
    /// Starts down (keepalived `alpha`).
    pub alpha: bool,
}

/// One checker's retry state (keepalived's is_up / has_run / retry_it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerRetry {
    policy: PackedPolicy,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
}

/// A `RetryPolicy` as each real server's checker keeps it: its delays in
/// nanoseconds (584 years fit), 24 bytes rather than 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedPolicy {
    delay_loop_ns: u64,
    delay_before_retry_ns: u64,
    retry: u32,
    alpha: bool,
}

impl PackedPolicy {
    fn pack(p: RetryPolicy) -> PackedPolicy {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        PackedPolicy { delay_loop_ns: ns(p.delay_loop), delay_before_retry_ns: ns(p.delay_before_retry), retry: p.retry, alpha: p.alpha }
    }

    fn unpack(self) -> RetryPolicy {
        RetryPolicy {
            retry: self.retry,
            delay_loop: Duration::from_nanos(self.delay_loop_ns),
            delay_before_retry: Duration::from_nanos(self.delay_before_retry_ns),
            alpha: self.alpha,
        }
    }
}

/// What a checker result changed, and when to run next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryStep {
    /// Some(new state) when the checker changed state (or reported its
    /// first result, which keepalived always applies).
    pub became: Option<bool>,
    pub next: Duration,
    /// The failure was counted as a retry (not yet a state change).
    pub retrying: bool,
}

impl CheckerRetry {
    pub fn new(policy: RetryPolicy) -> CheckerRetry {
        CheckerRetry {
            policy: PackedPolicy::pack(policy),
            is_up: !policy.alpha,
            has_run: false,
            retry_it: policy.retry,
        }
    }

    pub fn is_up(&self) -> bool {
        self.is_up
    }

    /// Whether the checker has reported a result yet.
    pub fn has_run(&self) -> bool {
        self.has_run
    }

    /// The state of `old` carried to this checker at a reload (keepalived's
    /// migrate_checkers): same up/down and has-run; a down checker needs
    /// one success; an up one keeps the failures it counted, capped so
    /// that one more failure is enough when the new retry is lower.
    fn carry(&mut self, old: &CheckerRetry) {
        self.is_up = old.is_up;
        self.has_run = old.has_run;
        self.retry_it = if !self.is_up { self.policy.retry } else { old.retry_it.min(self.policy.retry) };
    }

    /// keepalived's `retry_it` as it stands: `retry` before the first
    /// run, then the failures counted since the last decision.
    pub fn retry_it(&self) -> u32 {
        self.retry_it
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy.unpack()
    }

    /// Consecutive failures counted since the last state change or success.
    pub fn retries_used(&self) -> u32 {
        if self.has_run { self.retry_it } else { 0 }
    }

    pub fn on_result(&mut self, success: bool) -> RetryStep {
        let p = self.policy.unpack();
        let first = !self.has_run;
        self.has_run = true;
        if success || ((self.is_up || first) && self.retry_it >= p.retry) {
            self.retry_it = 0;
            let became = if success && (!self.is_up || first) {
                self.is_up = true;
                Some(true)
            } else if !success && (self.is_up || first) {
                self.is_up = false;
                Some(false)
            } else {
                None
            };
            RetryStep {
                became,
                next: p.delay_loop,
                retrying: false,
            }
        } else if self.is_up {
            self.retry_it = self.retry_it.saturating_add(1);
            RetryStep {
                became: None,
                next: p.delay_before_retry,
                retrying: true,
            }
        } else {
            RetryStep {
                became: None,
                next: p.delay_loop,
                retrying: false,
            }
        }
    }
}

/// One real server: its checkers' retry states, and whether it is alive.
#[derive(Clone, Debug)]
pub struct RsState {
    id: RsId,
    /// Each checker's retry state, the weight it set and its latest run:
    /// one allocation per real server (they were three vectors).
    checkers: super::few::Few<CheckerSlot>,
    alive: bool,
    weight: Option<i32>,
    /// Checks run on this real server (all its checkers), for status.
    checks_run: u64,
    last: Option<LastCheck>,
}

/// One checker of a real server, as `RsState` keeps it.
#[derive(Clone, Debug)]
struct CheckerSlot {
    retry: CheckerRetry,
    /// The weight it set (MISC_CHECK misc_dynamic, FILE_CHECK).
    weight: Option<i32>,
    /// Its latest run, for the data dump.
    run: Option<CheckerRun>,
}

/// One checker's latest run: when (the caller's clock) and what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckerRun {
    pub at: std::time::SystemTime,
    pub failure: Option<super::net::Failure>,
}

/// The latest check run on a real server: which checker, and why it
/// failed (None: it succeeded). Plain values, kept without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastCheck {
    pub checker: u16,
    pub failure: Option<super::net::Failure>,
}

/// The result of feeding one outcome to a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub event: Option<CheckEvent>,
    /// When this checker runs next.
    pub next: Duration,
    pub retrying: bool,
}

impl RsState {
    pub fn new(id: RsId, policies: &[RetryPolicy]) -> RsState {
        let checkers: super::few::Few<CheckerSlot> =
            policies.iter().map(|p| CheckerSlot { retry: CheckerRetry::new(*p), weight: None, run: None }).collect();
        let alive = checkers.iter().all(|c| c.retry.is_up);
        RsState {
            id,
            checkers,
            alive,
            weight: None,
            checks_run: 0,
            last: None,
        }
    }

    /// A reloaded real server's state: `old` is its state under the
    /// previous config, `matches[i]` the index in `old` of the checker that
    /// new checker `i` continues (same probe and target), if any.
    ///
    /// As keepalived's migrate_checkers: continued checkers keep their
    /// state. New checkers start up (their first failure takes them down),
    /// except alpha ones when the real server has a failed checker or was
    /// down with no checker run yet: those start down. So a real server
    /// that was up stays up and one that was down stays down until a check
    /// says otherwise; no event is due for either.
    pub fn carry_over(id: RsId, policies: &[RetryPolicy], old: &RsState, matches: &[Option<usize>]) -> RsState {
        let mut rs = RsState::new(id, policies);
        for (i, c) in rs.checkers.iter_mut().enumerate() {
            // New alpha checkers start up unless decided below.
            c.retry.is_up = true;
            if let Some(o) = matches.get(i).copied().flatten().and_then(|j| old.checkers.get(j)) {
                c.retry.carry(&o.retry);
                c.weight = o.weight;
                c.run = o.run;
            }
        }
        let any_failed = rs.checkers.iter().any(|c| c.retry.has_run && !c.retry.is_up);
        let any_run = rs.checkers.iter().any(|c| c.retry.has_run);
        if any_failed || (!old.alive && !any_run) {
            for c in rs.checkers.iter_mut().filter(|c| !c.retry.has_run && c.retry.policy.alpha) {
                c.retry.is_up = false;
            }
        }
        rs.alive = rs.checkers.iter().all(|c| c.retry.is_up);
        rs.weight = rs.checkers.iter().rev().find_map(|c| c.weight);
        rs.checks_run = old.checks_run;
        rs.last = old.last;
        rs
    }

    /// Records what checker `idx`'s run at `at` found, for status and
    /// the data dump.
    pub fn note(&mut self, idx: usize, failure: Option<super::net::Failure>, at: std::time::SystemTime) {
        self.checks_run += 1;
        self.last = Some(LastCheck { checker: idx as u16, failure });
        if let Some(c) = self.checkers.get_mut(idx) {
            c.run = Some(CheckerRun { at, failure });
        }
    }

    /// Checker `idx`'s latest run.
    pub fn checker_run(&self, idx: usize) -> Option<CheckerRun> {
        self.checkers.get(idx).and_then(|c| c.run)
    }

    /// The weight checker `idx` set (keepalived's `cur_weight`).
    pub fn checker_weight(&self, idx: usize) -> Option<i32> {
        self.checkers.get(idx).and_then(|c| c.weight)
    }

    pub fn checks_run(&self) -> u64 {
        self.checks_run
    }

    pub fn last(&self) -> Option<LastCheck> {
        self.last
    }

    pub fn id(&self) -> RsId {
        self.id
    }

    /// A reload gave the real server another place in the config.
    pub fn set_id(&mut self, id: RsId) {
        self.id = id;
    }

    /// Alive before any check has run: false when a checker is in alpha mode.
    pub fn alive(&self) -> bool {
        self.alive
    }

    pub fn weight(&self) -> Option<i32> {
        self.weight
    }

    pub fn checker(&self, idx: usize) -> Option<&CheckerRetry> {
        self.checkers.get(idx).map(|c| &c.retry)
    }

    /// Feeds checker `idx`'s outcome. An unknown index changes nothing and
    /// asks for no rerun sooner than a second.
    pub fn on_result(&mut self, idx: usize, outcome: Outcome) -> Step {
        CHECKS_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(c) = self.checkers.get_mut(idx) else {
            return Step {
                event: None,
                next: Duration::from_secs(1),
                retrying: false,
            };
        };
        let success = matches!(outcome, Outcome::Up { .. });
        let first_while_down = !c.retry.has_run && !c.retry.is_up;
        let step = c.retry.on_result(success);
        let mut weight_changed = false;
        if let Outcome::Up { weight } = outcome
            && c.weight != weight
        {
            c.weight = weight;
            // The last checker to set a weight wins (keepalived has one
            // dynamic weight per real server too).
            let w = self.checkers.iter().rev().find_map(|c| c.weight);
            weight_changed = w != self.weight;
            self.weight = w;
        }
        let alive = self.checkers.iter().all(|c| c.retry.is_up);
        let event = if alive != self.alive {
            self.alive = alive;
            Some(CheckEventKind::Health)
        } else if first_while_down && !success {
            // An alpha checker's first failure changes nothing (it started
            // down) but keepalived still notifies it: notify_down runs.
            Some(CheckEventKind::Health)
        } else if weight_changed {
            Some(CheckEventKind::Weight)
        } else {
            None
        };
        let event = event.map(|kind| CheckEvent {
            real_server: self.id,
            checker: idx as u16,
            up: self.alive,
            weight: self.weight,
            kind,
        });
        Step {
            event,
            next: step.next,
            retrying: step.retrying,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: RsId = RsId { vs: 0, rs: 0 };

    fn policy(retry: u32, alpha: bool) -> RetryPolicy {
        RetryPolicy {
            retry,
            delay_loop: Duration::from_secs(6),
            delay_before_retry: Duration::from_secs(1),
            alpha,
        }
    }

    fn feed(rs: &mut RsState, outcomes: &[bool]) -> Vec<(Option<bool>, u64)> {
        outcomes
            .iter()
            .map(|&ok| {
                let s = rs.on_result(0, if ok { Outcome::UP } else { Outcome::Down });
                (s.event.map(|e| e.up), s.next.as_secs())
            })
            .collect()
    }

    #[test]
    fn a_checkers_policy_is_kept_packed_and_whole() {
        let p = RetryPolicy { retry: 7, delay_loop: Duration::from_micros(2_500_001), delay_before_retry: Duration::from_secs(86_400 * 365), alpha: true };
        assert_eq!(CheckerRetry::new(p).policy(), p);
        assert!(std::mem::size_of::<CheckerRetry>() <= 32, "{}", std::mem::size_of::<CheckerRetry>());
    }

    #[test]
    fn first_failure_takes_it_down_at_once() {
        let mut rs = RsState::new(ID, &[policy(3, false)]);
        assert!(rs.alive());
        assert_eq!(feed(&mut rs, &[false]), vec![(Some(false), 6)]);
    }

    #[test]
    fn after_a_success_down_needs_retry_plus_one_failures() {
        let mut rs = RsState::new(ID, &[policy(2, false)]);
        let got = feed(&mut rs, &[true, false, false, false]);
        assert_eq!(got, vec![(None, 6), (None, 1), (None, 1), (Some(false), 6)]);
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let mut rs = RsState::new(ID, &[policy(1, false)]);
        let got = feed(&mut rs, &[true, false, true, false, false]);
        assert_eq!(
            got,
            vec![(None, 6), (None, 1), (None, 6), (None, 1), (Some(false), 6)]
        );
    }

    #[test]
    fn down_is_not_retried_and_first_success_brings_it_up() {
        let mut rs = RsState::new(ID, &[policy(2, false)]);
        let got = feed(&mut rs, &[false, false, false, true]);
        assert_eq!(
            got,
            vec![(Some(false), 6), (None, 6), (None, 6), (Some(true), 6)]
        );
    }

    #[test]
    fn retry_zero_goes_down_on_the_first_failure() {
        let mut rs = RsState::new(ID, &[policy(0, false)]);
        assert_eq!(
            feed(&mut rs, &[true, false]),
            vec![(None, 6), (Some(false), 6)]
        );
    }

    #[test]
    fn alpha_starts_down() {
        let mut rs = RsState::new(ID, &[policy(1, true)]);
        assert!(!rs.alive());
        assert_eq!(feed(&mut rs, &[true]), vec![(Some(true), 6)]);
        let mut rs = RsState::new(ID, &[policy(1, true)]);
        // The first failure is reported although nothing changed
        // (keepalived notifies it), later ones are not.
        assert_eq!(
            feed(&mut rs, &[false, false, true]),
            vec![(Some(false), 6), (None, 6), (Some(true), 6)]
        );
    }

    #[test]
    fn real_server_alive_only_while_every_checker_is_up() {
        let mut rs = RsState::new(ID, &[policy(0, false), policy(0, false)]);
        assert_eq!(
            rs.on_result(0, Outcome::Down).event.map(|e| e.up),
            Some(false)
        );
        assert_eq!(rs.on_result(1, Outcome::Down).event, None);
        assert_eq!(rs.on_result(0, Outcome::UP).event, None);
        assert_eq!(rs.on_result(1, Outcome::UP).event.map(|e| e.up), Some(true));
    }

    #[test]
    fn weights_are_reported_once_per_change() {
        let mut rs = RsState::new(ID, &[policy(0, false)]);
        let e = rs.on_result(0, Outcome::Up { weight: Some(5) }).event;
        assert_eq!(
            e.map(|e| (e.kind, e.weight)),
            Some((CheckEventKind::Weight, Some(5)))
        );
        assert_eq!(rs.on_result(0, Outcome::Up { weight: Some(5) }).event, None);
        let e = rs.on_result(0, Outcome::UP).event;
        assert_eq!(e.map(|e| e.weight), Some(None));
    }

    #[test]
    fn unknown_checker_index_is_harmless() {
        let mut rs = RsState::new(ID, &[]);
        assert_eq!(rs.on_result(7, Outcome::Down).event, None);
    }

    #[test]
    fn alpha_first_failure_is_reported_once() {
        // keepalived runs notify_down for an alpha checker's first failure
        // although the real server started down.
        let mut rs = RsState::new(ID, &[policy(1, true)]);
        let e = rs.on_result(0, Outcome::Down).event;
        assert_eq!(e.map(|e| (e.kind, e.up)), Some((CheckEventKind::Health, false)));
        assert_eq!(rs.on_result(0, Outcome::Down).event, None);
        // Not for a non-alpha checker whose first result is a success.
        let mut rs = RsState::new(ID, &[policy(1, false)]);
        assert_eq!(rs.on_result(0, Outcome::UP).event, None);
    }

    #[test]
    fn carried_over_down_stays_down_until_a_success() {
        let mut old = RsState::new(ID, &[policy(2, false)]);
        old.on_result(0, Outcome::Down);
        assert!(!old.alive());
        let new_id = RsId { vs: 3, rs: 1 };
        let mut rs = RsState::carry_over(new_id, &[policy(2, false)], &old, &[Some(0)]);
        assert!(!rs.alive());
        assert_eq!(rs.id(), new_id);
        // Another failure: no event (it is still down, and not a first run).
        assert_eq!(rs.on_result(0, Outcome::Down).event, None);
        let e = rs.on_result(0, Outcome::UP).event.unwrap();
        assert_eq!((e.real_server, e.up), (new_id, true));
    }

    #[test]
    fn carried_over_up_stays_up_even_with_alpha() {
        let mut old = RsState::new(ID, &[policy(1, true)]);
        old.on_result(0, Outcome::UP);
        assert!(old.alive());
        let mut rs = RsState::carry_over(ID, &[policy(1, true)], &old, &[Some(0)]);
        assert!(rs.alive());
        // No event for the next success (no flap), and the retry count
        // applies: one failure is retried, the second takes it down.
        assert_eq!(rs.on_result(0, Outcome::UP).event, None);
        assert_eq!(rs.on_result(0, Outcome::Down).event, None);
        assert_eq!(rs.on_result(0, Outcome::Down).event.map(|e| e.up), Some(false));
    }

    #[test]
    fn carry_over_caps_counted_retries_at_the_new_retry() {
        let mut old = RsState::new(ID, &[policy(3, false)]);
        old.on_result(0, Outcome::UP);
        old.on_result(0, Outcome::Down);
        old.on_result(0, Outcome::Down);
        assert_eq!(old.checker(0).unwrap().retries_used(), 2);
        let mut rs = RsState::carry_over(ID, &[policy(1, false)], &old, &[Some(0)]);
        assert_eq!(rs.on_result(0, Outcome::Down).event.map(|e| e.up), Some(false));
    }

    #[test]
    fn new_checkers_on_a_carried_over_server() {
        // A new alpha checker on a server that was up starts up (no flap).
        let mut old = RsState::new(ID, &[policy(1, false)]);
        old.on_result(0, Outcome::UP);
        let rs = RsState::carry_over(ID, &[policy(1, false), policy(1, true)], &old, &[Some(0), None]);
        assert!(rs.alive());
        // On a server with a failed checker it starts down.
        let mut old = RsState::new(ID, &[policy(0, false)]);
        old.on_result(0, Outcome::Down);
        let rs = RsState::carry_over(ID, &[policy(0, false), policy(1, true)], &old, &[Some(0), None]);
        assert!(!rs.alive());
        assert!(!rs.checker(1).unwrap().is_up());
        // The failed checker gone, nothing failed: the server is up again.
        let rs = RsState::carry_over(ID, &[policy(1, false)], &old, &[None]);
        assert!(rs.alive());
        // Weights set by a checker are carried too.
        let mut old = RsState::new(ID, &[policy(0, false)]);
        old.on_result(0, Outcome::Up { weight: Some(9) });
        let rs = RsState::carry_over(ID, &[policy(0, false)], &old, &[Some(0)]);
        assert_eq!(rs.weight(), Some(9));
    }
}
