//! The BFD child's engine: one session per `bfd_instance`, driven by
//! [`fsm::Session`](super::fsm::Session) with the real clock and a jitter
//! source seeded from getrandom, over the sockets of [`net`](super::net).
//!
//! One task owns every session: it waits for a datagram on the receive
//! sockets, for the earliest timer of any session, or for a reload, and runs
//! what is due. Packets go out from a fixed buffer; nothing is allocated
//! per packet. Packets are matched to a session as keepalived's
//! `bfd_handle_packet` does: by Your Discriminator, or when that is zero by
//! the source address; the TTL is checked against the session's `ttl` and
//! `max_hops` (RFC 5881 §5: 255 on a single hop). A `multihop` session (RFC
//! 5883, keepalived 2.2.8's keyword) talks to and listens on UDP 4784 and
//! only hears packets that came to that port; its TTL rule is the same
//! `ttl` / `max_hops` one, so across routers `max_hops` says how many.

use super::fsm::{Action, Input, Jitter, Session, SessionConfig, XorShift32};
use super::net::{Received, Socket};
use super::status::SessionStatus;
use super::wire::{self, ControlRepr, Diag, Micros, State};
use crate::config::model::BfdInstance;
use crate::vrrp::fsm::Instant;
use async_io::{Async, Timer};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::rc::Rc;

/// Largest datagram read: a control packet is 24 bytes, 26..=52 with authentication.
const RX_BUF: usize = 128;
/// A control packet without authentication.
const TX_BUF: usize = wire::HEADER_LEN;

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // The raw system call, not libc's getrandom(): the static musl build
    // links that to a null address (a SIGSEGV at the first config, as the
    // checker child once had, check::net).
    // SAFETY: getrandom(2) writes at most b.len() bytes into b, which is
    // alive and exclusively borrowed for the call.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr(), b.len(), libc::GRND_NONBLOCK) };
    if n == 4 {
        return u32::from_ne_bytes(b);
    }
    // No entropy (an ancient kernel): the clock and the pid spread it enough.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(1);
    t ^ std::process::id().rotate_left(16)
}

/// The fsm's settings of a `bfd_instance`.
pub fn session_config(b: &BfdInstance) -> SessionConfig {
    let us = |v: u64| Micros(u32::try_from(v).unwrap_or(u32::MAX));
    SessionConfig { desired_min_tx: us(b.min_tx.0), required_min_rx: us(b.min_rx.0), idle_tx: us(b.idle_tx.0), detect_mult: b.multiplier, passive: b.passive }
}

struct Sess {
    cfg: BfdInstance,
    fsm: Session<XorShift32>,
    tx: Socket,
    local: String,
    /// Our source port.
    port: u16,
    dst: SocketAddr,
    remote_diag: Diag,
    changed_at: std::time::Instant,
    rx_bad_ttl: u64,
    tx_errors: u64,
}

/// Where a session's news goes: (`bfd_instance` name, Up or not). Called
/// when a session enters or leaves Up, for instances the VRRP child hears
/// (`vrrp`, or neither `vrrp` nor `checker` named).
pub type OnEvent = Rc<dyn Fn(&str, bool)>;

/// An Up session as a restarted BFD child takes it over: by name and
/// neighbour, from the same source port (RFC 5881 §4), with the fsm's
/// [`Resume`](super::fsm::Resume).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Carried {
    pub name: String,
    pub neighbor: IpAddr,
    pub port: u16,
    pub resume: super::fsm::Resume,
}

/// Where the Up sessions' [`Carried`] state goes after any state change
/// (the parent keeps it for the next BFD child).
pub type OnCarry = Rc<dyn Fn(Vec<Carried>)>;

/// The sessions and the clock they run on.
struct Sessions {
    on_event: OnEvent,
    on_carry: OnCarry,
    list: Vec<Sess>,
    /// The zero of the fsm's `Instant`s.
    base: std::time::Instant,
    tx_buf: [u8; TX_BUF],
    /// Datagrams no session took (parse error, unknown discriminator or source).
    rx_discarded: u64,
}

impl Sessions {
    fn now(&self) -> Instant {
        Instant::from_micros(self.base.elapsed().as_micros() as u64)
    }

    fn deadline(&self) -> Option<std::time::Instant> {
        let at = self.list.iter().filter_map(|s| s.fsm.poll_at()).min()?;
        Some(self.base + std::time::Duration::from_micros(at.as_micros()))
    }

