//! /tmp/keepalived_bfd.data, the BFD process's answer to SIGUSR1, in
//! keepalived 2.2.7's layout (bfd_data.c dump_bfd_data / dump_bfd; checked
//! against a capture of keepalived 2.2.7's file,
//! tests/data/dump/keepalived_bfd.data): the global definitions as the
//! parent prints them, then the BFD data and one block per session.
//!
//! Stand-ins where vigil has no such thing: keepalived's thread pointers
//! print as `0x(nil)` when nothing is scheduled (as keepalived) and
//! `0x(scheduled)` when its timer runs; `sands_*` are `[disabled]` (keepalived
//! keeps a value there only while a reload suspends the session, which vigil
//! never does); `final` is never pending (vigil answers a Poll at once);
//! `last_seen` is the time of the last packet as the VRRP dumps print times.

use super::fsm::DumpView;
use super::wire::{Diag, State};
use crate::config::dump::{Writer, global_definitions};
use crate::config::model::{BfdInstance, Config};
use std::fmt::Write as _;

pub const BFD_DATA: &str = "/tmp/keepalived_bfd.data";

/// One session as the dump shows it.
pub struct SessionData<'a> {
    pub cfg: &'a BfdInstance,
    pub fd_out: i32,
    pub send_error: bool,
    pub state: State,
    pub remote_state: State,
    pub local_discr: u32,
    pub remote_discr: u32,
    pub local_diag: Diag,
    pub remote_diag: Diag,
    /// Our transmit interval now (µs): the negotiated one, or the slow one.
    pub local_tx_us: u64,
    /// Our Detection Time (µs), 0 before the peer's first packet.
    pub local_detect_us: u64,
    pub view: DumpView,
    /// The last packet's time, microseconds since the epoch.
    pub last_seen_us: Option<u64>,
}

fn thread(on: bool) -> &'static str {
    if on { "0x(scheduled)" } else { "0x(nil)" }
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

fn session(s: &mut String, d: &SessionData) {
    let c = d.cfg;
    let v = &d.view;
    let mut w = |line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    w(format!(" BFD Instance = {}", c.name));
    w(format!("   Neighbor IP = {}", c.neighbor_ip));
    if let Some(src) = c.source_ip {
        w(format!("   Source IP = {src}"));
    }
    w(format!("   Required min RX interval = {} us", c.min_rx.0));
    w(format!("   Desired min TX interval = {} us", c.min_tx.0));
    w(format!("   Desired idle TX interval = {} us", c.idle_tx.0));
    w(format!("   Detection multiplier = {}", c.multiplier));
    w(format!("   {} = {}", if c.neighbor_ip.is_ipv4() { "TTL" } else { "hoplimit" }, c.ttl));
    w(format!("   max_hops = {}", c.max_hops));
    w(format!("   passive = {}", c.passive));
    w(format!("   send event to VRRP process = {}", yes_no(c.vrrp)));
    w(format!("   send event to checker process = {}", yes_no(c.checker)));
    w(format!("   fd_out {}", d.fd_out));
    w("   thread_open_fd_out 0x(nil)".into());
    w(format!("   thread_out {}", thread(v.sending)));
    w("   sands_out = [disabled]".into());
    w(format!("   thread_exp {}", thread(v.expiring)));
    w("   sands_exp = [disabled]".into());
    // The reset timer: Down after an expiry, until the Detection Time passed.
    w(format!("   thread_rst {}", thread(d.state == State::Down && d.remote_discr == 0 && v.last_rx.is_some() && !v.expiring && d.local_detect_us > 0)));
    w("   sands_rst = [disabled]".into());
    w(format!("   send error = {}", d.send_error));
    w(format!("   local state = {}", d.state.name()));
    w(format!("   remote state = {}", d.remote_state.name()));
    w(format!("   local discriminator = {:#x}", d.local_discr));
    w(format!("   remote discriminator = {:#x}", d.remote_discr));
    w(format!("   local diag = {}", d.local_diag.name()));
    w(format!("   remote diag = {}", d.remote_diag.name()));
    w(format!("   remote min tx intv = {} us", v.remote_desired_min_tx.0));
    w(format!("   remote min rx intv = {} us", v.remote_min_rx.0));
    w("   local demand = 0".into());
    w(format!("   remote demand = {}", u8::from(v.remote_demand)));
    w(format!("   remote detect multiplier = {}", v.remote_detect_mult));
    w(format!("   {}poll, !final", if v.poll { "" } else { "!" }));
    w(format!("   local tx intv = {} us", d.local_tx_us));
    let remote_tx = if v.remote_detect_mult == 0 { 0 } else { v.remote_tx.as_micros() };
    w(format!("   remote tx intv = {remote_tx} us"));
    w(format!("   local detection time = {} us", d.local_detect_us));
    let remote_detect = if v.remote_detect_mult == 0 { 0 } else { v.remote_detection_time.as_micros() };
    w(format!("   remote detection time = {remote_detect} us"));
    match d.last_seen_us {
        Some(us) => w(format!("   last_seen = {}", crate::vrrp::dump::timestamp(us).1)),
        None => w("   last_seen = [never]".into()),
    }
}

