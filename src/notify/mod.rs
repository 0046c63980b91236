//! What happens on a state change, as keepalived: the notify scripts in
//! order and the notify FIFO lines (scripts themselves are run by
//! `crate::script`).
//!
//! - `notify`: state-transition notifications (scripts in order, FIFO lines).
//! - `fifo`: the notify FIFO writer.

pub mod fifo;
#[allow(clippy::module_inception)]
pub mod notify;

pub use fifo::NotifyFifo;
pub use notify::{NotifyCounters, NotifyScripts, NotifyState, Notifier, Subject, fifo_line, notify_args};
