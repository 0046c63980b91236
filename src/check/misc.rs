//! MISC_CHECK (keepalived's check_misc.c): run a script, judge its exit.
//!
//! - plain: exit 0 is up, anything else (a signal, a timeout) is down;
//! - misc_dynamic: 0 is up at the configured weight, 1 is down, 2..=255 is
//!   up with weight `code - 2`.
//!
//! The script runs through `notify::run_script` (own process group, pidfd
//! awaited, the group SIGKILLed at misc_timeout): the scheduler never blocks.

use super::net::Failure;
use super::state::Outcome;
use crate::script::{ScriptCommand, ScriptOutcome, run_script};
use std::time::Duration;

/// The verdict for one script run.
pub fn judge(outcome: ScriptOutcome, dynamic: bool) -> Outcome {
    match outcome {
        ScriptOutcome::Exited(0) => Outcome::UP,
        ScriptOutcome::Exited(code @ 2..=255) if dynamic => Outcome::Up {
            weight: Some(code - 2),
        },
        _ => Outcome::Down,
    }
}

pub async fn check(
    cmd: Option<&ScriptCommand>,
    timeout: Duration,
    dynamic: bool,
) -> Result<Outcome, Failure> {
    let Some(cmd) = cmd else {
        return Err(Failure::Script);
    };
    let out = run_script(cmd, Some(timeout)).await;
    match judge(out, dynamic) {
        Outcome::Down => {
            log::debug!("MISC_CHECK {:?}: {out:?}", cmd.argv.first());
            Err(Failure::Script)
        }
        up => Ok(up),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(judge(ScriptOutcome::Exited(0), false), Outcome::UP);
        assert_eq!(judge(ScriptOutcome::Exited(1), false), Outcome::Down);
        assert_eq!(judge(ScriptOutcome::Exited(7), false), Outcome::Down);
        assert_eq!(judge(ScriptOutcome::Exited(0), true), Outcome::UP);
        assert_eq!(judge(ScriptOutcome::Exited(1), true), Outcome::Down);
        assert_eq!(
            judge(ScriptOutcome::Exited(2), true),
            Outcome::Up { weight: Some(0) }
        );
        assert_eq!(
            judge(ScriptOutcome::Exited(255), true),
            Outcome::Up { weight: Some(253) }
        );
        assert_eq!(judge(ScriptOutcome::TimedOut, true), Outcome::Down);
        assert_eq!(judge(ScriptOutcome::Signaled(9), false), Outcome::Down);
    }
}
