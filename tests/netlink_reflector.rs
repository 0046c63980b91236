//! The netlink reflector against the host kernel, each test in a network namespace of its
//! own (per thread, as in tests/netlink_rtnl.rs): changes made by "another program" (our
//! own Rtnl calls, and `ip` run through nsenter for a rename) must arrive as the right
//! typed `Change` within a bound, and the mirror must equal a fresh dump afterwards.
//! Needs root; skipped with a note otherwise.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use vigil::netlink::consts::*;
use vigil::netlink::event::Event;
use vigil::netlink::mirror::{Change, Mirror};
use vigil::netlink::reflector::{Reflector, ReflectorConfig};
use vigil::netlink::wire::Messages;
use vigil::netlink::{AddrSpec, IfName, Link, LinkRef, OperState, Rtnl, if_name, parse_event};

/// Every wait for a change is bounded by this.
const BOUND: Duration = Duration::from_secs(2);

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
        // No IPv6 link-local addresses or DAD: they would keep changing address flags
        // under the comparisons below for a second or two.
        for knob in ["addr_gen_mode", "accept_dad"] {
            let v = if knob == "addr_gen_mode" { "1" } else { "0" };
            for scope in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{scope}/{knob}"), v);
            }
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

fn name(s: &str) -> IfName {
    if_name(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The next change, or `None` when nothing arrives before `deadline`.
fn next_before(r: &mut Reflector, deadline: Instant) -> Option<Change> {
    let got = async_io::block_on(smol::future::or(async { Some(r.next().await) }, async {
        async_io::Timer::at(deadline).await;
        None
    }));
    got.map(|c| c.unwrap_or_else(|e| panic!("reflector: {e}")))
}

/// Reads changes until one satisfies `want`; returns the latency since `since`.
fn wait_for(
    r: &mut Reflector,
    since: Instant,
    what: &str,
    want: impl Fn(&Change) -> bool,
) -> Duration {
    let deadline = since + BOUND;
    let mut seen = Vec::new();
    loop {
        match next_before(r, deadline) {
            Some(c) if want(&c) => {
                let latency = since.elapsed();
                eprintln!("{what}: {latency:?}");
                return latency;
            }
            Some(c) => seen.push(c),
            None => panic!("{what}: not seen within {BOUND:?}; saw {seen:?}"),
        }
    }
}

/// Reads changes until none comes for `quiet`.
fn drain(r: &mut Reflector, quiet: Duration) -> Vec<Change> {
    let mut out = Vec::new();
    let hard = Instant::now() + Duration::from_secs(20);
    while let Some(c) = next_before(r, (Instant::now() + quiet).min(hard)) {
        out.push(c);
    }
    out
}

type LinkRow = (u32, String, u32, u32, Vec<u8>);
type AddrRow = (u32, IpAddr, u8, u32, u8, Option<String>);

fn mirror_rows(m: &Mirror) -> (BTreeSet<LinkRow>, BTreeSet<AddrRow>) {
    let links = m
        .links()
        .map(|l| (l.index, l.name.to_string(), l.flags, l.mtu, l.mac.to_vec()))
        .collect();
    let addrs = m
        .addrs()
        .map(|a| {
            (
                a.ifindex,
                a.addr,
                a.prefix_len,
                a.flags,
                a.scope,
                a.label.as_ref().map(|l| l.to_string()),
            )
        })
        .collect();
    (links, addrs)
}

fn kernel_rows(nl: &mut Rtnl) -> (BTreeSet<LinkRow>, BTreeSet<AddrRow>) {
    let links = nl
        .links()
        .unwrap()
        .into_iter()
        .map(|l| {
            let mac = l.mac.map(|m| m.to_vec()).unwrap_or_default();
            (
                l.index,
                l.name.to_string(),
                l.flags,
                l.mtu.unwrap_or(0),
                mac,
            )
        })
        .collect();
    let addrs = nl
        .addrs()
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.ifindex,
                a.addr,
                a.prefix_len,
                a.flags,
                a.scope,
                a.label.map(|l| l.to_string()),
            )
        })
        .collect();
    (links, addrs)
}

