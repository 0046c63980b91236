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
//! - `prepare`: config model to runnable commands (user + security check).

pub mod fifo;
#[allow(clippy::module_inception)]
pub mod notify;
pub mod prepare;
pub mod security;
pub mod spawn;
pub mod track;
pub mod user;

pub use security::{Accepted, RefuseReason, Refused, check_script};
pub use spawn::{RunAs, RunningScript, ScriptCommand, ScriptOutcome, SpawnError, run_script};
pub use track::{ScriptState, ScriptTracker, TrackEffect, TrackEvent, TrackWeight, effective_priority, run_tracker};
pub use user::{resolve_group, resolve_user, script_run_as};
pub use fifo::NotifyFifo;
pub use notify::{NotifyCounters, NotifyScripts, NotifyState, Notifier, Subject, fifo_line, notify_args};
pub use prepare::prepare_script;
