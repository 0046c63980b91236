//! The soak: two vigil nodes in namespaces run one generated config at
//! the sizes keepalived users run: 255 VRRP instances (VRIDs 1..255 on eth0, advert_int 1,
//! half master on each node), one of them with the most VIPs an advert carries (255, the
//! count field's limit: `vrrp::wire::MAX_VIPS`), and 100 virtual servers of 100 real
//! servers each (10,000 TCP_CHECKs at delay_loop 5 on each node) against listeners in the
//! client namespace: one listening socket per virtual server, on the wildcard address,
//! serves its 100 real servers (100 addresses of 198.51.100.0/24, all local to the client).
//!
//! The host has no IPVS, so the checker child checks and reports but programs nothing (it
//! says so in its log): a memory soak of the checkers, the VRRP engine and the parent, not
//! of the IPVS client.
//!
//! Then cycles of: a checker flap (5 listeners closed: 500 real servers fail, then come
//! back), a failover (one node's bridge port down until its peer is master of all 255,
//! then up: it takes its half back), and a SIGHUP reload of both nodes that changes one
//! instance's priority (VI_3 on node 1 drops below its peer, or back) and one real server
//! (VS 1's last real server moves between two addresses). After each cycle both nodes
//! settle (every VRID exactly one master, the expected one) and the RSS of every process
//! (parent, VRRP child, checker child, from the pid files and /proc/PID/status) is sampled.
//! The series is printed; after a warm-up, growth beyond a generous bound fails (a
//! functional check for a leak, not a performance figure). No child may restart, and no
//! capacity that drops anything may be reached (status `capacity_hits`; those that only
//! defer work, `DEFERRING`, are reached and printed).
//!
//! Size: VIGIL_SOAK_CYCLES cycles (default 4, about a minute); the full soak is e.g.
//! `VIGIL_SOAK_CYCLES=200 cargo test --release --test soak -- --nocapture`.

mod lab;

use lab::{CLIENT, Lab, ready, vigil};
use serde_json::Value;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// VRIDs 1..=INSTANCES on eth0.
const INSTANCES: u8 = 255;
/// VIPs of VI_1: as many as the advert's address count field holds (`vrrp::wire::MAX_VIPS`).
const BIG_VIPS: usize = 255;
const VIRTUAL_SERVERS: usize = 100;
const REAL_SERVERS_PER_VS: usize = 100;
/// Listener port of virtual server j (1-based): PORT_BASE + j.
const PORT_BASE: u16 = 20000;
/// Virtual servers whose listener closes in each cycle's flap.
const FLAP_VS: usize = 5;
/// Growth of a process's RSS over the post-warm-up series that fails the soak: 4 MiB plus
/// 5 % of where it started (heap fragmentation after a reload moves a few hundred KiB).
const GROWTH_BOUND_KB: u64 = 4096;

