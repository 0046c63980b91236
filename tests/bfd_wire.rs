//! The BFD control packet codec against real packets: a capture of two FRR 8.4 bfdd
//! (tests/data/bfd/frr-bfdd.hex, made by tests/data/bfd/capture.sh) decodes, re-encodes to
//! the same bytes, and drives our state machine as FRR's peer would; every receive check of
//! RFC 5880 §6.8.6 is a typed error on a captured packet made bad in one field.

use vigil::bfd::fsm::{Action, Input, Session, SessionConfig, XorShift32};
use vigil::bfd::wire::{ControlRepr, Diag, Error, HEADER_LEN, Micros, Packet, State};
use vigil::vrrp::fsm::Instant;

/// One captured packet: time (µs from the first), source, destination, IP TTL, UDP payload.
struct Captured {
    at_us: u64,
    src: String,
    ttl: u8,
    bytes: Vec<u8>,
}

fn capture() -> Vec<Captured> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bfd/frr-bfdd.hex");
    let text = std::fs::read_to_string(path).expect("tests/data/bfd/frr-bfdd.hex");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (head, hex) = l.split_once(": ").expect("time src > dst ttl N: bytes");
            let w: Vec<&str> = head.split_whitespace().collect();
            let secs: f64 = w[0].parse().expect("time");
            Captured {
                at_us: (secs * 1e6).round() as u64,
                src: w[1].to_string(),
                ttl: w[5].parse().expect("ttl"),
                bytes: hex.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect(),
            }
        })
        .collect()
}

#[test]
fn every_captured_packet_decodes_and_re_encodes_to_the_same_bytes() {
    let cap = capture();
    assert!(cap.len() >= 10, "capture too small: {}", cap.len());
    for (i, c) in cap.iter().enumerate() {
        assert_eq!(c.ttl, 255, "packet {i}: single hop is sent with TTL 255 (RFC 5881 §5)");
        let r = ControlRepr::parse_bytes(&c.bytes).unwrap_or_else(|e| panic!("packet {i}: {e}"));
        let mut buf = [0xa5u8; 32];
        let n = r.emit(&mut buf).expect("emit");
        assert_eq!(&buf[..n], &c.bytes[..], "packet {i} re-encodes byte for byte");
        assert_eq!(buf[n..], [0xa5; 8]);
    }
}

#[test]
fn the_capture_shows_the_three_way_handshake_the_poll_and_admin_down() {
    let cap = capture();
    let a = &cap[0].src;
    let from = |who_a: bool| -> Vec<ControlRepr> {
        cap.iter()
            .filter(|c| (&c.src == a) == who_a)
            .map(|c| ControlRepr::parse_bytes(&c.bytes).expect("parse"))
            .collect()
    };
    for side in [from(true), from(false)] {
        let states: Vec<State> = side.iter().map(|p| p.state).collect();
        let mut seen: Vec<State> = states.clone();
        seen.dedup();
        assert!(seen.starts_with(&[State::Down]) || seen.starts_with(&[State::Init]), "{seen:?}");
        assert!(seen.contains(&State::Up), "{seen:?}");
        assert!(side.iter().all(|p| p.my_discriminator == side[0].my_discriminator && p.detect_mult == 3));
        // Before the session is Up, Desired Min TX is the slow 1 s (RFC 5880 §6.8.3).
        assert!(side.iter().filter(|p| p.state != State::Up).take(1).all(|p| p.desired_min_tx == Micros::from_millis(1000)));
        // The Up side announces 300 ms once Up; a Poll is answered by the other side's Final.
        assert!(side.iter().any(|p| p.state == State::Up && p.desired_min_tx == Micros::from_millis(300)));
        // FRR offers to receive Echo packets every 50 ms (we never send any).
        assert!(side.iter().all(|p| p.required_min_echo_rx == Micros::from_millis(50)));
    }
    // A starts alone, Down, with Your Discriminator 0; B first speaks when it has heard A, Init.
    let (a0, b0) = (from(true)[0], from(false)[0]);
    assert_eq!((a0.state, a0.your_discriminator), (State::Down, 0));
    assert_eq!((b0.state, b0.your_discriminator), (State::Init, a0.my_discriminator));
    assert!(cap.iter().map(|c| ControlRepr::parse_bytes(&c.bytes).expect("parse")).any(|p| p.poll));
    assert!(cap.iter().map(|c| ControlRepr::parse_bytes(&c.bytes).expect("parse")).any(|p| p.final_));
    // The shutdown: A sends one AdminDown packet (FRR 8.4 leaves its diag 0, and then falls
    // silent); B goes Down with diag 3, forgets A's discriminator, and drops to 1 s.
    let a_last = from(true).last().copied().expect("a");
    assert_eq!((a_last.state, a_last.diag), (State::AdminDown, Diag::NoDiagnostic));
    let b_last = from(false).last().copied().expect("b");
    assert_eq!((b_last.state, b_last.diag, b_last.your_discriminator), (State::Down, Diag::NeighborSignaledSessionDown, 0));
    assert_eq!(b_last.desired_min_tx, Micros::from_millis(1000));
}

