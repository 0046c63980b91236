//! State-transition notifications, as keepalived's vrrp_notify.c.
//!
//! For each transition of an instance (or sync group), in this order:
//! the `notify_STATE` script (argv as configured), then the generic
//! `notify` script with `INSTANCE|GROUP NAME STATE PRIORITY` appended, then
//! the line `INSTANCE "NAME" STATE PRIORITY` to every notify FIFO. Groups
//! report priority 0, as keepalived. Priority changes (when the engine has
//! notify_priority_changes on) are FIFO-only lines `MASTER_PRIORITY` /
//! `BACKUP_PRIORITY`, as keepalived 2.2.7; a master receiving a lower
//! priority advert runs notify_master_rx_lower_pri and writes
//! `MASTER_RX_LOWER_PRI`.
//!
//! Ordering (our choice, documented): FIFO lines are written at once, in
//! call order. Scripts go through one queue per instance/group: a
//! transition's scripts start once the previous transition's scripts of the
//! same instance have exited, or `order_wait` (default 1 s) after they
//! started, whichever is first. So well-behaved scripts see transitions
//! strictly in order (keepalived only orders their starts, so a slow
//! `notify` may see MASTER after BACKUP), and a hung script delays the next
//! transition's scripts by at most `order_wait`, never the scheduler.
//! Scripts are not killed (keepalived lets them run), except notify_stop
//! and the STOP `notify`, which are SIGKILLed with their group after 1 s as
//! keepalived does on shutdown. A queue holds at most `QUEUE_DEPTH`
//! transitions; beyond that a transition's scripts are dropped and counted.

use super::fifo::NotifyFifo;
use crate::alert::VrrpAlerts;
use crate::config::model::{GlobalDefs, Script, SyncGroup, VrrpInstance};
use crate::script::spawn::{RunningScript, ScriptCommand};
use async_io::Timer;
use smol::channel::{Receiver, Sender, TrySendError, bounded};
use smol::future;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Transitions waiting per instance before new ones are dropped.
pub const QUEUE_DEPTH: usize = 16;
/// keepalived kills STOP notify scripts after one second.
pub const STOP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_ORDER_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Instance,
    Group,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Instance => "INSTANCE",
            Subject::Group => "GROUP",
        }
    }
}

/// One instance's (or group's) prepared notify scripts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyScripts {
    pub notify: Option<ScriptCommand>,
    pub master: Option<ScriptCommand>,
    pub backup: Option<ScriptCommand>,
    pub fault: Option<ScriptCommand>,
    pub stop: Option<ScriptCommand>,
    pub master_rx_lower_pri: Option<ScriptCommand>,
    /// smtp_alert as keepalived resolves it (see `alert::vrrp_enabled`).
    pub smtp_alert: bool,
}

impl NotifyScripts {
    fn for_state(&self, state: NotifyState) -> Option<&ScriptCommand> {
        match state {
            NotifyState::Master => self.master.as_ref(),
            NotifyState::Backup => self.backup.as_ref(),
            NotifyState::Fault => self.fault.as_ref(),
            NotifyState::Stop => self.stop.as_ref(),
        }
    }
}

/// keepalived's FIFO line: `INSTANCE "VI_1" MASTER 150\n`.
pub fn fifo_line(subject: Subject, name: &str, event: &str, priority: u8) -> String {
    format!("{} \"{}\" {} {}\n", subject.as_str(), name, event, priority)
}

