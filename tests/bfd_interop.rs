//! BFD interop: vigil's BFD child against FRR 8.4's bfdd
//! (Debian's `frr`) in a two-node lab, IPv4 and IPv6 single hop, 100 ms intervals,
//! Detect Mult 3 on both sides (a 300 ms Detection Time).
//!
//! The session comes Up on both sides (vigil's log and `vigil status
//! --json`; bfdd's `show bfd peers json`); the BFD child is killed and the
//! parent restarts it, which takes the Up session over without a flap on
//! either side; FRR's peer is shut down (bfdd
//! sends AdminDown: vigil goes Down with "Neighbor Signaled Session Down")
//! and brought back; then bfdd is killed outright and vigil declares the
//! session Down on its own timer. The time from the kill to vigil's Down is
//! printed and bounded generously (it is the Detection Time plus up to one
//! of FRR's jittered intervals already elapsed, plus the log polling).

#[path = "frr/mod.rs"]
mod frr;
mod lab;

use lab::{DaemonHandle, Lab, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VIGIL_NODE: usize = 1;
const FRR_NODE: usize = 2;
/// FRR's and our intervals (ms) and multiplier.
const INTERVAL_MS: u64 = 100;
const MULT: u64 = 3;

fn ready() -> bool {
    let why = frr::can_run()
        .and_then(|_| if Path::new("/usr/lib/frr/bfdd").is_file() { Ok(()) } else { Err("FRR's bfdd is not installed (/usr/lib/frr/bfdd)".to_string()) });
    if let Err(why) = why {
        lab::skip("bfd_interop", &why);
        return false;
    }
    true
}

/// zebra + bfdd in a node, one peer, in the foreground with every path in `dir`.
struct Bfdd {
    dir: PathBuf,
    zebra: DaemonHandle,
    bfdd: DaemonHandle,
    /// `peer A [multihop] local-address B`, as configured.
    peer_line: String,
}

impl Bfdd {
    fn start(lab: &Lab, node: usize, local: &str, peer: &str) -> Result<Bfdd, String> {
        Bfdd::start_kind(lab, node, local, peer, false)
    }

    /// `multihop`: an RFC 5883 peer (UDP 4784; FRR sends TTL 255 and wants
    /// at least 254 by default, one router on the way).
    fn start_kind(lab: &Lab, node: usize, local: &str, peer: &str, multihop: bool) -> Result<Bfdd, String> {
        let peer_line = format!("peer {peer}{} local-address {local}", if multihop { " multihop" } else { "" });
        let dir = lab.node_dir(node).join("frr");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let d = dir.display();
        std::fs::write(dir.join("zebra.conf"), format!("log file {d}/zebra.log\n")).unwrap();
        std::fs::write(
            dir.join("bfdd.conf"),
            format!(
                "log file {d}/bfdd.log\nlog timestamp precision 3\ndebug bfd peer\ndebug bfd network\n!\nbfd\n {peer_line}\n  receive-interval {INTERVAL_MS}\n  transmit-interval {INTERVAL_MS}\n  detect-multiplier {MULT}\n !\n!\n"
            ),
        )
        .unwrap();
        let chown = lab::run_bounded(Command::new("chown").args(["-R", "frr:frr"]).arg(&dir), lab::EXEC_TIMEOUT).map_err(|e| format!("chown: {e}"))?;
        if !chown.status.success() {
            return Err("chown frr".into());
        }
        let common = |prog: &str, conf: &str, pid: &str| frr::daemon_argv(&dir, prog, conf, pid);
        let zebra = lab.spawn(node, common("zebra", "zebra.conf", "zebra.pid"));
        if !wait_until(Duration::from_secs(10), Duration::from_millis(20), || dir.join("zserv.api").exists() || !zebra.running()) || !zebra.running() {
            return Err(format!("zebra never opened zserv.api\n{}", zebra.log()));
        }
        let mut argv = common("bfdd", "bfdd.conf", "bfdd.pid");
        argv.extend(["--bfdctl".to_string(), format!("{d}/bfdd.sock")]);
        let bfdd = lab.spawn(node, argv);
        let b = Bfdd { dir, zebra, bfdd, peer_line };
        if !wait_until(Duration::from_secs(10), Duration::from_millis(50), || b.peer().is_ok() || !b.bfdd.running()) || b.peer().is_err() {
            return Err(format!("bfdd never answered vtysh\n{}\n{}", b.bfdd.log(), b.log()));
        }
        Ok(b)
    }

    fn vtysh(&self, cmds: &[&str]) -> Result<String, String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.dir);
        for x in cmds {
            assert!(!x.contains("write"), "never write FRR's config: {x}");
            c.arg("-c").arg(x);
        }
        let out = lab::run_bounded(&mut c, lab::EXEC_TIMEOUT).map_err(|e| format!("vtysh: {e}"))?;
        if !out.status.success() {
            return Err(format!("vtysh: {}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The one peer of `show bfd peers json`.
    fn peer(&self) -> Result<serde_json::Value, String> {
        let out = self.vtysh(&["show bfd peers json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        v.as_array().and_then(|a| a.first()).cloned().ok_or_else(|| format!("no peer in {out}"))
    }

    fn status(&self) -> String {
        self.peer().map(|p| p["status"].as_str().unwrap_or("?").to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("bfdd.log")).unwrap_or_default()).into_owned()
    }

    fn peer_shutdown(&self, on: bool) -> Result<String, String> {
        self.vtysh(&["configure terminal", "bfd", &self.peer_line, if on { "shutdown" } else { "no shutdown" }])
    }

    fn stop(&self) {
        for d in [&self.bfdd, &self.zebra] {
            if d.running() {
                d.kill(libc::SIGTERM);
                if d.wait(Duration::from_secs(5)).is_none() {
                    d.kill_group(libc::SIGKILL);
                    d.wait(Duration::from_secs(5));
                }
            }
        }
    }
}

impl Drop for Bfdd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- FRR bfdd.log -----\n{}", self.log());
        }
        self.stop();
    }
}

/// The daemon under test: $VIGIL_BIN (e.g. the musl release build), else
/// this build's.
fn daemon_bin() -> String {
    std::env::var("VIGIL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vigil").to_string())
}

