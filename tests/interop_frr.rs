//! Interop with FRR 8.4's vrrpd (Debian's `frr`) as the other node, VRRPv3,
//! VRID 51, 100 ms adverts, in both roles. Each test asserts which node
//! holds the VIP before and after the handover, what the other daemon
//! reported, and checks the captured adverts of both (version, VRID,
//! interval, address, checksum with the IPv4 pseudo-header).
//!
//! `VIGIL_FRR_WRITE_FIXTURES=1` copies a few adverts of each run to
//! tests/frr/*.pcap; `frr_fixtures_decode` checks those without root.

mod frr;
mod lab;

use lab::vigil;

use frr::{Advert, Capture, Frr, VMAC, VRID};
use lab::{CLIENT, DaemonHandle, Lab, VrrpConf, fmt_mac};
use std::process::Command;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";
const VIP_OCTETS: [u8; 4] = [192, 0, 2, 100];

fn ready(test: &str) -> bool {
    let why = frr::can_run().and_then(|_| frr::which("tcpdump").map(|_| ()).ok_or("tcpdump is not installed".into()));
    if let Err(why) = why {
        lab::skip(test, &why);
        return false;
    }
    true
}

fn vigil_conf(node: usize, prio: u8) -> String {
    VrrpConf::new(node, 3, prio, "0.1", &["192.0.2.100/24"]).render()
}

/// vigil's own view: `vigil status --json --control SOCK` → VI_1's state.
fn vigil_state(v: &DaemonHandle) -> String {
    let out = lab::run_bounded(
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(v.control_socket()),
        lab::EXEC_TIMEOUT,
    );
    let Ok(out) = out else { return "?".into() };
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    j["vrrp"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "VI_1"))
        .and_then(|i| i["state"].as_str())
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| format!("? {}", String::from_utf8_lossy(&out.stdout).trim()))
}

fn adverts(recs: &[frr::Record]) -> Vec<Advert> {
    recs.iter().filter_map(|r| frr::decode(&r.data)).collect()
}

/// Every v3 advert of VRID 51 in the capture is well formed: one address
/// (the VIP), 10 cs, TTL 255, a checksum that verifies with the pseudo-header.
fn check_adverts(all: &[Advert]) {
    assert!(!all.is_empty(), "no adverts captured");
    for a in all {
        assert_eq!((a.version, a.kind, a.vrid), (3, 1, VRID), "{a:?}");
        assert_eq!(a.addrs, vec![VIP_OCTETS], "{a:?}");
        assert_eq!(a.interval_cs, 10, "{a:?}");
        assert_eq!(a.ttl, 255, "{a:?}");
        assert!(a.checksum_ok, "bad v3 checksum (pseudo-header included): {a:?}");
    }
}

fn summary(all: &[Advert]) -> String {
    let mut seen: Vec<(String, u8, usize)> = Vec::new();
    for a in all {
        let m = fmt_mac(&a.src_mac);
        match seen.iter_mut().find(|s| s.0 == m && s.1 == a.priority) {
            Some(s) => s.2 += 1,
            None => seen.push((m, a.priority, 1)),
        }
    }
    seen.iter().map(|(m, p, n)| format!("{n} from {m} prio {p}")).collect::<Vec<_>>().join(", ")
}

fn keep_fixture(name: &str, recs: Vec<frr::Record>) {
    if std::env::var("VIGIL_FRR_WRITE_FIXTURES").as_deref() == Ok("1") {
        let p = frr::fixtures_dir().join(name);
        frr::write_pcap(&p, &recs).unwrap();
        eprintln!("wrote {} ({} adverts)", p.display(), recs.len());
    }
}

