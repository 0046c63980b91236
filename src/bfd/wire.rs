//! The BFD Control packet (RFC 5880 §4.1) on the wire: a zero-copy view and a typed repr.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The three intervals are microseconds. keepalived 2.2.7 has no authentication (its
//! `bfd_build_packet` always clears A, and its receive path discards a packet with A set:
//! "auth bit is set, but no authentication is in use"), so this codec has no authentication
//! section either: a packet with A set is refused with [`Error::AuthenticationPresent`], as
//! RFC 5880 §6.8.6 requires of a session without authentication.
//!
//! [`ControlRepr::parse`] makes every check of RFC 5880 §6.8.6 that needs no session state,
//! in its order, plus keepalived's refusal of P and F together (RFC 5880 §6.5 forbids it):
//! each refusal is its own [`Error`] variant, so the I/O layer can count it. Finding the
//! session by Your Discriminator, and the TTL check of RFC 5881 §5, are the caller's.
//! Nothing here allocates or panics on any input.

use core::fmt;

/// UDP destination port of single-hop control packets (RFC 5881 §4).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP destination port of multihop control packets (RFC 5883 §5).
pub const PORT_MULTI_HOP: u16 = 4784;
/// The TTL / hop limit single-hop packets are sent with and must arrive with (RFC 5881 §5).
pub const SINGLE_HOP_TTL: u8 = 255;
/// The only protocol version (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
/// Length of a control packet without authentication: all this codec sends and accepts.
pub const HEADER_LEN: usize = 24;
/// Smallest Length field RFC 5880 §6.8.6 allows when the A bit is set.
pub const MIN_LEN_WITH_AUTH: usize = 26;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VERS_DIAG: usize = 0;
    pub const STA_FLAGS: usize = 1;
    pub const DETECT_MULT: usize = 2;
    pub const LENGTH: usize = 3;
    pub const MY_DISCR: Field = 4..8;
    pub const YOUR_DISCR: Field = 8..12;
    pub const DESIRED_MIN_TX: Field = 12..16;
    pub const REQUIRED_MIN_RX: Field = 16..20;
    pub const REQUIRED_MIN_ECHO_RX: Field = 20..24;
}

mod flag {
    pub const POLL: u8 = 0x20;
    pub const FINAL: u8 = 0x10;
    pub const CPI: u8 = 0x08;
    pub const AUTH: u8 = 0x04;
    pub const DEMAND: u8 = 0x02;
    pub const MULTIPOINT: u8 = 0x01;
}

/// The session state field (2 bits: every value is defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    /// The state of the two low bits of `bits`.
    pub const fn from_bits(bits: u8) -> State {
        match bits & 0x03 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// keepalived's (and the RFC's) name of the state, as in its logs.
    pub const fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The diagnostic field (5 bits; RFC 5880 §4.1 defines 0 to 8, the rest are reserved and
/// decode to `Unknown(n)`: the RFC does not ask to discard them, so neither do we, though
/// keepalived does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Diag {
    NoDiagnostic,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// A reserved value (9 to 31).
    Unknown(u8),
}

impl Diag {
    /// The diagnostic of the five low bits of `bits`.
    pub const fn from_bits(bits: u8) -> Diag {
        match bits & 0x1f {
            0 => Diag::NoDiagnostic,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            n => Diag::Unknown(n),
        }
    }

    /// The field value (an `Unknown` is masked to 5 bits).
    pub const fn bits(self) -> u8 {
        match self {
            Diag::NoDiagnostic => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Unknown(n) => n & 0x1f,
        }
    }

    /// keepalived's text for the diagnostic (its `BFD_DIAG_STR`), as in its logs.
    pub const fn name(self) -> &'static str {
        match self {
            Diag::NoDiagnostic => "No Diagnostic",
            Diag::ControlDetectionTimeExpired => "Control Detection Time Expired",
            Diag::EchoFunctionFailed => "Echo Function Failed",
            Diag::NeighborSignaledSessionDown => "Neighbor Signaled Session Down",
            Diag::ForwardingPlaneReset => "Forwarding Plane Reset",
            Diag::PathDown => "Path Down",
            Diag::ConcatenatedPathDown => "Concatenated Path Down",
            Diag::AdministrativelyDown => "Administratively Down",
            Diag::ReverseConcatenatedPathDown => "Reverse Concatenated Path Down",
            Diag::Unknown(_) => "Unknown",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A BFD interval as its wire fields carry it: microseconds in 32 bits. Not a `Duration`
/// until the state machine makes it one (`to_duration`), so that the unit is never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Micros(pub u32);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn from_millis(ms: u32) -> Micros {
        Micros(ms.saturating_mul(1000))
    }
    pub const fn as_micros(self) -> u32 {
        self.0
    }
    pub const fn to_duration(self) -> crate::vrrp::fsm::Duration {
        crate::vrrp::fsm::Duration::from_micros(self.0 as u64)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} us", self.0)
    }
}

