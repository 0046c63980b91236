//! The client-side probe: asks who has the VIP every few ms from a raw
//! AF_PACKET socket inside the client namespace and records who answers,
//! plus gratuitous ARPs / unsolicited NAs and VRRP adverts seen on the wire.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub type Mac = [u8; 6];

pub fn fmt_mac(m: &Mac) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ARP reply (or solicited NA) for the VIP; `mac` is the sender hardware
    /// address (the target link-layer address for NA).
    Reply,
    /// Gratuitous ARP (sender IP == target IP == VIP) or unsolicited NA.
    Garp,
    /// A VRRP advertisement; `mac` is the Ethernet source.
    Advert { version: u8, vrid: u8, priority: u8 },
}

#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub t: Instant,
    pub mac: Mac,
    pub kind: Kind,
}

impl Event {
    /// Replies and gratuitous ARPs/NAs: evidence of who owns the VIP.
    pub fn is_ownership(&self) -> bool {
        matches!(self.kind, Kind::Reply | Kind::Garp)
    }
}

pub struct Probe {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<Event>>>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<io::Result<()>>>,
    pub vip: IpAddr,
    pub period: Duration,
    pub started: Instant,
}

struct Cfg {
    my_mac: Mac,
    my_ip4: Ipv4Addr,
    my_ip6: Ipv6Addr,
    vip: IpAddr,
}

impl Probe {
    /// Starts the probe thread in namespace `ns`; returns once the socket is
    /// bound (or with the setup error).
    pub fn start(
        ns: &str,
        ifname: &str,
        my_mac: Mac,
        my_ip4: Ipv4Addr,
        my_ip6: Ipv6Addr,
        vip: IpAddr,
        period: Duration,
    ) -> io::Result<Probe> {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::with_capacity(4096)));
        let sent = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let path = std::path::Path::new("/run/netns").join(ns);
        let ifname = ifname.to_string();
        let (st, ev, se) = (stop.clone(), events.clone(), sent.clone());
        let cfg = Cfg { my_mac, my_ip4, my_ip6, vip };
        let thread = std::thread::Builder::new().name("lab-probe".into()).spawn(move || {
            let fd = match setup(&path, &ifname) {
                Ok(fd) => {
                    let _ = tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            let r = run(fd, &cfg, period, &st, &ev, &se);
            // SAFETY: fd is the raw socket setup() opened for this thread alone; run() has
            // returned and nothing else closes it.
            unsafe {
                libc::close(fd);
            }
            r
        })?;
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => return Err(io::Error::other("probe thread did not start within 5 s")),
        }
        Ok(Probe { stop, events, sent, thread: Some(thread), vip, period, started: Instant::now() })
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    pub fn timeline(&self) -> Timeline {
        Timeline { events: self.events(), started: self.started }
    }

    /// Waits until an ownership event from `mac` at or after `since`.
    pub fn wait_owner(&self, mac: Mac, since: Instant, timeout: Duration) -> Option<Instant> {
        self.wait_event(timeout, |e| e.t >= since && e.mac == mac && e.is_ownership())
    }

    /// Waits until an advert from `mac` at or after `since`; its time.
    pub fn wait_advert(&self, mac: Mac, since: Instant, timeout: Duration) -> Option<Instant> {
        self.wait_event(timeout, |e| e.t >= since && e.mac == mac && matches!(e.kind, Kind::Advert { .. }))
    }

    pub fn wait_event(&self, timeout: Duration, f: impl Fn(&Event) -> bool) -> Option<Instant> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| f(e)) {
                return Some(e.t);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the thread and returns everything recorded.
    pub fn finish(mut self) -> Timeline {
        self.halt();
        self.timeline()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Err(e)) => eprintln!("probe: {e}"),
                Err(_) => eprintln!("probe thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.halt();
    }
}