/// FRR on n1 (priority 150) is master, vigil on n2 (priority 100) stays
/// backup; FRR's `vrrp 51 shutdown` hands the VIP to vigil.
#[test]
fn frr_master_vigil_backup() {
    if !ready("frr_master_vigil_backup") {
        return;
    }
    let lab = Lab::new("frrmaster", 2);
    let cap = Capture::start(&lab, CLIENT, "vrrp.pcap").unwrap();
    let probe = lab.probe(VIP);
    let f = Frr::start(&lab, 1, 150, VIP).unwrap();
    assert!(f.wait_state("Master", Duration::from_secs(8)), "FRR never became master: {}\n{}", f.state(), f.log());
    let v = lab.start(2, vigil(), &vigil_conf(2, 100));
    assert!(v.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(5)), "vigil: {}", v.log());

    // Ten adverts' worth: vigil hears FRR and stays backup.
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    assert_eq!(f.state(), "Master", "{}", f.log());
    assert!(f.holds(VIP), "FRR's macvlan should be up, not protodown, with the VIP: {:?}", f.macvlan());
    assert!(!lab.has_addr(2, VIP), "vigil took the VIP from a higher-priority FRR master\n{}", v.log());
    assert!(!v.log().contains("Entering MASTER STATE"), "vigil went master while FRR advertised\n{}", v.log());
    assert_eq!(vigil_state(&v), "BACKUP");
    assert!(
        probe.wait_owner(VMAC, t0, Duration::from_secs(3)).is_some(),
        "the client never saw FRR's virtual MAC answer for the VIP"
    );

    // Graceful: FRR sends priority 0 and leaves master.
    let t = Instant::now();
    f.shutdown_vrid().unwrap();
    assert!(
        lab.wait_addr(2, VIP, true, Duration::from_secs(3)),
        "vigil did not take the VIP after FRR's shutdown\n{}",
        v.log()
    );
    assert!(v.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(2)), "{}", v.log());
    assert_eq!(vigil_state(&v), "MASTER");
    assert!(
        probe.wait_owner(lab.mac(2), t, Duration::from_secs(3)).is_some(),
        "the client never saw n2's MAC ({}) answer for the VIP",
        fmt_mac(&lab.mac(2))
    );
    assert!(lab::wait_until(Duration::from_secs(2), Duration::from_millis(20), || !f.holds(VIP)), "FRR still answers: {:?}", f.macvlan());
    let st = f.state();
    assert_ne!(st, "Master", "FRR still reports Master after shutdown");
    assert!(f.wait_log("Master -> Initialize", Duration::from_secs(2)), "FRR's log:\n{}", f.log());
    let tl = probe.finish();
    eprintln!(
        "FRR shutdown -> vigil answers for the VIP after {:?}; FRR now {st}; FRR transitions:\n  {}",
        tl.takeover(t, lab.mac(2)),
        f.transitions().join("\n  ")
    );
    assert!(!lab.has_addr(1, VIP) || !f.holds(VIP));

    let recs = cap.stop();
    let all = adverts(&recs);
    eprintln!("captured adverts: {}", summary(&all));
    check_adverts(&all);
    let from_frr = |p: u8| move |a: &Advert| a.src_mac == VMAC && a.priority == p;
    let mac2 = lab.mac(2);
    let from_vigil = move |a: &Advert| a.src_mac == mac2 && a.priority == 100;
    assert!(all.iter().any(from_frr(150)), "no FRR advert at 150");
    assert!(all.iter().any(from_frr(0)), "FRR's shutdown sent no priority-0 advert");
    assert!(all.iter().any(from_vigil), "no vigil advert after the takeover");
    keep_fixture("frr-master-to-vigil.pcap", frr::pick(&recs, &[&from_frr(150), &from_frr(0), &from_vigil]));
    let c = f.complaints();
    eprintln!("FRR complaints: {c:#?}");
}

