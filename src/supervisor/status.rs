//! The status snapshot the parent serves on its control socket and prints on
//! the console (`ps`, `mem`).

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
    /// VRRP instances as the VRRP child last reported them.
    pub vrrp: Vec<crate::vrrp::instance::InstanceStatus>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildStatus {
    pub role: String,
    pub pid: Option<u32>,
    pub state: String,
    pub restarts: u32,
    pub watchdog_kills: u32,
    /// Milliseconds since the child last answered a hello.
    pub last_answer_ms: Option<u64>,
    pub config_generation: u32,
    pub config: ConfigSummary,
    pub mem: MemStats,
    /// Checks run since the child started (the checker child).
    #[serde(default)]
    pub checks_run: u64,
    pub rss_kb: Option<u64>,
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
