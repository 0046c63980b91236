//! Messages between the parent and its children: postcard-encoded enums over
//! SOCK_SEQPACKET socketpairs. Small messages (the watchdog hello and its
//! answer) go in one datagram encoded in a fixed buffer, so the steady state
//! allocates nothing; large ones (a whole config) are split into fragments.

mod frame;

pub use frame::{FRAG_MAX, FrameError, MSG_MAX, Pushed, Reassembler, fragments};

use crate::os::mem::MemStats;
use serde::{Deserialize, Serialize};

/// Everything that crosses a parent/child channel, in both directions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Parent → child: are you alive? The child answers from its scheduler loop.
    Hello { seq: u32 },
    /// Child → parent: the answer, with the child's memory counters.
    HelloAck { seq: u32, mem: MemStats, checks: u64 },
    /// Child → parent: the child's scheduler is up.
    Ready { pid: u32 },
    /// Parent → child: a configuration to apply (start-up and reload).
    Config { generation: u32, config: Box<crate::config::Config> },
    /// Child → parent: the generation now in force and what it holds.
    ConfigApplied { generation: u32, summary: ConfigSummary },
    /// VRRP child → parent: the instances' states (sent on every change).
    VrrpStatus { instances: Vec<crate::vrrp::instance::InstanceStatus> },
    /// Parent → restarted VRRP child, before its config: the instances its
    /// predecessor held as master, to be resumed as master at once.
    Resume { masters: Vec<String> },
    /// Parent → child: report your status now (a status, console or
    /// metrics request is waiting for it).
    Query { id: u32 },
    /// Child → parent: the answer to Query.
    Report { id: u32, report: Report },
    /// Parent → child: an operator's runtime action (`vigil ctl`). Id 0:
    /// replayed after a restart, answered but not awaited.
    Ctl { id: u32, action: CtlAction },
    /// Child → parent: the action's outcome, in words for the operator.
    CtlDone { id: u32, result: Result<String, String> },
    /// BFD child → parent → VRRP child: a `bfd_instance` session went Up,
    /// or left Up (`track_bfd`). The parent keeps the last of each and
    /// replays them to a restarted VRRP child.
    BfdState { name: String, up: bool },
    /// BFD child → parent, at each session state change: the Up sessions as
    /// a restarted BFD child takes them over. Parent → restarted BFD child,
    /// before its config: the same, so its sessions do not flap.
    BfdCarried { sessions: Vec<crate::bfd::engine::Carried> },
    /// Parent → child: send your recent log lines.
    DumpLog,
    /// Child → parent: recent log lines, oldest first.
    LogLines { lines: Vec<String> },
    /// Parent → child: fault injection for labs: wedge the scheduler loop.
    Wedge,
    /// Parent → child: stop cleanly.
    Stop,
    /// Parent → child: fault injection: make a system call the child's
    /// seccomp filter forbids (the kernel kills the child).
    ForbiddenSyscall,
}

/// What `vigil ctl` asks of a child.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CtlAction {
    /// Weight 0 for a real server (`on`), its checks going on; or back.
    Drain { virtual_server: String, real_server: String, on: bool },
    /// Give up mastership and hold the effective priority at 1 (`on`); or back.
    Demote { instance: String, on: bool },
}

impl CtlAction {
    /// The child that carries it out.
    pub fn role(&self) -> crate::cli::Role {
        match self {
            CtlAction::Drain { .. } => crate::cli::Role::Check,
            CtlAction::Demote { .. } => crate::cli::Role::Vrrp,
        }
    }

    /// The same action undone.
    pub fn inverse(&self) -> CtlAction {
        match self.clone() {
            CtlAction::Drain { virtual_server, real_server, on } => CtlAction::Drain { virtual_server, real_server, on: !on },
            CtlAction::Demote { instance, on } => CtlAction::Demote { instance, on: !on },
        }
    }

