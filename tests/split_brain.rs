//! Split brain: two vigil directors (n1 priority 150, n2 priority 100,
//! VRRPv3, 200 ms adverts, one VIP) and a client on a bridge. Each round cuts one director off
//! the bridge (its bridge port leaves the bridge: its link stays up, so nothing goes FAULT),
//! alternately the master and the backup, then heals. Asserted per round:
//!
//! - during the partition, as RFC 9568 says: the backup side becomes master after its
//!   Master_Down_Interval (not before 2.5 advert intervals, within 5 s), and the master stays
//!   master: both are masters;
//! - after the heal, exactly one master (n1, the higher priority) within 2 s (the goal is one
//!   advert interval; the figure is printed);
//! - when n1 was the one cut off, the client had moved to n2; after the heal n1 hears n2's
//!   lower priority advert and sends gratuitous ARPs (keepalived's `garp_lower_prio_repeat`,
//!   defaulting to `garp_master_repeat`), and the client's neighbour entry for the VIP points
//!   at n1's MAC again within 2 s (it pointed at n2's during the partition).
//!
//! A client pings the VIP every 50 ms through its own kernel (so its ARP cache is the one in
//! use); the outage per heal is the longest time without an answer around the heal, minus the
//! probe period; min/median/max are printed. 5 rounds; `VIGIL_SPLIT_ROUNDS=N` for N.

mod lab;

use lab::{CLIENT, Kind, Lab, SWITCH, VrrpConf, ready, vigil};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const ADVERT: Duration = Duration::from_millis(200);
const PING_EVERY: Duration = Duration::from_millis(50);

fn state(sock: &Path) -> String {
    let out = lab::run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(sock),
        Duration::from_secs(10),
    )
    .expect("vigil status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["vrrp"][0]["state"].as_str().unwrap_or("?").to_string()
}

/// Polls until `f` holds, at most `bound`; the time it took.
fn until(bound: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > bound {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ones_complement(b: &[u8]) -> u16 {
    let mut s: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// ICMP echo to the VIP every `PING_EVERY` from the calling thread's namespace (a raw ICMP
/// socket: the kernel resolves the VIP through its own neighbour table); answer times pushed.
fn pinger(stop: Arc<AtomicBool>, answers: Arc<Mutex<Vec<Instant>>>) {
    // SAFETY: plain integers; checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP) };
    assert!(fd >= 0, "icmp socket: {}", std::io::Error::last_os_error());
    let tv = libc::timeval { tv_sec: 0, tv_usec: 5_000 };
    // SAFETY: `tv` is a valid timeval of the length passed.
    unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&tv as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32) };
    let id = (std::process::id() as u16).to_be_bytes();
    let sa = libc::sockaddr_in { sin_family: libc::AF_INET as u16, sin_port: 0, sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(VIP.octets()) }, sin_zero: [0; 8] };
    let mut next = Instant::now();
    let mut seq: u16 = 0;
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            seq = seq.wrapping_add(1);
            let mut m = [8, 0, 0, 0, id[0], id[1], (seq >> 8) as u8, seq as u8];
            let c = ones_complement(&m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            // SAFETY: `m` and `sa` are valid for the lengths passed, alive for the call.
            unsafe { libc::sendto(fd, m.as_ptr().cast(), m.len(), 0, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32) };
            next += PING_EVERY;
        }
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 28 {
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            let icmp = &buf[ihl..n as usize];
            if buf[12..16] == VIP.octets() && icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id {
                answers.lock().unwrap().push(Instant::now());
            }
        }
    }
    // SAFETY: ours, closed once.
    unsafe { libc::close(fd) };
}

