//! Driving a QEMU guest from a test: `qemu/run` with its serial console on pipes ([`Node`]),
//! shell commands in the guest with their output and exit status ([`Node::sh`]), and TCP
//! listeners on the host side of the guest's bridge, inside qemu/run's namespace
//! ([`HostListener`]), which play real servers that can be stopped and started again.
//!
//! Prerequisites (the image, root, qemu) are checked by [`missing_prerequisite`]; a test that
//! lacks one skips loudly through [`skip_or_fail`], or fails when VIGIL_REQUIRE_ALL=1 (CI).
//! The image is target/image, or VIGIL_IMAGE_OUT when set (the same variable image/build takes).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const PROMPT: &str = "vigil> ";
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The image directory: VIGIL_IMAGE_OUT (as image/build) or target/image.
pub fn image_dir() -> PathBuf {
    std::env::var_os("VIGIL_IMAGE_OUT").map(PathBuf::from).unwrap_or_else(|| root().join("target/image"))
}

/// A line on stderr that libtest does not capture (figures and skips should show in CI logs).
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Missing prerequisites: a loud skip, or a failure when VIGIL_REQUIRE_ALL=1.
pub fn skip_or_fail(test: &str, why: &str) {
    skip::skip_or_fail(&format!("{test}: {why}"));
}

#[path = "../support/skip.rs"]
pub mod skip;

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .is_some_and(|uid| uid == "0")
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Why a guest cannot be booted here, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    let image = image_dir();
    for f in ["vmlinux", "initramfs.cpio.gz"] {
        if !image.join(f).is_file() {
            return Some(format!("{} missing: run image/build first", image.join(f).display()));
        }
    }
    if !is_root() {
        return Some("needs root for the network namespace and tap".into());
    }
    if !on_path("qemu-system-x86_64") {
        return Some("qemu-system-x86_64 not installed".into());
    }
    None
}

/// How to boot a node.
pub struct NodeOpts {
    /// The guest's name (qemu/run --name): letters, digits, - and _.
    pub name: String,
    /// qemu/run kills the guest after this long, whatever happens.
    pub timeout: Duration,
    pub watchdog_ms: Option<u32>,
    /// Directories laid over the image's root (qemu/run --overlay), in order.
    pub overlays: Vec<PathBuf>,
    /// Where the console transcript is written (also on failure and drop).
    pub log_path: PathBuf,
    /// Prefix of failure messages.
    pub test: String,
    /// More qemu/run arguments (`--append ARGS`, `--reboot`, `--hw-watchdog off`, `--disk FILE`, ...).
    pub args: Vec<String>,
}

impl NodeOpts {
    pub fn new(test: &str, name: &str) -> NodeOpts {
        NodeOpts {
            name: name.into(),
            timeout: Duration::from_secs(240),
            watchdog_ms: None,
            overlays: Vec::new(),
            log_path: root().join(format!("target/{test}.log")),
            test: test.into(),
            args: Vec::new(),
        }
    }
}

/// Output and exit status of one shell command in the guest.
#[derive(Debug, Clone)]
pub struct ShOut {
    pub status: i32,
    pub out: String,
}

/// `qemu/run` with its console on pipes. Dropping it stops qemu (SIGTERM to the script, whose
/// trap kills qemu and removes the namespace) and writes the transcript.
pub struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    /// Everything read so far (stdout and stderr of qemu/run, lossily decoded).
    pub transcript: String,
    /// How far `expect` has consumed the transcript.
    pos: usize,
    pub log_path: PathBuf,
    ns_file: PathBuf,
    exit: Option<ExitStatus>,
    test: String,
    /// Numbers the markers of shell commands.
    seq: u64,
    in_shell: bool,
}

static NODES: AtomicU64 = AtomicU64::new(0);

