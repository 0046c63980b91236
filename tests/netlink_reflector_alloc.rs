//! The reflector's steady-state path allocates nothing: `Mirror::apply` over every kind of
//! event, a resync `Diff` walk, and `Reflector::try_next` reading real broadcasts, each
//! counted by a global allocator that counts only the armed thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use vigil::netlink::consts::*;
use vigil::netlink::event::Event;
use vigil::netlink::link::Link;
use vigil::netlink::mirror::{Changes, Diff, Mirror};
use vigil::netlink::reflector::{Reflector, ReflectorConfig};
use vigil::netlink::{AddrSpec, HwAddr, OperState, Rtnl, if_name};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the thread-locals are const-initialised Cells
// without destructors, so touching them neither allocates nor re-enters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(Cell::get))
}

fn link(index: u32, name: &str, flags: u32, mtu: u32) -> Link {
    Link {
        index,
        name: if_name(name).unwrap(),
        flags,
        mtu: Some(mtu),
        mac: Some(HwAddr::from_slice(&[2, 0, 0, 0, 0, index as u8]).unwrap()),
        operstate: OperState::Up,
        carrier: Some(true),
        kind: Some(heapless::String::try_from("veth").unwrap()),
    }
}

#[test]
fn mirror_apply_and_diff_allocate_nothing() {
    let up = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;
    let mut events = Vec::new();
    for i in 2..40u32 {
        events.push(Event::NewLink(link(i, &format!("eth{i}"), up, 1500)));
        let mut a = AddrSpec::new(i, IpAddr::V4((0xc000_0200 + i).into()), 24);
        a.label = if_name(&format!("eth{i}:v"));
        events.push(Event::NewAddr(a.clone()));
        events.push(Event::NewLink(link(i, &format!("eth{i}"), IFF_UP, 9000)));
        events.push(Event::NewLink(link(i, &format!("wan{i}"), 0, 9000)));
        a.flags = 0x80;
        events.push(Event::NewAddr(a.clone()));
        events.push(Event::NewAddr(AddrSpec::new(
            i,
            "2001:db8::1".parse().unwrap(),
            64,
        )));
        events.push(Event::DelAddr(a));
        if i % 3 == 0 {
            events.push(Event::DelLink(link(i, "x", 0, 0)));
        }
    }
    let (_, allocs) = count(|| std::hint::black_box(vec![1u8; 10]));
    assert!(allocs >= 1, "the counter counts");
    // Boxed mirrors: building them is start-up, not what is measured.
    let mut m = Box::new(Mirror::new());
    let (n, allocs) = count(|| events.iter().map(|e| m.apply(e).len()).sum::<usize>());
    eprintln!(
        "Mirror::apply: {} events, {n} changes, {allocs} allocations",
        events.len()
    );
    assert!(n > 200);
    assert_eq!(allocs, 0);

    let old = Box::new(Mirror::new());
    let (steps, allocs) = count(|| {
        let (mut d, mut out, mut steps) = (Diff::new(), Changes::new(), 0);
        while d.step(&old, &m, &mut out) {
            out.clear();
            steps += 1;
        }
        steps
    });
    eprintln!("Diff: {steps} steps, {allocs} allocations");
    assert_eq!(allocs, 0);
}

#[test]
fn reflector_reads_broadcasts_without_allocating() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    std::thread::spawn(|| {
        // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET affects only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("skipped: unshare(CLONE_NEWNET) not permitted");
            return;
        }
        let mut nl = Rtnl::new().unwrap();
        nl.link_add_veth(&if_name("va").unwrap(), &if_name("vb").unwrap())
            .unwrap();
        let va = nl.link_index("va").unwrap();
        let vb = nl.link_index("vb").unwrap();
        let mut r = Reflector::start(ReflectorConfig::default()).unwrap();
        let addr = |i: u32| {
            let mut a = AddrSpec::new(va, IpAddr::V4((0x0a00_0000 + i).into()), 32);
            a.label = if_name("va:vip");
            a
        };
        let mut total = (0, 0);
        for round in 0..3 {
            // Changes made while not counting (Rtnl is another program here).
            for i in 0..100 {
                nl.addr_add(&addr(i)).unwrap();
            }
            for i in 0..100 {
                nl.addr_del(&addr(i)).unwrap();
            }
            nl.link_set_up(vb, round % 2 == 0).unwrap();
            nl.link_set_up(va, round % 2 == 0).unwrap();
            // Then every queued broadcast read and applied, counted.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut seen = 0;
            while seen < 200 && Instant::now() < deadline {
                let (n, allocs) = count(|| {
                    let mut n = 0;
                    while let Ok(Some(_)) = r.try_next() {
                        n += 1;
                    }
                    n
                });
                seen += n;
                total.0 += n;
                total.1 += allocs;
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(seen >= 200, "round {round}: {seen} changes");
        }
        let c = r.counters();
        eprintln!(
            "Reflector::try_next: {} changes, {} messages, {} allocations",
            total.0, c.messages, total.1
        );
        assert_eq!(c.overruns, 0);
        assert_eq!(total.1, 0);
    })
    .join()
    .unwrap();
}
