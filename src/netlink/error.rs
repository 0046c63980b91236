//! The module's error type.

use core::fmt;

use nix::errno::Errno;

use super::wire::{NoSpace, ParseError};

/// Which request failed: named after the public call, so logs read like `ip` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    LinkGet,
    LinkDump,
    LinkSet,
    LinkAdd,
    LinkDel,
    AddrAdd,
    AddrDel,
    AddrDump,
    RouteAdd,
    RouteDel,
    RouteDump,
    RuleAdd,
    RuleDel,
    RuleDump,
}

#[derive(Debug)]
pub enum NetlinkError {
    /// A socket call failed (socket, bind, send, recv).
    Io(Errno),
    /// No reply within the socket's receive timeout.
    Timeout,
    /// The kernel refused the request with this errno. `message` is the kernel's extended-ack
    /// text when it sent one (e.g. "Nexthop device is not up").
    Kernel {
        op: Op,
        errno: Errno,
        message: Option<String>,
    },
    /// The object being added is already there (EEXIST). Kept apart from [`Kernel`] because
    /// callers applying configuration usually treat it as success.
    ///
    /// [`Kernel`]: NetlinkError::Kernel
    Exists { op: Op },
    /// A reply that did not parse.
    Malformed(ParseError),
    /// A datagram larger than the receive buffer: the tail was lost.
    ReplyTruncated { len: usize },
    /// A request too large for the request buffer.
    RequestTooLarge,
    /// A request that cannot be expressed (e.g. an IPv6 gateway on an IPv4 route).
    InvalidSpec(&'static str),
    /// The kernel acknowledged a get request without sending the object.
    MissingReply { op: Op },
    /// A dump kept changing under us (NLM_F_DUMP_INTR) on every retry.
    DumpInterrupted,
}

impl NetlinkError {
    /// The kernel errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Io(e) => Some(*e),
            Self::Kernel { errno, .. } => Some(*errno),
            Self::Exists { .. } => Some(Errno::EEXIST),
            _ => None,
        }
    }

    pub fn is_exists(&self) -> bool {
        matches!(self, Self::Exists { .. })
    }

    /// True when a delete failed because the object was not there: the errno depends on the
    /// object (EADDRNOTAVAIL for addresses, ESRCH for routes, ENOENT for rules, ENODEV for
    /// links).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Self::Kernel {
                errno: Errno::EADDRNOTAVAIL | Errno::ESRCH | Errno::ENOENT | Errno::ENODEV,
                ..
            }
        )
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "netlink socket: {e}"),
            Self::Timeout => write!(f, "netlink: no reply from the kernel"),
            Self::Kernel {
                op,
                errno,
                message: Some(m),
            } => write!(f, "{op:?}: {errno}: {m}"),
            Self::Kernel {
                op,
                errno,
                message: None,
            } => write!(f, "{op:?}: {errno}"),
            Self::Exists { op } => write!(f, "{op:?}: already exists"),
            Self::Malformed(e) => write!(f, "netlink reply: {e}"),
            Self::ReplyTruncated { len } => write!(f, "netlink reply of {len} bytes truncated"),
            Self::RequestTooLarge => write!(f, "netlink request too large"),
            Self::InvalidSpec(why) => write!(f, "invalid netlink request: {why}"),
            Self::MissingReply { op } => write!(f, "{op:?}: acknowledged without a reply"),
            Self::DumpInterrupted => write!(f, "netlink dump interrupted repeatedly"),
        }
    }
}

impl std::error::Error for NetlinkError {}

/// For `async_io::Async::read_with` and similar readiness loops: `Io(EAGAIN)` must come back
/// as `WouldBlock` so the loop waits instead of failing.
impl From<NetlinkError> for std::io::Error {
    fn from(e: NetlinkError) -> Self {
        match e {
            NetlinkError::Io(errno) => std::io::Error::from(errno),
            other => std::io::Error::other(other),
        }
    }
}

impl From<ParseError> for NetlinkError {
    fn from(e: ParseError) -> Self {
        Self::Malformed(e)
    }
}

impl From<NoSpace> for NetlinkError {
    fn from(_: NoSpace) -> Self {
        Self::RequestTooLarge
    }
}

pub type Result<T, E = NetlinkError> = core::result::Result<T, E>;