/// B's packets, replayed at their times into a session that takes A's place (A's
/// discriminator): it comes up as FRR's A did, and goes down when B does.
#[test]
fn frr_packets_drive_our_session_up_and_down() {
    let cap = capture();
    let a = cap[0].src.clone();
    let a_discr = cap
        .iter()
        .filter(|c| c.src == a)
        .map(|c| ControlRepr::parse_bytes(&c.bytes).expect("parse").my_discriminator)
        .next()
        .expect("a's discriminator");
    let cfg = SessionConfig {
        desired_min_tx: Micros::from_millis(300),
        required_min_rx: Micros::from_millis(300),
        detect_mult: 3,
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, a_discr, XorShift32::new(1));
    s.start(Instant::ZERO);
    let mut changes = Vec::new();
    for c in cap.iter().filter(|c| c.src != a) {
        let now = Instant::from_micros(c.at_us);
        if s.poll_at().is_some_and(|t| t <= now) {
            let acts = s.poll(now);
            changes.extend(acts.iter().filter_map(|a| match a {
                Action::StateChange { to, diag, .. } => Some((*to, *diag)),
                _ => None,
            }));
        }
        let p = ControlRepr::parse_bytes(&c.bytes).expect("parse");
        if let Ok(acts) = s.handle(now, Input::Received(p)) {
            changes.extend(acts.iter().filter_map(|a| match a {
                Action::StateChange { to, diag, .. } => Some((*to, *diag)),
                _ => None,
            }));
        }
    }
    // B's first packet is Init: Down straight to Up; B's Down (diag 3) takes us Down; its
    // later Down packets start the next session (Init).
    assert_eq!(
        changes,
        [
            (State::Up, Diag::NoDiagnostic),
            (State::Down, Diag::NeighborSignaledSessionDown),
            (State::Init, Diag::NoDiagnostic)
        ]
    );
}

/// The first packet of the capture, built from its fields: the same 24 bytes.
#[test]
fn frr_first_packet_golden_bytes() {
    let cap = capture();
    let repr = ControlRepr {
        diag: Diag::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: u32::from_be_bytes([cap[0].bytes[4], cap[0].bytes[5], cap[0].bytes[6], cap[0].bytes[7]]),
        your_discriminator: 0,
        desired_min_tx: Micros::from_millis(1000),
        required_min_rx: Micros::from_millis(1000),
        required_min_echo_rx: Micros::from_millis(50),
    };
    let mut buf = [0xa5u8; HEADER_LEN];
    repr.emit(&mut buf).expect("emit");
    assert_eq!(&buf[..], &cap[0].bytes[..]);
    assert_eq!(&buf[..4], &[0x20, 0x40, 0x03, 0x18]);
}

/// A captured packet with one field changed.
fn mutated(f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let cap = capture();
    let up = cap
        .iter()
        .find(|c| ControlRepr::parse_bytes(&c.bytes).is_ok_and(|p| p.state == State::Up && !p.poll && !p.final_))
        .expect("an Up packet");
    let mut b = up.bytes.clone();
    f(&mut b);
    b
}

#[test]
fn each_receive_check_is_its_own_error() {
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (mutated(|b| b.truncate(23)), Error::Truncated { received: 23 }),
        (mutated(|b| b[0] = (2 << 5) | (b[0] & 0x1f)), Error::BadVersion(2)),
        (mutated(|b| b[3] = 23), Error::BadLength { field: 23, received: 24 }),
        (mutated(|b| b[3] = 25), Error::BadLength { field: 25, received: 24 }),
        // A set: the minimum Length is 26, and then it is refused: we have no authentication.
        (mutated(|b| b[1] |= 0x04), Error::BadLength { field: 24, received: 24 }),
        (
            mutated(|b| {
                b[1] |= 0x04;
                b[3] = 26;
                b.extend_from_slice(&[1, 2]);
            }),
            Error::AuthenticationPresent,
        ),
        (mutated(|b| b[2] = 0), Error::ZeroDetectMult),
        (mutated(|b| b[1] |= 0x01), Error::Multipoint),
        (mutated(|b| b[4..8].fill(0)), Error::ZeroMyDiscriminator),
        (mutated(|b| b[8..12].fill(0)), Error::ZeroYourDiscriminator(State::Up)),
        (mutated(|b| b[1] |= 0x30), Error::PollAndFinal),
    ];
    for (bytes, want) in cases {
        assert_eq!(ControlRepr::parse_bytes(&bytes), Err(want), "{bytes:02x?}");
    }
    // Your Discriminator 0 is fine in Down and AdminDown.
    for state in [0u8, 1] {
        let b = mutated(|b| {
            b[8..12].fill(0);
            b[1] = (b[1] & 0x3f) | (state << 6);
        });
        assert!(ControlRepr::parse_bytes(&b).is_ok());
    }
    // Bytes past the Length are not the packet's (RFC 5880 §6.8.6 discards only a Length
    // above what arrived).
    let b = mutated(|b| b.extend_from_slice(&[0, 0, 0, 0]));
    assert_eq!(Packet::new_checked(&b[..]).map(|p| p.len()), Ok(HEADER_LEN + 4));
    assert!(ControlRepr::parse_bytes(&b).is_ok());
}
