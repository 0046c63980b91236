//! Status that is current when read: a status, console view or metrics
//! request asks each running child for its report (`Msg::Query`) and is
//! answered once both replied or a bound passed, whichever comes first. A
//! child that does not answer in time is shown as it last reported.
//! Nothing is copied between children and parent in steady state.

use super::status::{self, ChildStatus, Status};
use super::{Event, Parent, control, http, metrics, print_prompt};
use crate::ipc::{self, Msg};
use std::io::Write as _;
use std::time::{Duration, Instant};

/// How long a request waits for the children's reports.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);

/// Who asked, and in what form the answer goes back.
pub enum Asker {
    /// The control socket's `status` request: the status as JSON.
    ControlStatus(control::Request),
    /// The control socket's `metrics` request: Prometheus text.
    ControlMetrics(control::Request),
    /// GET /metrics on the metrics listener.
    Http(super::http::Request),
    /// A console command that shows status.
    Console(ConsoleView),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleView {
    /// Everything, as `vigil status` prints it.
    Status,
    /// The same as JSON.
    Json,
    Vrrp,
    Lvs,
}

/// A request waiting for reports.
pub struct Pending {
    pub id: u32,
    /// The slots (0 VRRP, 1 checker, 2 BFD) still to answer.
    pub waiting: [bool; super::SLOTS],
    pub asker: Asker,
}

impl Pending {
    pub fn done(&self) -> bool {
        !self.waiting.iter().any(|w| *w)
    }
}

/// The status, the requests that read it (control socket, console views,
/// metrics) and the operator's actions (`vigil ctl`).
impl Parent {
    pub fn status(&self) -> Status {
        let now = Instant::now();
        Status {
            pid: std::process::id(),
            init: self.init,
            uptime_ms: now.duration_since(self.started).as_millis() as u64,
            watchdog_ms: self.opts.watchdog.as_millis() as u64,
            config_file: self.opts.config.display().to_string(),
            config_generation: self.generation,
            reloads_refused: self.reloads_refused,
            mem: crate::os::mem::stats(),
            rss_kb: status::rss_kb(std::process::id()),
            children: self
                .slots
                .iter()
                // A BFD child the config never asked for is not shown (a
                // checker child -P stopped is: keepalived always has two).
                .filter(|s| s.role != crate::cli::Role::Bfd || s.enabled || s.pid.is_some())
                .map(|s| ChildStatus {
                    role: s.role.name().to_string(),
                    pid: s.pid,
                    state: s.state.name().to_string(),
                    restarts: s.restarts,
                    watchdog_kills: s.watchdog_kills,
                    handovers: s.handovers,
                    last_answer_ms: s.last_answer.filter(|_| s.pid.is_some()).map(|t| now.duration_since(t).as_millis() as u64),
                    config_generation: s.config_generation,
                    config: s.summary.clone(),
                    mem: s.mem,
                    checks_run: s.checks,
                    rss_kb: s.pid.and_then(status::rss_kb),
                    alerts: s.alerts,
                    capacity_hits: s.capacity_hits.iter().cloned().collect(),
                    netlink: s.netlink,
                })
                .collect(),
            capacity_hits: self.capacity_hits(),
            vrrp: self.slots[0].vrrp.clone(),
            sync_groups: self.slots[0].sync_groups.clone(),
            hw_watchdog: self.hw.as_ref().map(|w| status::HwWatchdogStatus {
                timeout_s: w.timeout().as_secs(),
                policy: format!("{:?}", self.hw_policy).to_lowercase(),
                petting: self.hw_withheld.is_none(),
                withheld: self.hw_withheld.clone(),
            }),
            virtual_servers: self.slots[1].virtual_servers.clone(),
            bfd: self.slots[2].bfd.clone(),
        }
    }

    /// Times each capacity was reached, summed over the parent and the
    /// children (as of their last reports); every capacity listed.
    fn capacity_hits(&self) -> std::collections::BTreeMap<String, u64> {
        let mut m: std::collections::BTreeMap<String, u64> = crate::os::capacity::snapshot().into_iter().collect();
        for s in &self.slots {
            for (k, v) in &s.capacity_hits {
                *m.entry(k.clone()).or_default() += v;
            }
        }
        m
    }

