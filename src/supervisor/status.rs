//! The status snapshot the parent serves on its control socket and prints on
//! the console (`status`, `vrrp`, `lvs`, `ps`, `mem`); `vigil status`
//! prints the same text.

use crate::ipc::ConfigSummary;
use crate::os::mem::MemStats;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub init: bool,
    pub uptime_ms: u64,
    pub watchdog_ms: u64,
    pub config_file: String,
    /// Generation of the config in force in the parent (1 = the one read at start).
    pub config_generation: u32,
    pub reloads_refused: u32,
    pub mem: MemStats,
    /// Resident set size in KiB (VmRSS), from /proc.
    pub rss_kb: Option<u64>,
    pub children: Vec<ChildStatus>,
    /// VRRP instances as the VRRP child reported them (when answering a
    /// status request: as of that request).
    pub vrrp: Vec<crate::vrrp::instance::InstanceStatus>,
    #[serde(default)]
    pub sync_groups: Vec<crate::vrrp::instance::SyncGroupStatus>,
    /// Virtual servers as the checker child reported them.
    #[serde(default)]
    pub virtual_servers: Vec<crate::lvs::status::VirtualServerStatus>,
    /// BFD sessions as the BFD child reported them.
    #[serde(default)]
    pub bfd: Vec<crate::bfd::status::SessionStatus>,
    /// The hardware watchdog PID 1 pets, when armed.
    #[serde(default)]
    pub hw_watchdog: Option<HwWatchdogStatus>,
    /// Times each fixed capacity (`os::capacity::TABLE`) was reached,
    /// summed over the processes; every capacity listed, zeros included.
    #[serde(default)]
    pub capacity_hits: std::collections::BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HwWatchdogStatus {
    pub timeout_s: u64,
    /// `children` or `parent` (vigil_hwwdt_policy).
    pub policy: String,
    /// False while the parent withholds the pet (the box resets within
    /// the timeout); `withheld` says why.
    pub petting: bool,
    pub withheld: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildStatus {
    pub role: String,
    pub pid: Option<u32>,
    pub state: String,
    pub restarts: u32,
    pub watchdog_kills: u32,
    /// Master instances the parent handed over while this (VRRP) child was
    /// down for longer than its peers wait.
    #[serde(default)]
    pub handovers: u64,
    /// Milliseconds since the child last answered a hello.
    pub last_answer_ms: Option<u64>,
    pub config_generation: u32,
    pub config: ConfigSummary,
    pub mem: MemStats,
    /// Checks run since the child started (the checker child).
    #[serde(default)]
    pub checks_run: u64,
    pub rss_kb: Option<u64>,
    /// The child's SMTP alerts: sent, failed, dropped (queue full), queued.
    #[serde(default)]
    pub alerts: crate::alert::AlertCounters,
    /// Times each fixed capacity was reached in this child (its last report).
    #[serde(default)]
    pub capacity_hits: std::collections::BTreeMap<String, u64>,
    /// The VRRP child's netlink reflector (its last report): events read,
    /// ENOBUFS overruns, the resyncs that answered them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlink: Option<crate::netlink::reflector::ReflectorCounters>,
}

/// VmRSS of a process in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Status {
    /// The console's `ps` table.
    pub fn ps_table(&self) -> String {
        let mut s = String::from("ROLE PID STATE RESTARTS LAST_ANSWER_MS\n");
        s.push_str(&format!("parent {} running 0 -\n", self.pid));
        for c in &self.children {
            let pid = c.pid.map_or("-".to_string(), |p| p.to_string());
            let age = c.last_answer_ms.map_or("-".to_string(), |a| a.to_string());
            s.push_str(&format!("{} {} {} {} {}\n", c.role, pid, c.state, c.restarts, age));
        }
        s
    }

    /// The console's `mem` table.
    pub fn mem_table(&self) -> String {
        let mut s = String::from("ROLE RSS_KB COUNTING ALLOCS FREES LIVE_BYTES PEAK_BYTES\n");
        let row = |s: &mut String, role: &str, rss: Option<u64>, m: &MemStats| {
            let rss = rss.map_or("-".to_string(), |r| r.to_string());
            let on = if m.enabled { "on" } else { "off" };
            s.push_str(&format!("{role} {rss} {on} {} {} {} {}\n", m.allocs, m.frees, m.live_bytes, m.peak_bytes));
        };
        row(&mut s, "parent", self.rss_kb, &self.mem);
        for c in &self.children {
            row(&mut s, &c.role, c.rss_kb, &c.mem);
        }
        s
    }
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// Columns padded to the widest cell, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|x| x.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.extend(std::iter::repeat_n(' ', width[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

impl Status {
    /// Everything, as a person reads it: `vigil status`, the console's `status`.
    pub fn text(&self) -> String {
        let mut s = format!(
            "vigil pid {}, up {}, config {} (generation {}, {} reload(s) refused)\n",
            self.pid,
            duration(self.uptime_ms),
            self.config_file,
            self.config_generation,
            self.reloads_refused
        );
        if !self.vrrp.is_empty() {
            s.push('\n');
            s.push_str(&self.vrrp_text());
        }
        if !self.virtual_servers.is_empty() {
            s.push('\n');
            s.push_str(&self.lvs_text());
        }
        if !self.bfd.is_empty() {
            s.push('\n');
            s.push_str(&crate::bfd::status::text(&self.bfd));
        }
        if let Some(w) = &self.hw_watchdog {
            match &w.withheld {
                None => s.push_str(&format!("\nHardware watchdog: petted, timeout {} s, policy {}\n", w.timeout_s, w.policy)),
                Some(why) => s.push_str(&format!("\nHardware watchdog: NOT petted ({why}): the box resets within {} s\n", w.timeout_s)),
            }
        }
        s.push_str("\nProcesses\n");
        let mut rows = vec![["ROLE", "PID", "STATE", "RESTARTS", "WATCHDOG KILLS", "LAST ANSWER", "RSS KiB"].map(String::from).to_vec()];
        rows.push(vec!["parent".into(), self.pid.to_string(), "running".into(), "-".into(), "-".into(), "-".into(), self.rss_kb.map_or("-".into(), |r| r.to_string())]);
        for c in &self.children {
            rows.push(vec![
                c.role.clone(),
                c.pid.map_or("-".into(), |p| p.to_string()),
                c.state.clone(),
                c.restarts.to_string(),
                c.watchdog_kills.to_string(),
                c.last_answer_ms.map_or("-".into(), |a| format!("{a} ms ago")),
                c.rss_kb.map_or("-".into(), |r| r.to_string()),
            ]);
        }
        s.push_str(&table(&rows));
        let handovers: Vec<String> = self.children.iter().filter(|c| c.handovers > 0).map(|c| format!("{} (for the {} child)", c.handovers, c.role)).collect();
        if !handovers.is_empty() {
            s.push_str(&format!("Hand-overs by the parent: {}\n", handovers.join(", ")));
        }
        if self.children.iter().any(|c| c.alerts != Default::default()) {
            s.push_str("\nSMTP alerts\n");
            let mut rows = vec![["ROLE", "SENT", "FAILED", "DROPPED", "QUEUED"].map(String::from).to_vec()];
            for c in &self.children {
                let a = &c.alerts;
                rows.push(vec![c.role.clone(), a.sent.to_string(), a.failed.to_string(), a.dropped.to_string(), a.queued.to_string()]);
            }
            s.push_str(&table(&rows));
        }
        for (role, n) in self.children.iter().filter_map(|c| Some((&c.role, c.netlink?))) {
            // Overruns are the kernel's dropped broadcasts; each is answered
            // by a resync (a full re-read), so nothing is lost but time.
            s.push_str(&format!(
                "Netlink ({role} child): {} messages, {} overruns (ENOBUFS), {} resyncs, {} parse errors, {} capacity hits\n",
                n.messages, n.overruns, n.resyncs, n.parse_errors, n.capacity_hits
            ));
        }
        s
    }

    /// The VRRP instances and sync groups (the console's `vrrp`).
    pub fn vrrp_text(&self) -> String {
        let mut s = String::from("VRRP instances\n");
        if self.vrrp.is_empty() {
            s.push_str("  (none)\n");
            return s;
        }
        let mut rows = vec![["NAME", "STATE", "VRID", "VER", "INTERFACE", "PRIORITY", "MASTER", "VIPS", "SENT", "RECEIVED", "DROPPED", "BECAME MASTER"].map(String::from).to_vec()];
        for i in &self.vrrp {
            let master = match (i.master, i.state) {
                (Some(a), crate::vrrp::fsm::State::Master) => format!("{a} (us)"),
                (Some(a), _) => format!("{a} ({})", i.master_priority),
                (None, _) => "-".into(),
            };
            let vips = if i.vips.is_empty() { "-".into() } else { format!("{}{}", i.vips.join(","), if i.vips_set { " (set)" } else { "" }) };
            rows.push(vec![
                i.name.clone(),
                if i.demoted { format!("{} (demoted)", i.state.name()) } else { i.state.name().into() },
                i.vrid.to_string(),
                i.version.to_string(),
                i.interface.clone(),
                if i.effective_priority == i.priority { i.priority.to_string() } else { format!("{} (base {})", i.effective_priority, i.priority) },
                master,
                vips,
                i.counters.adverts_sent.to_string(),
                i.counters.adverts_received.to_string(),
                (i.counters.rejected + i.counters.other_vrid).to_string(),
                i.fsm.become_master.to_string(),
            ]);
        }
        s.push_str(&table(&rows));
        if self.vrrp.iter().any(|i| i.counters.rejected + i.counters.other_vrid + i.counters.rx_budget_exhausted + i.counters.rx_queue_drops > 0) {
            // DROPPED above, by reason (keepalived's vrrp_stats names in status --json).
            s.push_str("\nAdverts dropped, by reason\n");
            let mut rows = vec![
                ["NAME", "OTHER VRID", "LENGTH", "TTL", "TYPE", "VERSION", "CHECKSUM", "PROTOCOL", "AUTH TYPE", "AUTH MISMATCH", "AUTH FAILURE", "RX BUDGET HIT", "QUEUE FULL"]
                    .map(String::from)
                    .to_vec(),
            ];
            for i in &self.vrrp {
                let (c, e) = (&i.counters, &i.counters.rx_errors);
                let n = [c.other_vrid, e.packet_length, e.ttl, e.invalid_type, e.version, e.checksum, e.protocol, e.invalid_auth_type, e.auth_type_mismatch, e.auth_failure, c.rx_budget_exhausted, c.rx_queue_drops];
                rows.push(std::iter::once(i.name.clone()).chain(n.iter().map(u64::to_string)).collect());
            }
            s.push_str(&table(&rows));
        }
        if !self.sync_groups.is_empty() {
            s.push_str("\nSync groups\n");
            let mut rows = vec![["NAME", "STATE", "MEMBERS"].map(String::from).to_vec()];
            for g in &self.sync_groups {
                rows.push(vec![g.name.clone(), g.state.clone().unwrap_or_else(|| "-".into()), g.members.join(", ")]);
            }
            s.push_str(&table(&rows));
        }
        s
    }

    /// The virtual servers and their real servers (the console's `lvs`).
    pub fn lvs_text(&self) -> String {
        let mut s = String::from("Virtual servers\n");
        if self.virtual_servers.is_empty() {
            s.push_str("  (none)\n");
            return s;
        }
        for v in &self.virtual_servers {
            let quorum = match v.quorum_up {
                Some(true) => "quorum up",
                Some(false) => "quorum down",
                None => "quorum not evaluated yet",
            };
            s.push_str(&format!("  {} {} {}, {quorum}\n", v.name, v.lb_algo, v.lb_kind));
            let mut rows = Vec::new();
            for r in &v.real_servers {
                let last = match (&r.last_check, r.last_ok, &r.last_error) {
                    (Some(k), Some(true), _) => format!("last {k} ok"),
                    (Some(k), _, Some(e)) => format!("last {k} failed: {e}"),
                    _ => "not checked yet".into(),
                };
                rows.push(vec![
                    format!("  {}", r.name),
                    match (r.up, r.drained) {
                        (true, false) => "up".into(),
                        (false, false) => "down".into(),
                        (true, true) => "up (drained)".into(),
                        (false, true) => "down (drained)".into(),
                    },
                    format!("weight {}", r.weight),
                    format!("checks {}", r.checks_run),
                    last,
                ]);
            }
            s.push_str(&table(&rows));
        }
        s
    }
}
