//! Boots the image under QEMU (TCG) through `qemu/run` and drives vigil's serial console:
//! PID 1 is vigil, both children run, the watchdog restarts a killed and a hung child, and
//! `poweroff` powers the guest off.
//!
//! Needs `image/build` to have written target/image/, root (network namespace and tap) and
//! qemu-system-x86_64. Without them the test prints a SKIPPED line and passes, unless
//! VIGIL_REQUIRE_ALL=1, when it fails. The console transcript goes to target/qemu-boot.log.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

const PROMPT: &str = "vigil> ";
const QEMU_TIMEOUT_S: u64 = 240;
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Missing prerequisites: a loud skip, or a failure when VIGIL_REQUIRE_ALL=1.
fn skip_or_fail(why: &str) {
    if std::env::var("VIGIL_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("qemu_boot: {why} (VIGIL_REQUIRE_ALL=1)");
    }
    // Straight to stderr: libtest captures eprintln! of passing tests, and a skip must be seen.
    say(&format!("\n**** SKIPPED qemu_boot: {why} ****\n"));
}

/// A line on stderr that libtest does not capture (figures and skips should show in CI logs).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn missing_prerequisite() -> Option<String> {
    let image = root().join("target/image");
    for f in ["vmlinux", "initramfs.cpio.gz"] {
        if !image.join(f).is_file() {
            return Some(format!("{} missing: run image/build first", image.join(f).display()));
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("needs root for the network namespace and tap".into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("qemu-system-x86_64").is_file()))
        .unwrap_or(false);
    if !on_path {
        return Some("qemu-system-x86_64 not installed".into());
    }
    None
}

/// One row of the console's `ps`.
#[derive(Debug, Clone, PartialEq)]
struct PsRow {
    role: String,
    pid: u32,
    state: String,
    restarts: u32,
}

/// Rows of `ps` output: `ROLE PID STATE RESTARTS LAST_ANSWER_MS`. Other lines (the header, the
/// echoed command, kernel messages) are ignored.
fn parse_ps(text: &str) -> Vec<PsRow> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 5 || !["parent", "vrrp", "check"].contains(&f[0]) {
                return None;
            }
            Some(PsRow {
                role: f[0].to_owned(),
                pid: f[1].parse().ok()?,
                state: f[2].to_owned(),
                restarts: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn row<'a>(rows: &'a [PsRow], role: &str) -> Option<&'a PsRow> {
    rows.iter().find(|r| r.role == role)
}

/// `qemu/run` with its console on pipes. Dropping it stops qemu (SIGTERM to the script, whose
/// trap kills qemu and removes the namespace) and writes the transcript.
struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    /// Everything read so far (stdout and stderr of qemu/run, lossily decoded).
    transcript: String,
    /// How far `expect` has consumed the transcript.
    pos: usize,
    log_path: PathBuf,
    ns_file: PathBuf,
    exit: Option<ExitStatus>,
}

