//! The BFD session state machine with injected time and jitter: two sessions wired together
//! through a simulated network (every packet encoded and parsed by the codec on the way),
//! and single sessions fed packets by hand. Timers are checked to the microsecond.

use std::collections::VecDeque;

use vigil::bfd::fsm::{Action, Discard, Input, Jitter, Session, SessionConfig, XorShift32};
use vigil::bfd::wire::{ControlRepr, Diag, Micros, State};
use vigil::vrrp::fsm::{Duration, Instant};

const MS: u64 = 1_000;
const S: u64 = 1_000_000;

fn at(us: u64) -> Instant {
    Instant::from_micros(us)
}

/// Jitter that always reduces by nothing (the interval itself): exact timer checks.
#[derive(Debug, Clone)]
struct NoJitter;
impl Jitter for NoJitter {
    fn next_u32(&mut self) -> u32 {
        2_500 // 7500 + 2500 = 100 % (and 7500 + 2500 % 1501 = 84.99 % when mult is 1)
    }
}

fn fast(ms: u32, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: Micros::from_millis(ms),
        required_min_rx: Micros::from_millis(ms),
        idle_tx: Micros::from_millis(1000),
        detect_mult: mult,
        passive: false,
    }
}

/// Everything one side did, with when.
#[derive(Debug, Default)]
struct Log {
    sent: Vec<(u64, ControlRepr)>,
    changes: Vec<(u64, State, State, Diag)>,
    expiries: Vec<(u64, Duration, Duration)>,
}

/// Two sessions and a network of fixed latency that can be cut in either direction.
struct Net<J: Jitter> {
    a: Session<J>,
    b: Session<J>,
    now: u64,
    latency: u64,
    /// (deliver at, to b?, bytes)
    wire: VecDeque<(u64, bool, Vec<u8>)>,
    a_to_b: bool,
    b_to_a: bool,
    log_a: Log,
    log_b: Log,
}

impl<J: Jitter> Net<J> {
    fn new(a: Session<J>, b: Session<J>) -> Self {
        Net {
            a,
            b,
            now: 0,
            latency: 500,
            wire: VecDeque::new(),
            a_to_b: true,
            b_to_a: true,
            log_a: Log::default(),
            log_b: Log::default(),
        }
    }

    fn start(&mut self) {
        let acts = self.a.start(at(self.now));
        self.apply(false, acts.into_iter().collect());
        let acts = self.b.start(at(self.now));
        self.apply(true, acts.into_iter().collect());
    }

    fn apply(&mut self, is_b: bool, actions: Vec<Action>) {
        let now = self.now;
        for a in actions {
            let log = if is_b { &mut self.log_b } else { &mut self.log_a };
            match a {
                Action::Send(p) => {
                    log.sent.push((now, p));
                    let mut buf = [0u8; 64];
                    let n = p.emit(&mut buf).expect("emit");
                    let open = if is_b { self.b_to_a } else { self.a_to_b };
                    if open {
                        self.wire.push_back((now + self.latency, !is_b, buf[..n].to_vec()));
                    }
                }
                Action::StateChange { from, to, diag } => log.changes.push((now, from, to, diag)),
                Action::DetectionTimeExpired { silent_for, detection_time } => {
                    log.expiries.push((now, silent_for, detection_time))
                }
            }
        }
    }

    /// Advance to `until`, delivering packets and running timers in time order.
    fn run_until(&mut self, until: u64) {
        loop {
            let next_pkt = self.wire.iter().map(|w| w.0).min();
            let next = [self.a.poll_at().map(|i| i.as_micros()), self.b.poll_at().map(|i| i.as_micros()), next_pkt]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = next.max(self.now);
            if let Some(i) = self.wire.iter().position(|w| w.0 <= self.now) {
                let (_, to_b, bytes) = self.wire.remove(i).expect("queued");
                let repr = ControlRepr::parse_bytes(&bytes).expect("what a session sends parses");
                let s = if to_b { &mut self.b } else { &mut self.a };
                if let Ok(acts) = s.handle(at(self.now), Input::Received(repr)) {
                    self.apply(to_b, acts.into_iter().collect());
                }
                continue;
            }
            if self.a.poll_at().is_some_and(|t| t.as_micros() <= self.now) {
                let acts = self.a.poll(at(self.now));
                self.apply(false, acts.into_iter().collect());
            }
            if self.b.poll_at().is_some_and(|t| t.as_micros() <= self.now) {
                let acts = self.b.poll(at(self.now));
                self.apply(true, acts.into_iter().collect());
            }
        }
    }
}

