//! One BFD session's state machine (RFC 5880 §6.2 and §6.8, asynchronous mode), pure:
//! (state, input, now) -> actions, as `vrrp::fsm`.
//!
//! Inputs go in through [`Session::handle`]; timers run when the caller calls
//! [`Session::poll`] at or after [`Session::poll_at`]. Time is passed in as [`Instant`]
//! (microseconds on the caller's monotonic clock); the jitter of the transmit interval comes
//! from a [`Jitter`] source the caller supplies, so that tests are deterministic. The machine
//! never reads a clock and never allocates: actions come back in a fixed-capacity [`Actions`].
//!
//! What the RFC leaves open, we settle as keepalived 2.2.7 does, except where noted:
//! - While the session is not Up, packets are sent every `idle_tx` (keepalived's "desired idle
//!   TX interval", default and minimum 1 s), and carry it as Desired Min TX (§6.8.3: not less
//!   than one second). On reaching Up the configured `min_tx` is advertised with a Poll
//!   Sequence (keepalived's `bfd_state_up`).
//! - `passive` (§6.1): nothing is sent until a packet from the peer has taught us its
//!   discriminator, and again nothing once that is forgotten (a Detection Time of silence).
//!   keepalived stops at every Down; the RFC's rule keeps answering a peer that is still there.
//! - Jitter: 75–100 % of the interval, 75–90 % when our Detect Mult is 1 (§6.8.7; keepalived
//!   applies 75–90 % always, a slip in its condition).
//! - AdminDown (§6.8.16): we go on sending AdminDown packets for one Detection Time of the
//!   peer's, so that it reads diag 3 rather than a timeout, then stop. keepalived stops at once.
//! - Demand mode is never asked for (keepalived has none); a peer's request is honoured.
//!   The Echo function is not offered (Required Min Echo RX 0).
//! - A local discriminator is the caller's to choose (unique, nonzero) and does not change
//!   when the session goes down (keepalived draws a new one; the RFC does not ask for it).

use core::fmt;

use super::wire::{ControlRepr, Diag, Micros, State};
use crate::vrrp::fsm::{Duration, Instant};

/// §6.8.3: the Desired Min TX of a session that is not Up is at least one second.
pub const SLOW_TX: Micros = Micros(1_000_000);
/// Most actions one input or one `poll` can produce: the largest case is a detection-time
/// expiry (expiry, state change) followed by a periodic send, or a received Poll (state
/// change, immediate Final). Overflow is counted in `Stats::actions_dropped`.
pub const MAX_ACTIONS: usize = 4;

/// A source of jitter for the transmit interval: uniformly distributed 32-bit values.
pub trait Jitter {
    fn next_u32(&mut self) -> u32;
}

/// xorshift32: small, deterministic, good enough to spread transmit times. The runtime seeds
/// it from getrandom; tests seed it with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorShift32(u32);

impl XorShift32 {
    /// A zero seed (the one fixed point of xorshift) is replaced by a constant.
    pub const fn new(seed: u32) -> Self {
        XorShift32(if seed == 0 { 0x9e37_79b9 } else { seed })
    }
}

impl Jitter for XorShift32 {
    fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// A session's settings, in keepalived's terms (`bfd_instance` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionConfig {
    /// `min_tx`: Desired Min TX Interval once Up (keepalived default 10 ms).
    pub desired_min_tx: Micros,
    /// `min_rx`: Required Min RX Interval (keepalived default 10 ms).
    pub required_min_rx: Micros,
    /// `idle_tx`: Desired Min TX while not Up (keepalived default 1 s; never below 1 s here).
    pub idle_tx: Micros,
    /// `multiplier`: Detect Mult (keepalived default 5).
    pub detect_mult: u8,
    /// `passive`: do not start the session; answer a peer that does.
    pub passive: bool,
}

impl Default for SessionConfig {
    /// keepalived's defaults (bfd.h: BFD_MINRX_DEFAULT, BFD_MINTX_DEFAULT, BFD_IDLETX_DEFAULT,
    /// BFD_MULTIPLIER_DEFAULT).
    fn default() -> Self {
        SessionConfig {
            desired_min_tx: Micros::from_millis(10),
            required_min_rx: Micros::from_millis(10),
            idle_tx: Micros::from_millis(1000),
            detect_mult: 5,
            passive: false,
        }
    }
}

