//! The SMTP alert client's reply reader (src/alert/smtp.rs): server bytes
//! in the chunks the first input byte cuts them into, with a code taken
//! whenever a reply is complete, as the client's loop does.
//! Invariants: a code is a 3-digit reply code 200..=599; the reader never
//! offers more room than its buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::alert::smtp::ReplyReader;

fuzz_target!(|data: &[u8]| {
    let Some((&step, mut rest)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut r = ReplyReader::default();
    let mut stalls = 0;
    while !rest.is_empty() && stalls < 2 {
        let room = r.spare();
        let n = room.len().min(step).min(rest.len());
        room[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        r.filled(n);
        stalls = if n == 0 { stalls + 1 } else { 0 };
        while let Some(got) = r.take() {
            match got {
                Ok(code) => assert!((200..=599).contains(&code)),
                // The client gives up the session on a malformed reply.
                Err(()) => return,
            }
        }
    }
});
