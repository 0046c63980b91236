//! RFC timer formulas: Skew_Time and Master_Down_Interval, per version.
//!
//! Precision: keepalived keeps its timers in microseconds and computes the
//! skew as an integer number of microseconds, truncated (vrrp.h
//! `VRRP_TIMER_SKEW_CALC`: v2 `(256 - prio) * 1_000_000 / 256`, v3
//! `(256 - prio) * interval_cs * 625 / 16`, where 625/16 = 10_000/256). We do
//! the same, so our deadlines agree with keepalived's to the microsecond and
//! never lose the sub-centisecond part of the skew (holo-vrrp truncated it
//! to whole units, which made it 0 for most priorities).

use super::time::{AdvertInterval, Duration, MICROS_PER_SEC};

/// Adverts a backup may miss before it declares the master down (RFC: 3).
pub const DEFAULT_DOWN_TIMER_ADVERTS: u8 = 3;

/// Skew_Time for `priority`, given the interval the *master* advertises.
///
/// - v2 (RFC 3768 §6.1): `(256 - Priority) / 256` seconds; the interval does
///   not enter.
/// - v3 (RFC 9568 §6.1): `((256 - Priority) * Active_Adver_Interval) / 256`
///   centiseconds (RFC 5798's Master_Adver_Interval).
pub fn skew_time(master_interval: AdvertInterval, priority: u8) -> Duration {
    let weight = 256 - u64::from(priority); // 1..=256, never underflows
    match master_interval {
        AdvertInterval::V2(_) => Duration::from_micros(weight * MICROS_PER_SEC / 256),
        AdvertInterval::V3(cs) => Duration::from_micros(weight * u64::from(cs.get()) * 625 / 16),
    }
}

/// Master_Down_Interval (RFC 9568 §6.1: Active_Down_Interval) =
/// down_adverts * Master_Adver_Interval + Skew_Time; the RFC's down_adverts
/// is 3, keepalived's `down_timer_adverts` may change it.
pub fn master_down_interval(master_interval: AdvertInterval, priority: u8, down_adverts: u8) -> Duration {
    master_interval
        .to_duration()
        .saturating_mul(u64::from(down_adverts))
        .saturating_add(skew_time(master_interval, priority))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::fsm::time::{Centiseconds, Seconds};

    fn v3(cs: u16) -> AdvertInterval {
        AdvertInterval::V3(Centiseconds::from_wire(cs))
    }

    #[test]
    fn v2_skew_is_fraction_of_a_second_whatever_the_interval() {
        for (prio, us) in [(100u8, 609_375u64), (150, 414_062), (254, 7_812), (255, 3_906), (1, 996_093)] {
            assert_eq!(skew_time(AdvertInterval::V2(Seconds(1)), prio).as_micros(), us, "prio {prio}");
            assert_eq!(skew_time(AdvertInterval::V2(Seconds(10)), prio).as_micros(), us, "prio {prio}");
        }
    }

    #[test]
    fn v3_skew_scales_with_master_interval_in_centiseconds() {
        // (256-100)*100/256 cs = 60.9375 cs = 609_375 us
        assert_eq!(skew_time(v3(100), 100).as_micros(), 609_375);
        // (256-150)*100/256 cs = 41.40625 cs -> 414_062 us (keepalived truncates the half us)
        assert_eq!(skew_time(v3(100), 150).as_micros(), 414_062);
        // 50 ms adverts, prio 150: 2.0703125 cs -> 20_703 us
        assert_eq!(skew_time(v3(5), 150).as_micros(), 20_703);
        // 1 cs, prio 254: 2/256 cs = 78.125 us: not truncated to 0
        assert_eq!(skew_time(v3(1), 254).as_micros(), 78);
        // max interval, min priority: no overflow
        assert_eq!(skew_time(v3(4095), 1).as_micros(), 255 * 4095 * 625 / 16);
    }

    #[test]
    fn master_down() {
        assert_eq!(master_down_interval(AdvertInterval::V2(Seconds(1)), 100, 3).as_micros(), 3_609_375);
        assert_eq!(master_down_interval(v3(100), 150, 3).as_micros(), 3_414_062);
        // LAB-NOTES: v3 50 ms, prio 100 -> 150 ms + 30.47 ms
        assert_eq!(master_down_interval(v3(5), 100, 3).as_micros(), 150_000 + 30_468);
        assert_eq!(master_down_interval(v3(0), 100, 3), Duration::ZERO);
    }
}