impl Node {
    fn start(name: &str) -> Node {
        let ns_file = std::env::temp_dir().join(format!("vigil-qemu-boot-{}.ns", std::process::id()));
        let _ = std::fs::remove_file(&ns_file);
        let mut child = Command::new(root().join("qemu/run"))
            .args(["--name", name, "--timeout", &QEMU_TIMEOUT_S.to_string(), "--watchdog-ms", "1000"])
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
            log_path: root().join("target/qemu-boot.log"),
            ns_file,
            exit: None,
        }
    }

    /// Takes what the reader threads have, waiting at most `wait`. False once both have ended.
    fn pump(&mut self, wait: Duration) -> bool {
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

    fn tail(&self) -> String {
        let t = &self.transcript;
        let mut start = t.len().saturating_sub(3000);
        while !t.is_char_boundary(start) {
            start += 1;
        }
        t[start..].to_owned()
    }

    fn fail(&mut self, what: &str) -> ! {
        self.save();
        panic!(
            "qemu_boot: {what}\n---- last console output ({}) ----\n{}\n----",
            self.log_path.display(),
            self.tail()
        );
    }

    /// Waits until `pattern` appears after what was consumed; returns the text before it and
    /// consumes through it.
    fn expect(&mut self, pattern: &str, timeout: Duration) -> String {
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

    /// The first complete line anywhere in the transcript that contains `pattern`, waiting for
    /// it at most `timeout`; consumes nothing.
    fn line_with(&mut self, pattern: &str, timeout: Duration) -> Option<String> {
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

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("console stdin");
        if let Err(e) = stdin.write_all(format!("{line}\n").as_bytes()).and_then(|_| stdin.flush()) {
            self.fail(&format!("writing {line:?} to the console: {e}"));
        }
    }

    /// Sends a command and returns its output (up to the next prompt).
    fn command(&mut self, line: &str) -> String {
        self.send(line);
        self.expect(PROMPT, COMMAND_TIMEOUT)
    }

    fn ps(&mut self) -> Vec<PsRow> {
        let out = self.command("ps");
        parse_ps(&out)
    }

    /// Waits, bounded, for qemu/run to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
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

    fn namespace(&self) -> Option<String> {
        std::fs::read_to_string(&self.ns_file).ok().map(|s| s.trim().to_owned())
    }

    fn save(&self) {
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

/// Seconds from the kernel's log line `[  3.339642] Run /init as init process`.
fn kernel_time_of(transcript: &str, needle: &str) -> Option<f64> {
    let line = transcript.lines().find(|l| l.contains(needle))?;
    let start = line.find('[')? + 1;
    let end = line[start..].find(']')? + start;
    line[start..end].trim().parse().ok()
}

#[test]
fn qemu_boot_watchdog_poweroff() {
    if let Some(why) = missing_prerequisite() {
        skip_or_fail(&why);
        return;
    }
    let started = Instant::now();
    let mut node = Node::start("boot");

    // Boot to the prompt.
    node.expect(PROMPT, BOOT_TIMEOUT);
    let to_prompt = started.elapsed();
    let to_init = kernel_time_of(&node.transcript, "Run /init as init process");
    let answering_line = node.line_with("both children answering after", Duration::from_secs(30));
    say(&format!(
        "qemu_boot: prompt after {:.1} s wall clock; kernel reached /init at {}; {}",
        to_prompt.as_secs_f64(),
        to_init.map(|t| format!("{t:.2} s")).unwrap_or_else(|| "?".into()),
        answering_line.as_deref().unwrap_or("no 'both children answering' line")
    ));
    if answering_line.is_none() {
        node.fail("vigil never logged 'both children answering after N ms'");
    }

    // PID 1 is vigil; both children run (the prompt may come before they both answer: poll).
    let deadline = Instant::now() + RESTART_TIMEOUT;
    let (vrrp, check) = loop {
        let rows = node.ps();
        let parent = row(&rows, "parent");
        let vrrp = row(&rows, "vrrp");
        let check = row(&rows, "check");
        match (parent, vrrp, check) {
            (Some(p), Some(v), Some(c)) if p.pid == 1 && v.state == "running" && c.state == "running" => {
                assert!(v.pid != 1 && c.pid != 1 && v.pid != c.pid, "odd PIDs in ps: {rows:?}");
                break (v.clone(), c.clone());
            }
            _ if Instant::now() >= deadline => node.fail(&format!(
                "ps after boot: want parent with PID 1 and vrrp, check running; got {rows:?}"
            )),
            _ => thread::sleep(Duration::from_millis(500)),
        }
    };

    // A killed VRRP child and a hung checker child are both restarted.
    node.command("fault kill vrrp");
    node.command("fault hang check");
    let fault_at = Instant::now();
    let deadline = fault_at + RESTART_TIMEOUT;
    let mut last = Vec::new();
    let recovered = loop {
        let rows = node.ps();
        let ok = |r: Option<&PsRow>, before: &PsRow| {
            r.is_some_and(|r| r.state == "running" && r.restarts >= before.restarts + 1 && r.restarts >= 1)
        };
        if ok(row(&rows, "vrrp"), &vrrp) && ok(row(&rows, "check"), &check) {
            break Some(rows);
        }
        last = rows;
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(500));
    };
    let Some(rows) = recovered else {
        node.fail(&format!("children not restarted within {RESTART_TIMEOUT:?}: last ps {last:?}"));
    };
    say(&format!(
        "qemu_boot: both children restarted {:.1} s after the faults: {rows:?}",
        fault_at.elapsed().as_secs_f64()
    ));
    if row(&rows, "vrrp").unwrap().pid == vrrp.pid {
        eprintln!("qemu_boot: note: vrrp restarted under the same PID {}", vrrp.pid);
    }

    // PID 1 reads the guest kernel's IPVS table through our generic-netlink
    // client (the image loads ip_vs; the host kernel has none).
    let table = node.command("ipvs");
    if !table.contains("IP Virtual Server (vigil)") {
        node.fail(&format!("console `ipvs` did not show the IPVS table: {table:?}"));
    }
    // The image's virtual_server is programmed by the checker child, and its
    // real server (nothing listens on 192.0.2.254:8080) is checked down and
    // taken out of the table.
    if !table.contains("TCP  192.0.2.100:80 rr") {
        node.fail(&format!("the image's virtual server is not in IPVS: {table:?}"));
    }
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let t = node.command("ipvs");
        if t.contains("TCP  192.0.2.100:80 rr") && !t.contains("192.0.2.254:8080") {
            say("qemu_boot: the real server that does not answer left the IPVS table");
            break;
        }
        if Instant::now() > until {
            node.fail(&format!("the failed real server stayed in IPVS: {t:?}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    // The image has a virtual server, so the checker child ran its checks
    // in the static musl build: no child may have died on its own.
    if node.transcript.contains("killed by SIGSEGV") || node.transcript.contains("killed by SIGABRT") {
        node.fail("a child crashed (SIGSEGV/SIGABRT) in the guest");
    }
    if !node.transcript.contains("real server(s) under check") {
        node.fail("the checker child did not start its checks");
    }

    // Power off: the guest says so, the kernel powers down, qemu (and the script) exit by themselves.
    node.send("poweroff");
    node.expect("vigil: powering off", COMMAND_TIMEOUT);
    let Some(status) = node.wait_exit(POWEROFF_TIMEOUT) else {
        node.fail(&format!("qemu did not exit within {POWEROFF_TIMEOUT:?} of poweroff"));
    };
    node.save();
    if !status.success() {
        node.fail(&format!("qemu/run exited with {status} after poweroff"));
    }
    if !node.transcript.contains("reboot: Power down") {
        node.fail("the kernel did not log 'reboot: Power down'");
    }
    if let Some(ns) = node.namespace() {
        assert!(
            !Path::new("/run/netns").join(&ns).exists(),
            "qemu/run left its namespace {ns} behind"
        );
    }
    say(&format!(
        "qemu_boot: passed in {:.1} s; transcript in {}",
        started.elapsed().as_secs_f64(),
        node.log_path.display()
    ));
}

#[test]
fn parse_ps_reads_rows_and_ignores_noise() {
    let out = "ps\r\nROLE PID STATE RESTARTS LAST_ANSWER_MS\r\nparent 1 running 0 -\r\n\
               [    5.1] virtio_net virtio0 eth0: link up\r\nvrrp 57 running 1 120\r\ncheck 58 backoff 0 340\r\n";
    let rows = parse_ps(out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], PsRow { role: "parent".into(), pid: 1, state: "running".into(), restarts: 0 });
    assert_eq!(row(&rows, "vrrp").unwrap().restarts, 1);
    assert_eq!(row(&rows, "check").unwrap().state, "backoff");
}

#[test]
fn kernel_time_of_reads_the_timestamp() {
    let t = "[    0.1] x\n[    3.339642] Run /init as init process\n";
    assert_eq!(kernel_time_of(t, "Run /init"), Some(3.339642));
}
