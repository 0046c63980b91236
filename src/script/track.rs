//! vrrp_script tracking, as keepalived 2.2.7 (vrrp_scheduler.c's script
//! exit handler and vrrp_track.c's priority updates).
//!
//! `ScriptTracker` is a pure state machine over run results: keepalived keeps
//! one counter `result` in 0..=rise+fall-1; the script is up when
//! `result >= rise`. A success below `rise-1` counts up; reaching `rise`
//! makes it up and jumps to the top. A failure above `rise` counts down;
//! otherwise it is down and the counter resets to 0. A script starts in INIT
//! with `result = rise-1`, so its first run decides (one success: up, one
//! failure: down); with `init_fail` it starts down with `result = 0` and
//! needs `rise` successes.
//!
//! `TrackWeight::effect` turns a state into what it does to one tracking
//! instance: a non-zero weight adds `weight` (times -1 when `reverse`) when
//! up if positive, when down if negative, nothing otherwise; weight 0 puts
//! the instance in FAULT when down (up with `reverse`), and an instance
//! waits while a weight-0 script is still INIT.

use super::spawn::{ScriptCommand, ScriptOutcome, run_script};
use crate::config::model::{TrackRef, VrrpScript};
use async_io::Timer;
use std::time::{Duration, Instant};

/// What a tracked script currently says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptState {
    /// Not run yet (no `init_fail`).
    Init,
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitPhase {
    Init,
    Failed,
    Done,
}

/// rise/fall/init_fail bookkeeping for one vrrp_script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptTracker {
    rise: u32,
    fall: u32,
    result: u32,
    phase: InitPhase,
}

impl ScriptTracker {
    /// rise and fall below 1 are taken as 1 (the config refuses them).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> ScriptTracker {
        let rise = rise.max(1);
        let fall = fall.max(1);
        if init_fail {
            ScriptTracker { rise, fall, result: 0, phase: InitPhase::Failed }
        } else {
            ScriptTracker { rise, fall, result: rise - 1, phase: InitPhase::Init }
        }
    }

    pub fn from_config(def: &VrrpScript) -> ScriptTracker {
        ScriptTracker::new(def.rise, def.fall, def.init_fail)
    }

    /// A tracker that goes on from `state` (a reload keeps a script's
    /// result, as keepalived does): Up at the top of its range, so that
    /// `fall` failures bring it down; Down at the bottom, so that `rise`
    /// successes bring it up.
    pub fn resume(def: &VrrpScript, state: ScriptState) -> ScriptTracker {
        let mut t = ScriptTracker::from_config(def);
        match state {
            ScriptState::Init => {}
            ScriptState::Up => {
                t.result = t.rise + t.fall - 1;
                t.phase = InitPhase::Done;
            }
            ScriptState::Down => {
                t.result = 0;
                t.phase = InitPhase::Done;
            }
        }
        t
    }

    pub fn state(&self) -> ScriptState {
        match self.phase {
            InitPhase::Init => ScriptState::Init,
            InitPhase::Failed => ScriptState::Down,
            InitPhase::Done if self.result >= self.rise => ScriptState::Up,
            InitPhase::Done => ScriptState::Down,
        }
    }

    /// Feeds one run's result; returns the new state when it changed.
    pub fn record(&mut self, success: bool) -> Option<ScriptState> {
        let before = self.state();
        let top = self.rise + self.fall - 1;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
        }
        self.phase = InitPhase::Done;
        let after = self.state();
        (after != before).then_some(after)
    }
}

/// The weight one instance (or sync group) gives one tracked script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackWeight {
    pub weight: i32,
    pub reverse: bool,
}

/// What a script's state does to a tracking instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackEffect {
    /// Added to the instance's priority (possibly 0).
    Priority(i32),
    /// Weight-0 script failed (or succeeded, with reverse): instance FAULT.
    Fault,
    /// Weight-0 script not run yet: the instance stays in INIT.
    Waiting,
}

