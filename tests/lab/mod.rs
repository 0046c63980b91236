//! The VRRP lab: a switch namespace with a bridge, node namespaces n1..nN and
//! a client namespace, all on this machine; daemons started inside the nodes;
//! a probe in the client that watches which MAC answers for a VIP.
//!
//! Used with `mod lab;` (or `#[path = "lab/mod.rs"] mod lab;`) from tests.
//!
//! Layout (names are per lab: `vl-PID-SEQ-TAG-{sw,n1,..,cl}`):
//!
//! ```text
//!   nI:  eth0 192.0.2.I/24, 2001:db8::I/64, MAC 02:00:5e:10:00:I ──┐
//!   cl:  eth0 192.0.2.200/24, 2001:db8::200/64, MAC 02:00:5e:10:00:c8 ─┤ veth
//!   sw:  br0 (STP off, multicast snooping off), ports p-nI and p-cl ──┘
//! ```
//!
//! Drop kills every daemon the lab started (and anything else still running
//! inside its namespaces), then deletes the namespaces and the temp dir.
#![allow(dead_code)]

pub mod daemon;
pub mod probe;

#[allow(unused_imports)]
pub use daemon::{Daemon, DaemonHandle, VrrpConf, find_keepalived, vigil_bin};
#[allow(unused_imports)]
pub use probe::{Event, Kind, Mac, Probe, Timeline, fmt_mac};

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Node number of the client namespace in the helpers that take a node.
pub const CLIENT: usize = 0;
/// Node number of the switch namespace in the helpers that take a node.
pub const SWITCH: usize = usize::MAX;

/// Default bound for `exec`.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Lab {
    pub tag: String,
    pub n_nodes: usize,
    prefix: String,
    dir: PathBuf,
    created: Vec<String>,
    pub(crate) daemons: Mutex<Vec<Arc<daemon::Inner>>>,
    starts: AtomicUsize,
}

/// One address from `ip -j addr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Addr {
    pub ifname: String,
    pub addr: IpAddr,
    pub prefixlen: u8,
    pub scope: String,
}

/// True when this process can build labs (root, `ip` present).
pub fn can_run() -> Result<(), String> {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    if Command::new("ip").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        return Err("no `ip` command".into());
    }
    Ok(())
}

/// Prints a loud SKIPPED line, or panics when VIGIL_REQUIRE_ALL=1.
pub fn skip(test: &str, why: &str) {
    skip::skip_or_fail(&format!("{test}: {why}"));
}

#[path = "../support/skip.rs"]
pub mod skip;

pub fn node_mac(node: usize) -> Mac {
    let last = if node == CLIENT { 0xc8 } else { node as u8 };
    [0x02, 0x00, 0x5e, 0x10, 0x00, last]
}

pub fn node_ip4(node: usize) -> Ipv4Addr {
    if node == CLIENT { Ipv4Addr::new(192, 0, 2, 200) } else { Ipv4Addr::new(192, 0, 2, node as u8) }
}

pub fn node_ip6(node: usize) -> Ipv6Addr {
    let last = if node == CLIENT { 0x200 } else { node as u16 };
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

fn sanitize(tag: &str) -> String {
    let s: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(20)
        .collect();
    if s.is_empty() { "lab".into() } else { s }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = run_bounded(Command::new("ip").args(args), EXEC_TIMEOUT)
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs a command with stdout/stderr captured, killing it (by its PID) if
/// it outlives `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> io::Result<Output> {
    use std::io::Read;
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    // A grandchild holding the pipes open must not hang us: bounded joins.
    let stdout = join_bounded(to, Duration::from_secs(2));
    let stderr = join_bounded(te, Duration::from_secs(2));
    Ok(Output { status, stdout, stderr })
}

fn join_bounded(h: std::thread::JoinHandle<Vec<u8>>, d: Duration) -> Vec<u8> {
    let end = Instant::now() + d;
    while !h.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    if h.is_finished() { h.join().unwrap_or_default() } else { Vec::new() }
}

/// Runs `f` on a fresh thread that has joined network namespace `ns`
/// (network namespaces are per thread).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    use std::os::fd::AsRawFd;
    let path = Path::new("/run/netns").join(ns);
    let h = std::thread::spawn(move || -> io::Result<T> {
        let file = std::fs::File::open(&path)?;
        // SAFETY: file is an open namespace fd for the whole call; setns moves only
        // this (freshly spawned) thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        drop(file);
        Ok(f())
    });
    h.join().map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Sets or clears IFF_UP on `ifname` in the calling thread's namespace.
pub fn set_link_flags(ifname: &str, up: bool) -> io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq { name: [0; 16], flags: 0, _pad: [0; 22] };
    let b = ifname.as_bytes();
    if b.len() >= 16 {
        return Err(io::Error::other("ifname too long"));
    }
    req.name[..b.len()].copy_from_slice(b);
    // SAFETY: fd is checked before use and closed once; `req` is a live, exclusively
    // borrowed #[repr(C)] struct laid out as struct ifreq (16-byte name, then the
    // flags at the union's start, padded to the union's size), so the kernel's
    // reads and writes of the name and ifr_flags stay inside it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            if up {
                req.flags |= libc::IFF_UP as libc::c_short;
            } else {
                req.flags &= !(libc::IFF_UP as libc::c_short);
            }
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let e = io::Error::last_os_error();
        libc::close(fd);
        if r != 0 {
            return Err(e);
        }
    }
    Ok(())
}

