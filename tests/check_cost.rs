//! The checker benchmark's smallest form, as a functional check:
//!
//!   python3 benches/lvs_checkers.py --smoke --bin target/debug/vigil
//!
//! 20 real servers with TCP_CHECK at delay_loop 1 s on the host, vigil and
//! (when installed) keepalived 2.2.7 with its IPVS shim: both start, their
//! checks run and succeed. Nothing is held against the clock. One figure is
//! asserted, with room: vigil's system calls per check under strace (when
//! strace is there), which counts calls, not time. A check is socket,
//! connect, epoll_ctl, getsockopt, close and a share of epoll_pwait (about
//! 7 at this size, where few checks share a wait); the polling crate's
//! re-arming (four calls a wait, vendor/README.md) would put it near 15.
//! The full benchmark and its table: docs/figures.md, "Checker benchmark".

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// vigil's system calls per TCP_CHECK at 20 real servers: at most this.
const MAX_SYSCALLS_PER_CHECK: f64 = 11.0;

fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn checker_benchmark_smallest_form_starts_and_checks() {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip::skip_or_fail("check_cost: needs root (the checker child raises its limits, keepalived runs)");
        return;
    }
    for cmd in ["python3", "cc"] {
        if !have(cmd) {
            skip::skip_or_fail(&format!("check_cost: needs {cmd}"));
            return;
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let start = Instant::now();
    let mut child = Command::new("python3")
        .arg(root.join("benches/lvs_checkers.py"))
        .args(["--smoke", "--bin", env!("CARGO_BIN_EXE_vigil")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // Bounded: the smoke run takes about 30 s.
    let deadline = Duration::from_secs(240);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("lvs_checkers --smoke still running after {deadline:?}:\n{}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "lvs_checkers --smoke failed:\n{stdout}\n{stderr}");
    // Machine-readable rows: `@@ROW impl n checks_per_s syscalls_per_check`.
    let rows: Vec<Vec<&str>> =
        stdout.lines().filter_map(|l| l.strip_prefix("@@ROW ")).map(|l| l.split_whitespace().collect()).collect();
    let vigil = rows.iter().find(|r| r[0] == "vigil").unwrap_or_else(|| panic!("no vigil row:\n{stdout}"));
    let rate: f64 = vigil[2].parse().unwrap();
    assert!(rate > 0.0, "vigil ran no checks:\n{stdout}");
    if have("keepalived") {
        let k = rows.iter().find(|r| r[0] == "keepalived").unwrap_or_else(|| panic!("no keepalived row:\n{stdout}"));
        assert!(k[2].parse::<f64>().unwrap() > 0.0, "keepalived ran no checks:\n{stdout}");
    }
    match vigil[3].parse::<f64>() {
        Ok(calls) => assert!(
            calls <= MAX_SYSCALLS_PER_CHECK,
            "vigil made {calls:.1} system calls per TCP_CHECK (at most {MAX_SYSCALLS_PER_CHECK}):\n{stdout}"
        ),
        Err(_) if have("strace") => panic!("strace is installed but no system calls were counted:\n{stdout}"),
        Err(_) => skip::skip_or_fail("check_cost: no strace, system calls per check not counted"),
    }
}
