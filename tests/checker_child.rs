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
