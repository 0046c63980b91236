//! Every fixed capacity on a path that outside input can fill, and the count of times each
//! was reached in this process. The constants live beside the code they bound (each with a
//! doc comment saying what it bounds and why that size); this table names them once, so
//! that hitting any of them is logged the same way (the first time, then at every power of
//! two: a flood cannot flood the log) and counted where `vigil status --json`
//! (`capacity_hits`, per process and summed) and the metrics (`vigil_capacity_hits_total`)
//! show it. What happens at the limit (the oldest dropped, the newest refused, work left
//! for the next turn) is the site's own business and is said in the constant's doc.

use std::sync::atomic::{AtomicU64, Ordering};

/// The capacities. The order is the table's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// `vrrp::engine::RX_BUDGET`: datagrams an instance reads per turn.
    VrrpRxBudget,
    /// `vrrp::fsm::types::MAX_ACTIONS`: actions one FSM input yields.
    FsmActions,
    /// `vrrp::wire::MAX_VIPS`: addresses one advert carries (excess go to the eVIPs).
    AdvertVips,
    /// `vrrp::track::INBOX_CAP`: tracking inputs queued per instance.
    TrackInbox,
    /// `netlink::mirror::MAX_LINKS`: links the netlink mirror holds (at least; the VRRP
    /// child sizes it from its config, `vrrp::engine::reflector_config`).
    MirrorLinks,
    /// `netlink::mirror::MAX_ADDRS`: addresses the netlink mirror holds (at least; sized
    /// from the config like the links).
    MirrorAddrs,
    /// `netlink::reflector::PENDING`: reflected changes waiting for the VRRP engine.
    ReflectorPending,
    /// `notify::notify::QUEUE_DEPTH`: state transitions waiting for their scripts.
    NotifyQueue,
    /// `alert::queue::QUEUE_CAPACITY`: SMTP alerts waiting.
    AlertQueue,
    /// `ipc::MSG_MAX`: one reassembled IPC message.
    IpcMessage,
    /// The peer's IPC receive queue (the kernel's `net.unix.max_dgram_qlen` datagrams of at
    /// most `ipc::FRAG_MAX`): a hello that found it full waits one interval.
    IpcQueue,
    /// `supervisor::http::CONNECTIONS_MAX`: metrics connections served at once.
    MetricsConnections,
    /// `check::runner::MAX_CHECKS_IN_FLIGHT`: TCP_CHECK connections open at once (a check
    /// due past it waits its turn).
    ChecksInFlight,
}

/// (name in status and metrics, the constant, its value) per `Cap`, in order.
pub const TABLE: [(&str, &str, usize); 13] = [
    ("vrrp_rx_budget", "vrrp::engine::RX_BUDGET", crate::vrrp::engine::RX_BUDGET),
    ("fsm_actions", "vrrp::fsm::MAX_ACTIONS", crate::vrrp::fsm::MAX_ACTIONS),
    ("advert_vips", "vrrp::wire::MAX_VIPS", crate::vrrp::wire::MAX_VIPS),
    ("track_inbox", "vrrp::track::INBOX_CAP", crate::vrrp::track::INBOX_CAP),
    ("mirror_links", "netlink::mirror::MAX_LINKS", crate::netlink::mirror::MAX_LINKS),
    ("mirror_addrs", "netlink::mirror::MAX_ADDRS", crate::netlink::mirror::MAX_ADDRS),
    ("reflector_pending", "netlink::reflector::PENDING", crate::netlink::reflector::PENDING),
    ("notify_queue", "notify::notify::QUEUE_DEPTH", crate::notify::notify::QUEUE_DEPTH),
    ("alert_queue", "alert::QUEUE_CAPACITY", crate::alert::QUEUE_CAPACITY),
    ("ipc_message", "ipc::MSG_MAX", crate::ipc::MSG_MAX),
    ("ipc_queue", "ipc::FRAG_MAX", crate::ipc::FRAG_MAX),
    ("metrics_connections", "supervisor::http::CONNECTIONS_MAX", crate::supervisor::METRICS_CONNECTIONS_MAX),
    ("checks_in_flight", "check::runner::MAX_CHECKS_IN_FLIGHT", crate::check::runner::MAX_CHECKS_IN_FLIGHT),
];

const N: usize = TABLE.len();

static HITS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

impl Cap {
    pub fn name(self) -> &'static str {
        TABLE[self as usize].0
    }
}

/// Counts one hit of `cap` and logs it on the first and every power-of-two-th hit;
/// `what` says what was dropped or deferred. Returns the count so far.
pub fn hit(cap: Cap, what: std::fmt::Arguments<'_>) -> u64 {
    let n = HITS[cap as usize].fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        let (name, konst, limit) = TABLE[cap as usize];
        log::warn!("capacity {name} ({konst} = {limit}) reached: {what} ({n} time(s) so far)");
    }
    n
}

/// Hits so far of `cap` in this process.
pub fn hits(cap: Cap) -> u64 {
    HITS[cap as usize].load(Ordering::Relaxed)
}

/// Every capacity's name and hits in this process, in table order (zeros included, so
/// that the status lists them all).
pub fn snapshot() -> Vec<(String, u64)> {
    TABLE.iter().zip(HITS.iter()).map(|(t, h)| (t.0.to_string(), h.load(Ordering::Relaxed))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_counted_per_capacity() {
        let before = hits(Cap::MetricsConnections);
        assert_eq!(hit(Cap::MetricsConnections, format_args!("test")), before + 1);
        assert_eq!(hits(Cap::MetricsConnections), before + 1);
        let snap = snapshot();
        assert_eq!(snap.len(), N);
        assert_eq!(snap[Cap::MetricsConnections as usize].0, "metrics_connections");
        assert_eq!(Cap::MirrorLinks.name(), "mirror_links");
    }
}