impl TrackWeight {
    /// The `track_script { NAME [weight W [reverse]] }` entry's weight
    /// overrides the script's own; without one, the script's weight and
    /// `reverse` apply (a `reverse` on the entry also counts).
    pub fn for_ref(def: &VrrpScript, tref: &TrackRef) -> TrackWeight {
        match tref.weight {
            Some(weight) => TrackWeight { weight, reverse: tref.reverse },
            None => TrackWeight { weight: def.weight, reverse: def.weight_reverse || tref.reverse },
        }
    }

    pub fn effect(&self, state: ScriptState) -> TrackEffect {
        let sign = if self.reverse { -1 } else { 1 };
        match (self.weight, state) {
            (0, ScriptState::Init) => TrackEffect::Waiting,
            (0, ScriptState::Up) if self.reverse => TrackEffect::Fault,
            (0, ScriptState::Down) if !self.reverse => TrackEffect::Fault,
            (0, _) => TrackEffect::Priority(0),
            (w, ScriptState::Up) if w > 0 => TrackEffect::Priority(w * sign),
            (w, ScriptState::Down) if w < 0 => TrackEffect::Priority(w * sign),
            _ => TrackEffect::Priority(0),
        }
    }
}

/// keepalived's `vrrp_set_effective_priority`: the address owner (255)
/// never moves; anyone else is clamped to 1..=254.
pub fn effective_priority(base: u8, deltas: impl IntoIterator<Item = i32>) -> u8 {
    if base == 255 {
        return 255;
    }
    let total = deltas.into_iter().fold(base as i64, |acc, d| acc + d as i64);
    total.clamp(1, 254) as u8
}

/// Reported by `run_tracker` when a script's state changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackEvent {
    pub state: ScriptState,
    /// The run that caused the change (1 = the first run).
    pub run: u64,
    pub outcome: ScriptOutcome,
}

/// Runs `script` every `interval` (the first run at once) with `timeout`,
/// feeds `tracker` and calls `on_change` on each state change. Runs forever
/// on the current scheduler; drop the future (or its task) to stop it, which
/// kills a run in progress. A run that overruns the interval delays the
/// next one (keepalived skips a run while the previous is still running).
/// A timed-out, signalled or unstartable run is a failure.
pub async fn run_tracker(
    script: &ScriptCommand,
    mut tracker: ScriptTracker,
    interval: Duration,
    timeout: Duration,
    mut on_change: impl FnMut(TrackEvent),
) {
    let mut next = Instant::now();
    let mut run: u64 = 0;
    loop {
        run += 1;
        let outcome = run_script(script, Some(timeout)).await;
        if let ScriptOutcome::SpawnFailed(e) = outcome {
            log::warn!("VRRP_Script({}) {e}", script.argv.first().map(String::as_str).unwrap_or(""));
        }
        if let Some(state) = tracker.record(outcome.success()) {
            on_change(TrackEvent { state, run, outcome });
        }
        next += interval.max(Duration::from_millis(1));
        let now = Instant::now();
        if next < now {
            next = now;
        }
        Timer::at(next).await;
    }
}

