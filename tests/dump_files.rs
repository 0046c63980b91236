//! keepalived's dump files and signals, vigil beside Debian's keepalived
//! 2.2.7: the same two-instance config (IPv4 in a sync group with
//! a vrrp_script, IPv6 VRRPv3) on a master and a backup node, each daemon's
//! parent sent DATA, STATS and JSON as the Prometheus exporters send them,
//! and the files read with the exporters' own parsing rules
//! (mehdy/keepalived-exporter's internal/collector/parser.go, ported below).
//! Also: `--signum` against `keepalived --signum`, STATS_CLEAR, the 2.3
//! json_version 2 layout, and that a reader never sees half a file.
//!
//! /tmp/keepalived.* are shared paths: the runs are sequential under a lock
//! file, and the files are removed at the end.

mod lab;

use lab::{Daemon, Lab};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const DATA: &str = "/tmp/keepalived.data";
const STATS: &str = "/tmp/keepalived.stats";
const JSON: &str = "/tmp/keepalived.json";
const SIGJSON: i32 = 36;
const SIGSTATS_CLEAR: i32 = 63;

fn config(node: usize, prio: u8, master: bool) -> String {
    let state = if master { "MASTER" } else { "BACKUP" };
    format!(
        "global_defs {{\n    router_id dump_n{node}\n}}\n\
         vrrp_script chk {{\n    script \"/bin/true\"\n    interval 1\n}}\n\
         vrrp_sync_group G1 {{\n    group {{\n        VI_1\n    }}\n}}\n\
         vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    virtual_router_id 51\n    priority {prio}\n    advert_int 1\n    \
         virtual_ipaddress {{\n        192.0.2.100/32\n    }}\n    track_script {{\n        chk\n    }}\n}}\n\
         vrrp_instance VI_6 {{\n    state {state}\n    interface eth0\n    virtual_router_id 52\n    priority {prio}\n    advert_int 1\n    \
         virtual_ipaddress {{\n        2001:db8::100/128\n    }}\n}}\n"
    )
}

