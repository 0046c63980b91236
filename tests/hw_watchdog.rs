//! The hardware watchdog on the appliance: the image booted under QEMU (TCG) with the emulated
//! i6300esb (qemu/run's default, expiry = reset) and a 5 s hardware timeout on the kernel command
//! line (`vigil_hwwdt=5`), the parent's tick at 1 s.
//!
//! - `wedged_parent_resets_the_guest`: `fault wedge parent` spins PID 1's loop; the pets stop and
//!   the hardware resets the guest: the kernel's banner and vigil come again (qemu/run --reboot).
//! - `killed_child_and_poweroff_do_not_reset`: a killed VRRP child and a hung checker child are
//!   restarted and the guest is not reset over a window three times the hardware timeout (without
//!   --reboot a reset would end qemu); then `poweroff` disarms the watchdog (magic close) and qemu
//!   exits cleanly.
//!
//! One boot per case. Prerequisites and skipping as tests/qemu_boot.rs (image, root, qemu).
//! Transcripts: target/hw-watchdog-{wedge,child}.log.

mod guest;

use guest::{Node, NodeOpts, PROMPT, missing_prerequisite, say};
use std::thread;
use std::time::{Duration, Instant};

const QEMU_TIMEOUT: Duration = Duration::from_secs(300);
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
const HW_TIMEOUT_S: u64 = 5;
/// From the wedge to the second kernel banner: the hardware timeout, with room for a loaded host.
const RESET_BOUND: Duration = Duration::from_secs(HW_TIMEOUT_S + 40);
const BANNER: &str = "Linux version ";

fn node(name: &str, reboot: bool) -> Option<Node> {
    if let Some(why) = missing_prerequisite() {
        guest::skip_or_fail("hw_watchdog", &why);
        return None;
    }
    let mut opts = NodeOpts::new("hw_watchdog", name);
    opts.timeout = QEMU_TIMEOUT;
    opts.watchdog_ms = Some(1000);
    opts.log_path = guest::root().join(format!("target/hw-watchdog-{name}.log"));
    opts.args = vec!["--hw-watchdog".into(), "reset".into(), "--append".into(), format!("vigil_hwwdt={HW_TIMEOUT_S}")];
    if reboot {
        opts.args.push("--reboot".into());
    }
    Some(Node::start(opts))
}

/// Boots to the prompt and checks that PID 1 armed the device with the asked timeout.
fn boot(node: &mut Node) -> Duration {
    let t = Instant::now();
    node.expect(PROMPT, BOOT_TIMEOUT);
    let armed = node.line_with("hardware watchdog /dev/watchdog: armed", Duration::from_secs(10));
    match armed {
        Some(l) if l.contains(&format!("timeout {HW_TIMEOUT_S} s")) => say(&format!("hw_watchdog: {l}")),
        other => node.fail(&format!("PID 1 did not arm /dev/watchdog with {HW_TIMEOUT_S} s: {other:?}")),
    }
    if node.line_with("both children answering after", Duration::from_secs(60)).is_none() {
        node.fail("the children never both answered");
    }
    t.elapsed()
}

#[test]
fn wedged_parent_resets_the_guest() {
    let started = Instant::now();
    let Some(mut node) = node("wedge", true) else { return };
    let to_prompt = boot(&mut node);
    node.send("fault wedge parent");
    node.expect("wedging the parent's loop", guest::COMMAND_TIMEOUT);
    let wedged = Instant::now();
    if node.try_expect(BANNER, RESET_BOUND).is_none() {
        node.fail(&format!("no second kernel banner within {RESET_BOUND:?} of the wedge: the guest was not reset"));
    }
    let reset_after = wedged.elapsed();
    // vigil runs again as PID 1 and arms the watchdog again.
    // (PID 1 arms the device before its loop logs that it starts.)
    node.expect("hardware watchdog /dev/watchdog: armed", BOOT_TIMEOUT);
    node.expect("starting (pid 1,", Duration::from_secs(60));
    let again = wedged.elapsed();
    node.save();
    say(&format!(
        "hw_watchdog: wedge: prompt {:.1} s after start; reset (second banner) {:.1} s after the wedge \
         (hardware timeout {HW_TIMEOUT_S} s); vigil armed again {:.1} s after it; {:.1} s in all",
        to_prompt.as_secs_f64(),
        reset_after.as_secs_f64(),
        again.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    if reset_after < Duration::from_secs(HW_TIMEOUT_S - 1) {
        node.fail(&format!("reset {reset_after:?} after the wedge, before the {HW_TIMEOUT_S} s timeout could run out"));
    }
}

/// `ROLE PID STATE RESTARTS LAST_ANSWER_MS` rows of the console's `ps`: (state, restarts).
fn ps_row(out: &str, role: &str) -> Option<(String, u32)> {
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 5 && f[0] == role).then(|| Some((f[2].to_owned(), f[3].parse().ok()?))).flatten()
    })
}

#[test]
fn killed_child_and_poweroff_do_not_reset() {
    let started = Instant::now();
    let Some(mut node) = node("child", false) else { return };
    let to_prompt = boot(&mut node);
    // Status says the watchdog is armed and petted, with the timeout of the command line.
    node.send("status");
    node.line_with("Hardware watchdog: petted, timeout 5 s, policy children", Duration::from_secs(10))
        .unwrap_or_else(|| node.fail("status does not show the petted hardware watchdog"));
    node.expect(guest::PROMPT, guest::COMMAND_TIMEOUT);
    node.command("fault kill vrrp");
    node.command("fault hang check");
    let fault_at = Instant::now();
    // Three hardware timeouts: any reset ends qemu (no --reboot) or shows a second banner.
    let window = Duration::from_secs(3 * HW_TIMEOUT_S);
    let mut recovered = None;
    while fault_at.elapsed() < window {
        if let Some(st) = node.wait_exit(Duration::ZERO) {
            node.fail(&format!("qemu exited ({st}) within {:?} of the faults: the guest was reset", fault_at.elapsed()));
        }
        let out = node.command("ps");
        let ok = |r: Option<(String, u32)>| r.is_some_and(|(state, restarts)| state == "running" && restarts >= 1);
        if recovered.is_none() && ok(ps_row(&out, "vrrp")) && ok(ps_row(&out, "check")) {
            recovered = Some(fault_at.elapsed());
        }
        thread::sleep(Duration::from_secs(1));
    }
    let Some(recovered) = recovered else {
        node.fail(&format!("the children were not both restarted and running within {window:?}"));
    };
    if node.transcript.matches(BANNER).count() != 1 {
        node.fail("a second kernel banner: the guest was reset after a child's restart");
    }
    if node.transcript.contains("hardware watchdog: not petting") {
        node.fail("the parent withheld the pets during a child's restart");
    }
    say(&format!(
        "hw_watchdog: child: prompt {:.1} s after start; both children restarted {:.1} s after the faults; \
         no reset over {window:?}",
        to_prompt.as_secs_f64(),
        recovered.as_secs_f64()
    ));
    let off = Instant::now();
    node.poweroff(Duration::from_secs(60));
    if !node.transcript.contains("hardware watchdog disarmed (magic close)") {
        node.fail("poweroff did not disarm the hardware watchdog");
    }
    if node.transcript.matches(BANNER).count() != 1 {
        node.fail("a second kernel banner after poweroff");
    }
    say(&format!(
        "hw_watchdog: child: poweroff took {:.1} s, qemu exited cleanly; {:.1} s in all",
        off.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
}