fn setup(path: &std::path::Path, ifname: &str) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: f is an open namespace fd for the whole call; setns moves only the
    // probe's own thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    drop(f);
    let cname = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: cname is a NUL-terminated string alive across the call.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::other(format!("no {ifname} in the probe namespace")));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket(2) takes integers only.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto as i32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain integers and a byte array; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: the pointer and length describe `sll`, a live sockaddr_ll the kernel only reads.
    let r = unsafe {
        libc::bind(
            fd,
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        // SAFETY: fd came from socket() above and is closed once, on this error path only.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(fd)
}

fn run(
    fd: i32,
    cfg: &Cfg,
    period: Duration,
    stop: &AtomicBool,
    events: &Mutex<Vec<Event>>,
    sent: &AtomicU64,
) -> io::Result<()> {
    let req = match cfg.vip {
        IpAddr::V4(v) => arp_request(cfg.my_mac, cfg.my_ip4, v),
        IpAddr::V6(v) => neighbour_solicitation(cfg.my_mac, cfg.my_ip6, v),
    };
    let mut next = Instant::now();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            // SAFETY: req is a live buffer; pointer and length describe it exactly.
            let r = unsafe { libc::send(fd, req.as_ptr() as *const _, req.len(), 0) };
            if r >= 0 {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            next += period;
            if next < now {
                next = now + period;
            }
        }
        let wait = next.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let ms = wait.as_millis().min(50) as i32;
        // SAFETY: pfd is one live pollfd and nfds is 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms.max(if wait.is_zero() { 0 } else { 1 })) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            continue;
        }
        loop {
            // SAFETY: sockaddr_ll is plain integers and a byte array; all-zero is valid.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut sl = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buf, sll and sl are live locals; the lengths passed are their sizes,
            // so the kernel writes no further than they reach.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr() as *mut _,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    &mut sll as *mut _ as *mut libc::sockaddr,
                    &mut sl,
                )
            };
            if n < 0 {
                break;
            }
            let t = Instant::now();
            if sll.sll_pkttype == libc::PACKET_OUTGOING as u8 {
                continue;
            }
            if let Some((mac, kind)) = parse(&buf[..n as usize], cfg.vip) {
                events.lock().unwrap().push(Event { t, mac, kind });
            }
        }
    }
    Ok(())
}

fn arp_request(mac: Mac, me: Ipv4Addr, vip: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let a = &mut f[14..];
    a[0..2].copy_from_slice(&1u16.to_be_bytes());
    a[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&1u16.to_be_bytes());
    a[8..14].copy_from_slice(&mac);
    a[14..18].copy_from_slice(&me.octets());
    a[24..28].copy_from_slice(&vip.octets());
    f
}

