//! The VRRP child's engine: one task per instance on the child's
//! single-threaded scheduler. Each task owns its instance outright and
//! waits on three things only: its receive socket, its state machine's
//! next deadline, and commands from the child (stop).

use super::fsm::{self, Input};
use super::instance::{Instance, InstanceStatus};
use crate::config::Config;
use smol::channel::{Receiver, Sender, bounded};
use smol::{LocalExecutor, Task};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The monotonic clock the state machines run on: microseconds since the
/// engine's start, read only here.
#[derive(Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock { origin: std::time::Instant::now() }
    }
    pub fn now(&self) -> fsm::Instant {
        fsm::Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }
    pub fn to_std(&self, at: fsm::Instant) -> std::time::Instant {
        self.origin + Duration::from_micros(at.as_micros())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Engine {
    /// Each instance and the task that drives it. The task holds the
    /// instance borrowed while it runs; stopping cancels the task first.
    instances: Vec<(Rc<RefCell<Option<Instance>>>, Task<()>)>,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: Receiver<()>,
    clock: Clock,
}

impl Engine {
    /// Starts every vrrp_instance of `config` on `ex`.
    /// Instances named in `resume` were master in the VRRP child this one
    /// replaces: they take the mastership back at once.
    pub fn start(ex: &Rc<LocalExecutor<'static>>, config: &Config, resume: &[String]) -> Engine {
        let clock = Clock::new();
        let status = Rc::new(RefCell::new(Vec::new()));
        // Wakes whoever reports status to the parent; one pending wake is enough.
        let (changed_tx, changed) = bounded(1);
        let mut instances = Vec::new();
        for (i, inst) in config.vrrp_instances.iter().enumerate() {
            status.borrow_mut().push(InstanceStatus { name: inst.name.clone(), state: "INIT".into(), priority: inst.priority, ..Default::default() });
            let slot = Rc::new(RefCell::new(None));
            match Instance::setup(config, inst) {
                Ok(instance) => {
                    *slot.borrow_mut() = Some(instance);
                    let start = if resume.contains(&inst.name) { Input::ResumeMaster } else { Input::Startup };
                    let task = ex.spawn(run(slot.clone(), i, clock, start, status.clone(), changed_tx.clone()));
                    instances.push((slot, task));
                }
                Err(e) => {
                    log::error!("({}) cannot start: {e}; instance stays in FAULT", inst.name);
                    if let Some(s) = status.borrow_mut().get_mut(i) {
                        s.state = "FAULT".into();
                    }
                    let _ = changed_tx.try_send(());
                }
            }
        }
        Engine { instances, status, changed, clock }
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        self.status.borrow().clone()
    }

    /// keepalived's data dump (SIGUSR1): every instance with its counters,
    /// to the log. Instances are busy inside their tasks, so each task
    /// keeps its entry in `status` current; this reads those entries.
    pub fn dump(&self) {
        for s in self.status.borrow().iter() {
            log::info!(
                "({}) {} prio {}/{}: {}",
                s.name,
                s.state,
                s.effective_priority,
                s.priority,
                s.counters
            );
        }
    }

    /// Resolves when an instance's state changed since the last call.
    pub async fn changed(&self) {
        let _ = self.changed.recv().await;
    }

    /// Stops every instance: masters send priority 0 and drop their VIPs.
    pub async fn stop(self) {
        let clock = self.clock;
        for (slot, task) in self.instances {
            // Cancelling drops the task's borrow of the instance.
            task.cancel().await;
            let Ok(mut guard) = slot.try_borrow_mut() else { continue };
            if let Some(inst) = guard.as_mut() {
                let actions = inst.fsm.handle(clock.now(), Input::Shutdown);
                inst.exec(actions);
                // Whatever the state was, leave no VIP behind.
                inst.remove_vips();
                inst.teardown();
                log::info!("({}) stopped: {}", inst.name, inst.counters);
            }
        }
    }
}

async fn run(
    slot: Rc<RefCell<Option<Instance>>>,
    index: usize,
    clock: Clock,
    start: Input,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: Sender<()>,
) {
    let Ok(mut guard) = slot.try_borrow_mut() else { return };
    let Some(inst) = guard.as_mut() else { return };
    let report = |inst: &Instance| {
        if let Some(s) = status.borrow_mut().get_mut(index) {
            *s = inst.status();
        }
        let _ = changed.try_send(());
    };
    let actions = inst.fsm.handle(clock.now(), start);
    inst.exec(actions);
    report(inst);
    // One timer, re-armed each turn: creating a timer per turn would cost
    // the reactor an allocation now and then on the advert path.
    let mut timer = async_io::Timer::never();
    loop {
        match inst.fsm.poll_at() {
            Some(at) => timer.set_at(clock.to_std(at)),
            None => timer.set_after(Duration::from_secs(3600)),
        }
        let readable = smol::future::or(
            async {
                match inst.rx.readable().await {
                    Ok(()) => true,
                    Err(_) => {
                        // A broken socket: don't spin; the timer still runs.
                        async_io::Timer::after(Duration::from_millis(100)).await;
                        false
                    }
                }
            },
            async {
                (&mut timer).await;
                false
            },
        )
        .await;
        // With -m, count what our own handling of this wake-up allocates
        // (the reactor's own allocations fall outside this window).
        let allocs_before = crate::mem::thread_allocs();
        let mut changed_state = false;
        if readable {
            loop {
                let r = inst.rx.get_ref().recv(&mut inst.rx_buf[..]);
                match r {
                    Ok(meta) => changed_state |= inst.on_packet(meta, clock.now()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("({}) receive: {e}", inst.name);
                        break;
                    }
                }
            }
        }
        // Deadlines are checked after every wake-up: a busy socket must not
        // starve the timers.
        if inst.fsm.poll_at().is_some_and(|at| at <= clock.now()) {
            let actions = inst.fsm.poll(clock.now());
            changed_state |= inst.exec(actions);
        }
        inst.counters.handling_allocs += crate::mem::thread_allocs() - allocs_before;
        if changed_state {
            report(inst);
        } else if let Some(s) = status.borrow_mut().get_mut(index) {
            // Counters are plain numbers: copied without allocating.
            s.counters = inst.counters;
        }
    }
}