/// The whole file. `fd_in`: the receive socket (-1 when none is open).
pub fn render(c: &Config, fd_in: i32, sessions: &[SessionData]) -> String {
    let mut s = global_definitions(c, Writer::Parent);
    s.push_str("------< BFD Data >------\n");
    let _ = writeln!(s, " fd_in = {fd_in}");
    let _ = writeln!(s, " thread_in = {}", thread(fd_in >= 0));
    if !sessions.is_empty() {
        s.push_str("------< BFD Topology >------\n");
        for d in sessions {
            session(&mut s, d);
        }
    }
    s
}

pub fn write(text: &str) {
    match crate::os::atomic_file::write(std::path::Path::new(BFD_DATA), text.as_bytes(), 0o600) {
        Ok(()) => log::info!("bfd data written to {BFD_DATA}"),
        Err(e) => log::warn!("{BFD_DATA}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::wire::Micros;
    use crate::vrrp::fsm::Duration;

    /// keepalived 2.2.7's file for one session that never heard its peer
    /// (`bfd_instance B1 { neighbor_ip 127.0.0.2; source_ip 127.0.0.1 }`, router_id vm),
    /// line for line but for the thread pointers.
    #[test]
    fn a_silent_session_as_keepalived_2_2_7_wrote_it() {
        let dir = std::env::temp_dir().join(format!("vigil-bfddump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k.conf");
        std::fs::write(&p, "global_defs {\n router_id vm\n}\nbfd_instance B1 {\n neighbor_ip 127.0.0.2\n source_ip 127.0.0.1\n}\n").unwrap();
        let c = crate::config::load(&p, &Default::default()).config;
        let _ = std::fs::remove_dir_all(&dir);
        let view = DumpView {
            remote_min_rx: Micros(1),
            remote_desired_min_tx: Micros::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            poll: false,
            remote_tx: Duration::from_micros(10_000),
            remote_detection_time: Duration::from_micros(5_000_000),
            last_rx: None,
            sending: true,
            expiring: false,
        };
        let d = SessionData {
            cfg: &c.bfd_instances[0],
            fd_out: 11,
            send_error: false,
            state: State::Down,
            remote_state: State::Down,
            local_discr: 0xf701cd18,
            remote_discr: 0,
            local_diag: Diag::NoDiagnostic,
            remote_diag: Diag::NoDiagnostic,
            local_tx_us: 1_000_000,
            local_detect_us: 0,
            view: DumpView { remote_min_rx: Micros(0), ..view },
            last_seen_us: None,
        };
        let got = render(&c, 8, &[d]);
        let want = include_str!("../../tests/data/dump/keepalived_bfd.data");
        let pointer = |l: &str| l.contains("thread_in =") || l.contains("thread_out 0x");
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().filter(|l| !pointer(l)).collect(), want.lines().filter(|l| !pointer(l)).collect());
        assert_eq!(g, w, "\n{got}");
        assert!(got.contains("   thread_out 0x(scheduled)\n") && got.contains(" thread_in = 0x(scheduled)\n"), "{got}");
    }
}
