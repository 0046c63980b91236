//! Failover benchmark (prints figures, asserts nothing about time):
//!
//!   cargo test --release --test failover_bench -- --ignored --nocapture
//!
//! Two nodes (priority 150 on n1, 100 on n2), VIP 192.0.2.100/24, a client
//! probing the VIP by ARP every 5 ms. Cases: hard failure (n1's bridge port
//! down, then SIGKILL of n1's whole process group) and graceful stop
//! (SIGTERM: priority 0 advert), at advert_int 1 s (VRRPv2), 0.1 s and
//! 0.01 s (VRRPv3). The failure instant is put at a random point of the
//! advert interval (after an advert from n1, sleep U(0, interval)).
//!
//! takeover = failure → first ARP reply / gratuitous ARP from n2's MAC;
//! outage   = last reply from n1 → first reply/GARP from n2.
//!
//! Env: FAILOVER_TRIALS (default 20); FAILOVER_INTERVALS=1,0.1,0.01 (a
//! subset); FAILOVER_VERBOSE=1 (daemon logs of failed trials); VIGIL_BIN (else the musl release
//! build, if present) adds vigil rows when it can become master.

mod lab;

use lab::{Daemon, Lab, VrrpConf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";
const VIP_CIDR: &str = "192.0.2.100/24";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Case {
    Hard,
    Graceful,
}

#[derive(Clone, Copy)]
struct Interval {
    version: u8,
    text: &'static str,
    dur: Duration,
}

const INTERVALS: [Interval; 3] = [
    Interval { version: 2, text: "1", dur: Duration::from_secs(1) },
    Interval { version: 3, text: "0.1", dur: Duration::from_millis(100) },
    Interval { version: 3, text: "0.01", dur: Duration::from_millis(10) },
];

/// RFC 3768/5798 skew time of the backup (priority 100).
fn skew(iv: &Interval) -> Duration {
    if iv.version == 2 {
        Duration::from_secs_f64((256.0 - 100.0) / 256.0)
    } else {
        iv.dur.mul_f64((256.0 - 100.0) / 256.0)
    }
}

fn bound(iv: &Interval, case: Case) -> Duration {
    match case {
        Case::Hard => iv.dur * 3 + skew(iv),
        Case::Graceful => skew(iv),
    }
}

struct Sample {
    takeover: Duration,
    outage: Option<Duration>,
}

/// xorshift64*, seeded from the clock: only the failure phase needs it.
struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        Rng(t ^ ((std::process::id() as u64) << 32) | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn conf(node: usize, prio: u8, iv: &Interval) -> String {
    VrrpConf::new(node, iv.version, prio, iv.text, &[VIP_CIDR]).render()
}

/// Removes what a SIGKILLed daemon leaves: the VIP, a downed port.
fn reset(lab: &Lab) {
    lab.port_up(1);
    for n in 1..=2 {
        let _ = lab.exec(n, &["ip", "addr", "del", VIP_CIDR, "dev", "eth0"]);
    }
}

fn trial(lab: &Lab, probe: &lab::Probe, d: &Daemon, iv: &Interval, case: Case, rng: &mut Rng) -> Result<Sample, String> {
    reset(lab);
    probe.clear();
    let (m1, m2) = (lab.mac(1), lab.mac(2));
    let started = Instant::now();
    // n1 first, alone: started together, a backup whose start is a few ms
    // ahead can time out before n1's first advert and hold the VIP briefly.
    let d1 = lab.start(1, d.clone(), &conf(1, 150, iv));
    let up_bound = iv.dur * 4 + Duration::from_secs(3);
    let d2 = probe.wait_owner(m1, started, up_bound).map(|_| lab.start(2, d.clone(), &conf(2, 100, iv)));
    let res = (|| {
        let Some(d2) = &d2 else {
            return Err(format!("n1 did not become master within {up_bound:?}"));
        };
        // Let n2 come up and hear n1 for a while.
        std::thread::sleep(Duration::from_millis(500));
        if !d1.running() || !d2.running() {
            return Err("a daemon exited".to_string());
        }
        if let Some(e) = probe.timeline().events.iter().find(|e| e.mac == m2 && e.is_ownership()) {
            return Err(format!(
                "n2 answered for the VIP ({:?}) {:?} after the start, while n1 was master",
                e.kind,
                e.t.saturating_duration_since(started)
            ));
        }
        // Random phase within the advert interval.
        let adv = probe
            .wait_advert(m1, Instant::now(), iv.dur * 3 + Duration::from_secs(1))
            .ok_or("no advert from n1")?;
        let fail_at = adv + iv.dur.mul_f64(rng.unit());
        std::thread::sleep(fail_at.saturating_duration_since(Instant::now()));
        let t0 = Instant::now();
        match case {
            Case::Hard => {
                lab.port_down(1);
                d1.kill_group(libc::SIGKILL);
            }
            Case::Graceful => {
                d1.kill(libc::SIGTERM);
            }
        }
        let lim = bound(iv, Case::Hard) + Duration::from_secs(3);
        probe.wait_owner(m2, t0, lim).ok_or_else(|| format!("n2 did not take over within {lim:?}"))?;
        // Let a few more probes land so the timeline is complete.
        std::thread::sleep(Duration::from_millis(20));
        let tl = probe.timeline();
        Ok(Sample { takeover: tl.takeover(t0, m2).unwrap(), outage: tl.outage(t0, m1, m2) })
    })();
    if res.is_err() && std::env::var_os("FAILOVER_VERBOSE").is_some() {
        eprintln!("--- n1 log ---\n{}\n--- n2 log ---\n{}", d1.log(), d2.as_ref().map(|d| d.log()).unwrap_or_default());
    }
    d1.stop(Duration::from_secs(3));
    if let Some(d2) = &d2 {
        d2.stop(Duration::from_secs(3));
    }
    res.map_err(|e| {
        let tail: String = d1.log().lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        format!("{e} (n1 log tail: {tail})")
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn stats(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "– | – | –".into();
    }
    v.sort();
    format!("{} | {} | {}", ms(pct(v, 0.5)), ms(pct(v, 0.99)), ms(*v.last().unwrap()))
}

/// Can this daemon become master at all (VRRP implemented)?
fn supports_vrrp(lab: &Lab, probe: &lab::Probe, d: &Daemon) -> Result<(), String> {
    reset(lab);
    let iv = &INTERVALS[1];
    let h = lab.start(1, d.clone(), &conf(1, 150, iv));
    let ok = probe.wait_owner(lab.mac(1), Instant::now(), Duration::from_secs(5)).is_some();
    let log = h.log();
    h.stop(Duration::from_secs(3));
    reset(lab);
    if ok {
        Ok(())
    } else {
        Err(log.lines().rev().take(3).collect::<Vec<_>>().join(" | "))
    }
}

#[test]
#[ignore]
fn failover_bench() {
    if let Err(why) = lab::can_run() {
        lab::skip("failover_bench", &why);
        return;
    }
    let trials: usize = std::env::var("FAILOVER_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(20).max(1);
    let mut daemons: Vec<(String, Daemon)> = Vec::new();
    if lab::find_keepalived().is_some() {
        daemons.push(("keepalived 2.2.7".into(), Daemon::Keepalived));
    } else {
        lab::skip("failover_bench (keepalived rows)", "keepalived is not installed");
    }
    if let Some(v) = lab::vigil_bin() {
        daemons.push(("vigil".into(), Daemon::Vigil(v)));
    } else {
        eprintln!("vigil: no binary (set VIGIL_BIN or build the musl release)");
    }
    let mut rng = Rng::new();
    let mut rows = Vec::new();
    for (name, d) in &daemons {
        let lab = Lab::new("fobench", 2);
        let probe = lab.probe(VIP);
        if matches!(d, Daemon::Vigil(_)) {
            if let Err(tail) = supports_vrrp(&lab, &probe, d) {
                eprintln!("vigil: no VRRP yet (not master within 5 s; log: {tail})");
                continue;
            }
        }
        for iv in &INTERVALS {
            if let Ok(only) = std::env::var("FAILOVER_INTERVALS") {
                if !only.split(',').any(|x| x.trim() == iv.text) {
                    continue;
                }
            }
            for case in [Case::Hard, Case::Graceful] {
                let (mut take, mut out, mut errs) = (Vec::new(), Vec::new(), Vec::new());
                for i in 0..trials {
                    match trial(&lab, &probe, d, iv, case, &mut rng) {
                        Ok(s) => {
                            take.push(s.takeover);
                            out.extend(s.outage);
                        }
                        Err(e) => {
                            eprintln!("{name} {case:?} {}s trial {i}: {e}", iv.text);
                            errs.push(e);
                        }
                    }
                }
                let row = format!(
                    "| {name} | {} | v{} {} s | {}/{trials} | {} | {} | {} |",
                    match case {
                        Case::Hard => "link down + SIGKILL",
                        Case::Graceful => "SIGTERM (prio 0)",
                    },
                    iv.version,
                    iv.text,
                    take.len(),
                    stats(&mut take),
                    stats(&mut out),
                    ms(bound(iv, case)),
                );
                eprintln!("{row}");
                rows.push(row);
            }
        }
    }
    println!("\nFailover seen by a client ARPing the VIP every 5 ms (times in ms; failure at a random point of the advert interval)\n");
    println!("| daemon | case | advert | ok | takeover p50 | p99 | max | outage p50 | p99 | max | RFC bound |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!("\nRFC bound: hard failure 3 × advert_int + skew, graceful skew; skew = (256 − 100)/256 × advert_int (v3) or seconds (v2).");
}
