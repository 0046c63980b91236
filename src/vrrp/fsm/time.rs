//! Time for the state machine: a caller-supplied monotonic `Instant`, a
//! `Duration` in microseconds, and the two wire units of the advert interval
//! (`Seconds` for VRRPv2, `Centiseconds` for VRRPv3). They are distinct types
//! so that a v2 interval can never be read as centiseconds or the reverse.

use core::fmt;

/// Microseconds in one second.
pub const MICROS_PER_SEC: u64 = 1_000_000;
/// Microseconds in one centisecond.
pub const MICROS_PER_CENTI: u64 = 10_000;

/// A span of time in microseconds (keepalived's timer resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Duration(u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1_000))
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(MICROS_PER_SEC))
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    pub const fn saturating_add(self, other: Duration) -> Self {
        Duration(self.0.saturating_add(other.0))
    }
    pub const fn saturating_sub(self, other: Duration) -> Self {
        Duration(self.0.saturating_sub(other.0))
    }
    pub const fn saturating_mul(self, n: u64) -> Self {
        Duration(self.0.saturating_mul(n))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / MICROS_PER_SEC, self.0 % MICROS_PER_SEC)
    }
}

/// A point on the caller's monotonic clock, in microseconds since an
/// arbitrary origin. The state machine never reads a clock: every input
/// carries `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1_000))
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// `self + d`, saturating at the end of time rather than wrapping.
    pub const fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
    /// `self - d`, saturating at the origin.
    pub const fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
    /// Time from `earlier` to `self`; zero when `earlier` is later.
    pub const fn since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", Duration(self.0))
    }
}

/// A VRRPv2 advert interval: whole seconds, the 8-bit wire field (RFC 3768 §5.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Seconds(pub u8);

impl Seconds {
    pub const fn to_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }
}

/// A VRRPv3 advert interval: centiseconds in a 12-bit wire field
/// (RFC 9568 §5.2.7, Max Advertise Interval), so at most 4095 cs = 40.95 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Centiseconds(u16);

impl Centiseconds {
    /// Largest value the 12-bit field holds.
    pub const MAX: Centiseconds = Centiseconds(0x0fff);

    /// `None` above 4095: such a value cannot be sent.
    pub const fn new(cs: u16) -> Option<Self> {
        if cs <= Self::MAX.0 { Some(Centiseconds(cs)) } else { None }
    }
    /// From the 16-bit word of a v3 header: the 4 reserved high bits are
    /// ignored, as the RFC asks of a receiver.
    pub const fn from_wire(word: u16) -> Self {
        Centiseconds(word & 0x0fff)
    }
    pub const fn get(self) -> u16 {
        self.0
    }
    pub const fn to_duration(self) -> Duration {
        Duration::from_micros(self.0 as u64 * MICROS_PER_CENTI)
    }
}

/// The advert interval together with the protocol version it belongs to:
/// the version decides the unit and the skew formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[derive(serde::Serialize, serde::Deserialize)]
pub enum AdvertInterval {
    V2(Seconds),
    V3(Centiseconds),
}

impl AdvertInterval {
    pub const fn to_duration(self) -> Duration {
        match self {
            AdvertInterval::V2(s) => s.to_duration(),
            AdvertInterval::V3(cs) => cs.to_duration(),
        }
    }
    pub const fn is_v3(self) -> bool {
        matches!(self, AdvertInterval::V3(_))
    }
    /// Zero is not a usable interval (it would make Master_Down_Interval
    /// collapse to the skew); adverts carrying it are refused.
    pub const fn is_zero(self) -> bool {
        match self {
            AdvertInterval::V2(s) => s.0 == 0,
            AdvertInterval::V3(cs) => cs.0 == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_not_centiseconds() {
        assert_eq!(Seconds(1).to_duration().as_micros(), 1_000_000);
        assert_eq!(Centiseconds::new(1).map(|c| c.to_duration().as_micros()), Some(10_000));
        assert_eq!(Centiseconds::new(100).map(|c| c.to_duration()), Some(Seconds(1).to_duration()));
        assert_eq!(Seconds(255).to_duration().as_micros(), 255_000_000);
    }

    #[test]
    fn centiseconds_range() {
        assert_eq!(Centiseconds::new(4095).map(|c| c.get()), Some(4095));
        assert_eq!(Centiseconds::new(4096), None);
        assert_eq!(Centiseconds::new(u16::MAX), None);
        assert_eq!(Centiseconds::MAX.to_duration().as_micros(), 40_950_000);
        // Reserved bits are masked off.
        assert_eq!(Centiseconds::from_wire(0xf064).get(), 100);
        assert_eq!(Centiseconds::from_wire(0xffff).get(), 4095);
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_micros(5);
        assert_eq!(t.sub(Duration::from_micros(10)), Instant::ZERO);
        assert_eq!(Instant::from_micros(u64::MAX).add(Duration::from_secs(1)).as_micros(), u64::MAX);
        assert_eq!(t.since(Instant::from_micros(9)), Duration::ZERO);
        assert_eq!(Instant::from_millis(3).since(Instant::from_millis(1)), Duration::from_millis(2));
        assert_eq!(Duration::from_secs(u64::MAX).as_micros(), u64::MAX);
    }

    #[test]
    fn display() {
        assert_eq!(Duration::from_micros(3_609_375).to_string(), "3.609375s");
        assert_eq!(Instant::from_micros(10).to_string(), "@0.000010s");
    }

    #[test]
    fn interval_version() {
        assert!(AdvertInterval::V3(Centiseconds::MAX).is_v3());
        assert!(!AdvertInterval::V2(Seconds(1)).is_v3());
        assert!(AdvertInterval::V2(Seconds(0)).is_zero());
        assert!(AdvertInterval::V3(Centiseconds::from_wire(0xf000)).is_zero());
    }
}
