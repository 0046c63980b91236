//! The netlink framing every rtnetlink message shares: the `nlmsghdr`, the `rtattr` TLVs, and a
//! writer that emits them into a caller's buffer.
//!
//! Reading never panics and never allocates: [`Messages`] and [`Attrs`] check every length
//! field against the bytes actually present and yield [`ParseError`] for anything that does
//! not fit. Writing goes into a fixed `&mut [u8]` and reports [`NoSpace`] instead of growing.
//! Netlink is host-endian, so all integers use `to_ne_bytes`/`from_ne_bytes`.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::*;

/// Why a netlink message or attribute was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a header or a length field requires.
    Truncated,
    /// A length field smaller than its own header.
    BadLength,
    /// An attribute whose payload has the wrong size or content for its type.
    BadAttribute(u16),
    /// An address family this module does not handle.
    BadFamily(u8),
    /// A message lacks an attribute it cannot be understood without.
    MissingAttribute(u16),
    /// A message type that was not expected here.
    UnexpectedType(u16),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "truncated netlink message"),
            Self::BadLength => write!(f, "netlink length field shorter than its header"),
            Self::BadAttribute(t) => write!(f, "malformed attribute type {t}"),
            Self::BadFamily(af) => write!(f, "unsupported address family {af}"),
            Self::MissingAttribute(t) => write!(f, "missing attribute type {t}"),
            Self::UnexpectedType(t) => write!(f, "unexpected message type {t}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The writer ran out of room in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSpace;

impl fmt::Display for NoSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "netlink request does not fit its buffer")
    }
}

impl std::error::Error for NoSpace {}

