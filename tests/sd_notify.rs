//! systemd's Type=notify: with $NOTIFY_SOCKET set, the parent sends READY=1
//! once both children answer (not before), RELOADING=1 then READY=1 around
//! a SIGHUP reload, STOPPING=1 at SIGTERM; the children do not inherit the
//! variable.

mod common;

use common::Daemon;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn recv(sock: &UnixDatagram, bound: Duration) -> Option<String> {
    sock.set_read_timeout(Some(bound)).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn ready_after_both_children_answer_then_reloading_and_stopping() {
    let dir = common::tempdir("sdnotify-sock");
    let path = dir.join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut d = Daemon::start_with_env("sdnotify", 300, "", common::MIN_CONFIG, &[("NOTIFY_SOCKET", path.as_os_str())]);
    let t0 = Instant::now();
    let first = recv(&sock, Duration::from_secs(10));
    assert_eq!(first.as_deref(), Some("READY=1"), "log:\n{}", d.log());
    // READY came after the log line that marks both children answering.
    let log = d.log();
    assert!(log.contains("both children answering"), "READY=1 before both children answered:\n{log}");
    eprintln!("READY=1 {} ms after start", t0.elapsed().as_millis());
    let st = d.wait_running(Duration::from_secs(5));
    for role in ["vrrp", "check"] {
        let pid = common::child(&st, role)["pid"].as_u64().unwrap();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(!env.split(|&b| b == 0).any(|v| v.starts_with(b"NOTIFY_SOCKET=")), "{role} child inherited NOTIFY_SOCKET");
    }

    d.signal(libc::SIGHUP);
    let r = recv(&sock, Duration::from_secs(5)).unwrap_or_default();
    assert!(r.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{r:?}");
    assert_eq!(recv(&sock, Duration::from_secs(5)).as_deref(), Some("READY=1"));

    let code = d.terminate(Duration::from_secs(10));
    assert_eq!(code, Some(0), "log:\n{}", d.log());
    assert_eq!(recv(&sock, Duration::from_secs(1)).as_deref(), Some("STOPPING=1"));
    let _ = std::fs::remove_dir_all(&dir);
}
