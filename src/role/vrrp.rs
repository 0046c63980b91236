//! The VRRP child's duties: the engine, reloaded in place when the
//! instances or the global settings change (instances it keeps go on
//! running; see vrrp::reload); instances a restarted child resumes start as
//! master.

use super::{Applied, Duties, Runtime, Stop};
use crate::alert::{Alerter, VrrpAlerts};
use crate::cli::Role;
use crate::config::Config;
use crate::ipc::Msg;
use crate::vrrp::engine::{Engine, OnChange};
use std::rc::Rc;
use std::time::Duration;

pub struct Vrrp {
    engine: Option<Engine>,
    /// Instances to start as master: the predecessor's (Resume).
    resume: Vec<String>,
    /// SMTP alerts: one queue for the child's life, reloads included.
    alerts: Rc<VrrpAlerts>,
    /// Instances the operator demoted (`vigil ctl demote`), applied again
    /// to each new engine, so a reload keeps them demoted.
    demoted: Vec<String>,
}

/// How long a clean stop waits for the last alerts (the STOP ones) to go.
const ALERT_STOP_WAIT: Duration = Duration::from_secs(1);

impl Duties for Vrrp {
    const ROLE: Role = Role::Vrrp;

    fn new(rt: &Runtime) -> Self {
        let ex = rt.ex.clone();
        let alerter = Alerter::new(move |f| ex.spawn(f).detach());
        Vrrp { engine: None, resume: Vec::new(), alerts: Rc::new(VrrpAlerts::new(alerter)), demoted: Vec::new() }
    }

    type Prepared = ();

    async fn apply(&mut self, rt: &Runtime, old: &Applied, new: &Rc<Config>, _prepared: ()) {
        let changed = old.first() || old.config.vrrp_instances != new.vrrp_instances || old.config.global != new.global;
        if !changed {
            return;
        }
        self.alerts.configure(&new.global);
        // A reload: instances the new config keeps go on running and take
        // their new settings in place (vrrp::reload says which).
        if let Some(e) = self.engine.as_mut() {
            e.reload(&old.config, new).await;
        } else {
            // State changes go to the parent as they happen, the latest
            // snapshot only: 255 instances changing at once are one message
            // (each a fragmented one), not 255 that overrun the channel and
            // delay the hello's answer behind them.
            let to_parent = rt.tx.clone();
            let latest: Rc<std::cell::RefCell<Option<Rc<std::cell::RefCell<Vec<crate::vrrp::instance::InstanceStatus>>>>>> = Rc::default();
            let (kick, kicked) = smol::channel::bounded::<()>(1);
            let pending = latest.clone();
            rt.ex
                .spawn(async move {
                    while kicked.recv().await.is_ok() {
                        let Some(shared) = pending.borrow_mut().take() else { continue };
                        let instances = shared.borrow().clone();
                        if let Err(e) = to_parent.send(&Msg::VrrpStatus { instances }).await {
                            log::warn!("vrrp child: state to the parent: {e}");
                        }
                    }
                })
                .detach();
            let on_change: OnChange = Rc::new(move |st| {
                *latest.borrow_mut() = Some(st.clone());
                let _ = kick.try_send(());
            });
            self.engine = Some(Engine::start(&rt.ex, new, &self.resume, on_change, Some(self.alerts.clone())));
            self.resume.clear();
        }
        // Demotions outlive a reload (already in force: no change); one of
        // an instance now gone is dropped.
        if let Some(engine) = &self.engine {
            self.demoted.retain(|name| match engine.set_demoted(name, true) {
                Ok(_) => true,
                Err(e) => {
                    log::info!("ctl demote {name} dropped at the reload: {e}");
                    false
                }
            });
        }
    }

    fn ctl(&mut self, action: &crate::ipc::CtlAction) -> Result<String, String> {
        let crate::ipc::CtlAction::Demote { instance, on } = action else {
            return Err(format!("the vrrp child does not {action}"));
        };
        let engine = self.engine.as_ref().ok_or("no VRRP instances are running")?;
        let changed = engine.set_demoted(instance, *on)?;
        self.demoted.retain(|n| n != instance);
        if *on {
            self.demoted.push(instance.clone());
        }
        Ok(match (changed, *on) {
            (true, true) => format!("{instance} demoted: priority 0 sent if it was master, effective priority held at 1"),
            (true, false) => format!("{instance} no longer demoted: its own priority again"),
            (false, true) => format!("{instance} was already demoted"),
            (false, false) => format!("{instance} was not demoted"),
        })
    }

    fn bfd_state(&mut self, name: &str, up: bool) {
        match &self.engine {
            Some(e) => e.bfd_changed(name, up),
            None => log::debug!("vrrp child: bfd {name} before any config; ignored"),
        }
    }

    fn resume(&mut self, masters: Vec<String>) {
        self.resume = masters;
    }

    fn dump(&mut self, rt: &Runtime, what: crate::os::signals::Dump) {
        if let Some(e) = &self.engine {
            e.dump(what, rt.json_version);
        }
        log::info!("SMTP alerts: {}", self.alerts.alerter().counters());
    }

    fn report(&self) -> crate::ipc::Report {
        let Some(e) = &self.engine else {
            return crate::ipc::Report { alerts: self.alerts.alerter().counters(), ..Default::default() };
        };
        crate::ipc::Report {
            vrrp: e.status(),
            sync_groups: e.sync_groups(),
            alerts: self.alerts.alerter().counters(),
            netlink: Some(e.netlink_counters()),
            ..Default::default()
        }
    }

    async fn stop(&mut self, _rt: &Runtime, _how: Stop) {
        // Orphaned or not, a master says goodbye (priority 0) and removes
        // its addresses: with no parent, nothing would restart us.
        if let Some(e) = self.engine.take() {
            e.stop().await;
        }
        // The STOP alerts, unless the server is slow: bounded.
        if !self.alerts.alerter().flush(ALERT_STOP_WAIT).await {
            log::info!("SMTP alerts left at stop: {}", self.alerts.alerter().counters());
        }
    }
}