/// The generic notify script's argv tail: `INSTANCE VI_1 MASTER 150`.
pub fn notify_args(subject: Subject, name: &str, state: NotifyState, priority: u8) -> [String; 4] {
    [subject.as_str().to_string(), name.to_string(), state.as_str().to_string(), priority.to_string()]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyCounters {
    pub transitions: u64,
    /// Transitions whose scripts were dropped because the queue was full.
    pub queue_dropped: u64,
    pub scripts_started: u64,
    pub spawn_failed: u64,
    pub fifo_written: u64,
    pub fifo_dropped: u64,
}

type Job = Vec<(ScriptCommand, Option<Duration>)>;
pub type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

struct Inner {
    spawn: Box<dyn Fn(LocalFuture)>,
    fifos: RefCell<Vec<NotifyFifo>>,
    queues: RefCell<HashMap<(Subject, String), Sender<Job>>>,
    counters: Cell<NotifyCounters>,
    /// Queued jobs not yet finished + scripts still running.
    busy: Cell<usize>,
    order_wait: Duration,
    /// Where transitions of instances and groups with smtp_alert go.
    alerts: RefCell<Option<Rc<VrrpAlerts>>>,
}

impl Inner {
    fn count(&self, f: impl FnOnce(&mut NotifyCounters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }
}

/// Cheap handle (Rc) owned by the VRRP engine; all calls return at once.
#[derive(Clone)]
pub struct Notifier {
    inner: Rc<Inner>,
}

impl Notifier {
    /// `spawn` puts a detached task on the scheduler, e.g. for a
    /// `Rc<LocalExecutor<'static>>`: `move |f| ex.spawn(f).detach()`.
    pub fn new(spawn: impl Fn(LocalFuture) + 'static) -> Notifier {
        Notifier::with_order_wait(spawn, DEFAULT_ORDER_WAIT)
    }

    pub fn with_order_wait(spawn: impl Fn(LocalFuture) + 'static, order_wait: Duration) -> Notifier {
        Notifier {
            inner: Rc::new(Inner {
                spawn: Box::new(spawn),
                fifos: RefCell::new(Vec::new()),
                queues: RefCell::new(HashMap::new()),
                counters: Cell::new(NotifyCounters::default()),
                busy: Cell::new(0),
                order_wait,
                alerts: RefCell::new(None),
            }),
        }
    }

    /// Closes the FIFOs (a reload names others).
    pub fn clear_fifos(&self) {
        self.inner.fifos.borrow_mut().clear();
    }

    /// notify_fifo and vrrp_notify_fifo both get every line.
    pub fn add_fifo(&self, fifo: NotifyFifo) {
        self.inner.fifos.borrow_mut().push(fifo);
    }

    /// SMTP alerts for the transitions of instances and groups whose
    /// smtp_alert is on.
    pub fn set_alerts(&self, alerts: Rc<VrrpAlerts>) {
        *self.inner.alerts.borrow_mut() = Some(alerts);
    }

    /// An instance entered `state`. `priority` is what the notify script
    /// and FIFO report (keepalived 2.2.7 was seen to report the configured
    /// priority, even for FAULT and STOP).
    pub fn instance_state(&self, name: &str, scripts: &NotifyScripts, state: NotifyState, priority: u8) {
        self.transition(Subject::Instance, name, scripts, state, priority);
    }

    /// A sync group entered `state` (reported with priority 0).
    pub fn group_state(&self, name: &str, scripts: &NotifyScripts, state: NotifyState) {
        self.transition(Subject::Group, name, scripts, state, 0);
    }

    /// notify_priority_changes: the effective priority changed.
    pub fn priority_change(&self, name: &str, is_master: bool, priority: u8) {
        let event = if is_master { "MASTER_PRIORITY" } else { "BACKUP_PRIORITY" };
        self.write_fifos(&fifo_line(Subject::Instance, name, event, priority));
    }

    /// A master received an advert with a lower priority.
    pub fn master_rx_lower_pri(&self, name: &str, scripts: &NotifyScripts, priority: u8) {
        let job: Job = scripts.master_rx_lower_pri.iter().map(|c| (c.clone(), None)).collect();
        self.enqueue(Subject::Instance, name, job);
        self.write_fifos(&fifo_line(Subject::Instance, name, "MASTER_RX_LOWER_PRI", priority));
    }

    pub fn counters(&self) -> NotifyCounters {
        let mut c = self.inner.counters.get();
        for f in self.inner.fifos.borrow().iter() {
            let (w, d) = f.counters();
            c.fifo_written += w;
            c.fifo_dropped += d;
        }
        c
    }

    /// Waits (polling every 10 ms, at most `limit`) until every queued
    /// notification ran and every script exited. For shutdown.
    pub async fn idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.inner.busy.get() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            Timer::after(Duration::from_millis(10)).await;
        }
        true
    }

    fn transition(&self, subject: Subject, name: &str, scripts: &NotifyScripts, state: NotifyState, priority: u8) {
        self.inner.count(|c| c.transitions += 1);
        let kill_after = (state == NotifyState::Stop).then_some(STOP_SCRIPT_TIMEOUT);
        let mut job: Job = Vec::with_capacity(2);
        if let Some(s) = scripts.for_state(state) {
            job.push((s.clone(), kill_after));
        }
        if let Some(g) = &scripts.notify {
            job.push((g.with_args(notify_args(subject, name, state, priority)), kill_after));
        }
        self.enqueue(subject, name, job);
        self.write_fifos(&fifo_line(subject, name, state.as_str(), priority));
        if scripts.smtp_alert
            && let Some(a) = self.inner.alerts.borrow().as_ref()
        {
            a.state(subject, name, state);
        }
    }

    fn write_fifos(&self, line: &str) {
        for f in self.inner.fifos.borrow_mut().iter_mut() {
            f.write_line(line);
        }
    }

    fn enqueue(&self, subject: Subject, name: &str, job: Job) {
        if job.is_empty() {
            return;
        }
        let key = (subject, name.to_string());
        let tx = {
            let mut queues = self.inner.queues.borrow_mut();
            match queues.get(&key) {
                Some(tx) => tx.clone(),
                None => {
                    let (tx, rx) = bounded(QUEUE_DEPTH);
                    (self.inner.spawn)(Box::pin(worker(Rc::downgrade(&self.inner), rx)));
                    queues.insert(key, tx.clone());
                    tx
                }
            }
        };
        match tx.try_send(job) {
            Ok(()) => self.inner.busy.set(self.inner.busy.get() + 1),
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                crate::os::capacity::hit(
                    crate::os::capacity::Cap::NotifyQueue,
                    format_args!("notify queue for {} {name} full - dropping a transition's scripts", subject.as_str()),
                );
                self.inner.count(|c| c.queue_dropped += 1);
            }
        }
    }
}

