//! VRRP daemons inside lab nodes: keepalived, vigil, or any command.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which daemon to start; both take keepalived's command line.
#[derive(Clone, Debug)]
pub enum Daemon {
    /// Debian's keepalived (found by `find_keepalived`).
    Keepalived,
    /// A vigil binary at this path (gets `--control DIR/control.sock` too).
    Vigil(PathBuf),
}

impl Daemon {
    pub fn short_name(&self) -> &'static str {
        match self {
            Daemon::Keepalived => "keepalived",
            Daemon::Vigil(_) => "vigil",
        }
    }

    /// `PROG -n -l -D -P -f CONF -p P1 -r P2 -c P3 [--control SOCK]`.
    pub fn argv(&self, dir: &Path, conf: &Path) -> Vec<String> {
        let prog = match self {
            Daemon::Keepalived => find_keepalived().expect("keepalived not installed"),
            Daemon::Vigil(p) => p.clone(),
        };
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        let mut v = vec![
            s(prog),
            "-n".into(),
            "-l".into(),
            "-D".into(),
            "-P".into(),
            "-f".into(),
            s(conf.to_path_buf()),
            "-p".into(),
            s(dir.join("main.pid")),
            "-r".into(),
            s(dir.join("vrrp.pid")),
            "-c".into(),
            s(dir.join("check.pid")),
        ];
        if let Daemon::Vigil(_) = self {
            v.push("--control".into());
            v.push(s(dir.join("control.sock")));
        }
        v
    }
}

/// keepalived's path, if installed.
pub fn find_keepalived() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join("keepalived")).find(|p| p.is_file())
}

/// The vigil binary for VRRP labs: $VIGIL_BIN, else the musl release build.
pub fn vigil_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIGIL_BIN") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-musl/release/vigil");
    p.is_file().then_some(p)
}

/// A one-instance keepalived.conf for a lab node.
#[derive(Clone, Debug)]
pub struct VrrpConf {
    pub router_id: String,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Seconds, as written in the config ("1", "0.1", "0.01").
    pub advert_int: String,
    pub vips: Vec<String>,
    /// `state MASTER` (starts as master without waiting) instead of BACKUP.
    pub start_master: bool,
    pub interface: String,
    /// Extra lines inside the vrrp_instance block.
    pub extra: String,
}

impl VrrpConf {
    pub fn new(node: usize, version: u8, priority: u8, advert_int: &str, vips: &[&str]) -> VrrpConf {
        VrrpConf {
            router_id: format!("lab_n{node}"),
            version,
            vrid: 51,
            priority,
            advert_int: advert_int.into(),
            vips: vips.iter().map(|s| s.to_string()).collect(),
            start_master: false,
            interface: "eth0".into(),
            extra: String::new(),
        }
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "global_defs {{\n    router_id {}\n    vrrp_version {}\n}}\n\nvrrp_instance VI_1 {{\n    state {}\n    interface {}\n    virtual_router_id {}\n    priority {}\n    advert_int {}\n",
            self.router_id,
            self.version,
            if self.start_master { "MASTER" } else { "BACKUP" },
            self.interface,
            self.vrid,
            self.priority,
            self.advert_int
        );
        for l in self.extra.lines() {
            s += &format!("    {}\n", l.trim());
        }
        s += "    virtual_ipaddress {\n";
        for v in &self.vips {
            s += &format!("        {v} dev {}\n", self.interface);
        }
        s += "    }\n}\n";
        s
    }
}

pub(crate) struct Inner {
    pub pid: i32,
    pub ns: String,
    pub node: usize,
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
    status: Mutex<Option<ExitStatus>>,
}

impl Inner {
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn try_reap(&self) -> Option<ExitStatus> {
        if let Some(s) = *self.status.lock().unwrap() {
            return Some(s);
        }
        let mut c = self.child.lock().unwrap();
        let st = c.as_mut().and_then(|c| c.try_wait().ok().flatten());
        if let Some(s) = st {
            *self.status.lock().unwrap() = Some(s);
            *c = None;
        }
        st
    }

