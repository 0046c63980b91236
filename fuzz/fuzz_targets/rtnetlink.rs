//! An rtnetlink datagram (a dump reply or a multicast notification) through
//! the parsers the daemon runs on it: split into messages, classified
//! (ack / error / done / data), each data message parsed as a link, an
//! address, a route and a rule whatever its type says, then as an event,
//! and the events applied to a link/address mirror.
//! Invariants: the message splitter never yields a payload longer than the
//! datagram; the mirror stays within its capacities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::netlink::event::parse_event;
use vigil::netlink::mirror::{MAX_ADDRS, MAX_LINKS, Mirror};
use vigil::netlink::reply::{Reply, classify};
use vigil::netlink::wire::Messages;
use vigil::netlink::{addr, link, route, rule};

fuzz_target!(|data: &[u8]| {
    let mut mirror = Mirror::new();
    for msg in Messages::new(data).take(1024) {
        let Ok(msg) = msg else { break };
        assert!(msg.payload.len() + 16 <= data.len());
        let _ = link::parse(&msg);
        let _ = addr::parse(&msg);
        let _ = route::parse(&msg);
        let _ = rule::parse(&msg);
        if let Ok(Reply::Data(m)) = classify(msg) {
            if let Ok(Some(ev)) = parse_event(&m) {
                let _ = mirror.apply(&ev);
                assert!(mirror.link_count() <= MAX_LINKS);
                assert!(mirror.addr_count() <= MAX_ADDRS);
            }
        }
    }
});
