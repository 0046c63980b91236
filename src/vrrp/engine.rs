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

/// How long the instances get to send their priority-0 adverts and drop
/// their VIPs at a stop.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

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

enum Cmd {
    Stop,
}

pub struct Engine {
    instances: Vec<(Sender<Cmd>, Task<()>)>,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: Receiver<()>,
}

impl Engine {
    /// Starts every vrrp_instance of `config` on `ex`.
    pub fn start(ex: &Rc<LocalExecutor<'static>>, config: &Config) -> Engine {
        let clock = Clock::new();
        let status = Rc::new(RefCell::new(Vec::new()));
        // Wakes whoever reports status to the parent; one pending wake is enough.
        let (changed_tx, changed) = bounded(1);
        let mut instances = Vec::new();
        for (i, inst) in config.vrrp_instances.iter().enumerate() {
            status.borrow_mut().push(InstanceStatus { name: inst.name.clone(), state: "INIT".into(), priority: inst.priority, ..Default::default() });
            let (tx, rx) = bounded(4);
            let setup = Instance::setup(config, inst);
            let status = status.clone();
            let changed_tx = changed_tx.clone();
            let name = inst.name.clone();
            let task = ex.spawn(async move {
                match setup {
                    Ok(instance) => run(instance, i, clock, rx, status, changed_tx).await,
                    Err(e) => {
                        log::error!("({name}) cannot start: {e}; instance stays in FAULT");
                        if let Some(s) = status.borrow_mut().get_mut(i) {
                            s.state = "FAULT".into();
                        }
                        let _ = changed_tx.try_send(());
                        let _ = rx.recv().await;
                    }
                }
            });
            instances.push((tx, task));
        }
        Engine { instances, status, changed }
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        self.status.borrow().clone()
    }

    /// Resolves when an instance's state changed since the last call.
    pub async fn changed(&self) {
        let _ = self.changed.recv().await;
    }

    /// Stops every instance: masters send priority 0 and drop their VIPs.
    pub async fn stop(self) {
        for (tx, _) in &self.instances {
            let _ = tx.try_send(Cmd::Stop);
        }
        let all = async {
            for (_, task) in self.instances {
                task.await;
            }
        };
        smol::future::or(all, async {
            async_io::Timer::after(STOP_TIMEOUT).await;
            log::warn!("VRRP instances did not stop within {STOP_TIMEOUT:?}");
        })
        .await;
    }
}

async fn run(
    mut inst: Instance,
    index: usize,
    clock: Clock,
    cmds: Receiver<Cmd>,
    status: Rc<RefCell<Vec<InstanceStatus>>>,
    changed: Sender<()>,
) {
    let report = |inst: &Instance| {
        if let Some(s) = status.borrow_mut().get_mut(index) {
            *s = inst.status();
        }
        let _ = changed.try_send(());
    };
    let actions = inst.fsm.handle(clock.now(), Input::Startup);
    inst.exec(actions);
    report(&inst);
    enum Ev {
        Readable,
        Timer,
        Stop,
    }
    loop {
        let timer = match inst.fsm.poll_at() {
            Some(at) => async_io::Timer::at(clock.to_std(at)),
            None => async_io::Timer::never(),
        };
        let ev = smol::future::or(
            async {
                match inst.rx.readable().await {
                    Ok(()) => Ev::Readable,
                    Err(_) => {
                        // A broken socket: don't spin; the timer still runs.
                        async_io::Timer::after(Duration::from_millis(100)).await;
                        Ev::Timer
                    }
                }
            },
            smol::future::or(
                async {
                    timer.await;
                    Ev::Timer
                },
                async {
                    let _ = cmds.recv().await;
                    Ev::Stop
                },
            ),
        )
        .await;
        let mut changed_state = false;
        match ev {
            Ev::Readable => loop {
                let r = inst.rx.get_ref().recv(&mut inst.rx_buf[..]);
                match r {
                    Ok(meta) => changed_state |= inst.on_packet(meta, clock.now()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("({}) receive: {e}", inst.name);
                        break;
                    }
                }
            },
            Ev::Timer => {
                let actions = inst.fsm.poll(clock.now());
                changed_state |= inst.exec(actions);
            }
            Ev::Stop => {
                let actions = inst.fsm.handle(clock.now(), Input::Shutdown);
                inst.exec(actions);
                // Whatever the state was, leave no VIP behind.
                inst.remove_vips();
                report(&inst);
                return;
            }
        }
        if changed_state {
            report(&inst);
        }
    }
}
