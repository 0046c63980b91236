//! Scripts that never block the scheduler: vrrp_script tracking, notify
//! scripts and the notify FIFO, with keepalived's semantics.
//!
//! - `spawn`: one script run as a child (own process group, pidfd-awaited,
//!   timeout kills the group).
//! - `user`: who a script runs as (script user resolution).
//! - `security`: enable_script_security's checks at config time.
//! - `track`: vrrp_script rise/fall/weight state machine and its runner.
//! - `fifo`: the notify FIFO writer.
//! - `notify`: state-transition notifications (scripts in order, FIFO lines).

pub mod fifo;
pub mod security;
pub mod spawn;
pub mod track;
pub mod user;

pub use security::{Accepted, RefuseReason, Refused, check_script};
pub use spawn::{RunAs, RunningScript, ScriptCommand, ScriptOutcome, SpawnError, run_script};
pub use track::{ScriptState, ScriptTracker, TrackEffect, TrackEvent, TrackWeight, effective_priority, run_tracker};
pub use user::{resolve_group, resolve_user, script_run_as};