    /// Parses `vigil ctl` words: `drain VS RS`, `restore VS RS`,
    /// `demote INSTANCE`, `undemote INSTANCE`.
    pub fn parse(words: &[&str]) -> Result<CtlAction, String> {
        match words {
            ["drain", vs, rs] | ["restore", vs, rs] => Ok(CtlAction::Drain {
                virtual_server: vs.to_string(),
                real_server: rs.to_string(),
                on: words[0] == "drain",
            }),
            ["demote", i] | ["undemote", i] => Ok(CtlAction::Demote { instance: i.to_string(), on: words[0] == "demote" }),
            _ => Err("usage: vigil ctl drain VS RS | restore VS RS | demote INSTANCE | undemote INSTANCE".into()),
        }
    }
}

impl std::fmt::Display for CtlAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlAction::Drain { virtual_server, real_server, on } => {
                write!(f, "{} real server {real_server} of {virtual_server}", if *on { "drain" } else { "restore" })
            }
            CtlAction::Demote { instance, on } => write!(f, "{} {instance}", if *on { "demote" } else { "undemote" }),
        }
    }
}

/// A child's status as of the moment it answered a Query; each child
/// fills in its own part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub vrrp: Vec<crate::vrrp::instance::InstanceStatus>,
    pub sync_groups: Vec<crate::vrrp::instance::SyncGroupStatus>,
    pub virtual_servers: Vec<crate::lvs::status::VirtualServerStatus>,
    /// The BFD child's sessions.
    #[serde(default)]
    pub bfd: Vec<crate::bfd::status::SessionStatus>,
    /// The child's SMTP alert queue.
    pub alerts: crate::alert::AlertCounters,
    /// Times each fixed capacity was reached in the child (`os::capacity`).
    #[serde(default)]
    pub capacity_hits: Vec<(String, u64)>,
    /// The VRRP child's netlink reflector: events read, ENOBUFS overruns
    /// and the resyncs that answered them.
    #[serde(default)]
    pub netlink: Option<crate::netlink::reflector::ReflectorCounters>,
}

/// What a child says it applied, so that a reload can be checked from outside.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub vrrp_instances: u32,
    pub virtual_servers: u32,
    pub router_id: String,
}

#[derive(Debug)]
pub enum IpcError {
    Io(std::io::Error),
    Frame(FrameError),
    Decode(postcard::Error),
    Closed,
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpcError::Io(e) => write!(f, "ipc i/o: {e}"),
            IpcError::Frame(e) => write!(f, "ipc framing: {e}"),
            IpcError::Decode(e) => write!(f, "ipc decode: {e}"),
            IpcError::Closed => f.write_str("ipc channel closed"),
        }
    }
}

impl From<std::io::Error> for IpcError {
    fn from(e: std::io::Error) -> Self {
        IpcError::Io(e)
    }
}

/// Encodes `msg` into datagrams and hands each to `send`. A message that
/// fits one fragment is encoded on the stack.
pub fn encode(msg: &Msg, mut send: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<(), IpcError> {
    let mut buf = [0u8; 256];
    // buf[0] is the fragment header; see frame.rs.
    match postcard::to_slice(msg, &mut buf[1..]) {
        Ok(used) => {
            let n = used.len();
            buf[0] = frame::WHOLE;
            send(&buf[..1 + n])?;
            Ok(())
        }
        Err(postcard::Error::SerializeBufferFull) => {
            let bytes = postcard::to_allocvec(msg).map_err(IpcError::Decode)?;
            for frag in fragments(&bytes) {
                send(&frag)?;
            }
            Ok(())
        }
        Err(e) => Err(IpcError::Decode(e)),
    }
}

/// Decodes one message from a complete payload.
pub fn decode(payload: &[u8]) -> Result<Msg, IpcError> {
    postcard::from_bytes(payload).map_err(IpcError::Decode)
}

/// A connected pair of SOCK_SEQPACKET sockets, both close-on-exec.
pub fn socketpair() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(std::io::Error::from)
}

/// Opens a channel end: a non-blocking SOCK_SEQPACKET socket registered
/// with the scheduler of the process that owns it, split into its sending
/// and receiving halves.
pub fn channel(fd: std::os::fd::OwnedFd) -> std::io::Result<(Sender, Receiver)> {
    let io = std::rc::Rc::new(async_io::Async::new(fd)?);
    let gate = std::rc::Rc::new(smol::lock::Mutex::new(()));
    Ok((Sender { io: io.clone(), gate, written: Default::default() }, Receiver { io, rx: Reassembler::new(), buf: vec![0u8; FRAG_MAX].into_boxed_slice() }))
}

