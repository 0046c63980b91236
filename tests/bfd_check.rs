//! BFD_CHECK: a real server whose checker is a BFD session's state, as
//! keepalived's check_bfd.c runs it. Two nodes: node 1 runs vigil with a
//! bfd_instance and a virtual server whose two real servers (on node 2)
//! each have a BFD_CHECK of it, one plain and one with `alpha`; node 2
//! runs vigil with the other end of the session.
//!
//! - The session comes Up: the alpha real server, which started down, comes
//!   up; the plain one, which started up, does not change.
//! - Node 2 stops cleanly: its AdminDown takes our session Down, but, as
//!   RFC 5880 6.8.16 and keepalived have it, that is no failure: both real
//!   servers stay up. It starts again and the session is Up again.
//! - Node 2 is killed: both real servers go down after the Detection Time.
//! - The checker child is killed while the session is Down: the parent
//!   restarts it and tells it where the session stands, so the plain real
//!   server (which a new checker starts up) is down again at once.
//! - Node 2 comes back: both come up.
//!
//! The states are read from `vigil status --json` and the log, whose
//! "BFD check of [B1] RS(...) is UP/DOWN" lines are keepalived's.

mod lab;

use lab::{DaemonHandle, Lab};
use std::process::Command;
use std::time::{Duration, Instant};

const DIRECTOR: usize = 1;
const PEER: usize = 2;

fn bin() -> String {
    env!("CARGO_BIN_EXE_vigil").to_string()
}

/// vigil in `node` with every file in its own directory; `-b` names the
/// BFD child's pid file.
fn start(lab: &Lab, node: usize, name: &str, conf: &str) -> (DaemonHandle, std::path::PathBuf) {
    let dir = lab.node_dir(node).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keepalived.conf"), conf).unwrap();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let mut argv = vec![bin(), "-n".into(), "-l".into(), "-D".into(), "-f".into(), p("keepalived.conf")];
    for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid")] {
        argv.push(flag.into());
        argv.push(p(file));
    }
    argv.extend(["--control".into(), p("control.sock"), "--watchdog-interval=200".into()]);
    (lab.spawn(node, argv), dir)
}

/// Real server `port`'s `up` in `vigil status --json`, if it is there.
fn rs_up(control: &std::path::Path, port: u16) -> Option<bool> {
    let out = lab::run_bounded(Command::new(bin()).args(["status", "--json", "--control"]).arg(control), lab::EXEC_TIMEOUT).ok()?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let suffix = format!(":{port}");
    j["virtual_servers"].as_array()?.iter().flat_map(|v| v["real_servers"].as_array().into_iter().flatten()).find_map(|r| {
        r["name"].as_str().filter(|n| n.ends_with(&suffix))?;
        r["up"].as_bool()
    })
}

