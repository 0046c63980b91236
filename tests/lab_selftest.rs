//! The VRRP lab checks itself: the network and the probe with no daemon,
//! then an election and a graceful handover between two keepalived nodes,
//! and that nothing is left behind.

mod lab;

use lab::ready;

use lab::{CLIENT, Daemon, Kind, Lab, VrrpConf, fmt_mac};
use std::process::Command;
use std::time::{Duration, Instant};

fn netns_list() -> String {
    let out = lab::run_bounded(Command::new("ip").args(["netns", "list"]), lab::EXEC_TIMEOUT).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn probe_parses_arp_and_na_frames() {
    let vip: std::net::IpAddr = "192.0.2.100".parse().unwrap();
    let mut garp = vec![0u8; 42];
    garp[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    garp[12..14].copy_from_slice(&[8, 6]);
    garp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    garp[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    garp[28..32].copy_from_slice(&[192, 0, 2, 100]);
    garp[38..42].copy_from_slice(&[192, 0, 2, 100]);
    assert_eq!(lab::probe::parse(&garp, vip), Some(([2, 0, 0, 0, 0, 1], Kind::Garp)));
    let mut reply = garp.clone();
    reply[21] = 2;
    reply[38..42].copy_from_slice(&[192, 0, 2, 200]);
    assert_eq!(lab::probe::parse(&reply, vip), Some(([2, 0, 0, 0, 0, 1], Kind::Reply)));
    reply[28..32].copy_from_slice(&[192, 0, 2, 1]);
    assert_eq!(lab::probe::parse(&reply, vip), None);
    assert_eq!(lab::probe::parse(&reply[..20], vip), None);
}

/// No daemon: the client's probe gets ARP replies and neighbour
/// advertisements from the nodes' own addresses, with the nodes' MACs.
#[test]
fn lab_network_and_probe() {
    if !ready("lab_network_and_probe") {
        return;
    }
    let lab = Lab::new("selfnet", 2);
    for n in 1..=2 {
        assert!(lab.has_addr(n, &lab::node_ip4(n).to_string()), "n{n}: {:?}", lab.addrs(n));
        assert!(lab.addrs(n).iter().any(|a| a.ifname == "eth0" && a.scope == "link"), "n{n} has a link-local");
    }
    let p4 = lab.probe("192.0.2.2");
    let p6 = lab.probe("2001:db8::1");
    let t0 = Instant::now();
    assert!(p4.wait_owner(lab.mac(2), t0, Duration::from_secs(3)).is_some(), "ARP reply from n2: {:?}", p4.events());
    assert!(p6.wait_owner(lab.mac(1), t0, Duration::from_secs(3)).is_some(), "NA from n1: {:?}", p6.events());

    // The node's bridge port down: no more replies; up again: replies again.
    lab.port_down(2);
    std::thread::sleep(Duration::from_millis(50));
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(p4.timeline().first_from(lab.mac(2), t1), None, "replies with the port down");
    lab.port_up(2);
    let t2 = Instant::now();
    assert!(p4.wait_owner(lab.mac(2), t2, Duration::from_secs(3)).is_some());
    std::thread::sleep(Duration::from_millis(200));
    let tl = p4.finish();
    let after = tl.events.iter().filter(|e| e.t >= t2 && e.kind == Kind::Reply).count();
    assert!(after > 20, "a reply every 5 ms: {after} replies in 200+ ms ({} events)", tl.events.len());
    assert_eq!(lab.exec(CLIENT, &["ip", "link", "show", "eth0"]).status.code(), Some(0));

    let names = [lab.ns(1), lab.ns(lab::SWITCH), lab.ns(CLIENT)];
    drop(p6);
    drop(lab);
    let list = netns_list();
    for n in names {
        assert!(!list.contains(&n), "{n} left behind: {list}");
    }
}

#[test]
fn keepalived_pair_elects_and_hands_over() {
    if !ready("keepalived_pair_elects_and_hands_over") {
        return;
    }
    if lab::find_keepalived().is_none() {
        lab::skip("keepalived_pair_elects_and_hands_over", "keepalived is not installed");
        return;
    }
    let vip = "192.0.2.100";
    let lab = Lab::new("selfka", 2);
    let probe = lab.probe(vip);
    let conf = |n: usize, prio: u8| VrrpConf::new(n, 3, prio, "0.1", &["192.0.2.100/24"]).render();
    let k1 = lab.start(1, Daemon::Keepalived, &conf(1, 150));
    let k2 = lab.start(2, Daemon::Keepalived, &conf(2, 100));
    let t0 = Instant::now();

    assert!(lab.wait_addr(1, vip, true, Duration::from_secs(8)), "n1 never got the VIP\n{}", k1.log());
    assert!(
        probe.wait_owner(lab.mac(1), t0, Duration::from_secs(3)).is_some(),
        "probe never saw n1's MAC ({}) answer",
        fmt_mac(&lab.mac(1))
    );
    assert!(!lab.has_addr(2, vip), "both nodes hold the VIP");
    assert!(k1.wait_log("Entering MASTER STATE", Duration::from_secs(2)), "{}", k1.log());
    assert!(probe.wait_advert(lab.mac(1), t0, Duration::from_secs(2)).is_some(), "no advert from n1 seen");

    let term = Instant::now();
    assert!(k1.kill(libc::SIGTERM));
    assert!(k1.wait(Duration::from_secs(5)).is_some(), "keepalived ignored SIGTERM\n{}", k1.log());
    assert!(
        probe.wait_owner(lab.mac(2), term, Duration::from_secs(3)).is_some(),
        "probe never saw n2 take over\n{}",
        k2.log()
    );
    assert!(lab.wait_addr(2, vip, true, Duration::from_secs(2)), "n2 answers but has no VIP");
    assert!(!lab.has_addr(1, vip), "n1 kept the VIP after SIGTERM");
    let tl = probe.finish();
    let take = tl.takeover(term, lab.mac(2)).unwrap();
    eprintln!("keepalived v3 0.1 s graceful takeover seen by the client: {take:?}; transitions {:?}",
        tl.transitions().iter().map(|(t, m)| (t.as_millis(), fmt_mac(m))).collect::<Vec<_>>());
    assert!(take < Duration::from_secs(2), "takeover {take:?}");

    let names: Vec<String> = (1..=2).map(|n| lab.ns(n)).chain([lab.ns(lab::SWITCH), lab.ns(CLIENT)]).collect();
    let pid2 = k2.pid();
    drop(k1);
    drop(lab); // kills k2 too, while k2's handle is still alive
    assert!(!k2.running(), "k2 still running after the lab was dropped");
    drop(k2);
    assert!(!std::path::Path::new(&format!("/proc/{pid2}")).exists(), "keepalived {pid2} survived");
    let list = netns_list();
    for n in names {
        assert!(!list.contains(&n), "{n} left behind: {list}");
    }
}