#[derive(Clone)]
pub struct Sender {
    io: std::rc::Rc<async_io::Async<std::os::fd::OwnedFd>>,
    /// Held while a fragmented message is being written: two of them
    /// interleaved would corrupt both (single datagrams may pass).
    gate: std::rc::Rc<smol::lock::Mutex<()>>,
    /// Datagrams written by `send`: while a large message goes out, the
    /// count moving says the peer is reading it (its queue is full, not
    /// stuck).
    written: std::rc::Rc<std::cell::Cell<u64>>,
}

pub struct Receiver {
    io: std::rc::Rc<async_io::Async<std::os::fd::OwnedFd>>,
    rx: Reassembler,
    buf: Box<[u8]>,
}

impl Sender {
    /// Sends without waiting: for small messages from a loop that must not
    /// block. The message goes as one datagram, whole or not at all
    /// (`WouldBlock` when the peer's queue is full, for instance behind a
    /// large message it is still reading); one that needs fragments is
    /// refused (`send` takes those), since a fragmented message cut short
    /// would corrupt the next one.
    pub fn try_send(&self, msg: &Msg) -> Result<(), IpcError> {
        let fd = self.io.get_ref();
        let mut sent = false;
        encode(msg, |d| {
            if sent || d[0] != frame::WHOLE {
                return Err(std::io::Error::other("message too large to send without waiting"));
            }
            sent = true;
            send_one(fd, d)
        })
    }

    /// Sends, waiting for buffer space (large messages). Fragmented
    /// messages from several tasks go one after the other.
    pub async fn send(&self, msg: &Msg) -> Result<(), IpcError> {
        let mut frags: Vec<Vec<u8>> = Vec::new();
        encode(msg, |d| {
            frags.push(d.to_vec());
            Ok(())
        })?;
        let _turn = if frags.len() > 1 { Some(self.gate.lock().await) } else { None };
        for f in &frags {
            self.io.write_with(|fd| send_one(fd, f)).await?;
            self.written.set(self.written.get().wrapping_add(1));
        }
        Ok(())
    }

    /// Datagrams `send` has written so far.
    pub fn written(&self) -> u64 {
        self.written.get()
    }
}

impl Receiver {
    /// Receives the next whole message.
    pub async fn recv(&mut self) -> Result<Msg, IpcError> {
        loop {
            let n = {
                let buf = &mut self.buf[..];
                self.io.read_with(|fd| recv_one(fd, buf)).await?
            };
            if n == 0 {
                return Err(IpcError::Closed);
            }
            let pushed = self.rx.push(&self.buf[..n]);
            if let Err(FrameError::TooLarge(size)) = &pushed {
                crate::os::capacity::hit(crate::os::capacity::Cap::IpcMessage, format_args!("an IPC message of {size} bytes dropped"));
            }
            match pushed.map_err(IpcError::Frame)? {
                frame::Pushed::Whole(range) => return decode(&self.buf[range]),
                frame::Pushed::Assembled => {
                    let msg = decode(self.rx.take());
                    self.rx.release();
                    return msg;
                }
                frame::Pushed::More => continue,
            }
        }
    }
}

fn send_one(fd: &std::os::fd::OwnedFd, d: &[u8]) -> std::io::Result<()> {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    send(fd.as_raw_fd(), d, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT)?;
    Ok(())
}