fn write_sysctls(ns: &str, kv: Vec<(String, String)>) -> Result<(), String> {
    in_netns(ns, move || -> Result<(), String> {
        for (k, v) in kv {
            let p = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&p, &v).map_err(|e| format!("{p} = {v}: {e}"))?;
        }
        Ok(())
    })
    .map_err(|e| format!("netns {ns}: {e}"))?
}

/// Deletes lab namespaces left behind by test processes that no longer
/// exist (killed before their Drop ran), killing what still runs in them.
fn reap_stale() {
    let Ok(rd) = std::fs::read_dir("/run/netns") else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut it = name.split('-');
        if it.next() != Some("vl") {
            continue;
        }
        let Some(pid) = it.next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_ns_pids(&name);
        let _ = ip(&["netns", "del", &name]);
    }
}

/// SIGKILLs every process inside namespace `ns` (all started by a lab).
fn kill_ns_pids(ns: &str) {
    for _ in 0..3 {
        let Ok(out) = run_bounded(Command::new("ip").args(["netns", "pids", ns]), EXEC_TIMEOUT) else { return };
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|&p: &i32| p > 1 && p != std::process::id() as i32)
            .collect();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            // SAFETY: kill(2) takes integers only; pids 1 and our own are filtered out above.
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Lab {
    /// Builds the lab or panics with the failing step (partial state is
    /// cleaned up by Drop).
    pub fn new(tag: &str, n_nodes: usize) -> Lab {
        match Lab::try_new(tag, n_nodes) {
            Ok(l) => l,
            Err(e) => panic!("lab {tag}: {e}"),
        }
    }

    pub fn try_new(tag: &str, n_nodes: usize) -> Result<Lab, String> {
        assert!((1..=99).contains(&n_nodes), "1..=99 nodes");
        reap_stale();
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("vl-{}-{}-{}", std::process::id(), seq, sanitize(tag));
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut lab = Lab {
            tag: tag.to_string(),
            n_nodes,
            prefix,
            dir,
            created: Vec::new(),
            daemons: Mutex::new(Vec::new()),
            starts: AtomicUsize::new(0),
        };
        lab.build()?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), String> {
        let sw = self.ns(SWITCH);
        let mut all = vec![sw.clone(), self.ns(CLIENT)];
        all.extend((1..=self.n_nodes).map(|i| self.ns(i)));
        for ns in &all {
            ip(&["netns", "add", ns])?;
            self.created.push(ns.clone());
        }
        for ns in &all {
            let mut kv = vec![];
            for c in ["all", "default", "lo"] {
                kv.push((format!("net.ipv4.conf.{c}.rp_filter"), "0".into()));
            }
            if *ns == sw {
                // Keep the bridge itself quiet (no RS, no MLD).
                kv.push(("net.ipv6.conf.default.disable_ipv6".into(), "1".into()));
                kv.push(("net.ipv6.conf.all.disable_ipv6".into(), "1".into()));
            } else {
                for c in ["all", "default"] {
                    kv.push((format!("net.ipv6.conf.{c}.accept_dad"), "0".into()));
                    kv.push((format!("net.ipv6.conf.{c}.dad_transmits"), "0".into()));
                    kv.push((format!("net.ipv6.conf.{c}.accept_ra"), "0".into()));
                    kv.push((format!("net.ipv6.conf.{c}.router_solicitations"), "0".into()));
                }
            }
            if self.ns(CLIENT) != *ns && *ns != sw {
                for c in ["all", "default"] {
                    kv.push((format!("net.ipv4.conf.{c}.arp_ignore"), "1".into()));
                    kv.push((format!("net.ipv4.conf.{c}.arp_announce"), "2".into()));
                }
            }
            write_sysctls(ns, kv)?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n", &sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0",
            "forward_delay", "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        let mut nodes = vec![CLIENT];
        nodes.extend(1..=self.n_nodes);
        for node in nodes {
            let ns = self.ns(node);
            let port = Self::port(node);
            let mac = fmt_mac(&node_mac(node));
            ip(&[
                "-n", &ns, "link", "add", "eth0", "address", &mac, "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", node_ip4(node)), "dev", "eth0"])?;
            ip(&["-n", &ns, "addr", "add", &format!("{}/64", node_ip6(node)), "dev", "eth0", "nodad"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    /// One more link: a bridge `br{k}` in the switch and a veth `eth{k}` in every node
    /// (1..=N) on it, with 10.{k}.0.{node}/24, up. For configs that need more than one link
    /// (this kernel has no VLANs). Removed with the namespaces.
    pub fn add_link(&self, k: usize) -> Result<(), String> {
        let sw = self.ns(SWITCH);
        let br = format!("br{k}");
        ip(&["-n", &sw, "link", "add", &br, "type", "bridge", "stp_state", "0", "mcast_snooping", "0", "forward_delay", "0"])?;
        ip(&["-n", &sw, "link", "set", &br, "up"])?;
        for node in 1..=self.n_nodes {
            let ns = self.ns(node);
            let (dev, port) = (format!("eth{k}"), format!("p{k}-n{node}"));
            let mut mac = node_mac(node);
            mac[4] = k as u8;
            ip(&["-n", &ns, "link", "add", &dev, "address", &fmt_mac(&mac), "type", "veth", "peer", "name", &port, "netns", &sw])?;
            ip(&["-n", &sw, "link", "set", &port, "master", &br])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            ip(&["-n", &ns, "addr", "add", &format!("10.{k}.0.{node}/24"), "dev", &dev])?;
            ip(&["-n", &ns, "link", "set", &dev, "up"])?;
        }
        Ok(())
    }

    /// Namespace name of a node (1..=N), CLIENT or SWITCH.
    pub fn ns(&self, node: usize) -> String {
        match node {
            CLIENT => format!("{}-cl", self.prefix),
            SWITCH => format!("{}-sw", self.prefix),
            i => format!("{}-n{i}", self.prefix),
        }
    }

    /// The bridge port (in the switch namespace) of a node.
    pub fn port(node: usize) -> String {
        if node == CLIENT { "p-cl".into() } else { format!("p-n{node}") }
    }

    pub fn mac(&self, node: usize) -> Mac {
        node_mac(node)
    }

    /// Which node (or CLIENT) has this MAC on its eth0.
    pub fn node_of_mac(&self, mac: &Mac) -> Option<usize> {
        std::iter::once(CLIENT).chain(1..=self.n_nodes).find(|&n| node_mac(n) == *mac)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Per-node temp dir (created on demand).
    pub fn node_dir(&self, node: usize) -> PathBuf {
        let d = self.dir.join(match node {
            CLIENT => "cl".to_string(),
            SWITCH => "sw".to_string(),
            i => format!("n{i}"),
        });
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// `ip netns exec NS argv...`, bounded by EXEC_TIMEOUT.
    pub fn exec(&self, node: usize, argv: &[&str]) -> Output {
        self.exec_timeout(node, argv, EXEC_TIMEOUT)
    }

    pub fn exec_timeout(&self, node: usize, argv: &[&str], timeout: Duration) -> Output {
        let ns = self.ns(node);
        run_bounded(Command::new("ip").args(["netns", "exec", &ns]).args(argv), timeout)
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {argv:?}: {e}"))
    }

    /// Runs `f` on a thread inside the node's namespace.
    pub fn in_ns<T: Send + 'static>(&self, node: usize, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        in_netns(&self.ns(node), f)
    }

    fn set_link(&self, node: usize, ifname: &str, up: bool) {
        let name = ifname.to_string();
        self.in_ns(node, move || set_link_flags(&name, up))
            .and_then(|r| r)
            .unwrap_or_else(|e| panic!("link {ifname} {} in {}: {e}", if up { "up" } else { "down" }, self.ns(node)));
    }

    /// Sets the node's own eth0 down (ioctl, no fork: takes effect within µs).
    pub fn link_down(&self, node: usize) {
        self.set_link(node, "eth0", false)
    }

    pub fn link_up(&self, node: usize) {
        self.set_link(node, "eth0", true)
    }

    /// Sets the node's bridge port down: the node drops off the network
    /// (its eth0 loses carrier) without anything changing inside the node.
    pub fn port_down(&self, node: usize) {
        self.set_link(SWITCH, &Self::port(node), false)
    }

    pub fn port_up(&self, node: usize) {
        self.set_link(SWITCH, &Self::port(node), true)
    }

    /// Every address in the node's namespace (`ip -j addr`).
    pub fn addrs(&self, node: usize) -> Vec<Addr> {
        let out = self.exec(node, &["ip", "-j", "addr"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let mut res = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            let ifname = link["ifname"].as_str().unwrap_or("").to_string();
            for a in link["addr_info"].as_array().into_iter().flatten() {
                let Some(addr) = a["local"].as_str().and_then(|s| s.parse().ok()) else { continue };
                res.push(Addr {
                    ifname: ifname.clone(),
                    addr,
                    prefixlen: a["prefixlen"].as_u64().unwrap_or(0) as u8,
                    scope: a["scope"].as_str().unwrap_or("").to_string(),
                });
            }
        }
        res
    }

    /// True when `addr` (e.g. "192.0.2.100") is on any interface of the node.
    pub fn has_addr(&self, node: usize, addr: &str) -> bool {
        let want: IpAddr = addr.parse().unwrap_or_else(|_| panic!("bad address {addr}"));
        self.addrs(node).iter().any(|a| a.addr == want)
    }

    /// Polls until `has_addr(node, addr) == present`, at most `timeout`.
    pub fn wait_addr(&self, node: usize, addr: &str, present: bool, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.has_addr(node, addr) == present {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a VRRP daemon in the node with `config` as its keepalived.conf.
    pub fn start(&self, node: usize, d: Daemon, config: &str) -> DaemonHandle {
        let k = self.starts.fetch_add(1, Ordering::SeqCst);
        let dir = self.node_dir(node).join(format!("{}-{k}", d.short_name()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, config).unwrap();
        let argv = d.argv(&dir, &conf);
        self.spawn_in(node, argv, dir, conf)
    }

    /// As `start`, with `extra` arguments after keepalived's (for example
    /// vigil's `--watchdog-interval=MS`).
    pub fn start_args(&self, node: usize, d: Daemon, config: &str, extra: &[&str]) -> DaemonHandle {
        let k = self.starts.fetch_add(1, Ordering::SeqCst);
        let dir = self.node_dir(node).join(format!("{}-{k}", d.short_name()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, config).unwrap();
        let mut argv = d.argv(&dir, &conf);
        argv.extend(extra.iter().map(|s| s.to_string()));
        self.spawn_in(node, argv, dir, conf)
    }

    /// Starts any command in the node (its own process group), output to
    /// `dir/daemon.log`. For peers that are not keepalived-like (FRR).
    pub fn spawn(&self, node: usize, argv: Vec<String>) -> DaemonHandle {
        let k = self.starts.fetch_add(1, Ordering::SeqCst);
        let dir = self.node_dir(node).join(format!("cmd-{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("none");
        self.spawn_in(node, argv, dir, conf)
    }

    fn spawn_in(&self, node: usize, argv: Vec<String>, dir: PathBuf, conf: PathBuf) -> DaemonHandle {
        let h = DaemonHandle::spawn(&self.ns(node), node, argv, dir, conf)
            .unwrap_or_else(|e| panic!("start in {}: {e}", self.ns(node)));
        self.daemons.lock().unwrap().push(h.inner.clone());
        h
    }

    /// Starts the probe in the client namespace: ARP who-has (or NS for an
    /// IPv6 VIP) every 5 ms.
    pub fn probe(&self, vip: &str) -> Probe {
        self.probe_every(vip, Duration::from_millis(5))
    }

    pub fn probe_every(&self, vip: &str, period: Duration) -> Probe {
        let vip: IpAddr = vip.parse().unwrap_or_else(|_| panic!("bad VIP {vip}"));
        Probe::start(
            &self.ns(CLIENT),
            "eth0",
            node_mac(CLIENT),
            node_ip4(CLIENT),
            node_ip6(CLIENT),
            vip,
            period,
        )
        .unwrap_or_else(|e| panic!("probe: {e}"))
    }

    /// Prints every daemon's log (used on failure).
    pub fn dump_logs(&self) {
        for d in self.daemons.lock().unwrap().iter() {
            eprintln!("----- {} ({}) -----\n{}", d.dir.display(), d.ns, d.log_text());
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for d in self.daemons.lock().unwrap().iter() {
            d.stop(Duration::from_secs(5));
        }
        for ns in &self.created {
            kill_ns_pids(ns);
        }
        for ns in self.created.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("lab cleanup: {e}");
            }
        }
        if std::env::var_os("VIGIL_LAB_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// Polls `f` every `step` until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, step: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// vigil as built for this test run.
pub fn vigil() -> Daemon {
    Daemon::Vigil(PathBuf::from(env!("CARGO_BIN_EXE_vigil")))
}

/// True when the lab can run here; otherwise skips loudly (or fails under
/// VIGIL_REQUIRE_ALL=1) and returns false.
pub fn ready(test: &str) -> bool {
    if let Err(why) = can_run() {
        skip(test, &why);
        return false;
    }
    true
}