impl Node {
    pub fn start(opts: NodeOpts) -> Node {
        let n = NODES.fetch_add(1, Ordering::Relaxed);
        let ns_file = std::env::temp_dir().join(format!("vigil-qemu-{}-{}-{n}.ns", opts.name, std::process::id()));
        let _ = std::fs::remove_file(&ns_file);
        let mut cmd = Command::new(root().join("qemu/run"));
        cmd.args(["--name", &opts.name, "--timeout", &opts.timeout.as_secs().to_string()]);
        cmd.arg("--image").arg(image_dir());
        // The harness waits for prompts and markers itself; qemu/run's pacing (a line held
        // back until one more `vigil> ` prompt) would stall every line sent to the shell.
        cmd.args(["--pace", "0"]);
        if let Some(ms) = opts.watchdog_ms {
            cmd.args(["--watchdog-ms", &ms.to_string()]);
        }
        for d in &opts.overlays {
            cmd.arg("--overlay").arg(d);
        }
        cmd.args(&opts.args);
        let mut child = cmd
            .env("VIGIL_QEMU_NS_FILE", &ns_file)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn qemu/run");
        let (tx, rx) = channel();
        for mut out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match out.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        Node {
            stdin: child.stdin.take(),
            child,
            rx,
            transcript: String::new(),
            pos: 0,
            log_path: opts.log_path,
            ns_file,
            exit: None,
            test: opts.test,
            seq: 0,
            in_shell: false,
        }
    }

    /// Takes what the reader threads have, waiting at most `wait`. False once both have ended.
    pub fn pump(&mut self, wait: Duration) -> bool {
        match self.rx.recv_timeout(wait) {
            Ok(bytes) => {
                self.transcript.push_str(&String::from_utf8_lossy(&bytes));
                while let Ok(more) = self.rx.try_recv() {
                    self.transcript.push_str(&String::from_utf8_lossy(&more));
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    pub fn tail(&self) -> String {
        let t = &self.transcript;
        let mut start = t.len().saturating_sub(3000);
        while !t.is_char_boundary(start) {
            start += 1;
        }
        t[start..].to_owned()
    }

    pub fn fail(&mut self, what: &str) -> ! {
        self.save();
        panic!(
            "{}: {what}\n---- last console output ({}) ----\n{}\n----",
            self.test,
            self.log_path.display(),
            self.tail()
        );
    }

    /// Waits until `pattern` appears after what was consumed; returns the text before it and
    /// consumes through it.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.transcript[self.pos..].find(pattern) {
                let before = self.transcript[self.pos..self.pos + i].to_owned();
                self.pos += i + pattern.len();
                return before;
            }
            let now = Instant::now();
            if now >= deadline {
                self.fail(&format!("no {pattern:?} within {timeout:?}"));
            }
            if !self.pump((deadline - now).min(Duration::from_millis(200))) {
                // Both pipes closed: the script is gone; a last look, then fail.
                if !self.transcript[self.pos..].contains(pattern) {
                    self.fail(&format!("qemu/run ended while waiting for {pattern:?}"));
                }
            }
        }
    }

    /// [`Node::expect`] that returns None rather than failing when `pattern` does not come.
    pub fn try_expect(&mut self, pattern: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.transcript[self.pos..].find(pattern) {
                let before = self.transcript[self.pos..self.pos + i].to_owned();
                self.pos += i + pattern.len();
                return Some(before);
            }
            let now = Instant::now();
            if now >= deadline || !self.pump((deadline - now).min(Duration::from_millis(200))) {
                return None;
            }
        }
    }

    /// The first complete line anywhere in the transcript that contains `pattern`, waiting for
    /// it at most `timeout`; consumes nothing.
    pub fn line_with(&mut self, pattern: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.transcript.find(pattern) {
                let start = self.transcript[..i].rfind('\n').map_or(0, |j| j + 1);
                if let Some(len) = self.transcript[i..].find('\n') {
                    return Some(self.transcript[start..i + len].trim().to_owned());
                }
            }
            let now = Instant::now();
            if now >= deadline || !self.pump((deadline - now).min(Duration::from_millis(200))) {
                return None;
            }
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("console stdin");
        if let Err(e) = stdin.write_all(format!("{line}\n").as_bytes()).and_then(|_| stdin.flush()) {
            self.fail(&format!("writing {line:?} to the console: {e}"));
        }
    }

