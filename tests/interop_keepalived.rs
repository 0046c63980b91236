//! Interop with Debian's keepalived 2.2.7 as the other node, in both roles,
//! VRRPv2 and v3, PASS authentication, multicast and unicast. Each case
//! asserts which node holds the VIP before and after a failover, and that
//! keepalived logged the state we expect.

mod lab;

use lab::vigil;

use lab::{Daemon, DaemonHandle, Lab, VrrpConf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

fn ready(test: &str) -> bool {
    if let Err(why) = lab::can_run() {
        lab::skip(test, &why);
        return false;
    }
    if lab::find_keepalived().is_none() {
        lab::skip(test, "keepalived is not installed");
        return false;
    }
    true
}

#[derive(Clone, Copy)]
struct Case {
    version: u8,
    interval: &'static str,
    pass: bool,
    unicast: bool,
}

fn render(_lab: &Lab, n: usize, peer: usize, prio: u8, c: Case) -> String {
    let mut v = VrrpConf::new(n, c.version, prio, c.interval, &["192.0.2.100/24"]);
    let mut extra = String::new();
    if c.pass {
        let t = AUTH.with(|a| a.borrow().clone());
        extra += &format!("authentication {{\nauth_type {t}\nauth_pass s3cret\n}}\n");
    }
    if c.unicast {
        extra += &format!("unicast_src_ip {}\nunicast_peer {{\n{}\n}}\n", lab::node_ip4(n), lab::node_ip4(peer));
    }
    v.extra = extra;
    v.render()
}

fn holds(lab: &Lab, node: usize, other: usize, bound: Duration, logs: &[&DaemonHandle]) {
    let ok = lab.wait_addr(node, VIP, true, bound) && lab.wait_addr(other, VIP, false, bound);
    if !ok {
        for l in logs {
            eprintln!("---- log ----\n{}", l.log());
        }
        panic!("n{node} should hold the VIP alone");
    }
}

/// `master` (priority 150, node 1) and `backup` (priority 100, node 2);
/// the master stops gracefully, the backup takes over, the master returns
/// and preempts.
fn run(tag: &str, master: Daemon, backup: Daemon, c: Case) {
    let lab = Lab::new(tag, 2);
    let probe = lab.probe(VIP);
    let m = lab.start(1, master.clone(), &render(&lab, 1, 2, 150, c));
    let b = lab.start(2, backup.clone(), &render(&lab, 2, 1, 100, c));
    let slow = Duration::from_secs(if c.interval == "1" { 12 } else { 6 });
    holds(&lab, 1, 2, slow, &[&m, &b]);
    assert!(m.wait_log("Entering MASTER STATE", Duration::from_secs(2)), "{}", m.log());
    assert!(b.wait_log("Entering BACKUP STATE", Duration::from_secs(2)), "{}", b.log());
    // The backup must not flap to master while it hears us.
    std::thread::sleep(Duration::from_millis(if c.interval == "1" { 4000 } else { 600 }));
    assert!(!lab.has_addr(2, VIP), "backup took the VIP while the master ran\n{}\n{}", m.log(), b.log());

    let t = Instant::now();
    assert!(m.kill(libc::SIGTERM));
    assert!(m.wait(Duration::from_secs(10)).is_some(), "{} ignored SIGTERM", master.short_name());
    holds(&lab, 2, 1, slow, &[&m, &b]);
    assert!(b.wait_log("Entering MASTER STATE", Duration::from_secs(2)), "{}", b.log());
    assert!(probe.wait_owner(lab.mac(2), t, Duration::from_secs(5)).is_some(), "client never saw n2 answer");

    let m2 = lab.start(1, master, &render(&lab, 1, 2, 150, c));
    holds(&lab, 1, 2, slow, &[&m2, &b]);
    // The peer logged that it went back to backup.
    let backs = b.log().matches("Entering BACKUP STATE").count();
    assert!(backs >= 2, "{} did not log its return to BACKUP:\n{}", backup.short_name(), b.log());
}

#[test]
fn v2_pass_vigil_master_keepalived_backup() {
    if ready("v2_pass_vigil_master_keepalived_backup") {
        run("ika2m", vigil(), Daemon::Keepalived, Case { version: 2, interval: "1", pass: true, unicast: false });
    }
}

#[test]
fn v2_pass_keepalived_master_vigil_backup() {
    if ready("v2_pass_keepalived_master_vigil_backup") {
        run("ika2b", Daemon::Keepalived, vigil(), Case { version: 2, interval: "1", pass: true, unicast: false });
    }
}

#[test]
fn v3_vigil_master_keepalived_backup() {
    if ready("v3_vigil_master_keepalived_backup") {
        run("ika3m", vigil(), Daemon::Keepalived, Case { version: 3, interval: "0.1", pass: false, unicast: false });
    }
}

#[test]
fn v3_keepalived_master_vigil_backup() {
    if ready("v3_keepalived_master_vigil_backup") {
        run("ika3b", Daemon::Keepalived, vigil(), Case { version: 3, interval: "0.1", pass: false, unicast: false });
    }
}

#[test]
fn v3_unicast_both_ways() {
    if ready("v3_unicast_both_ways") {
        let c = Case { version: 3, interval: "0.1", pass: false, unicast: true };
        run("ikaum", vigil(), Daemon::Keepalived, c);
        run("ikaub", Daemon::Keepalived, vigil(), c);
    }
}

#[test]
fn v2_unicast_pass_both_ways() {
    if ready("v2_unicast_pass_both_ways") {
        let c = Case { version: 2, interval: "1", pass: true, unicast: true };
        run("ika2um", vigil(), Daemon::Keepalived, c);
        run("ika2ub", Daemon::Keepalived, vigil(), c);
    }
}

/// IPsec-AH (HMAC-MD5-96) as keepalived sends it, both roles.
#[test]
fn v2_ah_both_ways() {
    if ready("v2_ah_both_ways") {
        let c = Case { version: 2, interval: "1", pass: true, unicast: false };
        run_auth("ikaahm", vigil(), Daemon::Keepalived, c, "AH");
        run_auth("ikaahb", Daemon::Keepalived, vigil(), c, "AH");
    }
}

fn run_auth(tag: &str, master: Daemon, backup: Daemon, c: Case, auth: &str) {
    AUTH.with(|a| *a.borrow_mut() = auth.to_string());
    run(tag, master, backup, c);
    AUTH.with(|a| *a.borrow_mut() = "PASS".to_string());
}

thread_local! {
    static AUTH: std::cell::RefCell<String> = std::cell::RefCell::new("PASS".to_string());
}