    /// Asks every running child for its report; `asker` is answered when
    /// all have replied or after `QUERY_TIMEOUT`.
    pub(super) fn ask(&mut self, asker: Asker) {
        self.query_id = self.query_id.wrapping_add(1);
        let id = self.query_id;
        let mut waiting = [false; super::SLOTS];
        for (i, s) in self.slots.iter().enumerate() {
            if let (Some(tx), Some(_)) = (&s.sender, s.pid) {
                waiting[i] = tx.try_send(&Msg::Query { id }).is_ok();
            }
        }
        let q = Pending { id, waiting, asker };
        if q.done() {
            self.answer(q.asker);
            return;
        }
        self.queries.push(q);
        let tx = self.tx.clone();
        self.ex
            .spawn(async move {
                async_io::Timer::after(QUERY_TIMEOUT).await;
                let _ = tx.send(Event::QueryDeadline(id)).await;
            })
            .detach();
    }

    /// Hands a `vigil ctl` action to its child; the answer goes back to
    /// `req` (or an error after `QUERY_TIMEOUT`).
    pub(super) fn ctl(&mut self, req: control::Request, action: ipc::CtlAction) {
        let s = &self.slots[Self::slot_index(action.role())];
        let Some(tx) = s.sender.as_ref().filter(|_| s.pid.is_some()) else {
            let text = format!("error: the {} child is not running\n", action.role().name());
            self.ex.spawn(control::reply(req, text)).detach();
            return;
        };
        self.query_id = self.query_id.wrapping_add(1).max(1);
        let id = self.query_id;
        if let Err(e) = tx.try_send(&Msg::Ctl { id, action: action.clone() }) {
            self.ex.spawn(control::reply(req, format!("error: {e}\n"))).detach();
            return;
        }
        log::info!("ctl: {action}");
        self.ctl_pending.push((id, req, action));
        let tx = self.tx.clone();
        self.ex
            .spawn(async move {
                async_io::Timer::after(QUERY_TIMEOUT).await;
                let _ = tx.send(Event::CtlDeadline(id)).await;
            })
            .detach();
    }

    pub(super) fn answer(&mut self, asker: Asker) {
        let st = self.status();
        match asker {
            Asker::ControlStatus(req) => {
                let text = serde_json::to_string(&st).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n";
                self.ex.spawn(control::reply(req, text)).detach();
            }
            Asker::ControlMetrics(req) => {
                self.ex.spawn(control::reply(req, metrics::render(&st))).detach();
            }
            Asker::Http(req) => {
                self.ex.spawn(http::reply(req, 200, metrics::render(&st))).detach();
            }
            Asker::Console(view) => {
                let text = match view {
                    ConsoleView::Status => st.text(),
                    ConsoleView::Json => serde_json::to_string_pretty(&st).unwrap_or_default() + "\n",
                    ConsoleView::Vrrp => st.vrrp_text(),
                    ConsoleView::Lvs => st.lvs_text(),
                };
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(text.as_bytes());
                let _ = o.flush();
                drop(o);
                print_prompt();
            }
        }
    }

    pub(super) fn on_control(&mut self, req: control::Request) {
        let reply = match req.line.trim() {
            "status" => return self.ask(Asker::ControlStatus(req)),
            "metrics" => return self.ask(Asker::ControlMetrics(req)),
            line if line.starts_with("ctl\t") => {
                let words: Vec<&str> = line.split('\t').skip(1).collect();
                match ipc::CtlAction::parse(&words) {
                    Ok(action) => return self.ctl(req, action),
                    Err(e) => format!("error: {e}\n"),
                }
            }
            "reload" => {
                self.reload();
                "ok\n".to_string()
            }
            other => format!("error: unknown request {other:?}\n"),
        };
        self.ex.spawn(control::reply(req, reply)).detach();
    }
}
