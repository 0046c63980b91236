//! `Ipvs`: blocking IPVS requests over one generic-netlink socket, each acknowledged,
//! answered or dumped.

use std::time::Duration;

use log::{debug, warn};
use nix::errno::Errno;

use crate::netlink::consts::{NLM_F_DUMP_INTR, NLMSG_HDRLEN};
use crate::netlink::reply::{Reply, classify};
use crate::netlink::wire::{Messages, NlMsg, ParseError};

use super::consts::*;
use super::error::{IpvsError, IpvsOp, Result};
use super::genl;
use super::msg::{self, Change, REQUEST_BUF_LEN};
use super::parse::{IpvsMsg, parse};
use super::socket::GenlSocket;
use super::types::{DaemonState, DestCounters, Destination, Service, SyncDaemon, Timeouts};

/// Receive buffer: the kernel fills a dump datagram up to 32 KiB.
pub const RECV_BUF_LEN: usize = 32 * 1024;
/// How long one reply may take before a request fails with `Timeout`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long starting a sync daemon may take: the kernel answers once its sync threads
/// have been created. Generous for slow guests; callers run this off their scheduler.
pub const DAEMON_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a sync daemon stop waits for the kernel's answer before it
/// asks the kernel whether the daemon is gone (see [`Ipvs::stop_daemon`]).
pub const DAEMON_STOP_WAIT: Duration = Duration::from_secs(2);
/// How often a dump that changed under us (NLM_F_DUMP_INTR) is restarted.
const DUMP_ATTEMPTS: usize = 3;

/// A handle on the kernel's IPVS tables in the calling thread's network namespace.
pub struct Ipvs {
    sock: GenlSocket,
    family: u16,
    seq: u32,
    rbuf: Box<[u8]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Ack,
    Done,
}

impl Ipvs {
    /// Opens a socket and resolves the "IPVS" family. `NotAvailable` when the kernel has no
    /// IPVS (module not loaded, or not built).
    pub fn open() -> Result<Self> {
        let sock = GenlSocket::open()?;
        sock.set_recv_timeout(REPLY_TIMEOUT)?;
        let mut ipvs = Self {
            sock,
            family: 0,
            seq: 0,
            rbuf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
        };
        let mut id = None;
        let r = ipvs.transact(
            IpvsOp::ResolveFamily,
            Until::Ack,
            |b, s| Ok(genl::build_get_family(b, s, IPVS_GENL_NAME)?),
            |m| {
                id = Some(genl::parse_family(m, IPVS_GENL_NAME)?);
                Ok(())
            },
        );
        match r {
            Ok(()) => {}
            Err(IpvsError::Kernel {
                errno: Errno::ENOENT,
                ..
            }) => return Err(IpvsError::NotAvailable),
            Err(e) => return Err(e),
        }
        ipvs.family = id.ok_or(IpvsError::MissingReply {
            op: IpvsOp::ResolveFamily,
        })?;
        debug!("ipvs: generic netlink family id {}", ipvs.family);
        Ok(ipvs)
    }

    /// From now on no request waits for the kernel's reply (the checker child's scheduler):
    /// generic netlink handles IPVS requests inside our sendmsg and queues the reply before
    /// it returns, so it is read at once; a missing one fails at once with `Timeout`. Not
    /// for the sync daemon's requests, which `with_timeout` gives a long bound (they run on
    /// their own thread).
    pub fn never_wait(&mut self) -> Result<()> {
        self.sock.set_nonblocking(true)
    }

    /// The generic-netlink family id the kernel gave IPVS.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Every virtual service.
    pub fn services(&mut self) -> Result<Vec<Service>> {
        let f = self.family;
        self.dump(
            IpvsOp::GetServices,
            |b, s| msg::build_dump_services(b, f, s),
            None,
            |m| {
                m.service
                    .map(Some)
                    .ok_or(ParseError::MissingAttribute(IPVS_CMD_ATTR_SERVICE))
            },
        )
    }

