//! FRR 8.4's vrrpd as a VRRPv3 peer in a lab node, following the recipe in
//! LAB-NOTES.md: zebra + vrrpd in the foreground with every path explicit
//! (a directory owned by user `frr`), a macvlan we create ourselves with the
//! virtual MAC and the VIP, state read with `vtysh --vty_socket DIR`.
//! Nothing touches /etc/frr and no `write memory` is ever issued.
//!
//! Also a tiny pcap reader/writer and a VRRPv3 (IPv4) decoder, independent
//! of vigil's own codec, for the captures and the fixtures.
#![allow(dead_code)]

use crate::lab::{self, DaemonHandle, Lab};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const VRID: u8 = 51;
/// The IPv4 virtual MAC of VRID 51.
pub const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
pub const MACVLAN: &str = "vrrp4-2-51";

/// Why FRR can't run here, if it can't.
pub fn can_run() -> Result<(), String> {
    lab::can_run()?;
    for p in ["/usr/lib/frr/zebra", "/usr/lib/frr/vrrpd"] {
        if !Path::new(p).is_file() {
            return Err(format!("FRR is not installed ({p} missing)"));
        }
    }
    if which("vtysh").is_none() {
        return Err("vtysh is not installed".into());
    }
    let ok = lab::run_bounded(Command::new("id").arg("frr"), lab::EXEC_TIMEOUT).map(|o| o.status.success());
    if ok.ok() != Some(true) {
        return Err("no user `frr`".into());
    }
    // The host's own FRR must not run: its zebra would not be ours.
    if let Ok(o) = lab::run_bounded(Command::new("pgrep").args(["-x", "zebra"]), lab::EXEC_TIMEOUT) {
        let host: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter(|p| !in_lab_netns(p))
            .map(String::from)
            .collect();
        if !host.is_empty() {
            return Err(format!("a host zebra is running (pids {host:?}); stop the host's frr service"));
        }
    }
    Ok(())
}

fn in_lab_netns(pid: &str) -> bool {
    // Zebras started by other lab tests run in `vl-*` namespaces; `ip netns identify` names them.
    lab::run_bounded(Command::new("ip").args(["netns", "identify", pid]), lab::EXEC_TIMEOUT)
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().starts_with("vl-"))
        .unwrap_or(false)
}

/// An FRR daemon's argv in the foreground with every path in `dir`: its vty
/// socket, zebra's zserv.api, config `conf` and pid file `pid` (no vty port).
/// bfdd also wants `--bfdctl DIR/bfdd.sock`, added by its caller.
pub fn daemon_argv(dir: &Path, prog: &str, conf: &str, pid: &str) -> Vec<String> {
    let d = dir.display();
    let s = |p: &str| format!("{d}/{p}");
    vec![
        format!("/usr/lib/frr/{prog}"),
        "--vty_socket".into(),
        d.to_string(),
        "-z".into(),
        s("zserv.api"),
        "-P".into(),
        "0".into(),
        "-f".into(),
        s(conf),
        "-i".into(),
        s(pid),
    ]
}

pub fn which(prog: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(prog)).find(|p| p.is_file())
}

fn ok(out: std::process::Output, what: &str) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{what}: {}{}", String::from_utf8_lossy(&out.stderr).trim(), String::from_utf8_lossy(&out.stdout).trim()))
    }
}

/// zebra + vrrpd in one lab node, VRID 51, VRRPv3, 100 ms adverts.
pub struct Frr<'a> {
    lab: &'a Lab,
    pub node: usize,
    pub dir: PathBuf,
    pub zebra: DaemonHandle,
    pub vrrpd: DaemonHandle,
}

