//! The hostile network campaign. A vigil master (n1) and a vigil backup (n2)
//! run four VRRP instances side by side: VRRPv3 over IPv4 (VRID 51, 200 ms adverts), VRRPv2 with
//! `auth_type PASS` (VRID 52), VRRPv2 with `auth_type AH` (VRID 53) and VRRPv3 over IPv6 (VRID
//! 54, 200 ms). From an attacker namespace (n3) on the same bridge, one kind of forged or
//! malformed advert after another is flooded as fast as the attacker's threads can send, each
//! with priority 254 (above the master's 150, so that one accepted would move the master):
//!
//! | kind | what is wrong | counted under (`vigil status --json`) |
//! |---|---|---|
//! | ttl | IPv4 TTL 64 | `rx_errors.ttl` of VRID 51 |
//! | checksum | a flipped checksum bit | `rx_errors.checksum` of VRID 51 |
//! | wrong_vrid | VRID 99, otherwise valid | `other_vrid`, no `rx_errors` |
//! | pass | VRRPv2 PASS, wrong password | `rx_errors.auth_failure` of VRID 52 |
//! | ah | VRRPv2 AH, ICV under a wrong key | `rx_errors.auth_failure` of VRID 53 |
//! | truncated | cut inside the IP payload, the header, an address | `rx_errors.packet_length` of VRID 51 |
//! | count_lies | address count 0, 2, 255 over one address | `rx_errors.packet_length` of VRID 51 |
//! | hop_limit | IPv6 hop limit 64 | `rx_errors.ttl` of VRID 54 |
//! | version | VRRPv2 to a v3 instance, version 7 | `rx_errors.version` of VRID 51 |
//! | type | VRRP type 0, 2, 15 | `rx_errors.invalid_type` of VRID 51 |
//!
//! Asserted per kind: no instance on either node changes state (state and time of the last
//! transition from status; the VIPs stay on n1 only); the master accepted none of it (its
//! `adverts_received` stays put); the kind's reason grew on both nodes in its target instance
//! and no other `rx_errors` reason grew anywhere; the watchdog (500 ms hellos) killed nothing
//! and no child restarted. The master's own adverts are captured on n2's side (a packet
//! socket filtered to n1's MAC) and the largest gap per instance under each kind is printed
//! (goal: under 1.2 × advert_int); the assertion is only a functional bound, 3 × advert_int.
//!
//! Each kind floods for 3 s from one thread; `VIGIL_HOSTILE_SECS=N` floods each for N seconds,
//! `VIGIL_HOSTILE_FLOODERS=N` from N threads. One thread is the most this test can pit against
//! the two daemons on a two-core machine without starving them of CPU: with two, the flooders
//! and their kernel work take both cores, the backup's receive queue overflows (the kernel
//! drops the master's adverts with the junk) and the backup takes over for an advert or two.

mod lab;

use lab::{Lab, ready, vigil};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil::vrrp::wire::{
    AuthData, Seconds, TxIpv4, V2Auth, VersionFields, VirtualAddresses, VrrpRepr,
    auth_data, emit_ipv4,
};

const VIP4: [Ipv4Addr; 3] = [Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 101), Ipv4Addr::new(192, 0, 2, 102)];
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// Instance name, VRID, advert interval.
const INSTANCES: [(&str, u8, Duration); 4] = [
    ("V3", 51, Duration::from_millis(200)),
    ("PASS", 52, Duration::from_secs(1)),
    ("AH", 53, Duration::from_secs(1)),
    ("V6", 54, Duration::from_millis(200)),
];

fn config(node: usize, prio: u8) -> String {
    let inst = |name: &str, vrid: u8, extra: &str, int: &str, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int {int}\n{extra}    virtual_ipaddress {{\n        {vip} dev eth0\n    }}\n}}\n"
        )
    };
    let auth = |t: &str| format!("    version 2\n    authentication {{\n        auth_type {t}\n        auth_pass right\n    }}\n");
    format!("global_defs {{\n    router_id lab_n{node}\n    vrrp_version 3\n}}\n")
        + &inst("V3", 51, "", "0.2", &format!("{}/24", VIP4[0]))
        + &inst("PASS", 52, &auth("PASS"), "1", &format!("{}/24", VIP4[1]))
        + &inst("AH", 53, &auth("AH"), "1", &format!("{}/24", VIP4[2]))
        + &inst("V6", 54, "", "0.2", &format!("{VIP6}/64"))
}

