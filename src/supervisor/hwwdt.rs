//! When the parent pets the hardware watchdog (the device is `init::hwwdt`).
//!
//! The pet happens on the parent's tick (the hello interval), so it adds no
//! wake-up, and only when this pure decision says the parent is supervising:
//! every enabled child is answering, or is in a restart the parent is
//! carrying out, each state within a bound that the parent's own watchdog
//! keeps when it works. A parent whose loop is wedged never reaches the
//! tick; a parent whose loop runs but that has stopped acting on a silent
//! child fails a bound. Either way the pets stop and the hardware resets the
//! box after its timeout.

use super::SlotState;
use crate::init::hwwdt::Policy;
use std::time::{Duration, Instant};

/// A running child answers every hello within one tick, or the parent kills
/// it at the next: its last answer is never older than two ticks while the
/// parent supervises. Three allow for a late tick.
pub const RUNNING_BOUND_TICKS: u32 = 3;
/// A started child is killed if it has not answered its first hello by the
/// following tick: two ticks, and one more for lateness.
pub const STARTING_BOUND_TICKS: u32 = 3;
/// A back-off lasts at most `policy::MAX_BACKOFF`; one tick more for the
/// restart to be carried out.
pub const BACKOFF_BOUND: Duration = super::policy::MAX_BACKOFF;
/// Policy `children`: how long a child may go without answering in total
/// (its crash loop, its restarts) before the box is reset.
pub const CHILD_BOUND: Duration = Duration::from_secs(120);

/// What the decision needs to know of one child slot.
#[derive(Clone, Copy, Debug)]
pub struct SlotView {
    pub name: &'static str,
    pub enabled: bool,
    pub state: SlotState,
    /// When the slot entered `state`.
    pub since: Instant,
    /// The last answer of any incarnation of this child, or when the parent
    /// started if it never answered.
    pub last_answer: Instant,
}

/// Why the parent does not pet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotSupervising(pub String);

/// Pet or not, at `now`, given the parent's tick and its children.
/// `stopping`: a clean stop is under way (bounded by the parent's stop
/// deadline); the loop runs, so it pets.
pub fn decide(policy: Policy, stopping: bool, now: Instant, tick: Duration, slots: &[SlotView]) -> Result<(), NotSupervising> {
    if policy == Policy::Off || stopping {
        return Ok(());
    }
    let age = |t: Instant| now.saturating_duration_since(t);
    for s in slots.iter().filter(|s| s.enabled) {
        let (bound, what) = match s.state {
            // Not to be restarted (-R): the parent decided; nothing to supervise.
            SlotState::Stopped => continue,
            SlotState::Running => (tick.saturating_mul(RUNNING_BOUND_TICKS), "running, last answer"),
            SlotState::Starting => (tick.saturating_mul(STARTING_BOUND_TICKS), "starting, started"),
            SlotState::Backoff => (BACKOFF_BOUND + tick, "in back-off, failed"),
        };
        let since = if s.state == SlotState::Running { s.last_answer } else { s.since };
        if age(since) > bound {
            return Err(NotSupervising(format!(
                "{} child {what} {} ms ago (bound {} ms): the parent is not acting on it",
                s.name,
                age(since).as_millis(),
                bound.as_millis()
            )));
        }
        if policy == Policy::Children && age(s.last_answer) > CHILD_BOUND {
            return Err(NotSupervising(format!(
                "{} child unanswered for {} s (policy children, bound {} s)",
                s.name,
                age(s.last_answer).as_secs(),
                CHILD_BOUND.as_secs()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A slot at `t0 + ...`: state entered at `since`, last answer at `answer`.
    fn slot(t0: Instant, state: SlotState, since: u64, answer: u64) -> SlotView {
        SlotView { name: "vrrp", enabled: true, state, since: t0 + ms(since), last_answer: t0 + ms(answer) }
    }

    fn pets(policy: Policy, now: Instant, slots: &[SlotView]) -> bool {
        decide(policy, false, now, TICK, slots).is_ok()
    }

    #[test]
    fn answering_children_are_petted_for() {
        let t0 = Instant::now();
        let a = slot(t0, SlotState::Running, 0, 9_500);
        let b = slot(t0, SlotState::Running, 0, 9_900);
        assert!(pets(Policy::Children, t0 + ms(10_000), &[a, b]));
        // Two ticks and a bit late (a slow tick) is still supervised.
        assert!(pets(Policy::Children, t0 + ms(12_400), &[a, b]));
    }

    #[test]
    fn a_silent_running_child_the_parent_does_not_kill_stops_the_pets() {
        let t0 = Instant::now();
        let a = slot(t0, SlotState::Running, 0, 10_000);
        let ok = slot(t0, SlotState::Running, 0, 13_900);
        assert!(pets(Policy::Parent, t0 + ms(13_000), &[a, ok]));
        let e = decide(Policy::Parent, false, t0 + ms(13_001), TICK, &[a, ok]).unwrap_err();
        assert!(e.0.contains("vrrp child running"), "{e:?}");
        // Whatever the policy, except off.
        assert!(!pets(Policy::Children, t0 + ms(13_001), &[a, ok]));
        assert!(pets(Policy::Off, t0 + ms(60_000), &[a, ok]));
    }

    #[test]
    fn a_restart_in_progress_is_supervised_up_to_its_bound() {
        let t0 = Instant::now();
        // Killed at 10 s, restarted at once, not answering yet.
        let starting = slot(t0, SlotState::Starting, 10_000, 8_500);
        assert!(pets(Policy::Children, t0 + ms(12_500), &[starting]));
        assert!(pets(Policy::Children, t0 + ms(13_000), &[starting]));
        // A started child the parent never kills for not answering.
        assert!(!pets(Policy::Children, t0 + ms(13_001), &[starting]));
    }

    #[test]
    fn a_back_off_is_supervised_up_to_the_longest_back_off() {
        let t0 = Instant::now();
        let backoff = slot(t0, SlotState::Backoff, 10_000, 9_000);
        let end = 10_000 + (BACKOFF_BOUND + TICK).as_millis() as u64;
        assert!(pets(Policy::Children, t0 + ms(end), &[backoff]));
        assert!(!pets(Policy::Children, t0 + ms(end + 1), &[backoff]));
    }

    #[test]
    fn a_crash_loop_resets_under_policy_children_only() {
        let t0 = Instant::now();
        // The child last answered at 0 and has been crashing since; the
        // parent is carrying out a fresh restart each time.
        let at = CHILD_BOUND.as_millis() as u64 + 1;
        let restarting = slot(t0, SlotState::Starting, at - 500, 0);
        assert!(pets(Policy::Parent, t0 + ms(at), &[restarting]));
        let e = decide(Policy::Children, false, t0 + ms(at), TICK, &[restarting]).unwrap_err();
        assert!(e.0.contains("policy children"), "{e:?}");
    }

    #[test]
    fn disabled_and_stopped_children_do_not_count_and_a_stop_pets() {
        let t0 = Instant::now();
        let mut off = slot(t0, SlotState::Running, 0, 0);
        off.enabled = false;
        let stopped = slot(t0, SlotState::Stopped, 0, 0);
        let late = t0 + ms(1_000_000);
        assert!(pets(Policy::Children, late, &[off]));
        assert!(pets(Policy::Parent, late, &[stopped]));
        let silent = slot(t0, SlotState::Running, 0, 0);
        assert!(decide(Policy::Children, true, late, TICK, &[silent]).is_ok());
    }
}
