//! The module's error type.

use core::fmt;

use nix::errno::Errno;

use crate::netlink::wire::{NoSpace, ParseError};

/// Which request failed: named after the `Ipvs` call, so logs read like ipvsadm commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvsOp {
    ResolveFamily,
    AddService,
    EditService,
    DelService,
    GetServices,
    AddDest,
    EditDest,
    DelDest,
    GetDests,
    Flush,
    SetTimeouts,
    GetTimeouts,
    StartDaemon,
    StopDaemon,
    GetDaemons,
}

#[derive(Debug)]
pub enum IpvsError {
    /// The kernel has no "IPVS" generic-netlink family: ip_vs is neither built in nor loaded
    /// (in this network namespace). vigil does not modprobe: PID 1 loads the image's modules.
    NotAvailable,
    /// A socket call failed (socket, bind, send, recv).
    Io(Errno),
    /// No reply within the receive timeout.
    Timeout,
    /// The kernel refused the request with this errno (EEXIST: already there; ESRCH: no such
    /// service; ENOENT: no such destination or scheduler; EPERM: no CAP_NET_ADMIN).
    Kernel {
        op: IpvsOp,
        errno: Errno,
        message: Option<String>,
    },
    /// A reply that did not parse.
    Malformed(ParseError),
    /// A datagram larger than the receive buffer: its tail was lost.
    ReplyTruncated { len: usize },
    /// A request too large for the request buffer.
    RequestTooLarge,
    /// A request that cannot be expressed (e.g. an address-based service without an address).
    InvalidSpec(&'static str),
    /// The kernel acknowledged a get request without sending the object.
    MissingReply { op: IpvsOp },
    /// A dump kept changing under us (NLM_F_DUMP_INTR) on every retry.
    DumpInterrupted,
}

impl IpvsError {
    /// The kernel errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Io(e) | Self::Kernel { errno: e, .. } => Some(*e),
            _ => None,
        }
    }

    /// The object being added is already there: usually success for a caller applying config.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST) && matches!(self, Self::Kernel { .. })
    }

    /// The object being changed or deleted is not there (ESRCH for services, ENOENT for
    /// destinations).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Self::Kernel {
                errno: Errno::ESRCH | Errno::ENOENT,
                ..
            }
        )
    }
}

impl fmt::Display for IpvsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAvailable => write!(f, "IPVS is not available in this kernel"),
            Self::Io(e) => write!(f, "IPVS netlink socket: {e}"),
            Self::Timeout => write!(f, "IPVS: no reply from the kernel"),
            Self::Kernel {
                op,
                errno,
                message: Some(m),
            } => write!(f, "IPVS {op:?}: {errno}: {m}"),
            Self::Kernel {
                op,
                errno,
                message: None,
            } => write!(f, "IPVS {op:?}: {errno}"),
            Self::Malformed(e) => write!(f, "IPVS reply: {e}"),
            Self::ReplyTruncated { len } => write!(f, "IPVS reply of {len} bytes truncated"),
            Self::RequestTooLarge => write!(f, "IPVS request too large"),
            Self::InvalidSpec(why) => write!(f, "invalid IPVS request: {why}"),
            Self::MissingReply { op } => write!(f, "IPVS {op:?}: acknowledged without a reply"),
            Self::DumpInterrupted => write!(f, "IPVS dump interrupted repeatedly"),
        }
    }
}

impl std::error::Error for IpvsError {}

impl From<ParseError> for IpvsError {
    fn from(e: ParseError) -> Self {
        Self::Malformed(e)
    }
}

impl From<NoSpace> for IpvsError {
    fn from(_: NoSpace) -> Self {
        Self::RequestTooLarge
    }
}

pub type Result<T, E = IpvsError> = core::result::Result<T, E>;