/// Why a received control packet was refused (receive), or could not be written (send).
/// One variant per counter the I/O layer keeps; the order is RFC 5880 §6.8.6's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Error {
    /// Fewer bytes than the 24-byte mandatory section (keepalived: "Packet is too small").
    Truncated { received: usize },
    /// Version field not 1.
    BadVersion(u8),
    /// Length field below the minimum (24, or 26 with A set) or above the bytes received.
    BadLength { field: u8, received: usize },
    /// The A bit is set: authentication is not in use (keepalived has none).
    AuthenticationPresent,
    /// Detect Mult is zero.
    ZeroDetectMult,
    /// The M bit is set (reserved for multipoint; RFC 5880 §6.8.6 discards it).
    Multipoint,
    /// My Discriminator is zero.
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the State field is neither Down nor AdminDown.
    ZeroYourDiscriminator(State),
    /// Both P and F are set (RFC 5880 §6.5 forbids it; keepalived discards it).
    PollAndFinal,
    /// The send buffer is shorter than [`HEADER_LEN`].
    Exhausted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { received } => write!(f, "packet is too small: {received} bytes"),
            Error::BadVersion(v) => write!(f, "packet is of unsupported version: {v}"),
            Error::BadLength { field, received } => {
                write!(f, "packet size mismatch: length field: {field} bytes, buffer size: {received} bytes")
            }
            Error::AuthenticationPresent => write!(f, "auth bit is set, but no authentication is in use"),
            Error::ZeroDetectMult => write!(f, "packet 'detection multiplier' field is zero"),
            Error::Multipoint => write!(f, "packet has 'multipoint' flag"),
            Error::ZeroMyDiscriminator => write!(f, "packet 'my discriminator' field is zero"),
            Error::ZeroYourDiscriminator(s) => {
                write!(f, "packet 'your discriminator' field is zero and 'state' field is {s}, not Down or AdminDown")
            }
            Error::PollAndFinal => write!(f, "packet has both poll and final flags set"),
            Error::Exhausted => write!(f, "send buffer shorter than {HEADER_LEN} bytes"),
        }
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// A read/write view of a control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; the accessors then read a short buffer's missing
    /// bytes as zero (they never panic).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the 24-byte mandatory section is present.
    pub fn check_len(&self) -> Result<()> {
        let received = self.buffer.as_ref().len();
        if received < HEADER_LEN { Err(Error::Truncated { received }) } else { Ok(()) }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Bytes in the buffer (what the socket delivered).
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.as_ref().is_empty()
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    fn word(&self, f: field::Field) -> u32 {
        u32::from_be_bytes([self.byte(f.start), self.byte(f.start + 1), self.byte(f.start + 2), self.byte(f.start + 3)])
    }

    pub fn version(&self) -> u8 {
        self.byte(field::VERS_DIAG) >> 5
    }
    pub fn diag(&self) -> Diag {
        Diag::from_bits(self.byte(field::VERS_DIAG))
    }
    pub fn state(&self) -> State {
        State::from_bits(self.byte(field::STA_FLAGS) >> 6)
    }
    fn flag(&self, f: u8) -> bool {
        self.byte(field::STA_FLAGS) & f != 0
    }
    pub fn poll(&self) -> bool {
        self.flag(flag::POLL)
    }
    pub fn final_(&self) -> bool {
        self.flag(flag::FINAL)
    }
    pub fn control_plane_independent(&self) -> bool {
        self.flag(flag::CPI)
    }
    pub fn authentication(&self) -> bool {
        self.flag(flag::AUTH)
    }
    pub fn demand(&self) -> bool {
        self.flag(flag::DEMAND)
    }
    pub fn multipoint(&self) -> bool {
        self.flag(flag::MULTIPOINT)
    }
    pub fn detect_mult(&self) -> u8 {
        self.byte(field::DETECT_MULT)
    }
    /// The Length field (the packet's own idea of its length).
    pub fn length(&self) -> u8 {
        self.byte(field::LENGTH)
    }
    pub fn my_discriminator(&self) -> u32 {
        self.word(field::MY_DISCR)
    }
    pub fn your_discriminator(&self) -> u32 {
        self.word(field::YOUR_DISCR)
    }
    pub fn desired_min_tx(&self) -> Micros {
        Micros(self.word(field::DESIRED_MIN_TX))
    }
    pub fn required_min_rx(&self) -> Micros {
        Micros(self.word(field::REQUIRED_MIN_RX))
    }
    pub fn required_min_echo_rx(&self) -> Micros {
        Micros(self.word(field::REQUIRED_MIN_ECHO_RX))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }
    fn set_word(&mut self, f: field::Field, v: u32) {
        if let Some(b) = self.buffer.as_mut().get_mut(f) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }
    pub fn set_version_diag(&mut self, version: u8, diag: Diag) {
        self.set_byte(field::VERS_DIAG, (version << 5) | diag.bits());
    }
    /// State and the six flags at once (they share a byte).
    pub fn set_state_flags(&mut self, state: State, poll: bool, final_: bool, cpi: bool, auth: bool, demand: bool, multipoint: bool) {
        let mut b = (state as u8) << 6;
        for (on, f) in [
            (poll, flag::POLL),
            (final_, flag::FINAL),
            (cpi, flag::CPI),
            (auth, flag::AUTH),
            (demand, flag::DEMAND),
            (multipoint, flag::MULTIPOINT),
        ] {
            if on {
                b |= f;
            }
        }
        self.set_byte(field::STA_FLAGS, b);
    }
    pub fn set_detect_mult(&mut self, v: u8) {
        self.set_byte(field::DETECT_MULT, v);
    }
    pub fn set_length(&mut self, v: u8) {
        self.set_byte(field::LENGTH, v);
    }
    pub fn set_my_discriminator(&mut self, v: u32) {
        self.set_word(field::MY_DISCR, v);
    }
    pub fn set_your_discriminator(&mut self, v: u32) {
        self.set_word(field::YOUR_DISCR, v);
    }
    pub fn set_desired_min_tx(&mut self, v: Micros) {
        self.set_word(field::DESIRED_MIN_TX, v.0);
    }
    pub fn set_required_min_rx(&mut self, v: Micros) {
        self.set_word(field::REQUIRED_MIN_RX, v.0);
    }
    pub fn set_required_min_echo_rx(&mut self, v: Micros) {
        self.set_word(field::REQUIRED_MIN_ECHO_RX, v.0);
    }
}