fn pair(cfg_a: SessionConfig, cfg_b: SessionConfig) -> Net<NoJitter> {
    Net::new(Session::new(cfg_a, 0x1111, NoJitter), Session::new(cfg_b, 0x2222, NoJitter))
}

#[test]
fn two_sessions_come_up_through_init_and_agree_on_fast_timers() {
    let mut n = pair(fast(50, 3), fast(50, 3));
    n.start();
    n.run_until(3 * S);
    assert_eq!((n.a.state(), n.b.state()), (State::Up, State::Up));
    // Both start Down at once: each hears Down, goes Init, hears Init, goes Up.
    let a_states: Vec<State> = n.log_a.changes.iter().map(|c| c.2).collect();
    assert_eq!(a_states, [State::Init, State::Up]);
    // Discriminators learned both ways.
    assert_eq!(n.a.remote_discriminator(), 0x2222);
    assert_eq!(n.b.remote_discriminator(), 0x1111);
    // The poll sequence announcing 50 ms ended; packets now 50 ms apart, no P bit.
    assert!(!n.a.poll_sequence_active() && !n.b.poll_sequence_active());
    assert_eq!(n.a.tx_interval(), Some(Duration::from_millis(50)));
    assert_eq!(n.a.detection_time(), Some(Duration::from_millis(150)));
    let last: Vec<&(u64, ControlRepr)> = n.log_a.sent.iter().rev().take(5).collect();
    for w in last.windows(2) {
        assert_eq!(w[0].0 - w[1].0, 50 * MS);
        assert!(!w[0].1.poll && !w[0].1.final_);
        assert_eq!(w[0].1.desired_min_tx, Micros::from_millis(50));
        assert_eq!(w[0].1.your_discriminator, 0x2222);
    }
    // While Down, Desired Min TX was the slow 1 s (RFC 5880 §6.8.3).
    assert_eq!(n.log_a.sent[0].1.desired_min_tx, Micros::from_millis(1000));
    assert_eq!(n.log_a.sent[0].1.state, State::Down);
    assert_eq!(n.log_a.sent[0].1.your_discriminator, 0);
    assert!(n.log_a.expiries.is_empty() && n.log_b.expiries.is_empty());
}

#[test]
fn the_up_transition_starts_a_poll_sequence_that_the_peer_finals() {
    let mut n = pair(fast(20, 3), fast(20, 3));
    n.start();
    n.run_until(2 * S);
    let up_at = n.log_a.changes.iter().find(|c| c.2 == State::Up).expect("a went up").0;
    let polls: Vec<&(u64, ControlRepr)> = n.log_a.sent.iter().filter(|(t, p)| *t >= up_at && p.poll).collect();
    assert!(!polls.is_empty(), "a polled after going Up");
    assert!(polls.iter().all(|(_, p)| p.desired_min_tx == Micros::from_millis(20) && !p.final_));
    // b answered a poll with F at once (same instant as the packet's arrival).
    let first_poll = polls[0].0;
    let answer = n.log_b.sent.iter().find(|(t, p)| *t >= first_poll && p.final_).expect("b sent Final");
    assert_eq!(answer.0, first_poll + n.latency);
    assert!(!answer.1.poll, "a Final never carries Poll");
    assert_eq!(n.a.stats().poll_sequences, 1);
}

