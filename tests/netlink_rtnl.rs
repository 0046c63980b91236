//! rtnetlink against the host kernel, each test inside a network namespace of its own.
//!
//! Network namespaces are per thread: each test spawns a thread that unshares
//! CLONE_NEWNET and does everything there, so the test process's other threads and the
//! host stay untouched, and the namespace (with everything created in it) goes away when
//! the thread ends. Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN); skipped with a note
//! otherwise.

use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;
use vigil::netlink::consts::*;
use vigil::netlink::reply::{Reply, classify};
use vigil::netlink::wire::Messages;
use vigil::netlink::{
    AddrFamily, AddrSpec, Event, IpPrefix, LinkRef, NetlinkError, NlSocket, RouteSpec, RouteType,
    Rtnl, RuleAction, RuleSpec, if_name, parse_event,
};

/// Runs `body` in a fresh network namespace on its own thread.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let handle = std::thread::spawn(move || {
        // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET affects only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(Errno::last());
        }
        body();
        Ok(())
    });
    match handle.join() {
        Ok(Ok(())) => {}
        Ok(Err(Errno::EPERM)) => eprintln!("skipped: unshare(CLONE_NEWNET) not permitted here"),
        Ok(Err(e)) => panic!("unshare(CLONE_NEWNET): {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str, len: u8) -> IpPrefix {
    IpPrefix::new(ip(s), len).unwrap()
}

fn lo_up(nl: &mut Rtnl) -> u32 {
    let lo = nl.link_index("lo").unwrap();
    nl.link_set_up(lo, true).unwrap();
    lo
}

#[test]
fn lo_comes_up_and_links_report_it() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let links = nl.links().unwrap();
        assert_eq!(links.len(), 1, "a fresh namespace has only lo: {links:?}");
        let lo = &links[0];
        assert_eq!((lo.index, lo.name.as_str()), (1, "lo"));
        assert!(!lo.is_up());
        assert_eq!(lo.mtu, Some(65536));
        assert_eq!(lo.flags & IFF_LOOPBACK, IFF_LOOPBACK);

        nl.link_set_up(LinkRef::Name(if_name("lo").unwrap()), true)
            .unwrap();
        let lo = nl.link(&LinkRef::Index(1)).unwrap();
        assert!(lo.is_up() && lo.is_running(), "{lo:?}");
        assert_eq!(lo.carrier, Some(true));

        nl.link_set_up(1, false).unwrap();
        assert!(!nl.link(&LinkRef::Index(1)).unwrap().is_up());
        nl.link_set_up(1, true).unwrap();
        assert!(nl.links().unwrap()[0].is_up());

        let err = nl.link_index("nosuch0").unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENODEV), "{err}");
        assert!(nl.link_index("a-name-far-too-long-for-linux").is_err());
    });
}

#[test]
fn veth_pair_is_created_with_carrier_and_deleted() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let (a, b) = (if_name("vg0").unwrap(), if_name("vg1").unwrap());
        nl.link_add_veth(&a, &b).unwrap();
        assert!(nl.link_add_veth(&a, &b).unwrap_err().is_exists());
        nl.link_set_up(LinkRef::Name(a.clone()), true).unwrap();
        nl.link_set_up(LinkRef::Name(b.clone()), true).unwrap();
        let links = nl.links().unwrap();
        let va = links.iter().find(|l| l.name == a).expect("vg0 listed");
        assert_eq!(va.kind.as_deref(), Some("veth"));
        assert_eq!(va.mac.as_ref().map(|m| m.len()), Some(6));
        assert_eq!(va.mtu, Some(1500));
        // Carrier follows the peer's state once both ends are up; allow it a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let l = nl.link(&LinkRef::Name(a.clone())).unwrap();
            if l.carrier == Some(true) && l.operstate == vigil::netlink::OperState::Up {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no carrier on {l:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        nl.link_del(LinkRef::Name(a.clone())).unwrap();
        let names: Vec<_> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
        assert!(!names.contains(&a) && !names.contains(&b), "{names:?}");
        assert!(nl.link_del(LinkRef::Name(a)).unwrap_err().is_absent());
    });
}

