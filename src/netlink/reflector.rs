//! The netlink reflector: the kernel's links and addresses mirrored from the RTMGRP_*
//! broadcasts, reported to the VRRP engine as typed [`Change`]s.
//!
//! # How it works
//!
//! - One non-blocking socket in `async_io::Async`, subscribed to RTMGRP_LINK,
//!   RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR (plus the IPv4/IPv6 route groups with
//!   [`ReflectorConfig::routes`]), with a large receive queue (SO_RCVBUFFORCE, falling back
//!   to SO_RCVBUF, which net.core.rmem_max caps).
//! - A second, blocking socket for dumps. At start the broadcast socket subscribes first,
//!   then links and then addresses are dumped on the dump socket into the [`Mirror`];
//!   broadcasts queued during the dump are applied afterwards. Replaying them is harmless:
//!   each is either already in the dump (no change) or newer than it.
//! - [`Reflector::next`] reads one datagram at a time into a fixed buffer and applies one
//!   message at a time, so nothing is allocated per message and the queue of pending changes
//!   stays bounded ([`MAX_CHANGES_PER_EVENT`] per message).
//! - Overrun: when the kernel could not queue a broadcast, the next `recv` fails with
//!   ENOBUFS. The reflector then discards what is still queued (it predates what a dump will
//!   show), dumps again into a second mirror, swaps the two, and walks their [`Diff`], so the
//!   engine gets [`Change::Resynced`] followed by ordinary changes. A broadcast larger than
//!   the buffer (MSG_TRUNC) is a lost message too and is handled the same way.
//! - Netlink broadcasts carry no per-listener sequence number (nlmsg_seq echoes the request
//!   that caused them, 0 for kernel-originated events), so gaps cannot be seen directly. What
//!   is counted instead: ENOBUFS overruns, and deletes of objects the mirror never held
//!   (`unknown_deletes`), which is what a missed message looks like.
//! - A dump blocks the caller (the VRRP child's single-threaded scheduler) for as long as
//!   the kernel takes to answer: milliseconds, and bounded by [`REPLY_TIMEOUT`]. It happens
//!   at start and after an overrun only.
//!
//! # What keepalived does on each change (keepalived_netlink.c, vrrp_if.c, vrrp_track.c)
//!
//! The engine follows this; the reflector only reports.
//!
//! - **Interface up/down** ([`Change::LinkUp`]/[`Change::LinkDown`]). keepalived's "up" is
//!   `FLAGS_UP`: IFF_UP *and* IFF_RUNNING ([`LinkState::usable`] also wants IFF_LOWER_UP, to
//!   skip the moment after `ip link set up` when the kernel reports RUNNING before it has
//!   looked at the carrier; seen in the tests on a veth whose peer is down); only edges count
//!   (`update_interface_flags` returns when `was_up == now_up`). On an edge, for every
//!   instance tracking the interface (`process_if_status_change`):
//!   - tracked with a weight: `total_priority` moves by |weight| (sign flipped for
//!     `reverse`) and the effective priority is recomputed; no state change, adverts go on
//!     at the new priority;
//!   - tracked without weight (this includes the instance's own interface unless
//!     `dont_track_primary`): down → `down_instance`: the fault count goes up and, on the
//!     first fault, the instance goes to FAULT; a MASTER first leaves master (removes its
//!     VIPs, sends a priority-0 advert); a sync group follows its member into FAULT. Up →
//!     `try_up_instance`: the fault count goes down and at zero FAULT → BACKUP, after which
//!     the normal election (and preemption) runs.
//!   - then `interface_down`: for MASTER instances, virtual routes out of that interface
//!     are marked gone (the kernel drops them without an RTM_DELROUTE) and the instance is
//!     downed; `interface_up` re-adds static addresses and routes on the interface.
//! - **Carrier loss** ([`Change::CarrierChanged`]). No separate path: losing carrier clears
//!   IFF_RUNNING, so it arrives as the same down edge (the lab saw FAULT within a few ms).
//!   `CarrierChanged` is informational; act on `LinkDown`/`LinkUp`.
//! - **A VIP deleted by hand** ([`Change::AddrRemoved`]). `netlink_if_address_filter`:
//!   when the address is a VIP/eVIP (not `dont_track`) of an instance that is MASTER on that
//!   interface, `set_vrrp_backup`: leave master (priority-0 advert, VIPs removed), want
//!   BACKUP with the master-down timer set to the skew time only, so it normally wins the
//!   re-election at once and re-adds the VIPs (about 50 ms in the lab); MASTER members of
//!   its sync group do the same. A deleted `static_ipaddress` is re-added instead. If the
//!   deleted address is the interface's primary address and the instance's source address
//!   (not from config), the instance is downed (FAULT) until an address appears again
//!   ([`Change::AddrAdded`]: the first address on an interface becomes its address and
//!   waiting instances are tried up). With routes on, an RTM_DELROUTE of a MASTER's
//!   `virtual_route` (protocol keepalived) is handled like a deleted VIP; a deleted static
//!   route is re-added.
//! - **Interface renamed** ([`Change::LinkRenamed`]). Same ifindex, new name: keepalived
//!   logs "Interface name has changed", runs `cleanup_lost_interface` on the old one
//!   (instances on it close their sockets and go FAULT; its own VMACs are re-created) and
//!   then treats the message as a new interface under the new name. Configuration refers to
//!   names, so: old name = removed, new name = added.
//! - **Interface removed** ([`Change::LinkRemoved`]). `cleanup_lost_interface`: instances on
//!   it (or on a VMAC over it) close their sockets, VMACs keepalived created on it are
//!   deleted, and an instance still up is downed (FAULT); an interface only tracked subtracts
//!   its weight or downs the instance. The interface record is kept by name with ifindex 0.
//!   A VMAC of keepalived's own that someone else deleted is re-created.
//! - **Interface re-created** ([`Change::LinkAdded`] with a configured name). The record
//!   found by name is reused (tracking and GARP settings kept, addresses cleared),
//!   `update_added_interface` re-opens the instances' sockets on the new ifindex and checks
//!   VRID conflicts; flags start as down, so the instance comes back through the following
//!   `LinkUp` (FAULT → BACKUP). Addresses arrive as RTM_NEWADDR.
//! - **MTU** ([`Change::MtuChanged`]): receive buffers are resized (`update_mtu`).
//!   **MAC** ([`Change::MacChanged`]): recorded (used for gratuitous ARP).
//! - **Overrun**: keepalived only logs "Receive buffer overrun … increase netlink_rcv_bufs"
//!   and carries on with whatever it missed. vigil resynchronises ([`Change::Resynced`]).

