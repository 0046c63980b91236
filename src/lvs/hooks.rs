//! What the checker child does besides IPVS when a real server or a
//! virtual server's quorum changes: notify scripts and SMTP alerts.
//!
//! keepalived's semantics (check/ipwrapper.c, do_rs_notifies and
//! do_vs_notifies):
//! - notify_up / notify_down run on a real server's transitions, with
//!   their argv as configured (nothing appended, unlike VRRP's `notify`).
//!   No notify for a real server added as up at start, unless alpha (an
//!   alpha checker's first result is notified, success or failure).
//! - quorum_up / quorum_down run on quorum transitions; at start quorum_up
//!   runs when quorum is met, quorum_down only with a sorry server.
//! - A real server removed by a reload while up gets notify_down and an
//!   alert "=> Removing <=". A virtual server removed while it had quorum
//!   gets quorum_down.
//! - omega: at shutdown, real servers that are up get notify_down, and the
//!   virtual server quorum_down (whatever its quorum was), each killed
//!   after one second; alerts say "=> Shutting down <=". Without omega
//!   nothing runs at shutdown.
//! - SMTP alerts: a real server's go out when its smtp_alert, else the
//!   global smtp_alert_checker, else smtp_alert, else yes (keepalived's
//!   backwards-compatible default); a virtual server's with the same chain
//!   ending in no.
//!
//! Scripts are started through `notify::RunningScript` and awaited by a
//! detached task on the checker child's scheduler: nothing here blocks.
//! Deliberate differences: keepalived's checkers write their own alert text
//! ("=> TCP CHECK succeed on service <="); ours name the checker kind in
//! the same pattern.
//! - notify FIFO lines (`fifo`) go out wherever a notify script would run,
//!   configured or not, as keepalived's do_rs_notifies / do_vs_notifies.

use crate::config::model::{Config, GlobalDefs, RealServer, VirtualServer};
use crate::script::{RunningScript, ScriptCommand, prepare_script};
use async_io::Timer;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// keepalived kills scripts run at shutdown after one second (TIMER_HZ).
pub const STOP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(1);

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertSubject {
    RealServer { vs: String, rs: String },
    VirtualServer { vs: String },
}

/// One SMTP alert, for the SMTP client to send (keepalived's smtp_alert
/// with SMTP_MSG_RS / SMTP_MSG_RS_SHUT / SMTP_MSG_VS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub subject: AlertSubject,
    /// "UP" or "DOWN".
    pub state: &'static str,
    pub message: String,
}

/// Where alerts go: the checker child's SMTP queue (`alert::Alerter`).
pub trait AlertSink {
    fn alert(&self, alert: Alert);
}

/// What the hooks are asked to do.
pub trait Hooks {
    /// Starts `cmd` without waiting for it; `kill_after` bounds its run.
    fn script(&self, cmd: &ScriptCommand, kill_after: Option<Duration>);
    fn alert(&self, alert: Alert);
    /// A line for notify_fifo / lvs_notify_fifo (see `fifo`).
    fn fifo(&self, _line: &str) {}
}

pub type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The checker child's hooks: scripts awaited by tasks on its scheduler.
pub struct SpawnHooks {
    spawn: Box<dyn Fn(LocalFuture)>,
    alerts: Rc<dyn AlertSink>,
    running: Rc<Cell<usize>>,
    fifos: std::cell::RefCell<super::fifo::Fifos>,
}

impl SpawnHooks {
    /// `spawn` detaches a task on the scheduler, e.g.
    /// `move |f| ex.spawn(f).detach()`.
    pub fn new(spawn: impl Fn(LocalFuture) + 'static, alerts: Rc<dyn AlertSink>) -> SpawnHooks {
        SpawnHooks { spawn: Box::new(spawn), alerts, running: Rc::new(Cell::new(0)), fifos: Default::default() }
    }

    /// Opens the FIFOs `g` names (start, reload); see `fifo::Fifos`.
    pub fn set_fifos(&self, g: &GlobalDefs) {
        self.fifos.borrow_mut().configure(g);
    }

