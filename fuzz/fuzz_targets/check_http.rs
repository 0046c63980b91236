//! An HTTP response as HTTP_GET / SSL_GET read it: fed to the incremental
//! reader in the chunks the first input byte cuts it into (a read boundary
//! may fall anywhere, e.g. inside `\r\n\r\n`).
//! Invariants: the verdict does not depend on how the bytes were split; the
//! body counted never exceeds the bytes received or Content-Length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::check::http::{ResponseReader, genhash};

fuzz_target!(|data: &[u8]| {
    let Some((&step, resp)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut r = ResponseReader::new();
    let mut fed = Ok(());
    for chunk in resp.chunks(step) {
        fed = r.feed(chunk);
        if fed.is_err() {
            break;
        }
    }
    let whole = genhash(resp);
    match fed.and_then(|()| r.finish()) {
        Ok(out) => {
            assert!(out.body_len <= resp.len() as u64);
            assert_eq!(Some(out.digest), whole, "split reads change the digest");
        }
        Err(_) => assert_eq!(whole, None, "split reads change the verdict"),
    }
});
