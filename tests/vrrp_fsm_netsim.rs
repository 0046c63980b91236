//! Seeded simulation (smoltcp netsim style): three VRRP state machines
//! exchange adverts through a virtual network on a virtual clock, no I/O.
//! Asserts exactly one master in steady state and takeover within
//! Master_Down_Interval when the master dies, and prints a failover table.
//! Run with `--nocapture` to see it.

use std::collections::BinaryHeap;
use std::cmp::Reverse;
use std::net::{IpAddr, Ipv4Addr};

use vigil::vrrp::fsm::{
    master_down_interval, skew_time, Action, Advert, AdvertInterval, Centiseconds, Duration, Fsm, FsmConfig, Input,
    Instant, Seconds, State,
};

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Link latency: 100 us plus up to 400 us of jitter.
const LATENCY_BASE_US: u64 = 100;
const LATENCY_JITTER_US: u64 = 400;

struct Node {
    fsm: Fsm,
    addr: IpAddr,
    /// Off the network (link down + process gone): sends and hears nothing.
    alive: bool,
}

struct Net {
    nodes: Vec<Node>,
    /// (deliver at, sequence, to, advert)
    queue: BinaryHeap<Reverse<(u64, u64, usize, AdvertKey)>>,
    seq: u64,
    now: u64,
    rng: Rng,
    interval: AdvertInterval,
}

/// Advert in a form that orders (for the heap): priority and sender index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct AdvertKey {
    priority: u8,
    from: usize,
}

