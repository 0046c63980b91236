//! The smallest form of benches/bfd_takeover.py: the pattern keepalived's
//! man page leaves for BFD under VRRP (an unweighted track_bfd between the
//! pair itself would need both up): each node of the pair runs a session to
//! the upstream gateway (node 3, on a second link) and tracks it without
//! weight, so a master that loses its gateway goes FAULT and hands over at
//! once (priority 0), where plain VRRP would see nothing wrong at all (the
//! pair's own link is untouched). The BFD peer on the gateway is vigil too.
//!
//! Asserted: the backup becomes master after the master's uplink is cut, and
//! the master went FAULT first; bounded generously (no figure: the timings
//! are the benchmark's).

mod lab;

use lab::Lab;
use std::time::Duration;

fn daemon_bin() -> String {
    std::env::var("VIGIL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vigil").to_string())
}

#[test]
fn backup_takes_over_when_the_masters_bfd_to_its_gateway_fails() {
    if !lab::ready("bfd_takeover") {
        return;
    }
    let lab = Lab::new("bfdto", 3);
    lab.add_link(1).unwrap_or_else(|e| panic!("{e}"));
    let bfd = |name: &str, me: usize, peer: usize| {
        format!("bfd_instance {name} {{\n  neighbor_ip 10.1.0.{peer}\n  source_ip 10.1.0.{me}\n  min_rx 100\n  min_tx 100\n  multiplier 3\n}}\n")
    };
    let start = |node: usize, text: String| {
        let dir = lab.node_dir(node).join("d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keepalived.conf"), text).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let mut argv = vec![daemon_bin(), "-n".into(), "-l".into(), "-D".into(), "-f".into(), p("keepalived.conf")];
        for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid"), ("--control", "control.sock")] {
            argv.push(flag.into());
            argv.push(p(file));
        }
        lab.spawn(node, argv)
    };
    let pair = |node: usize, prio: u8| {
        let mut v = lab::VrrpConf::new(node, 2, prio, "1", &["192.0.2.100/24"]);
        v.extra = "track_bfd {\n GW\n}".into();
        format!("{}{}", bfd("GW", node, 3), v.render())
    };
    let gw = start(3, format!("{}{}", bfd("N1", 3, 1), bfd("N2", 3, 2)));
    let master = start(1, pair(1, 200));
    let backup = start(2, pair(2, 100));
    const MASTER: &str = "(VI_1) Entering MASTER STATE";
    assert!(master.wait_log(MASTER, Duration::from_secs(20)), "node 1 never master\n{}\n----- gateway -----\n{}", master.log(), gw.log());
    assert!(backup.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(10)), "node 2 never backup\n{}", backup.log());
    // Settled: the backup hears the master and stays backup.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!backup.log().contains(MASTER), "node 2 master before the cut\n{}", backup.log());

    // The master's uplink: down at the switch (its own link to the pair is untouched).
    let out = lab.exec(lab::SWITCH, &["ip", "link", "set", "p1-n1", "down"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(master.wait_log("(GW) Entering Down state", Duration::from_secs(10)), "node 1's BFD never went down\n{}", master.log());
    assert!(master.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(5)), "node 1 not in FAULT\n{}", master.log());
    assert!(backup.wait_log(MASTER, Duration::from_secs(10)), "node 2 never took over\n{}\n----- node 1 -----\n{}", backup.log(), master.log());
    assert!(lab.wait_addr(2, "192.0.2.100", true, Duration::from_secs(5)), "node 2 has no VIP");
    for d in [&backup, &master, &gw] {
        d.stop(Duration::from_secs(10));
    }
}