use std::time::Duration;

use async_io::Async;
use heapless::Deque;
use log::{debug, warn};
use nix::errno::Errno;

use super::consts::*;
use super::error::{NetlinkError, Op, Result};
use super::event::parse_event;
#[cfg(doc)]
use super::mirror::LinkState;
use super::mirror::{Change, Changes, Diff, MAX_CHANGES_PER_EVENT, Mirror, MirrorCounters};
use super::reply::{Reply, classify};
use super::socket::NlSocket;
use super::wire::{Messages, NlMsg, NoSpace, align};
use super::{addr, link};

/// The receive buffer: a broadcast is one message; dump datagrams are at most 32 KiB.
pub const RECV_BUF_LEN: usize = 32 * 1024;
/// The kernel receive queue asked for by default (forced past rmem_max when we may).
pub const DEFAULT_RCVBUF: usize = 4 * 1024 * 1024;
/// How long one dump reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a dump that changed under us (NLM_F_DUMP_INTR) is restarted.
const DUMP_ATTEMPTS: usize = 3;
/// The most queued datagrams discarded before a resync dump; bounds the work under a storm.
const DRAIN_LIMIT: usize = 1 << 16;
/// Pending changes: one message's worth, plus the `Resynced` marker.
pub const PENDING: usize = MAX_CHANGES_PER_EVENT * 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReflectorConfig {
    /// Also subscribe to IPv4/IPv6 route broadcasts, passed through as
    /// [`Change::RouteAdded`]/[`Change::RouteRemoved`] (keepalived tracks its virtual routes).
    pub routes: bool,
    /// SO_RCVBUF(FORCE) for the broadcast socket, in bytes (the kernel doubles it).
    pub rcvbuf: usize,
    /// SO_RCVBUFFORCE first (past net.core.rmem_max; needs CAP_NET_ADMIN),
    /// else SO_RCVBUF only, as keepalived's `vrrp_netlink_monitor_rcv_bufs`
    /// without its `_force`.
    pub rcvbuf_force: bool,
    /// Links and addresses the mirror holds (at least `mirror::MAX_LINKS` and
    /// `MAX_ADDRS`), allocated at start: the caller sizes them from its config.
    pub links: usize,
    pub addrs: usize,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            routes: false,
            rcvbuf: DEFAULT_RCVBUF,
            rcvbuf_force: true,
            links: super::mirror::MAX_LINKS,
            addrs: super::mirror::MAX_ADDRS,
        }
    }
}

