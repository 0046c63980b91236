// SPDX-License-Identifier: MIT OR Apache-2.0

use polling::{Event, Poller};

use std::fmt;
use std::io::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::os::unix::io::{AsRawFd, BorrowedFd, RawFd};

/// The raw registration into the reactor.
#[doc(hidden)]
pub struct Registration {
    /// Raw file descriptor on Unix.
    ///
    /// # Invariant
    ///
    /// This describes a valid file descriptor that has not been `close`d. It will not be
    /// closed while this object is alive.
    raw: RawFd,

    /// vigil patch: registered with the poller at the first `modify` (the
    /// first wait), with that wait's interest, and never deleted from it
    /// before a close (see `Async::new_nonblocking_lazy`).
    lazy: bool,

    /// vigil patch: whether the poller has this file descriptor. Changed
    /// only under the source's state lock (every `modify` runs under it).
    added: AtomicBool,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl Registration {
    /// Add this file descriptor into the reactor.
    ///
    /// # Safety
    ///
    /// The provided file descriptor must be valid and not be closed while this object is alive.
    pub(crate) unsafe fn new(f: BorrowedFd<'_>) -> Self {
        Self {
            raw: f.as_raw_fd(),
            lazy: false,
            added: AtomicBool::new(false),
        }
    }

    /// vigil patch: as `new`, registered lazily (see `lazy`).
    ///
    /// # Safety
    ///
    /// As `new`; and the file descriptor must have no duplicate, so that its
    /// close removes it from the poller.
    pub(crate) unsafe fn new_lazy(f: BorrowedFd<'_>) -> Self {
        Self {
            raw: f.as_raw_fd(),
            lazy: true,
            added: AtomicBool::new(false),
        }
    }

    /// Registers the object into the reactor.
    #[inline]
    pub(crate) fn add(&self, poller: &Poller, token: usize) -> Result<()> {
        // vigil patch: a lazy registration waits for its first interest.
        if self.lazy {
            return Ok(());
        }
        // SAFETY: This object's existence validates the invariants of Poller::add
        unsafe { poller.add(self.raw, Event::none(token))? };
        self.added.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Re-registers the object into the reactor.
    #[inline]
    pub(crate) fn modify(&self, poller: &Poller, interest: Event) -> Result<()> {
        // vigil patch: a lazy registration's first interest adds it (one
        // epoll_ctl where upstream made two, ADD then MOD).
        if !self.added.load(Ordering::Relaxed) {
            // SAFETY: This object's existence validates the invariants of Poller::add
            unsafe { poller.add(self.raw, interest)? };
            self.added.store(true, Ordering::Relaxed);
            return Ok(());
        }
        // SAFETY: self.raw is a valid file descriptor
        let fd = unsafe { BorrowedFd::borrow_raw(self.raw) };
        poller.modify(fd, interest)
    }

    /// Deregisters the object from the reactor.
    #[inline]
    pub(crate) fn delete(&self, poller: &Poller) -> Result<()> {
        // vigil patch: nothing to delete before the first interest.
        if !self.added.load(Ordering::Relaxed) {
            return Ok(());
        }
        // SAFETY: self.raw is a valid file descriptor
        let fd = unsafe { BorrowedFd::borrow_raw(self.raw) };
        poller.delete(fd)
    }

    /// vigil patch: deregisters the object just before its file descriptor
    /// is closed. A lazy registration's close removes it from epoll (it has
    /// no duplicate): one epoll_ctl DEL fewer.
    #[inline]
    pub(crate) fn delete_closing(&self, poller: &Poller) -> Result<()> {
        if self.lazy {
            return Ok(());
        }
        self.delete(poller)
    }
}
