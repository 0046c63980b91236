//! Least privilege: each child runs under its role's
//! seccomp filter (mode 2 in /proc/PID/status) with its role's capabilities
//! only; a forbidden system call kills just that child, which the parent
//! restarts, and a master keeps its VIP through it; scripts run from the
//! script helper with what keepalived gives them (root's full set, or the
//! configured user's).

mod common;
mod lab;

use lab::{Lab, VrrpConf, ready, vigil};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

// The roles' capabilities (src/os/caps.rs): net_admin, net_raw, ipc_lock,
// sys_nice; the checker also net_bind_service.
const VRRP_CAPS: u64 = (1 << 12) | (1 << 13) | (1 << 14) | (1 << 23);
const CHECK_CAPS: u64 = VRRP_CAPS | (1 << 10);

fn status(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::trim).unwrap_or("")
}

fn caps(status: &str, name: &str) -> u64 {
    u64::from_str_radix(field(status, name), 16).unwrap_or(u64::MAX)
}

fn read_pid(path: &Path, bound: Duration) -> i32 {
    let until = Instant::now() + bound;
    loop {
        if let Some(p) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
            return p;
        }
        assert!(Instant::now() < until, "{} not written within {bound:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid file's new pid, once it names another process than `old`.
fn next_pid(path: &Path, old: i32, bound: Duration) -> i32 {
    let until = Instant::now() + bound;
    loop {
        let p = read_pid(path, bound);
        if p != old && Path::new(&format!("/proc/{p}")).exists() {
            return p;
        }
        assert!(Instant::now() < until, "{} still names {old} after {bound:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// A child filtered and cut to `want`; its script helper (its only child
/// when no script runs) unfiltered, with the parent's capabilities. The
/// helper's pid.
fn assert_confined(role: &str, child: i32, parent: i32, want: u64) -> i32 {
    let st = status(child);
    assert_eq!(field(&st, "Seccomp"), "2", "{role} child {child} has no filter:\n{st}");
    assert_eq!(field(&st, "NoNewPrivs"), "1", "{role}:\n{st}");
    assert_eq!(caps(&st, "CapEff"), want, "{role} CapEff:\n{st}");
    assert_eq!(caps(&st, "CapPrm"), want, "{role} CapPrm:\n{st}");
    assert_eq!(caps(&st, "CapBnd"), want, "{role} CapBnd:\n{st}");
    assert_eq!(caps(&st, "CapInh"), 0, "{role} CapInh:\n{st}");
    assert_eq!(caps(&st, "CapAmb"), 0, "{role} CapAmb:\n{st}");
    let pst = status(parent);
    assert_eq!(field(&pst, "Seccomp"), "0", "the parent is filtered:\n{pst}");
    let helpers = children(child);
    assert_eq!(helpers.len(), 1, "{role} child {child}: children {helpers:?}, want just the script helper");
    let hst = status(helpers[0]);
    assert_eq!(field(&hst, "Name"), "vigil-scripts", "{hst}");
    assert_eq!(field(&hst, "Seccomp"), "0", "the script helper is filtered:\n{hst}");
    assert_eq!(field(&hst, "NoNewPrivs"), "0", "{hst}");
    assert_eq!(caps(&hst, "CapEff"), caps(&pst, "CapEff"), "the script helper lost capabilities:\n{hst}");
    assert_eq!(caps(&hst, "CapBnd"), caps(&pst, "CapBnd"), "{hst}");
    helpers[0]
}

/// True once `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: i32, bound: Duration) -> bool {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        let st = status(pid);
        if st.is_empty() || field(&st, "State").starts_with('Z') {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A directory everyone may enter, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("vigil-lp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("out")).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("out"), std::fs::Permissions::from_mode(0o777)).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A script that writes who it runs as, and with what, to `out/NAME`.
fn privileges_script(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("{name}.sh"));
    let out = dir.join("out").join(name);
    std::fs::write(
        &p,
        format!("#!/bin/sh\n{{ grep -E '^(Uid|Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status; }} > {0}.tmp\nmv {0}.tmp {0}\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn wait_file(path: &Path, bound: Duration) -> String {
    let until = Instant::now() + bound;
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            return t;
        }
        assert!(Instant::now() < until, "{} not written within {bound:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The master's VRRP child makes a forbidden call (`fault syscall vrrp` on
/// its console): the kernel kills it (SIGSYS), the parent restarts it under
/// a new filter, it resumes as master and the backup never takes over.
/// Before that, both nodes' notify scripts ran: notify_master as root with
/// the full capability set, notify_backup as `nobody` with none, neither
/// under a filter, as keepalived would run them.
#[test]
fn forbidden_call_kills_only_the_vrrp_child_and_the_vip_stays() {
    if !ready("forbidden_call_kills_only_the_vrrp_child_and_the_vip_stays") {
        return;
    }
    let scratch = Scratch::new("vrrp");
    let master_script = privileges_script(&scratch.0, "master");
    let backup_script = privileges_script(&scratch.0, "backup");
    let lab = Lab::new("lpriv", 2);
    let mut c1 = VrrpConf::new(1, 2, 150, "1", &[&format!("{VIP}/24")]);
    c1.extra = format!("notify_master {}\n", master_script.display());
    let mut c2 = VrrpConf::new(2, 2, 100, "1", &[&format!("{VIP}/24")]);
    c2.extra = format!("notify_backup {} nobody\n", backup_script.display());

    // Node 1 with its console on a FIFO the test writes to.
    let fifo = scratch.0.join("console");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) reads the NUL-terminated path only.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    // Read-write: opening never blocks, and the daemon never sees EOF.
    let mut console = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
    let node_dir = lab.node_dir(1).join("lp");
    std::fs::create_dir_all(&node_dir).unwrap();
    let conf = node_dir.join("keepalived.conf");
    std::fs::write(&conf, c1.render()).unwrap();
    let mut argv = vec!["sh".to_string(), "-c".to_string()];
    let mut inner = lab::Daemon::argv(&vigil(), &node_dir, &conf);
    inner.push("--console".into());
    let quoted: Vec<String> = inner.iter().map(|a| format!("'{a}'")).collect();
    argv.push(format!("cd '{}' && exec {} < '{}'", node_dir.display(), quoted.join(" "), fifo.display()));
    let d1 = lab.spawn(1, argv);
    let d2 = lab.start(2, vigil(), &c2.render());

    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "n1 never got the VIP\n{}", d1.log());
    assert!(d2.wait_log("Entering BACKUP STATE", Duration::from_secs(5)), "{}", d2.log());
    assert!(d1.log().contains("seccomp filter installed"), "{}", d1.log());

    // The scripts' privileges: keepalived's, not the child's.
    let m = wait_file(&scratch.0.join("out/master"), Duration::from_secs(10));
    let b = wait_file(&scratch.0.join("out/backup"), Duration::from_secs(10));
    let parent = status(d1.pid());
    assert_eq!(field(&m, "Uid").split_whitespace().next(), Some("0"), "{m}");
    assert_eq!(field(&m, "Seccomp"), "0", "{m}");
    assert_eq!(field(&m, "NoNewPrivs"), "0", "{m}");
    assert_eq!(caps(&m, "CapEff"), caps(&parent, "CapBnd"), "notify_master as root lacks capabilities:\n{m}");
    assert_eq!(caps(&m, "CapBnd"), caps(&parent, "CapBnd"), "{m}");
    assert_eq!(field(&b, "Uid").split_whitespace().next(), Some("65534"), "{b}");
    assert_eq!(field(&b, "Seccomp"), "0", "{b}");
    assert_eq!(caps(&b, "CapEff"), 0, "notify_backup as nobody has capabilities:\n{b}");

    // The child as it runs.
    let vrrp_pid_file = node_dir.join("vrrp.pid");
    let first = read_pid(&vrrp_pid_file, Duration::from_secs(5));
    let helper = assert_confined("vrrp", first, d1.pid(), VRRP_CAPS);

    writeln!(console, "fault syscall vrrp").unwrap();
    assert!(d1.wait_log("killed by SIGSYS (a system call its seccomp filter forbids)", Duration::from_secs(5)), "{}", d1.log());
    assert!(d1.wait_log("restart 1", Duration::from_secs(5)), "{}", d1.log());
    let second = next_pid(&vrrp_pid_file, first, Duration::from_secs(5));
    assert!(d1.wait_log("resuming as master: VI_1", Duration::from_secs(5)), "{}", d1.log());
    // Longer than the backup's Master_Down_Interval (3.6 s).
    std::thread::sleep(Duration::from_secs(5));
    assert!(lab.has_addr(1, VIP), "n1 lost the VIP\n{}", d1.log());
    assert!(!lab.has_addr(2, VIP), "n2 took the VIP\n{}", d2.log());
    assert_eq!(d2.log().matches("Entering MASTER STATE").count(), 0, "the backup became master\n{}", d2.log());
    assert!(d1.running(), "the parent died\n{}", d1.log());
    assert_confined("vrrp", second, d1.pid(), VRRP_CAPS);
    // The old child's script helper went with it.
    assert!(gone(helper, Duration::from_secs(5)), "script helper {helper} outlived its child");
    drop(console);
}

/// The checker child, likewise: filtered, cut to its capabilities, killed
/// alone by a forbidden call and restarted, still checking afterwards.
/// With `--no-seccomp` a child runs unfiltered (the debugging switch).
#[test]
fn forbidden_call_kills_only_the_checker_child() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conf = format!(
        "virtual_server 127.0.0.1 8090 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {port} {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    );
    let d = common::Daemon::start_with("lpchk", 1000, "-C", &conf);
    d.wait_for(Duration::from_secs(10), |st| common::child(st, "check")["state"] == "running");
    let pid_file = d.dir.join("checkers.pid");
    let first = read_pid(&pid_file, Duration::from_secs(5));
    let helper = assert_confined("check", first, d.pid() as i32, CHECK_CAPS);
    d.console("fault syscall check");
    let until = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("killed by SIGSYS") {
        assert!(Instant::now() < until, "no SIGSYS\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = next_pid(&pid_file, first, Duration::from_secs(10));
    d.wait_for(Duration::from_secs(10), |st| common::child(st, "check")["state"] == "running" && common::child(st, "check")["restarts"] == 1);
    assert_confined("check", second, d.pid() as i32, CHECK_CAPS);
    assert!(gone(helper, Duration::from_secs(5)), "script helper {helper} outlived its child");
    // Still checking: the listener goes, the real server goes down.
    drop(listener);
    let until = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("real server 0 down") {
        assert!(Instant::now() < until, "no check after the restart\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Path::new(&format!("/proc/{}", d.pid())).exists(), "the parent died\n{}", d.log());

    let off = common::Daemon::start_with("lpoff", 1000, "-C --no-seccomp", &conf);
    off.wait_for(Duration::from_secs(10), |st| common::child(st, "check")["state"] == "running");
    let pid = read_pid(&off.dir.join("checkers.pid"), Duration::from_secs(5));
    let st = status(pid);
    assert_eq!(field(&st, "Seccomp"), "0", "{st}");
    assert_eq!(caps(&st, "CapEff"), CHECK_CAPS, "capabilities are cut even without the filter:\n{st}");
    assert!(off.log().contains("no seccomp filter"), "{}", off.log());
}
