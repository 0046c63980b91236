//! keepalived's VRRP dump files, written by the VRRP child on a signal and
//! only then (nothing here runs on the advert path):
//!
//! - `data`: /tmp/keepalived.data (SIGUSR1), keepalived 2.2.7's layout.
//! - `stats`: /tmp/keepalived.stats (SIGUSR2; STATS_CLEAR writes it, then
//!   clears the counters the dump files show).
//! - `json`: /tmp/keepalived.json (the JSON signal), json_version 1 as
//!   keepalived 2.2.7 writes it, or keepalived 2.3's json_version 2.
//!
//! Each is built from the configuration and the instances' live status and
//! written whole (`os::atomic_file`), mode 0600.

pub mod data;
pub mod json;
pub mod stats;

use super::fsm::State;
use super::instance::{InstanceStatus, SyncGroupStatus};
use crate::config::model::{Config, IpAddress, Script, VrrpInstance};
use crate::script::track::ScriptState;
use std::net::IpAddr;
use std::path::Path;
use std::time::SystemTime;

pub const DATA_FILE: &str = "/tmp/keepalived.data";
pub const STATS_FILE: &str = "/tmp/keepalived.stats";
pub const JSON_FILE: &str = "/tmp/keepalived.json";

/// Everything a dump shows, read when the signal arrives.
pub struct View<'a> {
    pub config: &'a Config,
    /// Indexed like `config.vrrp_instances`.
    pub status: &'a [InstanceStatus],
    pub groups: &'a [SyncGroupStatus],
    /// Indexed like `config.vrrp_scripts`.
    pub scripts: &'a [ScriptState],
    /// What STATS_CLEAR cleared, per instance (subtracted from the counters).
    pub cleared: &'a [KaStats],
    pub now: SystemTime,
}

impl View<'_> {
    /// Each instance with its configuration and status.
    pub fn instances(&self) -> impl Iterator<Item = (&VrrpInstance, &InstanceStatus, KaStats)> {
        self.config.vrrp_instances.iter().zip(self.status).enumerate().map(|(i, (c, s))| {
            let base = self.cleared.get(i).copied().unwrap_or_default();
            (c, s, KaStats::of(s).minus(&base))
        })
    }
}

/// keepalived's per-instance counters (its `vrrp_stats`), from ours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KaStats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub advert_interval_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
}

impl KaStats {
    pub fn of(s: &InstanceStatus) -> KaStats {
        let c = &s.counters;
        KaStats {
            advert_rcvd: c.adverts_received,
            advert_sent: c.adverts_sent,
            become_master: s.fsm.become_master,
            release_master: s.fsm.release_master,
            packet_len_err: c.rx_errors.packet_length,
            advert_interval_err: s.fsm.interval_mismatch,
            ip_ttl_err: c.rx_errors.ttl,
            invalid_type_rcvd: c.rx_errors.invalid_type,
            addr_list_err: c.address_list_mismatch,
            invalid_authtype: c.rx_errors.invalid_auth_type,
            authtype_mismatch: c.rx_errors.auth_type_mismatch,
            auth_failure: c.rx_errors.auth_failure,
            pri_zero_rcvd: s.fsm.priority_zero_received,
            pri_zero_sent: s.fsm.priority_zero_sent,
        }
    }

    /// The counters since `base` was taken.
    pub fn minus(&self, base: &KaStats) -> KaStats {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        KaStats {
            advert_rcvd: d(self.advert_rcvd, base.advert_rcvd),
            advert_sent: d(self.advert_sent, base.advert_sent),
            become_master: d(self.become_master, base.become_master),
            release_master: d(self.release_master, base.release_master),
            packet_len_err: d(self.packet_len_err, base.packet_len_err),
            advert_interval_err: d(self.advert_interval_err, base.advert_interval_err),
            ip_ttl_err: d(self.ip_ttl_err, base.ip_ttl_err),
            invalid_type_rcvd: d(self.invalid_type_rcvd, base.invalid_type_rcvd),
            addr_list_err: d(self.addr_list_err, base.addr_list_err),
            invalid_authtype: d(self.invalid_authtype, base.invalid_authtype),
            authtype_mismatch: d(self.authtype_mismatch, base.authtype_mismatch),
            auth_failure: d(self.auth_failure, base.auth_failure),
            pri_zero_rcvd: d(self.pri_zero_rcvd, base.pri_zero_rcvd),
            pri_zero_sent: d(self.pri_zero_sent, base.pri_zero_sent),
        }
    }
}

/// keepalived's state numbers (VRRP_STATE_*), as its JSON shows them.
pub fn state_num(s: State) -> u32 {
    match s {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
        State::Stop => 98,
    }
}