/// The mirror equals a fresh dump once the broadcasts have been read (retried briefly, as
/// the kernel may still be settling operstate).
fn assert_mirror_is_kernel(r: &mut Reflector, nl: &mut Rtnl) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        drain(r, Duration::from_millis(200));
        let (got, want) = (mirror_rows(r.mirror()), kernel_rows(nl));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mirror {got:#?}\n!= kernel {want:#?}"
        );
    }
}

fn index_of(r: &Reflector, n: &str) -> u32 {
    r.mirror()
        .link_by_name(n)
        .unwrap_or_else(|| panic!("{n} not mirrored"))
        .index
}

/// `ip ARGS` run in this thread's network namespace: a separate program changing things.
fn ip_cmd(args: &[&str]) {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let ns = format!("--net=/proc/{}/task/{tid}/ns/net", std::process::id());
    let out = std::process::Command::new("nsenter")
        .arg(&ns)
        .arg("ip")
        .args(args)
        .output()
        .expect("nsenter runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn changes_arrive_typed_and_fast() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        nl.link_add_veth(&name("va"), &name("vb")).unwrap();
        let mut r = Reflector::start(ReflectorConfig::default()).unwrap();
        let (va, vb) = (index_of(&r, "va"), index_of(&r, "vb"));
        assert!(r.mirror().link(va).is_some_and(|l| !l.admin_up()));
        assert_eq!(r.mirror().link(va).unwrap().kind.as_deref(), Some("veth"));
        let mut latencies = Vec::new();

        // Both ends up: va becomes usable (IFF_UP and IFF_RUNNING).
        let t = Instant::now();
        nl.link_set_up(va, true).unwrap();
        nl.link_set_up(vb, true).unwrap();
        latencies.push(wait_for(&mut r, t, "va up", |c| {
            *c == Change::LinkUp { index: va }
        }));
        assert!(r.mirror().link(va).unwrap().usable());

        // The peer going down takes va's carrier: a carrier change and a down edge.
        let t = Instant::now();
        nl.link_set_up(vb, false).unwrap();
        latencies.push(wait_for(&mut r, t, "va carrier lost", |c| {
            *c == Change::CarrierChanged {
                index: va,
                carrier: false,
            }
        }));
        latencies.push(wait_for(&mut r, t, "va down (carrier)", |c| {
            *c == Change::LinkDown { index: va }
        }));
        let t = Instant::now();
        nl.link_set_up(vb, true).unwrap();
        latencies.push(wait_for(&mut r, t, "va up again", |c| {
            *c == Change::LinkUp { index: va }
        }));

        // Administratively down and up.
        let t = Instant::now();
        nl.link_set_up(va, false).unwrap();
        latencies.push(wait_for(&mut r, t, "va admin down", |c| {
            *c == Change::AdminDown { index: va }
        }));
        wait_for(&mut r, t, "va down", |c| {
            *c == Change::LinkDown { index: va }
        });
        let t = Instant::now();
        nl.link_set_up(va, true).unwrap();
        latencies.push(wait_for(&mut r, t, "va admin up", |c| {
            *c == Change::AdminUp { index: va }
        }));
        wait_for(&mut r, t, "va up", |c| *c == Change::LinkUp { index: va });

        // A VIP added and deleted by hand.
        let vip = AddrSpec::new(va, ip("192.0.2.10"), 24);
        let t = Instant::now();
        nl.addr_add(&vip).unwrap();
        latencies.push(wait_for(&mut r, t, "v4 address added", |c| {
            *c == Change::AddrAdded {
                ifindex: va,
                addr: vip.addr,
                prefix_len: 24,
            }
        }));
        assert!(r.mirror().has_addr(va, vip.addr));
        let mut vip6 = AddrSpec::new(va, ip("2001:db8::10"), 64);
        vip6.flags = IFA_F_NODAD;
        let t = Instant::now();
        nl.addr_add(&vip6).unwrap();
        latencies.push(wait_for(&mut r, t, "v6 address added", |c| {
            *c == Change::AddrAdded {
                ifindex: va,
                addr: vip6.addr,
                prefix_len: 64,
            }
        }));
        let t = Instant::now();
        ip_cmd(&["addr", "del", "192.0.2.10/24", "dev", "va"]);
        latencies.push(wait_for(&mut r, t, "v4 address deleted by ip", |c| {
            *c == Change::AddrRemoved {
                ifindex: va,
                addr: vip.addr,
                prefix_len: 24,
            }
        }));
        assert!(!r.mirror().has_addr(va, vip.addr));
        assert!(r.mirror().has_addr(va, vip6.addr));
        assert_mirror_is_kernel(&mut r, &mut nl);

        // Renamed by another program (a link must be down to be renamed).
        ip_cmd(&["link", "set", "dev", "va", "down"]);
        let t = Instant::now();
        ip_cmd(&["link", "set", "dev", "va", "name", "wan0"]);
        latencies.push(wait_for(&mut r, t, "va renamed wan0", |c| {
            *c == Change::LinkRenamed {
                index: va,
                old: name("va"),
                new: name("wan0"),
            }
        }));
        assert_eq!(index_of(&r, "wan0"), va);
        assert!(r.mirror().link_by_name("va").is_none());

        // Deleted (both ends go) and re-created under the old names: new indexes.
        let t = Instant::now();
        nl.link_del(va).unwrap();
        latencies.push(wait_for(&mut r, t, "wan0 removed", |c| {
            *c == Change::LinkRemoved {
                index: va,
                name: name("wan0"),
            }
        }));
        wait_for(&mut r, t, "vb removed", |c| {
            *c == Change::LinkRemoved {
                index: vb,
                name: name("vb"),
            }
        });
        assert_eq!(
            r.mirror().addrs_of(va).count(),
            0,
            "addresses go with their link"
        );
        let t = Instant::now();
        nl.link_add_veth(&name("va"), &name("vb")).unwrap();
        latencies.push(wait_for(
            &mut r,
            t,
            "va re-created",
            |c| matches!(c, Change::LinkAdded { name: n, .. } if n == "va"),
        ));
        let va2 = index_of(&r, "va");
        assert_ne!(
            va2, va,
            "a re-created link gets a new index: re-resolve by name"
        );

        assert_mirror_is_kernel(&mut r, &mut nl);
        let c = r.counters();
        eprintln!("counters: {c:?}");
        assert_eq!(
            (c.parse_errors, c.overruns, c.resyncs, c.capacity_hits),
            (0, 0, 0, 0)
        );
        let max = latencies.iter().max().copied().unwrap_or_default();
        eprintln!("latencies: {latencies:?}, max {max:?}");
        assert!(max < BOUND);
    });
}