// ---- forging ----------------------------------------------------------------------------------

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(b: &[u8]) -> u32 {
    b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum()
}

/// An IPv4 datagram: a 20-byte header (the kernel fills total length and checksum) + payload.
fn ipv4(src: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x45, 0xc0, 0, 0, 0, 1, 0, 0, ttl, proto, 0, 0];
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&[224, 0, 0, 18]);
    let len = (v.len() + payload.len()) as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A VRRP message: `version`, `typ`, VRID, priority 254, `count` in the header, the addresses
/// given, then `tail` (v2 auth data); the checksum set right for v3 over IPv4 (pseudo-header,
/// as keepalived) or v2 (message only) unless `break_sum`.
fn vrrp(src: Ipv4Addr, version: u8, typ: u8, vrid: u8, count: u8, addrs: &[Ipv4Addr], tail: &[u8], break_sum: bool) -> Vec<u8> {
    let mut m = vec![(version << 4) | typ, vrid, 254, count];
    if version == 2 {
        m.extend_from_slice(&[0, 1, 0, 0]); // auth none, 1 s
    } else {
        m.extend_from_slice(&[0x00, 20, 0, 0]); // 200 ms
    }
    for a in addrs {
        m.extend_from_slice(&a.octets());
    }
    m.extend_from_slice(tail);
    let mut sum = sum16(&m);
    if version == 3 {
        sum += sum16(&src.octets()) + sum16(&[224, 0, 0, 18]) + 112 + m.len() as u32;
    }
    let mut c = fold(sum);
    if break_sum {
        c ^= 0x0100;
    }
    m[6..8].copy_from_slice(&c.to_be_bytes());
    m
}

/// VRRPv2 adverts built by vigil's own codec with the wrong secret: a PASS advert with
/// the password "wrong", or an AH advert whose ICV is computed under the key "wrong".
fn v2_forged(src: Ipv4Addr, vrid: u8, vip: Ipv4Addr, ah: Option<(AuthData, u32)>) -> Vec<u8> {
    let auth = if ah.is_some() { V2Auth::Ah } else { V2Auth::Pass(auth_data("wrong")) };
    let mut addrs = heapless::Vec::new();
    addrs.push(vip).unwrap();
    let repr = VrrpRepr { vrid, priority: 254, fields: VersionFields::V2 { adver_int: Seconds(1), auth }, addresses: VirtualAddresses::V4(addrs) };
    let mut tx = TxIpv4::new(src, 7);
    tx.ah = ah;
    let mut buf = [0u8; 256];
    let n = emit_ipv4(&repr, &tx, &mut buf).expect("emit");
    buf[..n].to_vec()
}

/// A VRRPv3 IPv6 advert for VRID 54 (the kernel fills the checksum: IPV6_CHECKSUM).
fn v6_advert() -> Vec<u8> {
    let mut m = vec![0x31, 54, 254, 1, 0x00, 20, 0, 0];
    m.extend_from_slice(&VIP6.octets());
    m
}

#[derive(Clone)]
enum Family {
    V4,
    V6 { hops: i32 },
}

struct Kind {
    name: &'static str,
    family: Family,
    packets: Vec<Vec<u8>>,
    /// The instance that must count it (both nodes), and under which counter; `None` for
    /// `other_vrid` (wrong_vrid: counted outside `rx_errors`).
    target: &'static str,
    reason: Option<&'static str>,
}