    /// Sends a console command and returns its output (up to the next prompt).
    pub fn command(&mut self, line: &str) -> String {
        assert!(!self.in_shell, "console command {line:?} while the shell runs");
        self.send(line);
        self.expect(PROMPT, COMMAND_TIMEOUT)
    }

    /// Starts the guest's shell from the `vigil> ` prompt (which must have been consumed) and
    /// waits until it answers. Kernel messages are turned down to emergencies (`dmesg -n 1`)
    /// so that they do not cut into command output.
    pub fn enter_shell(&mut self) {
        assert!(!self.in_shell, "enter_shell twice");
        self.send("sh");
        self.expect("starting a shell", COMMAND_TIMEOUT);
        self.in_shell = true;
        // Input that arrives while the shell starts may be lost: ask until it answers. The
        // echoed input shows `%s`, the output the number: only the output matches.
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            self.seq += 1;
            let n = self.seq;
            self.send(&format!("printf '@@R%s@@\\n' {n}"));
            if self.try_expect(&format!("@@R{n}@@"), Duration::from_secs(2)).is_some() {
                break;
            }
            if Instant::now() >= deadline {
                self.fail("the guest's shell did not answer");
            }
        }
        let r = self.sh("dmesg -n 1", COMMAND_TIMEOUT);
        if r.status != 0 {
            self.fail(&format!("dmesg -n 1 in the guest: {r:?}"));
        }
    }

    /// Leaves the shell; returns at the next `vigil> ` prompt (consumed).
    pub fn exit_shell(&mut self) {
        assert!(self.in_shell, "exit_shell without a shell");
        self.send("exit");
        self.in_shell = false;
        self.expect(PROMPT, COMMAND_TIMEOUT);
    }

    /// Runs `cmd` in the guest's shell (see [`Node::enter_shell`]) and returns its output
    /// (stdout and stderr) and exit status, waiting at most `timeout`.
    ///
    /// Log lines of vigil and kernel messages share the console with the command's output, so
    /// the output is written to a file first and then printed with a marker before each line
    /// (`@@O<n>|`); only marked lines count, and only what follows the marker (a log record
    /// starts with a newline and ends without one, so it may precede a marked line on the same
    /// console line, never follow the marker). The markers are assembled by the shell, so the
    /// echo of the command line itself never matches. `cmd` runs in a subshell: `cd` and
    /// variables do not carry over; background processes must redirect their own output.
    pub fn sh(&mut self, cmd: &str, timeout: Duration) -> ShOut {
        assert!(self.in_shell, "sh {cmd:?} outside the shell");
        self.seq += 1;
        let n = self.seq;
        let line = format!(
            "( {cmd} ) >/tmp/.sh.out 2>&1 </dev/null; r=$?; sed 's/^/@@''O{n}|/' /tmp/.sh.out; printf '@@E%s:%s@@\\n' {n} $r"
        );
        self.send(&line);
        let end = format!("@@E{n}:");
        let before = self.expect(&end, timeout);
        let status_text = self.expect("@@", COMMAND_TIMEOUT);
        let Ok(status) = status_text.trim().parse::<i32>() else {
            self.fail(&format!("sh {cmd:?}: odd exit status {status_text:?}"));
        };
        let marker = format!("@@O{n}|");
        let mut out = String::new();
        for l in before.lines() {
            if let Some(i) = l.find(&marker) {
                out.push_str(l[i + marker.len()..].trim_end_matches('\r'));
                out.push('\n');
            }
        }
        ShOut { status, out }
    }

    /// [`Node::sh`] that must succeed; its output.
    pub fn sh_ok(&mut self, cmd: &str, timeout: Duration) -> String {
        let r = self.sh(cmd, timeout);
        if r.status != 0 {
            self.fail(&format!("sh {cmd:?} exited with {}: {}", r.status, r.out));
        }
        r.out
    }

    /// Runs `cmd` in the shell every `every` until `ok` accepts its output, at most `timeout`;
    /// the last output, and whether `ok` accepted it.
    pub fn sh_until(
        &mut self,
        cmd: &str,
        every: Duration,
        timeout: Duration,
        mut ok: impl FnMut(&ShOut) -> bool,
    ) -> (ShOut, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.sh(cmd, COMMAND_TIMEOUT);
            if ok(&r) {
                return (r, true);
            }
            if Instant::now() + every >= deadline {
                return (r, false);
            }
            thread::sleep(every);
        }
    }

    /// Waits, bounded, for qemu/run to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    self.exit = Some(st);
                    // Collect the rest of the output (the pipes close right after).
                    let end = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < end && self.pump(Duration::from_millis(100)) {}
                    return Some(st);
                }
                Ok(None) if Instant::now() < deadline => {
                    self.pump(Duration::from_millis(200));
                }
                _ => return None,
            }
        }
    }

    /// Powers the guest off from the `vigil> ` prompt (leaving the shell first) and checks
    /// that qemu/run exits with success and removed its namespace.
    pub fn poweroff(&mut self, timeout: Duration) {
        if self.in_shell {
            self.exit_shell();
        }
        let ns = self.namespace();
        self.send("poweroff");
        self.expect("vigil: powering off", COMMAND_TIMEOUT);
        let Some(status) = self.wait_exit(timeout) else {
            self.fail(&format!("qemu did not exit within {timeout:?} of poweroff"));
        };
        self.save();
        if !status.success() {
            self.fail(&format!("qemu/run exited with {status} after poweroff"));
        }
        if !self.transcript.contains("reboot: Power down") {
            self.fail("the kernel did not log 'reboot: Power down'");
        }
        if let Some(ns) = ns {
            assert!(!Path::new("/run/netns").join(&ns).exists(), "qemu/run left its namespace {ns} behind");
        }
    }

    /// The name of qemu/run's network namespace (it holds br0 with 192.0.2.254/24).
    pub fn namespace(&self) -> Option<String> {
        std::fs::read_to_string(&self.ns_file).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    pub fn save(&self) {
        if let Some(dir) = self.log_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&self.log_path, &self.transcript);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // SIGTERM lets the script's trap kill qemu by PID and remove the namespace.
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match self.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
                    _ => {
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        break;
                    }
                }
            }
        }
        while let Ok(more) = self.rx.try_recv() {
            self.transcript.push_str(&String::from_utf8_lossy(&more));
        }
        self.save();
        let _ = std::fs::remove_file(&self.ns_file);
    }
}