/// vigil on n1 (priority 150) is master, FRR on n2 (priority 100) stays
/// backup; SIGTERM to vigil (priority 0) makes FRR master.
#[test]
fn vigil_master_frr_backup() {
    if !ready("vigil_master_frr_backup") {
        return;
    }
    let lab = Lab::new("frrbackup", 2);
    let cap = Capture::start(&lab, CLIENT, "vrrp.pcap").unwrap();
    let probe = lab.probe(VIP);
    let v = lab.start(1, vigil(), &vigil_conf(1, 150));
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(5)), "vigil never took the VIP\n{}", v.log());
    assert!(v.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(2)), "{}", v.log());
    let f = Frr::start(&lab, 2, 100, VIP).unwrap();
    assert!(
        f.wait_state("Backup", Duration::from_secs(8)),
        "FRR never became backup: {}\ncomplaints: {:#?}",
        f.state(),
        f.complaints()
    );

    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    let show = f.show().unwrap();
    assert_eq!(show["v4"]["status"], "Backup", "FRR left backup while vigil advertised: {show}\n{:#?}", f.complaints());
    let rx = show["v4"]["stats"]["adverRx"].as_u64().unwrap_or(0);
    assert!(rx >= 5, "FRR counted {rx} adverts from vigil in a second: {show}");
    assert!(f.log().contains("Backup"), "{}", f.log());
    let (up, protodown) = f.macvlan();
    assert!(protodown, "FRR's backup macvlan is not protodown (up {up})");
    assert!(!f.holds(VIP));
    assert!(lab.has_addr(1, VIP), "vigil lost the VIP\n{}", v.log());
    assert_eq!(vigil_state(&v), "MASTER");
    assert!(probe.wait_owner(lab.mac(1), t0, Duration::from_secs(3)).is_some(), "the client never saw n1 answer");

    let t = Instant::now();
    assert!(v.kill(libc::SIGTERM));
    assert!(v.wait(Duration::from_secs(5)).is_some(), "vigil ignored SIGTERM\n{}", v.log());
    assert!(
        f.wait_state("Master", Duration::from_secs(3)),
        "FRR did not take over: {}\n{:#?}",
        f.state(),
        f.complaints()
    );
    assert!(
        lab::wait_until(Duration::from_secs(2), Duration::from_millis(20), || f.holds(VIP)),
        "FRR master but its macvlan is {:?} (up, protodown)",
        f.macvlan()
    );
    assert!(!lab.has_addr(1, VIP), "vigil kept the VIP after SIGTERM");
    assert!(
        probe.wait_owner(VMAC, t, Duration::from_secs(3)).is_some(),
        "the client never saw FRR's virtual MAC answer"
    );
    assert!(f.wait_log("Backup -> Master", Duration::from_secs(2)), "FRR's log:\n{}", f.log());
    let tl = probe.finish();
    eprintln!(
        "vigil SIGTERM -> FRR's virtual MAC answers after {:?}; FRR transitions:\n  {}",
        tl.takeover(t, VMAC),
        f.transitions().join("\n  ")
    );

    let recs = cap.stop();
    let all = adverts(&recs);
    eprintln!("captured adverts: {}", summary(&all));
    check_adverts(&all);
    let mac1 = lab.mac(1);
    let from_vigil = |p: u8| move |a: &Advert| a.src_mac == mac1 && a.priority == p;
    let from_frr = |a: &Advert| a.src_mac == VMAC && a.priority == 100;
    assert!(all.iter().any(from_vigil(150)), "no vigil advert at 150");
    assert!(all.iter().any(from_vigil(0)), "vigil's SIGTERM sent no priority-0 advert");
    assert!(all.iter().any(from_frr), "no FRR advert after its takeover");
    keep_fixture("vigil-master-to-frr.pcap", frr::pick(&recs, &[&from_vigil(150), &from_vigil(0), &from_frr]));
    // FRR's packet debug: it parsed vigil's adverts, the priority-0 one too.
    let rx = |p: u8| format!("Received VRRP Advertisement from 192.0.2.1: version 3, type 1 (ADVERTISEMENT), vrid 51, priority {p}, #1 addresses, max adver int 10");
    let log = f.log();
    for p in [150, 0] {
        let line = log.lines().find(|l| l.contains(&rx(p)));
        assert!(line.is_some(), "FRR never logged `{}`\n{log}", rx(p));
        eprintln!("FRR: {}", line.unwrap());
    }
    let c = f.complaints();
    eprintln!("FRR complaints: {c:#?}");
    assert!(c.is_empty(), "FRR complained about vigil's adverts: {c:#?}");
}

/// The committed captures (one from each test) decode as well-formed v3
/// adverts from both implementations; no root needed.
#[test]
fn frr_fixtures_decode() {
    for (name, first, second) in
        [("frr-master-to-vigil.pcap", VMAC, lab::node_mac(2)), ("vigil-master-to-frr.pcap", lab::node_mac(1), VMAC)]
    {
        let p = frr::fixtures_dir().join(name);
        let recs = frr::read_pcap(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(std::fs::metadata(&p).unwrap().len() < 4096, "{name} should stay small");
        let all = adverts(&recs);
        assert_eq!(all.len(), 3, "{name}: {all:?}");
        check_adverts(&all);
        let got: Vec<([u8; 6], u8)> = all.iter().map(|a| (a.src_mac, a.priority)).collect();
        assert_eq!(got, vec![(first, 150), (first, 0), (second, 100)], "{name}");
    }
}
