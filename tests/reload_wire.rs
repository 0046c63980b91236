//! Reload without a flap, measured on the wire: a
//! master and a backup in a namespace lab, the master reloaded (SIGHUP)
//! with (a) its instance unchanged, (b) a new priority, (c) a VIP list that
//! gains one address and loses another, (d) a new advert_int, (f) a
//! priority below the backup's, (e) a new VRID. The client namespace
//! captures the master's adverts (the lab's probe, an AF_PACKET socket):
//! the largest gap between them across the reload, the state changes both
//! nodes log, and the notify script's runs are counted.
//!
//! The same scenarios, configs and captures run with vigil on both nodes,
//! then with Debian's keepalived 2.2.7 on both; both sets of figures are
//! printed (the table in docs/figures.md, "Reload on the wire"):
//!
//! ```sh
//! cargo test --test reload_wire -- --nocapture
//! ```
//!
//! vigil's figures are asserted; keepalived's only where its behaviour is
//! certain (it keeps a master with an unchanged or raised priority master).

mod lab;

use lab::{Daemon, DaemonHandle, Kind, Lab, Probe};
use std::process::Command;
use std::time::{Duration, Instant};

/// The advert interval of the scenarios (VRRPv3, seconds).
const INTERVAL: Duration = Duration::from_millis(500);
/// Slack over one interval: scheduling on a loaded machine.
const SLACK: Duration = Duration::from_millis(150);
/// How long a reload is watched before and after the SIGHUP.
const BEFORE: Duration = Duration::from_millis(1500);
const AFTER: Duration = Duration::from_millis(2500);

#[derive(Clone)]
struct Inst {
    vrid: u8,
    priority: u8,
    advert_int: &'static str,
    vips: Vec<&'static str>,
    extra: String,
}

fn render(router_id: &str, i: &Inst) -> String {
    let mut s = format!(
        "global_defs {{\n    router_id {router_id}\n    vrrp_version 3\n}}\n\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {}\n    priority {}\n    advert_int {}\n",
        i.vrid, i.priority, i.advert_int
    );
    for l in i.extra.lines() {
        s += &format!("    {}\n", l.trim());
    }
    s += "    virtual_ipaddress {\n";
    for v in &i.vips {
        s += &format!("        {v}/24 dev eth0\n");
    }
    s + "    }\n}\n"
}

/// What one reload did, as seen on the wire and in the logs.
#[derive(Debug, Default, Clone)]
struct Figures {
    /// Largest gap between the master's adverts (VRID 51) around the reload.
    gap: Duration,
    /// "Entering ... STATE" lines each node logged after the reload.
    master_changes: usize,
    backup_changes: usize,
    /// Lines the master's notify script wrote after the reload.
    notifies: usize,
    /// Priorities the master advertised after the reload.
    priorities: Vec<u8>,
    /// (c): the added VIP present, the removed one gone, a GARP for the added one.
    added_vip: bool,
    removed_vip_gone: bool,
    garp_added: bool,
    /// (f): when the backup held the VIP, after the reload.
    takeover: Option<Duration>,
}

fn state_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains("Entering") && l.contains("STATE")).count()
}

/// vigil's own view: `vigil status --json` → VI_1's state.
fn vigil_state(d: &DaemonHandle) -> String {
    let out = lab::run_bounded(Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(d.control_socket()), lab::EXEC_TIMEOUT);
    let Ok(out) = out else { return "?".into() };
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    j["vrrp"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "VI_1"))
        .and_then(|i| i["state"].as_str())
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "?".into())
}

struct Pair<'a> {
    lab: &'a Lab,
    m: DaemonHandle,
    b: DaemonHandle,
    probe: Probe,
    probe_new: Probe,
    notify_out: std::path::PathBuf,
    generation: u64,
    vigil: bool,
}