/// Capacities whose hits only defer work, never lose it: the VRRP receive budget (every
/// instance's socket receives every advert on the link, and 255 instances started together
/// advertise in one burst a second) and a hello deferred one interval behind a large
/// message (a config of 10,000 real servers), and a TCP_CHECK due while 2,048 connections are
/// open (the flapping virtual servers' checks hold theirs for connect_timeout): it waits in a
/// queue, and its connect_timeout starts only when it connects.
const DEFERRING: [&str; 3] = ["vrrp_rx_budget", "ipc_queue", "checks_in_flight"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The master of `vrid` when nothing is flipped: node 1 for odd VRIDs, node 2 for even.
fn owner(vrid: u8) -> usize {
    if vrid % 2 == 1 { 1 } else { 2 }
}

/// The config of `node`; `flipped`: VI_3's priority on node 1 drops below node 2's, and
/// VS 1's last real server moves to another address (the reload's two changes).
fn config(node: usize, flipped: bool) -> String {
    let mut s = format!("global_defs {{\n    router_id soak_n{node}\n    vrrp_version 2\n}}\n\n");
    for vrid in 1..=INSTANCES {
        let mut prio = if owner(vrid) == node { 150 } else { 100 };
        if vrid == 3 && node == 1 && flipped {
            prio = 90;
        }
        s += &format!(
            "vrrp_instance VI_{vrid} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n"
        );
        if vrid == 1 {
            for i in 0..BIG_VIPS {
                s += &format!("        10.11.{}.{}/32 dev eth0\n", i / 250, i % 250 + 1);
            }
        } else {
            s += &format!("        10.10.{vrid}.1/32 dev eth0\n");
        }
        s += "    }\n}\n";
    }
    for j in 1..=VIRTUAL_SERVERS {
        s += &format!(
            "virtual_server 10.30.0.{j} 80 {{\n    delay_loop 5\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
        );
        for a in 1..=REAL_SERVERS_PER_VS {
            let a = if j == 1 && a == REAL_SERVERS_PER_VS && flipped { REAL_SERVERS_PER_VS + 1 } else { a };
            s += &format!(
                "    real_server 198.51.100.{a} {} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 2\n        }}\n    }}\n",
                PORT_BASE + j as u16
            );
        }
        s += "}\n";
    }
    s
}

/// One listening socket per virtual server in the client namespace, drained by one thread
/// (the checkers connect and close; a full accept queue would fail them).
struct Listeners {
    lab: Arc<Lab>,
    socks: Arc<Mutex<HashMap<u16, TcpListener>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listeners {
    fn start(lab: Arc<Lab>) -> Listeners {
        let socks: Arc<Mutex<HashMap<u16, TcpListener>>> = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (socks.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                for l in s.lock().unwrap().values() {
                    loop {
                        match l.accept() {
                            Ok(c) => drop(c),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => break,
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let l = Listeners { lab, socks, stop, thread: Some(thread) };
        l.open(1..=VIRTUAL_SERVERS);
        l
    }

    /// Binds the listeners of these virtual servers (inside the client namespace).
    fn open(&self, vs: impl Iterator<Item = usize> + Send + 'static) {
        let ports: Vec<u16> = vs.map(|j| PORT_BASE + j as u16).collect();
        let bound = self
            .lab
            .in_ns(CLIENT, move || {
                ports
                    .into_iter()
                    .map(|p| {
                        let l = TcpListener::bind(("0.0.0.0", p)).unwrap_or_else(|e| panic!("listen on {p}: {e}"));
                        l.set_nonblocking(true).unwrap();
                        (p, l)
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap();
        self.socks.lock().unwrap().extend(bound);
    }

    /// Closes the listeners of these virtual servers: their real servers refuse.
    fn close(&self, vs: impl Iterator<Item = usize>) {
        let mut s = self.socks.lock().unwrap();
        for j in vs {
            s.remove(&(PORT_BASE + j as u16));
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A node: its directory (config, pid files, control socket) and daemon.
struct Node {
    n: usize,
    dir: PathBuf,
    d: lab::DaemonHandle,
}

impl Node {
    fn start(lab: &Lab, n: usize) -> Node {
        let dir = lab.node_dir(n);
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, config(n, false)).unwrap();
        // Both children: the lab's daemons run VRRP only (-P).
        let argv: Vec<String> = vigil().argv(&dir, &conf).into_iter().filter(|a| a != "-P").collect();
        Node { n, d: lab.spawn(n, argv), dir }
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    fn status(&self) -> Option<Value> {
        let out = lab::run_bounded(
            Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(self.sock()),
            Duration::from_secs(10),
        )
        .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    fn pid(&self, file: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(file)).ok()?.trim().parse().ok()
    }

    /// VmRSS (KiB) of parent, VRRP child, checker child.
    fn rss(&self) -> [u64; 3] {
        ["main.pid", "vrrp.pid", "check.pid"].map(|f| self.pid(f).and_then(vm_rss).unwrap_or(0))
    }

    fn reload(&self, flipped: bool) {
        std::fs::write(self.dir.join("keepalived.conf"), config(self.n, flipped)).unwrap();
        assert!(self.d.kill(libc::SIGHUP), "node {} is gone\n{}", self.n, self.d.log());
    }
}

fn vm_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// VRID -> state on one node.
fn states(st: &Value) -> HashMap<u64, String> {
    st["vrrp"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| (i["vrid"].as_u64().unwrap_or(0), i["state"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Real servers up on one node.
fn rs_up(st: &Value) -> usize {
    st["virtual_servers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| v["real_servers"].as_array().into_iter().flatten())
        .filter(|r| r["up"].as_bool() == Some(true))
        .count()
}

/// Waits (bounded) until `master(vrid)` is MASTER and the other node BACKUP, for every VRID.
fn settle(nodes: &[Node; 2], master: impl Fn(u8) -> usize, bound: Duration, what: &str) -> [Value; 2] {
    let end = Instant::now() + bound;
    loop {
        let sts = [nodes[0].status(), nodes[1].status()];
        let mut wrong = Vec::new();
        if let [Some(a), Some(b)] = &sts {
            let (sa, sb) = (states(a), states(b));
            for vrid in 1..=INSTANCES {
                let (x, y) = (sa.get(&(vrid as u64)), sb.get(&(vrid as u64)));
                let want = if master(vrid) == 1 { ("MASTER", "BACKUP") } else { ("BACKUP", "MASTER") };
                if (x.map(String::as_str), y.map(String::as_str)) != (Some(want.0), Some(want.1)) {
                    wrong.push(format!("{vrid}: {x:?}/{y:?}"));
                }
            }
            if wrong.is_empty() {
                let [Some(a), Some(b)] = sts else { unreachable!() };
                return [a, b];
            }
        }
        assert!(
            Instant::now() < end,
            "{what}: not settled within {bound:?}: {} VRIDs wrong (n1/n2), e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(8)]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits (bounded) until the parent and both children run config generation `generation`.
fn wait_generation(node: &Node, generation: u64, bound: Duration) {
    let end = Instant::now() + bound;
    loop {
        if let Some(st) = node.status() {
            let kids = st["children"].as_array().cloned().unwrap_or_default();
            if st["config_generation"].as_u64() == Some(generation)
                && kids.len() == 2
                && kids.iter().all(|c| c["config_generation"].as_u64() == Some(generation))
            {
                return;
            }
            assert!(
                Instant::now() < end,
                "node {}: generation {generation} not applied within {bound:?}: parent {}, children {:?}\n{}",
                node.n,
                st["config_generation"],
                kids.iter().map(|c| c["config_generation"].clone()).collect::<Vec<_>>(),
                node.d.log()
            );
        }
        assert!(Instant::now() < end, "node {}: no status within {bound:?}\n{}", node.n, node.d.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The least-squares slope of `ys` (per sample).
fn slope(ys: &[u64]) -> f64 {
    let n = ys.len() as f64;
    let mx = (n - 1.0) / 2.0;
    let my = ys.iter().sum::<u64>() as f64 / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &y) in ys.iter().enumerate() {
        num += (i as f64 - mx) * (y as f64 - my);
        den += (i as f64 - mx).powi(2);
    }
    if den == 0.0 { 0.0 } else { num / den }
}

#[test]
fn soak_255_instances_10000_real_servers_without_growth() {
    if !ready("soak_255_instances_10000_real_servers_without_growth") {
        return;
    }
    let cycles = env_usize("VIGIL_SOAK_CYCLES", 4).max(3);
    // The checker's heap settles after two reloads (two configs of 10,000 real servers
    // live at once during one).
    let warmup = if cycles >= 12 { 3 } else { 2 };
    let t0 = Instant::now();
    let lab = Arc::new(Lab::new("soak", 2));
    // 198.51.100.0/24 is local to the client (a prefix on lo), reached through its eth0.
    for (node, args) in [
        (CLIENT, vec!["ip", "addr", "add", "198.51.100.1/24", "dev", "lo"]),
        (1, vec!["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.200"]),
        (2, vec!["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.200"]),
    ] {
        let out = lab.exec(node, &args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listeners = Listeners::start(lab.clone());
    let conf_len = config(1, false).len();
    let nodes = [Node::start(&lab, 1), Node::start(&lab, 2)];

    let settled = settle(&nodes, owner, Duration::from_secs(90), "start");
    let started = t0.elapsed();
    for n in &nodes {
        assert!(n.d.log().contains("IPVS is not available"), "node {}: the checker child does not say it runs without IPVS\n{}", n.n, n.d.log());
    }
    let vip_count = settled[0]["vrrp"].as_array().unwrap().iter().find(|i| i["vrid"] == 1).map(|i| i["vips"].as_array().map_or(0, |v| v.len()));
    assert_eq!(vip_count, Some(BIG_VIPS), "VI_1's VIPs");
    eprintln!(
        "soak: config of {} KiB per node: {INSTANCES} VRRP instances (VI_1 with {BIG_VIPS} VIPs), {VIRTUAL_SERVERS} virtual servers x {REAL_SERVERS_PER_VS} real servers; \
         both nodes settled {:.1} s after the lab was built",
        conf_len / 1024,
        started.as_secs_f64()
    );

    // samples[node][process] = RSS series (KiB), one after start, then one per cycle.
    let mut samples: [[Vec<u64>; 3]; 2] = Default::default();
    let mut up_series: [Vec<usize>; 2] = Default::default();
    let record = |samples: &mut [[Vec<u64>; 3]; 2], up: &mut [Vec<usize>; 2], sts: &[Value; 2]| {
        for (k, n) in nodes.iter().enumerate() {
            for (p, r) in n.rss().into_iter().enumerate() {
                samples[k][p].push(r);
            }
            up[k].push(rs_up(&sts[k]));
        }
    };
    record(&mut samples, &mut up_series, &settled);

    let mut generation = 1;
    for cycle in 0..cycles {
        let tc = Instant::now();
        // Checker flap: FLAP_VS listeners close (their 500 real servers refuse) ...
        let first = 2 + (cycle * FLAP_VS) % (VIRTUAL_SERVERS - FLAP_VS - 1);
        let flap = first..first + FLAP_VS;
        listeners.close(flap.clone());
        // ... during a failover: one node drops off the bridge until its peer is master of all.
        let gone = 1 + cycle % 2;
        lab.port_down(gone);
        let peer = 3 - gone;
        settle_one(&nodes[peer - 1], Duration::from_secs(20), cycle);
        lab.port_up(gone);
        listeners.open(flap);
        // A reload of both nodes: VI_3's priority on node 1 and VS 1's last real server change.
        let flipped = cycle % 2 == 0;
        generation += 1;
        for n in &nodes {
            n.reload(flipped);
        }
        for n in &nodes {
            wait_generation(n, generation, Duration::from_secs(60));
        }
        let master = move |vrid: u8| if vrid == 3 && flipped { 2 } else { owner(vrid) };
        let sts = settle(&nodes, master, Duration::from_secs(40), &format!("cycle {cycle}"));
        record(&mut samples, &mut up_series, &sts);
        eprintln!(
            "soak cycle {cycle}: {:.1} s; RSS KiB n1 {:?} n2 {:?}; real servers up n1 {} n2 {}",
            tc.elapsed().as_secs_f64(),
            nodes[0].rss(),
            nodes[1].rss(),
            up_series[0].last().unwrap(),
            up_series[1].last().unwrap()
        );
    }

    // The checkers saw the flaps and recovered: every real server up again (bounded).
    let end = Instant::now() + Duration::from_secs(40);
    let total = VIRTUAL_SERVERS * REAL_SERVERS_PER_VS;
    loop {
        let ups: Vec<usize> = nodes.iter().map(|n| n.status().map_or(0, |s| rs_up(&s))).collect();
        if ups.iter().all(|&u| u == total) {
            break;
        }
        assert!(Instant::now() < end, "real servers up {ups:?} of {total} 40 s after the last flap");
        std::thread::sleep(Duration::from_secs(1));
    }

    let names = ["parent", "vrrp", "check"];
    let mut failures = Vec::new();
    for (k, n) in nodes.iter().enumerate() {
        let st = n.status().expect("status");
        for c in st["children"].as_array().into_iter().flatten() {
            assert_eq!(c["restarts"].as_u64(), Some(0), "node {}: a child restarted: {c}\n{}", n.n, n.d.log());
            assert_eq!(c["watchdog_kills"].as_u64(), Some(0), "node {}: watchdog kill: {c}", n.n);
        }
        // Every capacity that drops or refuses something stays unreached at these sizes;
        // those that only defer work (DEFERRING) may be reached, and are printed.
        let hits = &st["capacity_hits"];
        assert!(hits.as_object().is_some_and(|m| m.len() >= 12), "node {}: no capacity_hits in the status: {hits}", n.n);
        let dropped: Vec<(&String, u64)> = hits
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !DEFERRING.contains(&k.as_str()))
            .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        eprintln!("soak node {}: capacity hits {hits}", n.n);
        assert!(dropped.is_empty(), "node {}: capacities reached: {dropped:?}\n{}", n.n, n.d.log());
        for (p, series) in samples[k].iter().enumerate() {
            let tail = &series[warmup..];
            let base = tail[0];
            let last = *tail.last().unwrap();
            let bound = GROWTH_BOUND_KB + base / 20;
            let fitted = slope(tail) * (tail.len() - 1) as f64;
            eprintln!(
                "soak RSS n{} {:6}: {series:?} KiB; after warm-up {base} -> {last} ({:+} KiB, fitted {:+.0} KiB over {} samples, bound {bound})",
                n.n,
                names[p],
                last as i64 - base as i64,
                fitted,
                tail.len()
            );
            if last > base + bound || (cycles >= 12 && fitted > bound as f64) {
                failures.push(format!("n{} {}: {series:?}", n.n, names[p]));
            }
        }
        eprintln!("soak n{}: real servers up after each sample {:?}", n.n, up_series[k]);
    }
    eprintln!("soak: {cycles} cycles (warm-up {warmup}) in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "RSS grew beyond the bound: {failures:?}");
    drop(listeners);
}

/// Waits (bounded) until `node` is MASTER of every VRID (its peer is off the bridge).
fn settle_one(node: &Node, bound: Duration, cycle: usize) {
    let end = Instant::now() + bound;
    loop {
        if let Some(st) = node.status() {
            let s = states(&st);
            let masters = s.values().filter(|v| *v == "MASTER").count();
            if masters == INSTANCES as usize {
                return;
            }
            assert!(Instant::now() < end, "cycle {cycle}: node {} master of {masters} of {INSTANCES} with its peer gone", node.n);
        }
        assert!(Instant::now() < end, "cycle {cycle}: node {}: no status", node.n);
        std::thread::sleep(Duration::from_millis(300));
    }
}