/// Runs one instance's jobs in order. Holds only a weak reference, so it
/// ends when the Notifier is dropped (its senders close the channel).
async fn worker(inner: std::rc::Weak<Inner>, rx: Receiver<Job>) {
    while let Ok(job) = rx.recv().await {
        let Some(me) = inner.upgrade() else { return };
        let mut done = Vec::with_capacity(job.len());
        for (cmd, kill_after) in job {
            match RunningScript::start(&cmd) {
                Ok(running) => {
                    me.count(|c| c.scripts_started += 1);
                    me.busy.set(me.busy.get() + 1);
                    let (tx, rx) = bounded::<()>(1);
                    let weak = Rc::downgrade(&me);
                    let argv0 = cmd.argv.first().cloned().unwrap_or_default();
                    (me.spawn)(Box::pin(async move {
                        let outcome = running.wait(kill_after).await;
                        log::debug!("notify script {argv0}: {outcome:?}");
                        if let Some(me) = weak.upgrade() {
                            me.busy.set(me.busy.get().saturating_sub(1));
                        }
                        let _ = tx.try_send(());
                    }));
                    done.push(rx);
                }
                Err(e) => {
                    log::warn!("notify script '{}': {e}", cmd.argv.first().map(String::as_str).unwrap_or(""));
                    me.count(|c| c.spawn_failed += 1);
                }
            }
        }
        let order_wait = me.order_wait;
        drop(me);
        // The next transition's scripts wait for these, up to order_wait.
        future::or(
            async {
                for d in &done {
                    let _ = d.recv().await;
                }
            },
            async {
                Timer::after(order_wait).await;
            },
        )
        .await;
        if let Some(me) = inner.upgrade() {
            me.busy.set(me.busy.get().saturating_sub(1));
        }
    }
}

fn prep(s: &Option<Script>, global: &GlobalDefs) -> Option<ScriptCommand> {
    s.as_ref().and_then(|s| crate::script::prepare_script(s, global))
}

impl NotifyScripts {
    pub fn for_instance(vi: &VrrpInstance, global: &GlobalDefs) -> NotifyScripts {
        NotifyScripts {
            notify: prep(&vi.notify, global),
            master: prep(&vi.notify_master, global),
            backup: prep(&vi.notify_backup, global),
            fault: prep(&vi.notify_fault, global),
            stop: prep(&vi.notify_stop, global),
            master_rx_lower_pri: prep(&vi.notify_master_rx_lower_pri, global),
            smtp_alert: crate::alert::vrrp_enabled(vi.smtp_alert, global),
        }
    }

    pub fn for_group(sg: &SyncGroup, global: &GlobalDefs) -> NotifyScripts {
        NotifyScripts {
            notify: prep(&sg.notify, global),
            master: prep(&sg.notify_master, global),
            backup: prep(&sg.notify_backup, global),
            fault: prep(&sg.notify_fault, global),
            stop: prep(&sg.notify_stop, global),
            master_rx_lower_pri: None,
            smtp_alert: crate::alert::vrrp_enabled(sg.smtp_alert, global),
        }
    }
}
