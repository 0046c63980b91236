//! The in-flight cap of TCP_CHECK connections: at most `MAX_CHECKS_IN_FLIGHT`
//! open at once; a check due past it waits its turn in a FIFO, and a freed
//! slot passes straight to the task woken for it.

use std::cell::RefCell;
use std::collections::VecDeque;

/// TCP_CHECK connections open at once. Past it a check that is due waits
/// for one to close (FIFO) rather than connect: 40,000 checks due each
/// second on a machine that completes 2,000 had every one of them
/// connecting at once, the listeners' queues overflowed, the checks timed
/// out and took their real servers out of IPVS by the thousand, and the
/// child fell behind its watchdog. keepalived's single loop paces itself
/// the same way. Hitting it is counted (`os::capacity`).
pub const MAX_CHECKS_IN_FLIGHT: usize = 2048;

/// The connection slots of TCP_CHECK tasks and the tasks waiting for one
/// (their key, for a task dropped while waiting, and waker), the queue
/// allocated once for every task that may wait. A freed slot passes
/// straight to the first waiting task (`handed`): a task woken for a slot
/// always finds it, whoever else polls in between.
#[derive(Default)]
pub(super) struct Slots {
    in_flight: std::cell::Cell<usize>,
    waiting: RefCell<VecDeque<(u64, std::task::Waker)>>,
    /// Tasks woken with a slot already theirs (counted in `in_flight`).
    handed: RefCell<Vec<u64>>,
}

impl Slots {
    /// A slot for task `key`, or its waker queued (once) and false.
    pub(super) fn acquire(&self, key: u64, queued: &mut bool, cx: &std::task::Context<'_>) -> bool {
        if *queued {
            // Polled while waiting: its slot, if one was handed to it.
            let mut h = self.handed.borrow_mut();
            return match h.iter().position(|k| *k == key) {
                Some(i) => {
                    h.swap_remove(i);
                    true
                }
                None => false,
            };
        }
        if self.in_flight.get() < MAX_CHECKS_IN_FLIGHT {
            self.in_flight.set(self.in_flight.get() + 1);
            return true;
        }
        crate::os::capacity::hit(crate::os::capacity::Cap::ChecksInFlight, format_args!("a TCP_CHECK waits for a connection slot"));
        self.waiting.borrow_mut().push_back((key, cx.waker().clone()));
        *queued = true;
        false
    }

    /// Frees a slot: it passes to the first waiting task, which is woken.
    pub(super) fn release(&self) {
        let next = self.waiting.borrow_mut().pop_front();
        match next {
            Some((key, w)) => {
                self.handed.borrow_mut().push(key);
                w.wake();
            }
            None => self.in_flight.set(self.in_flight.get().saturating_sub(1)),
        }
    }

    /// A task dropped while queued leaves the queue, and gives back a slot
    /// handed to it.
    pub(super) fn forget(&self, key: u64) {
        self.waiting.borrow_mut().retain(|(k, _)| *k != key);
        let handed = {
            let mut h = self.handed.borrow_mut();
            h.iter().position(|k| *k == key).map(|i| h.swap_remove(i))
        };
        if handed.is_some() {
            self.release();
        }
    }

    pub(super) fn reserve(&self, tasks: usize) {
        let mut w = self.waiting.borrow_mut();
        let len = w.len();
        w.reserve(tasks.saturating_sub(len));
        let mut h = self.handed.borrow_mut();
        let len = h.len();
        h.reserve(tasks.min(MAX_CHECKS_IN_FLIGHT).saturating_sub(len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_past_the_in_flight_cap_wait_their_turn_in_order() {
        let slots = Slots::default();
        slots.reserve(4);
        let cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut q = [false; 3];
        for _ in 0..MAX_CHECKS_IN_FLIGHT {
            assert!(slots.acquire(9, &mut q[0], &cx));
        }
        assert!(!slots.acquire(1, &mut q[1], &cx));
        assert!(!slots.acquire(1, &mut q[1], &cx), "queued once");
        assert!(!slots.acquire(2, &mut q[2], &cx));
        assert_eq!(slots.waiting.borrow().iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![1, 2]);
        slots.forget(2);
        slots.release();
        assert!(slots.waiting.borrow().is_empty());
        assert!(slots.acquire(1, &mut q[1], &cx));
        assert_eq!(slots.in_flight.get(), MAX_CHECKS_IN_FLIGHT);
    }

    #[test]
    fn a_freed_slot_goes_to_the_woken_task_not_to_whoever_polls_first() {
        let slots = Slots::default();
        slots.reserve(4);
        let cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut q = [false; 4];
        for _ in 0..MAX_CHECKS_IN_FLIGHT {
            assert!(slots.acquire(9, &mut q[0], &cx));
        }
        assert!(!slots.acquire(1, &mut q[1], &cx));
        assert!(!slots.acquire(2, &mut q[2], &cx));
        slots.release();
        // A task whose timer fires before task 1 is polled cannot take task 1's slot
        // (it stranded task 1, out of the queue and never woken again: checks stopped).
        assert!(!slots.acquire(3, &mut q[3], &cx));
        assert!(!slots.acquire(2, &mut q[2], &cx), "task 2 was not handed the slot");
        assert!(slots.acquire(1, &mut q[1], &cx));
        // Task 2, dropped once handed a slot, passes it on to task 3.
        slots.release();
        slots.forget(2);
        assert!(slots.acquire(3, &mut q[3], &cx));
        assert_eq!(slots.in_flight.get(), MAX_CHECKS_IN_FLIGHT);
        assert!(slots.waiting.borrow().is_empty() && slots.handed.borrow().is_empty());
    }
}