    pub fn add_service(&mut self, svc: &Service) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::AddService, |b, s| {
            msg::build_service(b, f, s, Change::New, svc)
        })
    }

    /// Changes a service's scheduler, flags, persistence or engine in place.
    pub fn edit_service(&mut self, svc: &Service) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::EditService, |b, s| {
            msg::build_service(b, f, s, Change::Set, svc)
        })
    }

    /// Removes a service and its destinations.
    pub fn del_service(&mut self, svc: &Service) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::DelService, |b, s| {
            msg::build_service(b, f, s, Change::Del, svc)
        })
    }

    /// The destinations of `svc`.
    pub fn dests(&mut self, svc: &Service) -> Result<Vec<Destination>> {
        Ok(self
            .dests_with_counters(svc)?
            .into_iter()
            .map(|(d, _)| d)
            .collect())
    }

    /// The destinations of `svc` with their connection counters.
    pub fn dests_with_counters(
        &mut self,
        svc: &Service,
    ) -> Result<Vec<(Destination, DestCounters)>> {
        let f = self.family;
        self.dump(
            IpvsOp::GetDests,
            |b, s| msg::build_dump_dests(b, f, s, svc),
            Some(svc.af),
            |m| {
                m.dest
                    .map(Some)
                    .ok_or(ParseError::MissingAttribute(IPVS_CMD_ATTR_DEST))
            },
        )
    }

    pub fn add_dest(&mut self, svc: &Service, dest: &Destination) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::AddDest, |b, s| {
            msg::build_dest(b, f, s, Change::New, svc, dest)
        })
    }

    /// Changes a destination's weight, method, thresholds or tunnel in place.
    pub fn edit_dest(&mut self, svc: &Service, dest: &Destination) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::EditDest, |b, s| {
            msg::build_dest(b, f, s, Change::Set, svc, dest)
        })
    }

    pub fn del_dest(&mut self, svc: &Service, dest: &Destination) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::DelDest, |b, s| {
            msg::build_dest(b, f, s, Change::Del, svc, dest)
        })
    }

    /// Removes every service and destination.
    pub fn flush(&mut self) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::Flush, |b, s| msg::build_flush(b, f, s))
    }

    pub fn timeouts(&mut self) -> Result<Timeouts> {
        let f = self.family;
        let mut found = None;
        self.transact(
            IpvsOp::GetTimeouts,
            Until::Ack,
            |b, s| msg::build_get_timeouts(b, f, s),
            |m| {
                found = Some(parse(m, None)?.timeouts);
                Ok(())
            },
        )?;
        found.ok_or(IpvsError::MissingReply {
            op: IpvsOp::GetTimeouts,
        })
    }

    /// Sets the timeouts; a 0 leaves that one as it is.
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<()> {
        let f = self.family;
        self.ack(IpvsOp::SetTimeouts, |b, s| {
            msg::build_set_timeouts(b, f, s, t)
        })
    }

    /// Starts a sync daemon; waits up to [`DAEMON_REPLY_TIMEOUT`] for the kernel.
    pub fn start_daemon(&mut self, d: &SyncDaemon) -> Result<()> {
        let f = self.family;
        self.with_timeout(DAEMON_REPLY_TIMEOUT, |me| {
            me.ack(IpvsOp::StartDaemon, |b, s| msg::build_start_daemon(b, f, s, d))
        })
    }

    /// Stops the sync daemon in `state`.
    ///
    /// The kernel sometimes never answers: when the stop comes before its
    /// sync thread has run once (one slow vCPU, a start just before),
    /// `kthread_stop()` returns -EINTR, for which generic netlink sends no
    /// ack, although the daemon is gone. So the wait is short
    /// ([`DAEMON_STOP_WAIT`]) and a missing answer is judged by the
    /// kernel's list of daemons: gone is success.
    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<()> {
        let f = self.family;
        let r = self.with_timeout(DAEMON_STOP_WAIT, |me| {
            me.ack(IpvsOp::StopDaemon, |b, s| msg::build_stop_daemon(b, f, s, state))
        });
        match r {
            Err(IpvsError::Timeout) => {
                if self.daemons()?.iter().any(|d| d.state == state) {
                    Err(IpvsError::Timeout)
                } else {
                    debug!("ipvs: no answer to the sync daemon stop, but the daemon is gone");
                    Ok(())
                }
            }
            other => other,
        }
    }

    /// Runs one request with another reply timeout, then puts [`REPLY_TIMEOUT`] back.
    fn with_timeout<T>(&mut self, timeout: Duration, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.sock.set_recv_timeout(timeout)?;
        let r = f(self);
        let back = self.sock.set_recv_timeout(REPLY_TIMEOUT);
        let v = r?;
        back?;
        Ok(v)
    }

    /// The running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        let f = self.family;
        self.dump(
            IpvsOp::GetDaemons,
            |b, s| msg::build_dump_daemons(b, f, s),
            None,
            |m| {
                m.daemon
                    .map(Some)
                    .ok_or(ParseError::MissingAttribute(IPVS_CMD_ATTR_DAEMON))
            },
        )
    }

    fn ack(
        &mut self,
        op: IpvsOp,
        build: impl FnOnce(&mut [u8], u32) -> Result<usize>,
    ) -> Result<()> {
        self.transact(op, Until::Ack, build, |m| {
            debug!("ipvs {op:?}: ignored reply type {}", m.ty);
            Ok(())
        })
    }

    fn dump<T>(
        &mut self,
        op: IpvsOp,
        build: impl Fn(&mut [u8], u32) -> Result<usize>,
        dest_af: Option<crate::netlink::types::AddrFamily>,
        mut pick: impl FnMut(IpvsMsg) -> Result<Option<T>, ParseError>,
    ) -> Result<Vec<T>> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            let mut interrupted = false;
            self.transact(op, Until::Done, &build, |m| {
                interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                out.extend(pick(parse(m, dest_af)?)?);
                Ok(())
            })?;
            if !interrupted {
                return Ok(out);
            }
            debug!("ipvs {op:?}: dump interrupted, restarting");
        }
        Err(IpvsError::DumpInterrupted)
    }

    /// Sends one request and reads replies until its ACK, error or NLMSG_DONE. Replies to
    /// other sequence numbers (left over from a request that timed out) are skipped.
    fn transact(
        &mut self,
        op: IpvsOp,
        until: Until,
        build: impl FnOnce(&mut [u8], u32) -> Result<usize>,
        mut on_data: impl FnMut(&NlMsg<'_>) -> Result<(), ParseError>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut req = [0u8; REQUEST_BUF_LEN];
        let n = build(&mut req, seq)?;
        self.sock
            .send(req.get(..n).ok_or(IpvsError::RequestTooLarge)?)?;
        let port = self.sock.port_id();
        loop {
            let len = match self.sock.recv(&mut self.rbuf) {
                Ok(len) => len,
                Err(IpvsError::Io(Errno::EAGAIN)) => return Err(IpvsError::Timeout),
                Err(e) => return Err(e),
            };
            if len < NLMSG_HDRLEN {
                warn!("ipvs {op:?}: runt datagram of {len} bytes");
                return Err(ParseError::Truncated.into());
            }
            for m in Messages::new(self.rbuf.get(..len).unwrap_or(&[])) {
                let m = m?;
                if m.seq != seq || m.pid != port {
                    debug!(
                        "ipvs {op:?}: skipped stale reply seq {} (want {seq})",
                        m.seq
                    );
                    continue;
                }
                match classify(m)? {
                    Reply::Ack if until == Until::Ack => return Ok(()),
                    Reply::Done if until == Until::Done => return Ok(()),
                    Reply::Ack | Reply::Done | Reply::Noop => {}
                    Reply::Error { errno, message } => {
                        return Err(IpvsError::Kernel {
                            op,
                            errno,
                            message: message.map(|t| t.chars().take(200).collect()),
                        });
                    }
                    Reply::Data(m) => on_data(&m)?,
                }
            }
        }
    }
}
