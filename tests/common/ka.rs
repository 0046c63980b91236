//! Judging configuration files with Debian's `keepalived -t` (and `vigil -t`) inside a
//! throwaway network namespace that has eth0..eth3, shared by tests/config_corpus.rs and
//! tests/config_diff.rs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long keepalived -t may take before we call it hung.
pub const KEEPALIVED_TIMEOUT: Duration = Duration::from_secs(10);

#[allow(unused_imports)]
pub use super::skip::{require_all, skip_or_fail};

/// Debian's keepalived: on PATH, or /usr/sbin/keepalived.
pub fn keepalived() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("keepalived")).find(|p| p.is_file()));
    in_path.or_else(|| Some(PathBuf::from("/usr/sbin/keepalived")).filter(|p| p.is_file()))
}

/// A network namespace with eth0..eth3 (two veth pairs), deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn create() -> Option<Netns> {
        // Tests run in parallel threads: one namespace each.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("vigil-cfg-{}-{n}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name.clone());
        let ok = ip(&["-n", &name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"])
            && ip(&["-n", &name, "link", "add", "eth2", "type", "veth", "peer", "name", "eth3"])
            && ["lo", "eth0", "eth1", "eth2", "eth3"].iter().all(|i| ip(&["-n", &name, "link", "set", i, "up"]));
        ok.then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// How a `-t` run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    Exit(i32),
    Signal(i32),
    /// Still running after the timeout (killed).
    Hung,
    /// Could not be started.
    NotRun(String),
}

/// One `PROGRAM -t -f FILE` run inside a namespace: how it ended and what it printed on
/// stderr (stdout is dropped).
#[derive(Clone, Debug)]
pub struct Run {
    pub ended: Ended,
    pub stderr: String,
}

/// Runs `program -t -f file` in namespace `ns`, bounded by `timeout` (killed after it).
/// stderr goes through a file, so a chatty run can never block on a full pipe.
pub fn run_test_mode(program: &Path, ns: &str, file: &Path, timeout: Duration) -> Run {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let err_path = std::env::temp_dir().join(format!(".vigil-t-{}-{n}.err", std::process::id()));
    let Ok(err_file) = std::fs::File::create(&err_path) else {
        return Run { ended: Ended::NotRun(format!("cannot create {}", err_path.display())), stderr: String::new() };
    };
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(program)
        .arg("-t")
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&err_path);
            return Run { ended: Ended::NotRun(format!("{}: {e}", program.display())), stderr: String::new() };
        }
    };
    let start = Instant::now();
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match std::os::unix::process::ExitStatusExt::signal(&status) {
                    Some(sig) => Ended::Signal(sig),
                    None => Ended::Exit(status.code().unwrap_or(-1)),
                };
            }
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break Ended::Hung;
            }
        }
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    Run { ended, stderr }
}

/// What keepalived -t made of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum KaVerdict {
    /// keepalived -t's exit code: 0 valid, 5 problems, 6 a script security
    /// violation among them.
    Exit(i32),
    /// Killed itself with SIGTERM without a word: the non-root script_user
    /// case of DIFFERENCES.md, where vigil says valid.
    NoVerdict,
    /// Crashed (e.g. SIGSEGV; 0: hung past the timeout): nothing to
    /// compare with.
    Crashed(i32),
}

/// keepalived's verdict from a run: its exit code. keepalived -t with a non-root
/// script_user kills itself with SIGTERM (or hangs, under a terminal): no verdict; if it
/// reported problems before dying, that is its verdict (as exit 5, problems).
pub fn ka_verdict(run: &Run) -> KaVerdict {
    match &run.ended {
        Ended::Exit(code) => KaVerdict::Exit(*code),
        // A crash (glibc's "double free" abort, a segfault) is no verdict,
        // whatever it printed before.
        Ended::Signal(sig) if *sig == libc::SIGABRT || *sig == libc::SIGSEGV => KaVerdict::Crashed(*sig),
        Ended::Signal(_) if !run.stderr.trim().is_empty() => KaVerdict::Exit(5),
        Ended::Signal(sig) if *sig == libc::SIGTERM => KaVerdict::NoVerdict,
        Ended::Signal(sig) => KaVerdict::Crashed(*sig),
        Ended::Hung => KaVerdict::Crashed(0),
        Ended::NotRun(_) => KaVerdict::Crashed(-1),
    }
}

/// keepalived's verdict on `file`, and what it printed.
pub fn keepalived_verdict(bin: &Path, ns: &str, file: &Path) -> (KaVerdict, String) {
    let run = run_test_mode(bin, ns, file, KEEPALIVED_TIMEOUT);
    let v = ka_verdict(&run);
    let text = match &run.ended {
        Ended::Signal(sig) => format!("killed by signal {sig}: {}", run.stderr),
        Ended::Hung => "timed out".into(),
        Ended::NotRun(why) => why.clone(),
        Ended::Exit(_) => run.stderr,
    };
    (v, text)
}

/// Runs `f` on a thread that has joined the network namespace `ns` (so that vigil's own
/// interface look-ups see the namespace's links, as keepalived -t does inside it).
#[allow(dead_code)]
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::fd::AsRawFd as _;
    let ns_path = std::path::PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&ns_path).expect("open netns");
        // SAFETY: setns on a valid namespace fd only changes this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}
