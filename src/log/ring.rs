//! A fixed-capacity ring of fixed-capacity lines: logging never allocates.

use heapless::{Deque, String};

/// Longest line kept; longer records are truncated with a marker.
pub const LINE_CAP: usize = 200;
/// Lines kept per process.
pub const RING_CAP: usize = 256;

/// One formatted record. `fmt::Write` truncates instead of failing.
#[derive(Default)]
pub struct Line {
    buf: String<LINE_CAP>,
    truncated: bool,
}

impl Line {
    pub const fn new() -> Self {
        Line { buf: String::new(), truncated: false }
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }
    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.truncated {
            return Ok(());
        }
        for c in s.chars() {
            // Keep room for the 3-byte marker.
            if self.buf.len() + c.len_utf8() > LINE_CAP - 3 {
                let _ = self.buf.push_str("...");
                self.truncated = true;
                return Ok(());
            }
            let _ = self.buf.push(c);
        }
        Ok(())
    }
}

pub struct Ring {
    lines: Deque<String<LINE_CAP>, RING_CAP>,
    dropped: u64,
}

impl Ring {
    pub const fn new() -> Self {
        Ring { lines: Deque::new(), dropped: 0 }
    }

    pub fn push(&mut self, line: &Line) {
        if self.lines.is_full() {
            self.lines.pop_front();
            self.dropped += 1;
        }
        let _ = self.lines.push_back(line.buf.clone());
    }

    pub fn for_each(&self, mut f: impl FnMut(&str)) {
        for l in self.lines.iter() {
            f(l);
        }
    }

    /// Records pushed out of the ring so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn long_lines_are_truncated_with_a_marker() {
        let mut l = Line::new();
        for _ in 0..100 {
            write!(l, "0123456789").unwrap();
        }
        assert_eq!(l.as_str().len(), LINE_CAP);
        assert!(l.as_str().ends_with("..."));
    }

    #[test]
    fn ring_keeps_the_newest() {
        let mut r = Ring::new();
        for i in 0..RING_CAP + 10 {
            let mut l = Line::new();
            write!(l, "{i}").unwrap();
            r.push(&l);
        }
        let mut first = None;
        let mut n = 0;
        r.for_each(|s| {
            first.get_or_insert(s.to_string());
            n += 1;
        });
        assert_eq!(n, RING_CAP);
        assert_eq!(first.as_deref(), Some("10"));
        assert_eq!(r.dropped(), 10);
    }
}
