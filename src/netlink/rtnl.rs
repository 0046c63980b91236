//! `Rtnl`: blocking rtnetlink requests over one socket, each acknowledged or answered.

use std::time::Duration;

use log::{debug, warn};
use nix::errno::Errno;

use super::addr::{self, Addr, AddrOp, AddrSpec};
use super::consts::{NLM_F_DUMP_INTR, NLMSG_HDRLEN};
use super::error::{NetlinkError, Op, Result};
use super::link::{self, Link, LinkRef};
use super::reply::{Reply, classify};
use super::route::{self, Route, RouteOp, RouteSpec};
use super::rule::{self, Rule, RuleOp, RuleSpec};
use super::socket::NlSocket;
use super::types::{AddrFamily, IfName};
use super::wire::{Messages, NlMsg, NoSpace, ParseError};

/// Receive buffer: large enough for any dump datagram (the kernel fills at most 32 KiB).
pub const RECV_BUF_LEN: usize = 32 * 1024;
/// Request buffer: the largest request here (a veth pair) is under 100 bytes.
pub const REQUEST_BUF_LEN: usize = 512;
/// How long one reply may take before a request fails with `Timeout`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a dump that changed under us (NLM_F_DUMP_INTR) is restarted.
const DUMP_ATTEMPTS: usize = 3;

/// A NETLINK_ROUTE request socket in the calling thread's network namespace.
pub struct Rtnl {
    sock: NlSocket,
    seq: u32,
    rbuf: Box<[u8]>,
}

/// How a transaction ends: with an ACK (requests) or NLMSG_DONE (dumps).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Ack,
    Done,
}

impl Rtnl {
    pub fn new() -> Result<Self> {
        let sock = NlSocket::route(0)?;
        sock.set_recv_timeout(REPLY_TIMEOUT)?;
        Ok(Self {
            sock,
            seq: 0,
            rbuf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
        })
    }

    /// From now on no request waits for the kernel's reply: for the schedulers, whose
    /// adverts and checks must not wait on netlink. The kernel handles an rtnetlink request
    /// inside our sendmsg and queues its reply (a dump's next part inside our recvmsg)
    /// before the call returns, so the reply is there to read at once; one that is not (the
    /// kernel dropped it) fails the request with `Timeout` at once instead of after
    /// [`REPLY_TIMEOUT`], and a late one is skipped as stale by the next request.
    pub fn never_wait(&mut self) -> Result<()> {
        self.sock.set_nonblocking(true)
    }

    /// The index of the link called `name` (ENODEV as `Kernel` when there is none).
    pub fn link_index(&mut self, name: &str) -> Result<u32> {
        let name = IfName::try_from(name)
            .map_err(|_| NetlinkError::InvalidSpec("interface name too long"))?;
        Ok(self.link(&LinkRef::Name(name))?.index)
    }

    /// One link, by index or name.
    pub fn link(&mut self, which: &LinkRef) -> Result<Link> {
        let mut found = None;
        self.transact(
            Op::LinkGet,
            Until::Ack,
            |b, s| Ok(link::build_get(b, s, which)?),
            |m| {
                found = Some(link::parse(m)?);
                Ok(())
            },
        )?;
        found.ok_or(NetlinkError::MissingReply { op: Op::LinkGet })
    }

    pub fn links(&mut self) -> Result<Vec<Link>> {
        self.dump(Op::LinkDump, link::build_dump, |m| link::parse(m).map(Some))
    }

    /// `ip link set dev X up|down`.
    pub fn link_set_up(&mut self, which: impl Into<LinkRef>, up: bool) -> Result<()> {
        let which = which.into();
        self.ack(Op::LinkSet, |b, s| {
            Ok(link::build_set_up(b, s, &which, up)?)
        })
    }

    /// `ip link add NAME type veth peer name PEER`.
    /// A macvlan on `parent` with `mac` (see `link::build_add_macvlan`).
    pub fn link_add_macvlan(&mut self, name: &IfName, parent: u32, mac: [u8; 6], mode: u32) -> Result<()> {
        self.ack(Op::LinkAdd, |b, s| Ok(link::build_add_macvlan(b, s, name, parent, mac, mode)?))
    }

    pub fn link_add_veth(&mut self, name: &IfName, peer: &IfName) -> Result<()> {
        self.ack(Op::LinkAdd, |b, s| {
            Ok(link::build_add_veth(b, s, name, peer)?)
        })
    }

    pub fn link_del(&mut self, which: impl Into<LinkRef>) -> Result<()> {
        let which = which.into();
        self.ack(Op::LinkDel, |b, s| Ok(link::build_del(b, s, &which)?))
    }

    /// Adds an address; one already present fails with `NetlinkError::Exists`.
    pub fn addr_add(&mut self, spec: &AddrSpec) -> Result<()> {
        self.ack(Op::AddrAdd, |b, s| addr::build(b, s, AddrOp::Add, spec))
    }