/// What a restarted BFD child needs to take an Up session over without a
/// flap: the discriminators both sides know it by and the peer's last
/// parameters. The parent keeps it from the previous child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub local_discr: u32,
    pub remote_discr: u32,
    pub remote_min_rx: Micros,
    pub remote_desired_min_tx: Micros,
    pub remote_detect_mult: u8,
}

/// Inputs. Timer expiry is not an input: call [`Session::poll`] at or after
/// [`Session::poll_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Input {
    /// A packet that passed the codec's checks ([`ControlRepr::parse`]) and was matched to this
    /// session (by Your Discriminator, or by addresses when that is zero).
    Received(ControlRepr),
    /// Administratively disable the session (§6.8.16).
    AdminDown,
    /// Leave AdminDown for Down.
    Enable,
    /// A reload changed the session's settings; state is kept, a Poll Sequence announces new
    /// intervals to an Up peer (§6.8.3).
    Reconfigure(SessionConfig),
}

/// What the I/O layer must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// Send this control packet to the peer.
    Send(ControlRepr),
    /// The session changed state; `diag` is the local diagnostic now sent.
    StateChange { from: State, to: State, diag: Diag },
    /// A Detection Time passed without a packet from the peer (`silent_for` since the last).
    DetectionTimeExpired { silent_for: Duration, detection_time: Duration },
}

pub type Actions = heapless::Vec<Action, MAX_ACTIONS>;

/// Counters, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub rx: u64,
    pub tx: u64,
    /// Packets received while AdminDown (§6.8.6 discards them).
    pub rx_admin_down: u64,
    /// Your Discriminator nonzero and not ours.
    pub rx_wrong_discriminator: u64,
    pub up: u64,
    pub down: u64,
    pub detection_expired: u64,
    pub poll_sequences: u64,
    /// Actions lost because `MAX_ACTIONS` was reached (a bug if ever > 0).
    pub actions_dropped: u64,
}

/// Why a received packet changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    AdminDown,
    WrongDiscriminator(u32),
}

impl fmt::Display for Discard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discard::AdminDown => write!(f, "session is in AdminDown state"),
            Discard::WrongDiscriminator(d) => write!(f, "your discriminator 0x{d:08x} is not ours"),
        }
    }
}

/// A session's timers and the peer's parameters, for the data dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpView {
    pub remote_min_rx: Micros,
    pub remote_desired_min_tx: Micros,
    pub remote_detect_mult: u8,
    pub remote_demand: bool,
    /// A Poll Sequence of ours runs.
    pub poll: bool,
    /// The interval the peer sends at (its Desired Min TX, or our Required Min RX if larger).
    pub remote_tx: Duration,
    /// The Detection Time the peer applies to us.
    pub remote_detection_time: Duration,
    pub last_rx: Option<Instant>,
    /// Our periodic transmission is scheduled.
    pub sending: bool,
    /// The Detection Time runs (Init or Up).
    pub expiring: bool,
}

/// One BFD session. `J` supplies the transmit jitter.
#[derive(Debug, Clone)]
pub struct Session<J: Jitter> {
    cfg: SessionConfig,
    jitter: J,
    // RFC 5880 §6.8.1 state variables.
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    /// bfd.DesiredMinTxInterval: what our packets carry now.
    desired_min_tx: Micros,
    remote_min_rx: Micros,
    remote_desired_min_tx: Micros,
    remote_detect_mult: u8,
    remote_demand: bool,
    // The values in force while a Poll Sequence runs (§6.8.3): an increased Desired Min TX
    // and a reduced Required Min RX take effect only when it ends.
    tx_desired_in_force: Micros,
    rx_required_in_force: Micros,
    poll_active: bool,
    // Timers.
    last_rx: Option<Instant>,
    tx_at: Option<Instant>,
    admin_down_tx_until: Option<Instant>,
    stats: Stats,
}

fn max_micros(a: Micros, b: Micros) -> Micros {
    if a >= b { a } else { b }
}