/// Serializes the runs of this file's tests (and of any other process
/// taking the same lock) over the shared /tmp/keepalived.* paths.
struct DumpLock(#[allow(dead_code)] std::fs::File);

impl DumpLock {
    fn take() -> DumpLock {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open("/tmp/vigil-dump-files.lock").unwrap();
        use std::os::fd::AsRawFd;
        let end = Instant::now() + Duration::from_secs(300);
        // SAFETY: flock on an fd we own; LOCK_NB so the wait stays bounded.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            assert!(Instant::now() < end, "dump lock held for 300 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        clean();
        DumpLock(f)
    }
}

impl Drop for DumpLock {
    fn drop(&mut self) {
        clean();
    }
}

fn clean() {
    for f in [DATA, STATS, JSON, "/tmp/keepalived_parent.data"] {
        let _ = std::fs::remove_file(f);
    }
}

/// Sends `sig` to the daemon's parent (its pid file, as exporters read it)
/// and returns `file` once written. keepalived writes in place, so a file
/// counts as written once its size has held for 300 ms.
fn signal_and_read(dir: &Path, sig: i32, file: &str) -> String {
    let _ = std::fs::remove_file(file);
    let pid: i32 = std::fs::read_to_string(dir.join("main.pid")).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) to the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    let end = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    loop {
        let len = std::fs::metadata(file).ok().map(|m| m.len());
        if len.is_some() && len == last {
            return std::fs::read_to_string(file).unwrap();
        }
        assert!(Instant::now() < end, "{file} not written within 10 s after signal {sig}");
        last = len;
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What the exporter takes from keepalived.data for one instance.
#[derive(Debug, Default, PartialEq, Eq)]
struct VrrpData {
    state: String,
    wantstate: String,
    intf: String,
    garp_delay: u32,
    vrid: u32,
    vips: Vec<String>,
}

/// mehdy/keepalived-exporter's ParseVRRPData, rule for rule.
fn parse_data(text: &str) -> BTreeMap<String, VrrpData> {
    let mut data: BTreeMap<String, VrrpData> = BTreeMap::new();
    let mut instance = String::new();
    let mut key = String::new();
    let mut val: String;
    for l in text.lines() {
        if l.starts_with(" VRRP Instance") && l.contains('=') {
            instance = l.trim().split('=').nth(1).unwrap().trim().to_string();
            data.insert(instance.clone(), VrrpData::default());
        } else if l.starts_with("   ") && !instance.is_empty() {
            if l.starts_with("     ") {
                val = l.trim().to_string();
            } else {
                let args: Vec<&str> = if l.contains('=') {
                    l.trim().split('=').collect()
                } else if l.contains(':') {
                    l.trim().split(':').collect()
                } else {
                    continue;
                };
                key = args[0].trim().to_string();
                if key == "Virtual IP" {
                    continue;
                }
                val = args[1].trim().to_string();
            }
            let d = data.get_mut(&instance).unwrap();
            if (key.starts_with("Virtual IP (") || key == "Virtual IP") && !val.is_empty() {
                d.vips.push(val.clone());
            }
            match key.as_str() {
                "State" => d.state = val.clone(),
                "Wantstate" => d.wantstate = val.clone(),
                "Interface" | "Listening device" => d.intf = val.clone(),
                "Gratuitous ARP delay" => d.garp_delay = val.parse().expect("garp delay"),
                "Virtual Router ID" => d.vrid = val.parse().expect("vrid"),
                _ => {}
            }
        } else if l.starts_with(" VRRP Version") || l.starts_with(" VRRP Script") {
            continue;
        } else {
            instance.clear();
        }
    }
    data
}

/// The exporter's ParseVRRPScript: name -> (Status, State).
fn parse_scripts(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut name = String::new();
    let mut cur = (String::new(), String::new());
    for l in text.lines() {
        if l.starts_with(" VRRP Script") && l.contains('=') {
            if !name.is_empty() {
                out.insert(std::mem::take(&mut name), std::mem::take(&mut cur));
            }
            name = l.trim().split('=').nth(1).unwrap().trim().to_string();
        } else if l.starts_with("   ") && !name.is_empty() {
            let Some((k, v)) = l.trim().split_once('=') else { continue };
            match k.trim() {
                "Status" => cur.0 = v.trim().to_string(),
                "State" => cur.1 = v.trim().to_string(),
                _ => {}
            }
        } else if !l.starts_with("    ") && !name.is_empty() {
            out.insert(std::mem::take(&mut name), std::mem::take(&mut cur));
        }
    }
    if !name.is_empty() {
        out.insert(name, cur);
    }
    out
}

/// The exporter's ParseStats: instance -> "Section/Key" -> value; every
/// value must be an integer (the exporter fails the scrape otherwise).
fn parse_stats(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let (mut instance, mut section) = (String::new(), String::new());
    for l in text.lines() {
        if l.starts_with("VRRP Instance") && l.contains(':') {
            instance = l.trim().split(':').nth(1).unwrap().trim().to_string();
            out.insert(instance.clone(), BTreeMap::new());
        } else if l.starts_with("  ") && l.ends_with(':') {
            section = l.trim().trim_end_matches(':').trim().to_string();
        } else if l.starts_with("    ") && !section.is_empty() {
            let (k, v) = l.trim().split_once(':').unwrap();
            let v: u64 = v.trim().parse().unwrap_or_else(|_| panic!("stats value {l:?}"));
            out.get_mut(&instance).unwrap().insert(format!("{section}/{}", k.trim()), v);
        } else if l.starts_with("  ") && !l.starts_with("    ") {
            let (k, v) = l.trim().split_once(':').unwrap();
            section.clear();
            let v: u64 = v.trim().parse().unwrap_or_else(|_| panic!("stats value {l:?}"));
            out.get_mut(&instance).unwrap().insert(k.trim().to_string(), v);
        }
    }
    out
}

/// Per instance name: the key sets of "data" and "stats".
fn json_keys(v: &serde_json::Value) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    v.as_array()
        .expect("json_version 1 is an array")
        .iter()
        .map(|i| {
            let keys = |o: &serde_json::Value| o.as_object().expect("object").keys().cloned().collect::<BTreeSet<_>>();
            (i["data"]["iname"].as_str().unwrap().to_string(), (keys(&i["data"]), keys(&i["stats"])))
        })
        .collect()
}

struct Dumps {
    data: String,
    stats: String,
    json: serde_json::Value,
}

fn collect(dir: &Path) -> Dumps {
    let data = signal_and_read(dir, libc::SIGUSR1, DATA);
    let stats = signal_and_read(dir, libc::SIGUSR2, STATS);
    let json = signal_and_read(dir, SIGJSON, JSON);
    let json = serde_json::from_str(&json).unwrap_or_else(|e| panic!("keepalived.json: {e}\n{json}"));
    Dumps { data, stats, json }
}

/// Starts `d` on both nodes, waits for the master to hold both VIPs and
/// the backup to settle, and collects each node's dumps.
fn run(lab: &Lab, d: Daemon) -> (Dumps, Dumps) {
    let m = lab.start(1, d.clone(), &config(1, 150, true));
    let b = lab.start(2, d.clone(), &config(2, 100, false));
    assert!(lab.wait_addr(1, "192.0.2.100", true, Duration::from_secs(15)), "{}", m.log());
    assert!(lab.wait_addr(1, "2001:db8::100", true, Duration::from_secs(15)), "{}", m.log());
    // A few adverts each way, and the script run.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!lab.has_addr(2, "192.0.2.100"), "the backup holds the VIP\n{}", b.log());
    let md = collect(m.dir());
    let bd = collect(b.dir());
    m.stop(Duration::from_secs(10));
    b.stop(Duration::from_secs(10));
    (md, bd)
}

fn compare(what: &str, ka: &Dumps, vg: &Dumps) {
    let (kd, vd) = (parse_data(&ka.data), parse_data(&vg.data));
    assert_eq!(kd.keys().collect::<Vec<_>>(), vec!["VI_1", "VI_6"], "{what}: keepalived's instances\n{}", ka.data);
    assert_eq!(vd, kd, "{what}: keepalived.data as the exporter reads it\n--- vigil ---\n{}\n--- keepalived ---\n{}", vg.data, ka.data);
    assert_eq!(parse_scripts(&vg.data), parse_scripts(&ka.data), "{what}: VRRP Scripts\n{}", vg.data);
    // Every section of keepalived's file is in ours, in the same order.
    let sections = |t: &str| t.lines().filter(|l| l.starts_with("------<")).map(String::from).collect::<Vec<_>>();
    assert_eq!(sections(&vg.data), sections(&ka.data), "{what}: sections");
    // The instance blocks have keepalived's keys, in its order.
    let keys = |t: &str| {
        t.lines()
            .skip_while(|l| !l.starts_with("------< VRRP Topology"))
            .take_while(|l| !l.starts_with("------< VRRP Sockpool"))
            .filter(|l| l.starts_with("   ") && !l.starts_with("     "))
            .map(|l| l.split(['=', ':']).next().unwrap().trim().to_string())
            .filter(|k| !k.starts_with("fd_in"))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&vg.data), keys(&ka.data), "{what}: instance keys\n--- vigil ---\n{}\n--- keepalived ---\n{}", vg.data, ka.data);

    let (ks, vs) = (parse_stats(&ka.stats), parse_stats(&vg.stats));
    assert_eq!(vs.keys().collect::<Vec<_>>(), ks.keys().collect::<Vec<_>>(), "{what}: stats instances");
    for (name, k) in &ks {
        let v = &vs[name];
        assert_eq!(v.keys().collect::<Vec<_>>(), k.keys().collect::<Vec<_>>(), "{what}: stats keys of {name}");
        // Plausible values: the same role on the wire.
        assert_eq!(v["Became master"], k["Became master"], "{what}: {name} Became master\n{}\n{}", vg.stats, ka.stats);
        assert_eq!(v["Advertisements/Sent"] > 0, k["Advertisements/Sent"] > 0, "{what}: {name} sent\n{}\n{}", vg.stats, ka.stats);
        assert_eq!(v["Advertisements/Received"] > 0, k["Advertisements/Received"] > 0, "{what}: {name} received\n{}\n{}", vg.stats, ka.stats);
    }
    assert_eq!(json_keys(&vg.json), json_keys(&ka.json), "{what}: JSON keys\n{}\n{}", vg.json, ka.json);
    for (v, k) in vg.json.as_array().unwrap().iter().zip(ka.json.as_array().unwrap()) {
        for f in ["iname", "ifp_ifname", "vrid", "base_priority", "state", "wantstate", "version", "vips", "vipset", "garp_delay", "adver_int"] {
            assert_eq!(v["data"][f], k["data"][f], "{what}: JSON data.{f}\n{}\n{}", vg.json, ka.json);
        }
    }
}