    pub fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_reap() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `sig` to the whole process group while the leader is not yet
    /// reaped (so the group id is still ours).
    pub fn kill_group(&self, sig: i32) -> bool {
        let c = self.child.lock().unwrap();
        if c.is_none() {
            return false;
        }
        // SAFETY: kill(2) takes integers only. The child is still held (checked
        // above), so the leader is unreaped and its group id cannot have been reused.
        unsafe { libc::kill(-self.pid, sig) == 0 }
    }

    pub fn kill(&self, sig: i32) -> bool {
        let c = self.child.lock().unwrap();
        if c.is_none() {
            return false;
        }
        // SAFETY: kill(2) takes integers only; the child is unreaped (checked above),
        // so its pid still names it.
        unsafe { libc::kill(self.pid, sig) == 0 }
    }

    pub fn stop(&self, bound: Duration) {
        if self.try_reap().is_some() {
            return;
        }
        self.kill_group(libc::SIGKILL);
        if self.wait(bound).is_none() {
            eprintln!("lab: pid {} did not die within {bound:?} of SIGKILL", self.pid);
        }
    }
}

/// A daemon started in a lab node. Drop SIGKILLs its process group.
pub struct DaemonHandle {
    pub(crate) inner: Arc<Inner>,
}

impl DaemonHandle {
    pub(crate) fn spawn(ns: &str, node: usize, argv: Vec<String>, dir: PathBuf, conf: PathBuf) -> std::io::Result<Self> {
        let log = dir.join("daemon.log");
        let logf = std::fs::File::create(&log)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(&argv)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .process_group(0);
        // `ip netns exec` execs the program: the child's PID is the daemon's.
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        Ok(DaemonHandle {
            inner: Arc::new(Inner {
                pid,
                ns: ns.to_string(),
                node,
                dir,
                conf,
                log,
                child: Mutex::new(Some(child)),
                status: Mutex::new(None),
            }),
        })
    }

    pub fn pid(&self) -> i32 {
        self.inner.pid
    }

    pub fn node(&self) -> usize {
        self.inner.node
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn conf_path(&self) -> &Path {
        &self.inner.conf
    }

    pub fn control_socket(&self) -> PathBuf {
        self.inner.dir.join("control.sock")
    }

    /// Sends `sig` to the daemon's PID (keepalived forwards SIGTERM to its
    /// children). False once it has been reaped.
    pub fn kill(&self, sig: i32) -> bool {
        self.inner.kill(sig)
    }

    /// Sends `sig` to the daemon's whole process group (parent and children
    /// at once: a hard crash with no goodbye from any process).
    pub fn kill_group(&self, sig: i32) -> bool {
        self.inner.kill_group(sig)
    }

    /// Waits at most `timeout` for the daemon to exit.
    pub fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        self.inner.wait(timeout)
    }

    pub fn running(&self) -> bool {
        self.inner.try_reap().is_none()
    }

    /// SIGTERM, wait up to `bound`, then SIGKILL the group.
    pub fn stop(&self, bound: Duration) -> Option<ExitStatus> {
        self.kill(libc::SIGTERM);
        let st = self.wait(bound);
        self.inner.stop(Duration::from_secs(5));
        st.or_else(|| self.wait(Duration::ZERO))
    }

    pub fn log(&self) -> String {
        self.inner.log_text()
    }

    /// Polls the log until it contains `pattern`, at most `timeout`.
    pub fn wait_log(&self, pattern: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.log().contains(pattern) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls the log until `pattern` occurs at least `count` times, at most `timeout`.
    pub fn wait_log_count(&self, pattern: &str, count: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.log().matches(pattern).count() >= count {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DaemonHandle {
    fn drop(&mut self) {
        self.inner.stop(Duration::from_secs(5));
    }
}