impl<J: Jitter> Session<J> {
    /// A session in Down, sending nothing until [`Session::start`]. `local_discr` must be
    /// nonzero and unique among the caller's sessions (a zero is replaced by 1).
    pub fn new(cfg: SessionConfig, local_discr: u32, jitter: J) -> Self {
        let cfg = Self::normalise(cfg);
        let slow = max_micros(cfg.idle_tx, SLOW_TX);
        Session {
            cfg,
            jitter,
            state: State::Down,
            remote_state: State::Down,
            local_discr: local_discr.max(1),
            remote_discr: 0,
            local_diag: Diag::NoDiagnostic,
            desired_min_tx: slow,
            // §6.8.1: bfd.RemoteMinRxInterval starts at 1 (so that we may send at all).
            remote_min_rx: Micros(1),
            remote_desired_min_tx: Micros::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            tx_desired_in_force: slow,
            rx_required_in_force: cfg.required_min_rx,
            poll_active: false,
            last_rx: None,
            tx_at: None,
            admin_down_tx_until: None,
            stats: Stats::default(),
        }
    }

    /// An Up session taken over from a previous process (`r`): Up at once,
    /// with the configured Desired Min TX in force (the peer has it from
    /// the Poll Sequence that ran before), and a full Detection Time of
    /// grace from `now`. Call [`Session::start`] next: it sends at once.
    pub fn resume(cfg: SessionConfig, r: Resume, jitter: J, now: Instant) -> Self {
        let mut s = Session::new(cfg, r.local_discr, jitter);
        s.state = State::Up;
        s.remote_state = State::Up;
        s.remote_discr = r.remote_discr;
        s.remote_min_rx = r.remote_min_rx;
        s.remote_desired_min_tx = r.remote_desired_min_tx;
        s.remote_detect_mult = r.remote_detect_mult;
        s.desired_min_tx = s.cfg.desired_min_tx;
        s.tx_desired_in_force = s.cfg.desired_min_tx;
        s.last_rx = Some(now);
        s
    }

    /// What [`Session::resume`] needs, while the session is Up.
    pub fn resume_state(&self) -> Option<Resume> {
        (self.state == State::Up && self.remote_discr != 0).then_some(Resume {
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            remote_min_rx: self.remote_min_rx,
            remote_desired_min_tx: self.remote_desired_min_tx,
            remote_detect_mult: self.remote_detect_mult,
        })
    }

    fn normalise(mut cfg: SessionConfig) -> SessionConfig {
        cfg.detect_mult = cfg.detect_mult.max(1);
        cfg.desired_min_tx = max_micros(cfg.desired_min_tx, Micros(1));
        cfg
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    /// The peer's discriminator; zero when not known (never heard, or silent a Detection Time).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn poll_sequence_active(&self) -> bool {
        self.poll_active
    }
    /// bfd.DesiredMinTxInterval as our packets carry it now.
    pub fn desired_min_tx(&self) -> Micros {
        self.desired_min_tx
    }

    fn slow_tx(&self) -> Micros {
        max_micros(self.cfg.idle_tx, SLOW_TX)
    }

    /// §6.8.7: the interval between our periodic packets before jitter, or `None` when the
    /// peer asked for none (Required Min RX 0).
    pub fn tx_interval(&self) -> Option<Duration> {
        (self.remote_min_rx.0 != 0).then(|| max_micros(self.tx_desired_in_force, self.remote_min_rx).to_duration())
    }