/// vigil's view of session `name`: `vigil status --json`'s bfd entry.
fn vigil_session(control: &Path, name: &str) -> serde_json::Value {
    let out = lab::run_bounded(Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(control), lab::EXEC_TIMEOUT);
    let Ok(out) = out else {
        return serde_json::Value::Null;
    };
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    j["bfd"].as_array().and_then(|a| a.iter().find(|s| s["name"] == name)).cloned().unwrap_or(serde_json::Value::Null)
}

fn count(log: &str, pat: &str) -> usize {
    log.matches(pat).count()
}

#[test]
fn vigil_and_frr_bfdd_ipv4_single_hop() {
    if !ready() {
        return;
    }
    let lab = Lab::new("bfd4", 2);
    let (ours, theirs) = (lab::node_ip4(VIGIL_NODE).to_string(), lab::node_ip4(FRR_NODE).to_string());
    scenario(&lab, &ours, &theirs, "", true);
}

/// IPv6: keepalived's default hop limit is 64, which FRR (RFC 5881 §5)
/// discards on a single hop: the instance says `hoplimit 255`. The session
/// comes Up and a killed bfdd is detected.
#[test]
fn vigil_and_frr_bfdd_ipv6_single_hop() {
    if !ready() {
        return;
    }
    let lab = Lab::new("bfd6", 2);
    let (ours, theirs) = (lab::node_ip6(VIGIL_NODE).to_string(), lab::node_ip6(FRR_NODE).to_string());
    scenario(&lab, &ours, &theirs, "  hoplimit 255\n", false);
}

