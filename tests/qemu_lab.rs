//! The failover lab's short scenario (`qemu/lab --short --json PATH`): two directors booted from
//! the one image as PID 1, told apart by `vigil_config_id=nodeK` and `@nodeK` lines, IPVS direct
//! routing to two real servers, `lvs_sync_daemon` between the directors. Asserted from the lab's
//! JSON outcome:
//!
//! - exactly one master after the election, after `fault kill vrrp` on the master (and it is the
//!   same master: the restarted child resumes), and after the master's link is cut and it is
//!   powered off (the backup took over);
//! - the VIP answers after each of those;
//! - the long-lived TCP connection through the VIP survives the failover with no reset and echoes
//!   bytes both before the link cut and after it (the backup knew it through the sync daemon);
//! - nothing is left: none of the lab's QEMU processes runs, and no namespace with its prefix
//!   exists (checked here independently of the lab's own check).
//!
//! Needs the image (image/build), root, qemu-system-x86_64 and python3 (a loud skip without them,
//! a failure under VIGIL_REQUIRE_ALL=1). The lab's consoles go to target/qemu_lab/, its JSON to
//! target/qemu_lab/outcome.json.

mod guest;

use guest::{missing_prerequisite, on_path, root, say};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "qemu_lab";
/// The lab's own bound (its --timeout); this test allows a little more for its clean-up.
const LAB_TIMEOUT: Duration = Duration::from_secs(600);
const GRACE: Duration = Duration::from_secs(120);

fn step<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == name))
        .unwrap_or_else(|| panic!("no step {name:?} in the lab's outcome: {out:#}"))
}

fn pid_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn failover_lab_short() {
    if let Some(why) = missing_prerequisite().or_else(|| (!on_path("python3")).then(|| "python3 not installed".into())) {
        guest::skip_or_fail(TEST, &why);
        return;
    }
    let dir = root().join("target/qemu_lab");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("outcome.json");
    let started = Instant::now();
    let mut child = Command::new(root().join("qemu/lab"))
        .args(["--short", "--quiet", "--timeout", &LAB_TIMEOUT.as_secs().to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--logs")
        .arg(&dir)
        .arg("--image")
        .arg(guest::image_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting qemu/lab");
    // Bounded: the lab stops itself at LAB_TIMEOUT; past that plus a grace, SIGTERM (its trap
    // cleans up), then SIGKILL.
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > LAB_TIMEOUT + GRACE {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGTERM);
            std::thread::sleep(Duration::from_secs(60));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let report = {
        use std::io::Read as _;
        let mut s = String::new();
        let _ = child.stdout.take().unwrap().read_to_string(&mut s);
        s
    };
    let _ = std::fs::write(dir.join("report.txt"), &report);
    say(&format!("qemu_lab: the lab took {:.0} s; its summary:", started.elapsed().as_secs_f64()));
    for line in report.lines().skip_while(|l| !l.starts_with("== summary")) {
        say(&format!("  {line}"));
    }
    let status = status.expect("qemu/lab overran its bound");
    let out: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("the lab's JSON"))
        .expect("the lab's JSON parses");

    // Nothing left behind, whatever the outcome: the lab's QEMU processes and namespaces.
    let pids: Vec<u64> = out["qemu_pids"].as_array().unwrap().iter().filter_map(Value::as_u64).collect();
    assert!(pids.len() >= 2, "a QEMU per director should have been seen: {pids:?}");
    for pid in &pids {
        assert!(!pid_alive(*pid), "qemu {pid} still runs");
    }
    let prefix = out["namespace_prefix"].as_str().unwrap();
    let netns = String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
    assert!(!netns.lines().any(|l| l.starts_with(prefix)), "namespaces left: {netns}");

    assert!(out["error"].is_null(), "the lab failed: {}", out["error"]);
    for name in ["election", "kill vrrp child", "master's link cut"] {
        let s = step(&out, name);
        assert_eq!(s["exactly_one_master"], true, "{name}: {s:#}");
        assert_eq!(s["vip_answers"], true, "{name}: {s:#}");
    }
    let first = step(&out, "election")["masters"][0].as_str().unwrap().to_owned();
    let kill = step(&out, "kill vrrp child");
    assert_eq!(kill["same_master"], true, "the killed VRRP child's node lost its mastership: {kill:#}");
    assert_eq!(kill["changed"].as_array().map(Vec::len), Some(0), "a state changed around the kill: {kill:#}");
    let cut = step(&out, "master's link cut");
    assert_ne!(cut["new_master"].as_str().unwrap(), first, "no takeover: {cut:#}");
    let conn = &out["long_connection"];
    assert_eq!(conn["reset"], false, "the long connection was reset: {conn:#}");
    assert!(conn["bytes_before"].as_u64().unwrap() > 0 && conn["bytes_after"].as_u64().unwrap() > 0, "{conn:#}");
    assert_eq!(conn["survived"], true, "{conn:#}");
    assert_eq!(out["ok"], true);
    assert!(status.success(), "qemu/lab exited {status}");
}
