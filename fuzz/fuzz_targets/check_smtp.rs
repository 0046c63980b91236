//! SMTP_CHECK's reply reader (src/check/smtp.rs): server bytes in the
//! chunks the first input byte cuts them into, until a reply is complete.
//! Invariants: a code has at most three digits; a reply the whole input
//! completes in one read gives the same code as `reply_code` on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::check::smtp::{ReplyBuf, reply_code};

fuzz_target!(|data: &[u8]| {
    let Some((&step, mut rest)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut r = ReplyBuf::default();
    while !rest.is_empty() {
        let room = r.spare();
        assert!(!room.is_empty());
        let n = room.len().min(step).min(rest.len());
        room[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        if let Some(code) = r.filled(n) {
            assert!(code <= 999);
            break;
        }
    }
    if data.len() - 1 <= step.min(512) {
        let mut one = ReplyBuf::default();
        let n = data.len() - 1;
        one.spare()[..n].copy_from_slice(&data[1..]);
        assert_eq!(one.filled(n), reply_code(&data[1..]));
    }
});
