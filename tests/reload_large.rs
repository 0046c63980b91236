//! A large reload under a short watchdog interval: 40,000 real servers under
//! 2,000 virtual servers (checked on loopback, where connects are refused at
//! once), one weight changed. The checker child prepares the reload a batch
//! at a time between its messages and the parent does not count its own
//! parse against it: the child answers its hellos throughout, so it is not
//! killed and restarted, and it keeps every checker task. Functional only:
//! nothing here is timed against the clock but the generous bounds.

mod common;

use common::Daemon;
use std::time::{Duration, Instant};

const VS: usize = 2000;
const PER_VS: usize = 20;

fn conf(weight0: u32) -> String {
    let mut s = String::from("global_defs {\n    router_id large\n}\n");
    for v in 0..VS {
        s.push_str(&format!(
            "virtual_server 10.{}.{}.1 80 {{\n    delay_loop 5\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
            99 + v / 250,
            v % 250
        ));
        for r in 0..PER_VS {
            let i = v * PER_VS + r;
            let w = if i == 0 { weight0 } else { 1 };
            s.push_str(&format!(
                "    real_server 127.{}.{}.{} 1 {{\n        weight {w}\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n",
                1 + i / 65536,
                (i / 256) % 256,
                i % 256
            ));
        }
        s.push_str("}\n");
    }
    s
}

fn wait_log(d: &Daemon, bound: Duration, what: &str) -> String {
    let t = Instant::now();
    loop {
        let log = d.log();
        if log.contains(what) {
            return log;
        }
        assert!(t.elapsed() < bound, "no {what:?} within {bound:?}:\n{}", tail(&log));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("TCP_CHECK on")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn checker_pid(d: &Daemon) -> String {
    std::fs::read_to_string(d.dir.join("checkers.pid")).unwrap_or_default().trim().to_string()
}

#[test]
fn a_large_reload_keeps_the_checker_child_and_its_tasks() {
    let mut d = Daemon::start_with("reload-large", 200, "-C", &conf(1));
    wait_log(&d, Duration::from_secs(120), "check child applied config generation 1");
    // The start-up's checks have begun (and the child answers meanwhile).
    std::thread::sleep(Duration::from_secs(3));
    let before = checker_pid(&d);
    assert!(!before.is_empty(), "no checker pid file");

    std::fs::write(d.dir.join("keepalived.conf"), conf(2)).unwrap();
    d.signal(libc::SIGHUP);
    let log = wait_log(&d, Duration::from_secs(120), "check child applied config generation 2");
    // A few intervals more: a kill would come after the apply, too.
    std::thread::sleep(Duration::from_secs(3));
    let log = if d.log().len() > log.len() { d.log() } else { log };
    assert_eq!(checker_pid(&d), before, "the checker child was restarted:\n{}", tail(&log));
    assert!(!log.contains("did not answer hello"), "a child missed a hello:\n{}", tail(&log));
    assert!(!log.contains("killed by SIGKILL"), "a child was killed:\n{}", tail(&log));
    assert!(
        log.contains("40000 real server(s) under check, 40000 carried over; 40000 checker task(s) kept running, 0 to start"),
        "the reload restarted checker tasks:\n{}",
        tail(&log)
    );
    assert!(log.contains("check child: config generation 2 in force"), "{}", tail(&log));
    assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
}
