//! SMTP_CHECK (keepalived's check_smtp.c): connect, a `220` greeting,
//! `HELO name` answered by `250`, then `QUIT`. Each step is bounded by
//! connect_timeout. With legacy `host { }` blocks every host is checked in
//! turn and all must pass.
//!
//! Replies are read into a fixed buffer: only the 3-digit code of the last
//! line of a (possibly multi-line) reply matters.

use super::net::{Failure, io_failure, tcp_connect, timeout};
use super::plan::Target;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::time::Duration;

const REPLY_BUF: usize = 512;
/// A command line: `HELO ` + a host name (at most 255) + CRLF fits.
const LINE_BUF: usize = 512;

/// Collects one SMTP reply (all its lines) in a fixed buffer. Pure, so
/// that the reply parsing can be tested and fuzzed without a socket.
pub struct ReplyBuf {
    buf: [u8; REPLY_BUF],
    len: usize,
}

impl Default for ReplyBuf {
    fn default() -> Self {
        ReplyBuf { buf: [0; REPLY_BUF], len: 0 }
    }
}

impl ReplyBuf {
    /// Room for the next read (never empty: a full buffer keeps its tail,
    /// since the final line is what counts).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.len == REPLY_BUF {
            self.buf.copy_within(REPLY_BUF / 2.., 0);
            self.len = REPLY_BUF / 2;
        }
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into `spare()`: the reply's code once its last
    /// line is in (0 when that line has no code), None while more is needed.
    pub fn filled(&mut self, n: usize) -> Option<u16> {
        self.len = (self.len + n).min(REPLY_BUF);
        reply_code(&self.buf[..self.len])
    }
}

/// The code of a complete reply in `data`: None while it does not end with
/// a line or its last line is `DDD-` (more lines follow); 0 when the last
/// line does not start with three digits.
pub fn reply_code(data: &[u8]) -> Option<u16> {
    // A complete reply ends with a line "DDD " (or just "DDD").
    if !data.ends_with(b"\n") {
        return None;
    }
    let body = data
        .strip_suffix(b"\r\n")
        .or_else(|| data.strip_suffix(b"\n"))
        .unwrap_or(data);
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    if last.len() >= 3 && last[..3].iter().all(u8::is_ascii_digit) {
        if last.get(3) == Some(&b'-') {
            return None; // more lines follow
        }
        return Some(last[..3].iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0')));
    }
    Some(0)
}

/// Reads one SMTP reply (all its lines) and returns its code.
async fn reply<S: AsyncRead + Unpin>(s: &mut S, io: Duration) -> Result<u16, Failure> {
    let mut rb = ReplyBuf::default();
    loop {
        let n = timeout(io, async {
            s.read(rb.spare()).await.map_err(|e| io_failure(&e))
        })
        .await?;
        if n == 0 {
            return Err(Failure::Closed);
        }
        if let Some(code) = rb.filled(n) {
            return Ok(code);
        }
    }
}

/// Sends one command line, assembled in a fixed buffer so that it leaves
/// in one write (one segment), as keepalived sends it.
async fn send<S: AsyncWrite + Unpin>(
    s: &mut S,
    io: Duration,
    parts: &[&[u8]],
) -> Result<(), Failure> {
    let mut line = [0u8; LINE_BUF];
    let mut len = 0;
    for p in parts {
        let end = len + p.len();
        if end > LINE_BUF {
            return Err(Failure::Helo);
        }
        line[len..end].copy_from_slice(p);
        len = end;
    }
    timeout(io, async {
        s.write_all(&line[..len])
            .await
            .map_err(|e| io_failure(&e))?;
        s.flush().await.map_err(|e| io_failure(&e))
    })
    .await
}

/// The SMTP dialogue over an established stream.
pub async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    helo: &str,
    io: Duration,
) -> Result<(), Failure> {
    if reply(s, io).await? != 220 {
        return Err(Failure::Greeting);
    }
    send(s, io, &[b"HELO ", helo.as_bytes(), b"\r\n"]).await?;
    if reply(s, io).await? != 250 {
        return Err(Failure::Helo);
    }
    // Be polite; the verdict is already in.
    let _ = send(s, io, &[b"QUIT\r\n"]).await;
    Ok(())
}

pub async fn check_one(t: &Target, helo: &str) -> Result<(), Failure> {
    let mut s = tcp_connect(t).await?;
    dialogue(&mut s, helo, t.connect_timeout).await
}

pub async fn check(t: &Target, helo: &str, hosts: &[Target]) -> Result<(), Failure> {
    if hosts.is_empty() {
        return check_one(t, helo).await;
    }
    for h in hosts {
        check_one(h, helo).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes() {
        assert_eq!(reply_code(b"220 mx ESMTP\r\n"), Some(220));
        assert_eq!(reply_code(b"250-mx\r\n250-SIZE\r\n"), None);
        assert_eq!(reply_code(b"250-mx\r\n250 HELP\r\n"), Some(250));
        assert_eq!(reply_code(b"250\n"), Some(250));
        assert_eq!(reply_code(b"220 no end yet"), None);
        assert_eq!(reply_code(b"hello\r\n"), Some(0));
        assert_eq!(reply_code(b"\n"), Some(0));
    }

    #[test]
    fn a_long_reply_keeps_its_tail() {
        let mut r = ReplyBuf::default();
        let mut got = None;
        let mut lines = Vec::new();
        for _ in 0..40 {
            lines.extend_from_slice(b"220-some long greeting text\r\n");
        }
        lines.extend_from_slice(b"220 last\r\n");
        let mut rest = &lines[..];
        while !rest.is_empty() {
            let room = r.spare();
            let n = room.len().min(100).min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            got = r.filled(n);
        }
        assert_eq!(got, Some(220));
    }
}