/// Netlink aligns every header and attribute to 4 bytes.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// One netlink message: its header fields and the payload after the 16-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// Iterates over the messages packed into one datagram. After the first error it yields
/// nothing more: once a length is wrong, nothing after it can be trusted.
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Messages<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        Self {
            rest: datagram,
            failed: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMsg<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = parse_msg(self.rest);
        match r {
            Ok((msg, used)) => {
                self.rest = self.rest.get(used..).unwrap_or(&[]);
                Some(Ok(msg))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses the message at the start of `b`, returning it and the aligned number of bytes used.
fn parse_msg(b: &[u8]) -> Result<(NlMsg<'_>, usize), ParseError> {
    if b.len() < NLMSG_HDRLEN {
        return Err(ParseError::Truncated);
    }
    let len = u32_at(b, 0).ok_or(ParseError::Truncated)? as usize;
    if len < NLMSG_HDRLEN {
        return Err(ParseError::BadLength);
    }
    let payload = b.get(NLMSG_HDRLEN..len).ok_or(ParseError::Truncated)?;
    let msg = NlMsg {
        ty: u16_at(b, 4).ok_or(ParseError::Truncated)?,
        flags: u16_at(b, 6).ok_or(ParseError::Truncated)?,
        seq: u32_at(b, 8).ok_or(ParseError::Truncated)?,
        pid: u32_at(b, 12).ok_or(ParseError::Truncated)?,
        payload,
    };
    // The last message of a datagram may omit its trailing padding.
    Ok((msg, align(len).min(b.len())))
}

/// One attribute: its type with the NESTED/NET_BYTEORDER bits masked off, and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub kind: u16,
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    pub fn u8(&self) -> Result<u8, ParseError> {
        match self.payload {
            [v] => Ok(*v),
            _ => Err(ParseError::BadAttribute(self.kind)),
        }
    }

    pub fn u32(&self) -> Result<u32, ParseError> {
        match self.payload {
            [a, b, c, d] => Ok(u32::from_ne_bytes([*a, *b, *c, *d])),
            _ => Err(ParseError::BadAttribute(self.kind)),
        }
    }

    /// An address of the given family (4 or 16 bytes, network order).
    pub fn ip(&self, family: u8) -> Result<IpAddr, ParseError> {
        match (family, self.payload.len()) {
            (AF_INET, 4) => {
                let mut o = [0u8; 4];
                o.copy_from_slice(self.payload);
                Ok(IpAddr::V4(Ipv4Addr::from(o)))
            }
            (AF_INET6, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(self.payload);
                Ok(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => Err(ParseError::BadAttribute(self.kind)),
        }
    }

    /// A NUL-terminated string (the NUL may be missing) that fits in `N` bytes.
    pub fn str<const N: usize>(&self) -> Result<heapless::String<N>, ParseError> {
        let raw = match self.payload.iter().position(|&c| c == 0) {
            Some(n) => &self.payload[..n],
            None => self.payload,
        };
        let s = core::str::from_utf8(raw).map_err(|_| ParseError::BadAttribute(self.kind))?;
        heapless::String::try_from(s).map_err(|_| ParseError::BadAttribute(self.kind))
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// Iterates over a run of attributes; stops after the first error like [`Messages`].
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Attrs<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self {
            rest: b,
            failed: false,
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = u16_at(self.rest, 0).ok_or(ParseError::Truncated)? as usize;
            let kind = u16_at(self.rest, 2).ok_or(ParseError::Truncated)?;
            if len < NLA_HDRLEN {
                return Err(ParseError::BadLength);
            }
            let payload = self
                .rest
                .get(NLA_HDRLEN..len)
                .ok_or(ParseError::Truncated)?;
            Ok((
                Attr {
                    kind: kind & NLA_TYPE_MASK,
                    payload,
                },
                align(len),
            ))
        })();
        match parsed {
            Ok((attr, used)) => {
                self.rest = self.rest.get(used..).unwrap_or(&[]);
                Some(Ok(attr))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Splits a message payload into its fixed family header (`hdr_len` bytes) and attributes.
pub fn split_header(payload: &[u8], hdr_len: usize) -> Result<(&[u8], Attrs<'_>), ParseError> {
    let hdr = payload.get(..hdr_len).ok_or(ParseError::Truncated)?;
    let rest = payload.get(align(hdr_len)..).unwrap_or(&[]);
    Ok((hdr, Attrs::new(rest)))
}

/// Emits one netlink message into a fixed buffer: header first, then the family header, then
/// attributes; [`MsgWriter::finish`] patches the total length in.
pub struct MsgWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> MsgWriter<'a> {
    pub fn new(buf: &'a mut [u8], ty: u16, flags: u16, seq: u32) -> Result<Self, NoSpace> {
        let mut w = Self { buf, len: 0 };
        // Length 0 is patched by finish(); port id 0 is the kernel's to fill in.
        let mut h = [0u8; NLMSG_HDRLEN];
        h[4..6].copy_from_slice(&ty.to_ne_bytes());
        h[6..8].copy_from_slice(&flags.to_ne_bytes());
        h[8..12].copy_from_slice(&seq.to_ne_bytes());
        w.put(&h)?;
        Ok(w)
    }

    /// Appends raw bytes, then zero padding up to the next 4-byte boundary.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), NoSpace> {
        let end = self.len.checked_add(bytes.len()).ok_or(NoSpace)?;
        let padded = align(end);
        let dst = self.buf.get_mut(self.len..padded).ok_or(NoSpace)?;
        let (data, pad) = dst.split_at_mut(bytes.len());
        data.copy_from_slice(bytes);
        pad.fill(0);
        self.len = padded;
        Ok(())
    }

    pub fn attr(&mut self, kind: u16, payload: &[u8]) -> Result<(), NoSpace> {
        let len = u16::try_from(NLA_HDRLEN + payload.len()).map_err(|_| NoSpace)?;
        self.put_attr_header(len, kind)?;
        // put() pads the payload; the attribute length excludes that padding.
        self.put(payload)
    }

    fn put_attr_header(&mut self, len: u16, kind: u16) -> Result<(), NoSpace> {
        let mut h = [0u8; NLA_HDRLEN];
        h[..2].copy_from_slice(&len.to_ne_bytes());
        h[2..].copy_from_slice(&kind.to_ne_bytes());
        self.put(&h)
    }

    pub fn attr_u32(&mut self, kind: u16, v: u32) -> Result<(), NoSpace> {
        self.attr(kind, &v.to_ne_bytes())
    }

    pub fn attr_ip(&mut self, kind: u16, ip: IpAddr) -> Result<(), NoSpace> {
        match ip {
            IpAddr::V4(a) => self.attr(kind, &a.octets()),
            IpAddr::V6(a) => self.attr(kind, &a.octets()),
        }
    }

    /// A string attribute, NUL-terminated as the kernel's `nla_strscpy` expects.
    pub fn attr_str(&mut self, kind: u16, s: &str) -> Result<(), NoSpace> {
        let len = u16::try_from(NLA_HDRLEN + s.len() + 1).map_err(|_| NoSpace)?;
        self.put_attr_header(len, kind)?;
        let end = self.len.checked_add(s.len() + 1).ok_or(NoSpace)?;
        let dst = self.buf.get_mut(self.len..align(end)).ok_or(NoSpace)?;
        dst.fill(0);
        dst[..s.len()].copy_from_slice(s.as_bytes());
        self.len = align(end);
        Ok(())
    }

    /// Opens a nested attribute; close it with [`MsgWriter::end_nested`] on the returned mark.
    pub fn begin_nested(&mut self, kind: u16) -> Result<usize, NoSpace> {
        let mark = self.len;
        self.put_attr_header(0, kind | NLA_F_NESTED)?;
        Ok(mark)
    }

    pub fn end_nested(&mut self, mark: usize) -> Result<(), NoSpace> {
        let len = self.len.checked_sub(mark).ok_or(NoSpace)?;
        let len = u16::try_from(len).map_err(|_| NoSpace)?;
        let dst = self
            .buf
            .get_mut(mark..mark.saturating_add(2))
            .ok_or(NoSpace)?;
        dst.copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }

    /// Current length: also the start of the next item, usable as a nested-message mark.
    pub fn position(&self) -> usize {
        self.len
    }

    /// Patches the total length into the header and returns the message bytes.
    pub fn finish(self) -> Result<&'a [u8], NoSpace> {
        let len = u32::try_from(self.len).map_err(|_| NoSpace)?;
        let dst = self.buf.get_mut(..4).ok_or(NoSpace)?;
        dst.copy_from_slice(&len.to_ne_bytes());
        let len = self.len;
        Ok(&self.buf[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_pads_and_patches_length() {
        let mut buf = [0xa5u8; 64];
        let mut w = MsgWriter::new(&mut buf, 20, 5, 7).unwrap();
        w.put(&[1, 2, 3]).unwrap();
        w.attr_str(3, "lo").unwrap();
        let out = w.finish().unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            28, 0, 0, 0,  20, 0,  5, 0,  7, 0, 0, 0,  0, 0, 0, 0,
            1, 2, 3, 0,
            7, 0, 3, 0,  b'l', b'o', 0, 0,
        ];
        if cfg!(target_endian = "little") {
            assert_eq!(out, want);
        }
    }

    #[test]
    fn writer_reports_no_space() {
        let mut buf = [0u8; 24];
        let mut w = MsgWriter::new(&mut buf, 20, 5, 7).unwrap();
        assert_eq!(w.attr_u32(1, 1), Ok(()));
        assert_eq!(w.attr_u32(1, 1), Err(NoSpace));
        let mut tiny = [0u8; 8];
        assert!(MsgWriter::new(&mut tiny, 20, 5, 7).is_err());
    }

    #[test]
    fn nested_length_covers_children() {
        let mut buf = [0u8; 64];
        let mut w = MsgWriter::new(&mut buf, 16, 0, 0).unwrap();
        let m = w.begin_nested(18).unwrap();
        w.attr_str(1, "veth").unwrap();
        w.end_nested(m).unwrap();
        let out = w.finish().unwrap();
        let msg = Messages::new(out).next().unwrap().unwrap();
        let outer = Attrs::new(msg.payload).next().unwrap().unwrap();
        assert_eq!(outer.kind, 18);
        let inner = outer.nested().next().unwrap().unwrap();
        assert_eq!(inner.str::<16>().unwrap().as_str(), "veth");
    }

    #[test]
    fn messages_reject_bad_lengths_without_panicking() {
        // length 8 < header
        let mut b = [0u8; 16];
        b[0] = 8;
        let mut it = Messages::new(&b);
        assert_eq!(it.next(), Some(Err(ParseError::BadLength)));
        assert_eq!(it.next(), None);
        // length larger than the datagram
        b[0] = 200;
        assert_eq!(Messages::new(&b).next(), Some(Err(ParseError::Truncated)));
        // a short tail
        assert_eq!(
            Messages::new(&b[..5]).next(),
            Some(Err(ParseError::Truncated))
        );
        // u32::MAX length must not overflow anything
        let b = [0xffu8; 16];
        assert_eq!(Messages::new(&b).next(), Some(Err(ParseError::Truncated)));
    }

    #[test]
    fn attrs_reject_bad_lengths() {
        assert_eq!(
            Attrs::new(&[2, 0, 1, 0]).next(),
            Some(Err(ParseError::BadLength))
        );
        assert_eq!(
            Attrs::new(&[9, 0, 1, 0, 0]).next(),
            Some(Err(ParseError::Truncated))
        );
        assert_eq!(Attrs::new(&[9, 0]).next(), Some(Err(ParseError::Truncated)));
        let a = Attr {
            kind: 4,
            payload: &[1, 2, 3],
        };
        assert_eq!(a.u32(), Err(ParseError::BadAttribute(4)));
        assert_eq!(a.ip(AF_INET), Err(ParseError::BadAttribute(4)));
        let s = Attr {
            kind: 3,
            payload: &[0xff, 0xfe, 0],
        };
        assert_eq!(s.str::<16>(), Err(ParseError::BadAttribute(3)));
        let long = Attr {
            kind: 3,
            payload: &[b'a'; 20],
        };
        assert_eq!(long.str::<16>(), Err(ParseError::BadAttribute(3)));
    }

    /// Every prefix of a valid datagram and every single-byte corruption parses or errors.
    #[test]
    fn fuzz_like_truncation_and_corruption() {
        let mut buf = [0u8; 64];
        let mut w = MsgWriter::new(&mut buf, 20, 0, 1).unwrap();
        w.put(&[2, 24, 0, 0, 2, 0, 0, 0]).unwrap();
        w.attr_u32(2, 0x0102_00c0).unwrap();
        let m = w.begin_nested(18).unwrap();
        w.attr_str(1, "x").unwrap();
        w.end_nested(m).unwrap();
        let n = w.finish().unwrap().len();
        let walk = |b: &[u8]| {
            for m in Messages::new(b).flatten() {
                if let Ok((_, attrs)) = split_header(m.payload, 8) {
                    for a in attrs.flatten() {
                        let _ = a.nested().count();
                    }
                }
            }
        };
        for cut in 0..=n {
            walk(&buf[..cut]);
        }
        for i in 0..n {
            for v in [0u8, 1, 3, 4, 0x7f, 0xff] {
                let mut c = buf;
                c[i] = v;
                walk(&c[..n]);
            }
        }
    }
}
