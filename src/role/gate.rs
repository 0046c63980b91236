//! The message loop's gate: the loop is the `block_on` future, polled on
//! every wake-up of any task (each check), and looks at its own sockets only
//! when one of them woke it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The wakers a gated future hands out: a wake marks the gate and passes the
/// wake on to whoever polls the gated future.
pub struct Gate {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(w) = self.outer.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Polls `fut` on its first poll and then only after one of its own wakers
/// fired: a poll for another reason returns Pending without touching it.
/// async-io takes a second poll of an I/O future for readiness and retries
/// the read (a syscall and two epoll_ctl each), so polling the message
/// loop's sockets on every check's wake-up cost about four syscalls a check.
/// No wake is lost: the outer waker is stored before `woken` is read, and a
/// wake that comes while `fut` is polled sets `woken` again.
pub struct Gated<'a, F> {
    gate: &'a Arc<Gate>,
    inner: &'a Waker,
    fut: F,
    started: bool,
}

impl<F: Future + Unpin> Future for Gated<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut outer = self.gate.outer.lock().unwrap_or_else(|e| e.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let woken = self.gate.woken.swap(false, Ordering::SeqCst);
        if self.started && !woken {
            return Poll::Pending;
        }
        self.started = true;
        let inner = self.inner;
        Pin::new(&mut self.fut).poll(&mut Context::from_waker(inner))
    }
}

impl Gate {
    /// A gate and the waker it hands to the gated future.
    pub fn new() -> (Arc<Gate>, Waker) {
        let gate = Arc::new(Gate { woken: AtomicBool::new(false), outer: Mutex::new(None) });
        let waker = Waker::from(gate.clone());
        (gate, waker)
    }
}

impl<'a, F> Gated<'a, F> {
    pub fn new(gate: &'a Arc<Gate>, inner: &'a Waker, fut: F) -> Self {
        Gated { gate, inner, fut, started: false }
    }
}
