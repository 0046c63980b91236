//! A seeded, deterministic generator of keepalived.conf files that combine the model's axes,
//! for comparing vigil with keepalived 2.2.7 (tests/config_diff.rs):
//!
//! - LVS: virtual server by address / fwmark / `virtual_server_group` (addresses, a range, a
//!   fwmark, or a mix); lb_kind NAT / DR / TUN and a per-real-server `lvs_method`; real-server
//!   port absent / equal to the service's / different; `inhibit_on_failure` (service or real
//!   server); a sorry server with or without a port, or equal to a real server; every checker
//!   kind (TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK, MISC_CHECK, DNS_CHECK, UDP_CHECK,
//!   PING_CHECK, FILE_CHECK).
//! - VRRP: v2 / v3, unicast, `use_vmac`, tracking of every kind (track_interface,
//!   track_script, track_file with `track_file` or `vrrp_track_file` blocks, track_process),
//!   sync groups (with their own tracking and notify scripts).
//! - Scripts by path through symlinked directories (/bin on merged-/usr Debian, and a
//!   directory link in a temp tree), secure or not, present or not, with and without
//!   `enable_script_security`.
//!
//! BFD has its own generator (tests/config_bfd.rs), so that adding it changed none of the files
//! (and figures) of these seeds.
//!
//! The same seed gives the same files (the temp tree's path, which the files name, is the
//! only thing that changes between runs).
#![allow(dead_code)]

use crate::diff::lvs::{LB_KINDS, RS_PORTS, VS_KINDS, VsSpec};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