fn kinds(src: Ipv4Addr) -> Vec<Kind> {
    let vip = [VIP4[0]];
    let good = |vrid| vrrp(src, 3, 1, vrid, 1, &vip, &[], false);
    let v4 = |p: Vec<u8>| ipv4(src, 255, 112, &p);
    let whole = v4(good(51));
    let k = |name, packets, target, reason: Option<&'static str>| Kind { name, family: Family::V4, packets, target, reason };
    vec![
        k("ttl", vec![ipv4(src, 64, 112, &good(51)), ipv4(src, 1, 112, &good(51))], "V3", Some("ttl")),
        k("checksum", vec![v4(vrrp(src, 3, 1, 51, 1, &vip, &[], true))], "V3", Some("checksum")),
        k("wrong_vrid", vec![v4(good(99))], "V3", None),
        k("pass", vec![v2_forged(src, 52, VIP4[1], None)], "PASS", Some("auth_failure")),
        k(
            "ah",
            // Rising sequence numbers: a replay check must not be what refuses them.
            (1..=64).map(|seq| v2_forged(src, 53, VIP4[2], Some((auth_data("wrong"), seq)))).collect(),
            "AH",
            Some("auth_failure"),
        ),
        k(
            "truncated",
            // IP header + 1 byte (no VRID), + 2 (no priority), VRRP header cut at 6, an address cut in half.
            [21, 22, 26, 30].iter().map(|&n| whole[..n].to_vec()).collect(),
            "V3",
            Some("packet_length"),
        ),
        k(
            "count_lies",
            vec![v4(vrrp(src, 3, 1, 51, 0, &vip, &[], false)), v4(vrrp(src, 3, 1, 51, 2, &vip, &[], false)), v4(vrrp(src, 3, 1, 51, 255, &vip, &[], false))],
            "V3",
            Some("packet_length"),
        ),
        Kind { name: "hop_limit", family: Family::V6 { hops: 64 }, packets: vec![v6_advert()], target: "V6", reason: Some("ttl") },
        k("version", vec![v4(vrrp(src, 2, 1, 51, 1, &vip, &[0; 8], false)), v4(vrrp(src, 7, 1, 51, 1, &vip, &[], false))], "V3", Some("version")),
        k("type", [0, 2, 15].iter().map(|&t| v4(vrrp(src, 3, t, 51, 1, &vip, &[], false))).collect(), "V3", Some("invalid_type")),
    ]
}

// ---- sending ----------------------------------------------------------------------------------

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd is ours, closed once.
        unsafe { libc::close(self.0) };
    }
}

fn setopt<T>(fd: i32, level: i32, name: i32, v: &T) {
    // SAFETY: `v` is a live value of the length passed.
    let r = unsafe { libc::setsockopt(fd, level, name, (v as *const T).cast(), std::mem::size_of::<T>() as u32) };
    assert_eq!(r, 0, "setsockopt {level}/{name}: {}", std::io::Error::last_os_error());
}

fn eth0_index() -> u32 {
    // SAFETY: a NUL-terminated literal.
    let i = unsafe { libc::if_nametoindex(c"eth0".as_ptr()) };
    assert!(i > 0, "no eth0");
    i
}

/// Sends `packets` round robin to the VRRP group from the calling thread's namespace until `stop`.
fn flood(family: Family, packets: Arc<Vec<Vec<u8>>>, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let ifindex = eth0_index();
    let mut n = 0u64;
    match family {
        Family::V4 => {
            // SAFETY: plain integers; checked below.
            let fd = Fd(unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) });
            assert!(fd.0 >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let mreq = libc::ip_mreqn { imr_multiaddr: libc::in_addr { s_addr: 0 }, imr_address: libc::in_addr { s_addr: 0 }, imr_ifindex: ifindex as i32 };
            setopt(fd.0, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq);
            let sa = libc::sockaddr_in { sin_family: libc::AF_INET as u16, sin_port: 0, sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([224, 0, 0, 18]) }, sin_zero: [0; 8] };
            while !stop.load(Ordering::Relaxed) {
                for p in packets.iter() {
                    // SAFETY: `p` and `sa` are valid for the lengths passed, alive for the call.
                    let r = unsafe { libc::sendto(fd.0, p.as_ptr().cast(), p.len(), 0, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32) };
                    n += u64::from(r > 0);
                }
            }
        }
        Family::V6 { hops } => {
            // SAFETY: plain integers; checked below.
            let fd = Fd(unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, 112) });
            assert!(fd.0 >= 0, "raw socket: {}", std::io::Error::last_os_error());
            setopt(fd.0, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops);
            setopt(fd.0, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(ifindex as i32));
            setopt(fd.0, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, &6i32);
            // SAFETY: sockaddr_in6 is plain integers and bytes; all-zero is valid.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as u16;
            sa.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12).octets();
            sa.sin6_scope_id = ifindex;
            while !stop.load(Ordering::Relaxed) {
                for p in packets.iter() {
                    // SAFETY: `p` and `sa` are valid for the lengths passed, alive for the call.
                    let r = unsafe { libc::sendto(fd.0, p.as_ptr().cast(), p.len(), 0, (&sa as *const libc::sockaddr_in6).cast(), std::mem::size_of::<libc::sockaddr_in6>() as u32) };
                    n += u64::from(r > 0);
                }
            }
        }
    }
    sent.fetch_add(n, Ordering::Relaxed);
}

