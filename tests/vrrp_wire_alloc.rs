//! The advert path allocates nothing: 10,000 parse + emit round trips of real keepalived adverts
//! (v2 AH, v2 PASS, v3 IPv4, v3 IPv6) under a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv6Addr;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use vigil::vrrp::wire::{
    AuthKey, RxConfig, TxIpv4, auth_data, emit_ipv4, emit_ipv6, parse_ipv4, parse_ipv6,
};

struct Counting;

// Only the test's own thread counts: the harness's threads allocate when they like.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to System with the caller's arguments and returns its
// result unchanged. The counting touches an atomic and a const-initialised
// thread-local Cell without a destructor: it never allocates (no re-entry).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout satisfies alloc's contract; passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr/layout came from System through alloc/realloc above (caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: ptr/layout came from System through us and new_size meets realloc's
        // contract, by the caller's guarantee.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// First datagram of an Ethernet pcap: (ethertype, bytes after the Ethernet header).
fn first_frame(name: &str) -> (u16, Vec<u8>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vrrp")
        .join(name);
    let d = std::fs::read(path).expect("fixture");
    assert_eq!(
        u32::from_le_bytes(d[20..24].try_into().unwrap()),
        1,
        "Ethernet link type"
    );
    let incl = u32::from_le_bytes(d[32..36].try_into().unwrap()) as usize;
    let rec = &d[40..40 + incl];
    (u16::from_be_bytes([rec[12], rec[13]]), rec[14..].to_vec())
}

#[test]
fn ten_thousand_round_trips_allocate_nothing() {
    let (_, ah) = first_frame("keepalived-v2-ah.pcap");
    let (_, pass) = first_frame("keepalived-v2-pass.pcap");
    let (_, v3) = first_frame("keepalived-v3-ipv4.pcap");
    let (et, v6) = first_frame("keepalived-v3-ipv6.pcap");
    assert_eq!(et, 0x86dd);
    let src6 = Ipv6Addr::from(<[u8; 16]>::try_from(&v6[8..24]).unwrap());
    let dst6 = Ipv6Addr::from(<[u8; 16]>::try_from(&v6[24..40]).unwrap());
    let v6 = v6[40..].to_vec();
    let ah_key = auth_data("ahkey");
    let cases = [
        (
            ah.as_slice(),
            RxConfig {
                auth: AuthKey::Ah(ah_key),
                ..RxConfig::new()
            },
        ),
        (
            pass.as_slice(),
            RxConfig {
                auth: AuthKey::Pass(auth_data("secret12")),
                ..RxConfig::new()
            },
        ),
        (v3.as_slice(), RxConfig::new()),
    ];
    let mut out = [0u8; 1500];

    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let mut ok = 0usize;
    for i in 0..10_000usize {
        let (bytes, cfg) = &cases[i % cases.len()];
        if let Ok(adv) = parse_ipv4(bytes, cfg) {
            let mut tx = TxIpv4::new(adv.src, adv.ident);
            tx.v3_checksum = adv.checksum;
            if let Some(seq) = adv.ah_seq {
                tx.ah = Some((ah_key, seq));
            }
            if let Ok(n) = emit_ipv4(&adv.repr, &tx, &mut out) {
                ok += usize::from(&out[..n] == *bytes);
            }
        }
        if let Ok(adv) = parse_ipv6(&v6, src6, dst6, Some(255), &RxConfig::new())
            && let Ok(n) = emit_ipv6(&adv.repr, src6, dst6, &mut out)
        {
            ok += usize::from(out[..n] == v6[..]);
        }
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(ok, 20_000, "every round trip reproduced its bytes");
    assert_eq!(allocs, 0, "allocations on the advert path");
}