#[test]
fn addresses_v4_and_v6_add_list_duplicate_delete() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let lo = lo_up(&mut nl);

        let mut v4 = AddrSpec::new(lo, ip("192.0.2.1"), 24);
        v4.label = Some(if_name("lo:vip").unwrap());
        v4.broadcast = Some("192.0.2.255".parse().unwrap());
        let mut v6 = AddrSpec::new(lo, ip("2001:db8::1"), 64);
        v6.flags = IFA_F_NODAD;
        nl.addr_add(&v4).unwrap();
        nl.addr_add(&v6).unwrap();

        let addrs = nl.addrs().unwrap();
        let got4 = addrs.iter().find(|a| a.addr == v4.addr).expect("v4 listed");
        assert_eq!((got4.ifindex, got4.prefix_len, got4.peer), (lo, 24, None));
        assert_eq!(got4.label.as_deref(), Some("lo:vip"));
        assert_eq!(got4.broadcast, v4.broadcast);
        assert_eq!(got4.scope, RT_SCOPE_UNIVERSE);
        let got6 = addrs.iter().find(|a| a.addr == v6.addr).expect("v6 listed");
        assert_eq!((got6.ifindex, got6.prefix_len), (lo, 64));
        assert_ne!(got6.flags & IFA_F_NODAD, 0, "flags {:#x}", got6.flags);
        assert_eq!(got6.flags & IFA_F_TENTATIVE, 0, "nodad: usable at once");
        assert!(addrs.iter().any(|a| a.addr == ip("127.0.0.1")));

        let dup = nl.addr_add(&v4).unwrap_err();
        assert!(dup.is_exists(), "{dup}");
        assert_eq!(dup.errno(), Some(Errno::EEXIST));
        assert!(nl.addr_add(&v6).unwrap_err().is_exists());

        nl.addr_del(&v4).unwrap();
        nl.addr_del(&v6).unwrap();
        let addrs = nl.addrs().unwrap();
        assert!(
            !addrs.iter().any(|a| a.addr == v4.addr || a.addr == v6.addr),
            "{addrs:?}"
        );
        let gone = nl.addr_del(&v4).unwrap_err();
        assert!(gone.is_absent(), "{gone}");
    });
}