/// The client's neighbour entry for the VIP: its MAC, if any.
fn client_neigh(lab: &Lab) -> Option<String> {
    let out = lab.exec(CLIENT, &["ip", "-j", "neigh", "show", &VIP.to_string(), "dev", "eth0"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v[0]["lladdr"].as_str().map(str::to_string)
}

fn bridge_port(lab: &Lab, node: usize, attach: bool) {
    let port = Lab::port(node);
    let args: Vec<&str> = if attach { vec!["ip", "link", "set", &port, "master", "br0"] } else { vec!["ip", "link", "set", &port, "nomaster"] };
    let o = lab.exec(SWITCH, &args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn stats(v: &mut [Duration]) -> String {
    v.sort();
    match v {
        [] => "none".into(),
        _ => format!("min {:?} median {:?} max {:?}", v[0], v[v.len() / 2], v[v.len() - 1]),
    }
}

#[test]
fn partitions_heal_to_one_master_and_the_clients_follow() {
    if !ready("partitions_heal_to_one_master_and_the_clients_follow") {
        return;
    }
    let rounds: usize = std::env::var("VIGIL_SPLIT_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let lab = Lab::new("vsplit", 2);
    let d1 = lab.start(1, vigil(), &VrrpConf::new(1, 3, 150, "0.2", &["192.0.2.100/24"]).render());
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.2", &["192.0.2.100/24"]).render());
    let (s1, s2) = (d1.control_socket(), d2.control_socket());
    assert!(until(Duration::from_secs(15), || state(&s1) == "MASTER" && state(&s2) == "BACKUP").is_some(), "no election\n{}\n{}", d1.log(), d2.log());
    // The probe only listens (one ARP request at start): its own requests would refresh the
    // client's cache and hide a missing gratuitous ARP.
    let probe = lab.probe_every(&VIP.to_string(), Duration::from_secs(3600));
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let pinger = {
        let (s, a, ns) = (stop.clone(), answers.clone(), lab.ns(CLIENT));
        std::thread::spawn(move || lab::in_netns(&ns, move || pinger(s, a)).unwrap())
    };
    let mac1 = lab::fmt_mac(&lab.mac(1));
    assert!(until(Duration::from_secs(5), || client_neigh(&lab).as_deref() == Some(mac1.as_str())).is_some(), "client never resolved the VIP to n1");

    let (mut takeovers, mut settles, mut outages) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let cut = if round % 2 == 0 { 1 } else { 2 };
        // A varying phase against the advert clock.
        std::thread::sleep(Duration::from_millis(500 + (round as u64 * 37) % 200));
        bridge_port(&lab, cut, false);
        let took = until(Duration::from_secs(5), || state(&s2) == "MASTER");
        let took = took.unwrap_or_else(|| panic!("round {round}: n2 never became master with n{cut} cut off\n{}", d2.log()));
        assert!(took >= ADVERT * 5 / 2, "round {round}: n2 took over after {took:?}, before its Master_Down_Interval");
        // Past n2's first GARP burst by more than the client's ARP locktime (1 s), well
        // before its delayed burst (garp_master_delay 5 s).
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!((state(&s1).as_str(), state(&s2).as_str()), ("MASTER", "MASTER"), "round {round}: not both masters in the partition");
        if cut == 1 {
            // n2's gratuitous ARPs moved the client: the heal has something to undo.
            let mac2 = lab::fmt_mac(&lab.mac(2));
            assert!(until(Duration::from_secs(2), || client_neigh(&lab).as_deref() == Some(mac2.as_str())).is_some(), "round {round}: the client did not follow n2: {:?}", client_neigh(&lab));
        }

        bridge_port(&lab, cut, true);
        let heal = Instant::now();
        // One loop for both figures, so that neither waits on the other.
        let (mut settled, mut neigh) = (None, None);
        while heal.elapsed() < Duration::from_secs(2) && (settled.is_none() || neigh.is_none()) {
            if neigh.is_none() && client_neigh(&lab).as_deref() == Some(mac1.as_str()) {
                neigh = Some(heal.elapsed());
            }
            if settled.is_none() && state(&s2) == "BACKUP" && state(&s1) == "MASTER" {
                settled = Some(heal.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let settled = settled.unwrap_or_else(|| panic!("round {round}: not one master 2 s after the heal: n1 {} n2 {}\n{}\n{}", state(&s1), state(&s2), d1.log(), d2.log()));
        let garp = probe.wait_event(Duration::from_secs(1), |e| e.t >= heal && e.kind == Kind::Garp && e.mac == lab.mac(1)).map(|t| t - heal);
        std::thread::sleep(Duration::from_millis(1000));
        let outage = {
            let a = answers.lock().unwrap();
            let from = heal - Duration::from_millis(1000);
            let around: Vec<Instant> = a.iter().copied().filter(|&t| t >= from).collect();
            let last = *around.last().unwrap_or(&from);
            let gaps = around.windows(2).map(|w| w[1] - w[0]).chain([Instant::now() - last]);
            gaps.max().unwrap_or_default().saturating_sub(PING_EVERY)
        };
        eprintln!(
            "split round {round}: n{cut} cut off; n2 master after {took:?}; one master {settled:?} after the heal; n1 GARP after {garp:?}; client's ARP on n1 after {neigh:?}; outage {outage:?}"
        );
        if cut == 1 {
            assert!(garp.is_some(), "round {round}: no gratuitous ARP from n1 after the heal\n{}", d1.log());
        }
        assert!(neigh.is_some(), "round {round}: the client's ARP entry for the VIP is {:?}, not n1's {mac1}", client_neigh(&lab));
        takeovers.push(took);
        settles.push(settled);
        outages.push(outage);
    }
    stop.store(true, Ordering::Relaxed);
    pinger.join().unwrap();
    eprintln!(
        "split brain, {rounds} rounds: backup took over after {}; one master after the heal {}; outage per heal {}",
        stats(&mut takeovers),
        stats(&mut settles),
        stats(&mut outages)
    );
    drop(probe);
}