/// Up on both sides; with `full`, the BFD child's restart, the steady
/// state's allocations and FRR's peer shutdown too; then bfdd killed.
fn scenario(lab: &Lab, ours: &str, theirs: &str, extra: &str, full: bool) {
    let (ours, theirs) = (ours.to_string(), theirs.to_string());
    let frr = Bfdd::start(lab, FRR_NODE, &theirs, &ours).unwrap_or_else(|e| panic!("FRR: {e}"));

    let dir = lab.node_dir(VIGIL_NODE).join("vigil");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    let mut text = format!(
        "bfd_instance B1 {{\n  neighbor_ip {theirs}\n  source_ip {ours}\n  min_rx {INTERVAL_MS}\n  min_tx {INTERVAL_MS}\n  multiplier {MULT}\n{extra}}}\n"
    );
    if full {
        // A VRRP instance alone on its link (FRR runs no VRRP here), in
        // FAULT while B1 is not Up (track_bfd, weight 0), as keepalived.
        let mut v = lab::VrrpConf::new(VIGIL_NODE, 3, 100, "0.1", &["192.0.2.100/24"]);
        v.extra = "track_bfd {\n B1\n}".into();
        text += &v.render();
    }
    std::fs::write(&conf, text).unwrap();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let control = dir.join("control.sock");
    let mut argv = vec![daemon_bin(), "-n".into(), "-l".into(), "-D".into(), "-f".into(), p("keepalived.conf")];
    for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid")] {
        argv.push(flag.into());
        argv.push(p(file));
    }
    // -m: the children count their allocations (steady state checked below);
    // the hello every 200 ms brings the counts to the parent.
    argv.extend(["--control".into(), control.to_string_lossy().into_owned(), "-m".into(), "--watchdog-interval=200".into()]);
    let vigil = lab.spawn(VIGIL_NODE, argv);

    // Up on both sides.
    let up = vigil.wait_log("(B1) Entering Up state", Duration::from_secs(15));
    assert!(up, "vigil's session never came Up\n{}", vigil.log());
    assert!(wait_until(Duration::from_secs(10), Duration::from_millis(50), || frr.status() == "up"), "FRR's peer is {}", frr.status());
    assert!(Path::new(&p("bfd.pid")).is_file(), "no BFD pid file (-b)");
    // Both intervals negotiated: vigil's Detection Time is FRR's 100 ms x 3.
    let mut s = serde_json::Value::Null;
    let settled = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        s = vigil_session(&control, "B1");
        s["state"] == "Up" && s["detection_time_us"] == INTERVAL_MS * MULT * 1000
    });
    assert!(settled, "vigil status: {s}");
    let peer = frr.peer().unwrap();
    assert_eq!(s["remote_discriminator"].as_u64(), peer["local"].as_u64().or(peer["id"].as_u64()), "FRR's discriminator: {peer}\nvigil: {s}");
    eprintln!("up on both sides: vigil {s}\nFRR {peer}");
    // The same in the metrics and in `vigil status`'s table.
    let out = lab::run_bounded(Command::new(env!("CARGO_BIN_EXE_vigil")).args(["metrics", "--control"]).arg(&control), lab::EXEC_TIMEOUT).unwrap();
    let m = String::from_utf8_lossy(&out.stdout);
    let dst = s["neighbor"].as_str().unwrap_or("?");
    assert!(m.contains(&format!("vigil_bfd_state{{instance=\"B1\",neighbor=\"{dst}\"}} 3")), "{m}");
    assert!(m.contains(&format!("vigil_bfd_detection_time_seconds{{instance=\"B1\",neighbor=\"{dst}\"}} 0.3")), "{m}");
    let out = lab::run_bounded(Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--control"]).arg(&control), lab::EXEC_TIMEOUT).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BFD sessions") && text.lines().any(|l| l.contains("B1") && l.contains(" Up ") && l.contains("300.0")), "{text}");
    if full {
        // SIGUSR1: the BFD child writes keepalived's /tmp/keepalived_bfd.data (under its seccomp filter).
        let data = Path::new("/tmp/keepalived_bfd.data");
        let _ = std::fs::remove_file(data);
        vigil.kill(libc::SIGUSR1);
        let mut text = String::new();
        let written = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            text = std::fs::read_to_string(data).unwrap_or_default();
            text.contains("last_seen")
        });
        assert!(written, "no /tmp/keepalived_bfd.data\n{}", vigil.log());
        for want in [" BFD Instance = B1\n", "   local state = Up\n", "   remote state = Up\n", "   local detection time = 300000 us\n"] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let _ = std::fs::remove_file(data);
    }
    const FAULT: &str = "(VI_1) Entering FAULT STATE";
    const MASTER: &str = "(VI_1) Entering MASTER STATE";
    if full {
        // In FAULT until B1 came Up, then master (alone on its link).
        let log = vigil.log();
        let (fault_at, up_at) = (log.find(FAULT), log.find("(B1) Entering Up state"));
        assert!(fault_at.is_some() && fault_at < up_at, "VI_1 not in FAULT before B1 was Up\n{log}");
        assert!(vigil.wait_log(MASTER, Duration::from_secs(10)), "VI_1 never master after B1 Up\n{}", vigil.log());
    }

    let mut ups = 1;
    if full {
        // The parent supervises the BFD child as the others: killed, it is
        // restarted, and takes its Up session over from what the parent
        // kept (same discriminators, same source port): no flap on either side.
        let before = vigil_session(&control, "B1");
        let frr_changes = count(&frr.log(), "state-change");
        let bfd_pid: i32 = std::fs::read_to_string(p("bfd.pid")).unwrap().trim().parse().unwrap();
        // SAFETY: kill(2) of the BFD child this test's daemon started.
        unsafe { libc::kill(bfd_pid, libc::SIGKILL) };
        assert!(vigil.wait_log(&format!("bfd child {bfd_pid} killed by SIGKILL; restart 1"), Duration::from_secs(5)), "{}", vigil.log());
        assert!(vigil.wait_log("(B1) taken over Up from the previous BFD process", Duration::from_secs(5)), "{}", vigil.log());
        // Well past both Detection Times.
        std::thread::sleep(Duration::from_millis(1000));
        let after = vigil_session(&control, "B1");
        assert_eq!(after["state"], "Up", "{after}");
        for k in ["local", "local_discriminator", "remote_discriminator", "detection_time_us"] {
            assert_eq!(after[k], before[k], "{k}: before {before}\nafter {after}");
        }
        assert_eq!(count(&vigil.log(), "(B1) Entering"), 1, "the session flapped in vigil\n{}", vigil.log());
        assert_eq!(count(&frr.log(), "state-change"), frr_changes, "the session flapped in FRR:\n{}", frr.log());
        assert_eq!(frr.status(), "up");

        // Steady state allocates nothing in the BFD child (scheduler, reactor,
        // timers, sockets, watchdog answers): ~20 packets each way over 2 s.
        let allocs = || -> u64 {
            let out =
                lab::run_bounded(Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(&control), lab::EXEC_TIMEOUT).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let c = v["children"].as_array().and_then(|a| a.iter().find(|c| c["role"] == "bfd")).cloned().unwrap_or_default();
            // Answering the status query itself allocates, counted apart.
            c["mem"]["allocs"].as_u64().unwrap_or(0) - c["mem"]["on_request"].as_u64().unwrap_or(0)
        };
        std::thread::sleep(Duration::from_millis(1000));
        let (before, rx_before) = (allocs(), vigil_session(&control, "B1")["stats"]["rx"].as_u64().unwrap_or(0));
        std::thread::sleep(Duration::from_secs(2));
        let (after, rx_after) = (allocs(), vigil_session(&control, "B1")["stats"]["rx"].as_u64().unwrap_or(0));
        eprintln!("BFD child allocations over 2 s of Up: {before} -> {after} ({} packets received)", rx_after - rx_before);
        assert!(rx_after - rx_before >= 10, "too few packets to judge: {rx_before} -> {rx_after}");
        assert_eq!(before, after, "the BFD child allocated in steady state");

        // FRR shuts its peer down: it sends AdminDown (with diag 0, as FRR 8.4
        // does: tests/data/bfd/frr-bfdd.hex), and vigil goes Down with diag 3.
        frr.peer_shutdown(true).unwrap();
        let down = vigil.wait_log("(B1) Entering Down state (Local diagnostic - Neighbor Signaled Session Down", Duration::from_secs(5));
        assert!(down, "vigil did not see FRR's AdminDown\n{}", vigil.log());
        let s = vigil_session(&control, "B1");
        assert_eq!((&s["state"], &s["remote_state"]), (&"Down".into(), &"AdminDown".into()), "{s}");
        frr.peer_shutdown(false).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), Duration::from_millis(20), || count(&vigil.log(), "(B1) Entering Up state") >= 2),
            "not Up again after FRR's no shutdown\n{}",
            vigil.log()
        );
        assert!(wait_until(Duration::from_secs(10), Duration::from_millis(50), || frr.status() == "up"), "FRR's peer is {}", frr.status());
        ups = 2;
        // A neighbour's AdminDown is no connectivity failure (RFC 5880
        // 6.8.16): as keepalived, track_bfd is not told, and VI_1 stayed master.
        assert_eq!((count(&vigil.log(), FAULT), count(&vigil.log(), MASTER)), (1, 1), "VI_1 left MASTER for FRR's AdminDown\n{}", vigil.log());
    }
    assert_eq!(count(&vigil.log(), "(B1) Entering Up state"), ups, "{}", vigil.log());
    // Wait for the poll sequence to bring the fast intervals back in force.
    std::thread::sleep(Duration::from_millis(500));

    // bfdd dies: nothing more comes; vigil declares Down on its own.
    let killed = Instant::now();
    frr.bfdd.kill(libc::SIGKILL);
    let detected = wait_until(Duration::from_secs(5), Duration::from_millis(2), || vigil.log().contains("(B1) Expired after"));
    let took = killed.elapsed();
    assert!(detected, "vigil never declared the session down\n{}", vigil.log());
    let log = vigil.log();
    let expired = log.lines().find(|l| l.contains("(B1) Expired after")).unwrap_or("").to_string();
    assert!(log.contains("Entering Down state (Local diagnostic - Control Detection Time Expired"), "{log}");
    let detection = Duration::from_millis(INTERVAL_MS * MULT);
    eprintln!(
        "BFD figures ({}): Detection Time {} ms; kill -> vigil's Down seen {} ms (log polled every 2 ms); vigil says: {}",
        if theirs.contains(':') { "IPv6" } else { "IPv4" },
        detection.as_millis(),
        took.as_millis(),
        expired.trim()
    );
    assert!(took < detection * 3, "Down after {} ms, Detection Time {} ms", took.as_millis(), detection.as_millis());
    assert!(took + Duration::from_millis(20) >= detection - Duration::from_millis(INTERVAL_MS), "Down too early: {} ms", took.as_millis());
    let s = vigil_session(&control, "B1");
    assert_eq!(s["state"], "Down", "{s}");
    assert_eq!(s["remote_discriminator"], 0, "{s}");
    if full {
        // The VRRP instance follows the BFD session, not its own Master_Down_Interval.
        let faulted = wait_until(Duration::from_secs(2), Duration::from_millis(2), || count(&vigil.log(), FAULT) == 2);
        let took = killed.elapsed();
        assert!(faulted, "VI_1 not in FAULT after B1 expired\n{}", vigil.log());
        eprintln!("BFD figures: kill -> VI_1 in FAULT (track_bfd) seen {} ms", took.as_millis());
    }
    vigil.stop(Duration::from_secs(10));
    assert!(!Path::new(&p("bfd.pid")).exists(), "BFD pid file left behind");
}