    pub fn addr_del(&mut self, spec: &AddrSpec) -> Result<()> {
        self.ack(Op::AddrDel, |b, s| addr::build(b, s, AddrOp::Del, spec))
    }

    /// Every IPv4 and IPv6 address on every link.
    pub fn addrs(&mut self) -> Result<Vec<Addr>> {
        self.dump(Op::AddrDump, addr::build_dump, addr::parse)
    }

    /// Adds a route; an identical one already present fails with `NetlinkError::Exists`.
    pub fn route_add(&mut self, spec: &RouteSpec) -> Result<()> {
        self.ack(Op::RouteAdd, |b, s| route::build(b, s, RouteOp::Add, spec))
    }

    pub fn route_del(&mut self, spec: &RouteSpec) -> Result<()> {
        self.ack(Op::RouteDel, |b, s| route::build(b, s, RouteOp::Del, spec))
    }

    /// Every route of `family`, in every table.
    pub fn routes(&mut self, family: AddrFamily) -> Result<Vec<Route>> {
        self.dump(
            Op::RouteDump,
            |b, s| route::build_dump(b, s, family),
            route::parse,
        )
    }

    /// Adds a rule; an identical one already present fails with `NetlinkError::Exists`.
    pub fn rule_add(&mut self, spec: &RuleSpec) -> Result<()> {
        self.ack(Op::RuleAdd, |b, s| rule::build(b, s, RuleOp::Add, spec))
    }

    pub fn rule_del(&mut self, spec: &RuleSpec) -> Result<()> {
        self.ack(Op::RuleDel, |b, s| rule::build(b, s, RuleOp::Del, spec))
    }

    pub fn rules(&mut self, family: AddrFamily) -> Result<Vec<Rule>> {
        self.dump(
            Op::RuleDump,
            |b, s| rule::build_dump(b, s, family),
            rule::parse,
        )
    }

    fn ack(&mut self, op: Op, build: impl FnOnce(&mut [u8], u32) -> Result<usize>) -> Result<()> {
        self.transact(op, Until::Ack, build, |m| {
            debug!("netlink {op:?}: ignored reply type {}", m.ty);
            Ok(())
        })
    }

    fn dump<T>(
        &mut self,
        op: Op,
        build: impl Fn(&mut [u8], u32) -> Result<usize, NoSpace>,
        mut parse: impl FnMut(&NlMsg<'_>) -> Result<Option<T>, ParseError>,
    ) -> Result<Vec<T>> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            let mut interrupted = false;
            self.transact(
                op,
                Until::Done,
                |b, s| Ok(build(b, s)?),
                |m| {
                    interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                    out.extend(parse(m)?);
                    Ok(())
                },
            )?;
            if !interrupted {
                return Ok(out);
            }
            debug!("netlink {op:?}: dump interrupted, restarting");
        }
        Err(NetlinkError::DumpInterrupted)
    }

    /// Sends one request and reads replies until its ACK, error or NLMSG_DONE. Replies to
    /// other sequence numbers (left over from a request that timed out) are skipped.
    fn transact(
        &mut self,
        op: Op,
        until: Until,
        build: impl FnOnce(&mut [u8], u32) -> Result<usize>,
        mut on_data: impl FnMut(&NlMsg<'_>) -> Result<(), ParseError>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut req = [0u8; REQUEST_BUF_LEN];
        let n = build(&mut req, seq)?;
        self.sock
            .send(req.get(..n).ok_or(NetlinkError::RequestTooLarge)?)?;
        let port = self.sock.port_id();
        loop {
            let len = match self.sock.recv(&mut self.rbuf) {
                Ok(len) => len,
                Err(NetlinkError::Io(Errno::EAGAIN)) => return Err(NetlinkError::Timeout),
                Err(e) => return Err(e),
            };
            if len < NLMSG_HDRLEN {
                warn!("netlink {op:?}: runt datagram of {len} bytes");
                return Err(ParseError::Truncated.into());
            }
            for msg in Messages::new(&self.rbuf[..len]) {
                let msg = msg?;
                if msg.seq != seq || msg.pid != port {
                    debug!(
                        "netlink {op:?}: skipped stale reply seq {} (want {seq})",
                        msg.seq
                    );
                    continue;
                }
                match classify(msg)? {
                    Reply::Ack if until == Until::Ack => return Ok(()),
                    Reply::Done if until == Until::Done => return Ok(()),
                    Reply::Ack | Reply::Done | Reply::Noop => {}
                    Reply::Error {
                        errno: Errno::EEXIST,
                        ..
                    } => return Err(NetlinkError::Exists { op }),
                    Reply::Error { errno, message } => {
                        return Err(NetlinkError::Kernel {
                            op,
                            errno,
                            message: message.map(|m| m.chars().take(200).collect()),
                        });
                    }
                    Reply::Data(m) => on_data(&m)?,
                }
            }
        }
    }
}
