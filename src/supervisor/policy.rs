//! When to restart a child that died or stopped answering.
//!
//! The first failure restarts at once (a crash must not cost the VRRP
//! mastership). A child that keeps failing backs off exponentially, capped,
//! so a crash loop cannot eat the appliance. The count of consecutive
//! failures is forgiven once a restarted child has proved itself healthy by
//! answering `STABLE_ANSWERS` watchdog hellos in a row.
//!
//! One answer is enough: it shows the child got through its setup and runs its
//! loop, and hellos come once per watchdog interval, so a child that dies after
//! answering is restarted at once at most once per interval (bounded work). A
//! child that dies before its first answer is the crash loop, and backs off; a
//! VRRP master whose back-off would outlast its peers' patience is handed over
//! by the parent (see `handover`).

use std::time::Duration;

pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
pub const STABLE_ANSWERS: u32 = 1;

#[derive(Clone, Debug, Default)]
pub struct RestartPolicy {
    /// Failures since the child was last stable.
    consecutive: u32,
    /// Hellos answered since the last (re)start.
    answers: u32,
}

impl RestartPolicy {
    /// The child exited or was killed by the watchdog: how long to wait
    /// before starting it again.
    pub fn on_failure(&mut self) -> Duration {
        self.consecutive = self.consecutive.saturating_add(1);
        self.answers = 0;
        match self.consecutive {
            1 => Duration::ZERO,
            n => {
                let shift = (n - 2).min(16);
                FIRST_BACKOFF.saturating_mul(1u32 << shift).min(MAX_BACKOFF)
            }
        }
    }

    /// The child answered a hello.
    pub fn on_answer(&mut self) {
        self.answers = self.answers.saturating_add(1);
        if self.answers >= STABLE_ANSWERS {
            self.consecutive = 0;
        }
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_is_immediate_then_backoff_doubles_up_to_the_cap() {
        let mut p = RestartPolicy::default();
        let delays: Vec<u64> = (0..12).map(|_| p.on_failure().as_millis() as u64).collect();
        assert_eq!(&delays[..6], &[0, 250, 500, 1000, 2000, 4000]);
        assert!(delays.iter().all(|&d| d <= MAX_BACKOFF.as_millis() as u64));
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF.as_millis() as u64);
        // Never overflows, however long the crash loop.
        for _ in 0..10_000 {
            assert!(p.on_failure() <= MAX_BACKOFF);
        }
    }

    #[test]
    fn a_stable_child_is_forgiven() {
        let mut p = RestartPolicy::default();
        p.on_failure();
        p.on_failure();
        for _ in 0..STABLE_ANSWERS - 1 {
            p.on_answer();
        }
        // Not yet stable: the next failure still backs off.
        assert_eq!(p.on_failure(), FIRST_BACKOFF * 2);
        for _ in 0..STABLE_ANSWERS {
            p.on_answer();
        }
        assert_eq!(p.consecutive_failures(), 0);
        assert_eq!(p.on_failure(), Duration::ZERO);
    }
}
