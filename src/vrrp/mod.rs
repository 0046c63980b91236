//! VRRP (RFC 3768 v2, RFC 9568 v3), from the wire up to the engine the
//! VRRP child runs.
//!
//! - `wire`: adverts on the wire, zero-copy views and checked lengths.
//! - `fsm`: the state machine, pure: (state, input, now) -> actions.
//! - `advert`: the engine's view of an advert (ours to send, one received).
//! - `net`: the sockets (raw protocol 112, AF_PACKET for GARP, ICMPv6 NA).
//! - `instance`: one instance at run time, executing its machine's actions.
//! - `track`: interfaces, scripts, files, processes and sync groups.
//! - `watch`: vrrp_track_file and vrrp_track_process watchers.
//! - `vmac`: use_vmac's macvlan.
//! - `syncd`: lvs_sync_daemon following an instance.
//! - `reload`: what a reload does to each instance (kept, restarted, added, removed).
//! - `engine`: one task per instance on the child's scheduler.
//! - `dump`: keepalived's data, stats and JSON files, on a signal.

pub mod advert;
pub mod dump;
pub mod engine;
pub mod fsm;
pub mod instance;
pub mod net;
pub mod reload;
pub mod syncd;
pub mod track;
pub mod watch;
pub mod vmac;
pub mod wire;