fn icmp6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, body: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], 0]) };
            sum += w as u32;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(body.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(body);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn neighbour_solicitation(mac: Mac, me: Ipv6Addr, vip: Ipv6Addr) -> Vec<u8> {
    let t = vip.octets();
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | t[13] as u16, u16::from_be_bytes([t[14], t[15]]));
    let mut icmp = vec![0u8; 32];
    icmp[0] = 135;
    icmp[8..24].copy_from_slice(&t);
    icmp[24] = 1; // source link-layer address
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    let ck = icmp6_checksum(&me, &dst, &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + 32);
    f.extend_from_slice(&[0x33, 0x33, 0xff, t[13], t[14], t[15]]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(58);
    f.push(255);
    f.extend_from_slice(&me.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// Classifies one received frame (pure; unit-testable).
pub fn parse(f: &[u8], vip: IpAddr) -> Option<(Mac, Kind)> {
    if f.len() < 14 {
        return None;
    }
    let src: Mac = f[6..12].try_into().ok()?;
    let et = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match et {
        0x0806 => {
            let IpAddr::V4(vip) = vip else { return None };
            if p.len() < 28 || p[4] != 6 || p[5] != 4 || u16::from_be_bytes([p[2], p[3]]) != 0x0800 {
                return None;
            }
            let op = u16::from_be_bytes([p[6], p[7]]);
            let sha: Mac = p[8..14].try_into().ok()?;
            let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let tpa = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            if spa == vip && tpa == vip {
                Some((sha, Kind::Garp))
            } else if op == 2 && spa == vip {
                Some((sha, Kind::Reply))
            } else {
                None
            }
        }
        0x0800 => {
            if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 112 {
                return None;
            }
            let ihl = (p[0] & 0xf) as usize * 4;
            let v = p.get(ihl..ihl + 4)?;
            Some((src, Kind::Advert { version: v[0] >> 4, vrid: v[1], priority: v[2] }))
        }
        0x86dd => {
            if p.len() < 40 || p[0] >> 4 != 6 {
                return None;
            }
            let l4 = &p[40..];
            match p[6] {
                112 => {
                    let v = l4.get(..4)?;
                    Some((src, Kind::Advert { version: v[0] >> 4, vrid: v[1], priority: v[2] }))
                }
                58 => {
                    let IpAddr::V6(vip) = vip else { return None };
                    if l4.len() < 24 || l4[0] != 136 {
                        return None;
                    }
                    let target: [u8; 16] = l4[8..24].try_into().ok()?;
                    if Ipv6Addr::from(target) != vip {
                        return None;
                    }
                    let solicited = l4[4] & 0x40 != 0;
                    let mut mac = src;
                    let mut o = &l4[24..];
                    while o.len() >= 8 && o[1] != 0 {
                        let len = o[1] as usize * 8;
                        if o[0] == 2 && len >= 8 {
                            mac = o[2..8].try_into().ok()?;
                        }
                        o = o.get(len..).unwrap_or(&[]);
                    }
                    Some((mac, if solicited { Kind::Reply } else { Kind::Garp }))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// What the probe saw, in time order.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub events: Vec<Event>,
    pub started: Instant,
}

impl Timeline {
    fn owner_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.is_ownership())
    }

    /// The MAC of the last reply/GARP at or before `t`.
    pub fn owner_at(&self, t: Instant) -> Option<Mac> {
        self.owner_events().filter(|e| e.t <= t).last().map(|e| e.mac)
    }

    /// First reply/GARP from `mac` at or after `t`.
    pub fn first_from(&self, mac: Mac, t: Instant) -> Option<Instant> {
        self.owner_events().find(|e| e.t >= t && e.mac == mac).map(|e| e.t)
    }

    /// Last reply/GARP from `mac` strictly before `t`.
    pub fn last_from_before(&self, mac: Mac, t: Instant) -> Option<Instant> {
        self.owner_events().filter(|e| e.t < t && e.mac == mac).last().map(|e| e.t)
    }

    /// Last advert from `mac` at or before `t`.
    pub fn last_advert_before(&self, mac: Mac, t: Instant) -> Option<Instant> {
        self.events
            .iter()
            .filter(|e| e.t <= t && e.mac == mac && matches!(e.kind, Kind::Advert { .. }))
            .last()
            .map(|e| e.t)
    }

    /// Failure instant → first reply/GARP from the new owner.
    pub fn takeover(&self, failure: Instant, new: Mac) -> Option<Duration> {
        self.first_from(new, failure).map(|t| t - failure)
    }

    /// Last reply/GARP from the old owner → first from the new one after
    /// the failure (zero when they overlap).
    pub fn outage(&self, failure: Instant, old: Mac, new: Mac) -> Option<Duration> {
        let first_new = self.first_from(new, failure)?;
        let last_old = self.last_from_before(old, first_new)?;
        Some(first_new.saturating_duration_since(last_old))
    }

    /// Ownership changes: (time since the probe started, new owner).
    pub fn transitions(&self) -> Vec<(Duration, Mac)> {
        let mut out: Vec<(Duration, Mac)> = Vec::new();
        for e in self.owner_events() {
            if out.last().map(|l| l.1) != Some(e.mac) {
                out.push((e.t.saturating_duration_since(self.started), e.mac));
            }
        }
        out
    }

    /// Number of replies (not GARPs) from `mac`.
    pub fn replies_from(&self, mac: Mac) -> usize {
        self.events.iter().filter(|e| e.mac == mac && e.kind == Kind::Reply).count()
    }
}
