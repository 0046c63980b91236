//! Parent/child IPC: datagrams (split from the input at 0xff 0xfe marks)
//! pushed through the fragment reassembler, and each whole message decoded.
//! Invariants: the reassembler never holds more than MSG_MAX bytes; a
//! decoded message encodes, its datagrams reassemble and decode, and that
//! message encodes to the same bytes (bytes, not `==`: a NaN in a config
//! is not equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::ipc::{MSG_MAX, Msg, Pushed, Reassembler, decode, encode};

fn datagrams(msg: &Msg) -> Vec<Vec<u8>> {
    let mut frags = Vec::new();
    encode(msg, |d| {
        frags.push(d.to_vec());
        Ok(())
    })
    .expect("a decoded message encodes");
    frags
}

fn round_trip(msg: &Msg) {
    let frags = datagrams(msg);
    let mut r = Reassembler::new();
    let mut out = None;
    for f in &frags {
        match r.push(f).expect("our fragments are well formed") {
            Pushed::Whole(range) => out = Some(decode(&f[range]).expect("ours decodes")),
            Pushed::Assembled => out = Some(decode(r.take()).expect("ours decodes")),
            Pushed::More => {}
        }
    }
    let out = out.expect("the last fragment completes the message");
    assert_eq!(datagrams(&out), frags);
}

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let mut r = Reassembler::new();
    let mut rest = data;
    while !rest.is_empty() {
        let cut = rest.windows(2).position(|w| w == [0xff, 0xfe]).unwrap_or(rest.len());
        let d = &rest[..cut];
        rest = rest.get(cut + 2..).unwrap_or(&[]);
        let pushed = r.push(d);
        assert!(r.buffered() <= MSG_MAX);
        let msg = match pushed {
            Ok(Pushed::Whole(range)) => decode(&d[range]),
            Ok(Pushed::Assembled) => decode(r.take()),
            Ok(Pushed::More) | Err(_) => continue,
        };
        if let Ok(m) = msg {
            round_trip(&m);
        }
    }
});