    /// Carries out a session's actions: packets out, state changes logged
    /// as keepalived 2.2.7 logs them ("(NAME) Entering Up state"; older
    /// releases began with "BFD_Instance(NAME)").
    fn run(&mut self, i: usize, actions: super::fsm::Actions) {
        let mut changed = false;
        for a in actions {
            let s = &mut self.list[i];
            match a {
                Action::Send(p) => {
                    let len = match p.emit(&mut self.tx_buf) {
                        Ok(n) => n,
                        Err(e) => {
                            log::error!("({}) cannot build a packet: {e}", s.cfg.name);
                            continue;
                        }
                    };
                    if let Err(e) = s.tx.send_to(&self.tx_buf[..len], s.dst) {
                        s.tx_errors += 1;
                        // Once per burst, not once per packet at 10 ms.
                        if s.tx_errors.is_power_of_two() {
                            log::error!("({}) sendto() error ({e}), {} so far", s.cfg.name, s.tx_errors);
                        }
                    }
                }
                Action::StateChange { from, to, diag } => {
                    changed = true;
                    s.changed_at = std::time::Instant::now();
                    // Told to whichever process tracks it (the parent passes it to
                    // both). Not when the neighbour took the session down on
                    // purpose (its AdminDown): RFC 5880 6.8.16 says that is no
                    // connectivity failure, and keepalived's bfd_state_fall sends
                    // no event then: a track_bfd or BFD_CHECK stays as it is.
                    // Nor when we take it down ourselves (our AdminDown, at a
                    // stop), as keepalived's bfd_state_admindown.
                    let admin_down = to == State::AdminDown || (to != State::Up && s.fsm.remote_state() == State::AdminDown);
                    if (from == State::Up) != (to == State::Up) && (s.cfg.vrrp || s.cfg.checker) && !admin_down {
                        (self.on_event)(&s.cfg.name, to == State::Up);
                    }
                    match to {
                        State::Down => log::warn!(
                            "({}) Entering {} state (Local diagnostic - {}, Remote diagnostic - {})",
                            s.cfg.name,
                            to.name(),
                            diag.name(),
                            s.remote_diag.name()
                        ),
                        State::AdminDown => log::warn!("({}) Entering {} state", s.cfg.name, to.name()),
                        State::Init | State::Up => log::info!("({}) Entering {} state", s.cfg.name, to.name()),
                    }
                }
                Action::DetectionTimeExpired { silent_for, detection_time } => {
                    let overdue = silent_for.as_micros().saturating_sub(detection_time.as_micros());
                    log::warn!("({}) Expired after {} ms ({} usec overdue)", s.cfg.name, silent_for.as_micros() / 1000, overdue);
                }
            }
        }
        if changed {
            (self.on_carry)(self.carried());
        }
    }

    /// The Up sessions, as a restarted child would take them over.
    fn carried(&self) -> Vec<Carried> {
        self.list
            .iter()
            .filter_map(|s| Some(Carried { name: s.cfg.name.clone(), neighbor: s.cfg.neighbor_ip, port: s.port, resume: s.fsm.resume_state()? }))
            .collect()
    }

    fn poll_due(&mut self) {
        let now = self.now();
        for i in 0..self.list.len() {
            if self.list[i].fsm.poll_at().is_some_and(|t| t <= now) {
                let actions = self.list[i].fsm.poll(now);
                self.run(i, actions);
            }
        }
    }

    /// The session a packet is for; `multihop`: it came to port 4784, and
    /// only multihop sessions hear that port (and only they).
    fn find(&self, p: &ControlRepr, src: IpAddr, multihop: bool) -> Option<usize> {
        if p.your_discriminator != 0 {
            return self.list.iter().position(|s| s.fsm.local_discriminator() == p.your_discriminator && s.cfg.multihop == multihop);
        }
        self.list.iter().position(|s| s.cfg.neighbor_ip == src && s.cfg.multihop == multihop)
    }