/// A TCP listener inside a network namespace (e.g. qemu/run's, on 192.0.2.254) that accepts
/// connections and closes them at once: a real server for TCP_CHECK. Dropping or [`stop`]ping
/// it closes the socket, so connections are refused from then on.
///
/// [`stop`]: HostListener::stop
pub struct HostListener {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl HostListener {
    /// Binds `addr` in namespace `ns` (a name under /run/netns) from a thread of its own.
    pub fn start(ns: &str, addr: SocketAddr) -> std::io::Result<HostListener> {
        let path = Path::new("/run/netns").join(ns);
        let ns_file = std::fs::File::open(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (tx, rx) = channel::<std::io::Result<()>>();
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = thread::spawn(move || {
            // SAFETY: setns on a file we own; it moves only this thread, which does nothing
            // but serve this listener.
            if unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let _ = tx.send(Err(std::io::Error::last_os_error()));
                return;
            }
            drop(ns_file);
            let l = match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(()));
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((conn, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        drop(conn);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(20)),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(HostListener { addr, stop, accepted, thread: Some(thread) }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(std::io::Error::other("listener thread did not start")),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Closes the listening socket (connections are refused from now on).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Seconds from the kernel's log line `[  3.339642] Run /init as init process`.
pub fn kernel_time_of(transcript: &str, needle: &str) -> Option<f64> {
    let line = transcript.lines().find(|l| l.contains(needle))?;
    let start = line.find('[')? + 1;
    let end = line[start..].find(']')? + start;
    line[start..end].trim().parse().ok()
}