impl<'a> Frr<'a> {
    pub fn start(lab: &'a Lab, node: usize, priority: u8, vip: &str) -> Result<Frr<'a>, String> {
        let x = |argv: &[&str]| ok(lab.exec(node, argv), &argv.join(" "));
        // The macvlan (vrrpd never creates it, nor adds the VIP): bridge mode,
        // addrgenmode separately (combined with `add` it fails), virtual MAC.
        x(&["ip", "link", "add", MACVLAN, "link", "eth0", "type", "macvlan", "mode", "bridge"])?;
        x(&["ip", "link", "set", "dev", MACVLAN, "addrgenmode", "random"])?;
        x(&["ip", "link", "set", "dev", MACVLAN, "address", &lab::fmt_mac(&VMAC)])?;
        x(&["ip", "addr", "add", &format!("{vip}/24"), "dev", MACVLAN])?;
        x(&["ip", "link", "set", "dev", MACVLAN, "up"])?;

        let dir = lab.node_dir(node).join("frr");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let d = dir.display();
        std::fs::write(dir.join("zebra.conf"), format!("log file {d}/zebra.log\n")).unwrap();
        std::fs::write(
            dir.join("vrrpd.conf"),
            format!(
                "log file {d}/vrrpd.log\n\
                 log timestamp precision 3\n\
                 debug vrrp protocol\n\
                 debug vrrp packets\n\
                 debug vrrp zebra\n\
                 !\n\
                 interface eth0\n \
                 vrrp {VRID} version 3\n \
                 vrrp {VRID} priority {priority}\n \
                 vrrp {VRID} advertisement-interval 100\n \
                 vrrp {VRID} ip {vip}\n\
                 !\n"
            ),
        )
        .unwrap();
        let chown = lab::run_bounded(Command::new("chown").args(["-R", "frr:frr"]).arg(&dir), lab::EXEC_TIMEOUT)
            .map_err(|e| format!("chown: {e}"))?;
        ok(chown, "chown frr")?;

        let argv = |prog: &str, conf: &str, pid: &str| daemon_argv(&dir, prog, conf, pid);
        let zebra = lab.spawn(node, argv("zebra", "zebra.conf", "zebra.pid"));
        let end = Instant::now() + Duration::from_secs(10);
        while !dir.join("zserv.api").exists() {
            if Instant::now() > end || !zebra.running() {
                return Err(format!("zebra never opened zserv.api\n{}", zebra.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let vrrpd = lab.spawn(node, argv("vrrpd", "vrrpd.conf", "vrrpd.pid"));
        let frr = Frr { lab, node, dir, zebra, vrrpd };
        // Ready when vtysh answers with our VRID.
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if frr.show().is_ok() {
                return Ok(frr);
            }
            if Instant::now() > end || !frr.vrrpd.running() {
                return Err(format!("vrrpd never answered vtysh\n{}\n{}", frr.vrrpd.log(), frr.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `vtysh --vty_socket DIR -c ...` (read-only commands and the VRID's
    /// shutdown; never `write memory`).
    pub fn vtysh(&self, cmds: &[&str]) -> Result<String, String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.dir);
        for x in cmds {
            assert!(!x.contains("write"), "never write FRR's config: {x}");
            c.arg("-c").arg(x);
        }
        ok(lab::run_bounded(&mut c, lab::EXEC_TIMEOUT).map_err(|e| format!("vtysh: {e}"))?, "vtysh")
    }

    /// `show vrrp interface eth0 51 json`, the one router's object.
    pub fn show(&self) -> Result<serde_json::Value, String> {
        let out = self.vtysh(&[&format!("show vrrp interface eth0 {VRID} json")])?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        v.as_array()
            .and_then(|a| a.iter().find(|r| r["vrid"].as_u64() == Some(VRID as u64)))
            .cloned()
            .ok_or_else(|| format!("no VRID {VRID} in {out}"))
    }

    /// The IPv4 router's status: "Initialize", "Backup" or "Master".
    pub fn state(&self) -> String {
        match self.show() {
            Ok(v) => v["v4"]["status"].as_str().unwrap_or("?").to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    pub fn wait_state(&self, want: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.state() == want {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The graceful stop: the VRID's `shutdown` (a master sends priority 0).
    pub fn shutdown_vrid(&self) -> Result<String, String> {
        self.vtysh(&["configure terminal", "interface eth0", &format!("vrrp {VRID} shutdown")])
    }

    /// vrrpd's log file (debug vrrp protocol/packets/zebra).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("vrrpd.log")).unwrap_or_default()).into_owned()
    }

    pub fn wait_log(&self, pattern: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.log().contains(pattern) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines of vrrpd's log where it complains about something it received
    /// or could not do (for failure messages and the report).
    pub fn complaints(&self) -> Vec<String> {
        const WORDS: [&str; 10] =
            ["discard", "invalid", "mismatch", "error", "bad", "fail", "drop", "ignor", "does not match", "refus"];
        self.log()
            .lines()
            // Start-up noise while zebra reports interfaces, and the unused IPv6 router.
            .filter(|l| !l.contains("Refusing to start Virtual Router") && !l.contains("[IPv6]"))
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                WORDS.iter().any(|w| l.contains(w))
            })
            .map(String::from)
            .collect()
    }

    /// Lines of vrrpd's log that record state changes.
    pub fn transitions(&self) -> Vec<String> {
        self.log().lines().filter(|l| l.contains("->")).map(String::from).collect()
    }

    /// The macvlan's (up, protodown) as the kernel reports them.
    pub fn macvlan(&self) -> (bool, bool) {
        let out = self.lab.exec(self.node, &["ip", "-j", "-d", "link", "show", "dev", MACVLAN]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let l = &v[0];
        let up = l["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP"))
            && l["operstate"].as_str().is_some_and(|s| s != "DOWN");
        (up, l["proto_down"].as_bool().unwrap_or(false))
    }

    /// The VIP is on the macvlan, and the macvlan is up and not protodown:
    /// FRR's node answers for the VIP.
    pub fn holds(&self, vip: &str) -> bool {
        let (up, pd) = self.macvlan();
        up && !pd && self.lab.has_addr(self.node, vip)
    }

    /// SIGTERM to vrrpd then zebra, bounded; the lab SIGKILLs leftovers.
    pub fn stop(&self) {
        for d in [&self.vrrpd, &self.zebra] {
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

impl Drop for Frr<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- FRR vrrpd.log (n{}) -----\n{}", self.node, self.log());
        }
        self.stop();
    }
}

/// tcpdump of VRRP (IP proto 112) on a node's eth0, stopped by PID.
pub struct Capture {
    pub file: PathBuf,
    h: DaemonHandle,
}

impl Capture {
    pub fn start(lab: &Lab, node: usize, name: &str) -> Result<Capture, String> {
        let tcpdump = which("tcpdump").ok_or("tcpdump is not installed")?;
        let file = lab.node_dir(node).join(name);
        let h = lab.spawn(
            node,
            vec![
                tcpdump.to_string_lossy().into_owned(),
                "-i".into(),
                "eth0".into(),
                "-n".into(),
                "-U".into(),
                "--immediate-mode".into(),
                "-Z".into(),
                "root".into(),
                "-w".into(),
                file.to_string_lossy().into_owned(),
                "proto".into(),
                "112".into(),
            ],
        );
        if !h.wait_log("listening on", Duration::from_secs(5)) {
            return Err(format!("tcpdump did not start: {}", h.log()));
        }
        Ok(Capture { file, h })
    }

    /// SIGINT (tcpdump flushes and exits), bounded; returns the records.
    pub fn stop(&self) -> Vec<Record> {
        if self.h.running() {
            // Let the last frames on the wire reach the file.
            std::thread::sleep(Duration::from_millis(300));
            self.h.kill(libc::SIGINT);
            if self.h.wait(Duration::from_secs(5)).is_none() {
                self.h.kill_group(libc::SIGKILL);
                self.h.wait(Duration::from_secs(5));
            }
        }
        read_pcap(&self.file).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- pcap -----------------------------------------------------------------

/// One captured frame with its pcap record header.
#[derive(Clone, Debug)]
pub struct Record {
    pub ts_sec: u32,
    pub ts_frac: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Reads a classic pcap file (either byte order, µs or ns stamps).
pub fn read_pcap(path: &Path) -> Result<Vec<Record>, String> {
    let d = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if d.len() < 24 {
        return Err("short pcap".into());
    }
    let le = match u32::from_le_bytes(d[0..4].try_into().unwrap()) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(format!("not a pcap: magic {m:#x}")),
    };
    let u = |at: usize| {
        let a: [u8; 4] = d[at..at + 4].try_into().unwrap();
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    if u(20) != 1 {
        return Err(format!("link type {} is not Ethernet", u(20)));
    }
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let incl = u(at + 8) as usize;
        if at + 16 + incl > d.len() {
            break;
        }
        out.push(Record { ts_sec: u(at), ts_frac: u(at + 4), orig_len: u(at + 12), data: d[at + 16..at + 16 + incl].to_vec() });
        at += 16 + incl;
    }
    Ok(out)
}

/// Writes records as a little-endian µs pcap, Ethernet link type.
pub fn write_pcap(path: &Path, recs: &[Record]) -> std::io::Result<()> {
    let mut v = Vec::new();
    for x in [0xa1b2_c3d4u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    for x in [0u32, 0, 262144, 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    for r in recs {
        for x in [r.ts_sec, r.ts_frac, r.data.len() as u32, r.orig_len] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&r.data);
    }
    std::fs::write(path, v)
}

// ---- VRRPv3 over IPv4, decoded independently of vigil's codec -------------

#[derive(Clone, Debug, PartialEq)]
pub struct Advert {
    pub src_mac: [u8; 6],
    pub src_ip: [u8; 4],
    pub ttl: u8,
    pub version: u8,
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Max Adver Int in centiseconds.
    pub interval_cs: u16,
    pub addrs: Vec<[u8; 4]>,
    /// The checksum verifies with the IPv4 pseudo-header (RFC 5798 5.2.8).
    pub checksum_ok: bool,
}

fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(b: &[u8]) -> u32 {
    b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum()
}

/// Decodes an Ethernet frame carrying a VRRPv3 IPv4 advert.
pub fn decode(f: &[u8]) -> Option<Advert> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    if ip[0] >> 4 != 4 || ip[9] != 112 {
        return None;
    }
    let ihl = (ip[0] & 0xf) as usize * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let v = ip.get(ihl..total)?;
    if v.len() < 8 {
        return None;
    }
    let count = v[3] as usize;
    let addrs: Vec<[u8; 4]> = (0..count).filter_map(|i| v.get(8 + 4 * i..12 + 4 * i)?.try_into().ok()).collect();
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.extend_from_slice(&[0, 112]);
    pseudo.extend_from_slice(&(v.len() as u16).to_be_bytes());
    let checksum_ok = fold(sum16(&pseudo) + sum16(v)) == 0;
    Some(Advert {
        src_mac: f[6..12].try_into().ok()?,
        src_ip: ip[12..16].try_into().ok()?,
        ttl: ip[8],
        version: v[0] >> 4,
        kind: v[0] & 0xf,
        vrid: v[1],
        priority: v[2],
        interval_cs: u16::from_be_bytes([v[4], v[5]]) & 0x0fff,
        addrs,
        checksum_ok,
    })
}

/// Picks, in capture order, the first record matching each predicate.
pub fn pick(recs: &[Record], wants: &[&dyn Fn(&Advert) -> bool]) -> Vec<Record> {
    let mut out = Vec::new();
    for w in wants {
        if let Some(r) = recs.iter().find(|r| decode(&r.data).is_some_and(|a| w(&a))) {
            out.push(r.clone());
        }
    }
    out.sort_by_key(|r| (r.ts_sec, r.ts_frac));
    out
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frr")
}