impl Net {
    fn new(seed: u64, interval: AdvertInterval, priorities: &[u8]) -> Self {
        let nodes = priorities
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + i as u8));
                let mut c = FsmConfig::new(p, interval, addr);
                c.garp.master_delay = Duration::ZERO;
                Node { fsm: Fsm::new(c), addr, alive: true }
            })
            .collect();
        Net { nodes, queue: BinaryHeap::new(), seq: 0, now: 0, rng: Rng(seed | 1), interval }
    }

    fn apply(&mut self, from: usize, actions: &[Action]) {
        for a in actions {
            if let Action::SendAdvert { priority } = *a
                && self.nodes[from].alive
            {
                for to in 0..self.nodes.len() {
                    if to != from {
                        let at = self.now + LATENCY_BASE_US + self.rng.below(LATENCY_JITTER_US);
                        self.seq += 1;
                        self.queue.push(Reverse((at, self.seq, to, AdvertKey { priority, from })));
                    }
                }
            }
        }
    }

    fn input(&mut self, i: usize, input: Input) {
        let a = self.nodes[i].fsm.handle(Instant::from_micros(self.now), input);
        self.apply(i, &a);
    }

    /// Advance the clock to the next event not after `until`, process it.
    /// Returns false when nothing happens before `until`.
    fn step(&mut self, until: u64) -> bool {
        let next_timer = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.fsm.poll_at())
            .map(|t| t.as_micros())
            .min();
        let next_pkt = self.queue.peek().map(|Reverse((t, ..))| *t);
        let next = match (next_timer, next_pkt) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > until {
            self.now = until;
            return false;
        }
        self.now = self.now.max(next);
        while let Some(Reverse((t, _, to, key))) = self.queue.peek().copied() {
            if t > self.now {
                break;
            }
            self.queue.pop();
            // Packets already on the wire still arrive when their sender dies.
            if self.nodes[to].alive {
                let adv = Advert { priority: key.priority, src: self.nodes[key.from].addr, interval: self.interval };
                self.input(to, Input::AdvertReceived(adv));
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive && self.nodes[i].fsm.poll_at().is_some_and(|t| t.as_micros() <= self.now) {
                let a = self.nodes[i].fsm.poll(Instant::from_micros(self.now));
                self.apply(i, &a);
            }
        }
        true
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].alive && self.nodes[i].fsm.state() == State::Master).collect()
    }

    /// Run until `until`, asserting at every event that there is exactly one master.
    fn run_checking_one_master(&mut self, until: u64) {
        while self.step(until) {
            assert_eq!(self.masters().len(), 1, "at {} us: masters {:?}", self.now, self.masters());
        }
    }

    /// Run until node `who` is master; returns when, or None by `until`.
    fn run_until_master(&mut self, who: usize, until: u64) -> Option<u64> {
        loop {
            if self.nodes[who].fsm.state() == State::Master {
                return Some(self.now);
            }
            if !self.step(until) {
                return None;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Failure {
    /// Link down and process gone: no priority 0.
    Kill,
    /// Clean stop: priority 0 then silence.
    Shutdown,
}

/// One run: master (255) plus backups `prio` and `prio / 2`. Returns the
/// takeover time in us measured from the failure.
fn failover(seed: u64, interval: AdvertInterval, prio: u8, how: Failure) -> u64 {
    let mut net = Net::new(seed, interval, &[255, prio, (prio / 2).max(1)]);
    for i in 0..3 {
        net.input(i, Input::Startup);
    }
    let iv = interval.to_duration().as_micros();
    let mdi = master_down_interval(interval, prio, 3).as_micros();
    // Warm up, then steady state: exactly one master, the owner.
    let warm = 2 * mdi + 10 * iv;
    while net.step(warm) {}
    assert_eq!(net.masters(), vec![0], "seed {seed}");
    let fail_at = warm + 5 * iv + net.rng.below(iv); // random phase within an interval
    net.run_checking_one_master(fail_at);
    assert_eq!(net.masters(), vec![0]);
    match how {
        Failure::Kill => net.nodes[0].alive = false,
        Failure::Shutdown => {
            net.input(0, Input::Shutdown);
            net.nodes[0].alive = false;
        }
    }
    let became = net.run_until_master(1, fail_at + 2 * mdi).unwrap_or(u64::MAX);
    let took = became.saturating_sub(fail_at);
    // After takeover: exactly one master again, the next highest.
    let settle = net.now + 5 * mdi;
    net.run_checking_one_master(settle);
    assert_eq!(net.masters(), vec![1], "seed {seed}");
    assert_eq!(net.nodes[2].fsm.state(), State::Backup);
    took
}

fn intervals() -> Vec<(&'static str, AdvertInterval)> {
    vec![
        ("v2 1 s", AdvertInterval::V2(Seconds(1))),
        ("v3 1 s", AdvertInterval::V3(Centiseconds::from_wire(100))),
        ("v3 100 ms", AdvertInterval::V3(Centiseconds::from_wire(10))),
        ("v3 50 ms", AdvertInterval::V3(Centiseconds::from_wire(5))),
    ]
}

#[test]
fn takeover_within_master_down_interval_and_one_master_in_steady_state() {
    const SEEDS: u64 = 20;
    let lat_max = LATENCY_BASE_US + LATENCY_JITTER_US;
    println!();
    println!("{:<10} {:>4} {:>12} {:>11} | {:>11} {:>11} {:>11} | {:>11}", "interval", "prio", "MDI", "skew", "kill min", "kill mean", "kill max", "stop max");
    for (name, iv) in intervals() {
        for prio in [100u8, 150, 200, 254] {
            let mdi = master_down_interval(iv, prio, 3).as_micros();
            let skew = skew_time(iv, prio).as_micros();
            let adv = iv.to_duration().as_micros();
            let (mut min, mut max, mut sum, mut stop_max) = (u64::MAX, 0u64, 0u64, 0u64);
            for seed in 1..=SEEDS {
                let s = seed.wrapping_mul(0x9e37_79b9) ^ u64::from(prio) << 32;
                let t = failover(s, iv, prio, Failure::Kill);
                // The last advert left at most one interval (plus latency)
                // before the failure, so takeover lies in
                // [MDI - interval, MDI + latency].
                assert!(t <= mdi + lat_max, "{name} prio {prio} seed {seed}: {t} > {mdi}");
                assert!(t + adv + lat_max >= mdi, "{name} prio {prio} seed {seed}: {t} too early");
                min = min.min(t);
                max = max.max(t);
                sum += t;
                let t = failover(s, iv, prio, Failure::Shutdown);
                // Priority 0: skew after the advert arrives.
                assert!(t >= skew && t <= skew + lat_max, "{name} prio {prio} seed {seed}: stop {t} vs skew {skew}");
                stop_max = stop_max.max(t);
            }
            let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
            println!(
                "{:<10} {:>4} {:>12} {:>11} | {:>11} {:>11} {:>11} | {:>11}",
                name,
                prio,
                ms(mdi),
                ms(skew),
                ms(min),
                ms(sum / SEEDS),
                ms(max),
                ms(stop_max)
            );
        }
    }
}

#[test]
fn simulation_is_deterministic_for_a_seed() {
    let iv = AdvertInterval::V3(Centiseconds::from_wire(10));
    let a: Vec<u64> = (1..=5).map(|s| failover(s, iv, 150, Failure::Kill)).collect();
    let b: Vec<u64> = (1..=5).map(|s| failover(s, iv, 150, Failure::Kill)).collect();
    assert_eq!(a, b);
}

#[test]
fn equal_priorities_elect_the_highest_address() {
    let iv = AdvertInterval::V3(Centiseconds::from_wire(10));
    let mut net = Net::new(7, iv, &[100, 100, 100]);
    for i in 0..3 {
        net.input(i, Input::Startup);
    }
    let end = 10_000_000;
    while net.step(end) {}
    // 10.0.0.12 has the highest address.
    assert_eq!(net.masters(), vec![2]);
    net.run_checking_one_master(end + 5_000_000);
}
