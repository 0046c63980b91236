//! Status that is current when read: a status, console view or metrics
//! request asks each running child for its report (`Msg::Query`) and is
//! answered once both replied or a bound passed, whichever comes first. A
//! child that does not answer in time is shown as it last reported.
//! Nothing is copied between children and parent in steady state.

use super::control;
use std::time::Duration;

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
    /// The slots (0 VRRP, 1 checker) still to answer.
    pub waiting: [bool; 2],
    pub asker: Asker,
}

impl Pending {
    pub fn done(&self) -> bool {
        !self.waiting.iter().any(|w| *w)
    }
}