#[test]
fn overrun_is_resynchronised_from_a_dump() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        nl.link_add_veth(&name("va"), &name("vb")).unwrap();
        let va = nl.link_index("va").unwrap();
        nl.link_set_up(va, true).unwrap();
        // The smallest queue the kernel allows: a few broadcasts fill it.
        let config = ReflectorConfig {
            rcvbuf: 1,
            ..ReflectorConfig::default()
        };
        let mut r = Reflector::start(config).unwrap();
        let _ = drain(&mut r, Duration::from_millis(100));

        // 2000 addresses added, half removed again, and nothing read meanwhile.
        let addr = |i: u32| AddrSpec::new(va, IpAddr::V4((0x0a00_0000 + i).into()), 32);
        for i in 0..2000 {
            nl.addr_add(&addr(i)).unwrap();
        }
        for i in (0..2000).step_by(2) {
            nl.addr_del(&addr(i)).unwrap();
        }
        let t = Instant::now();
        let changes = drain(&mut r, Duration::from_millis(300));
        let c = r.counters();
        eprintln!(
            "overrun: {} changes read in {:?}, counters {c:?}",
            changes.len(),
            t.elapsed()
        );
        assert!(c.overruns >= 1, "{c:?}");
        assert!(c.resyncs >= 1, "{c:?}");
        assert!(changes.contains(&Change::Resynced));
        assert_eq!(r.mirror().addrs_of(va).count(), 1000);
        assert!(r.mirror().has_addr(va, addr(1).addr));
        assert!(!r.mirror().has_addr(va, addr(0).addr));
        assert_mirror_is_kernel(&mut r, &mut nl);
    });
}