    fn receive(&mut self, buf: &[u8], r: Received, multihop: bool) {
        let p = match ControlRepr::parse_bytes(buf) {
            Ok(p) => p,
            Err(e) => {
                self.rx_discarded += 1;
                log::debug!("Discarding bogus packet from {}: {e}", r.src);
                return;
            }
        };
        let Some(i) = self.find(&p, r.src.ip(), multihop) else {
            self.rx_discarded += 1;
            log::debug!("Discarding packet from {} (session is not found - your discriminator field is {})", r.src, p.your_discriminator);
            return;
        };
        let s = &mut self.list[i];
        let ttl_ok = r.ttl.is_some_and(|t| wire::ttl_acceptable(t, s.cfg.ttl, s.cfg.max_hops));
        if !ttl_ok {
            s.rx_bad_ttl += 1;
            log::debug!("({}) Discarding packet from {}: TTL {:?} below {} - {}", s.cfg.name, r.src, r.ttl, s.cfg.ttl, s.cfg.max_hops);
            return;
        }
        let now = self.now();
        let s = &mut self.list[i];
        s.remote_diag = p.diag;
        match s.fsm.handle(now, Input::Received(p)) {
            Ok(actions) => self.run(i, actions),
            Err(why) => log::debug!("({}) Discarding packet from {} ({why})", self.list[i].cfg.name, r.src),
        }
    }

    fn status(&self) -> Vec<SessionStatus> {
        let now = std::time::Instant::now();
        self.list
            .iter()
            .map(|s| SessionStatus {
                name: s.cfg.name.clone(),
                neighbor: s.dst.to_string(),
                local: s.local.clone(),
                state: s.fsm.state(),
                remote_state: s.fsm.remote_state(),
                local_diag: s.fsm.local_diag(),
                remote_diag: s.remote_diag,
                local_discriminator: s.fsm.local_discriminator(),
                remote_discriminator: s.fsm.remote_discriminator(),
                detection_time_us: s.fsm.detection_time().map(|d| d.as_micros()),
                tx_interval_us: s.fsm.tx_interval().map(|d| d.as_micros()),
                since_change_ms: now.duration_since(s.changed_at).as_millis() as u64,
                stats: *s.fsm.stats(),
                rx_bad_ttl: s.rx_bad_ttl,
                tx_errors: s.tx_errors,
            })
            .collect()
    }
}

/// The receive sockets, opened for the families and ports the sessions
/// use, indexed by [`Receivers::slot`].
struct Receivers {
    socks: [Option<Async<Socket>>; 4],
}

impl Receivers {
    /// (IPv6, multihop) as an index.
    fn slot(v6: bool, multihop: bool) -> usize {
        usize::from(v6) | usize::from(multihop) << 1
    }

    fn port(multihop: bool) -> u16 {
        if multihop { wire::PORT_MULTI_HOP } else { wire::PORT_SINGLE_HOP }
    }

    fn open(v6: bool, multihop: bool, have: Option<Async<Socket>>) -> Option<Async<Socket>> {
        if have.is_some() {
            return have;
        }
        let port = Receivers::port(multihop);
        match Socket::receiver(v6, port).and_then(Async::new) {
            Ok(s) => Some(s),
            Err(e) => {
                log::error!("BFD: cannot listen on UDP {port} ({}): {e}", if v6 { "IPv6" } else { "IPv4" });
                None
            }
        }
    }
}

enum Ev {
    /// The receive socket of this [`Receivers::slot`] has data.
    Readable(usize),
    Timer,
    Kick,
}

/// Wakes the engine's task after a reload, without allocating (a channel's
/// receive allocates a listener each time it waits).
#[derive(Default)]
struct Kick {
    set: std::cell::Cell<bool>,
    waker: RefCell<Option<std::task::Waker>>,
}

impl Kick {
    fn kick(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.set.replace(false) {
                return std::task::Poll::Ready(());
            }
            let mut w = self.waker.borrow_mut();
            if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await
    }
}

/// The running sessions.
pub struct Engine {
    sessions: Rc<RefCell<Sessions>>,
    receivers: Rc<RefCell<Receivers>>,
    kick: Rc<Kick>,
    _task: smol::Task<()>,
}

impl Engine {
    pub fn start(ex: &smol::LocalExecutor<'static>, on_event: OnEvent, on_carry: OnCarry) -> Engine {
        let sessions =
            Rc::new(RefCell::new(Sessions { on_event, on_carry, list: Vec::new(), base: std::time::Instant::now(), tx_buf: [0; TX_BUF], rx_discarded: 0 }));
        let receivers = Rc::new(RefCell::new(Receivers { socks: [None, None, None, None] }));
        let kick = Rc::new(Kick::default());
        let task = ex.spawn(run(sessions.clone(), receivers.clone(), kick.clone()));
        Engine { sessions, receivers, kick, _task: task }
    }

