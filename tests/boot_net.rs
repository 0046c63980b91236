//! static_ipaddress / static_routes / static_rules applied through
//! rtnetlink, in a network namespace private to one test thread (network
//! namespaces are per thread, so nothing reaches the host's interfaces).

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use vigil::config::{LoadOptions, load_str};
use vigil::netlink::{AddrFamily, Rtnl};

const CONF: &str = "\
static_ipaddress {
    192.0.2.1/24 dev vg0 scope global
    2001:db8::1/64 dev vg0
}
static_routes {
    198.51.100.0/24 via 192.0.2.254 dev vg0
    blackhole 203.0.113.0/24
}
static_rules {
    from 192.0.2.0/24 table 100 priority 1000
}
";

#[test]
fn static_addressing_is_applied_in_a_private_namespace() {
    let t = std::thread::spawn(|| {
        // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET moves only this spawned thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            skip::skip_or_fail(&format!("unshare(CLONE_NEWNET): {e}; run as root"));
            return;
        }
        let mut nl = Rtnl::new().unwrap();
        let a = vigil::netlink::if_name("vg0").unwrap();
        let b = vigil::netlink::if_name("vg1").unwrap();
        nl.link_add_veth(&a, &b).unwrap();
        // `-t` semantics need the interfaces to exist; they do in this thread.
        let loaded = load_str(CONF, Path::new("static.conf"), &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let applied = vigil::init::boot_net::apply_static(&loaded.config);
        assert_eq!(applied, vigil::init::boot_net::Applied { addresses: 2, routes: 2, rules: 1, failed: 0 });
        // Applying again (a re-exec, a reload) is not an error.
        assert_eq!(vigil::init::boot_net::apply_static(&loaded.config).failed, 0);

        let idx = nl.link_index("vg0").unwrap();
        let addrs = nl.addrs().unwrap();
        assert!(addrs.iter().any(|x| x.ifindex == idx && x.addr.to_string() == "192.0.2.1" && x.prefix_len == 24));
        assert!(addrs.iter().any(|x| x.ifindex == idx && x.addr.to_string() == "2001:db8::1" && x.prefix_len == 64));
        let link = nl.link(&vigil::netlink::LinkRef::Index(idx)).unwrap();
        assert!(link.is_up(), "vg0 was not brought up");
        let routes = nl.routes(AddrFamily::Inet).unwrap();
        assert!(routes.iter().any(|r| r.dst.addr().to_string() == "198.51.100.0" && r.gateway.map(|g| g.to_string()) == Some("192.0.2.254".into())));
        assert!(routes.iter().any(|r| r.dst.addr().to_string() == "203.0.113.0" && r.kind == vigil::netlink::RouteType::Blackhole));
        let rules = nl.rules(AddrFamily::Inet).unwrap();
        assert!(rules.iter().any(|r| r.priority == Some(1000) && r.table == 100));
    });
    t.join().unwrap();
}