#[test]
fn vigil_writes_the_files_keepalived_writes() {
    if !lab::ready("vigil_writes_the_files_keepalived_writes") {
        return;
    }
    if lab::find_keepalived().is_none() {
        lab::skip("vigil_writes_the_files_keepalived_writes", "keepalived is not installed");
        return;
    }
    let _lock = DumpLock::take();
    let lab = Lab::new("dump", 2);
    let (ka_m, ka_b) = run(&lab, Daemon::Keepalived);
    let (vg_m, vg_b) = run(&lab, lab::vigil());
    if std::env::var_os("VIGIL_DUMP_SHOW").is_some() {
        // Both backups' files side by side, for a person to diff.
        let out = std::path::PathBuf::from(std::env::var_os("VIGIL_DUMP_SHOW").unwrap());
        for (n, d) in [("keepalived-master", &ka_m), ("vigil-master", &vg_m), ("keepalived-backup", &ka_b), ("vigil-backup", &vg_b)] {
            let _ = std::fs::write(out.join(format!("{n}.data")), &d.data);
            let _ = std::fs::write(out.join(format!("{n}.stats")), &d.stats);
            let _ = std::fs::write(out.join(format!("{n}.json")), serde_json::to_string_pretty(&d.json).unwrap_or_default());
        }
    }
    compare("master", &ka_m, &vg_m);
    compare("backup", &ka_b, &vg_b);
    let m = parse_data(&vg_m.data);
    assert_eq!(m["VI_1"].state, "MASTER");
    assert_eq!(m["VI_6"].vips, vec!["2001:db8::100 dev eth0 scope global deprecated set"]);
    assert_eq!(parse_data(&vg_b.data)["VI_1"].state, "BACKUP");
}

