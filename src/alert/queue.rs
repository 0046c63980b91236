//! The alert queue: mails wait here (at most `QUEUE_CAPACITY`) for the one
//! task that delivers them, in order, one connection at a time. Queueing
//! returns at once; a full queue drops the new alert and counts it. The
//! queue belongs to the child's role, so it outlives reloads: mails queued
//! before a reload still go, with the settings they were queued with.

use super::message::{self, Text};
use super::smtp::{self, Relay};
use crate::config::model::GlobalDefs;
use serde::{Deserialize, Serialize};
use smol::channel::{Receiver, Sender, TrySendError, bounded};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime};

/// Alerts waiting (or in delivery) before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 64;

/// What became of the alerts, for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounters {
    /// Accepted by the server (250 after the data).
    pub sent: u64,
    /// Not delivered: refused, unreachable, timed out, bad replies.
    pub failed: u64,
    /// Not queued: the queue was full.
    pub dropped: u64,
    /// Waiting or in delivery now.
    pub queued: u64,
}

impl std::fmt::Display for AlertCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sent {}, failed {}, dropped {}, queued {}", self.sent, self.failed, self.dropped, self.queued)
    }
}

/// The global_defs an alert needs, resolved as keepalived resolves them:
/// router_id and the HELO name default to the host name, the sender to
/// USER@HOSTNAME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    pub relay: Relay,
    pub from: String,
    pub to: Vec<String>,
    pub router_id: String,
}

impl MailSettings {
    /// None when alerts cannot go: no notification_email or no (usable)
    /// smtp_server, as keepalived sends nothing then.
    pub fn from_global(g: &GlobalDefs) -> Option<MailSettings> {
        if g.notification_email.is_empty() {
            return None;
        }
        let server = g.smtp_server.as_ref()?;
        let Some(addr) = server.addr() else {
            log::warn!("smtp_server {}: not an address; SMTP alerts are off", server.host);
            return None;
        };
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).filter(|h| !h.is_empty());
        let local = host.clone().unwrap_or_else(|| "localhost".to_string());
        let from = g.notification_email_from.clone().unwrap_or_else(|| {
            let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name);
            format!("{}@{local}", user.unwrap_or_else(|| "root".to_string()))
        });
        Some(MailSettings {
            relay: Relay {
                server: std::net::SocketAddr::new(addr, server.port),
                helo: g.smtp_helo_name.clone().unwrap_or_else(|| local.clone()),
                step_timeout: Duration::from_secs(u64::from(g.smtp_connect_timeout.max(1))),
            },
            from,
            to: g.notification_email.clone(),
            router_id: g.router_id.clone().unwrap_or(local),
        })
    }
}

/// One queued alert, complete: what it says and where it goes.
struct Mail {
    settings: Rc<MailSettings>,
    subject: String,
    data: Vec<u8>,
}

pub type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

struct Inner {
    settings: RefCell<Option<Rc<MailSettings>>>,
    tx: Sender<Mail>,
    counters: Cell<AlertCounters>,
}

impl Inner {
    fn count(&self, f: impl FnOnce(&mut AlertCounters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }
}

/// Cheap handle (Rc) to a child's alert queue; every call returns at once.
#[derive(Clone)]
pub struct Alerter {
    inner: Rc<Inner>,
}

impl Alerter {
    /// Starts the delivery task with `spawn`, e.g. for a
    /// `Rc<LocalExecutor<'static>>`: `move |f| ex.spawn(f).detach()`. It
    /// ends when the last handle is dropped.
    pub fn new(spawn: impl Fn(LocalFuture)) -> Alerter {
        let (tx, rx) = bounded(QUEUE_CAPACITY);
        let inner = Rc::new(Inner { settings: RefCell::new(None), tx, counters: Cell::new(AlertCounters::default()) });
        spawn(Box::pin(deliver_all(Rc::downgrade(&inner), rx)));
        Alerter { inner }
    }

    /// The settings of alerts queued from now on (start, reload).
    pub fn configure(&self, g: &GlobalDefs) {
        let new = MailSettings::from_global(g);
        let mut cur = self.inner.settings.borrow_mut();
        if cur.as_deref() != new.as_ref() {
            *cur = new.map(Rc::new);
        }
    }

    /// Whether alerts go anywhere (notification_email and smtp_server set).
    pub fn enabled(&self) -> bool {
        self.inner.settings.borrow().is_some()
    }

    /// Queues an alert; `[router_id] ` is put before the subject. Nothing
    /// happens when alerts are not configured.
    pub fn alert(&self, text: Text) {
        let Some(settings) = self.inner.settings.borrow().clone() else { return };
        let subject = format!("[{}] {}", settings.router_id, text.subject);
        let body = message::compose(&message::date(SystemTime::now()), &settings.from, &settings.to, &subject, &text.body);
        let mail = Mail { settings, subject, data: smtp::dot_stuff(&body) };
        match self.inner.tx.try_send(mail) {
            Ok(()) => self.inner.count(|c| c.queued += 1),
            Err(TrySendError::Full(m)) | Err(TrySendError::Closed(m)) => {
                self.inner.count(|c| c.dropped += 1);
                crate::os::capacity::hit(crate::os::capacity::Cap::AlertQueue, format_args!("SMTP alert '{}' dropped", m.subject));
            }
        }
    }

    pub fn counters(&self) -> AlertCounters {
        self.inner.counters.get()
    }

    /// Waits (at most `limit`, polling every 10 ms) until every queued
    /// alert was delivered or given up. For a clean stop.
    pub async fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.inner.counters.get().queued > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        true
    }
}

/// The delivery task: one alert at a time, each step bounded.
async fn deliver_all(inner: Weak<Inner>, rx: Receiver<Mail>) {
    while let Ok(mail) = rx.recv().await {
        if inner.strong_count() == 0 {
            // The Alerter is gone (the child stops): what is left stays.
            return;
        }
        let s = &mail.settings;
        let result = smtp::deliver(&s.relay, &s.from, &s.to, &mail.data).await;
        let Some(me) = inner.upgrade() else { return };
        match result {
            Ok(()) => {
                me.count(|c| c.sent += 1);
                log::info!("SMTP alert '{}' sent to {}", mail.subject, s.relay.server);
            }
            Err(e) => {
                me.count(|c| c.failed += 1);
                log::warn!("SMTP alert '{}' to {}: {e} ({} failed so far)", mail.subject, s.relay.server, me.counters.get().failed);
            }
        }
        me.count(|c| c.queued = c.queued.saturating_sub(1));
    }
}
