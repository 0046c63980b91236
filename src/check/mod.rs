//! Health checkers (keepalived's check/): TCP_CHECK, HTTP_GET, SSL_GET,
//! SMTP_CHECK, MISC_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK.
//!
//! - `plan`: config model to `RealServerPlan`s, every keepalived default
//!   resolved once.
//! - `state`: pure retry / real-server state machines (`RsState`).
//! - `runner`: one task per checker on a smol `LocalExecutor`, events out.
//! - one module per probe; `net` holds sockets and timeouts; `tls` the
//!   trait SSL_GET's TLS plugs into; `http::genhash` the digest keepalived's
//!   genhash prints.

pub mod dns;
pub mod few;
pub mod file;
pub mod http;
pub mod misc;
pub mod net;
pub mod ping;
pub mod plan;
pub mod runner;
mod slots;
pub mod smtp;
pub mod state;
pub mod tcp;
pub mod tls;
/// SSL_GET over rustls.
pub mod tls_rustls;
pub mod udp;

pub use http::{genhash, hex as digest_hex};
pub use net::Failure;
pub use plan::{CheckSpec, Probe, RealServerPlan, Target, UrlSpec, http_request, plan};
pub use runner::{Checkers, EventSink, run_once, spawn_checkers};
pub use state::{
    checks_run,
    CheckEvent, CheckEventKind, CheckerRetry, Outcome, RetryPolicy, RsId, RsState, Step,
};
pub use tls::{NoTls, TlsConnector, TlsStream};