/// keepalived's cmd_str: every word quoted, the program's path resolved
/// ('/bin/true' shows as '/usr/bin/true' where /bin links to /usr/bin).
pub fn cmd_str(s: &Script) -> String {
    s.argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let word = if i == 0 && a.starts_with('/') {
                std::fs::canonicalize(a).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| a.clone())
            } else {
                a.clone()
            };
            format!("'{word}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One VIP as keepalived prints it in its dumps:
/// `10.97.0.100 dev eth0 scope global set`, `fd00::100 dev eth0 scope global deprecated set`.
pub fn format_vip(a: &IpAddress, default_dev: &str, set: bool) -> String {
    let full = if a.addr.is_ipv4() { 32 } else { 128 };
    let mut s = a.addr.to_string();
    if a.prefix_len != full {
        s += &format!("/{}", a.prefix_len);
    }
    if let Some(b) = a.broadcast {
        s += &format!(" brd {b}");
    }
    s += &format!(" dev {}", a.dev.as_deref().unwrap_or(default_dev));
    let scope = match a.scope.unwrap_or_default() {
        crate::config::model::Scope::Global => "global".to_string(),
        crate::config::model::Scope::Site => "site".to_string(),
        crate::config::model::Scope::Link => "link".to_string(),
        crate::config::model::Scope::Host => "host".to_string(),
        crate::config::model::Scope::Nowhere => "nowhere".to_string(),
        crate::config::model::Scope::Other(n) => n.to_string(),
    };
    s += &format!(" scope {scope}");
    if let Some(p) = &a.peer {
        s += &format!(" peer {}/{}", p.addr, p.prefix_len);
    }
    if let Some(l) = &a.label {
        s += &format!(" label {l}");
    }
    if matches!(a.addr, IpAddr::V6(_)) {
        // keepalived deprecates a /128 VIP (preferred_lft 0) unless told otherwise.
        match a.preferred_lft {
            Some(0) => s += " deprecated",
            Some(n) => s += &format!(" preferred_lft {n}"),
            None if a.prefix_len == 128 => s += " deprecated",
            None => s += " preferred_lft forever",
        }
    }
    for (on, word) in [(a.home, "home"), (a.nodad, "nodad"), (a.noprefixroute, "noprefixroute"), (a.autojoin, "autojoin"), (a.no_track, "no_track")] {
        if on {
            s += " ";
            s += word;
        }
    }
    if let Some(g) = &a.track_group {
        s += &format!(" track_group {g}");
    }
    if set {
        s += " set";
    }
    s
}

/// `SECS.USECS`, and the local time as keepalived's ctime-based dumps show
/// it: `Sun Dec  6 21:06:53.620401 2026`.
pub fn timestamp(micros: u64) -> (String, String) {
    #[allow(deprecated)] // time_t is 64-bit on x86_64 with glibc and musl alike.
    let secs = (micros / 1_000_000) as libc::time_t;
    let usec = micros % 1_000_000;
    // SAFETY: tm is plain data; localtime_r fills it from `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let human = format!(
        "{} {} {:2} {:02}:{:02}:{:02}.{usec:06} {}",
        DAYS[(tm.tm_wday as usize) % 7],
        MONTHS[(tm.tm_mon as usize) % 12],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    );
    (format!("{secs}.{usec:06}"), human)
}

pub fn micros_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Writes `text` to `path` whole; logs the outcome.
pub fn write(path: &str, text: &str) {
    match crate::os::atomic_file::write(Path::new(path), text.as_bytes(), 0o600) {
        Ok(()) => log::info!("dump written to {path}"),
        Err(e) => log::warn!("{path}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vips_print_as_keepalived_prints_them() {
        let v = |s: &str| {
            let (a, p) = s.split_once('/').unwrap();
            IpAddress { addr: a.parse().unwrap(), prefix_len: p.parse().unwrap(), ..Default::default() }
        };
        assert_eq!(format_vip(&v("10.97.0.100/32"), "eth0", true), "10.97.0.100 dev eth0 scope global set");
        assert_eq!(format_vip(&v("10.98.0.100/24"), "eth0", true), "10.98.0.100/24 dev eth0 scope global set");
        assert_eq!(format_vip(&v("fd00::100/128"), "eth0", true), "fd00::100 dev eth0 scope global deprecated set");
        assert_eq!(format_vip(&v("fd00:98::100/64"), "eth0", false), "fd00:98::100/64 dev eth0 scope global preferred_lft forever");
        let mut l = v("10.98.0.101/32");
        l.label = Some("eth0:v".into());
        assert_eq!(format_vip(&l, "eth0", true), "10.98.0.101 dev eth0 scope global label eth0:v set");
    }

    #[test]
    fn a_cleared_counter_counts_from_the_clear() {
        let a = KaStats { advert_sent: 10, become_master: 1, ..Default::default() };
        let b = KaStats { advert_sent: 7, become_master: 1, ..Default::default() };
        assert_eq!(a.minus(&b), KaStats { advert_sent: 3, ..Default::default() });
    }
}
