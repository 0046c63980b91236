//! Fragment framing: each datagram starts with a one-byte header. `WHOLE`: a
//! complete message, which may arrive between the fragments of a larger one
//! (a hello must not wait behind a whole config); `MORE` and `LAST`: a
//! fragmented message is the concatenation of payloads up to the first
//! `LAST` (senders never interleave two fragmented messages). Reassembly is
//! bounded by `MSG_MAX`.

/// Largest datagram we send or accept: under the socket buffer many times
/// over, so that a large message streams while small ones pass between.
pub const FRAG_MAX: usize = 32 * 1024;
/// Largest reassembled message: the soak's config (255 instances, 10,000
/// real servers) is about 1.2 MB, its status report a few MB. Reached:
/// the message is dropped and counted (`os::capacity`).
pub const MSG_MAX: usize = 64 * 1024 * 1024;

pub(super) const LAST: u8 = 0;
pub(super) const MORE: u8 = 1;
pub(super) const WHOLE: u8 = 2;

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    Empty,
    BadHeader(u8),
    TooLarge(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty datagram"),
            FrameError::BadHeader(h) => write!(f, "bad fragment header {h:#x}"),
            FrameError::TooLarge(n) => write!(f, "message over {MSG_MAX} bytes ({n})"),
        }
    }
}

/// Splits an encoded message into datagrams: one `WHOLE`, or `MORE`... `LAST`.
pub fn fragments(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let chunk = FRAG_MAX - 1;
    let n = bytes.len().div_ceil(chunk).max(1);
    (0..n).map(move |i| {
        let part = &bytes[i * chunk..((i + 1) * chunk).min(bytes.len())];
        let mut d = Vec::with_capacity(part.len() + 1);
        d.push(if n == 1 { WHOLE } else if i + 1 == n { LAST } else { MORE });
        d.extend_from_slice(part);
        d
    })
}

/// What one datagram did to the message being assembled.
pub enum Pushed {
    /// A single-datagram message: its payload is this range of the datagram.
    Whole(std::ops::Range<usize>),
    /// The last fragment arrived: `take()` has the message.
    Assembled,
    More,
}

#[derive(Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    active: bool,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, datagram: &[u8]) -> Result<Pushed, FrameError> {
        let (&h, payload) = datagram.split_first().ok_or(FrameError::Empty)?;
        if h == WHOLE {
            // Complete in itself: a message being assembled goes on.
            return Ok(Pushed::Whole(1..datagram.len()));
        }
        if h != LAST && h != MORE {
            self.reset();
            return Err(FrameError::BadHeader(h));
        }
        if !self.active && h == LAST {
            return Ok(Pushed::Whole(1..datagram.len()));
        }
        if !self.active {
            self.buf.clear();
            self.active = true;
        }
        if self.buf.len() + payload.len() > MSG_MAX {
            let n = self.buf.len() + payload.len();
            self.reset();
            return Err(FrameError::TooLarge(n));
        }
        self.buf.extend_from_slice(payload);
        if h == LAST {
            self.active = false;
            Ok(Pushed::Assembled)
        } else {
            Ok(Pushed::More)
        }
    }

    /// Bytes held for a message still being assembled (never over `MSG_MAX`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The message assembled by the last `push` that returned `Assembled`.
    pub fn take(&mut self) -> &[u8] {
        &self.buf
    }

    /// Frees the last assembled message's bytes: a config of 40,000 real
    /// servers is megabytes that the child would otherwise keep resident
    /// until the next large message (small ones never use this buffer).
    pub fn release(&mut self) {
        if !self.active {
            self.buf = Vec::new();
        }
    }

    fn reset(&mut self) {
        self.buf = Vec::new();
        self.active = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_buffer_is_freed_and_the_next_message_assembles() {
        let mut r = Reassembler::new();
        let bytes: Vec<u8> = (0..(FRAG_MAX * 3)).map(|i| i as u8).collect();
        let frags: Vec<_> = fragments(&bytes).collect();
        for f in &frags {
            let _ = r.push(f).unwrap();
        }
        assert_eq!(r.take(), &bytes[..]);
        r.release();
        assert_eq!(r.buf.capacity(), 0);
        for f in &frags {
            let _ = r.push(f).unwrap();
        }
        assert_eq!(r.take(), &bytes[..]);
    }

    #[test]
    fn single_fragment_needs_no_copy() {
        let mut r = Reassembler::new();
        assert!(matches!(r.push(&[LAST, 1, 2, 3]), Ok(Pushed::Whole(ref x)) if *x == (1..4)));
    }

    #[test]
    fn bad_header_and_empty_are_rejected() {
        let mut r = Reassembler::new();
        assert_eq!(r.push(&[]).err(), Some(FrameError::Empty));
        assert_eq!(r.push(&[7, 1]).err(), Some(FrameError::BadHeader(7)));
        // After an error the next message starts clean.
        assert!(matches!(r.push(&[MORE, 1]), Ok(Pushed::More)));
        assert_eq!(r.push(&[9]).err(), Some(FrameError::BadHeader(9)));
        assert!(matches!(r.push(&[LAST, 5]), Ok(Pushed::Whole(_))));
    }

    #[test]
    fn a_whole_message_between_fragments_leaves_the_assembly_alone() {
        let mut r = Reassembler::new();
        assert!(matches!(r.push(&[MORE, 1, 2]), Ok(Pushed::More)));
        assert!(matches!(r.push(&[WHOLE, 9]), Ok(Pushed::Whole(ref x)) if *x == (1..2)));
        assert!(matches!(r.push(&[LAST, 3]), Ok(Pushed::Assembled)));
        assert_eq!(r.take(), &[1, 2, 3]);
        let one: Vec<_> = fragments(&[7, 7]).collect();
        assert_eq!(one, vec![vec![WHOLE, 7, 7]]);
    }

    #[test]
    fn bounded() {
        let mut r = Reassembler::new();
        let big = vec![MORE; FRAG_MAX];
        let mut err = None;
        for _ in 0..(MSG_MAX / FRAG_MAX + 2) {
            if let Err(e) = r.push(&big) {
                err = Some(e);
                break;
            }
        }
        assert!(matches!(err, Some(FrameError::TooLarge(_))));
    }

    #[test]
    fn fragments_cover_exactly() {
        let bytes: Vec<u8> = (0..(FRAG_MAX * 2 + 5)).map(|i| i as u8).collect();
        let frags: Vec<_> = fragments(&bytes).collect();
        assert_eq!(frags.len(), 3);
        assert!(frags[..2].iter().all(|f| f[0] == MORE && f.len() == FRAG_MAX));
        assert_eq!(frags[2][0], LAST);
        let joined: Vec<u8> = frags.iter().flat_map(|f| f[1..].to_vec()).collect();
        assert_eq!(joined, bytes);
    }
}
