//! The BFD child's duties: the sessions of the `bfd_instance` blocks
//! (`bfd::engine`), reloaded in place: a session the new config keeps goes
//! on without a flap.

use super::{Applied, Duties, Runtime, Stop};
use crate::bfd::engine::{Carried, Engine};
use crate::cli::Role;
use crate::config::Config;
use crate::ipc::Msg;
use std::rc::Rc;

pub struct Bfd {
    engine: Option<Engine>,
    /// The config in force, for the data dump's global definitions.
    config: Option<Rc<Config>>,
    /// The predecessor's Up sessions (from the parent), taken over at the
    /// first config.
    carried: Vec<Carried>,
}

impl Duties for Bfd {
    const ROLE: Role = Role::Bfd;

    fn new(_rt: &Runtime) -> Self {
        Bfd { engine: None, config: None, carried: Vec::new() }
    }

    type Prepared = ();

    async fn apply(&mut self, rt: &Runtime, old: &Applied, new: &Rc<Config>, _prepared: ()) {
        self.config = Some(new.clone());
        if !old.first() && old.config.bfd_instances == new.bfd_instances {
            return;
        }
        let engine = self.engine.get_or_insert_with(|| {
            // Rare (a session entering or leaving Up) and small: sent at
            // once, through the parent to the VRRP child.
            let tx = rt.tx.clone();
            let carry_tx = rt.tx.clone();
            Engine::start(
                &rt.ex,
                Rc::new(move |name: &str, up: bool| {
                    if let Err(e) = tx.try_send(&Msg::BfdState { name: name.to_string(), up }) {
                        log::error!("bfd child: ({name}) {} not passed on: {e}", if up { "Up" } else { "Down" });
                    }
                }),
                Rc::new(move |sessions: Vec<Carried>| {
                    if let Err(e) = carry_tx.try_send(&Msg::BfdCarried { sessions }) {
                        log::warn!("bfd child: session state not kept by the parent: {e}");
                    }
                }),
            )
        });
        engine.apply(&new.bfd_instances, &std::mem::take(&mut self.carried));
        log::info!("bfd child: {} session(s)", new.bfd_instances.len());
    }

    fn bfd_carried(&mut self, sessions: Vec<Carried>) {
        self.carried = sessions;
    }

    fn dump(&mut self, _rt: &Runtime, what: crate::os::signals::Dump) {
        if what != crate::os::signals::Dump::Data {
            return;
        }
        if let Some(e) = &self.engine {
            for line in crate::bfd::status::text(&e.status()).lines() {
                log::info!("{line}");
            }
        }
        // keepalived's BFD process writes its file for SIGUSR1.
        let config = self.config.clone().unwrap_or_default();
        let text = match &self.engine {
            Some(e) => e.data_dump(&config),
            None => crate::bfd::dump::render(&config, -1, &[]),
        };
        crate::bfd::dump::write(&text);
    }

    fn report(&self) -> crate::ipc::Report {
        crate::ipc::Report { bfd: self.engine.as_ref().map(|e| e.status()).unwrap_or_default(), ..Default::default() }
    }

    async fn stop(&mut self, _rt: &Runtime, how: Stop) {
        if how == Stop::Clean {
            if let Some(e) = &self.engine {
                e.stop();
            }
        }
    }
}
