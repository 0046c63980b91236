//! Time for the state machine: a caller-supplied monotonic `Instant`, a
//! `Duration` in microseconds, and the two units of the advert interval
//! (`Seconds` for VRRPv2, `Centiseconds` for VRRPv3), which the config model
//! and the wire codec use too. They are distinct types so that a v2 interval
//! can never be read as centiseconds or the reverse.

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

/// Whole seconds in eight bits: the VRRPv2 advert interval, as its wire
/// field carries it (RFC 3768 §5.3.7). The one `Seconds` type of vigil: the
/// state machine and the wire codec both use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Seconds(pub u8);

impl Seconds {
    pub const fn to_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }
    pub const fn as_centiseconds(self) -> u32 {
        self.0 as u32 * 100
    }
}

/// A time in centiseconds: the unit of the VRRPv3 advert interval
/// (RFC 9568 §5.2.7, Max Advertise Interval) and of keepalived's
/// `advert_int` in the config model. The one `Centiseconds` type of vigil:
/// config, state machine and wire codec share it.
///
/// The v3 field holds 12 bits, at most [`Centiseconds::V3_MAX`] (40.95 s);
/// the model may hold more until validation judges it against the version,
/// so the constructors from a v3 field (`new`, `from_wire`, `saturating`)
/// stay within it and [`Centiseconds::to_v3_field`] clamps on the way out.
/// Seconds are never stored here without a conversion (`from_secs_f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Centiseconds(pub u32);

impl Centiseconds {
    /// The largest interval the 12-bit v3 field holds.
    pub const V3_MAX: Centiseconds = Centiseconds(0x0fff);

    /// An interval a v3 advert can carry: `None` above 4095.
    pub const fn new(cs: u16) -> Option<Self> {
        if cs as u32 <= Self::V3_MAX.0 { Some(Centiseconds(cs as u32)) } else { None }
    }
    /// From the 16-bit word of a v3 header: the 4 reserved high bits are
    /// ignored, as the RFC asks of a receiver.
    pub const fn from_wire(word: u16) -> Self {
        Centiseconds((word & 0x0fff) as u32)
    }
    /// Clamp to the v3 field: values above 4095 become 4095.
    pub const fn saturating(cs: u16) -> Centiseconds {
        if cs as u32 <= Self::V3_MAX.0 { Centiseconds(cs as u32) } else { Self::V3_MAX }
    }
    /// What the 12-bit v3 field carries: at most 4095.
    pub const fn to_v3_field(self) -> u16 {
        if self.0 <= Self::V3_MAX.0 { self.0 as u16 } else { Self::V3_MAX.0 as u16 }
    }
    pub fn from_secs_f64(secs: f64) -> Option<Centiseconds> {
        if !secs.is_finite() || !(0.0..=1.0e7).contains(&secs) {
            return None;
        }
        Some(Centiseconds((secs * 100.0).round() as u32))
    }
    pub const fn get(self) -> u32 {
        self.0
    }
    pub const fn to_duration(self) -> Duration {
        Duration::from_micros(self.0 as u64 * MICROS_PER_CENTI)
    }
    pub const fn as_micros(self) -> u64 {
        self.0 as u64 * MICROS_PER_CENTI
    }
    pub const fn as_millis(self) -> u32 {
        self.0.saturating_mul(10)
    }
    /// Whole seconds, rounded down (what a VRRPv2 advert carries).
    pub const fn whole_secs(self) -> u32 {
        self.0 / 100
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
        assert_eq!(Centiseconds::V3_MAX.to_duration().as_micros(), 40_950_000);
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
        assert!(AdvertInterval::V3(Centiseconds::V3_MAX).is_v3());
        assert!(!AdvertInterval::V2(Seconds(1)).is_v3());
        assert!(AdvertInterval::V2(Seconds(0)).is_zero());
        assert!(AdvertInterval::V3(Centiseconds::from_wire(0xf000)).is_zero());
    }

    #[test]
    fn model_intervals_clamp_to_the_v3_field() {
        // The model may hold more than a v3 advert carries; the wire gets at most 4095.
        assert_eq!(Centiseconds(100).to_v3_field(), 100);
        assert_eq!(Centiseconds(25_500).to_v3_field(), 4095);
        assert_eq!(Seconds(2).as_centiseconds(), Centiseconds(200).get());
    }
}
