//! The checker child's hooks on the host (no IPVS here: it computes and
//! runs the hooks): notify_up / notify_down when a real server's listener
//! goes and comes back, quorum_down / quorum_up with it, a
//! virtual_server_group checked once per real server, and a reload that
//! keeps the state of the real servers it does not change.
//!
//! Every script appends its argument to `events` in the test's directory;
//! the real servers are TCP listeners the test opens on 127.0.0.1.

mod common;

use common::Daemon;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(15);

fn note_script(dir: &Path) -> PathBuf {
    let p = dir.join("note.sh");
    std::fs::write(&p, format!("#!/bin/sh\necho \"$1\" >> {}\n", dir.join("events").display())).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// A directory for the scripts, made before the daemon starts (the
/// daemon's own directory is only created by `Daemon::start_with`).
fn script_dir(tag: &str) -> PathBuf {
    // Not under /tmp: enable_script_security refuses scripts below a
    // world-writable directory.
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vigil-lvs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn events(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("events")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn count(dir: &Path, what: &str) -> usize {
    events(dir).iter().filter(|l| *l == what).count()
}

fn wait_count(d: &Daemon, dir: &Path, what: &str, n: usize) {
    let until = Instant::now() + BOUND;
    while Instant::now() < until {
        if count(dir, what) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what:?} not seen {n} time(s) within {BOUND:?}; events {:?}\nlog:\n{}", events(dir), d.log());
}

fn wait_log(d: &Daemon, pat: &str) {
    let until = Instant::now() + BOUND;
    while Instant::now() < until {
        if d.log().contains(pat) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {pat:?} within {BOUND:?}\n{}", d.log());
}

fn real_server(port: u16, note: &Path, tag: &str) -> String {
    format!(
        "    real_server 127.0.0.1 {port} {{\n        weight 1\n        notify_up \"{n} up_{tag}\"\n        notify_down \"{n} down_{tag}\"\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n",
        n = note.display()
    )
}

/// Scripts run as root, checked as keepalived checks them; without it
/// keepalived (and we) refuse a reload that runs scripts.
const GLOBAL: &str = "global_defs {\n    enable_script_security\n    script_user root\n}\n";

/// A port nobody listens on (bound then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn lvs_notify_and_quorum_scripts_follow_the_real_servers() {
    let dir = script_dir("notify");
    let note = note_script(&dir);
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
    let conf = format!(
        "virtual_server 127.0.0.1 8080 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    quorum 2\n    quorum_up \"{n} quorum_up\"\n    quorum_down \"{n} quorum_down\"\n{}{}}}\n",
        real_server(pa, &note, "a"),
        real_server(pb, &note, "b"),
        n = note.display()
    );
    let mut d = Daemon::start_with("lvs-notify", 1000, "-C", &conf);
    // Both up at start: quorum met, quorum_up runs once; no notify_up
    // (keepalived adds real servers as up silently).
    wait_count(&d, &dir, "quorum_up", 1);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&dir, "up_a") + count(&dir, "up_b"), 0, "{:?}", events(&dir));
    assert_eq!(count(&dir, "quorum_up"), 1);
    // A's listener goes: notify_down for A, quorum lost.
    drop(a);
    wait_count(&d, &dir, "down_a", 1);
    wait_count(&d, &dir, "quorum_down", 1);
    assert_eq!(count(&dir, "down_b"), 0);
    // Back: notify_up for A, quorum regained.
    let _a = TcpListener::bind(("127.0.0.1", pa)).unwrap();
    wait_count(&d, &dir, "up_a", 1);
    wait_count(&d, &dir, "quorum_up", 2);
    // Each transition ran its scripts once.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!((count(&dir, "down_a"), count(&dir, "up_a"), count(&dir, "quorum_down")), (1, 1, 1), "{:?}", events(&dir));
    d.terminate(BOUND);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lvs_omega_runs_the_down_notifiers_at_shutdown() {
    let dir = script_dir("omega");
    let note = note_script(&dir);
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let pa = a.local_addr().unwrap().port();
    let conf = format!(
        "virtual_server 127.0.0.1 8081 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    omega\n    quorum_up \"{n} quorum_up\"\n    quorum_down \"{n} quorum_down\"\n{}}}\n",
        real_server(pa, &note, "a"),
        n = note.display()
    );
    let mut d = Daemon::start_with("lvs-omega", 1000, "-C", &conf);
    wait_count(&d, &dir, "quorum_up", 1);
    assert_eq!(count(&dir, "down_a"), 0);
    d.terminate(BOUND);
    // The stop waited for them (bounded): they have run by now.
    assert_eq!((count(&dir, "down_a"), count(&dir, "quorum_down")), (1, 1), "{:?}", events(&dir));
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lvs_group_checks_each_real_server_once() {
    let dir = script_dir("group");
    let note = note_script(&dir);
    let conf = format!(
        "virtual_server_group G {{\n    127.0.0.1-3 8082\n    127.0.0.9 8083\n    fwmark 7\n}}\nvirtual_server group G {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}}}\n",
        real_server(closed_port(), &note, "a"),
    );
    let d = Daemon::start_with("lvs-group", 1000, "-C", &conf);
    wait_log(&d, "1 real server(s) under check");
    wait_count(&d, &dir, "down_a", 1);
    // Five services, one real server, one checker: one notify, ever.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(count(&dir, "down_a"), 1, "{:?}\n{}", events(&dir), d.log());
    assert_eq!(d.log().matches("real server 0 down").count(), 1, "{}", d.log());
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lvs_reload_keeps_the_state_of_unchanged_real_servers() {
    let dir = script_dir("reload");
    let note = note_script(&dir);
    let pa = closed_port();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pb, pc) = (b.local_addr().unwrap().port(), c.local_addr().unwrap().port());
    // alpha: every real server starts down and its first result is notified
    // (down for A, which has no listener; up for B).
    let conf = |extra: &str| {
        format!(
            "{GLOBAL}virtual_server 127.0.0.1 8084 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    alpha\n{extra}{}{}}}\n",
            real_server(pa, &note, "a"),
            real_server(pb, &note, "b"),
        )
    };
    let d = Daemon::start_with("lvs-reload", 1000, "-C", &conf(""));
    wait_count(&d, &dir, "down_a", 1);
    wait_count(&d, &dir, "up_b", 1);
    // Reload with a new real server C in front: A and B move in the file.
    std::fs::write(d.dir.join("keepalived.conf"), conf(&real_server(pc, &note, "c"))).unwrap();
    d.signal(libc::SIGHUP);
    wait_log(&d, "3 real server(s) under check, 2 carried over");
    wait_count(&d, &dir, "up_c", 1);
    // Several check rounds later A is still down and B still up, without
    // a second notification: their state carried over. (Rebuilt from
    // scratch, A's first failure and B's first success would notify again.)
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!((count(&dir, "down_a"), count(&dir, "up_b"), count(&dir, "up_c")), (1, 1, 1), "{:?}\n{}", events(&dir), d.log());
    assert_eq!(count(&dir, "up_a") + count(&dir, "down_b"), 0, "{:?}", events(&dir));
    drop(d);
    drop((b, c));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every LVS script kind by the machine's real /bin (on Debian 12 a symlink
/// to usr/bin) under enable_script_security, as keepalived 2.2.7 runs them:
/// MISC_CHECK decides the real server's state, notify_up / notify_down and
/// quorum_up / quorum_down record it. Before the command was resolved as
/// keepalived resolves it, each was disabled ("wrong file type '/bin'").
#[test]
fn lvs_scripts_through_the_real_bin_run_under_script_security() {
    let dir = script_dir("binsh");
    let ev = dir.join("events");
    let flag = dir.join("healthy");
    std::fs::write(&flag, "").unwrap();
    let sh = |what: &str| format!("\"/bin/sh -c 'echo {what} >> {}'\"", ev.display());
    let conf = format!(
        "{GLOBAL}virtual_server 127.0.0.1 8085 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    quorum_up {}\n    quorum_down {}\n    real_server 127.0.0.1 9 {{\n        weight 1\n        notify_up {}\n        notify_down {}\n        MISC_CHECK {{\n            misc_path \"/bin/sh -c 'test -f {}'\"\n            misc_timeout 5\n            retry 0\n        }}\n    }}\n}}\n",
        sh("quorum_up"),
        sh("quorum_down"),
        sh("up"),
        sh("down"),
        flag.display()
    );
    let mut d = Daemon::start_with("lvs-binsh", 1000, "-C", &conf);
    wait_count(&d, &dir, "quorum_up", 1);
    std::fs::remove_file(&flag).unwrap();
    wait_count(&d, &dir, "down", 1);
    wait_count(&d, &dir, "quorum_down", 1);
    std::fs::write(&flag, "").unwrap();
    wait_count(&d, &dir, "up", 1);
    wait_count(&d, &dir, "quorum_up", 2);
    let log = d.log();
    assert!(!log.contains("wrong file type") && !log.contains("disabling"), "{log}");
    d.terminate(BOUND);
    let _ = std::fs::remove_dir_all(&dir);
}