/// STATS_CLEAR, json_version 2, and whole files under a reader that keeps
/// reading while the signals keep coming.
#[test]
fn stats_clear_json_v2_and_whole_files() {
    if !lab::ready("stats_clear_json_v2_and_whole_files") {
        return;
    }
    let _lock = DumpLock::take();
    let lab = Lab::new("dumpv2", 1);
    let dir = lab.node_dir(1).join("v2");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config(1, 150, true)).unwrap();
    let mut argv = lab::vigil().argv(&dir, &conf);
    argv.push("--json-version=2".into());
    let d = lab.spawn(1, argv);
    assert!(lab.wait_addr(1, "192.0.2.100", true, Duration::from_secs(15)), "{}", d.log());
    std::thread::sleep(Duration::from_secs(3));

    // json_version 2: {"vrrp": [ {data, stats}... ]}, 2.3's number forms.
    let v: serde_json::Value = serde_json::from_str(&signal_and_read(&dir, SIGJSON, JSON)).unwrap();
    let vrrp = v["vrrp"].as_array().expect("json_version 2 has the instances under \"vrrp\"");
    assert_eq!(vrrp.len(), 2);
    assert_eq!(vrrp[0]["data"]["iname"], "VI_1");
    assert!(vrrp[0]["stats"]["advert_sent"].as_u64().unwrap() > 0);
    assert!(vrrp[0]["data"]["adver_int"].is_number());

    // STATS_CLEAR: the file shows the counters, then they start again.
    let before = parse_stats(&signal_and_read(&dir, SIGSTATS_CLEAR, STATS));
    assert!(before["VI_1"]["Advertisements/Sent"] >= 2, "{before:?}");
    assert_eq!(before["VI_1"]["Became master"], 1);
    let after = parse_stats(&signal_and_read(&dir, libc::SIGUSR2, STATS));
    assert!(after["VI_1"]["Advertisements/Sent"] < before["VI_1"]["Advertisements/Sent"], "{before:?} {after:?}");
    assert_eq!(after["VI_1"]["Became master"], 0);
    // The file is keepalived's mode.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(STATS).unwrap().permissions().mode() & 0o777, 0o600);

    // A reader never sees half a file while JSON and DATA keep coming.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut json_reads, mut data_reads) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(t) = std::fs::read_to_string(JSON) {
                    serde_json::from_str::<serde_json::Value>(&t).unwrap_or_else(|e| panic!("half a JSON file ({e}): {t:?}"));
                    json_reads += 1;
                }
                if let Ok(t) = std::fs::read_to_string(DATA) {
                    assert!(t.starts_with("------< Global definitions >------\n") && t.contains("------< Interfaces >------"), "half a data file: {t:?}");
                    assert!(t.ends_with('\n'), "half a data file: {t:?}");
                    data_reads += 1;
                }
            }
            (json_reads, data_reads)
        })
    };
    let pid: i32 = std::fs::read_to_string(dir.join("main.pid")).unwrap().trim().parse().unwrap();
    for _ in 0..100 {
        // SAFETY: kill(2) to the daemon this test started.
        unsafe {
            libc::kill(pid, SIGJSON);
            libc::kill(pid, libc::SIGUSR1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (j, dd) = reader.join().expect("the reader saw half a file");
    assert!(j > 10 && dd > 10, "reads: {j} JSON, {dd} data");
    assert!(d.running(), "vigil died under the signals\n{}", d.log());
    d.stop(Duration::from_secs(10));
}

#[test]
fn signum_prints_what_keepalived_prints() {
    let Some(ka) = lab::find_keepalived() else {
        lab::skip("signum_prints_what_keepalived_prints", "keepalived is not installed");
        return;
    };
    let vigil = env!("CARGO_BIN_EXE_vigil");
    for name in ["STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON", "TDATA", "json", "stop", "foo"] {
        let arg = format!("--signum={name}");
        let k = std::process::Command::new(&ka).arg(&arg).output().unwrap();
        let v = std::process::Command::new(vigil).arg(&arg).output().unwrap();
        assert_eq!(v.status.code(), k.status.code(), "{arg}: exit code");
        assert_eq!(String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&k.stdout), "{arg}: stdout");
        assert_eq!(String::from_utf8_lossy(&v.stderr), String::from_utf8_lossy(&k.stderr), "{arg}: stderr");
    }
    // The separate-word form, and --signum answering before the rest of argv.
    for args in [&["--signum", "JSON"][..], &["-n", "--signum=DATA", "-l"][..]] {
        let k = std::process::Command::new(&ka).args(args).output().unwrap();
        let v = std::process::Command::new(vigil).args(args).output().unwrap();
        assert_eq!((v.status.code(), v.stdout), (k.status.code(), k.stdout), "{args:?}");
    }
}
