//! The child watchdog's tick: a hello to each child, and a child that left
//! the previous one unanswered for a full interval of a free parent is
//! killed (and restarted by policy).

use super::Parent;
use crate::ipc::{self, Msg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

impl Parent {
    /// The watchdog: a child that has not answered the previous hello within
    /// one interval is wedged and is killed; the others get a new hello.
    pub(super) fn on_tick(&mut self) {
        self.pet_hw_watchdog();
        if self.stopping.is_some() {
            return;
        }
        for s in self.slots.iter_mut() {
            let Some(pid) = s.pid else { continue };
            if let Some(seq) = s.pending_hello {
                // Behind a large message the child is still taking (its
                // fragments kept going out since): it reads, in order.
                let written = s.sender.as_ref().map_or(0, |t| t.written());
                if written != s.written_at_hello {
                    s.written_at_hello = written;
                    continue;
                }
                if !hello_missed(s.hello_at, self.busy_until, Instant::now(), self.opts.watchdog) {
                    // The parent itself was busy since it sent it, or this
                    // tick comes right after another (the interval timer
                    // catching up after a stall): not a missed answer yet.
                    continue;
                }
                log::error!("{} child {pid} did not answer hello {seq} within {} ms: SIGKILL", s.role.name(), self.opts.watchdog.as_millis());
                s.watchdog_kills += 1;
                s.failed_at = Some(Instant::now());
                s.pending_hello = None;
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                continue;
            }
            self.seq = self.seq.wrapping_add(1);
            s.pending_hello = Some(self.seq);
            s.hello_at = Instant::now();
            s.written_at_hello = s.sender.as_ref().map_or(0, |t| t.written());
            if let Some(tx) = &s.sender {
                match tx.try_send(&Msg::Hello { seq: self.seq }) {
                    Ok(()) => s.hello_deferred = false,
                    // The child's queue is full: it is reading a large message (a
                    // config of 40,000 real servers is megabytes of fragments). One
                    // interval more, and more again while the child keeps taking the
                    // message's fragments; a full queue that did not move since the
                    // last tick counts as no answer.
                    // Nor does a full queue found again before the child had a full
                    // interval of a free parent (ticks that come at once after the
                    // parent's own long work).
                    Err(ipc::IpcError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && !(s.hello_deferred
                                && tx.written() == s.written_at_defer
                                && hello_missed(s.deferred_at, self.busy_until, Instant::now(), self.opts.watchdog)) =>
                    {
                        if !s.hello_deferred || tx.written() != s.written_at_defer {
                            s.deferred_at = Instant::now();
                        }
                        s.hello_deferred = true;
                        s.written_at_defer = tx.written();
                        s.pending_hello = None;
                        crate::os::capacity::hit(
                            crate::os::capacity::Cap::IpcQueue,
                            format_args!("hello to the {} child deferred one interval", s.role.name()),
                        );
                    }
                    Err(e) => log::warn!("hello to {} child: {e}", s.role.name()),
                }
            }
        }
    }

}

/// Whether a hello sent at `sent` and still unanswered at `now` is a
/// missed answer: the child had a full interval (three quarters of one, for
/// a tick's jitter) in which the parent was free to read its answer, that is
/// since the later of `sent` and the end of the parent's last long stretch
/// of work (`busy_until`). A hello the parent could not send or read in
/// time is not one the child missed.
fn hello_missed(sent: Instant, busy_until: Option<Instant>, now: Instant, interval: Duration) -> bool {
    let from = busy_until.map_or(sent, |b| b.max(sent));
    now.saturating_duration_since(from) >= interval * 3 / 4
}


#[cfg(test)]
mod tests {
    use super::hello_missed;
    use std::time::{Duration, Instant};

    const I: Duration = Duration::from_millis(1000);

    #[test]
    fn an_unanswered_hello_is_missed_after_an_interval() {
        let t0 = Instant::now();
        assert!(!hello_missed(t0, None, t0 + I / 2, I));
        assert!(hello_missed(t0, None, t0 + I, I));
    }

    #[test]
    fn the_parents_own_busy_time_does_not_count_against_the_child() {
        let t0 = Instant::now();
        // Sent at t0; the parent parsed a config from t0 + 0.1 s to t0 + 3 s:
        // the tick that follows the parse is not a missed answer...
        let busy = Some(t0 + Duration::from_millis(3000));
        assert!(!hello_missed(t0, busy, t0 + Duration::from_millis(3010), I));
        // ...nor the ticks the interval timer fires at once to catch up...
        assert!(!hello_missed(t0, busy, t0 + Duration::from_millis(3020), I));
        // ...but one interval of a free parent later, it is.
        assert!(hello_missed(t0, busy, t0 + Duration::from_millis(4000), I));
        // A busy stretch before the hello was sent changes nothing.
        let early = Some(t0 - Duration::from_millis(10));
        assert!(hello_missed(t0, early, t0 + I, I));
    }
}
