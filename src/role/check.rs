//! The checker child's duties: the health checkers and the IPVS side they
//! drive. A reload rebuilds the checkers; a real server both configs have
//! (same identity, whatever its place in the file) continues its state, so
//! a reload touches only what it changes.

use super::{Applied, Budget, Duties, Preparing, Runtime, Stop};
use crate::alert::Alerter;
use crate::check::{CheckEvent, Checkers, EventSink, TlsConnector};
use crate::cli::Role;
use crate::os::signals::Dump;
use crate::config::Config;
use crate::lvs::RsView;
use crate::lvs::hooks::{STOP_SCRIPT_TIMEOUT, SpawnHooks};
use crate::lvs::program::{Lvs, RECONCILE_BATCH};
use crate::lvs::suspend::HaSuspend;
use std::cell::RefCell;
use std::rc::Rc;

/// What a reload's preparation works out (`Check::prepare`).
#[derive(Default)]
pub struct Prepared {
    /// The virtual servers (or their groups) changed, or this is the first
    /// config: the checkers and the IPVS side are rebuilt.
    lvs_changed: bool,
    plans: Vec<crate::check::RealServerPlan>,
    carried: crate::lvs::identity::Carried,
}

/// Checker tasks spawned per turn of the message loop.
const SPAWN_BATCH: usize = 256;

pub struct Check {
    checkers: Option<Checkers>,
    /// Opened on the first config with virtual servers, kept across
    /// reloads, torn down at a clean stop. Shared with the checkers' event
    /// sink.
    lvs: Rc<RefCell<Option<Lvs>>>,
    /// The LVS notify scripts, awaited (bounded) at a clean stop.
    hooks: Option<Rc<SpawnHooks>>,
    /// ha_suspend's address follower: started with the first config that
    /// uses it, kept across reloads.
    ha_suspend: Option<(Rc<HaSuspend>, smol::Task<()>)>,
    /// SMTP alerts of real and virtual servers: one queue for the child's
    /// life, reloads included.
    alerter: Alerter,
    /// Where each BFD session stands, as the BFD child last said (through
    /// the parent): the BFD_CHECKs of a reloaded config start from it.
    bfd_up: Vec<(String, bool)>,
}

impl Duties for Check {
    const ROLE: Role = Role::Check;
    type Prepared = Prepared;

    fn new(rt: &Runtime) -> Self {
        // A socket per check in flight: keepalived-scale configs (10,000
        // real servers, many unanswering) outrun the usual 1024.
        match crate::check::net::raise_nofile_limit() {
            Ok(n) => log::info!("check child: open files limit {n}"),
            Err(e) => log::warn!("check child: raising the open files limit: {e}"),
        }
        let ex = rt.ex.clone();
        let alerter = Alerter::new(move |f| ex.spawn(f).detach());
        Check { checkers: None, lvs: Rc::new(RefCell::new(None)), hooks: None, ha_suspend: None, alerter, bfd_up: Vec::new() }
    }

    /// Compares, matches and plans the real servers a batch of virtual
    /// servers at a time: at 40,000 real servers this was most of a reload,
    /// and under TCG longer than the watchdog's interval.
    fn prepare(&self, old: &Applied, new: &Rc<Config>) -> Preparing<Prepared> {
        let first = old.first();
        let (old, new) = (old.config.clone(), new.clone());
        Box::pin(async move {
            let mut budget = Budget::default();
            let mut lvs_changed = first
                || old.virtual_servers.len() != new.virtual_servers.len()
                || old.virtual_server_groups != new.virtual_server_groups;
            for (a, b) in old.virtual_servers.iter().zip(&new.virtual_servers) {
                if lvs_changed {
                    break;
                }
                lvs_changed = a != b;
                budget.spend(a.real_servers.len()).await;
            }
            if !lvs_changed {
                return Prepared::default();
            }
            let mut carried = crate::lvs::identity::CarriedBuilder::new(&old);
            let mut plans = Vec::with_capacity(new.virtual_servers.iter().map(|v| v.real_servers.len()).sum());
            for (vi, vs) in new.virtual_servers.iter().enumerate() {
                carried.push(&old, vs);
                if !crate::check::plan::plan_vs(&new, vi, &mut plans) {
                    break;
                }
                budget.spend(vs.real_servers.len()).await;
            }
            Prepared { lvs_changed, plans, carried: carried.finish() }
        })
    }

