//! Bounded work per turn: a flood of protocol-112 datagrams at a master, as
//! fast as one thread can send them, must not keep its single-threaded VRRP child from its
//! timers and from the watchdog's hello. The master stays master, keeps sending its adverts
//! (the largest gap is printed, and bounded generously), the watchdog kills nothing, and the
//! dropped datagrams are counted. Bounds are functional deadlines, not performance figures.

mod lab;

use lab::{Lab, VrrpConf, ready, vigil};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A VRRPv3 advert from `src` for VRID 99 (not the instance's): well formed, so the receive
/// path does the whole parse before dropping it.
fn advert(src: Ipv4Addr) -> Vec<u8> {
    let mut v = vec![0x31, 99, 200, 1, 0x00, 0x64, 0, 0, 192, 0, 2, 199];
    // Checksum over the pseudo header + message (RFC 5798 §5.2.8), as keepalived computes it.
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&[224, 0, 0, 18]);
    add(&[0, 112, 0, v.len() as u8]);
    add(&v);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    v[6..8].copy_from_slice(&c.to_be_bytes());
    v
}

/// Sends `pkt` to 224.0.0.18 with TTL 255 from a raw socket until `stop`; the count sent.
fn flood(pkt: Vec<u8>, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let s = socket2_raw();
    let dst = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 18), 0);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..256 {
            if s.send_to(&pkt, dst) {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

struct Raw(i32);

impl Raw {
    fn send_to(&self, pkt: &[u8], dst: SocketAddrV4) -> bool {
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(dst.ip().octets()) },
            sin_zero: [0; 8],
        };
        // SAFETY: `pkt` and `sa` are valid for the lengths passed, alive for the call.
        let n = unsafe {
            libc::sendto(self.0, pkt.as_ptr().cast(), pkt.len(), 0, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32)
        };
        n > 0
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: the fd is ours, closed once.
        unsafe { libc::close(self.0) };
    }
}

fn socket2_raw() -> Raw {
    // SAFETY: socket takes plain integers; setsockopt gets values of the lengths passed, alive for
    // each call; if_nametoindex a NUL-terminated literal.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, 112);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let ttl: i32 = 255;
        libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, (&ttl as *const i32).cast(), 4);
        // No route to 224.0.0.0/4 in the lab: name the interface.
        let ifindex = libc::if_nametoindex(c"eth0".as_ptr());
        assert!(ifindex > 0, "no eth0");
        let mreq = libc::ip_mreqn { imr_multiaddr: libc::in_addr { s_addr: 0 }, imr_address: libc::in_addr { s_addr: 0 }, imr_ifindex: ifindex as i32 };
        libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, (&mreq as *const libc::ip_mreqn).cast(), std::mem::size_of::<libc::ip_mreqn>() as u32);
        Raw(fd)
    }
}

/// Arrival times of node 1's adverts seen on node 2's eth0 for `window`.
fn capture(window: Duration, from: Ipv4Addr) -> Vec<Instant> {
    let proto = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: plain integers; checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(proto)) };
    assert!(fd >= 0);
    let tv = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
    // SAFETY: `tv` is a valid timeval of the length passed.
    unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&tv as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32) };
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    let end = Instant::now() + window;
    while Instant::now() < end {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 21 && buf[9] == 112 && buf[12..16] == from.octets() && buf[21] == 51 {
            seen.push(Instant::now());
        }
    }
    // SAFETY: ours, closed once.
    unsafe { libc::close(fd) };
    seen
}

const FLOODERS: usize = 3;

