//! Where the VRRP engine and the checkers hand their alerts over.
//!
//! VRRP (keepalived's vrrp_smtp_notifier / vrrp_sync_smtp_notifier): an
//! instance or sync group whose smtp_alert is on (its own, else
//! smtp_alert_vrrp, else smtp_alert, else off; see `vrrp_enabled`) sends an
//! alert on entering MASTER, BACKUP, FAULT and on stopping, but not twice
//! in a row for the same state (keepalived's last_email_state: a master
//! kept across a reload is not announced again). `no_email_faults` leaves
//! FAULT out.
//!
//! Checkers: `lvs::hooks` decides which real and virtual servers alert
//! (its `rs_alert` / `vs_alert`); the Alerter puts their words into mails.

use super::message;
use super::queue::Alerter;
use crate::config::model::GlobalDefs;
use crate::lvs::hooks::{Alert, AlertSink, AlertSubject};
use crate::notify::{NotifyState, Subject};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// An instance's or sync group's smtp_alert as keepalived resolves it.
pub fn vrrp_enabled(own: Option<bool>, g: &GlobalDefs) -> bool {
    own.or(g.smtp_alert_vrrp).or(g.smtp_alert).unwrap_or(false)
}

/// The VRRP child's state alerts; lives as long as the child (reloads
/// included), so that the last state announced is remembered.
pub struct VrrpAlerts {
    alerter: Alerter,
    last: RefCell<HashMap<(Subject, String), NotifyState>>,
    no_email_faults: Cell<bool>,
}

impl VrrpAlerts {
    pub fn new(alerter: Alerter) -> VrrpAlerts {
        VrrpAlerts { alerter, last: RefCell::new(HashMap::new()), no_email_faults: Cell::new(false) }
    }

    /// The settings of `g` (start, reload).
    pub fn configure(&self, g: &GlobalDefs) {
        self.alerter.configure(g);
        self.no_email_faults.set(g.other.iter().any(|o| o.keyword == "no_email_faults"));
    }

    pub fn alerter(&self) -> &Alerter {
        &self.alerter
    }

    /// `name` (an instance or a group, whose smtp_alert is on) entered `state`.
    pub fn state(&self, subject: Subject, name: &str, state: NotifyState) {
        if state == NotifyState::Fault && self.no_email_faults.get() {
            return;
        }
        let key = (subject, name.to_string());
        if self.last.borrow().get(&key) == Some(&state) {
            return;
        }
        self.last.borrow_mut().insert(key, state);
        self.alerter.alert(message::vrrp(subject, name, state));
    }
}

impl AlertSink for Alerter {
    fn alert(&self, a: Alert) {
        let text = match &a.subject {
            AlertSubject::RealServer { vs, rs } => message::real_server(vs, rs, a.state, &a.message),
            AlertSubject::VirtualServer { vs } => message::virtual_server(vs, a.state, &a.message),
        };
        log::info!("SMTP alert: {} {}", text.subject, text.body);
        Alerter::alert(self, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_alert_precedence_follows_keepalived() {
        let mut g = GlobalDefs::default();
        assert!(!vrrp_enabled(None, &g));
        g.smtp_alert = Some(true);
        assert!(vrrp_enabled(None, &g));
        g.smtp_alert_vrrp = Some(false);
        assert!(!vrrp_enabled(None, &g));
        assert!(vrrp_enabled(Some(true), &g));
        g.smtp_alert_vrrp = Some(true);
        assert!(!vrrp_enabled(Some(false), &g));
    }
}