/// What the reflector has seen; all totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReflectorCounters {
    /// Netlink messages read from the broadcast socket.
    pub messages: u64,
    /// Changes handed out by `next`/`try_next`.
    pub changes: u64,
    /// Full re-dumps after an overrun (or on request).
    pub resyncs: u64,
    /// ENOBUFS from recv: the kernel dropped broadcasts.
    pub overruns: u64,
    /// Links or addresses the mirror had no room for.
    pub capacity_hits: u64,
    /// Malformed messages (or datagrams) dropped.
    pub parse_errors: u64,
    /// Deletes of links/addresses never seen: likely missed broadcasts.
    pub unknown_deletes: u64,
    /// Events that cannot be right (ifindex 0, empty name).
    pub rejected: u64,
    /// Well-formed messages of types or families not modelled (neighbours, MPLS, ...).
    pub ignored: u64,
    /// Queued datagrams discarded before a resync dump.
    pub drained: u64,
    /// recv failures other than EAGAIN/ENOBUFS.
    pub recv_errors: u64,
}

impl ReflectorCounters {
    /// Field by field: the totals of reflectors that followed one another
    /// (a reload starts a new one).
    pub fn plus(&self, o: &ReflectorCounters) -> ReflectorCounters {
        ReflectorCounters {
            messages: self.messages + o.messages,
            changes: self.changes + o.changes,
            resyncs: self.resyncs + o.resyncs,
            overruns: self.overruns + o.overruns,
            capacity_hits: self.capacity_hits + o.capacity_hits,
            parse_errors: self.parse_errors + o.parse_errors,
            unknown_deletes: self.unknown_deletes + o.unknown_deletes,
            rejected: self.rejected + o.rejected,
            ignored: self.ignored + o.ignored,
            drained: self.drained + o.drained,
            recv_errors: self.recv_errors + o.recv_errors,
        }
    }
}

pub struct Reflector {
    sock: Async<NlSocket>,
    dump: NlSocket,
    dump_seq: u32,
    mirror: Box<Mirror>,
    /// The mirror before the last resync while its diff is walked; scratch otherwise.
    shadow: Box<Mirror>,
    buf: Box<[u8]>,
    /// Unprocessed part of the last datagram: `buf[rpos..rlen]`.
    rpos: usize,
    rlen: usize,
    pending: Deque<Change, PENDING>,
    diff: Option<Diff>,
    resync_due: bool,
    counters: ReflectorCounters,
    /// Counters of mirrors already replaced by a resync.
    retired: MirrorCounters,
}

impl Reflector {
    /// Subscribes, then dumps links and addresses into the mirror. Blocking (the dump);
    /// call it from the thread (and network namespace) the reflector is to watch.
    pub fn start(config: ReflectorConfig) -> Result<Self> {
        let mut groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        if config.routes {
            groups |= RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
        }
        let sock = NlSocket::route(groups)?;
        set_rcvbuf(&sock, config.rcvbuf, config.rcvbuf_force);
        let dump = NlSocket::route(0)?;
        dump.set_recv_timeout(REPLY_TIMEOUT)?;
        let sock = Async::new(sock).map_err(io_to_netlink)?;
        let mut r = Self {
            sock,
            dump,
            dump_seq: 0,
            mirror: Box::new(Mirror::with_capacity(config.links, config.addrs)),
            shadow: Box::new(Mirror::with_capacity(config.links, config.addrs)),
            buf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
            rpos: 0,
            rlen: 0,
            pending: Deque::new(),
            diff: None,
            resync_due: false,
            counters: ReflectorCounters::default(),
            retired: MirrorCounters::default(),
        };
        let Self {
            dump,
            dump_seq,
            mirror,
            buf,
            counters,
            ..
        } = &mut r;
        dump_all(dump, dump_seq, buf, mirror, counters)?;
        Ok(r)
    }

    /// The mirrored links and addresses, current up to the last change handed out (during a
    /// resync diff: already the new state).
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    pub fn counters(&self) -> ReflectorCounters {
        let m = self.mirror.counters();
        let mut c = self.counters;
        c.capacity_hits = self.retired.capacity_hits + m.capacity_hits;
        c.unknown_deletes = self.retired.unknown_deletes + m.unknown_deletes;
        c.rejected = self.retired.rejected + m.rejected;
        c
    }