#[test]
fn routes_unicast_gateway_blackhole_v6_and_errors() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let lo = lo_up(&mut nl);
        nl.addr_add(&AddrSpec::new(lo, ip("192.0.2.1"), 24))
            .unwrap();
        let (a, b) = (if_name("vr0").unwrap(), if_name("vr1").unwrap());
        nl.link_add_veth(&a, &b).unwrap();
        let va = nl.link_index("vr0").unwrap();
        nl.link_set_up(va, true).unwrap();
        nl.link_set_up(LinkRef::Name(b), true).unwrap();
        nl.addr_add(&AddrSpec::new(va, ip("203.0.113.1"), 24))
            .unwrap();

        // 198.51.100.0/24 dev lo metric 10 src 192.0.2.1
        let mut via_lo = RouteSpec::new(prefix("198.51.100.0", 24));
        via_lo.oif = Some(lo);
        via_lo.metric = Some(10);
        via_lo.prefsrc = Some(ip("192.0.2.1"));
        // default via 203.0.113.254 dev vr0 table 1000 proto keepalived
        let mut via_gw = RouteSpec::new(IpPrefix::default_route(AddrFamily::Inet));
        via_gw.gateway = Some(ip("203.0.113.254"));
        via_gw.oif = Some(va);
        via_gw.table = 1000;
        via_gw.protocol = RTPROT_KEEPALIVED;
        // blackhole 100.64.0.0/10 table 100
        let mut hole = RouteSpec::new(prefix("100.64.0.0", 10));
        hole.kind = RouteType::Blackhole;
        hole.table = 100;
        // prohibit 2001:db8:dead::/48, and 2001:db8:1::/64 dev lo
        let mut prohibit6 = RouteSpec::new(prefix("2001:db8:dead::", 48));
        prohibit6.kind = RouteType::Prohibit;
        let mut v6 = RouteSpec::new(prefix("2001:db8:1::", 64));
        v6.oif = Some(lo);
        v6.metric = Some(1024);

        for r in [&via_lo, &via_gw, &hole, &prohibit6, &v6] {
            nl.route_add(r)
                .unwrap_or_else(|e| panic!("adding {r:?}: {e}"));
        }
        let routes = nl.routes(AddrFamily::Inet).unwrap();
        let find = |routes: &[RouteSpec], dst: IpPrefix, table: u32| {
            routes
                .iter()
                .find(|r| r.dst == dst && r.table == table)
                .cloned()
        };
        let got = find(&routes, via_lo.dst, RT_TABLE_MAIN).expect("route via lo");
        assert_eq!(
            got,
            RouteSpec {
                scope: Some(RT_SCOPE_LINK),
                ..via_lo.clone()
            }
        );
        let got = find(&routes, via_gw.dst, 1000).expect("default route in table 1000");
        assert_eq!(
            got,
            RouteSpec {
                scope: Some(RT_SCOPE_UNIVERSE),
                ..via_gw.clone()
            }
        );
        let got = find(&routes, hole.dst, 100).expect("blackhole");
        assert_eq!((got.kind, got.oif), (RouteType::Blackhole, None));
        let routes6 = nl.routes(AddrFamily::Inet6).unwrap();
        assert_eq!(
            find(&routes6, prohibit6.dst, RT_TABLE_MAIN)
                .expect("prohibit")
                .kind,
            RouteType::Prohibit
        );
        let got = find(&routes6, v6.dst, RT_TABLE_MAIN).expect("v6 route");
        assert_eq!((got.oif, got.metric), (Some(lo), Some(1024)));

        for r in [&via_lo, &via_gw, &hole] {
            assert!(nl.route_add(r).unwrap_err().is_exists(), "duplicate {r:?}");
        }

        // A bad request: an interface index that does not exist.
        let mut bad = RouteSpec::new(prefix("198.51.100.0", 25));
        bad.oif = Some(9999);
        match nl.route_add(&bad).unwrap_err() {
            NetlinkError::Kernel { errno, op, message } => {
                assert_eq!(errno, Errno::ENODEV, "{message:?}");
                assert_eq!(op, vigil::netlink::Op::RouteAdd);
            }
            other => panic!("expected a kernel error, got {other}"),
        }
        // An unreachable gateway: EINVAL or ENETUNREACH depending on the kernel.
        let mut far = RouteSpec::new(prefix("198.51.100.0", 25));
        far.gateway = Some(ip("10.9.9.9"));
        let e = nl.route_add(&far).unwrap_err();
        assert!(
            matches!(e.errno(), Some(Errno::ENETUNREACH | Errno::EINVAL)),
            "{e}"
        );

        for r in [&via_lo, &via_gw, &hole, &prohibit6, &v6] {
            nl.route_del(r)
                .unwrap_or_else(|e| panic!("deleting {r:?}: {e}"));
        }
        let routes = nl.routes(AddrFamily::Inet).unwrap();
        assert!(find(&routes, via_lo.dst, RT_TABLE_MAIN).is_none());
        assert!(find(&routes, via_gw.dst, 1000).is_none());
        assert!(find(&routes, hole.dst, 100).is_none());
        let routes6 = nl.routes(AddrFamily::Inet6).unwrap();
        assert!(find(&routes6, v6.dst, RT_TABLE_MAIN).is_none());
        assert!(nl.route_del(&via_lo).unwrap_err().is_absent());
    });
}

#[test]
fn rules_add_list_duplicate_delete() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        lo_up(&mut nl);
        let mut r4 = RuleSpec::new(AddrFamily::Inet, 100);
        r4.from = Some(prefix("192.0.2.0", 24));
        r4.priority = Some(1000);
        let mut r6 = RuleSpec::new(AddrFamily::Inet6, 4242);
        r6.to = Some(prefix("2001:db8::", 32));
        r6.priority = Some(1001);
        r6.iif = Some(if_name("lo").unwrap());
        r6.fwmark = Some(0x10);
        r6.fwmask = Some(0xff);
        r6.protocol = RTPROT_KEEPALIVED;
        let mut deny = RuleSpec::new(AddrFamily::Inet, 0);
        deny.to = Some(prefix("198.51.100.0", 24));
        deny.priority = Some(1002);
        deny.action = RuleAction::Prohibit;

        for r in [&r4, &r6, &deny] {
            nl.rule_add(r)
                .unwrap_or_else(|e| panic!("adding {r:?}: {e}"));
        }
        let rules = nl.rules(AddrFamily::Inet).unwrap();
        let got = rules
            .iter()
            .find(|r| r.priority == Some(1000))
            .expect("v4 rule");
        assert_eq!(got, &r4);
        let got = rules
            .iter()
            .find(|r| r.priority == Some(1002))
            .expect("prohibit rule");
        assert_eq!((got.action, got.to), (RuleAction::Prohibit, deny.to));
        // The default rules are there too (local, main, default).
        assert!(
            rules
                .iter()
                .any(|r| r.table == RT_TABLE_LOCAL && r.priority.unwrap_or(0) == 0)
        );
        let rules6 = nl.rules(AddrFamily::Inet6).unwrap();
        let got = rules6
            .iter()
            .find(|r| r.priority == Some(1001))
            .expect("v6 rule");
        assert_eq!(got, &r6);

        let dup = nl.rule_add(&r4).unwrap_err();
        assert!(dup.is_exists(), "{dup}");

        for r in [&r4, &r6, &deny] {
            nl.rule_del(r).unwrap();
        }
        assert!(
            !nl.rules(AddrFamily::Inet)
                .unwrap()
                .iter()
                .any(|r| r.priority == Some(1000))
        );
        assert!(
            !nl.rules(AddrFamily::Inet6)
                .unwrap()
                .iter()
                .any(|r| r.priority == Some(1001))
        );
        assert!(nl.rule_del(&r4).unwrap_err().is_absent());
    });
}

