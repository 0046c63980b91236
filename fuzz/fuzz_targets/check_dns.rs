//! DNS_CHECK: a reply judged against our query id, and the query built from
//! a configured name (which comes from the config file).
//! Input: two bytes of id, then the reply; the reply's text also serves as
//! the name. Invariant: a built query fits its buffer and carries the id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::check::dns::{DNS_BUF, build_query, judge_reply};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let id = u16::from_be_bytes([data[0], data[1]]);
    let reply = &data[2..];
    let _ = judge_reply(reply, id);
    let name = String::from_utf8_lossy(reply);
    let mut q = [0u8; DNS_BUF];
    if let Some(n) = build_query(&mut q, id, 1, &name) {
        assert!((17..=DNS_BUF).contains(&n));
        assert_eq!(u16::from_be_bytes([q[0], q[1]]), id);
    }
});