#[test]
fn a_silent_peer_is_declared_down_after_detect_mult_times_the_agreed_interval() {
    for (ms_a, ms_b, mult_b) in [(50, 50, 3), (10, 100, 5), (300, 30, 2), (1000, 1000, 1)] {
        let mut n = pair(fast(ms_a, 3), fast(ms_b, mult_b));
        n.start();
        n.run_until(5 * S);
        assert_eq!(n.a.state(), State::Up, "{ms_a}/{ms_b}/{mult_b}");
        // b falls silent (its link to a is cut).
        n.b_to_a = false;
        // The last packet b sent before the cut is still delivered.
        let last_rx = n.log_b.sent.iter().map(|s| s.0).filter(|&t| t <= 5 * S).max().expect("b sent") + n.latency;
        n.run_until(20 * S);
        // a's Detection Time: b's Detect Mult × max(a's Required Min RX, b's Desired Min TX).
        let detect = u64::from(mult_b) * u64::from(ms_a.max(ms_b)) * MS;
        let down = n.log_a.changes.iter().find(|c| c.2 == State::Down).expect("a went down");
        assert_eq!(down.0, last_rx + detect, "{ms_a}/{ms_b}/{mult_b}");
        assert_eq!(down.3, Diag::ControlDetectionTimeExpired);
        assert_eq!(n.log_a.expiries, vec![(down.0, Duration::from_micros(detect), Duration::from_micros(detect))]);
        // The peer is forgotten; a goes on at the slow rate, sending Down with diag 1 and
        // Your Discriminator 0.
        assert_eq!(n.a.remote_discriminator(), 0);
        let after: Vec<&(u64, ControlRepr)> = n.log_a.sent.iter().filter(|(t, _)| *t > down.0).collect();
        assert!(after.len() >= 2);
        for w in after.windows(2) {
            assert_eq!(w[1].0 - w[0].0, S, "slow rate while Down");
        }
        assert!(after.iter().all(|(_, p)| p.state == State::Down
            && p.diag == Diag::ControlDetectionTimeExpired
            && p.your_discriminator == 0
            && p.desired_min_tx == Micros::from_millis(1000)));
    }
}

#[test]
fn the_peer_reads_neighbor_signaled_down_and_recovers_when_the_link_heals() {
    let mut n = pair(fast(50, 3), fast(50, 3));
    n.start();
    n.run_until(3 * S);
    // Only b → a is cut: a times out, goes Down and says so to b, which follows with diag 3.
    n.b_to_a = false;
    n.run_until(4 * S);
    assert_eq!(n.a.state(), State::Down);
    let b_down = n.log_b.changes.iter().find(|c| c.2 == State::Down).expect("b went down");
    assert_eq!(b_down.3, Diag::NeighborSignaledSessionDown);
    n.b_to_a = true;
    n.run_until(10 * S);
    assert_eq!((n.a.state(), n.b.state()), (State::Up, State::Up));
    assert_eq!(n.a.stats().up, 2);
}

#[test]
fn a_passive_session_waits_for_the_peer() {
    let passive = SessionConfig { passive: true, ..fast(50, 3) };
    let mut n = pair(passive, fast(50, 3));
    // Only the passive side runs: it never sends.
    let acts = n.a.start(at(0));
    assert!(acts.is_empty());
    assert_eq!(n.a.poll_at(), None);
    n.run_until(10 * S);
    assert!(n.log_a.sent.is_empty());
    // The active side starts at 10 s: the passive one answers and both come up.
    n.now = 10 * S;
    let acts = n.b.start(at(n.now));
    n.apply(true, acts.into_iter().collect());
    n.run_until(15 * S);
    assert_eq!((n.a.state(), n.b.state()), (State::Up, State::Up));
    let first = n.log_a.sent.first().expect("passive answered").0;
    assert_eq!(first, 10 * S + n.latency, "the passive side answers the first packet at once");
    // The active side goes away: after a Detection Time the passive side forgets it and stops.
    n.b_to_a = false;
    n.a_to_b = false;
    n.run_until(30 * S);
    assert_eq!(n.a.state(), State::Down);
    assert_eq!(n.a.remote_discriminator(), 0);
    let last = n.log_a.sent.last().expect("sent").0;
    n.run_until(60 * S);
    assert_eq!(n.log_a.sent.last().expect("sent").0, last, "passive and forgotten: silent");
    assert_eq!(n.a.poll_at(), None);
}

