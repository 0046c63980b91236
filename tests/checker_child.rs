//! The checker child runs the configured checkers: a real server whose
//! listener goes away is declared down, and up again when it returns.

mod common;

use common::Daemon;
use std::time::Duration;

#[test]
fn tcp_check_follows_a_real_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conf = format!(
        "virtual_server 127.0.0.1 8080 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n}}\n"
    );
    let d = Daemon::start_with("chk", 1000, "-C", &conf);
    d.wait_for(Duration::from_secs(10), |st| common::child(st, "check")["state"] == "running");
    let dump = |d: &Daemon| {
        let pid = std::fs::read_to_string(d.dir.join("checkers.pid")).unwrap();
        common::signal(pid.trim().parse().unwrap(), libc::SIGUSR1);
    };
    // Up while the listener accepts (keepalived starts real servers up).
    std::thread::sleep(Duration::from_millis(1500));
    dump(&d);
    wait_log(&d, "real server 0: up", Duration::from_secs(5));
    // SIGUSR1 also wrote keepalived's checker dump: it has the real server.
    let data = wait_file("/tmp/keepalived_check.data", Duration::from_secs(3));
    assert!(data.contains(&format!("   RIP = 127.0.0.1, RPORT = {port}, WEIGHT = 1 EFF WEIGHT = 1\n")), "{data}");
    let _ = std::fs::remove_file("/tmp/keepalived_check.data");
    drop(listener);
    wait_log(&d, "real server 0 down", Duration::from_secs(10));
    let _again = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_log(&d, "real server 0 up", Duration::from_secs(10));
}

fn wait_log(d: &Daemon, pat: &str, bound: Duration) {
    let until = std::time::Instant::now() + bound;
    while std::time::Instant::now() < until {
        if d.log().contains(pat) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {pat:?} within {bound:?}\n{}", d.log());
}

/// The serial console's views of the running daemon, asked of the children
/// when typed: `lvs` (virtual and real servers with their checks), `vrrp`
/// (none here), `status` (everything as text) and `status json`.
#[test]
fn console_views_show_the_checkers_as_they_are_now() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conf = format!(
        "virtual_server 127.0.0.1 8081 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {port} {{\n        weight 4\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n    real_server 127.0.0.1 1 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    );
    let d = Daemon::start_with("chkcon", 1000, "-C", &conf);
    d.wait_for(Duration::from_secs(10), |st| common::child(st, "check")["state"] == "running");
    std::thread::sleep(Duration::from_millis(2500));
    d.console("lvs");
    wait_log(&d, "Virtual servers\n  [127.0.0.1]:tcp:8081 wrr NAT, quorum up", Duration::from_secs(5));
    wait_log(&d, &format!("[127.0.0.1]:tcp:{port}  up    weight 4  checks "), Duration::from_secs(5));
    wait_log(&d, "[127.0.0.1]:tcp:1", Duration::from_secs(5));
    wait_log(&d, "last TCP_CHECK failed: connection refused", Duration::from_secs(5));
    d.console("vrrp");
    wait_log(&d, "VRRP instances\n  (none)", Duration::from_secs(5));
    d.console("status");
    wait_log(&d, "Processes\n  ROLE", Duration::from_secs(5));
    d.console("status json");
    wait_log(&d, "\"virtual_servers\": [", Duration::from_secs(5));
    drop(listener);
}

fn wait_file(path: &str, bound: Duration) -> String {
    let until = std::time::Instant::now() + bound;
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            return t;
        }
        assert!(std::time::Instant::now() < until, "{path} not written within {bound:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