// ---- capturing the master's adverts on the backup's side ---------------------------------------

/// Arrival times of n1's adverts per VRID, seen on n2's eth0 until `stop`. A classic BPF
/// filter keeps only frames from n1's MAC, so the flood cannot fill this socket's buffer.
fn capture(mac: [u8; 6], stop: Arc<AtomicBool>, seen: Arc<Mutex<BTreeMap<u8, Vec<Instant>>>>) {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain integers; checked below.
    let fd = Fd(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(proto)) });
    assert!(fd.0 >= 0);
    let hi = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let lo = u32::from(u16::from_be_bytes([mac[4], mac[5]]));
    let prog = [
        libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 6 },  // ld [6]
        libc::sock_filter { code: 0x15, jt: 0, jf: 3, k: hi }, // jeq hi
        libc::sock_filter { code: 0x28, jt: 0, jf: 0, k: 10 }, // ldh [10]
        libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: lo }, // jeq lo
        libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0xffff },
        libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0 },
    ];
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
    setopt(fd.0, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog);
    // SAFETY: sockaddr_ll is plain integers and bytes; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = eth0_index() as i32;
    // SAFETY: the pointer and length describe `sll`.
    let r = unsafe { libc::bind(fd.0, (&sll as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32) };
    assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
    let tv = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
    setopt(fd.0, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv);
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let t = Instant::now();
        if n < 34 {
            continue;
        }
        let f = &buf[..n as usize];
        let vrid = match u16::from_be_bytes([f[12], f[13]]) {
            0x0800 => {
                let ihl = usize::from(f[14] & 0x0f) * 4;
                match f[23] {
                    112 => f.get(14 + ihl + 1),
                    51 => f.get(14 + ihl + 24 + 1),
                    _ => None,
                }
            }
            0x86dd if f[20] == 112 => f.get(14 + 40 + 1),
            _ => None,
        };
        if let Some(&v) = vrid {
            seen.lock().unwrap().entry(v).or_default().push(t);
        }
    }
}

/// The largest gap between n1's adverts for `vrid` around the window: the last advert
/// before it, those inside it, and the first after it.
fn largest_gap(times: &[Instant], from: Instant, to: Instant) -> Option<Duration> {
    let first = times.iter().rposition(|&t| t < from).unwrap_or(0);
    let last = times.iter().position(|&t| t > to).unwrap_or(times.len().saturating_sub(1));
    times.get(first..=last)?.windows(2).map(|w| w[1] - w[0]).max()
}

// ---- status -----------------------------------------------------------------------------------

fn status(sock: &Path) -> serde_json::Value {
    let out = lab::run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(sock),
        Duration::from_secs(10),
    )
    .expect("vigil status");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status --json: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn instance<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["vrrp"].as_array().and_then(|a| a.iter().find(|i| i["name"] == name)).unwrap_or_else(|| panic!("no instance {name} in {s}"))
}

