//! Why an advert was refused: one variant per counter the I/O layer keeps.

use core::fmt;

/// A refused advert (receive) or a buffer/repr that cannot be written (send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the headers it claims (IPv4 header, AH, VRRP header).
    Truncated,
    /// The IPv4 header is malformed: version not 4, IHL below 5, or total length not the datagram's.
    BadIpHeader,
    /// The IP protocol is neither VRRP (112) nor AH (51).
    WrongProtocol(u8),
    /// TTL / hop limit not 255 (RFC 5798 §7.1).
    BadTtl(u8),
    /// VRRP version neither 2 nor 3, or not the one this instance speaks.
    BadVersion(u8),
    /// VRRP type not Advertisement (1).
    BadType(u8),
    /// The length does not match the address count: `expected` bytes for the count, `actual` received.
    LengthMismatch { expected: usize, actual: usize },
    /// The VRRP checksum does not verify in any accepted way.
    BadChecksum,
    /// v2 auth type unknown (not 0, 1, 2) or not allowed over this family.
    BadAuthType(u8),
    /// v2 auth type (or AH presence) differs from ours.
    AuthTypeMismatch { expected: u8, received: u8 },
    /// Password or AH ICV does not match, or AH SPI is not the sender's address.
    AuthFailure,
    /// AH header not for VRRP (next header not 112) or of a length keepalived never sends.
    BadAhHeader,
    /// AH sequence number not above the last one seen (replay).
    AhReplay { received: u32, last: u32 },
    /// The send buffer is too small, or the repr cannot be encoded (family mismatch, no AH key).
    Exhausted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "packet too short"),
            Error::BadIpHeader => write!(f, "malformed IPv4 header"),
            Error::WrongProtocol(p) => write!(f, "wrong IP protocol {p}"),
            Error::BadTtl(t) => write!(f, "TTL/hop limit {t}, expected 255"),
            Error::BadVersion(v) => write!(f, "bad VRRP version {v}"),
            Error::BadType(t) => write!(f, "bad VRRP type {t}"),
            Error::LengthMismatch { expected, actual } => {
                write!(
                    f,
                    "length {actual} does not match address count (expected {expected})"
                )
            }
            Error::BadChecksum => write!(f, "bad VRRP checksum"),
            Error::BadAuthType(t) => write!(f, "invalid auth type {t}"),
            Error::AuthTypeMismatch { expected, received } => {
                write!(f, "auth type {received}, expected {expected}")
            }
            Error::AuthFailure => write!(f, "authentication failure"),
            Error::BadAhHeader => write!(f, "AH header not for VRRP"),
            Error::AhReplay { received, last } => {
                write!(f, "AH sequence {received} not above {last}")
            }
            Error::Exhausted => write!(f, "buffer too small or repr not encodable"),
        }
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;