impl Pair<'_> {
    /// The backup's config, reloaded; its own state must not change.
    fn reload_backup(&mut self, i: &Inst) {
        let blog = self.b.log().len();
        std::fs::write(self.b.conf_path(), render("r2", i)).unwrap();
        assert!(self.b.kill(libc::SIGHUP));
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(state_lines(&self.b.log()[blog..]), 0, "{}", self.b.log());
    }

    /// Writes `conf` as the master's config, SIGHUPs it, watches.
    fn reload(&mut self, i: &Inst, router_id: &str) -> Figures {
        let (mlog, blog) = (self.m.log().len(), self.b.log().len());
        let notified = std::fs::read_to_string(&self.notify_out).unwrap_or_default().lines().count();
        std::fs::write(self.m.conf_path(), render(router_id, i)).unwrap();
        std::thread::sleep(BEFORE);
        let t0 = Instant::now();
        assert!(self.m.kill(libc::SIGHUP));
        self.generation += 1;
        if self.vigil {
            let g = format!("config generation {}", self.generation);
            assert!(self.m.wait_log(&g, Duration::from_secs(5)), "no {g}\n{}", self.m.log());
        }
        let mut f = Figures::default();
        if i.priority < 100 {
            // (f): the backup, preempting, takes over by the protocol.
            if self.lab.wait_addr(2, "192.0.2.100", true, Duration::from_secs(6)) {
                f.takeover = Some(t0.elapsed());
            }
        }
        let end = t0 + AFTER;
        if let Some(rest) = end.checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
        let adverts: Vec<(Instant, u8)> = self
            .probe
            .events()
            .iter()
            .filter(|e| e.mac == self.lab.mac(1) && e.t + BEFORE >= t0 && e.t <= end)
            .filter_map(|e| match e.kind {
                Kind::Advert { vrid: 51, priority, .. } => Some((e.t, priority)),
                _ => None,
            })
            .collect();
        f.gap = adverts.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or(BEFORE + AFTER);
        f.priorities = adverts.iter().filter(|a| a.0 > t0).map(|a| a.1).collect();
        f.priorities.dedup();
        f.master_changes = state_lines(&self.m.log()[mlog..]);
        f.backup_changes = state_lines(&self.b.log()[blog..]);
        f.notifies = std::fs::read_to_string(&self.notify_out).unwrap_or_default().lines().count() - notified;
        f.added_vip = self.lab.has_addr(1, "192.0.2.102");
        f.removed_vip_gone = !self.lab.has_addr(1, "192.0.2.101");
        f.garp_added = self.probe_new.events().iter().any(|e| e.t >= t0 && e.mac == self.lab.mac(1) && e.kind == Kind::Garp);
        f
    }
}

