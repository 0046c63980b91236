//! A received BFD control packet through the codec (`ControlRepr::parse`, every check of
//! RFC 5880 §6.8.6 it makes) and, when accepted, through a session's state machine.
//!
//! Input: the UDP payload. Invariants: what the codec accepts re-encodes, and the encoding
//! parses back to the same repr; a 24-byte packet whose Length is 24 re-encodes to the same
//! bytes; a session fed the packet (twice, with its timers run in between) never panics and
//! never drops an action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::bfd::fsm::{Input, Session, SessionConfig, XorShift32};
use vigil::bfd::wire::{ControlRepr, HEADER_LEN};
use vigil::vrrp::fsm::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Ok(repr) = ControlRepr::parse_bytes(data) else { return };
    let mut buf = [0xa5u8; 64];
    let n = repr.emit(&mut buf).expect("an accepted packet re-encodes");
    assert_eq!(n, HEADER_LEN);
    assert_eq!(ControlRepr::parse_bytes(&buf[..n]), Ok(repr));
    if data.len() == HEADER_LEN {
        assert_eq!(&buf[..n], data, "a plain packet re-encodes byte for byte");
    }

    let mut s = Session::new(SessionConfig::default(), repr.your_discriminator.max(1), XorShift32::new(1));
    let mut now = Instant::from_micros(1);
    let _ = s.start(now);
    for _ in 0..2 {
        let _ = s.handle(now, Input::Received(repr));
        if let Some(t) = s.poll_at() {
            now = t.max(now);
            let _ = s.poll(now);
        }
        now = now.add(Duration::from_millis(7));
    }
    assert_eq!(s.stats().actions_dropped, 0);
});
