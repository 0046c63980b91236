//! Netlink: the framing every netlink user here shares (`wire`, `reply`),
//! rtnetlink (links, addresses, routes and policy rules), nftables for
//! no_accept, and keepalived.conf's addresses turned into requests.
//!
//! Used at boot to apply keepalived's `static_ipaddress`, `static_routes` and `static_rules`,
//! later by the VRRP engine for VIPs, virtual routes and rules, and by the reflector that
//! mirrors links and addresses from the RTMGRP_* broadcasts.
//!
//! # Layers
//!
//! - [`wire`]: netlink framing — a bounds-checked message/attribute reader and a writer into a
//!   fixed buffer. Nothing there can panic on input.
//! - [`link`], [`addr`], [`route`], [`rule`]: the request specs (plain structs with pub
//!   fields), pure `build*` functions that emit a request into a caller's buffer, and `parse`
//!   functions that turn a kernel message into the same typed values. Unit-tested with golden
//!   bytes and with truncated/garbled input.
//! - [`reply`]: ACK / error (with the kernel's extended-ack text) / DONE classification.
//! - [`event`]: typed notifications for the reflector.
//! - [`socket`]: [`NlSocket`], an `OwnedFd`-backed NETLINK_ROUTE socket (`AsFd`), usable
//!   blocking or wrapped in `async_io::Async` with [`NlSocket::set_nonblocking`].
//! - [`rtnl`]: [`Rtnl`], blocking request/ACK and dump transactions with sequence numbers.
//! - [`mirror`], [`reflector`]: the kernel's links and addresses followed from the
//!   RTMGRP_* broadcasts (keepalived's netlink reflector).
//! - [`netconf`]: the config model's addresses, routes and rules as request specs.
//! - [`nft`]: the nftables rules no_accept needs. The IPVS client (`crate::ipvs`) uses
//!   [`wire`] and [`reply`] for generic netlink.
//!
//! # Why not neli's typed messages
//!
//! neli (named by the design card) is not a dependency: this module builds and parses the rtnetlink bytes itself
//! over a plain socket (nix + one `setsockopt` via libc):
//! - neli's `Rtattr` buffers are `Vec`-backed, so every parsed notification allocates; the
//!   reflector runs on the steady-state path, where the design wants no allocation.
//! - The attributes we need most are awkward there: IFA_FLAGS (32-bit address flags for
//!   nodad), FRA_FWMASK/FRA_OIFNAME/FRA_PROTOCOL, tables above 255, extended-ack messages.
//! - Our own writer makes golden-byte tests of each request direct, and the reader's
//!   failure modes are ours to test (every prefix and single-byte corruption).
//!
//! The cost is a constants table ([`consts`], cross-checked against `libc` in a test) and
//! about a hundred lines of framing code.
//!
//! Netlink is host-endian; the golden tests are little-endian only.

pub mod addr;
pub mod consts;
mod error;
pub mod event;
pub mod fixed_map;
pub mod link;
pub mod mirror;
pub mod netconf;
pub mod nft;
pub mod reflector;
pub mod reply;
pub mod route;
pub mod rtnl;
pub mod rule;
pub mod socket;
pub mod types;
pub mod wire;

pub use addr::{Addr, AddrSpec};
pub use error::{NetlinkError, Op, Result};
pub use event::{Event, parse_event};
pub use link::{Link, LinkRef, OperState};
pub use route::{Route, RouteSpec, RouteType};
pub use rtnl::Rtnl;
pub use rule::{Rule, RuleAction, RuleSpec};
pub use socket::NlSocket;
pub use types::{AddrFamily, HwAddr, IfName, IpPrefix, if_name};
pub use wire::ParseError;