/// vigil alone (no peer needed): -B runs no BFD child whatever the config
/// says; without it, a reload that brings the first bfd_instance starts the
/// BFD child, whose session (nobody answers) stays Down, sending at the slow rate.
#[test]
fn no_bfd_option_and_a_reload_that_brings_bfd() {
    if let Err(why) = lab::can_run() {
        lab::skip("bfd_interop", &why);
        return;
    }
    let lab = Lab::new("bfdrl", 1);
    let ours = lab::node_ip4(1).to_string();
    // bfd_priority: applied to the BFD child (nice -5 takes SYS_NICE).
    let bfd = format!("global_defs {{\n  bfd_priority -5\n}}\nbfd_instance B1 {{\n  neighbor_ip 192.0.2.9\n  source_ip {ours}\n}}\n");
    let start = |name: &str, text: &str, extra: &[&str]| -> (DaemonHandle, PathBuf) {
        let dir = lab.node_dir(1).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keepalived.conf"), text).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let mut argv = vec![daemon_bin(), "-n".into(), "-l".into(), "-f".into(), p("keepalived.conf")];
        for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid"), ("--control", "control.sock")] {
            argv.push(flag.into());
            argv.push(p(file));
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        (lab.spawn(1, argv), dir)
    };
    let children = |dir: &Path| -> Vec<String> {
        let out = lab::run_bounded(
            Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(dir.join("control.sock")),
            lab::EXEC_TIMEOUT,
        );
        let v: serde_json::Value = out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or_default();
        v["children"]
            .as_array()
            .map(|a| a.iter().map(|c| format!("{}:{}", c["role"].as_str().unwrap_or("?"), c["state"].as_str().unwrap_or("?"))).collect())
            .unwrap_or_default()
    };

    // -B: the config has a bfd_instance, no BFD child runs.
    let (d, dir) = start("nobfd", &bfd, &["-B"]);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || children(&dir) == ["vrrp:running", "check:running"]),
        "{:?}\n{}",
        children(&dir),
        d.log()
    );
    assert!(!d.log().contains("bfd child started"), "{}", d.log());
    d.stop(Duration::from_secs(10));

    // No bfd_instance: no BFD child; a reload that brings one starts it.
    let (d, dir) = start("reload", "", &[]);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || children(&dir) == ["vrrp:running", "check:running"]),
        "{:?}\n{}",
        children(&dir),
        d.log()
    );
    std::fs::write(dir.join("keepalived.conf"), &bfd).unwrap();
    d.kill(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || children(&dir) == ["vrrp:running", "check:running", "bfd:running"]),
        "{:?}\n{}",
        children(&dir),
        d.log()
    );
    let s = vigil_session(&dir.join("control.sock"), "B1");
    assert_eq!((&s["state"], &s["remote_discriminator"]), (&"Down".into(), &0.into()), "{s}");
    assert!(s["local"].as_str().unwrap_or("").starts_with(&format!("{ours}:")), "{s}");
    let port: u16 = s["local"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    assert!(port >= 49152, "source port {port} (RFC 5881: 49152-65535)");
    // Least privilege: the BFD child runs under its seccomp filter with only
    // the capabilities of bfd_priority / bfd_rt_priority / bfd_no_swap
    // (src/os/caps.rs: BFD), and without a script helper.
    let pid = std::fs::read_to_string(dir.join("bfd.pid")).unwrap().trim().to_string();
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| st.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or("?").trim().to_string();
    assert_eq!((field("Seccomp"), field("NoNewPrivs")), ("2".into(), "1".into()), "{st}");
    const NICE_AND_LOCK: u64 = 1 << 23 | 1 << 14;
    for (c, want) in [("CapEff", NICE_AND_LOCK), ("CapPrm", NICE_AND_LOCK), ("CapBnd", NICE_AND_LOCK), ("CapInh", 0), ("CapAmb", 0)] {
        assert_eq!(u64::from_str_radix(&field(c), 16).ok(), Some(want), "{c}:\n{st}");
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Field 19 (nice), counted after the parenthesised command name.
    let nice = stat.rsplit(')').next().unwrap_or("").split_whitespace().nth(16).unwrap_or("?");
    assert_eq!(nice, "-5", "bfd_priority not applied: {stat}");
    let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    assert!(kids.trim().is_empty(), "the BFD child has children: {kids}");
    d.stop(Duration::from_secs(10));
    assert!(!dir.join("bfd.pid").exists(), "BFD pid file left behind");
}

/// keepalived 2.2.7's own BFD (Debian's build has it) as the peer, 100 ms x 3:
/// Up on both sides; vigil's clean stop sends AdminDown, which keepalived
/// reads as the neighbour signalling Down; then keepalived killed outright is
/// detected by vigil's timer.
#[test]
fn vigil_and_keepalived_bfd_ipv4_single_hop() {
    keepalived_peer(false, false);
}

/// IPv6: both sides at keepalived's default hop limit, 64, checked as sent.
#[test]
fn vigil_and_keepalived_bfd_ipv6_single_hop() {
    keepalived_peer(true, false);
}

/// keepalived 2.2.7's multihop: the single-hop port across a router, the
/// TTL (64 on IPv6 by default) one lower on arrival, `max_hops 1` on both
/// sides (2.2.7 has no `multihop`, hence no RFC 5883 port).
#[test]
fn vigil_and_keepalived_bfd_ipv4_routed() {
    keepalived_peer(false, true);
}

#[test]
fn vigil_and_keepalived_bfd_ipv6_routed() {
    keepalived_peer(true, true);
}

fn keepalived_peer(v6: bool, routed_: bool) {
    if let Err(why) = lab::can_run() {
        lab::skip("bfd_interop", &why);
        return;
    }
    let Some(keepalived) = lab::find_keepalived() else {
        lab::skip("bfd_interop", "keepalived is not installed");
        return;
    };
    let tag = format!("bfdka{}{}", if v6 { 6 } else { 4 }, if routed_ { "r" } else { "" });
    let lab = Lab::new(&tag, if routed_ { 3 } else { 2 });
    let ka_node = if routed_ { 3 } else { 2 };
    let (a, b) = if routed_ {
        routed(&lab, v6)
    } else if v6 {
        (lab::node_ip6(1).to_string(), lab::node_ip6(2).to_string())
    } else {
        (lab::node_ip4(1).to_string(), lab::node_ip4(2).to_string())
    };
    let hops = if routed_ { "  max_hops 1\n" } else { "" };
    let conf = |peer: &str, src: &str| {
        format!("bfd_instance B1 {{\n  neighbor_ip {peer}\n  source_ip {src}\n  min_rx {INTERVAL_MS}\n  min_tx {INTERVAL_MS}\n  multiplier {MULT}\n{hops}}}\n")
    };
    let start = |node: usize, prog: String, text: String, extra: &[&str]| -> DaemonHandle {
        let dir = lab.node_dir(node).join("d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keepalived.conf"), text).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let mut argv = vec![prog, "-n".into(), "-l".into(), "-D".into(), "-f".into(), p("keepalived.conf")];
        for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid")] {
            argv.push(flag.into());
            argv.push(p(file));
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        lab.spawn(node, argv)
    };
    let ka = start(ka_node, keepalived.to_string_lossy().into_owned(), conf(&a, &b), &[]);
    let control = lab.node_dir(1).join("d").join("control.sock");
    let vigil = start(1, daemon_bin(), conf(&b, &a), &["--control", &control.to_string_lossy()]);
    let up = "(B1) Entering Up state";
    assert!(vigil.wait_log(up, Duration::from_secs(15)), "vigil never Up\n{}\n----- keepalived -----\n{}", vigil.log(), ka.log());
    assert!(ka.wait_log("(B1) Entering Up state", Duration::from_secs(5)), "keepalived never Up\n{}", ka.log());
    let mut s = serde_json::Value::Null;
    let settled = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        s = vigil_session(&control, "B1");
        s["state"] == "Up" && s["detection_time_us"] == INTERVAL_MS * MULT * 1000
    });
    assert!(settled, "vigil status: {s}");

    // vigil stops cleanly: AdminDown; keepalived goes Down with diag 3.
    vigil.stop(Duration::from_secs(10));
    assert!(
        ka.wait_log("(B1) Entering Down state (Local diagnostic - Neighbor Signaled Session Down", Duration::from_secs(3)),
        "keepalived did not read vigil's AdminDown\n{}",
        ka.log()
    );

    // A new vigil comes Up with keepalived again; keepalived dies outright.
    let vigil = start(1, daemon_bin(), conf(&b, &a), &["--control", &control.to_string_lossy()]);
    assert!(vigil.wait_log(up, Duration::from_secs(15)), "vigil never Up again\n{}\n----- keepalived -----\n{}", vigil.log(), ka.log());
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    ka.kill_group(libc::SIGKILL);
    let detected = wait_until(Duration::from_secs(5), Duration::from_millis(2), || vigil.log().contains("(B1) Expired after"));
    let took = killed.elapsed();
    assert!(detected, "vigil never declared the session down\n{}", vigil.log());
    let expired = vigil.log().lines().find(|l| l.contains("(B1) Expired after")).unwrap_or("").to_string();
    eprintln!("BFD figures (keepalived peer, {tag}): kill -> vigil's Down seen {} ms; vigil says: {}", took.as_millis(), expired.trim());
    assert!(took < Duration::from_millis(INTERVAL_MS * MULT * 3), "Down after {} ms", took.as_millis());
    vigil.stop(Duration::from_secs(10));
}