#[test]
fn admin_down_tells_the_peer_then_stops_and_enable_brings_the_session_back() {
    let mut n = pair(fast(50, 3), fast(50, 3));
    n.start();
    n.run_until(3 * S);
    n.now = 3 * S;
    let acts = n.a.handle(at(n.now), Input::AdminDown).expect("admin down");
    n.apply(false, acts.into_iter().collect());
    assert_eq!(n.a.state(), State::AdminDown);
    assert_eq!(n.a.local_diag(), Diag::AdministrativelyDown);
    // The AdminDown packet goes out at once.
    let (t, p) = n.log_a.sent.last().copied().expect("sent");
    assert_eq!((t, p.state, p.diag), (3 * S, State::AdminDown, Diag::AdministrativelyDown));
    n.run_until(20 * S);
    // b went Down with diag 3 (not a timeout), and stays Down.
    let b_down = n.log_b.changes.iter().find(|c| c.2 == State::Down).expect("b went down");
    assert_eq!(b_down.3, Diag::NeighborSignaledSessionDown);
    assert!(n.log_b.expiries.is_empty());
    assert_eq!(n.b.state(), State::Down);
    // a discards b's packets, and stopped sending after b's Detection Time of a (3 × 1 s).
    assert!(n.a.stats().rx_admin_down > 0);
    let last = n.log_a.sent.last().expect("sent").0;
    assert!(last <= 3 * S + 3 * S, "AdminDown packets stop after one Detection Time ({last})");
    n.now = 20 * S;
    let acts = n.a.handle(at(n.now), Input::Enable).expect("enable");
    n.apply(false, acts.into_iter().collect());
    assert_eq!(n.a.state(), State::Down);
    n.run_until(25 * S);
    assert_eq!((n.a.state(), n.b.state()), (State::Up, State::Up));
}

#[test]
fn packets_while_admin_down_and_for_another_discriminator_are_discarded() {
    let mut s = Session::new(fast(50, 3), 0xabcd, NoJitter);
    s.start(at(0));
    let mut p = peer_packet(State::Down, 0);
    p.your_discriminator = 0x1234;
    assert_eq!(s.handle(at(1), Input::Received(p)), Err(Discard::WrongDiscriminator(0x1234)));
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discriminator(), 0);
    s.handle(at(2), Input::AdminDown).expect("admin down");
    assert_eq!(s.handle(at(3), Input::Received(peer_packet(State::Down, 0))), Err(Discard::AdminDown));
    assert_eq!((s.stats().rx_wrong_discriminator, s.stats().rx_admin_down, s.stats().rx), (1, 1, 0));
}

fn peer_packet(state: State, your: u32) -> ControlRepr {
    ControlRepr {
        diag: Diag::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x5555,
        your_discriminator: your,
        desired_min_tx: Micros::from_millis(1000),
        required_min_rx: Micros::from_millis(50),
        required_min_echo_rx: Micros::ZERO,
    }
}

#[test]
fn a_poll_is_answered_at_once_with_final_and_without_poll() {
    let mut s = Session::new(fast(50, 3), 0xabcd, NoJitter);
    s.start(at(0));
    s.handle(at(10), Input::Received(peer_packet(State::Down, 0))).expect("rx");
    assert_eq!(s.state(), State::Init);
    let mut p = peer_packet(State::Init, 0xabcd);
    p.poll = true;
    let acts = s.handle(at(20), Input::Received(p)).expect("rx");
    assert_eq!(s.state(), State::Up);
    let finals: Vec<&ControlRepr> =
        acts.iter().filter_map(|a| if let Action::Send(p) = a { Some(p) } else { None }).collect();
    assert_eq!(finals.len(), 1, "{acts:?}");
    assert!(finals[0].final_ && !finals[0].poll);
    assert_eq!(finals[0].state, State::Up);
    assert_eq!(finals[0].your_discriminator, 0x5555);
}