    /// Asks for a full re-dump before the next change (e.g. after a reload, or when the
    /// engine doubts the mirror).
    pub fn request_resync(&mut self) {
        self.resync_due = true;
    }

    /// The next change, waiting for the kernel when none is ready. Errors: a resync dump
    /// that failed (retried on the next call) or a socket failure; the reflector stays
    /// usable after either.
    pub async fn next(&mut self) -> Result<Change> {
        loop {
            if let Some(c) = self.try_next()? {
                return Ok(c);
            }
            self.sock.readable().await.map_err(io_to_netlink)?;
        }
    }

    /// The next change if one is ready without waiting.
    pub fn try_next(&mut self) -> Result<Option<Change>> {
        loop {
            if let Some(c) = self.ready()? {
                self.counters.changes += 1;
                return Ok(Some(c));
            }
            if !self.recv()? {
                return Ok(None);
            }
        }
    }

    /// A change from what has already been read, if any.
    fn ready(&mut self) -> Result<Option<Change>> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Ok(Some(c));
            }
            if let Some(d) = &mut self.diff {
                let mut out = Changes::new();
                if d.step(&self.shadow, &self.mirror, &mut out) {
                    self.queue(out);
                } else {
                    self.diff = None;
                }
                continue;
            }
            if self.resync_due {
                self.resync()?;
                continue;
            }
            if self.rpos < self.rlen {
                self.apply_one_message();
                continue;
            }
            return Ok(None);
        }
    }

    fn queue(&mut self, changes: Changes) {
        for c in changes {
            // `ready` only refills an empty queue, with at most MAX_CHANGES_PER_EVENT + 1.
            if self.pending.push_back(c).is_err() {
                crate::os::capacity::hit(crate::os::capacity::Cap::ReflectorPending, format_args!("netlink reflector: change dropped"));
                self.retired.capacity_hits += 1;
            }
        }
    }

    /// Reads one datagram if one is queued. `Ok(false)`: nothing to read now.
    fn recv(&mut self) -> Result<bool> {
        match self.sock.get_ref().recv(&mut self.buf) {
            Ok(n) => {
                self.rpos = 0;
                self.rlen = n;
                Ok(true)
            }
            Err(NetlinkError::Io(Errno::EAGAIN)) => Ok(false),
            Err(NetlinkError::Io(Errno::ENOBUFS)) => {
                self.counters.overruns += 1;
                warn!("netlink reflector: receive queue overrun, resynchronising");
                self.resync_due = true;
                Ok(true)
            }
            Err(NetlinkError::ReplyTruncated { len }) => {
                // The rest of that message is gone: as lost as a dropped one.
                self.counters.parse_errors += 1;
                warn!("netlink reflector: {len}-byte broadcast truncated, resynchronising");
                self.resync_due = true;
                Ok(true)
            }
            Err(e) => {
                self.counters.recv_errors += 1;
                Err(e)
            }
        }
    }

    /// Applies the next message of the current datagram.
    fn apply_one_message(&mut self) {
        let Self {
            buf,
            rpos,
            rlen,
            mirror,
            counters,
            ..
        } = self;
        let rest = buf.get(*rpos..*rlen).unwrap_or(&[]);
        let msg = match Messages::new(rest).next() {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                counters.parse_errors += 1;
                debug!("netlink reflector: dropped malformed datagram: {e}");
                *rpos = *rlen;
                return;
            }
            None => {
                *rpos = *rlen;
                return;
            }
        };
        *rpos += align(NLMSG_HDRLEN + msg.payload.len()).min(rest.len());
        counters.messages += 1;
        let changes = apply_message(&msg, mirror, counters);
        self.queue(changes);
    }

    /// Discards what is queued, re-dumps into the shadow mirror, swaps, and starts the diff.
    fn resync(&mut self) -> Result<()> {
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match self.sock.get_ref().recv(&mut self.buf) {
                Ok(_) | Err(NetlinkError::Io(Errno::ENOBUFS)) => drained += 1,
                Err(NetlinkError::ReplyTruncated { .. }) => drained += 1,
                Err(_) => break,
            }
        }
        self.counters.drained += drained as u64;
        self.rpos = 0;
        self.rlen = 0;
        let Self {
            dump,
            dump_seq,
            shadow,
            buf,
            counters,
            ..
        } = self;
        // On failure resync_due stays set: the next call tries again.
        dump_all(dump, dump_seq, buf, shadow, counters)?;
        core::mem::swap(&mut self.mirror, &mut self.shadow);
        let old = self.shadow.take_counters();
        self.retired.capacity_hits += old.capacity_hits;
        self.retired.unknown_deletes += old.unknown_deletes;
        self.retired.rejected += old.rejected;
        self.resync_due = false;
        self.counters.resyncs += 1;
        self.diff = Some(Diff::new());
        let _ = self.pending.push_back(Change::Resynced);
        Ok(())
    }
}