    async fn apply(&mut self, rt: &Runtime, old: &Applied, new: &Rc<Config>, prepared: Prepared) {
        self.alerter.configure(&new.global);
        if prepared.lvs_changed {
            self.rebuild(rt, new, prepared);
        } else if old.config.global != new.global {
            // Only global_defs changed: the same servers, new FIFOs,
            // lvs_timeouts, script settings, lvs_flush_on_stop.
            if let Some(h) = &self.hooks {
                h.set_fifos(&new.global);
            }
            if let Some(l) = self.lvs.borrow_mut().as_mut() {
                l.apply(new.clone(), &[]);
            }
        }
    }

    fn bfd_state(&mut self, name: &str, up: bool) {
        match self.bfd_up.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = up,
            None => self.bfd_up.push((name.to_string(), up)),
        }
        let n = self.checkers.as_ref().map_or(0, |c| c.bfd_changed(name, up));
        log::debug!("check child: bfd {name} {}: {n} BFD_CHECK(s) changed", if up { "up" } else { "down" });
    }

    fn busy(&self) -> bool {
        self.checkers.as_ref().is_some_and(|c| c.spawning()) || self.lvs.borrow().as_ref().is_some_and(|l| l.reconciling())
    }

    fn work(&mut self, rt: &Runtime) {
        // The table first, then the checks, as keepalived sets IPVS up
        // before its checkers run: 40,000 checks spawned beside the full
        // reconcile's 42,000 ops took the table a minute to complete under
        // TCG, and their events planned services the reconcile was still on.
        let reconciled = self.lvs.borrow_mut().as_mut().is_none_or(|l| l.reconcile_step(RECONCILE_BATCH));
        if reconciled && let Some(c) = self.checkers.as_mut() {
            c.spawn_more(&rt.ex, SPAWN_BATCH);
        }
    }

    fn dump(&mut self, _rt: &Runtime, what: Dump) {
        // keepalived's checker process answers DATA only.
        if what != Dump::Data {
            log::debug!("check child: {what:?} has no checker file");
            return;
        }
        if let Some(c) = &self.checkers {
            for (id, up, weight) in c.states() {
                let weight = weight.map(|w| format!(" weight {w}")).unwrap_or_default();
                log::info!("virtual server {} real server {}: {}{weight}", id.vs, id.rs, if up { "up" } else { "down" });
            }
        }
        log::info!("SMTP alerts: {}", self.alerter.counters());
        let servers = self.checkers.as_ref().map(|c| c.report()).unwrap_or_default();
        let lvs = self.lvs.borrow();
        let config = lvs.as_ref().map(|l| l.config());
        crate::lvs::dump::write_check_data(config.map(|c| &**c), &servers, |i| lvs.as_ref().and_then(|l| l.quorum_up(i)));
    }

    fn report(&self) -> crate::ipc::Report {
        let servers = self.checkers.as_ref().map(|c| c.report()).unwrap_or_default();
        let lvs = self.lvs.borrow();
        let alerts = self.alerter.counters();
        let Some(l) = lvs.as_ref() else { return crate::ipc::Report { alerts, ..Default::default() } };
        let virtual_servers = crate::lvs::status::report(l.config(), &servers, |i| l.quorum_up(i), |id| l.is_drained(id));
        crate::ipc::Report { virtual_servers, alerts, ..Default::default() }
    }

    fn ctl(&mut self, action: &crate::ipc::CtlAction) -> Result<String, String> {
        let crate::ipc::CtlAction::Drain { virtual_server, real_server, on } = action else {
            return Err(format!("the check child does not {action}"));
        };
        let mut lvs = self.lvs.borrow_mut();
        let l = lvs.as_mut().ok_or("no virtual servers are configured")?;
        let id = crate::lvs::status::find_real_server(l.config(), virtual_server, real_server)?;
        let name = {
            let vs = &l.config().virtual_servers[id.vs as usize];
            format!("real server {} of {}", vs.fmt_rs(&vs.real_servers[id.rs as usize]), vs.fmt_vs())
        };
        Ok(match (l.set_drained(id, *on), *on) {
            (true, true) => format!("{name} drained: weight 0, checks go on"),
            (true, false) => format!("{name} restored"),
            (false, true) => format!("{name} was already drained"),
            (false, false) => format!("{name} was not drained"),
        })
    }

    async fn stop(&mut self, rt: &Runtime, how: Stop) {
        if how == Stop::Orphaned {
            // No parent: the services stay as they are for whoever comes next.
            return;
        }
        // Omega notifiers, managed IPVS services removed, then (bounded)
        // the scripts we started are awaited.
        if let Some(l) = self.lvs.borrow_mut().as_mut() {
            // Drains are undone first: with -I the table is left as the
            // checks want it, not as an operator bent it.
            l.restore_all();
            l.teardown(!rt.dont_release_ipvs);
        }
        if let Some(h) = &self.hooks {
            h.idle(STOP_SCRIPT_TIMEOUT + std::time::Duration::from_millis(500)).await;
        }
        // The omega alerts ("=> Shutting down <="), unless the server is slow.
        self.alerter.flush(std::time::Duration::from_secs(1)).await;
    }
}