#[test]
fn a_flood_does_not_starve_the_vrrp_child() {
    if !ready("a_flood_does_not_starve_the_vrrp_child") {
        return;
    }
    let lab = Lab::new("vfld", 2);
    let dir = lab.node_dir(1);
    let conf = dir.join("keepalived.conf");
    let mut c = VrrpConf::new(1, 3, 150, "0.2", &["192.0.2.100/24"]);
    c.start_master = true;
    std::fs::write(&conf, c.render()).unwrap();
    let mut argv = vigil().argv(&dir, &conf);
    // Hellos every 200 ms: a starved loop would be killed within 400 ms.
    argv.push("--watchdog-interval=200".into());
    let d = lab.spawn(1, argv);
    assert!(lab.wait_addr(1, "192.0.2.100", true, Duration::from_secs(10)), "n1 never master\n{}", d.log());
    let sock = dir.join("control.sock");
    let status = || -> serde_json::Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(&sock).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = status();

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let pkt = advert(lab::node_ip4(2));
    // Senders enough to outrun one receiver on this machine's cores.
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (s2, n2, pkt) = (stop.clone(), sent.clone(), pkt.clone());
            let lab_ns = lab.ns(2);
            std::thread::spawn(move || {
                lab::in_netns(&lab_ns, move || flood(pkt, s2, n2)).unwrap();
            })
        })
        .collect();
    let adverts = lab.in_ns(2, move || capture(Duration::from_secs(5), lab::node_ip4(1))).unwrap();
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let after = status();

    let gap = adverts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(Duration::MAX);
    let i = &after["vrrp"][0];
    let other = i["counters"]["other_vrid"].as_u64().unwrap_or(0);
    eprintln!(
        "flood: {} datagrams sent in 5 s, {other} counted as another VRID, {} dropped by the kernel (queue full), budget hit {} times; {} adverts, largest gap {gap:?} (advert_int 200 ms)",
        sent.load(Ordering::Relaxed),
        i["counters"]["rx_queue_drops"],
        i["counters"]["rx_budget_exhausted"],
        adverts.len()
    );
    assert_eq!(i["state"], "MASTER", "the flood moved the master: {i}");
    assert_eq!(i["fsm"]["become_master"], before["vrrp"][0]["fsm"]["become_master"], "a state change under the flood");
    for c in after["children"].as_array().unwrap() {
        assert_eq!((c["watchdog_kills"].as_u64(), c["restarts"].as_u64()), (Some(0), Some(0)), "the watchdog had to act: {c}");
    }
    assert!(other > 1000, "the flood did not reach the child: {other}");
    // Every datagram is accounted for: read and counted, or dropped by the kernel and counted.
    let (sent, drops) = (sent.load(Ordering::Relaxed), i["counters"]["rx_queue_drops"].as_u64().unwrap_or(0));
    assert!(other + drops <= sent && other + drops >= sent / 100 * 95, "sent {sent}, counted {other}, dropped {drops}");
    assert!(adverts.len() >= 15, "{} adverts in 5 s at 200 ms", adverts.len());
    assert!(gap < Duration::from_millis(1000), "largest advert gap under the flood: {gap:?}");
}

/// The kernel's drops of a full receive queue are counted, not silent: 3,000 datagrams to a
/// VRRP receive socket that nobody reads (on lo, in a namespace of this thread's own), then
/// reads: `queue_drops` (stamped by the kernel on the next datagram queued) says how many did
/// not fit, and the queued ones plus the dropped ones are every datagram sent.
#[test]
fn receive_queue_overflow_is_counted() {
    if !nix::unistd::geteuid().is_root() {
        lab::skip("receive_queue_overflow_is_counted", "needs root for a network namespace");
        return;
    }
    let r = std::thread::spawn(|| {
        // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET affects only this thread.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare: {}", std::io::Error::last_os_error());
        let mut nl = vigil::netlink::Rtnl::new().unwrap();
        let lo = nl.link_index("lo").unwrap();
        nl.link_set_up(lo, true).unwrap();
        let rx = vigil::vrrp::net::AdvertSocket::receiver("lo", lo, false, &[], false).unwrap();
        // SAFETY: plain integers; checked below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, 112) };
        assert!(fd >= 0);
        let tx = Raw(fd);
        let pkt = advert(Ipv4Addr::LOCALHOST);
        let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let sent = (0..3000).filter(|_| tx.send_to(&pkt, dst)).count() as u64;
        let mut buf = [0u8; 1500];
        let mut queued = 0u64;
        while rx.recv(&mut buf).is_ok() {
            queued += 1;
        }
        // The kernel stamps its running count on datagrams queued after a drop: one more.
        assert!(tx.send_to(&pkt, dst));
        rx.recv(&mut buf).expect("the datagram sent after the drops");
        (sent, queued, u64::from(rx.queue_drops()))
    })
    .join()
    .unwrap();
    let (sent, queued, drops) = r;
    eprintln!("receive queue: {sent} sent, {queued} queued and read, {drops} dropped by the kernel (counted)");
    assert!(drops > 0, "3000 datagrams fitted in the queue?");
    assert_eq!(queued + drops, sent, "the kernel's count does not account for every datagram");
}