/// Three nodes, node 2 a router between node 1 (on br0) and node 3 (on br1):
/// node 1's address `a` and node 3's `c` sit on their loopbacks, and each
/// reaches the other only through node 2, which lowers the TTL by one and
/// is the first hop both ways on different links (so it sends no redirects).
fn routed(lab: &Lab, v6: bool) -> (String, String) {
    lab.add_link(1).unwrap_or_else(|e| panic!("{e}"));
    let run = |node: usize, argv: &[&str]| {
        let out = lab.exec(node, argv);
        assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(2, &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    let (a, c, r1, r3, n1, n3, plen) = if v6 {
        for n in [2, 3] {
            run(n, &["ip", "addr", "add", &format!("fd01::{n}/64"), "dev", "eth1", "nodad"]);
        }
        ("2001:db8:91::1", "2001:db8:93::3", "2001:db8::2", "fd01::2", "2001:db8::1", "fd01::3", "128")
    } else {
        ("10.91.0.1", "10.93.0.3", "192.0.2.2", "10.1.0.2", "192.0.2.1", "10.1.0.3", "32")
    };
    run(1, &["ip", "addr", "add", &format!("{a}/{plen}"), "dev", "lo"]);
    run(3, &["ip", "addr", "add", &format!("{c}/{plen}"), "dev", "lo"]);
    run(1, &["ip", "route", "add", c, "via", r1, "dev", "eth0"]);
    run(3, &["ip", "route", "add", a, "via", r3, "dev", "eth1"]);
    run(2, &["ip", "route", "add", a, "via", n1, "dev", "eth0"]);
    run(2, &["ip", "route", "add", c, "via", n3, "dev", "eth1"]);
    (a.to_string(), c.to_string())
}

#[test]
fn vigil_and_frr_bfdd_ipv4_multihop() {
    if ready() {
        multihop(false);
    }
}

#[test]
fn vigil_and_frr_bfdd_ipv6_multihop() {
    if ready() {
        multihop(true);
    }
}

/// RFC 5883 across a router (`multihop`, keepalived 2.2.8's keyword): vigil on
/// node 1, FRR's `peer A multihop local-address B` on node 3. Up on both
/// sides over UDP 4784; FRR's shutdown takes ours Down and back; `max_hops 0`
/// (reloaded) makes vigil discard FRR's packets, which arrive with 254, until
/// the session expires (the receive check at work), and `max_hops 1` brings
/// it back; vigil's clean stop takes FRR's session down.
fn multihop(v6: bool) {
    let lab = Lab::new(if v6 { "bfdmh6" } else { "bfdmh4" }, 3);
    let (ours, theirs) = routed(&lab, v6);
    let frr = Bfdd::start_kind(&lab, 3, &theirs, &ours, true).unwrap_or_else(|e| panic!("FRR: {e}"));
    let dir = lab.node_dir(VIGIL_NODE).join("vigil");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = |max_hops: u8| {
        format!(
            "bfd_instance B1 {{\n  neighbor_ip {theirs}\n  source_ip {ours}\n  multihop\n  max_hops {max_hops}\n  hoplimit 255\n  min_rx {INTERVAL_MS}\n  min_tx {INTERVAL_MS}\n  multiplier {MULT}\n}}\n"
        )
    };
    std::fs::write(dir.join("keepalived.conf"), conf(1)).unwrap();
    let control = dir.join("control.sock");
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let mut argv = vec![daemon_bin(), "-n".into(), "-l".into(), "-D".into(), "-f".into(), p("keepalived.conf")];
    for (flag, file) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "check.pid"), ("-b", "bfd.pid"), ("--control", "control.sock")] {
        argv.push(flag.into());
        argv.push(p(file));
    }
    let vigil = lab.spawn(VIGIL_NODE, argv);
    let ups = |n: usize| wait_until(Duration::from_secs(15), Duration::from_millis(20), || count(&vigil.log(), "(B1) Entering Up state") >= n);
    let frr_is = |want: &str| wait_until(Duration::from_secs(10), Duration::from_millis(50), || frr.status() == want);

    assert!(ups(1), "vigil's multihop session never came Up\n{}\n----- FRR -----\n{}", vigil.log(), frr.log());
    assert!(frr_is("up"), "FRR's peer is {}", frr.status());
    let peer = frr.peer().unwrap();
    assert_eq!((&peer["multihop"], &peer["minimum-ttl"]), (&true.into(), &254.into()), "{peer}");
    let mut s = serde_json::Value::Null;
    let settled = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        s = vigil_session(&control, "B1");
        s["state"] == "Up" && s["detection_time_us"] == INTERVAL_MS * MULT * 1000
    });
    assert!(settled, "vigil status: {s}");
    assert!(s["neighbor"].as_str().is_some_and(|n| n.ends_with(":4784")), "not to port 4784: {s}");
    assert_eq!(s["rx_bad_ttl"], 0, "{s}");
    eprintln!("multihop up on both sides: vigil {s}\nFRR {peer}");

    // FRR shuts its peer: ours goes Down (neighbour signalled), then Up again.
    frr.peer_shutdown(true).unwrap();
    let down = vigil.wait_log("(B1) Entering Down state (Local diagnostic - Neighbor Signaled Session Down", Duration::from_secs(5));
    assert!(down, "vigil did not see FRR's AdminDown\n{}", vigil.log());
    frr.peer_shutdown(false).unwrap();
    assert!(ups(2), "not Up again after FRR's no shutdown\n{}", vigil.log());
    assert!(frr_is("up"), "FRR's peer is {}", frr.status());

    // max_hops 0: FRR's packets (TTL 254 here) are now one hop too far.
    std::fs::write(dir.join("keepalived.conf"), conf(0)).unwrap();
    vigil.kill(libc::SIGHUP);
    assert!(vigil.wait_log("(B1) Expired after", Duration::from_secs(10)), "vigil kept taking packets from a router away\n{}", vigil.log());
    let s = vigil_session(&control, "B1");
    assert!(s["rx_bad_ttl"].as_u64().unwrap_or(0) > 0, "{s}");
    assert_ne!(s["state"], "Up", "{s}");
    std::fs::write(dir.join("keepalived.conf"), conf(1)).unwrap();
    vigil.kill(libc::SIGHUP);
    assert!(ups(3), "not Up again with max_hops 1\n{}", vigil.log());
    assert!(frr_is("up"), "FRR's peer is {}", frr.status());

    // vigil stops cleanly: AdminDown takes FRR's session down.
    vigil.stop(Duration::from_secs(10));
    assert!(frr_is("down"), "FRR's peer is {} after vigil's stop\n{}", frr.status(), frr.log());
}
