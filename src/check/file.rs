//! FILE_CHECK (keepalived's track_file for real servers): the file holds a
//! number.
//!
//! - weight 0: the number 0 is up, anything else down (`reverse` swaps);
//! - weight w: status = number * w (negated with `reverse`); at or below
//!   `WEIGHT_FAULT` the server is down, otherwise up with its weight moved
//!   by status.
//!
//! keepalived watches the file with inotify; we read it every delay_loop
//! (a few bytes into a fixed buffer), which bounds the reaction time.

use super::net::Failure;
use super::state::Outcome;
use std::io::Read;

/// The status that means fault (keepalived's IPVS_WEIGHT_FAULT is the
/// lowest int: only an overflowing product reaches it).
pub const WEIGHT_FAULT: i64 = i32::MIN as i64;

/// keepalived reads the number with strtol: leading blanks, a sign, digits;
/// anything else (or nothing) reads as 0.
pub fn parse_value(b: &[u8]) -> i64 {
    let mut it = b
        .iter()
        .copied()
        .skip_while(|c| c.is_ascii_whitespace())
        .peekable();
    let neg = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    for c in it.take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg { -n } else { n }
}

pub fn judge(value: i64, weight: i32, reverse: bool, base_weight: i32) -> Outcome {
    if weight == 0 {
        let fault = (value != 0) != reverse;
        return if fault { Outcome::Down } else { Outcome::UP };
    }
    let status = value
        .saturating_mul(i64::from(weight))
        .saturating_mul(if reverse { -1 } else { 1 });
    let status = status.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    if status <= WEIGHT_FAULT {
        return Outcome::Down;
    }
    if status == 0 {
        return Outcome::UP;
    }
    let w = (i64::from(base_weight) + status).clamp(0, i64::from(i32::MAX)) as i32;
    Outcome::Up { weight: Some(w) }
}

pub fn check(path: &str, weight: i32, reverse: bool, base_weight: i32) -> Result<Outcome, Failure> {
    let mut buf = [0u8; 64];
    let mut f = std::fs::File::open(path).map_err(|_| Failure::File)?;
    let n = f.read(&mut buf).map_err(|_| Failure::File)?;
    match judge(parse_value(&buf[..n]), weight, reverse, base_weight) {
        Outcome::Down => Err(Failure::File),
        up => Ok(up),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value(b" 12\n"), 12);
        assert_eq!(parse_value(b"-3"), -3);
        assert_eq!(parse_value(b"abc"), 0);
        assert_eq!(parse_value(b""), 0);
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge(0, 0, false, 1), Outcome::UP);
        assert_eq!(judge(1, 0, false, 1), Outcome::Down);
        assert_eq!(judge(0, 0, true, 1), Outcome::Down);
        assert_eq!(judge(3, 2, false, 10), Outcome::Up { weight: Some(16) });
        assert_eq!(judge(3, 2, true, 10), Outcome::Up { weight: Some(4) });
        assert_eq!(judge(100, -10, false, 10), Outcome::Up { weight: Some(0) });
        assert_eq!(judge(i64::MIN / 2, 254, false, 10), Outcome::Down);
    }
}