/// xorshift64, as in tests/config_corpus.rs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread small seeds, and never 0 (a fixed point of xorshift).
        Rng((seed ^ 0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// Scripts on disk for the generated files to name: `real/` (root, 0755) holds an
/// executable script and a non-executable one, `link` is a symlink to `real`, and `open/`
/// is world-writable without the sticky bit (so its script is insecure). Removed on drop.
pub struct ScriptTree {
    pub root: PathBuf,
}

impl ScriptTree {
    pub fn create(tag: &str) -> std::io::Result<ScriptTree> {
        let root = std::env::temp_dir().join(format!("vigil-diff-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let tree = ScriptTree { root };
        let r = &tree.root;
        std::fs::create_dir_all(r.join("real"))?;
        std::fs::create_dir_all(r.join("open"))?;
        for (d, mode) in [(r.clone(), 0o755), (r.join("real"), 0o755), (r.join("open"), 0o777)] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))?;
        }
        for (f, mode) in [("real/check.sh", 0o755), ("real/noexec.sh", 0o644), ("open/check.sh", 0o755)] {
            std::fs::write(r.join(f), "#!/bin/sh\nexit 0\n")?;
            std::fs::set_permissions(r.join(f), std::fs::Permissions::from_mode(mode))?;
        }
        std::fs::write(r.join("state"), "0\n")?;
        std::os::unix::fs::symlink(r.join("real"), r.join("link"))?;
        // A link to a secure script, a link to the insecure directory, and a link to a secure
        // script that lives in the insecure directory: keepalived resolves the path
        // (realpath) before it checks who may write each component.
        std::os::unix::fs::symlink("check.sh", r.join("real/alias.sh"))?;
        std::os::unix::fs::symlink(r.join("open"), r.join("linkopen"))?;
        std::os::unix::fs::symlink(r.join("real/check.sh"), r.join("open/alias.sh"))?;
        Ok(tree)
    }

    pub fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

impl Drop for ScriptTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// One generated configuration, with the axes it took (for grouping and for the report).
pub struct Case {
    pub text: String,
    pub axes: Vec<String>,
}

/// Where a script lives, as its own axis value.
fn script(rng: &mut Rng, tree: &ScriptTree, axes: &mut Vec<String>) -> String {
    let (tag, path) = match rng.below(23) {
        0..=3 => ("bin-symlink", "/bin/true".to_string()),
        4..=5 => ("bin-symlink-args", "\"/bin/sh -c true\"".to_string()),
        6..=7 => ("usr-bin", "/usr/bin/true".to_string()),
        8..=11 => ("tree-link", tree.path("link/check.sh")),
        12..=13 => ("tree-link-args", format!("\"{} arg\"", tree.path("link/check.sh"))),
        14..=15 => ("tree-real", tree.path("real/check.sh")),
        16 => ("tree-open-dir", tree.path("open/check.sh")),
        17 => ("tree-noexec", tree.path("real/noexec.sh")),
        18 => ("tree-file-symlink", tree.path("link/alias.sh")),
        19 => ("tree-link-to-open-dir", tree.path("linkopen/check.sh")),
        20 => ("tree-symlink-in-open-dir", tree.path("open/alias.sh")),
        _ => ("missing", "/nonexistent/check.sh".to_string()),
    };
    axes.push(format!("script:{tag}"));
    path
}

pub const CHECKERS: [&str; 9] =
    ["TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK"];

/// A checker block for a real server; `port` is the real server's port (None: absent).
fn checker(kind: &str, rng: &mut Rng, tree: &ScriptTree, port: Option<u16>, track_files: &[String], axes: &mut Vec<String>) -> String {
    // Without a real-server port, a connecting checker needs connect_port; leave it out now
    // and then (keepalived judges that too).
    let cport = if port.is_none() && rng.chance(75) { "connect_port 80\n" } else { "" };
    let body = match kind {
        "TCP_CHECK" => {
            let more = match rng.below(6) {
                0 => "warmup 5\n",
                1 => "delay_before_retry 2\nretry 3\n",
                2 => "bindto 10.200.0.1\n",
                _ => "",
            };
            format!("{cport}connect_timeout 3\n{more}")
        }
        "HTTP_GET" => format!("url {{\npath /health\nstatus_code 200\n}}\n{cport}connect_timeout 3\nretry 2\n"),
        "SSL_GET" => format!("url {{\npath /\ndigest 9b3a0c85a887a256d6939da88aabd8cd\n}}\n{cport}"),
        "SMTP_CHECK" => format!("helo_name mail.example.com\n{cport}connect_timeout 5\n"),
        "MISC_CHECK" => {
            let dynamic = if rng.chance(30) { "misc_dynamic\n" } else { "" };
            format!("misc_path {}\nmisc_timeout 5\n{dynamic}", script(rng, tree, axes))
        }
        "DNS_CHECK" => format!("type A\nname example.com\n{cport}"),
        "UDP_CHECK" => format!("{cport}payload 0001\nrequire_reply 0002\n"),
        "PING_CHECK" => String::new(),
        _ => match track_files.first() {
            Some(f) => format!("track_file {f}\n"),
            None => "track_file NOSUCHFILE\n".to_string(),
        },
    };
    let mut s = format!("{kind} {{\n");
    let mut depth = 1;
    for l in body.lines() {
        if l == "}" {
            depth -= 1;
        }
        let _ = writeln!(s, "{}{l}", "    ".repeat(depth));
        if l.ends_with('{') {
            depth += 1;
        }
    }
    s.push('}');
    s
}

/// A random virtual server.
fn random_vs(n: u32, rng: &mut Rng, tree: &ScriptTree, track_files: &[String], axes: &mut Vec<String>) -> VsSpec {
    let kind = *rng.pick(&VS_KINDS);
    let lb_kind = *rng.pick(&LB_KINDS);
    let rs_port = *rng.pick(&RS_PORTS);
    let members = *rng.pick(&["addresses", "range", "fwmark", "mixed"]);
    let inhibit = rng.chance(30);
    let sorry = match rng.below(6) {
        0 => Some("port"),
        1 => Some("noport"),
        2 => Some("equal-rs"),
        _ => None,
    };
    let mut real = Vec::new();
    let mut udp = false;
    let port = match rs_port {
        "equal" => Some(VsSpec::PORT),
        "different" => Some(8080),
        _ => None,
    };
    for i in 0..1 + rng.below(3) {
        let method = rng.chance(15).then(|| *rng.pick(&LB_KINDS));
        let check = if rng.chance(80) {
            let c = *rng.pick(&CHECKERS);
            udp |= matches!(c, "UDP_CHECK" | "DNS_CHECK");
            axes.push(format!("checker:{c}"));
            Some(checker(c, rng, tree, port, track_files, axes))
        } else {
            None
        };
        if let Some(m) = method {
            axes.push(format!("lvs_method:{m}"));
        }
        real.push((format!("10.2.{n}.{}", 1 + i), method, check));
    }
    // fwmark services take no protocol (keepalived warns and ignores it); now and then one
    // has it anyway.
    let protocol = if kind == "fwmark" && !rng.chance(10) {
        None
    } else if udp || rng.chance(15) {
        Some("UDP")
    } else {
        Some("TCP")
    };
    let mut extra = Vec::new();
    if rng.chance(20) {
        extra.push("persistence_timeout 300".to_string());
        if rng.chance(30) {
            extra.push("persistence_granularity 255.255.255.0".to_string());
        }
    }
    // Further service settings, now and then (each its own axis).
    for (pct, line) in [(8, "ha_suspend"), (8, "alpha"), (8, "omega"), (6, "ops"), (6, "virtualhost www.example.com")] {
        if rng.chance(pct) {
            axes.push(format!("vs:{}", line.split(' ').next().unwrap_or(line)));
            extra.push(line.to_string());
        }
    }
    if rng.chance(15) {
        extra.push("quorum 2".to_string());
        if rng.chance(50) {
            extra.push("hysteresis 1".to_string());
        }
    }
    let mut after_sorry = Vec::new();
    if sorry.is_some() && rng.chance(30) {
        let l = "sorry_server_inhibit".to_string();
        if rng.chance(80) { after_sorry.push(l) } else { extra.push(l) }
    }
    if sorry.is_some() && rng.chance(20) {
        let l = format!("sorry_server_lvs_method {}", rng.pick(&LB_KINDS));
        if rng.chance(80) { after_sorry.push(l) } else { extra.push(l) }
    }
    if rng.chance(15) {
        extra.push(format!("quorum_up {}", script(rng, tree, axes)));
    }
    let lb_algo = *rng.pick(&["rr", "wrr", "lc", "wlc", "sh"]);
    axes.push(format!("vs:{kind}"));
    if kind == "group" {
        axes.push(format!("group:{members}"));
    }
    axes.push(format!("lb_kind:{lb_kind}"));
    axes.push(format!("rs_port:{rs_port}"));
    if inhibit {
        axes.push("inhibit_on_failure".into());
    }
    if let Some(s) = sorry {
        axes.push(format!("sorry:{s}"));
    }
    let spec = VsSpec { n, kind, members, lb_kind, rs_port, inhibit, sorry, real, extra, after_sorry, protocol, lb_algo, delay_loop: 6 };
    spec
}

/// A random configuration: global_defs, tracking objects, 0-3 VRRP instances (maybe a sync
/// group), 0-3 virtual servers; never empty of both.
pub fn generate(seed: u64, index: u64, tree: &ScriptTree) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01b3) ^ index.wrapping_mul(0x9e37_79b9));
    for _ in 0..4 {
        rng.next();
    }
    let mut axes = Vec::new();
    let mut c = String::new();

    // global_defs and script security.
    let security = rng.chance(70);
    c += &format!("global_defs {{\n    router_id diff{index}\n");
    if security {
        c += "    enable_script_security\n";
        axes.push("enable_script_security".into());
        if rng.chance(90) {
            c += "    script_user root\n";
        } else {
            axes.push("no_script_user".into());
        }
    }
    if rng.chance(8) {
        axes.push("smtp_server".into());
        c += "    smtp_server 127.0.0.1\n    notification_email {\n        root@localhost\n    }\n";
    }
    if rng.chance(6) {
        axes.push("notify_fifo".into());
        c += &format!("    notify_fifo {}\n", tree.path("fifo"));
    }
    let strict = rng.chance(5);
    if strict {
        c += "    vrrp_strict\n";
        axes.push("vrrp_strict".into());
    }
    let global_v3 = rng.chance(15);
    if global_v3 {
        c += "    vrrp_version 3\n";
        axes.push("vrrp_version3:global".into());
    }
    c += "}\n";

    let (n_inst, n_vs) = match rng.below(10) {
        0..=2 => (1 + rng.below(3), 0),
        3..=5 => (0, 1 + rng.below(3)),
        _ => (1 + rng.below(2), 1 + rng.below(2)),
    };

    // Tracking objects, defined before use (names referenced below).
    let mut scripts = Vec::new();
    let mut files = Vec::new();
    let mut procs = Vec::new();
    let want_scripts = n_inst > 0 && rng.chance(45);
    if want_scripts {
        for k in 0..1 + rng.below(2) {
            let name = format!("S{k}");
            let path = script(&mut rng, tree, &mut axes);
            c += &format!("vrrp_script {name} {{\n    script {path}\n    interval {}\n", 1 + rng.below(5));
            if rng.chance(50) {
                c += &format!("    weight {}\n", [-20i32, -5, 10][rng.below(3) as usize]);
            }
            if rng.chance(30) {
                c += "    rise 2\n    fall 2\n";
            }
            c += "}\n";
            scripts.push(name);
        }
    }
    let want_files = rng.chance(30);
    if want_files {
        let kw = if rng.chance(50) { "track_file" } else { "vrrp_track_file" };
        axes.push(format!("{kw}:block"));
        let f = if rng.chance(80) { tree.path("state") } else { "/nonexistent/state".into() };
        c += &format!("{kw} F0 {{\n    file {f}\n");
        if rng.chance(50) {
            c += "    weight 10\n";
        }
        c += "}\n";
        files.push("F0".to_string());
    }
    if n_inst > 0 && rng.chance(25) {
        axes.push("vrrp_track_process".into());
        c += &format!("vrrp_track_process P0 {{\n    process {}\n", rng.pick(&["init", "sshd", "keepalived"]));
        if rng.chance(50) {
            c += "    weight 10\n";
        }
        if rng.chance(30) {
            c += "    quorum 1\n";
        }
        c += "}\n";
        procs.push("P0".to_string());
    }

    // VRRP instances.
    let mut names = Vec::new();
    for k in 0..n_inst {
        let name = format!("VI_{k}");
        let v3 = global_v3 || rng.chance(40);
        let iface = *rng.pick(&["eth0", "eth0", "eth2", "eth1"]);
        let master = rng.chance(50);
        c += &format!(
            "vrrp_instance {name} {{\n    state {}\n    interface {iface}\n    virtual_router_id {}\n",
            if master { "MASTER" } else { "BACKUP" },
            10 + k
        );
        if rng.chance(90) {
            c += &format!("    priority {}\n", if master { 150 } else { 100 });
        }
        if v3 && !global_v3 {
            c += "    version 3\n";
            axes.push("vrrp:v3".into());
        } else if !v3 {
            axes.push("vrrp:v2".into());
        }
        c += &format!("    advert_int {}\n", if v3 && rng.chance(50) { "0.5" } else { "1" });
        if !v3 && rng.chance(30) {
            c += "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n";
            axes.push("auth:PASS".into());
        }
        if !master && rng.chance(20) {
            c += "    nopreempt\n";
        }
        if rng.chance(10) {
            axes.push("preempt_delay".into());
            c += "    preempt_delay 5\n";
        }
        for (pct, line) in [(8, "dont_track_primary"), (6, "accept"), (6, "no_accept"), (6, "smtp_alert")] {
            if rng.chance(pct) {
                axes.push(format!("vrrp:{line}"));
                c += &format!("    {line}\n");
            }
        }
        if rng.chance(10) {
            axes.push("garp".into());
            c += "    garp_master_delay 2\n    garp_master_refresh 60\n";
        }
        if rng.chance(30) {
            axes.push("unicast".into());
            c += &format!("    unicast_src_ip 192.168.{k}.1\n    unicast_peer {{\n        192.168.{k}.2\n    }}\n");
        }
        if rng.chance(25) {
            axes.push("use_vmac".into());
            c += &if rng.chance(50) { format!("    use_vmac vrrp{k}\n") } else { "    use_vmac\n".into() };
            if rng.chance(50) {
                c += "    vmac_xmit_base\n";
            }
        }
        c += &format!("    virtual_ipaddress {{\n        10.200.{k}.1/24\n");
        if rng.chance(20) {
            c += &format!("        10.200.{k}.2/24 dev eth3\n");
        }
        if v3 && rng.chance(15) {
            axes.push("vip:ipv6".into());
            c += &format!("        2001:db8:{k}::1/64\n");
        }
        c += "    }\n";
        if rng.chance(10) {
            axes.push("virtual_routes".into());
            c += &format!("    virtual_routes {{\n        10.201.{k}.0/24 via 10.200.{k}.254 dev {iface}\n    }}\n");
        }
        if rng.chance(30) {
            axes.push("track_interface".into());
            c += &format!("    track_interface {{\n        eth{}{}\n    }}\n", 1 + rng.below(3), if rng.chance(50) { " weight -10" } else { "" });
        }
        if !scripts.is_empty() && rng.chance(80) {
            axes.push("track_script".into());
            c += &format!("    track_script {{\n        {}\n    }}\n", rng.pick(&scripts));
        }
        if !files.is_empty() && rng.chance(70) {
            axes.push("track_file".into());
            c += &format!("    track_file {{\n        {}{}\n    }}\n", files[0], if rng.chance(30) { " weight 5" } else { "" });
        }
        if !procs.is_empty() && rng.chance(80) {
            axes.push("track_process".into());
            c += &format!("    track_process {{\n        {}\n    }}\n", procs[0]);
        }
        if rng.chance(35) {
            let kw = *rng.pick(&["notify_master", "notify_backup", "notify"]);
            c += &format!("    {kw} {}\n", script(&mut rng, tree, &mut axes));
        }
        c += "}\n";
        names.push(name);
    }
    if names.len() >= 2 && rng.chance(50) {
        axes.push("sync_group".into());
        c += &format!("vrrp_sync_group G0 {{\n    group {{\n        {}\n    }}\n", names.join("\n        "));
        if rng.chance(30) {
            c += "    track_interface {\n        eth3\n    }\n";
        }
        if !scripts.is_empty() && rng.chance(30) {
            c += &format!("    track_script {{\n        {}\n    }}\n", scripts[0]);
        }
        if rng.chance(30) {
            c += &format!("    notify_master {}\n", script(&mut rng, tree, &mut axes));
        }
        c += "}\n";
    }

    // Virtual servers.
    for n in 0..n_vs {
        random_vs(n as u32, &mut rng, tree, &files, &mut axes).emit(&mut c);
    }
    axes.sort();
    axes.dedup();
    Case { text: c, axes }
}
