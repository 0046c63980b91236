//! What `vigil status` shows of a BFD session, as the BFD child reports it.

use super::fsm::Stats;
use super::wire::{Diag, State};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The `bfd_instance` name.
    pub name: String,
    pub neighbor: String,
    /// Our address and source port, as bound.
    pub local: String,
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    /// The diagnostic of the peer's last packet.
    pub remote_diag: Diag,
    pub local_discriminator: u32,
    /// Zero while the peer is not known.
    pub remote_discriminator: u32,
    /// Microseconds; None before the peer's first packet.
    pub detection_time_us: Option<u64>,
    /// Our negotiated transmit interval before jitter, microseconds.
    pub tx_interval_us: Option<u64>,
    /// Milliseconds since the last state change.
    pub since_change_ms: u64,
    pub stats: Stats,
    /// Packets for this session whose TTL / hop limit was too low.
    pub rx_bad_ttl: u64,
    pub tx_errors: u64,
}

/// The sessions as a table, for `vigil status` and the console.
pub fn text(sessions: &[SessionStatus]) -> String {
    let mut s = String::from("BFD sessions\n");
    s.push_str(&format!(
        "  {:<16} {:<24} {:<10} {:<10} {:>10} {:>10} {:>10} {:>8} {:>8}\n",
        "NAME", "NEIGHBOR", "STATE", "REMOTE", "LOCAL DISC", "REMOTE DISC", "DETECT ms", "RX", "TX"
    ));
    for b in sessions {
        s.push_str(&format!(
            "  {:<16} {:<24} {:<10} {:<10} {:>10} {:>10} {:>10} {:>8} {:>8}\n",
            b.name,
            b.neighbor,
            b.state.name(),
            b.remote_state.name(),
            b.local_discriminator,
            b.remote_discriminator,
            b.detection_time_us.map_or("-".into(), |d| format!("{:.1}", d as f64 / 1000.0)),
            b.stats.rx,
            b.stats.tx
        ));
    }
    s
}