    /// Waits (bounded) until every script started here has exited.
    pub async fn idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.running.get() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            Timer::after(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Hooks for SpawnHooks {
    fn script(&self, cmd: &ScriptCommand, kill_after: Option<Duration>) {
        let argv0 = cmd.argv.first().cloned().unwrap_or_default();
        match RunningScript::start(cmd) {
            Ok(r) => {
                let running = self.running.clone();
                running.set(running.get() + 1);
                (self.spawn)(Box::pin(async move {
                    let outcome = r.wait(kill_after).await;
                    log::debug!("notify script {argv0}: {outcome:?}");
                    running.set(running.get().saturating_sub(1));
                }));
            }
            Err(e) => log::warn!("notify script '{argv0}': {e}"),
        }
    }

    fn alert(&self, alert: Alert) {
        self.alerts.alert(alert);
    }

    fn fifo(&self, line: &str) {
        self.fifos.borrow_mut().write(line);
    }
}

/// A virtual server's prepared scripts and alert settings.
#[derive(Clone, Debug, Default)]
pub struct VsHooks {
    pub quorum_up: Option<ScriptCommand>,
    pub quorum_down: Option<ScriptCommand>,
    pub alert: bool,
    pub name: String,
    pub real_servers: Vec<RsHooks>,
}

/// One real server's hooks: 24 bytes, kept for every real server, so the
/// scripts (rarely set) are boxed and the name (`rs_name`) is made when a
/// hook runs rather than kept: 10,000 real servers kept 1.4 MB of these.
#[derive(Clone, Debug, Default)]
pub struct RsHooks {
    pub notify_up: Option<Box<ScriptCommand>>,
    pub notify_down: Option<Box<ScriptCommand>>,
    pub alert: bool,
}

fn prep(s: Option<&crate::config::model::Script>, g: &GlobalDefs) -> Option<ScriptCommand> {
    s.and_then(|s| prepare_script(s, g))
}

/// keepalived 2.2.7's FMT_VS (see `VirtualServer::fmt_vs`).
pub fn vs_name(vs: &VirtualServer) -> String {
    vs.fmt_vs()
}

/// keepalived 2.2.7's FMT_RS (see `VirtualServer::fmt_rs`).
pub fn rs_name(vs: &VirtualServer, rs: &RealServer) -> String {
    vs.fmt_rs(rs)
}

/// Whether alerts go out for a real server / a virtual server.
pub fn rs_alert(g: &GlobalDefs, rs: &RealServer) -> bool {
    rs.smtp_alert.or(g.smtp_alert_checker).or(g.smtp_alert).unwrap_or(true)
}

pub fn vs_alert(g: &GlobalDefs, vs: &VirtualServer) -> bool {
    vs.smtp_alert.or(g.smtp_alert_checker).or(g.smtp_alert).unwrap_or(false)
}

/// Every virtual server's hooks, resolved once per config (script user,
/// security checks: a refused script is logged and disabled, as keepalived).
pub fn prepare(config: &Config) -> Vec<VsHooks> {
    let g = &config.global;
    config
        .virtual_servers
        .iter()
        .map(|vs| VsHooks {
            quorum_up: prep(vs.quorum_up.as_ref(), g),
            quorum_down: prep(vs.quorum_down.as_ref(), g),
            alert: vs_alert(g, vs),
            name: vs_name(vs),
            real_servers: vs
                .real_servers
                .iter()
                .map(|rs| RsHooks {
                    notify_up: prep(rs.notify_up.as_deref(), g).map(Box::new),
                    notify_down: prep(rs.notify_down.as_deref(), g).map(Box::new),
                    alert: rs_alert(g, rs),
                })
                .collect(),
        })
        .collect()
}

/// Hooks that record what they were asked, for tests.
#[derive(Default)]
pub struct Recorder {
    pub scripts: std::cell::RefCell<Vec<(Vec<String>, Option<Duration>)>>,
    pub alerts: std::cell::RefCell<Vec<Alert>>,
    pub fifo_lines: std::cell::RefCell<Vec<String>>,
}

impl Hooks for Recorder {
    fn script(&self, cmd: &ScriptCommand, kill_after: Option<Duration>) {
        self.scripts.borrow_mut().push((cmd.argv.clone(), kill_after));
    }

    fn alert(&self, alert: Alert) {
        self.alerts.borrow_mut().push(alert);
    }

    fn fifo(&self, line: &str) {
        self.fifo_lines.borrow_mut().push(line.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Protocol, VirtualServerKey};

    #[test]
    fn alert_defaults_follow_keepalived() {
        let mut g = GlobalDefs::default();
        let mut rs = RealServer { addr: "10.0.0.1".parse().unwrap(), port: Some(80), weight: 1, ..RealServer::default() };
        let mut vs = VirtualServer::default();
        // Nothing set: real servers alert, virtual servers do not.
        assert!(rs_alert(&g, &rs));
        assert!(!vs_alert(&g, &vs));
        g.smtp_alert = Some(false);
        assert!(!rs_alert(&g, &rs));
        g.smtp_alert_checker = Some(true);
        assert!(rs_alert(&g, &rs) && vs_alert(&g, &vs));
        rs.smtp_alert = Some(false);
        vs.smtp_alert = Some(false);
        assert!(!rs_alert(&g, &rs) && !vs_alert(&g, &vs));
        vs.key = VirtualServerKey::Addr { addr: "192.0.2.1".parse().unwrap(), port: 8080 };
        assert_eq!(rs_name(&vs, &rs), "[10.0.0.1]:tcp:80");
        assert_eq!(vs_name(&vs), "[192.0.2.1]:tcp:8080");
        rs.port = None;
        vs.protocol = Protocol::Udp;
        assert_eq!(rs_name(&vs, &rs), "[10.0.0.1]:udp:8080");
        vs.key = VirtualServerKey::Fwmark(3);
        assert_eq!((vs_name(&vs), rs_name(&vs, &rs)), ("FWM 3".to_string(), "[10.0.0.1]:none:0".to_string()));
        vs.key = VirtualServerKey::Group("web".into());
        assert_eq!(vs_name(&vs), "[web]:0");
    }
}
