//! The parent as an ordinary process (not PID 1) in a temp dir: both
//! children start, kill -9 and kill -STOP of a child bring a restart within
//! the watchdog's bounds, no fd leaks into children, and SIGTERM leaves no
//! process and no zombie.

mod common;

use common::Daemon;
use std::time::Duration;

const WATCHDOG_MS: u64 = 300;

#[test]
fn children_start_restart_and_stop_cleanly() {
    let mut d = Daemon::start("sup", WATCHDOG_MS, "");
    let st = d.wait_running(Duration::from_secs(10));
    let vrrp = common::child(&st, "vrrp");
    let check = common::child(&st, "check");
    let (vpid, cpid) = (vrrp["pid"].as_u64().unwrap(), check["pid"].as_u64().unwrap());
    assert_ne!(vpid, cpid);
    // Each child is this binary, re-executed with its role.
    for (pid, role) in [(vpid, "vrrp"), (cpid, "check")] {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let args: Vec<String> = cmd.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        assert!(args.windows(2).any(|w| w[0] == "--role" && w[1] == role), "{args:?}");
        assert_eq!(common::ppid(pid), Some(d.pid()), "{role} child is not the parent's child");
        // pid files as keepalived writes them.
        let f = d.dir.join(if role == "vrrp" { "vrrp.pid" } else { "checkers.pid" });
        assert_eq!(std::fs::read_to_string(&f).unwrap().trim(), pid.to_string());
    }
    assert_eq!(std::fs::read_to_string(d.dir.join("vigil.pid")).unwrap().trim(), d.pid().to_string());

    // No fd leaks: the test handed the parent an inheritable fd on a marker
    // file; no child may hold it, and a child holds only a few fds.
    for pid in [vpid, cpid] {
        let fds = common::fd_targets(pid);
        assert!(!fds.iter().any(|t| t.contains("leak-marker")), "fd leaked into child {pid}: {fds:?}");
        assert!(fds.len() <= 12, "child {pid} has {} fds: {fds:?}", fds.len());
    }
    assert!(common::fd_targets(d.pid()).iter().any(|t| t.contains("leak-marker")), "the marker did not reach the parent: test is broken");

    // kill -9: a new child, restarts counted.
    common::signal(vpid, libc::SIGKILL);
    let st = d.wait_for(Duration::from_secs(10), |st| {
        let c = common::child(st, "vrrp");
        c["restarts"] == 1 && c["state"] == "running" && c["pid"].as_u64() != Some(vpid)
    });
    let new_vpid = common::child(&st, "vrrp")["pid"].as_u64().unwrap();
    assert!(common::wait_gone(vpid, Duration::from_secs(5)), "killed child {vpid} left behind (zombie?)");

    // kill -STOP: the watchdog notices within two intervals and restarts.
    let stopped_at = std::time::Instant::now();
    common::signal(cpid, libc::SIGSTOP);
    let st = d.wait_for(Duration::from_secs(10), |st| {
        let c = common::child(st, "check");
        c["restarts"] == 1 && c["state"] == "running" && c["pid"].as_u64() != Some(cpid)
    });
    let took = stopped_at.elapsed();
    // A functional deadline with a generous bound: two intervals, plus slack
    // for a loaded machine.
    assert!(took < Duration::from_millis(2 * WATCHDOG_MS + 2000), "hang detected after {took:?}");
    assert_eq!(common::child(&st, "check")["watchdog_kills"], 1);
    assert!(common::wait_gone(cpid, Duration::from_secs(5)), "hung child {cpid} left behind");
    let new_cpid = common::child(&st, "check")["pid"].as_u64().unwrap();
    // The vrrp child was not disturbed.
    assert_eq!(common::child(&st, "vrrp")["pid"].as_u64(), Some(new_vpid));

    // SIGTERM: everything stops, nothing is left, pid files are removed,
    // and a clean stop is not taken for a crash.
    let code = d.terminate(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    for pid in [new_vpid, new_cpid] {
        assert!(common::wait_gone(pid, Duration::from_secs(2)), "child {pid} survived SIGTERM");
    }
    for f in ["vigil.pid", "vrrp.pid", "checkers.pid", "ctl.sock"] {
        assert!(!d.dir.join(f).exists(), "{f} left behind");
    }
    assert!(!d.log().contains("restart 2"), "clean stop taken for a crash:\n{}", d.log());
}

#[test]
fn wedged_scheduler_loop_is_detected() {
    // Not a stopped process: a child whose loop spins forever.
    let mut d = Daemon::start("wedge", WATCHDOG_MS, "");
    let st = d.wait_running(Duration::from_secs(10));
    let vpid = common::child(&st, "vrrp")["pid"].as_u64().unwrap();
    d.console("fault wedge vrrp");
    d.wait_for(Duration::from_secs(10), |st| {
        let c = common::child(st, "vrrp");
        c["watchdog_kills"] == 1 && c["state"] == "running" && c["pid"].as_u64() != Some(vpid)
    });
    assert!(common::wait_gone(vpid, Duration::from_secs(5)));
    assert_eq!(d.terminate(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_crash_loop_backs_off() {
    // No hello during the test (the first comes after 10 s), and each restarted child is killed
    // through its pid file within milliseconds: one answered hello forgives the back-off
    // (policy::STABLE_ANSWERS), and a 300 ms tick landing between a restart and the next kill
    // made this test see "restart 3 in 0 ms" about one run in two.
    let mut d = Daemon::start("loop", 10_000, "");
    d.wait_running(Duration::from_secs(10));
    let pid_file = d.dir.join("checkers.pid");
    let read_pid = || std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mut last = None;
    for n in 1..=3u64 {
        let end = std::time::Instant::now() + Duration::from_secs(15);
        let pid = loop {
            match read_pid() {
                Some(p) if Some(p) != last => break p,
                _ => {}
            }
            assert!(std::time::Instant::now() < end, "kill {n}: no new checker child\n{}", d.log());
            std::thread::sleep(Duration::from_millis(2));
        };
        last = Some(pid);
        common::signal(pid, libc::SIGKILL);
        d.wait_for(Duration::from_secs(15), |st| common::child(st, "check")["restarts"].as_u64() >= Some(n));
    }
    let log = d.log();
    assert!(log.contains("restart 1 in 0 ms"), "{log}");
    assert!(log.contains("restart 2 in 250 ms"), "{log}");
    assert!(log.contains("restart 3 in 500 ms"), "{log}");
    assert_eq!(d.terminate(Duration::from_secs(10)), Some(0));
}

#[test]
fn vrrp_only_runs_one_child_and_a_second_daemon_is_refused() {
    let mut d = Daemon::start("only", WATCHDOG_MS, "-P");
    let st = d.wait_for(Duration::from_secs(10), |st| common::child(st, "vrrp")["state"] == "running");
    assert_eq!(common::child(&st, "check")["state"], "stopped");
    assert!(common::child(&st, "check")["pid"].is_null());
    // Same pid file: keepalived refuses a second daemon.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["-n", "-G", "-f"])
        .arg(d.dir.join("keepalived.conf"))
        .arg("-p")
        .arg(d.dir.join("vigil.pid"))
        .arg("--control")
        .arg(d.dir.join("ctl2.sock"))
        .arg("-l")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    assert_eq!(d.terminate(Duration::from_secs(10)), Some(0));
}

/// The control socket answers root only, even when its file mode lets
/// anyone connect: a real non-root process (uid 65534, through setpriv) is
/// refused by its peer credentials, and root is still answered.
#[test]
fn the_control_socket_refuses_a_non_root_peer() {
    let setpriv = std::process::Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !setpriv {
        common::skip::skip_or_fail("the_control_socket_refuses_a_non_root_peer: needs root and setpriv");
        return;
    }
    let mut d = Daemon::start("ctlperm", WATCHDOG_MS, "");
    d.wait_running(Duration::from_secs(10));
    let sock = d.dir.join("ctl.sock");
    // What a careless operator might do; the credentials check must still hold.
    std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    // A copy of the binary nobody may run (the build tree need not be readable to them).
    let bin = d.dir.join("vigil-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_vigil"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args(["status", "--json", "--control"])
        .arg(&sock)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("\"children\""), "a non-root peer got the status: {text}");
    assert!(text.contains("root only") && !out.status.success(), "no refusal in words: {text} ({})", out.status);
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log().contains("refused a request from uid 65534") {
        assert!(std::time::Instant::now() < end, "no log line for the refusal\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.status().is_some(), "root is refused too");
    assert_eq!(d.terminate(Duration::from_secs(10)), Some(0));
}