fn count(s: &serde_json::Value, name: &str, reason: &str) -> u64 {
    let c = &instance(s, name)["counters"];
    if reason == "other_vrid" { c["other_vrid"].as_u64() } else { c["rx_errors"][reason].as_u64() }.unwrap_or_else(|| panic!("no counter {reason} in {c}"))
}

const REASONS: [&str; 9] =
    ["packet_length", "ttl", "invalid_type", "version", "checksum", "protocol", "invalid_auth_type", "auth_type_mismatch", "auth_failure"];

/// What must not move on a node under a flood: each instance's state and last transition, the
/// children's restarts and watchdog kills.
fn steady(s: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = s["vrrp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {} since {} master {}x", i["name"], i["state"], i["last_transition_ms"], i["fsm"]["become_master"]))
        .collect();
    for c in s["children"].as_array().unwrap() {
        v.push(format!("{} restarts {} watchdog_kills {}", c["role"], c["restarts"], c["watchdog_kills"]));
    }
    v
}

#[test]
fn forged_and_malformed_adverts_move_nothing() {
    if !ready("forged_and_malformed_adverts_move_nothing") {
        return;
    }
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (secs, flooders) = (env("VIGIL_HOSTILE_SECS", 3), env("VIGIL_HOSTILE_FLOODERS", 1) as usize);
    let lab = Lab::new("vhost", 3);
    let start = |node: usize, prio: u8| {
        let dir = lab.node_dir(node);
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, config(node, prio)).unwrap();
        let mut argv = vigil().argv(&dir, &conf);
        // Hellos every 500 ms: a loop starved for a second is killed, and status shows it.
        argv.push("--watchdog-interval=500".into());
        (lab.spawn(node, argv), dir.join("control.sock"))
    };
    let (d1, sock1) = start(1, 150);
    let (d2, sock2) = start(2, 100);
    let vips: Vec<String> = VIP4.iter().map(|a| a.to_string()).chain([VIP6.to_string()]).collect();
    for v in &vips {
        assert!(lab.wait_addr(1, v, true, Duration::from_secs(15)), "n1 never master for {v}\n{}", d1.log());
    }
    // Let n2 settle as backup everywhere.
    let end = Instant::now() + Duration::from_secs(10);
    while !status(&sock2)["vrrp"].as_array().is_some_and(|a| a.len() == 4 && a.iter().all(|i| i["state"] == "BACKUP")) {
        assert!(Instant::now() < end, "n2 not backup everywhere: {}\n{}", status(&sock2), d2.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    for v in &vips {
        assert!(!lab.has_addr(2, v), "n2 holds {v} too");
    }

    let stop_cap = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(BTreeMap::<u8, Vec<Instant>>::new()));
    let cap = {
        let (s, v, ns) = (stop_cap.clone(), seen.clone(), lab.ns(2));
        std::thread::spawn(move || lab::in_netns(&ns, move || capture(lab::node_mac(1), s, v)).unwrap())
    };
    std::thread::sleep(Duration::from_millis(1500));
    let mut before = [status(&sock1), status(&sock2)];
    let steady0 = [steady(&before[0]), steady(&before[1])];
    let received0: Vec<u64> = INSTANCES.iter().map(|(n, ..)| instance(&before[0], n)["counters"]["adverts_received"].as_u64().unwrap()).collect();
    let mut report = Vec::new();

    for kind in kinds(lab::node_ip4(3)) {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let packets = Arc::new(kind.packets.clone());
        let t0 = Instant::now();
        let flooders: Vec<_> = (0..flooders)
            .map(|_| {
                let (s, n, p, f, ns) = (stop.clone(), sent.clone(), packets.clone(), kind.family.clone(), lab.ns(3));
                std::thread::spawn(move || lab::in_netns(&ns, move || flood(f, p, s, n)).unwrap())
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            f.join().unwrap();
        }
        let t1 = Instant::now();
        // Let the sockets drain and the master's next adverts land before judging.
        std::thread::sleep(Duration::from_millis(1200));
        let after = [status(&sock1), status(&sock2)];
        let sent = sent.load(Ordering::Relaxed);

        let gaps: Vec<(String, Option<Duration>, Duration)> = {
            let seen = seen.lock().unwrap();
            INSTANCES
                .iter()
                .map(|&(name, vrid, int)| (name.to_string(), largest_gap(seen.get(&vrid).map_or(&[][..], |v| v), t0, t1), int))
                .collect()
        };
        let reason = kind.reason.unwrap_or("other_vrid");
        let counted: Vec<u64> = (0..2).map(|n| count(&after[n], kind.target, reason) - count(&before[n], kind.target, reason)).collect();
        let gap_text: Vec<String> =
            gaps.iter().map(|(n, g, int)| format!("{n} {} ms ({:.2}x)", g.map_or(-1, |g| g.as_millis() as i64), g.map_or(f64::NAN, |g| g.as_secs_f64() / int.as_secs_f64()))).collect();
        let line = format!(
            "{:<10} sent {sent} in {:.1} s ({:.0}/s); {} {reason} counted by n1 {} n2 {}; largest advert gap: {}",
            kind.name,
            (t1 - t0).as_secs_f64(),
            sent as f64 / (t1 - t0).as_secs_f64(),
            kind.target,
            counted[0],
            counted[1],
            gap_text.join(", ")
        );
        eprintln!("hostile: {line}");
        report.push(line);

        for n in 0..2 {
            assert_eq!(steady(&after[n]), steady0[n], "{}: a state change, restart or watchdog kill on n{}", kind.name, n + 1);
            assert!(counted[n] > 0 && counted[n] <= sent, "{}: n{} counted {} under {reason} in {} for {sent} sent", kind.name, n + 1, counted[n], kind.target);
            for (name, ..) in INSTANCES {
                for r in REASONS {
                    if Some(r) == kind.reason {
                        continue;
                    }
                    let (a, b) = (count(&after[n], name, r), count(&before[n], name, r));
                    assert_eq!(a, b, "{}: n{} {name} counted it under {r} too", kind.name, n + 1);
                }
            }
        }
        if kind.reason.is_some() {
            // n1 hears no other VRID but the attacker's: its target instance must not have
            // filed the kind under another VRID (n2's hears n1's other instances).
            let o = count(&after[0], kind.target, "other_vrid") - count(&before[0], kind.target, "other_vrid");
            assert_eq!(o, 0, "{}: n1 {} counted {o} of them as another VRID", kind.name, kind.target);
        }
        for (i, (name, ..)) in INSTANCES.iter().enumerate() {
            let r = instance(&after[0], name)["counters"]["adverts_received"].as_u64().unwrap();
            assert_eq!(r, received0[i], "{}: the master accepted a forged advert in {name}", kind.name);
        }
        for v in &vips {
            assert!(lab.has_addr(1, v) && !lab.has_addr(2, v), "{}: {v} moved", kind.name);
        }
        for (name, gap, int) in &gaps {
            let gap = gap.unwrap_or_else(|| panic!("{}: no advert from n1 for {name} captured", kind.name));
            assert!(gap < *int * 3, "{}: n1's adverts for {name} stopped for {gap:?} (advert_int {int:?})", kind.name);
        }
        before = after;
    }
    stop_cap.store(true, Ordering::Relaxed);
    cap.join().unwrap();
    eprintln!("hostile: {secs} s per kind, {flooders} flooding thread(s); summary:\n  {}", report.join("\n  "));
    // The text status shows the same counters by reason.
    let out = lab::run_bounded(std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--control"]).arg(&sock1), Duration::from_secs(10)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    let row = text.lines().skip_while(|l| !l.starts_with("Adverts dropped, by reason")).find(|l| l.trim_start().starts_with("V3 ")).unwrap_or_else(|| panic!("no per-reason table:\n{text}"));
    let e = &instance(&before[0], "V3")["counters"];
    for r in ["packet_length", "ttl", "invalid_type", "version", "checksum"] {
        let n = e["rx_errors"][r].as_u64().unwrap();
        assert!(row.split_whitespace().any(|w| w.parse::<u64>().ok() == Some(n)), "{r} {n} not in {row:?}");
    }
    drop((d1, d2));
}