impl Check {
    /// New checkers for `new`, carrying the state of the real servers
    /// `old` has too, then the IPVS side brought to `new`.
    fn rebuild(&mut self, rt: &Runtime, new: &Rc<Config>, prepared: Prepared) {
        let previous = self.checkers.take();
        let Prepared { plans, carried, .. } = prepared;
        // The config the runtime keeps (`Applied`), not a copy of it.
        let shared: Rc<Config> = new.clone();
        if !new.virtual_servers.is_empty() && self.lvs.borrow().is_none() {
            let ex = rt.ex.clone();
            let h = Rc::new(SpawnHooks::new(move |f| ex.spawn(f).detach(), Rc::new(self.alerter.clone())));
            self.hooks = Some(h.clone());
            *self.lvs.borrow_mut() = Some(Lvs::new(h));
        }
        let mut carried_views = Vec::new();
        if !plans.is_empty() {
            // Their tasks are spawned a batch per turn (`work`); a reload
            // keeps the tasks of the real servers it leaves as they were.
            let c = match previous {
                Some(prev) => prev.continue_into(&plans, |p| carried.get(p.id)),
                None => crate::check::runner::prepare_checkers_carried(&plans, tls(), self.sink(), |_| None),
            };
            if self.ha_suspend.is_none() && new.virtual_servers.iter().any(|v| v.ha_suspend) {
                self.ha_suspend = HaSuspend::start(&rt.ex);
            }
            if let Some((h, _)) = &self.ha_suspend {
                // Before the executor runs the new tasks.
                h.attach(shared.clone(), c.suspended().clone());
            }
            for (id, up, weight) in c.states() {
                if carried.get(id).is_some() {
                    carried_views.push((id, RsView { up, weight }));
                }
            }
            let kept = c.task_counts().1;
            log::info!(
                "check child: {} real server(s) under check, {} carried over; {kept} checker task(s) kept running, {} to start",
                plans.len(),
                carried_views.len(),
                c.pending_tasks()
            );
            self.checkers = Some(c);
        }
        if let Some(h) = &self.hooks {
            h.set_fifos(&new.global);
        }
        if let Some(l) = self.lvs.borrow_mut().as_mut() {
            l.apply_carried(shared, &carried_views, &carried);
        }
        // New BFD_CHECKs learn where their sessions stand (carried ones
        // already agree, and do not change).
        if let Some(c) = &self.checkers {
            for (name, up) in &self.bfd_up {
                c.bfd_changed(name, *up);
            }
        }
    }

    /// Where the checkers' results go: the IPVS side.
    fn sink(&self) -> EventSink {
        let lvs = self.lvs.clone();
        Rc::new(move |ev: CheckEvent| {
            // Events come from checker tasks, never from inside an Lvs
            // call: the borrow cannot clash.
            match lvs.try_borrow_mut() {
                Ok(mut l) => {
                    if let Some(l) = l.as_mut() {
                        l.on_event(ev);
                    }
                }
                Err(_) => log::error!("check event for real server {:?} lost: LVS state busy", ev.real_server),
            }
        })
    }
}

fn tls() -> Rc<dyn TlsConnector> {
    match crate::check::tls_rustls::RustlsConnector::new() {
        Ok(c) => Rc::new(c),
        Err(e) => {
            log::error!("TLS unavailable for SSL_GET: {e}");
            Rc::new(crate::check::NoTls)
        }
    }
}
