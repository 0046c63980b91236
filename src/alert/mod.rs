//! SMTP alerts, as keepalived sends them: a mail to every
//! `notification_email` through `smtp_server` when a VRRP instance or sync
//! group changes state, a real server goes up or down, or a virtual server
//! gains or loses its quorum.
//!
//! Each child (VRRP, checkers) owns one `Alerter`: a bounded queue and one
//! task on the child's scheduler that delivers the mails in order. Nothing
//! on the advert or check path waits for it; a server that refuses, stalls
//! or is unreachable costs a failed delivery (each step bounded by
//! `smtp_connect_timeout`), logged and counted; a full queue drops new
//! alerts and counts them (`AlertCounters`).
//!
//! - `smtp`: the client (RFC 5321) and its reply reader, dot-stuffing.
//! - `message`: subjects, bodies and the message layout of keepalived 2.2.7.
//! - `queue`: the Alerter, its settings from global_defs and its counters.
//! - `sinks`: what the VRRP engine and the checkers call.

pub mod message;
pub mod queue;
pub mod sinks;
pub mod smtp;

pub use queue::{AlertCounters, Alerter, MailSettings, QUEUE_CAPACITY};
pub use sinks::{VrrpAlerts, vrrp_enabled};