/// A control packet that passed every check: what the state machine reads and writes.
/// The A and M bits are absent: a packet with either is refused, and we never send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ControlRepr {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub control_plane_independent: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx: Micros,
    pub required_min_rx: Micros,
    pub required_min_echo_rx: Micros,
}

impl ControlRepr {
    /// Parse and check a received packet: the whole UDP payload, as the socket delivered it.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ControlRepr> {
        packet.check_len()?;
        let received = packet.len();
        // RFC 5880 §6.8.6, in its order.
        if packet.version() != VERSION {
            return Err(Error::BadVersion(packet.version()));
        }
        let length = packet.length();
        let min = if packet.authentication() { MIN_LEN_WITH_AUTH } else { HEADER_LEN };
        if usize::from(length) < min || usize::from(length) > received {
            return Err(Error::BadLength { field: length, received });
        }
        if packet.authentication() {
            return Err(Error::AuthenticationPresent);
        }
        if packet.detect_mult() == 0 {
            return Err(Error::ZeroDetectMult);
        }
        if packet.multipoint() {
            return Err(Error::Multipoint);
        }
        if packet.my_discriminator() == 0 {
            return Err(Error::ZeroMyDiscriminator);
        }
        let state = packet.state();
        if packet.your_discriminator() == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(Error::ZeroYourDiscriminator(state));
        }
        if packet.poll() && packet.final_() {
            return Err(Error::PollAndFinal);
        }
        Ok(ControlRepr {
            diag: packet.diag(),
            state,
            poll: packet.poll(),
            final_: packet.final_(),
            control_plane_independent: packet.control_plane_independent(),
            demand: packet.demand(),
            detect_mult: packet.detect_mult(),
            my_discriminator: packet.my_discriminator(),
            your_discriminator: packet.your_discriminator(),
            desired_min_tx: packet.desired_min_tx(),
            required_min_rx: packet.required_min_rx(),
            required_min_echo_rx: packet.required_min_echo_rx(),
        })
    }

    /// Parse and check a received UDP payload.
    pub fn parse_bytes(bytes: &[u8]) -> Result<ControlRepr> {
        Self::parse(&Packet::new_unchecked(bytes))
    }

    /// Bytes [`ControlRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the packet into the first [`HEADER_LEN`] bytes of `buf` and return that length.
    /// The fields are written as they are, even ones a receiver would refuse (a zero
    /// discriminator), so that tests can build any packet; the state machine never builds one.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let Some(out) = buf.get_mut(..HEADER_LEN) else { return Err(Error::Exhausted) };
        let mut p = Packet::new_unchecked(out);
        p.set_version_diag(VERSION, self.diag);
        p.set_state_flags(self.state, self.poll, self.final_, self.control_plane_independent, false, self.demand, false);
        p.set_detect_mult(self.detect_mult);
        p.set_length(HEADER_LEN as u8);
        p.set_my_discriminator(self.my_discriminator);
        p.set_your_discriminator(self.your_discriminator);
        p.set_desired_min_tx(self.desired_min_tx);
        p.set_required_min_rx(self.required_min_rx);
        p.set_required_min_echo_rx(self.required_min_echo_rx);
        Ok(HEADER_LEN)
    }
}