/// The reflector's building blocks: a group-subscribed socket, non-blocking under
/// async-io, and `parse_event` on what arrives.
#[test]
fn notifications_parse_into_events_under_async_io() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let lo = lo_up(&mut nl);
        let sock = NlSocket::route(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR).unwrap();
        sock.set_recv_buffer(1 << 20).unwrap();
        let sock = async_io::Async::new(sock).unwrap();
        nl.addr_add(&AddrSpec::new(lo, ip("192.0.2.7"), 32))
            .unwrap();
        nl.link_set_up(lo, false).unwrap();

        let mut buf = vec![0u8; 32 * 1024];
        let (mut saw_addr, mut saw_link_down) = (false, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !(saw_addr && saw_link_down) {
            assert!(std::time::Instant::now() < deadline, "events missing");
            let recv = sock.read_with(|s| s.recv(&mut buf).map_err(Into::into));
            let timeout = async {
                async_io::Timer::after(Duration::from_secs(1)).await;
                Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
            };
            let n = match futures_lite_or(recv, timeout) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) => panic!("recv: {e}"),
            };
            for m in Messages::new(&buf[..n]) {
                let Reply::Data(m) = classify(m.unwrap()).unwrap() else {
                    continue;
                };
                match parse_event(&m).unwrap() {
                    Some(Event::NewAddr(a)) if a.addr == ip("192.0.2.7") => saw_addr = true,
                    Some(Event::NewLink(l)) if l.index == lo && !l.is_up() => saw_link_down = true,
                    _ => {}
                }
            }
        }
    });
}

fn futures_lite_or<T>(
    a: impl std::future::Future<Output = T>,
    b: impl std::future::Future<Output = T>,
) -> T {
    smol::block_on(smol::future::or(a, b))
}

/// `never_wait` (the schedulers' sockets): requests and multi-part dumps
/// on a non-blocking socket find their replies at once, because the kernel handles them
/// inside sendmsg (a dump's next part inside recvmsg). 2,000 addresses make the dump span
/// many datagrams; every request succeeds, none times out, and errors still come back.
#[test]
fn never_wait_requests_and_dumps_get_their_replies_at_once() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        let lo = lo_up(&mut nl);
        nl.never_wait().unwrap();
        let t = std::time::Instant::now();
        for i in 0..2000u32 {
            let a = IpAddr::from([10, 64 + (i >> 8) as u8, (i & 0xff) as u8, 1]);
            nl.addr_add(&AddrSpec::new(lo, a, 32)).unwrap_or_else(|e| panic!("add {a}: {e}"));
        }
        let adds = t.elapsed();
        let t = std::time::Instant::now();
        let n = nl.addrs().unwrap().iter().filter(|a| matches!(a.addr, IpAddr::V4(v) if v.octets()[0] == 10)).count();
        let dump = t.elapsed();
        assert_eq!(n, 2000);
        let dup = nl.addr_add(&AddrSpec::new(lo, ip("10.64.0.1"), 32));
        assert!(matches!(dup, Err(NetlinkError::Exists { .. })), "{dup:?}");
        for i in 0..2000u32 {
            let a = IpAddr::from([10, 64 + (i >> 8) as u8, (i & 0xff) as u8, 1]);
            nl.addr_del(&AddrSpec::new(lo, a, 32)).unwrap();
        }
        assert_eq!(nl.addrs().unwrap().iter().filter(|a| matches!(a.addr, IpAddr::V4(v) if v.octets()[0] == 10)).count(), 0);
        eprintln!("never_wait: 2000 adds in {} ms, a dump of them in {} ms, no timeout", adds.as_millis(), dump.as_millis());
    });
}
