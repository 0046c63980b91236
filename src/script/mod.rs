//! Scripts that never block the scheduler, with keepalived's semantics.
//!
//! - `spawn`: one script run as a child (own process group, pidfd-awaited,
//!   timeout kills the group).
//! - `helper`: the process a child's scripts are started from, forked
//!   before the child drops its privileges, so scripts keep keepalived's.
//! - `user`: who a script runs as (script user resolution).
//! - `security`: enable_script_security's checks at config time.
//! - `prepare`: config model to runnable commands (user + security check).
//! - `track`: vrrp_script rise/fall/weight state machine and its runner.
//!
//! What is run on a state change, and the notify FIFO, is `notify`'s.

pub mod helper;
pub mod prepare;
pub mod security;
pub mod spawn;
pub mod track;
pub mod user;

pub use prepare::prepare_script;
pub use security::{Accepted, RefuseReason, Refused, check_script};
pub use spawn::{RunAs, RunningScript, ScriptCommand, ScriptOutcome, SpawnError, run_script};
pub use track::{ScriptState, ScriptTracker, TrackEffect, TrackEvent, TrackWeight, effective_priority, run_tracker};
pub use user::{resolve_group, resolve_user, script_run_as};