/// Runs every scenario with `daemon` on both nodes; returns the figures by scenario.
fn scenarios(tag: &str, daemon: Daemon) -> Vec<(&'static str, Figures)> {
    let vigil = matches!(daemon, Daemon::Vigil(_));
    let lab = Lab::new(tag, 2);
    let dir = lab.node_dir(1);
    let notify_out = dir.join("notify.out");
    let script = dir.join("notify.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {}\n", notify_out.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let base = Inst { vrid: 51, priority: 150, advert_int: "0.5", vips: vec!["192.0.2.100", "192.0.2.101"], extra: format!("notify {}", script.display()) };
    let backup = Inst { priority: 100, extra: "skip_check_adv_addr".into(), ..base.clone() };
    let probe = lab.probe("192.0.2.100");
    let probe_new = lab.probe("192.0.2.102");
    let m = lab.start(1, daemon.clone(), &render("r1", &base));
    let b = lab.start(2, daemon.clone(), &render("r2", &backup));
    assert!(lab.wait_addr(1, "192.0.2.100", true, Duration::from_secs(10)), "{}", m.log());
    assert!(m.wait_log("Entering MASTER STATE", Duration::from_secs(5)), "{}", m.log());
    assert!(b.wait_log("Entering BACKUP STATE", Duration::from_secs(5)), "{}", b.log());
    let mut p = Pair { lab: &lab, m, b, probe, probe_new, notify_out, generation: 1, vigil };
    let mut out = Vec::new();
    let check_states = |p: &Pair, what: &str| {
        if p.vigil {
            assert_eq!((vigil_state(&p.m), vigil_state(&p.b)), ("MASTER".into(), "BACKUP".into()), "{what}\n{}\n{}", p.m.log(), p.b.log());
        }
    };
    // (a) The instance unchanged; something else (router_id) is not.
    out.push(("a unchanged", p.reload(&base, "r1b")));
    check_states(&p, "a");
    // (b) A higher priority.
    let b_ = Inst { priority: 170, ..base.clone() };
    out.push(("b priority 150->170", p.reload(&b_, "r1b")));
    check_states(&p, "b");
    // (c) VIPs: .101 goes, .102 comes.
    let c = Inst { vips: vec!["192.0.2.100", "192.0.2.102"], ..b_.clone() };
    out.push(("c VIPs +.102 -.101", p.reload(&c, "r1b")));
    check_states(&p, "c");
    // The backup follows (unmeasured): keepalived drops adverts from a new
    // master whose address list differs, which would spoil (f) and (e).
    p.reload_backup(&Inst { vips: c.vips.clone(), ..backup.clone() });
    check_states(&p, "c, backup reloaded");
    // (d) advert_int 0.5 -> 0.3.
    let d = Inst { advert_int: "0.3", ..c.clone() };
    out.push(("d advert_int 0.5->0.3", p.reload(&d, "r1b")));
    check_states(&p, "d");
    // (f) A priority below the backup's: the backup preempts.
    let f = Inst { priority: 90, ..d.clone() };
    out.push(("f priority 170->90", p.reload(&f, "r1b")));
    // Back to the top before (e).
    p.reload(&d, "r1b");
    assert!(lab.wait_addr(1, "192.0.2.100", true, Duration::from_secs(6)), "{}", p.m.log());
    std::thread::sleep(Duration::from_secs(1));
    // (e) A new VRID: a new election.
    let e = Inst { vrid: 52, ..d.clone() };
    out.push(("e VRID 51->52", p.reload(&e, "r1b")));
    if std::env::var_os("RELOAD_WIRE_LOGS").is_some() {
        eprintln!("--- {tag} master ---\n{}\n--- {tag} backup ---\n{}", p.m.log(), p.b.log());
    }
    if !vigil {
        return out;
    }
    for (name, f) in &out {
        let logs = format!("{name}: {f:?}\n--- master ---\n{}\n--- backup ---\n{}", p.m.log(), p.b.log());
        match name.as_bytes()[0] {
            b'a' | b'b' | b'c' | b'd' => {
                let bound = INTERVAL + SLACK;
                assert!(f.gap < bound, "largest advert gap {:?} >= {bound:?}: {logs}", f.gap);
                assert_eq!((f.master_changes, f.backup_changes, f.notifies), (0, 0, 0), "{logs}");
            }
            b'f' => {
                assert!(f.takeover.is_some_and(|t| t < Duration::from_secs(4)), "{logs}");
                assert!(f.gap < INTERVAL + SLACK, "the master paused before it was preempted: {logs}");
            }
            _ => {
                assert!(f.master_changes >= 2 && f.backup_changes >= 1, "a VRID change re-elects: {logs}");
            }
        }
    }
    let (b_, c_) = (&out[1].1, &out[2].1);
    assert_eq!(b_.priorities, vec![170], "{b_:?}");
    assert!(c_.added_vip && c_.removed_vip_gone && c_.garp_added, "{c_:?}\n{}", p.m.log());
    assert!(p.m.log().contains("kept as master across the reload"), "{}", p.m.log());
    out
}

fn print(who: &str, figs: &[(&str, Figures)]) {
    eprintln!("\nreload on the wire, {who} (VRRPv3, advert_int 0.5 s; master n1 prio 150, backup n2 prio 100):");
    eprintln!("  {:<24} {:>9} {:>8} {:>8} {:>7}  other", "scenario", "max gap", "master", "backup", "notify");
    for (name, f) in figs {
        let other = match name.as_bytes()[0] {
            b'b' | b'e' => format!("priorities after: {:?}", f.priorities),
            b'c' => format!("added VIP present {}, removed gone {}, GARP for it {}", f.added_vip, f.removed_vip_gone, f.garp_added),
            _ if f.takeover.is_some() => format!("backup took over after {:?} ms, priorities after: {:?}", f.takeover.map(|t| t.as_millis()), f.priorities),
            _ => String::new(),
        };
        eprintln!("  {:<24} {:>6} ms {:>8} {:>8} {:>7}  {other}", name, f.gap.as_millis(), f.master_changes, f.backup_changes, f.notifies);
    }
}

#[test]
fn reload_keeps_state_and_adverts_vigil_and_keepalived() {
    if !lab::ready("reload_keeps_state_and_adverts_vigil_and_keepalived") {
        return;
    }
    let v = scenarios("rwv", lab::vigil());
    print("vigil", &v);
    if lab::find_keepalived().is_none() {
        lab::skip("reload_keeps_state_and_adverts (keepalived half)", "keepalived is not installed");
        return;
    }
    let k = scenarios("rwk", Daemon::Keepalived);
    print("keepalived 2.2.7", &k);
    // Certain of keepalived: an unchanged instance and a raised priority
    // keep the master master, and the backup backup.
    for (name, f) in &k[..2] {
        assert_eq!((f.master_changes, f.backup_changes), (0, 0), "keepalived, {name}: {f:?}");
    }
}