/// The reflector sized for 1,000 VRRP instances, each on its own link with a VMAC (the host
/// here has no 8021q: veth ends stand in for the VLANs, macvlans are keepalived's VMACs),
/// built while it reads nothing behind the smallest queue: the kernel drops broadcasts
/// (ENOBUFS), the reflector counts the overrun, resynchronises from a dump and then mirrors
/// all 2,000 links and 3,000 addresses: none is dropped for want of room (the fixed 256
/// links and 1,024 addresses did).
#[test]
fn a_thousand_instances_links_overrun_and_resynchronise_whole() {
    in_netns(|| {
        let mut conf = String::new();
        for i in 0..1000 {
            conf += &format!(
                "vrrp_instance VI_{i} {{\n interface v{i}\n use_vmac vm{i}\n virtual_router_id {}\n priority 100\n                  virtual_ipaddress {{\n  10.9.{}.{}/32\n }}\n}}\n",
                i % 255 + 1,
                i / 250,
                i % 250 + 1
            );
        }
        let loaded = vigil::config::load_str(&conf, std::path::Path::new("/nonexistent/t.conf"), &Default::default());
        assert_eq!(loaded.config.vrrp_instances.len(), 1000);
        let sized = vigil::vrrp::engine::reflector_config(&loaded.config);
        let mut r = Reflector::start(ReflectorConfig { rcvbuf: 1, ..sized }).unwrap();
        let _ = drain(&mut r, Duration::from_millis(100));
        let mut nl = Rtnl::new().unwrap();
        let mut batch = String::new();
        for i in (0..1000).step_by(2) {
            batch += &format!("link add v{i} type veth peer name v{}\n", i + 1);
        }
        for i in 0..1000 {
            batch += &format!("link add link v{i} name vm{i} type macvlan mode private\n");
            batch += &format!("addr add 10.1.{}.{}/24 dev v{i}\n", i / 250, i % 250 + 1);
            batch += &format!("addr add 10.2.{}.{}/24 dev v{i}\n", i / 250, i % 250 + 1);
            batch += &format!("addr add 10.9.{}.{}/32 dev vm{i}\n", i / 250, i % 250 + 1);
        }
        let path = std::env::temp_dir().join(format!("vigil-reflector-scale-{}.batch", std::process::id()));
        std::fs::write(&path, batch).unwrap();
        ip_cmd(&["-batch", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        let t = Instant::now();
        let changes = drain(&mut r, Duration::from_millis(500));
        let c = r.counters();
        let m = r.mirror();
        eprintln!(
            "1,000 instances' links: {} changes read in {:?}; mirror {} links, {} addresses (room for {:?}); counters {c:?}, mirror {:?}",
            changes.len(),
            t.elapsed(),
            m.link_count(),
            m.addr_count(),
            m.capacity(),
            m.counters()
        );
        assert!(c.overruns >= 1 && c.resyncs >= 1, "{c:?}");
        assert!(changes.contains(&Change::Resynced));
        assert_eq!(m.counters().capacity_hits, 0);
        assert_eq!(m.link_count(), 2001, "lo, 1,000 veth ends and 1,000 macvlans");
        assert_eq!(m.addr_count(), 3000 + m.addrs_of(1).count());
        assert_mirror_is_kernel(&mut r, &mut nl);
    });
}

#[test]
fn explicit_resync_reports_only_differences() {
    in_netns(|| {
        let mut nl = Rtnl::new().unwrap();
        nl.link_add_veth(&name("va"), &name("vb")).unwrap();
        let mut r = Reflector::start(ReflectorConfig::default()).unwrap();
        let _ = drain(&mut r, Duration::from_millis(100));
        r.request_resync();
        let changes = drain(&mut r, Duration::from_millis(100));
        assert_eq!(
            changes,
            vec![Change::Resynced],
            "nothing changed, nothing reported"
        );
        assert_eq!(r.counters().resyncs, 1);
        assert_mirror_is_kernel(&mut r, &mut nl);
    });
}

/// Real messages of each kind, then every prefix and many single-byte corruptions of them,
/// through the parser into a mirror: errors, never a panic, and the mirror stays within
/// its bounds.
#[test]
fn malformed_input_never_panics() {
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 512];
    let n = vigil::netlink::link::build_add_veth(&mut buf, 1, &name("va"), &name("vb")).unwrap();
    msgs.push(buf[..n].to_vec());
    let n = vigil::netlink::link::build_set_up(&mut buf, 2, &LinkRef::Index(3), true).unwrap();
    msgs.push(buf[..n].to_vec());
    let mut a = AddrSpec::new(3, ip("192.0.2.1"), 24);
    a.label = Some(name("va:vip"));
    a.broadcast = Some("192.0.2.255".parse().unwrap());
    for op in [
        vigil::netlink::addr::AddrOp::Add,
        vigil::netlink::addr::AddrOp::Del,
    ] {
        let n = vigil::netlink::addr::build(&mut buf, 3, op, &a).unwrap();
        msgs.push(buf[..n].to_vec());
    }
    let mut a6 = AddrSpec::new(3, ip("2001:db8::1"), 64);
    a6.flags = IFA_F_NODAD;
    let n =
        vigil::netlink::addr::build(&mut buf, 4, vigil::netlink::addr::AddrOp::Add, &a6).unwrap();
    msgs.push(buf[..n].to_vec());

    let mut mirror = Mirror::new();
    let (mut ok, mut err) = (0u32, 0u32);
    let mut feed = |bytes: &[u8], mirror: &mut Mirror| {
        for m in Messages::new(bytes) {
            match m
                .map_err(|_| ())
                .and_then(|m| parse_event(&m).map_err(|_| ()))
            {
                Ok(Some(ev)) => {
                    ok += 1;
                    let _ = mirror.apply(&ev);
                }
                Ok(None) => {}
                Err(()) => err += 1,
            }
        }
    };
    for m in &msgs {
        feed(m, &mut mirror);
        for cut in 0..m.len() {
            feed(&m[..cut], &mut mirror);
        }
        for i in 0..m.len() {
            for v in [0u8, 1, 2, 3, 4, 0x10, 0x7f, 0x80, 0xfe, 0xff] {
                let mut c = m.clone();
                c[i] = v;
                feed(&c, &mut mirror);
            }
        }
    }
    // Random datagrams, seeded (xorshift), some with plausible headers.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..20_000 {
        let len = (rnd() % 200) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        if len >= 16 && rnd() % 2 == 0 {
            d[..4].copy_from_slice(&(len as u32).to_ne_bytes());
            let ty = [RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR][(rnd() % 4) as usize];
            d[4..6].copy_from_slice(&ty.to_ne_bytes());
        }
        feed(&d, &mut mirror);
    }
    eprintln!(
        "malformed: {ok} parsed, {err} rejected; mirror {} links {} addrs, {:?}",
        mirror.link_count(),
        mirror.addr_count(),
        mirror.counters()
    );
    assert!(err > 1000 && ok > 10);

    // Typed events that cannot all be right: out-of-order deletes, index 0, renames onto a
    // name in use, one index flipping names.
    let mut m = Mirror::new();
    for i in 0..5000u32 {
        let l = Link {
            index: i % 300,
            name: name(&format!("l{}", i % 7)),
            flags: i.wrapping_mul(2_654_435_761),
            mtu: (i % 3 != 0).then_some(i),
            mac: None,
            operstate: OperState::from((i % 9) as u8),
            carrier: None,
            kind: None,
        };
        let ev = if i % 5 == 0 {
            Event::DelLink(l)
        } else {
            Event::NewLink(l)
        };
        let changes = m.apply(&ev);
        assert!(changes.len() <= vigil::netlink::mirror::MAX_CHANGES_PER_EVENT);
        let names: BTreeSet<_> = m.links().map(|l| l.name.clone()).collect();
        assert_eq!(names.len(), m.link_count(), "one link per name");
    }
}
