//! IPVS: a client for the kernel's "IPVS" generic-netlink family (virtual services, real
//! servers, connection timeouts, sync daemons), for the checker child.
//!
//! # Layers
//!
//! - [`types`]: the typed model ([`Service`], [`Destination`], [`Timeouts`], [`SyncDaemon`]);
//!   wire enums keep unknown values as `Unknown(n)`.
//! - [`genl`]: the generic-netlink header and the family lookup ("IPVS" -> message type).
//! - [`msg`]: pure builders, one request into a caller's buffer each.
//! - [`parse`]: one parser for every IPVS message (kernel replies and our own requests)
//!   back into the same types; untrusted input gives `ParseError`, never a panic.
//! - [`socket`], [`handle`]: [`Ipvs`], blocking request/ACK and dump transactions.
//! - [`plan`]: the pure reconciler, current tables + wanted tables -> fewest [`Op`]s.
//!
//! # Why not neli
//!
//! neli (named by the design card, not a dependency) could resolve the family and own the socket. This module
//! instead reuses `netlink::wire` (the bounds-checked `Attrs` reader and the `MsgWriter`
//! the rtnetlink code uses) and `netlink::reply::classify`, with its own small
//! NETLINK_GENERIC socket:
//! - neli's generic-netlink attributes are `Vec`-backed: every parsed reply allocates, and
//!   the checker edits destination weights on its steady-state path.
//! - One framing implementation for the whole crate: its failure modes (every prefix, every
//!   single-byte corruption) are already tested, and the family lookup is 60 lines.
//! - Golden-byte tests compare our requests with ipvsadm's directly
//!   (`tests/data/ipvs/*.hex`, captured by `tests/data/ipvs/capture.sh`).
//!
//! Netlink is host-endian (ports and IPv4 netmasks excepted); golden tests are
//! little-endian only.

pub mod consts;
mod error;
pub mod genl;
pub mod handle;
pub mod msg;
pub mod parse;
pub mod plan;
pub mod show;
pub mod socket;
pub mod types;

pub use error::{IpvsError, IpvsOp, Result};
pub use handle::Ipvs;
pub use msg::Change;
pub use parse::{IpvsMsg, parse};
pub use plan::{Op, plan};
pub use types::{
    DaemonState, DestCounters, Destination, FwdMethod, IpvsName, Protocol, Service, ServiceFlags,
    ServiceKey, SyncDaemon, Timeouts, TunType,
};

#[cfg(test)]
mod tests;