#[test]
fn a_timer_change_while_up_polls_and_an_increase_waits_for_the_final() {
    let mut s = Session::new(fast(50, 3), 0xabcd, NoJitter);
    s.start(at(0));
    s.handle(at(10), Input::Received(peer_packet(State::Init, 0xabcd))).expect("rx");
    assert_eq!(s.state(), State::Up);
    // End the Up poll.
    let mut fin = peer_packet(State::Up, 0xabcd);
    fin.final_ = true;
    fin.desired_min_tx = Micros::from_millis(50);
    s.handle(at(20), Input::Received(fin)).expect("rx");
    assert!(!s.poll_sequence_active());
    assert_eq!(s.tx_interval(), Some(Duration::from_millis(50)));
    assert_eq!(s.detection_time(), Some(Duration::from_millis(150)));

    // Slower: 200 ms TX, 200 ms RX. Until the Final, the old values stay in force.
    s.handle(at(30), Input::Reconfigure(fast(200, 3))).expect("reconfigure");
    assert!(s.poll_sequence_active());
    assert_eq!(s.desired_min_tx(), Micros::from_millis(200));
    assert_eq!(s.tx_interval(), Some(Duration::from_millis(50)), "an increase waits for the Final");
    assert_eq!(s.detection_time(), Some(Duration::from_millis(600)), "an increased RX applies at once");
    // Periodic packets carry P and the new values.
    let t = s.poll_at().expect("tx scheduled");
    let acts = s.poll(t);
    let Some(Action::Send(p)) = acts.first() else { panic!("{acts:?}") };
    assert!(p.poll && !p.final_);
    assert_eq!((p.desired_min_tx, p.required_min_rx), (Micros::from_millis(200), Micros::from_millis(200)));
    s.handle(t.add(Duration::from_millis(1)), Input::Received(fin)).expect("rx");
    assert!(!s.poll_sequence_active());
    assert_eq!(s.tx_interval(), Some(Duration::from_millis(200)));

    // Faster RX: a reduction waits for the Final too.
    s.handle(at(2 * S), Input::Reconfigure(SessionConfig { required_min_rx: Micros::from_millis(10), ..fast(200, 3) }))
        .expect("reconfigure");
    assert!(s.poll_sequence_active());
    assert_eq!(s.detection_time(), Some(Duration::from_millis(600)));
    s.handle(at(2 * S + 1), Input::Received(fin)).expect("rx");
    assert_eq!(s.detection_time(), Some(Duration::from_millis(150)), "max(10 ms, peer's 50 ms) × 3");
}

#[test]
fn a_peer_that_asks_for_no_packets_gets_none() {
    let mut s = Session::new(fast(50, 3), 0xabcd, NoJitter);
    s.start(at(0));
    let mut p = peer_packet(State::Down, 0);
    p.required_min_rx = Micros::ZERO;
    s.handle(at(10), Input::Received(p)).expect("rx");
    assert_eq!(s.tx_interval(), None);
    // Only the detection timer is left.
    assert_eq!(s.poll_at(), Some(at(10 + 3 * S)));
}

#[test]
fn slow_rate_is_never_below_one_second_and_jitter_spreads_it() {
    let cfg = SessionConfig { idle_tx: Micros::from_millis(200), ..fast(50, 3) };
    let mut s = Session::new(cfg, 1, XorShift32::new(7));
    s.start(at(0));
    let mut last = 0;
    let mut gaps = Vec::new();
    for _ in 0..200 {
        let t = s.poll_at().expect("tx").as_micros();
        let acts = s.poll(at(t));
        assert!(matches!(acts.first(), Some(Action::Send(p)) if p.desired_min_tx == Micros::from_millis(1000)));
        if t > 0 {
            gaps.push(t - last);
        }
        last = t;
    }
    assert!(gaps.iter().all(|g| (750 * MS..=S).contains(g)), "{gaps:?}");
    let (lo, hi) = (gaps.iter().min().copied().unwrap_or(0), gaps.iter().max().copied().unwrap_or(0));
    assert!(lo < 800 * MS && hi > 950 * MS, "jitter spread {lo}..{hi}");
}

#[test]
fn detect_mult_one_jitters_between_75_and_90_percent() {
    let mut n = Net::new(
        Session::new(fast(100, 1), 0x1111, XorShift32::new(3)),
        Session::new(fast(100, 1), 0x2222, XorShift32::new(4)),
    );
    n.start();
    n.run_until(10 * S);
    assert_eq!(n.a.state(), State::Up);
    let up: Vec<u64> = n.log_a.sent.iter().filter(|(t, p)| *t > 5 * S && !p.final_).map(|(t, _)| *t).collect();
    assert!(up.len() > 40);
    for w in up.windows(2) {
        let gap = w[1] - w[0];
        assert!((75 * MS..=90 * MS).contains(&gap), "gap {gap}");
    }
}