#[test]
fn bfd_check_follows_the_session_and_survives_a_checker_restart() {
    if !lab::ready("bfd_check") {
        return;
    }
    let lab = Lab::new("bfdchk", 2);
    let (dir_ip, peer_ip) = (lab::node_ip4(DIRECTOR), lab::node_ip4(PEER));
    let director = format!(
        "bfd_instance B1 {{\n  neighbor_ip {peer_ip}\n  source_ip {dir_ip}\n  min_rx 100\n  min_tx 100\n  multiplier 3\n}}\n\
         virtual_server 10.99.0.1 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
           real_server {peer_ip} 8080 {{\n    BFD_CHECK {{\n      name B1\n    }}\n  }}\n\
           real_server {peer_ip} 8081 {{\n    BFD_CHECK {{\n      name B1\n      alpha\n    }}\n  }}\n}}\n"
    );
    let peer_conf = format!(
        "bfd_instance B2 {{\n  neighbor_ip {dir_ip}\n  source_ip {peer_ip}\n  min_rx 100\n  min_tx 100\n  multiplier 3\n}}\n"
    );
    let (d, ddir) = start(&lab, DIRECTOR, "director", &director);
    let control = ddir.join("control.sock");
    // Before the peer: the plain real server starts up, the alpha one down.
    assert!(
        lab::wait_until(Duration::from_secs(10), Duration::from_millis(100), || rs_up(&control, 8080) == Some(true) && rs_up(&control, 8081) == Some(false)),
        "at start: 8080 {:?}, 8081 {:?}\n{}",
        rs_up(&control, 8080),
        rs_up(&control, 8081),
        d.log()
    );
    // The peer: the session comes Up, the alpha real server with it.
    let (peer, _) = start(&lab, PEER, "peer", &peer_conf);
    assert!(d.wait_log("(B1) Entering Up state", Duration::from_secs(15)), "no session\n{}\n{}", d.log(), peer.log());
    assert!(d.wait_log(&format!("BFD check of [B1] RS({peer_ip}:8081) is UP"), Duration::from_secs(5)), "{}", d.log());
    assert!(lab::wait_until(Duration::from_secs(5), Duration::from_millis(100), || rs_up(&control, 8081) == Some(true)), "8081 not up\n{}", d.log());
    assert_eq!(rs_up(&control, 8080), Some(true));
    assert!(!d.log().contains(&format!("RS({peer_ip}:8080) is UP")), "the plain checker was up already: no change is due\n{}", d.log());

    // A clean stop: AdminDown, which is no failure.
    peer.stop(Duration::from_secs(10));
    assert!(
        d.wait_log("(B1) Entering Down state (Local diagnostic - Neighbor Signaled Session Down", Duration::from_secs(5)),
        "the peer's AdminDown was not seen\n{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!((rs_up(&control, 8080), rs_up(&control, 8081)), (Some(true), Some(true)), "a neighbour's AdminDown took a real server down\n{}", d.log());
    assert!(!d.log().contains("is DOWN"), "{}", d.log());
    let (peer, _) = start(&lab, PEER, "peer1", &peer_conf);
    assert!(d.wait_log_count("(B1) Entering Up state", 2, Duration::from_secs(15)), "not Up again\n{}\n{}", d.log(), peer.log());

    // The peer dies: both down after the Detection Time.
    assert!(peer.kill_group(libc::SIGKILL));
    let t0 = Instant::now();
    assert!(d.wait_log(&format!("BFD check of [B1] RS({peer_ip}:8080) is DOWN"), Duration::from_secs(10)), "{}", d.log());
    eprintln!("real server down {} ms after the peer was killed (Detection Time 300 ms)", t0.elapsed().as_millis());
    assert!(d.wait_log(&format!("BFD check of [B1] RS({peer_ip}:8081) is DOWN"), Duration::from_secs(5)), "{}", d.log());
    assert!(
        lab::wait_until(Duration::from_secs(5), Duration::from_millis(100), || rs_up(&control, 8080) == Some(false) && rs_up(&control, 8081) == Some(false)),
        "not both down\n{}",
        d.log()
    );

    // A new checker child hears the session is Down: the plain real server,
    // which a fresh checker starts up, is down again.
    let pid: i32 = std::fs::read_to_string(ddir.join("check.pid")).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) on a pid we read from our own daemon's pid file.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let restarted = lab::wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        std::fs::read_to_string(ddir.join("check.pid")).ok().and_then(|s| s.trim().parse::<i32>().ok()).is_some_and(|p| p != pid)
    });
    assert!(restarted, "the checker child was not restarted\n{}", d.log());
    assert!(
        d.wait_log_count(&format!("BFD check of [B1] RS({peer_ip}:8080) is DOWN"), 2, Duration::from_secs(10)),
        "the restarted checker did not hear that B1 is Down\n{}",
        d.log()
    );
    assert!(lab::wait_until(Duration::from_secs(5), Duration::from_millis(100), || rs_up(&control, 8080) == Some(false)), "8080 up after the restart\n{}", d.log());

    // The peer again: both up.
    peer.wait(Duration::from_secs(5));
    let (peer, _) = start(&lab, PEER, "peer2", &peer_conf);
    assert!(
        lab::wait_until(Duration::from_secs(15), Duration::from_millis(100), || rs_up(&control, 8080) == Some(true) && rs_up(&control, 8081) == Some(true)),
        "not both up again: 8080 {:?}, 8081 {:?}\n{}\n{}",
        rs_up(&control, 8080),
        rs_up(&control, 8081),
        d.log(),
        peer.log()
    );
    assert!(!d.log().contains("panicked"), "{}", d.log());
    peer.stop(Duration::from_secs(10));
    d.stop(Duration::from_secs(10));
}
