//! Boots the image under QEMU (TCG) through `qemu/run` and drives vigil's serial console:
//! PID 1 is vigil, both children run, the watchdog restarts a killed and a hung child, and
//! `poweroff` powers the guest off.
//!
//! Needs `image/build` to have written target/image/, root (network namespace and tap) and
//! qemu-system-x86_64. Without them the test prints a SKIPPED line and passes, unless
//! VIGIL_REQUIRE_ALL=1, when it fails. The console transcript goes to target/qemu-boot.log.

mod guest;

use guest::{Node, NodeOpts, PROMPT, kernel_time_of, missing_prerequisite, say};
use std::thread;
use std::time::{Duration, Instant};

const QEMU_TIMEOUT: Duration = Duration::from_secs(240);
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

fn skip_or_fail(why: &str) {
    guest::skip_or_fail("qemu_boot", why);
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

fn ps(node: &mut Node) -> Vec<PsRow> {
    let out = node.command("ps");
    parse_ps(&out)
}

#[test]
fn qemu_boot_watchdog_poweroff() {
    if let Some(why) = missing_prerequisite() {
        skip_or_fail(&why);
        return;
    }
    let started = Instant::now();
    let mut opts = NodeOpts::new("qemu_boot", "boot");
    opts.timeout = QEMU_TIMEOUT;
    opts.watchdog_ms = Some(1000);
    opts.log_path = guest::root().join("target/qemu-boot.log");
    let mut node = Node::start(opts);

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
        let rows = ps(&mut node);
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
        let rows = ps(&mut node);
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
    node.poweroff(POWEROFF_TIMEOUT);
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