/// Parses one broadcast message and applies it.
fn apply_message(
    msg: &NlMsg<'_>,
    mirror: &mut Mirror,
    counters: &mut ReflectorCounters,
) -> Changes {
    if msg.ty < NLMSG_MIN_TYPE {
        // NOOP/ERROR/DONE/OVERRUN: nothing a broadcast socket acts on.
        counters.ignored += 1;
        return Changes::new();
    }
    match parse_event(msg) {
        Ok(Some(ev)) => mirror.apply(&ev),
        Ok(None) => {
            counters.ignored += 1;
            Changes::new()
        }
        Err(e) => {
            counters.parse_errors += 1;
            debug!(
                "netlink reflector: dropped malformed message type {}: {e}",
                msg.ty
            );
            Changes::new()
        }
    }
}

/// Dumps links, then addresses, into `mirror` (cleared first), restarting when the kernel
/// flags the dump as interrupted.
fn dump_all(
    sock: &NlSocket,
    seq: &mut u32,
    buf: &mut [u8],
    mirror: &mut Mirror,
    counters: &mut ReflectorCounters,
) -> Result<()> {
    for _ in 0..DUMP_ATTEMPTS {
        mirror.clear();
        let links = dump_one(
            sock,
            seq,
            buf,
            Op::LinkDump,
            link::build_dump,
            mirror,
            counters,
        )?;
        let addrs = dump_one(
            sock,
            seq,
            buf,
            Op::AddrDump,
            addr::build_dump,
            mirror,
            counters,
        )?;
        if !(links || addrs) {
            return Ok(());
        }
        debug!("netlink reflector: dump interrupted, restarting");
    }
    Err(NetlinkError::DumpInterrupted)
}

/// One dump transaction; `Ok(true)` when the kernel marked it interrupted.
fn dump_one(
    sock: &NlSocket,
    seq: &mut u32,
    buf: &mut [u8],
    op: Op,
    build: fn(&mut [u8], u32) -> core::result::Result<usize, NoSpace>,
    mirror: &mut Mirror,
    counters: &mut ReflectorCounters,
) -> Result<bool> {
    *seq = seq.wrapping_add(1);
    let mut req = [0u8; 64];
    let n = build(&mut req, *seq)?;
    sock.send(req.get(..n).ok_or(NetlinkError::RequestTooLarge)?)?;
    let port = sock.port_id();
    let mut interrupted = false;
    loop {
        let len = match sock.recv(buf) {
            Ok(len) => len,
            Err(NetlinkError::Io(Errno::EAGAIN)) => return Err(NetlinkError::Timeout),
            Err(e) => return Err(e),
        };
        for msg in Messages::new(buf.get(..len).unwrap_or(&[])) {
            let msg = msg?;
            if msg.seq != *seq || msg.pid != port {
                continue;
            }
            match classify(msg)? {
                Reply::Done => return Ok(interrupted),
                Reply::Error { errno, message } => {
                    return Err(NetlinkError::Kernel {
                        op,
                        errno,
                        message: message.map(|m| m.chars().take(200).collect()),
                    });
                }
                Reply::Ack | Reply::Noop => {}
                Reply::Data(m) => {
                    interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                    let _ = apply_message(&m, mirror, counters);
                }
            }
        }
    }
}

/// A large receive queue: SO_RCVBUFFORCE (CAP_NET_ADMIN) goes past net.core.rmem_max;
/// without the capability, SO_RCVBUF up to rmem_max.
fn set_rcvbuf(sock: &NlSocket, bytes: usize, force: bool) {
    // nix passes the value as a C int: clamp rather than wrap.
    let val = bytes.min(libc::c_int::MAX as usize);
    if (!force || nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::RcvBufForce, &val).is_err())
        && let Err(e) = sock.set_recv_buffer(bytes)
    {
        warn!("netlink reflector: cannot set the receive buffer to {bytes}: {e}");
    }
}

fn io_to_netlink(e: std::io::Error) -> NetlinkError {
    NetlinkError::Io(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}