    /// Puts `instances` in force: a session whose name, addresses and TTL
    /// are unchanged goes on (new timers by a Poll Sequence when Up);
    /// others start afresh; those gone are dropped.
    /// `carried`: Up sessions of the previous BFD child, taken over where
    /// the instance is new here and its name and neighbour match.
    pub fn apply(&self, instances: &[BfdInstance], carried: &[Carried]) {
        let mut ss = self.sessions.borrow_mut();
        let now = ss.now();
        let mut old = std::mem::take(&mut ss.list);
        let mut used: Vec<u32> = Vec::new();
        for b in instances {
            let same = old.iter().position(|s| {
                s.cfg.name == b.name
                    && s.cfg.neighbor_ip == b.neighbor_ip
                    && s.cfg.source_ip == b.source_ip
                    && s.cfg.ttl == b.ttl
                    && s.cfg.multihop == b.multihop
            });
            if let Some(k) = same {
                let mut s = old.swap_remove(k);
                if s.cfg != *b {
                    let cfg = session_config(b);
                    s.cfg = b.clone();
                    if *s.fsm.config() != cfg {
                        if let Ok(actions) = s.fsm.handle(now, Input::Reconfigure(cfg)) {
                            used.push(s.fsm.local_discriminator());
                            ss.list.push(s);
                            let i = ss.list.len() - 1;
                            ss.run(i, actions);
                            continue;
                        }
                    }
                }
                used.push(s.fsm.local_discriminator());
                ss.list.push(s);
                continue;
            }
            let mut discr = random_u32();
            while discr == 0
                || used.contains(&discr)
                || old.iter().any(|s| s.fsm.local_discriminator() == discr)
                || carried.iter().any(|c| c.resume.local_discr == discr)
            {
                discr = random_u32();
            }
            let mut jitter = XorShift32::new(random_u32());
            let mut take_over = carried.iter().find(|c| c.name == b.name && c.neighbor == b.neighbor_ip && !used.contains(&c.resume.local_discr));
            let tx = match take_over.and_then(|c| Socket::sender_on(b.neighbor_ip, b.source_ip, b.ttl, c.port).ok()) {
                Some(t) => t,
                None => {
                    take_over = None;
                    match Socket::sender(b.neighbor_ip, b.source_ip, b.ttl, || jitter.next_u32()) {
                        Ok(t) => t,
                        Err(e) => {
                            log::error!("({}) cannot open its socket: {e}; not started", b.name);
                            continue;
                        }
                    }
                }
            };
            let bound = tx.local_addr().ok();
            let (local, port) = (bound.map(|a| a.to_string()).unwrap_or_default(), bound.map_or(0, |a| a.port()));
            let fsm = match take_over {
                Some(c) => {
                    discr = c.resume.local_discr;
                    log::info!(
                        "({}) taken over Up from the previous BFD process: neighbor {} from {local}, discriminators {discr} / {}",
                        b.name,
                        b.neighbor_ip,
                        c.resume.remote_discr
                    );
                    Session::resume(session_config(b), c.resume, jitter, now)
                }
                None => {
                    log::info!("({}) started: neighbor {} from {local}, local discriminator {discr}", b.name, b.neighbor_ip);
                    Session::new(session_config(b), discr, jitter)
                }
            };
            used.push(discr);
            ss.list.push(Sess {
                cfg: b.clone(),
                fsm,
                tx,
                local,
                port,
                dst: SocketAddr::new(b.neighbor_ip, Receivers::port(b.multihop)),
                remote_diag: Diag::NoDiagnostic,
                changed_at: std::time::Instant::now(),
                rx_bad_ttl: 0,
                tx_errors: 0,
            });
            let i = ss.list.len() - 1;
            let actions = ss.list[i].fsm.start(now);
            ss.run(i, actions);
        }
        for s in old {
            log::info!("({}) removed", s.cfg.name);
        }
        let mut r = self.receivers.borrow_mut();
        for (v6, multihop) in [(false, false), (true, false), (false, true), (true, true)] {
            let used = ss.list.iter().any(|s| s.dst.is_ipv6() == v6 && s.cfg.multihop == multihop);
            let k = Receivers::slot(v6, multihop);
            r.socks[k] = if used { Receivers::open(v6, multihop, r.socks[k].take()) } else { None };
        }
        drop(r);
        drop(ss);
        // The loop waits on new timers and sockets.
        self.kick.kick();
    }

