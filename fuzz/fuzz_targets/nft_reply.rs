//! A NETLINK_NETFILTER datagram as the nftables batch reader sees it: the
//! reply to our setup batch. The batch's sequence numbers and the port come
//! from the input's first message, so the fuzzer's replies are "ours".
//! Invariant: no more acks than the batch has messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::netlink::nft::{BatchProgress, build_setup, parse_batch_reply};
use vigil::netlink::wire::Messages;

fuzz_target!(|data: &[u8]| {
    let (seq, port) = match Messages::new(data).next() {
        Some(Ok(m)) => (m.seq, m.pid),
        _ => (1, 0),
    };
    let mut buf = [0u8; 8192];
    let Ok((sent, seqs)) = build_setup(&mut buf, seq) else { return };
    let sent = sent.to_vec();
    if let Ok(BatchProgress::Acked(n)) = parse_batch_reply(data, port, seqs, &sent) {
        assert!(n as usize <= data.len() / 16);
    }
});
