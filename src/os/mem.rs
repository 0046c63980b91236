//! The memory manager's two modes. Normal: the system allocator, untouched.
//! Debug (`-m` / `--mem-check`): a counting global allocator keeps, per
//! process, allocations, frees, bytes live and peak, so that leaks and
//! steady-state allocation show up in `ps`/`mem` and in the status dump.

use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

pub struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static ON_REQUEST: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemStats {
    pub enabled: bool,
    pub allocs: u64,
    pub frees: u64,
    pub live_bytes: u64,
    pub peak_bytes: u64,
    /// Of `allocs`, those made answering a request (a status query builds
    /// its report): steady state is `allocs - on_request` not moving.
    #[serde(default)]
    pub on_request: u64,
}

/// Turns counting on (debug mode). Counts start from zero at this point.
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

pub fn stats() -> MemStats {
    MemStats {
        enabled: enabled(),
        allocs: ALLOCS.load(Relaxed),
        frees: FREES.load(Relaxed),
        live_bytes: LIVE.load(Relaxed),
        peak_bytes: PEAK.load(Relaxed),
        on_request: ON_REQUEST.load(Relaxed),
    }
}

thread_local! {
    // Const-initialised with no destructor: safe to touch from the allocator.
    static THREAD_ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Allocations made by the calling thread (debug mode only): for measuring
/// a window of our own code while other threads (the reactor's) run.
pub fn thread_allocs() -> u64 {
    THREAD_ALLOCS.with(|c| c.get())
}

/// Counts `n` allocations of the calling thread as made answering a
/// request (see `MemStats::on_request`).
pub fn count_on_request(n: u64) {
    ON_REQUEST.fetch_add(n, Relaxed);
}

fn on_alloc(size: usize) {
    if ENABLED.load(Relaxed) {
        THREAD_ALLOCS.with(|c| c.set(c.get() + 1));
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(size as u64, Relaxed) + size as u64;
        PEAK.fetch_max(live, Relaxed);
    }
}

fn on_free(size: usize) {
    if ENABLED.load(Relaxed) {
        FREES.fetch_add(1, Relaxed);
        // Memory allocated before counting began may be freed after: never wrap.
        let _ = LIVE.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(size as u64)));
    }
}

// SAFETY: every method forwards to System with the caller's arguments
// unchanged and returns System's result, so System's guarantees (alignment,
// size, null on failure) are ours. The bookkeeping around it only touches
// atomics and a const-initialised thread-local without a destructor: it
// never allocates (no re-entry) and never unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds alloc's contract (non-zero size), passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for alloc: the caller's layout, passed on as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from this allocator, i.e. from System, with this
        // layout (the caller's contract); we forward it once.
        unsafe { System.dealloc(ptr, layout) };
        on_free(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: ptr/layout came from System (through us) and new_size
        // meets realloc's contract, all by the caller's guarantee.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            on_free(layout.size());
            on_alloc(new_size);
        }
        p
    }
}