/// keepalived's defaults: timeout = interval when not configured.
pub fn intervals(def: &VrrpScript) -> (Duration, Duration) {
    let interval = Duration::from_secs(def.interval.max(1) as u64);
    let timeout = def.timeout.map(|t| Duration::from_secs(t.max(1) as u64)).unwrap_or(interval);
    (interval, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScriptState::*;

    fn feed(t: &mut ScriptTracker, runs: &str) -> Vec<Option<ScriptState>> {
        runs.chars().map(|c| t.record(c == '+')).collect()
    }

    #[test]
    fn first_run_decides_without_init_fail() {
        for (rise, fall) in [(1, 1), (3, 2), (5, 5)] {
            let mut t = ScriptTracker::new(rise, fall, false);
            assert_eq!(t.state(), Init);
            assert_eq!(t.record(true), Some(Up), "rise {rise}");
            let mut t = ScriptTracker::new(rise, fall, false);
            assert_eq!(t.record(false), Some(Down), "fall {fall}");
        }
    }

    #[test]
    fn init_fail_starts_down_and_needs_rise() {
        let mut t = ScriptTracker::new(3, 2, true);
        assert_eq!(t.state(), Down);
        assert_eq!(feed(&mut t, "++"), vec![None, None]);
        assert_eq!(t.record(true), Some(Up));
    }

    #[test]
    fn fall_and_rise_counts() {
        let mut t = ScriptTracker::new(2, 3, false);
        assert_eq!(t.record(true), Some(Up));
        assert_eq!(feed(&mut t, "--"), vec![None, None]);
        assert_eq!(t.record(false), Some(Down));
        // A success in between restores the full margin.
        assert_eq!(feed(&mut t, "+"), vec![None]);
        assert_eq!(t.record(true), Some(Up));
        assert_eq!(feed(&mut t, "--+--"), vec![None, None, None, None, None]);
        assert_eq!(t.record(false), Some(Down));
        // Down: a failure between successes starts the rise over.
        assert_eq!(feed(&mut t, "+-+"), vec![None, None, None]);
        assert_eq!(t.record(true), Some(Up));
    }

    #[test]
    fn weights_table() {
        use TrackEffect::*;
        let w = |weight, reverse| TrackWeight { weight, reverse };
        let table = [
            // weight, reverse, state, effect
            (w(10, false), Up, Priority(10)),
            (w(10, false), Down, Priority(0)),
            (w(10, false), Init, Priority(0)),
            (w(-60, false), Up, Priority(0)),
            (w(-60, false), Down, Priority(-60)),
            (w(10, true), Up, Priority(-10)),
            (w(10, true), Down, Priority(0)),
            (w(-60, true), Up, Priority(0)),
            (w(-60, true), Down, Priority(60)),
            (w(0, false), Up, Priority(0)),
            (w(0, false), Down, Fault),
            (w(0, false), Init, Waiting),
            (w(0, true), Up, Fault),
            (w(0, true), Down, Priority(0)),
            (w(0, true), Init, Waiting),
        ];
        for (tw, state, want) in table {
            assert_eq!(tw.effect(state), want, "{tw:?} {state:?}");
        }
    }

    #[test]
    fn ref_weight_overrides_script_weight() {
        let def = VrrpScript { weight: -20, weight_reverse: true, ..Default::default() };
        let r = TrackRef { name: "s".into(), weight: None, reverse: false };
        assert_eq!(TrackWeight::for_ref(&def, &r), TrackWeight { weight: -20, reverse: true });
        let r = TrackRef { name: "s".into(), weight: Some(5), reverse: false };
        assert_eq!(TrackWeight::for_ref(&def, &r), TrackWeight { weight: 5, reverse: false });
    }

    #[test]
    fn effective_priority_clamps() {
        assert_eq!(effective_priority(100, [-60, 10]), 50);
        assert_eq!(effective_priority(100, [-200]), 1);
        assert_eq!(effective_priority(200, [100]), 254);
        assert_eq!(effective_priority(255, [-100]), 255);
    }

    #[test]
    fn resumed_tracker_goes_on_from_the_state_it_had() {
        let def = VrrpScript { rise: 2, fall: 3, ..VrrpScript::default() };
        let mut up = ScriptTracker::resume(&def, Up);
        assert_eq!(up.state(), Up);
        assert_eq!(feed(&mut up, "--+"), vec![None, None, None]);
        assert_eq!(feed(&mut up, "---"), vec![None, None, Some(Down)]);
        let mut down = ScriptTracker::resume(&def, Down);
        assert_eq!(down.state(), Down);
        assert_eq!(feed(&mut down, "-++"), vec![None, None, Some(Up)]);
        assert_eq!(ScriptTracker::resume(&def, Init), ScriptTracker::from_config(&def));
    }
}
