//! A generic-netlink datagram from the IPVS family (or the controller) as
//! the IPVS handle reads it: split into messages, each parsed as an IPVS
//! service / destination / daemon / timeouts message (in either fallback
//! family) and as the controller's family-id reply.
//! Invariant: a parsed service that the request builder accepts (it refuses
//! specs no request may carry, e.g. an empty scheduler, which a reply may
//! hold) re-encodes as NEW_SERVICE and parses back to the same service,
//! but for the kernel's HASHED flag, which a request never carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::ipvs::types::ServiceFlags;
use vigil::ipvs::{genl, msg, parse};
use vigil::netlink::types::AddrFamily;
use vigil::netlink::wire::{Messages, NlMsg};

fuzz_target!(|data: &[u8]| {
    for m in Messages::new(data).take(1024) {
        let Ok(m) = m else { break };
        let _ = genl::parse_family(&m, "IPVS");
        let _ = parse::parse(&m, None);
        let _ = parse::parse(&m, Some(AddrFamily::Inet6));
        if let Ok(p) = parse::parse(&m, Some(AddrFamily::Inet)) {
            if let Some(svc) = p.service.filter(|s| s.fwmark.is_none()) {
                let mut buf = [0u8; 4096];
                let Ok(n) = msg::build_service(&mut buf, m.ty, m.seq, msg::Change::New, &svc) else { continue };
                let back = Messages::new(&buf[..n]).next().expect("one message").expect("well formed");
                let back: NlMsg<'_> = back;
                let again = parse::parse(&back, None).expect("our encoding parses");
                let mut want = svc.clone();
                want.flags = want.flags.without(ServiceFlags::HASHED);
                assert_eq!(again.service.as_ref(), Some(&want));
            }
        }
    }
});
