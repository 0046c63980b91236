//! The kernel-wide IPVS settings the checker child owns, from global_defs:
//!
//! - `lvs_timeouts [tcp N] [tcpfin N] [udp N]`: set at start and on every
//!   reload that changes them. A timeout the config leaves out keeps the
//!   kernel's value from before we first changed anything (so dropping
//!   `tcp` at a reload puts the kernel's own back), and a config without
//!   lvs_timeouts, or a clean stop, restores all three, as keepalived's
//!   checker does (ipvs_set_timeouts(NULL), and ipvs_stop).
//! - `lvs_flush`: the whole table is flushed when the checker starts,
//!   before it programs anything; never at a reload (keepalived:
//!   `!reload && lvs_flush`). A restarted checker child starts again.
//! - `lvs_flush_on_stop`: without an argument the whole table is flushed
//!   at a clean stop instead of removing our services one by one; with
//!   `VS` each service is removed whole, which is what we always do.
//!
//! Pure: `Lvs` (program.rs) does the I/O.

use crate::config::model::{GlobalDefs, LvsTimeouts};
use crate::ipvs::Timeouts;

/// What to do about the kernel's timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutsStep {
    /// Nothing: as wanted already, or never touched and not configured.
    Keep,
    /// Read the kernel's values first (nothing saved yet), then ask again.
    Save,
    Set(Timeouts),
}

/// The timeouts we set, and the kernel's own from before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeoutsMemory {
    pub saved: Option<Timeouts>,
    pub applied: Option<Timeouts>,
}

/// Whether `t` asks for anything (keepalived ignores all zeros).
fn configured(t: Option<&LvsTimeouts>) -> Option<&LvsTimeouts> {
    t.filter(|t| t.tcp.unwrap_or(0) != 0 || t.tcpfin.unwrap_or(0) != 0 || t.udp.unwrap_or(0) != 0)
}

impl TimeoutsMemory {
    /// The next step towards `want` (None: the kernel's own values).
    pub fn step(&self, want: Option<&LvsTimeouts>) -> TimeoutsStep {
        let want = configured(want);
        let Some(saved) = self.saved else {
            return if want.is_some() { TimeoutsStep::Save } else { TimeoutsStep::Keep };
        };
        let target = match want {
            Some(w) => {
                let pick = |v: Option<u32>, old: u32| v.filter(|v| *v != 0).unwrap_or(old);
                Timeouts { tcp: pick(w.tcp, saved.tcp), tcp_fin: pick(w.tcpfin, saved.tcp_fin), udp: pick(w.udp, saved.udp) }
            }
            None if self.applied.is_none() => return TimeoutsStep::Keep,
            None => saved,
        };
        if self.applied == Some(target) || (self.applied.is_none() && target == saved) {
            TimeoutsStep::Keep
        } else {
            TimeoutsStep::Set(target)
        }
    }

    /// Records that `t` is in force; the kernel's own values are not
    /// remembered as ours.
    pub fn set(&mut self, t: Timeouts) {
        self.applied = (Some(t) != self.saved).then_some(t);
    }
}

/// How a clean stop leaves the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopFlush {
    /// Remove our services (lvs_flush_on_stop absent, or `VS`).
    Services,
    /// Flush the whole table (`lvs_flush_on_stop` without an argument).
    Full,
}

pub fn stop_flush(g: &GlobalDefs) -> StopFlush {
    match g.other.iter().rev().find(|o| o.keyword == "lvs_flush_on_stop") {
        Some(o) if o.args.is_empty() => StopFlush::Full,
        _ => StopFlush::Services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: Timeouts = Timeouts { tcp: 900, tcp_fin: 120, udp: 300 };

    fn lt(tcp: Option<u32>, tcpfin: Option<u32>, udp: Option<u32>) -> LvsTimeouts {
        LvsTimeouts { tcp, tcpfin, udp }
    }

    /// Runs steps to the end against a kernel at `kernel`; returns the
    /// values set along the way.
    fn drive(m: &mut TimeoutsMemory, want: Option<&LvsTimeouts>, kernel: &mut Timeouts) -> Vec<Timeouts> {
        let mut sets = Vec::new();
        loop {
            match m.step(want) {
                TimeoutsStep::Keep => return sets,
                TimeoutsStep::Save => m.saved = Some(*kernel),
                TimeoutsStep::Set(t) => {
                    *kernel = t;
                    m.set(t);
                    sets.push(t);
                }
            }
        }
    }

    #[test]
    fn untouched_without_lvs_timeouts() {
        let mut m = TimeoutsMemory::default();
        let mut k = KERNEL;
        assert!(drive(&mut m, None, &mut k).is_empty());
        // All zeros is nothing at all, as keepalived reads it.
        assert!(drive(&mut m, Some(&lt(Some(0), None, Some(0))), &mut k).is_empty());
        assert_eq!(m.saved, None);
    }

    #[test]
    fn set_changed_at_reload_and_restored_when_dropped() {
        let mut m = TimeoutsMemory::default();
        let mut k = KERNEL;
        let a = lt(Some(60), None, Some(30));
        assert_eq!(drive(&mut m, Some(&a), &mut k), vec![Timeouts { tcp: 60, tcp_fin: 120, udp: 30 }]);
        // The same again (a reload that changes something else): nothing.
        assert!(drive(&mut m, Some(&a), &mut k).is_empty());
        // tcp dropped: back to the kernel's own tcp, not left at 60.
        let b = lt(None, Some(10), Some(30));
        assert_eq!(drive(&mut m, Some(&b), &mut k), vec![Timeouts { tcp: 900, tcp_fin: 10, udp: 30 }]);
        // lvs_timeouts gone: all restored, then nothing more.
        assert_eq!(drive(&mut m, None, &mut k), vec![KERNEL]);
        assert_eq!(m.applied, None);
        assert!(drive(&mut m, None, &mut k).is_empty());
        assert_eq!(k, KERNEL);
    }

    #[test]
    fn asking_for_the_kernels_own_values_sets_nothing() {
        let mut m = TimeoutsMemory::default();
        let mut k = KERNEL;
        assert!(drive(&mut m, Some(&lt(Some(900), None, None)), &mut k).is_empty());
        assert_eq!(m.applied, None);
    }

    #[test]
    fn flush_on_stop_full_only_without_an_argument() {
        use crate::config::model::RawOption;
        let mut g = GlobalDefs::default();
        assert_eq!(stop_flush(&g), StopFlush::Services);
        g.other.push(RawOption { keyword: "lvs_flush_on_stop".into(), args: vec!["VS".into()] });
        assert_eq!(stop_flush(&g), StopFlush::Services);
        g.other.push(RawOption { keyword: "lvs_flush_on_stop".into(), args: vec![] });
        assert_eq!(stop_flush(&g), StopFlush::Full);
    }
}
