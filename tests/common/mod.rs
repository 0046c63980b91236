//! Helpers for tests that run the daemon as an ordinary process.
#![allow(dead_code)]

pub mod ka;
#[path = "../support/skip.rs"]
pub mod skip;

use serde_json::Value;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MIN_CONFIG: &str = "global_defs {\n    router_id vigil_test\n}\n";

pub struct Daemon {
    pub dir: PathBuf,
    child: Option<Child>,
    stdin: Option<std::process::ChildStdin>,
    log: PathBuf,
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Daemon {
    /// Starts `vigil -n -l` in a fresh temp dir with its own pid files and
    /// control socket, the console on a pipe, and a leak marker on fd 5.
    pub fn start(tag: &str, watchdog_ms: u64, extra: &str) -> Daemon {
        Self::start_with(tag, watchdog_ms, extra, MIN_CONFIG)
    }

    pub fn start_with(tag: &str, watchdog_ms: u64, extra: &str, config: &str) -> Daemon {
        Self::start_with_env(tag, watchdog_ms, extra, config, &[])
    }

    /// As `start_with`, with these variables added to the daemon's environment.
    pub fn start_with_env(tag: &str, watchdog_ms: u64, extra: &str, config: &str, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let dir = tempdir(tag);
        std::fs::write(dir.join("keepalived.conf"), config).unwrap();
        let log = dir.join("daemon.log");
        let logf = std::fs::File::create(&log).unwrap();
        let marker = std::fs::File::create(dir.join("leak-marker")).unwrap();
        let marker_fd = std::os::fd::IntoRawFd::into_raw_fd(marker);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["-n", "-l", "-G", "-m", "--console"])
            .arg(format!("--watchdog-interval={watchdog_ms}"))
            .arg("-f")
            .arg(dir.join("keepalived.conf"))
            .arg("-p")
            .arg(dir.join("vigil.pid"))
            .arg("-r")
            .arg(dir.join("vrrp.pid"))
            .arg("-c")
            .arg(dir.join("checkers.pid"))
            .arg("--control")
            .arg(dir.join("ctl.sock"))
            .args(extra.split_whitespace())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe syscalls (fcntl, dup2) on integer fds: no allocation, no locks.
        unsafe {
            cmd.pre_exec(move || {
                // An inheritable fd the parent must not pass on to children.
                // dup2 onto itself keeps close-on-exec: clear it by hand then.
                if marker_fd == 5 {
                    let fl = libc::fcntl(5, libc::F_GETFD);
                    libc::fcntl(5, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
                } else if libc::dup2(marker_fd, 5) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        // SAFETY: marker_fd came from into_raw_fd, so no Rust object owns or
        // closes it; the child has its own copy. It is closed here, once.
        unsafe {
            libc::close(marker_fd);
        }
        let stdin = child.stdin.take();
        Daemon { dir, child: Some(child), stdin, log }
    }

    pub fn pid(&self) -> u64 {
        self.child.as_ref().map(|c| c.id() as u64).unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn console(&self, line: &str) {
        let mut s = self.stdin.as_ref().expect("console closed");
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
    }

    pub fn status(&self) -> Option<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["status", "--json", "--control"])
            .arg(self.dir.join("ctl.sock"))
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls the status until `pred` holds; panics with the log after `bound`.
    pub fn wait_for(&self, bound: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + bound;
        loop {
            if let Some(st) = self.status() {
                if pred(&st) {
                    return st;
                }
                if Instant::now() > until {
                    panic!("condition not met within {bound:?}; last status {st:#}\nlog:\n{}", self.log());
                }
            } else if Instant::now() > until {
                panic!("no status within {bound:?}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_running(&self, bound: Duration) -> Value {
        self.wait_for(bound, |st| st["children"].as_array().is_some_and(|c| c.iter().all(|c| c["state"] == "running")))
    }

    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    /// SIGTERM, then waits (bounded) for the exit code.
    pub fn terminate(&mut self, bound: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take()?;
        let until = Instant::now() + bound;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                panic!("daemon did not stop within {bound:?}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id() as u64, libc::SIGTERM);
            let until = Instant::now() + Duration::from_secs(8);
            while Instant::now() < until {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn child<'a>(st: &'a Value, role: &str) -> &'a Value {
    st["children"].as_array().and_then(|c| c.iter().find(|c| c["role"] == role)).unwrap_or(&Value::Null)
}

pub fn signal(pid: u64, sig: i32) {
    // SAFETY: kill(2) takes integers only; a stale pid at worst signals nothing.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub fn ppid(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// True once /proc/PID is gone (neither running nor a zombie).
pub fn wait_gone(pid: u64, bound: Duration) -> bool {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn fd_targets(pid: u64) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                v.push(format!("{} -> {}", e.file_name().to_string_lossy(), t.display()));
            }
        }
    }
    v
}
