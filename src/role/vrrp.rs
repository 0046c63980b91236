//! The VRRP child's duties: the engine, rebuilt when the instances or the
//! global settings change; instances it keeps as master stay master on the
//! wire across the rebuild, as do those a restarted child resumes.

use super::{Applied, Duties, Runtime, Stop};
use crate::cli::Role;
use crate::config::Config;
use crate::ipc::Msg;
use crate::vrrp::engine::{Engine, OnChange};
use std::rc::Rc;

pub struct Vrrp {
    engine: Option<Engine>,
    /// Instances to start as master: the predecessor's (Resume) or the
    /// masters the previous engine kept through a reload.
    resume: Vec<String>,
}

impl Duties for Vrrp {
    const ROLE: Role = Role::Vrrp;

    fn new(_rt: &Runtime) -> Self {
        Vrrp { engine: None, resume: Vec::new() }
    }

    async fn apply(&mut self, rt: &Runtime, old: &Applied, new: &Config) {
        let changed = old.first() || old.config.vrrp_instances != new.vrrp_instances || old.config.global != new.global;
        if !changed {
            return;
        }
        // Masters the new config keeps stay master on the wire (no
        // priority 0) and the new engine resumes them.
        if let Some(e) = self.engine.take() {
            let kept = e.stop_for_reload(&old.config, new).await;
            self.resume.extend(kept);
        }
        // State changes go to the parent as they happen.
        let to_parent = rt.tx.clone();
        let on_change: OnChange = Rc::new(move |st| {
            let _ = to_parent.try_send(&Msg::VrrpStatus { instances: st.to_vec() });
        });
        self.engine = Some(Engine::start(&rt.ex, new, &self.resume, on_change));
        self.resume.clear();
    }

    fn resume(&mut self, masters: Vec<String>) {
        self.resume = masters;
    }

    fn dump(&mut self, rt: &Runtime, what: crate::os::signals::Dump) {
        if let Some(e) = &self.engine {
            e.dump(what, rt.json_version);
        }
    }

    fn report(&self) -> crate::ipc::Report {
        let Some(e) = &self.engine else { return crate::ipc::Report::default() };
        crate::ipc::Report { vrrp: e.status(), sync_groups: e.sync_groups(), ..Default::default() }
    }

    async fn stop(&mut self, _rt: &Runtime, _how: Stop) {
        // Orphaned or not, a master says goodbye (priority 0) and removes
        // its addresses: with no parent, nothing would restart us.
        if let Some(e) = self.engine.take() {
            e.stop().await;
        }
    }
}
