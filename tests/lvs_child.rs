//! The checker child's process-level duties on the host: its open files
//! limit raised at start, and ha_suspend following the virtual address in
//! its network namespace.

mod common;

use common::Daemon;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(15);

/// A virtual server with one TCP_CHECK real server at 127.0.0.1:`port`.
fn vs_conf(vip: &str, port: u16, extra: &str) -> String {
    format!(
        "virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{extra}    real_server 127.0.0.1 {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n}}\n"
    )
}

fn checker_pid(d: &Daemon) -> u64 {
    let until = Instant::now() + BOUND;
    loop {
        if let Some(p) = std::fs::read_to_string(d.dir.join("checkers.pid")).ok().and_then(|s| s.trim().parse().ok()) {
            return p;
        }
        assert!(Instant::now() < until, "no checker pid file\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (soft, hard) "Max open files" of `pid`.
fn nofile(pid: u64) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

#[test]
fn the_checker_child_raises_its_open_files_limit_to_the_hard_one() {
    // The daemon inherits a soft limit below the hard one.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a live rlimit the kernel fills in.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_max <= 256 {
        eprintln!("skipped: hard open files limit {} too low to lower", lim.rlim_max);
        return;
    }
    let lowered = libc::rlimit { rlim_cur: 256, rlim_max: lim.rlim_max };
    // SAFETY: &lowered points at a live rlimit the kernel only reads.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let d = Daemon::start_with("lvs-nofile", 1000, "-C", &vs_conf("192.0.2.10", port, ""));
    // SAFETY: &lim points at a live rlimit the kernel only reads.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    d.wait_for(BOUND, |st| common::child(st, "check")["state"] == "running");
    let pid = checker_pid(&d);
    let (soft, hard) = nofile(pid);
    assert_eq!(soft, hard, "checker child {pid}\n{}", d.log());
    // The parent keeps what it was given: only the checker needs more.
    assert_eq!(nofile(d.pid()).0, "256");
}

fn ip(args: &str) {
    let out = std::process::Command::new("ip").args(args.split_whitespace()).output().expect("ip");
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

fn wait_log(d: &Daemon, pat: &str, n: usize) {
    let until = Instant::now() + BOUND;
    while d.log().matches(pat).count() < n {
        assert!(Instant::now() < until, "{pat:?} not logged {n} time(s) within {BOUND:?}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Connections the checker made to `l` since the last call.
fn accepted(l: &std::net::TcpListener) -> usize {
    std::iter::from_fn(|| l.accept().ok()).count()
}

fn wait_accepts(d: &Daemon, l: &std::net::TcpListener) {
    let until = Instant::now() + BOUND;
    while accepted(l) == 0 {
        assert!(Instant::now() < until, "the checker never connected within {BOUND:?}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ha_suspend: the checks of a virtual server whose address is not local
/// do not run; they start when the address is added to an interface, stop
/// when it is removed and start again when it is back. The test runs in a
/// network namespace of its own (this thread, the daemon it starts and the
/// `ip` commands share it), so the host's addresses are untouched.
#[test]
fn ha_suspend_checks_only_while_the_virtual_address_is_local() {
    // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET moves only this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!("skipped: unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        return;
    }
    ip("link set lo up");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let conf = vs_conf("192.0.2.10", port, "    ha_suspend\n");
    let d = Daemon::start_with("lvs-hasusp", 1000, "-C", &conf);
    d.wait_for(BOUND, |st| common::child(st, "check")["state"] == "running");
    wait_log(&d, &format!("Deactivating healthchecker for service [127.0.0.1]:tcp:{port} for VS [192.0.2.10]:tcp:80"), 1);
    // delay_loop 1: three periods without a single connection.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(accepted(&l), 0, "checks ran while suspended\n{}", d.log());

    ip("addr add 192.0.2.10/32 dev lo");
    wait_log(&d, "Activating healthchecker for service [127.0.0.1]:", 1);
    wait_accepts(&d, &l);

    ip("addr del 192.0.2.10/32 dev lo");
    wait_log(&d, "Suspending healthchecker for service [127.0.0.1]:", 1);
    // A check already under way when the address went may still connect.
    std::thread::sleep(Duration::from_millis(1200));
    accepted(&l);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(accepted(&l), 0, "checks ran after the address was removed\n{}", d.log());
    // The real server kept its state: no down/up while suspended.
    assert!(!d.log().contains("real server 0 down"), "{}", d.log());

    ip("addr add 192.0.2.10/32 dev lo");
    wait_log(&d, "Activating healthchecker for service [127.0.0.1]:", 2);
    wait_accepts(&d, &l);
}