    pub fn status(&self) -> Vec<SessionStatus> {
        self.sessions.borrow().status()
    }

    /// keepalived's /tmp/keepalived_bfd.data text ([`dump`](super::dump)).
    pub fn data_dump(&self, config: &crate::config::Config) -> String {
        use std::os::fd::AsRawFd;
        let fd_in = self.receivers.borrow().socks.iter().flatten().next().map_or(-1, |s| s.get_ref().as_fd().as_raw_fd());
        let ss = self.sessions.borrow();
        let now = ss.now();
        let wall = crate::vrrp::dump::micros_since_epoch(std::time::SystemTime::now());
        let data: Vec<super::dump::SessionData> = ss
            .list
            .iter()
            .map(|s| {
                let view = s.fsm.dump_view();
                let slow = std::cmp::max(s.cfg.idle_tx.0, 1_000_000);
                super::dump::SessionData {
                    cfg: &s.cfg,
                    fd_out: s.tx.as_fd().as_raw_fd(),
                    send_error: s.tx_errors > 0,
                    state: s.fsm.state(),
                    remote_state: s.fsm.remote_state(),
                    local_discr: s.fsm.local_discriminator(),
                    remote_discr: s.fsm.remote_discriminator(),
                    local_diag: s.fsm.local_diag(),
                    remote_diag: s.remote_diag,
                    local_tx_us: s.fsm.tx_interval().map_or(slow, |d| d.as_micros()),
                    local_detect_us: s.fsm.detection_time().map_or(0, |d| d.as_micros()),
                    view,
                    last_seen_us: view.last_rx.map(|t| wall.saturating_sub(now.as_micros().saturating_sub(t.as_micros()))),
                }
            })
            .collect();
        super::dump::render(config, fd_in, &data)
    }

    /// A clean stop: every session goes AdminDown and says so once (RFC
    /// 5880 §6.8.16), so the peer reads diag 7 rather than a timeout.
    pub fn stop(&self) {
        let mut ss = self.sessions.borrow_mut();
        let now = ss.now();
        for i in 0..ss.list.len() {
            if let Ok(actions) = ss.list[i].fsm.handle(now, Input::AdminDown) {
                ss.run(i, actions);
            }
        }
    }
}

async fn readable(s: Option<&Async<Socket>>) {
    match s {
        Some(s) => {
            let _ = s.readable().await;
        }
        None => std::future::pending().await,
    }
}

async fn run(sessions: Rc<RefCell<Sessions>>, receivers: Rc<RefCell<Receivers>>, kick: Rc<Kick>) {
    let mut buf = [0u8; RX_BUF];
    // One timer, re-armed each turn: a new timer per turn costs the reactor
    // an allocation whenever its timer map empties and fills again.
    let mut timer = Timer::never();
    loop {
        match sessions.borrow().deadline() {
            Some(d) => timer.set_at(d),
            None => timer.set_after(std::time::Duration::from_secs(3600)),
        }
        let ev = {
            let r = receivers.borrow();
            let timer = async {
                (&mut timer).await;
                Ev::Timer
            };
            let rx = |k: usize| {
                let s = r.socks[k].as_ref();
                async move {
                    readable(s).await;
                    Ev::Readable(k)
                }
            };
            use smol::future::or;
            or(
                or(or(rx(0), rx(1)), or(rx(2), rx(3))),
                or(timer, async {
                    kick.wait().await;
                    Ev::Kick
                }),
            )
            .await
        };
        match ev {
            Ev::Readable(k) => loop {
                let got = {
                    let r = receivers.borrow();
                    match r.socks[k].as_ref() {
                        Some(s) => s.get_ref().recv(&mut buf),
                        None => break,
                    }
                };
                match got {
                    Ok(r) => sessions.borrow_mut().receive(&buf[..r.len.min(RX_BUF)], r, k >= 2),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("BFD: recvmsg: {e}");
                        break;
                    }
                }
            },
            Ev::Timer => sessions.borrow_mut().poll_due(),
            Ev::Kick => {}
        }
        // Timers due while packets were handled run now, not a turn later.
        sessions.borrow_mut().poll_due();
    }
}