    /// §6.8.4: how long the peer may be silent; `None` before its first packet.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0).then(|| {
            max_micros(self.rx_required_in_force, self.remote_desired_min_tx)
                .to_duration()
                .saturating_mul(u64::from(self.remote_detect_mult))
        })
    }

    /// The Detection Time the peer applies to us: our Detect Mult times our interval.
    fn remote_detection_time(&self) -> Duration {
        self.tx_interval().unwrap_or(self.slow_tx().to_duration()).saturating_mul(u64::from(self.cfg.detect_mult))
    }

    fn silence_deadline(&self) -> Option<Instant> {
        Some(self.last_rx?.add(self.detection_time()?))
    }

    /// What keepalived's data dump shows of a session beyond its state (bfd_data.c dump_bfd).
    pub fn dump_view(&self) -> DumpView {
        DumpView {
            remote_min_rx: self.remote_min_rx,
            remote_desired_min_tx: self.remote_desired_min_tx,
            remote_detect_mult: self.remote_detect_mult,
            remote_demand: self.remote_demand,
            poll: self.poll_active,
            remote_tx: max_micros(self.rx_required_in_force, self.remote_desired_min_tx).to_duration(),
            remote_detection_time: self.remote_detection_time(),
            last_rx: self.last_rx,
            sending: self.tx_at.is_some(),
            expiring: self.silence_deadline().is_some() && matches!(self.state, State::Up | State::Init),
        }
    }

    /// When `poll` must next be called; `None` when no timer runs.
    pub fn poll_at(&self) -> Option<Instant> {
        [self.tx_at, self.silence_deadline(), self.admin_down_tx_until].into_iter().flatten().min()
    }

    fn push(&mut self, out: &mut Actions, a: Action) {
        if out.push(a).is_err() {
            self.stats.actions_dropped += 1;
        }
    }

    /// Whether periodic packets may be sent now (§6.1 passive role, §6.8.7).
    fn may_send(&self) -> bool {
        if self.cfg.passive && self.remote_discr == 0 {
            return false;
        }
        if self.state == State::AdminDown {
            return self.admin_down_tx_until.is_some();
        }
        let demand_quiet = self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        !(demand_quiet && !self.poll_active)
    }

    /// The interval after jitter (§6.8.7).
    fn jittered(&mut self, interval: Duration) -> Duration {
        let span: u64 = if self.cfg.detect_mult == 1 { 1_501 } else { 2_501 };
        let per_10k = 7_500 + u64::from(self.jitter.next_u32()) % span;
        // Never zero: a timer due at once, again and again, would spin the caller.
        Duration::from_micros((interval.as_micros().saturating_mul(per_10k) / 10_000).max(1))
    }

    fn packet(&self, final_: bool) -> ControlRepr {
        ControlRepr {
            diag: self.local_diag,
            state: self.state,
            // §6.5: a packet with F never carries P.
            poll: self.poll_active && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: self.desired_min_tx,
            required_min_rx: self.cfg.required_min_rx,
            required_min_echo_rx: Micros::ZERO,
        }
    }

    fn send(&mut self, final_: bool, out: &mut Actions) {
        let p = self.packet(final_);
        self.stats.tx += 1;
        self.push(out, Action::Send(p));
    }

    /// Send a periodic packet now and schedule the next one.
    fn send_periodic(&mut self, now: Instant, out: &mut Actions) {
        if !self.may_send() {
            self.tx_at = None;
            return;
        }
        let Some(interval) = self.tx_interval() else {
            self.tx_at = None;
            return;
        };
        self.send(false, out);
        let next = self.jittered(interval);
        self.tx_at = Some(now.add(next));
    }

    /// After anything that may start, stop or shorten the periodic packets: start them at once
    /// when they were stopped, bring the next one forward when the interval shrank below what
    /// is left (keepalived's `bfd_sender_reschedule`), stop them when no longer allowed.
    fn reschedule(&mut self, now: Instant, out: &mut Actions) {
        if !self.may_send() || self.tx_interval().is_none() {
            self.tx_at = None;
            return;
        }
        match self.tx_at {
            None => self.send_periodic(now, out),
            Some(at) => {
                if let Some(interval) = self.tx_interval()
                    && at > now.add(interval)
                {
                    let next = self.jittered(interval);
                    self.tx_at = Some(now.add(next));
                }
            }
        }
    }

    /// Begin: an active session sends its first Down packet now; a passive one waits.
    pub fn start(&mut self, now: Instant) -> Actions {
        let mut out = Actions::new();
        self.reschedule(now, &mut out);
        out
    }

    fn change_state(&mut self, to: State, diag: Diag, out: &mut Actions) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        match to {
            State::Up => self.stats.up += 1,
            State::Down if from != State::AdminDown => self.stats.down += 1,
            _ => {}
        }
        self.push(out, Action::StateChange { from, to, diag });
        // §6.8.3: not Up, the slow rate; Up, the configured one, announced by a Poll Sequence.
        if to == State::Up {
            self.set_desired_min_tx(self.cfg.desired_min_tx);
        } else if from == State::Up || self.desired_min_tx != self.slow_tx() {
            self.poll_active = false;
            self.desired_min_tx = self.slow_tx();
            self.tx_desired_in_force = self.desired_min_tx;
            self.rx_required_in_force = self.cfg.required_min_rx;
        }
    }

    /// Change bfd.DesiredMinTxInterval while Up: a Poll Sequence, and an increase waits for
    /// its end (§6.8.3).
    fn set_desired_min_tx(&mut self, v: Micros) {
        if v == self.desired_min_tx {
            return;
        }
        self.desired_min_tx = v;
        if v < self.tx_desired_in_force {
            self.tx_desired_in_force = v;
        }
        self.start_poll();
    }

    fn start_poll(&mut self) {
        if !self.poll_active {
            self.poll_active = true;
            self.stats.poll_sequences += 1;
        }
    }

    /// The Final answering our Poll arrived: the new values are in force.
    fn end_poll(&mut self) {
        self.poll_active = false;
        self.tx_desired_in_force = self.desired_min_tx;
        self.rx_required_in_force = self.cfg.required_min_rx;
    }

    /// Run the timers that have expired at `now`.
    pub fn poll(&mut self, now: Instant) -> Actions {
        let mut out = Actions::new();
        if let (Some(deadline), Some(last)) = (self.silence_deadline(), self.last_rx)
            && deadline <= now
        {
            self.expire(now, last, &mut out);
        }
        if self.admin_down_tx_until.is_some_and(|t| t <= now) {
            self.admin_down_tx_until = None;
            self.tx_at = None;
        }
        if self.tx_at.is_some_and(|t| t <= now) {
            self.send_periodic(now, &mut out);
        }
        out
    }

    /// A Detection Time of silence: the peer is forgotten (§6.8.1: bfd.RemoteDiscr is zeroed),
    /// and an Init or Up session goes Down with diag 1 (§6.8.4).
    fn expire(&mut self, now: Instant, last: Instant, out: &mut Actions) {
        let detection_time = self.detection_time().unwrap_or(Duration::ZERO);
        self.last_rx = None;
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_demand = false;
        self.remote_detect_mult = 0;
        if matches!(self.state, State::Init | State::Up) {
            self.stats.detection_expired += 1;
            self.push(out, Action::DetectionTimeExpired { silent_for: now.since(last), detection_time });
            self.change_state(State::Down, Diag::ControlDetectionTimeExpired, out);
        }
        // A passive session falls silent again; an active one goes on at the slow rate.
        self.reschedule(now, out);
    }

    /// Feed one input; `Err` says why a received packet changed nothing.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<Actions, Discard> {
        let mut out = Actions::new();
        match input {
            Input::Received(p) => self.receive(now, p, &mut out)?,
            Input::AdminDown => {
                if self.state != State::AdminDown {
                    self.change_state(State::AdminDown, Diag::AdministrativelyDown, &mut out);
                    self.admin_down_tx_until = Some(now.add(self.remote_detection_time()));
                    self.tx_at = None;
                    self.reschedule(now, &mut out);
                }
            }
            Input::Enable => {
                if self.state == State::AdminDown {
                    self.admin_down_tx_until = None;
                    self.change_state(State::Down, Diag::NoDiagnostic, &mut out);
                    self.tx_at = None;
                    self.reschedule(now, &mut out);
                }
            }
            Input::Reconfigure(cfg) => self.reconfigure(now, cfg, &mut out),
        }
        Ok(out)
    }

    fn reconfigure(&mut self, now: Instant, cfg: SessionConfig, out: &mut Actions) {
        let cfg = Self::normalise(cfg);
        let old = self.cfg;
        self.cfg = cfg;
        if self.state == State::Up {
            if cfg.required_min_rx != old.required_min_rx {
                // An increase is in force at once; a reduction only after the poll.
                if cfg.required_min_rx > self.rx_required_in_force {
                    self.rx_required_in_force = cfg.required_min_rx;
                }
                self.start_poll();
            }
            self.set_desired_min_tx(cfg.desired_min_tx);
        } else {
            self.rx_required_in_force = cfg.required_min_rx;
            self.desired_min_tx = self.slow_tx();
            self.tx_desired_in_force = self.desired_min_tx;
        }
        if self.state != State::AdminDown {
            self.reschedule(now, out);
        }
    }

    /// §6.8.6 from "select the session" on: the codec made the checks before it.
    fn receive(&mut self, now: Instant, p: ControlRepr, out: &mut Actions) -> Result<(), Discard> {
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            self.stats.rx_wrong_discriminator += 1;
            return Err(Discard::WrongDiscriminator(p.your_discriminator));
        }
        if self.state == State::AdminDown {
            self.stats.rx_admin_down += 1;
            return Err(Discard::AdminDown);
        }
        self.stats.rx += 1;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_min_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        if self.poll_active && p.final_ {
            self.end_poll();
        }
        self.last_rx = Some(now);

        match (self.state, p.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.change_state(State::Down, Diag::NeighborSignaledSessionDown, out)
            }
            (State::Down, State::Down) => self.change_state(State::Init, Diag::NoDiagnostic, out),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.change_state(State::Up, Diag::NoDiagnostic, out)
            }
            (State::Up, State::Down) => self.change_state(State::Down, Diag::NeighborSignaledSessionDown, out),
            _ => {}
        }

        // §6.8.6 last step: a Poll is answered at once, with Final, whatever the timers say.
        if p.poll {
            self.send(true, out);
        }
        self.reschedule(now, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_session_is_up_sends_at_once_and_keeps_its_discriminators() {
        let cfg = SessionConfig { desired_min_tx: Micros::from_millis(100), required_min_rx: Micros::from_millis(100), detect_mult: 3, ..SessionConfig::default() };
        let r = Resume {
            local_discr: 7,
            remote_discr: 9,
            remote_min_rx: Micros::from_millis(100),
            remote_desired_min_tx: Micros::from_millis(100),
            remote_detect_mult: 3,
        };
        let now = Instant::from_millis(5_000);
        let mut s = Session::new(cfg, 7, XorShift32::new(1));
        assert_eq!(s.resume_state(), None, "not Up");
        s = Session::resume(cfg, r, XorShift32::new(1), now);
        assert_eq!(s.resume_state(), Some(r));
        assert_eq!((s.state(), s.detection_time()), (State::Up, Some(Duration::from_millis(300))));
        let out = s.start(now);
        let Some(Action::Send(p)) = out.first() else { panic!("{out:?}") };
        assert_eq!((p.state, p.my_discriminator, p.your_discriminator, p.desired_min_tx, p.poll), (State::Up, 7, 9, Micros::from_millis(100), false));
        // Silence for a Detection Time from the take-over: Down, diag 1.
        let out = s.poll(now.add(Duration::from_millis(300)));
        assert!(out.iter().any(|a| matches!(a, Action::StateChange { to: State::Down, diag: Diag::ControlDetectionTimeExpired, .. })), "{out:?}");
    }

    #[test]
    fn xorshift_never_sticks_at_zero() {
        let mut j = XorShift32::new(0);
        assert!((0..1000).all(|_| j.next_u32() != 0));
    }

    #[test]
    fn jitter_stays_within_the_rfc_bounds() {
        for mult in [1u8, 3] {
            let cfg = SessionConfig { detect_mult: mult, ..SessionConfig::default() };
            let mut s = Session::new(cfg, 7, XorShift32::new(42));
            let hi = if mult == 1 { 900_000 } else { 1_000_000 };
            let (mut lo_seen, mut hi_seen) = (u64::MAX, 0);
            for _ in 0..10_000 {
                let d = s.jittered(Duration::from_secs(1)).as_micros();
                assert!((750_000..=hi).contains(&d), "mult {mult}: {d}");
                lo_seen = lo_seen.min(d);
                hi_seen = hi_seen.max(d);
            }
            assert!(lo_seen < 760_000 && hi_seen > hi - 10_000, "mult {mult}: spread {lo_seen}..{hi_seen}");
        }
    }
}
