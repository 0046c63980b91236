//! The checker child's notify FIFO lines on the host: keepalived's
//! `RS <rs> <vs> UP|DOWN` and `VS <vs> UP|DOWN`, written to lvs_notify_fifo
//! and notify_fifo when a real server's listener goes and comes back, and
//! still reaching notify_fifo after a reload in which the VRRP child may
//! have re-created it.

mod common;

use common::Daemon;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(15);

/// The directory `Daemon::start_with(tag, ..)` will use.
fn daemon_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vigil-test-{tag}-{}", std::process::id()))
}

fn conf(global: &str, vport: u16, port: u16) -> String {
    format!(
        "global_defs {{\n{global}}}\nvirtual_server 127.0.0.1 {vport} {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n"
    )
}

/// A reader on a FIFO the daemon creates; gathers what arrives.
struct Reader {
    file: std::fs::File,
    got: String,
}

impl Reader {
    fn open(d: &Daemon, path: &Path) -> Reader {
        let until = Instant::now() + BOUND;
        while !path.exists() {
            assert!(Instant::now() < until, "{} never created\n{}", path.display(), d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).unwrap();
        Reader { file, got: String::new() }
    }

    fn wait_line(&mut self, d: &Daemon, line: &str) {
        let until = Instant::now() + BOUND;
        loop {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = self.file.read(&mut buf) {
                self.got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            if let Some(at) = self.got.find(&format!("{line}\n")) {
                self.got.drain(..at + line.len() + 1);
                return;
            }
            assert!(Instant::now() < until, "{line:?} not read within {BOUND:?}; read {:?}\n{}", self.got, d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn lvs_notify_fifo_gets_keepalived_lines_on_transitions() {
    let tag = "lvs-fifo";
    let fifo = daemon_dir(tag).join("lvs.fifo");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = Daemon::start_with(tag, 1000, "-C", &conf(&format!("    lvs_notify_fifo {}\n", fifo.display()), 8090, port));
    let mut r = Reader::open(&d, &fifo);
    let (rs, vs) = (format!("[127.0.0.1]:tcp:{port}"), "[127.0.0.1]:tcp:8090");
    // Starting with quorum up.
    r.wait_line(&d, &format!("VS {vs} UP"));
    drop(l);
    r.wait_line(&d, &format!("RS {rs} {vs} DOWN"));
    r.wait_line(&d, &format!("VS {vs} DOWN"));
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    r.wait_line(&d, &format!("RS {rs} {vs} UP"));
    r.wait_line(&d, &format!("VS {vs} UP"));
}

#[test]
fn notify_fifo_lines_survive_a_reload_that_rebuilds_the_vrrp_side() {
    let tag = "lvs-fifo-shared";
    let fifo = daemon_dir(tag).join("notify.fifo");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let global = |id: &str| format!("    router_id {id}\n    notify_fifo {}\n", fifo.display());
    // Both children: the VRRP child opens notify_fifo too.
    let d = Daemon::start_with(tag, 1000, "", &conf(&global("one"), 8091, port));
    d.wait_running(BOUND);
    let mut r = Reader::open(&d, &fifo);
    let (rs, vs) = (format!("[127.0.0.1]:tcp:{port}"), "[127.0.0.1]:tcp:8091");
    r.wait_line(&d, &format!("VS {vs} UP"));
    // A global_defs change: the VRRP child rebuilds its engine and with it
    // its FIFO (re-created if it was the one that made it).
    std::fs::write(d.dir.join("keepalived.conf"), conf(&global("two"), 8091, port)).unwrap();
    d.signal(libc::SIGHUP);
    let until = Instant::now() + BOUND;
    while d.log().matches("config generation 2 in force").count() < 2 {
        assert!(Instant::now() < until, "reload not applied by both children\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    // A reader opening the path now must get the checker's next lines.
    // (The VRRP child's old engine may unlink the path after its new one
    // has opened it: then the checker re-creates it at its next line.)
    drop(l);
    let mut r2 = Reader::open(&d, &fifo);
    r2.wait_line(&d, &format!("RS {rs} {vs} DOWN"));
    r2.wait_line(&d, &format!("VS {vs} DOWN"));
}