/// The TTL check of keepalived's `bfd_check_packet_ttl` (RFC 5881 §5 for single hop, where
/// `sent_ttl` is 255 and `max_hops` 0): a packet that arrives with less than
/// `sent_ttl - max_hops` left crossed more routers than allowed. `max_hops` 255 (the
/// config's -1 or 255) disables the check, as in keepalived.
pub fn ttl_acceptable(received_ttl: u8, sent_ttl: u8, max_hops: u8) -> bool {
    max_hops == u8::MAX || received_ttl >= sent_ttl.saturating_sub(max_hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> ControlRepr {
        ControlRepr {
            diag: Diag::NoDiagnostic,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 0x0a0b_0c0d,
            desired_min_tx: Micros(300_000),
            required_min_rx: Micros(300_000),
            required_min_echo_rx: Micros(50_000),
        }
    }

    #[test]
    fn emit_writes_exactly_the_header_and_parses_back() {
        let mut buf = [0xa5u8; 32];
        let n = repr().emit(&mut buf).unwrap();
        assert_eq!(n, HEADER_LEN);
        assert_eq!(buf[24..], [0xa5; 8], "nothing past the header is written");
        assert_eq!(buf[..4], [0x20, 0xc0, 3, 24]);
        assert_eq!(ControlRepr::parse_bytes(&buf[..n]), Ok(repr()));
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        assert_eq!(repr().emit(&mut [0u8; 23]), Err(Error::Exhausted));
    }

    #[test]
    fn every_unknown_diag_survives_a_round_trip() {
        for d in 0..32u8 {
            assert_eq!(Diag::from_bits(d).bits(), d);
        }
        let mut r = repr();
        r.diag = Diag::Unknown(31);
        let mut buf = [0u8; 24];
        r.emit(&mut buf).unwrap();
        assert_eq!(ControlRepr::parse_bytes(&buf).unwrap().diag, Diag::Unknown(31));
    }

    #[test]
    fn ttl_check_as_keepalived() {
        assert!(ttl_acceptable(255, 255, 0));
        assert!(!ttl_acceptable(254, 255, 0));
        assert!(ttl_acceptable(253, 255, 2));
        assert!(ttl_acceptable(1, 255, 255));
        assert!(!ttl_acceptable(9, 64, 54));
        assert!(ttl_acceptable(10, 64, 54));
    }
}