fn recv_one(fd: &std::os::fd::OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    use nix::sys::socket::{MsgFlags, recv};
    use std::os::fd::AsRawFd;
    Ok(recv(fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(msg: &Msg) -> (Msg, usize) {
        let mut datagrams = Vec::new();
        encode(msg, |d| {
            datagrams.push(d.to_vec());
            Ok(())
        })
        .unwrap();
        let mut r = Reassembler::new();
        let n = datagrams.len();
        for (i, d) in datagrams.iter().enumerate() {
            match r.push(d).unwrap() {
                frame::Pushed::Whole(range) => return (decode(&d[range]).unwrap(), n),
                frame::Pushed::Assembled => return (decode(r.take()).unwrap(), n),
                frame::Pushed::More => assert!(i + 1 < n),
            }
        }
        panic!("no message");
    }

    #[test]
    fn hello_is_one_small_datagram() {
        let (m, n) = round_trip(&Msg::Hello { seq: 7 });
        assert_eq!(m, Msg::Hello { seq: 7 });
        assert_eq!(n, 1);
        let ack = Msg::HelloAck { seq: 7, mem: MemStats { enabled: true, allocs: 1 << 40, frees: 3, live_bytes: 9, peak_bytes: 10, on_request: 2 }, checks: 5 };
        assert_eq!(round_trip(&ack), (ack.clone(), 1));
    }

    #[test]
    fn large_messages_are_fragmented_and_reassembled() {
        let lines: Vec<String> = (0..5000).map(|i| format!("line {i} {}", "x".repeat(40))).collect();
        let msg = Msg::LogLines { lines };
        let (m, n) = round_trip(&msg);
        assert!(n > 1, "expected several fragments, got {n}");
        assert_eq!(m, msg);
    }

    #[test]
    fn over_a_real_socketpair() {
        let (a, b) = socketpair().unwrap();
        let (ca, _ra) = channel(a).unwrap();
        let (_sb, mut cb) = channel(b).unwrap();
        let big = Msg::LogLines { lines: (0..20000).map(|i| format!("{i:08}")).collect() };
        let got = async_io::block_on(async {
            let send = async {
                ca.try_send(&Msg::Hello { seq: 1 }).unwrap();
                ca.send(&big).await.unwrap();
                ca.try_send(&Msg::Stop).unwrap();
            };
            let recv = async {
                let mut v = Vec::new();
                for _ in 0..3 {
                    v.push(cb.recv().await.unwrap());
                }
                v
            };
            smol::future::zip(send, recv).await.1
        });
        assert_eq!(got, vec![Msg::Hello { seq: 1 }, big, Msg::Stop]);
        drop((ca, _ra));
        let closed = async_io::block_on(cb.recv());
        assert!(matches!(closed, Err(IpcError::Closed)));
    }

    /// Two fragmented messages sent at once by two tasks, and hellos sent
    /// while they are under way (the socket full): every message arrives
    /// whole (the soak's 255 instances and 10,000 real servers met this).
    #[test]
    fn concurrent_sends_and_hellos_do_not_corrupt_each_other() {
        let (a, b) = socketpair().unwrap();
        let (ca, _ra) = channel(a).unwrap();
        let (_sb, mut cb) = channel(b).unwrap();
        let big = |tag: &str| Msg::LogLines { lines: (0..20000).map(|i| format!("{tag}{i:08}")).collect() };
        let (x, y) = (big("x"), big("y"));
        assert!(ca.try_send(&x).is_err(), "a fragmented message is not sent without waiting");
        let got = async_io::block_on(async {
            let hellos = async {
                let mut sent = 0;
                for seq in 0..200 {
                    if ca.try_send(&Msg::Hello { seq }).is_ok() {
                        sent += 1;
                    }
                    smol::future::yield_now().await;
                }
                sent
            };
            let sends = smol::future::zip(ca.send(&x), ca.send(&y));
            let send = async {
                let (sent, (r1, r2)) = smol::future::zip(hellos, sends).await;
                r1.unwrap();
                r2.unwrap();
                ca.try_send(&Msg::Stop).unwrap();
                sent
            };
            let recv = async {
                let mut v = Vec::new();
                loop {
                    let m = cb.recv().await.unwrap();
                    if m == Msg::Stop {
                        return v;
                    }
                    v.push(m);
                }
            };
            smol::future::zip(send, recv).await
        });
        let (hellos, msgs) = got;
        assert_eq!(msgs.iter().filter(|m| matches!(m, Msg::Hello { .. })).count(), hellos);
        let bigs: Vec<&Msg> = msgs.iter().filter(|m| matches!(m, Msg::LogLines { .. })).collect();
        assert_eq!(bigs.len(), 2);
        assert!(bigs.contains(&&x) && bigs.contains(&&y));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xff; 9][..], &[200, 1, 2][..]] {
            assert!(decode(bytes).is_err());
        }
    }
}
