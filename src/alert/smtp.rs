//! The SMTP client (RFC 5321) that carries an alert to the relay: greeting,
//! EHLO (HELO when the server does not know EHLO), MAIL FROM, one RCPT TO
//! per recipient, DATA with dot-stuffing, QUIT.
//!
//! It runs as a task on the child's scheduler: the socket is non-blocking
//! (async-io), and every step (connect, each reply, each write) is bounded
//! by `smtp_connect_timeout`, as keepalived bounds each of its SMTP
//! threads. A server that refuses, stalls or answers nonsense costs the
//! scheduler nothing but a timer and one socket.
//!
//! keepalived 2.2.7 sends only HELO; we try EHLO first (RFC 5321 4.1.1.1)
//! and fall back to HELO on a 5xx answer, which every server keepalived
//! talks to accepts.

use async_io::{Async, Timer};
use smol::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Room for one reply line; longer lines (RFC 5321 allows 512 octets) are
/// refused as malformed, as keepalived refuses an overflowing reply.
pub const REPLY_BUF: usize = 1024;

/// Where and how an alert is delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    pub server: SocketAddr,
    /// EHLO/HELO argument.
    pub helo: String,
    /// Bound on each step (keepalived's smtp_connect_timeout).
    pub step_timeout: Duration,
}

/// The SMTP exchange's steps, named as keepalived names them in its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Connect,
    Greeting,
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Body,
    Quit,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Greeting => "(E)SMTP greeting",
            Step::Ehlo => "EHLO",
            Step::Helo => "HELO",
            Step::Mail => "MAIL",
            Step::Rcpt => "RCPT",
            Step::Data => "DATA",
            Step::Body => "BODY",
            Step::Quit => "QUIT",
        }
    }
}

/// Why an alert was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpError {
    /// connect() failed (errno).
    Connect(i32),
    /// A step took longer than smtp_connect_timeout.
    Timeout(Step),
    /// The server closed the connection.
    Closed(Step),
    /// A read or write failed (errno).
    Io(Step, i32),
    /// The server answered with an unexpected code.
    Code(Step, u16),
    /// A reply line that is not `DDD[ -]text`, or longer than `REPLY_BUF`.
    Malformed(Step),
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = |e: &i32| std::io::Error::from_raw_os_error(*e);
        match self {
            SmtpError::Connect(e) => write!(f, "connection error: {}", os(e)),
            SmtpError::Timeout(Step::Connect) => write!(f, "timeout connecting"),
            SmtpError::Timeout(s) => write!(f, "timeout waiting for the {} reply", s.name()),
            SmtpError::Closed(s) => write!(f, "connection closed by the server at {}", s.name()),
            SmtpError::Io(s, e) => write!(f, "I/O error at {}: {}", s.name(), os(e)),
            SmtpError::Code(s, c) => write!(f, "error processing {} cmd, SMTP status code = {c}", s.name()),
            SmtpError::Malformed(s) => write!(f, "malformed {} reply", s.name()),
        }
    }
}

impl std::error::Error for SmtpError {}

/// Collects a reply's lines as they arrive and yields its code once the
/// last line (`DDD text` or `DDD`, after any `DDD-text` lines) is in.
pub struct ReplyReader {
    buf: [u8; REPLY_BUF],
    len: usize,
}

impl Default for ReplyReader {
    fn default() -> Self {
        ReplyReader { buf: [0; REPLY_BUF], len: 0 }
    }
}

impl ReplyReader {
    /// Room for what the socket gives next.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// `n` bytes were written into `spare()`.
    pub fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(REPLY_BUF);
    }

    /// The code of the reply complete in the buffer (its lines consumed),
    /// None while more is needed, Err for a malformed line or one that
    /// cannot fit. Lines end with CRLF; a bare LF is taken too.
    pub fn take(&mut self) -> Option<Result<u16, ()>> {
        loop {
            let Some(eol) = self.buf[..self.len].iter().position(|&b| b == b'\n') else {
                return (self.len == REPLY_BUF).then_some(Err(()));
            };
            let line = &self.buf[..eol];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = parse_line(line);
            self.buf.copy_within(eol + 1..self.len, 0);
            self.len -= eol + 1;
            match parsed {
                Err(()) => return Some(Err(())),
                Ok((_, true)) => continue,
                Ok((code, false)) => return Some(Ok(code)),
            }
        }
    }
}

/// `DDD-text` (more follows) or `DDD text` / `DDD` (last line).
fn parse_line(line: &[u8]) -> Result<(u16, bool), ()> {
    let digits = line.get(..3).ok_or(())?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return Err(());
    }
    let code = digits.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None | Some(b' ') => Ok((code, false)),
        Some(b'-') => Ok((code, true)),
        Some(_) => Err(()),
    }
}

/// The message as it goes on the wire after DATA: every line ended with
/// CRLF (bare LF and CR are made CRLF), a line starting with '.' gets one
/// more (RFC 5321 4.5.2), then the terminating `.` line.
pub fn dot_stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let normalized = message.replace("\r\n", "\n").replace('\r', "\n");
    let body = normalized.strip_suffix('\n').unwrap_or(&normalized);
    if !body.is_empty() {
        for line in body.split('\n') {
            if line.starts_with('.') {
                out.push(b'.');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The address inside `Name <addr>`, else the whole string (keepalived
/// takes what follows the last '<' when the address ends with '>').
pub fn envelope_addr(s: &str) -> &str {
    match (s.strip_suffix('>'), s.rfind('<')) {
        (Some(inner), Some(i)) if i < inner.len() => &inner[i + 1..],
        _ => s,
    }
}

async fn within<T>(d: Duration, step: Step, f: impl std::future::Future<Output = Result<T, SmtpError>>) -> Result<T, SmtpError> {
    future::or(f, async {
        Timer::after(d).await;
        Err(SmtpError::Timeout(step))
    })
    .await
}

struct Session {
    stream: Async<TcpStream>,
    reader: ReplyReader,
    step_timeout: Duration,
}

impl Session {
    async fn reply(&mut self, step: Step) -> Result<u16, SmtpError> {
        let t = self.step_timeout;
        within(t, step, async {
            loop {
                match self.reader.take() {
                    Some(Ok(code)) => return Ok(code),
                    Some(Err(())) => return Err(SmtpError::Malformed(step)),
                    None => {}
                }
                let n = self
                    .stream
                    .read(self.reader.spare())
                    .await
                    .map_err(|e| SmtpError::Io(step, e.raw_os_error().unwrap_or(0)))?;
                if n == 0 {
                    return Err(SmtpError::Closed(step));
                }
                self.reader.filled(n);
            }
        })
        .await
    }

    async fn write(&mut self, step: Step, bytes: &[u8]) -> Result<(), SmtpError> {
        let t = self.step_timeout;
        within(t, step, async {
            self.stream.write_all(bytes).await.map_err(|e| SmtpError::Io(step, e.raw_os_error().unwrap_or(0)))
        })
        .await
    }

    /// Sends a command and checks its reply code against `ok`.
    async fn command(&mut self, step: Step, line: &str, ok: &[u16]) -> Result<u16, SmtpError> {
        self.write(step, line.as_bytes()).await?;
        let code = self.reply(step).await?;
        if ok.contains(&code) { Ok(code) } else { Err(SmtpError::Code(step, code)) }
    }

    async fn exchange(&mut self, relay: &Relay, from: &str, rcpts: &[String], data: &[u8]) -> Result<(), SmtpError> {
        let code = self.reply(Step::Greeting).await?;
        if code != 220 {
            return Err(SmtpError::Code(Step::Greeting, code));
        }
        let ehlo = format!("EHLO {}\r\n", relay.helo);
        self.write(Step::Ehlo, ehlo.as_bytes()).await?;
        match self.reply(Step::Ehlo).await? {
            250 => {}
            500..=599 => {
                self.command(Step::Helo, &format!("HELO {}\r\n", relay.helo), &[250]).await?;
            }
            c => return Err(SmtpError::Code(Step::Ehlo, c)),
        }
        self.command(Step::Mail, &format!("MAIL FROM:<{}>\r\n", envelope_addr(from)), &[250]).await?;
        for r in rcpts {
            self.command(Step::Rcpt, &format!("RCPT TO:<{}>\r\n", envelope_addr(r)), &[250, 251]).await?;
        }
        self.command(Step::Data, "DATA\r\n", &[354]).await?;
        self.write(Step::Body, data).await?;
        let code = self.reply(Step::Body).await?;
        if code != 250 {
            return Err(SmtpError::Code(Step::Body, code));
        }
        Ok(())
    }
}

/// Delivers one message (`data` already dot-stuffed, see `dot_stuff`).
/// Once the server accepted the message a failed QUIT is no error.
pub async fn deliver(relay: &Relay, from: &str, rcpts: &[String], data: &[u8]) -> Result<(), SmtpError> {
    let stream = within(relay.step_timeout, Step::Connect, async {
        Async::<TcpStream>::connect(relay.server).await.map_err(|e| SmtpError::Connect(e.raw_os_error().unwrap_or(0)))
    })
    .await?;
    let mut s = Session { stream, reader: ReplyReader::default(), step_timeout: relay.step_timeout };
    let result = s.exchange(relay, from, rcpts, data).await;
    // QUIT either way (keepalived does too), bounded like every step.
    let quit = s.command(Step::Quit, "QUIT\r\n", &[221]).await;
    if let (Ok(()), Err(e)) = (&result, quit) {
        log::debug!("SMTP server {}: {e} (the alert was accepted)", relay.server);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut ReplyReader, s: &[u8]) {
        r.spare()[..s.len()].copy_from_slice(s);
        r.filled(s.len());
    }

    #[test]
    fn a_multi_line_reply_yields_its_last_code_once_complete() {
        let mut r = ReplyReader::default();
        feed(&mut r, b"250-mx.example.org hello\r\n250-PIPELINING\r\n250-SIZE 10");
        assert_eq!(r.take(), None);
        feed(&mut r, b"240000\r\n250 HELP\r\n");
        assert_eq!(r.take(), Some(Ok(250)));
        assert_eq!(r.take(), None);
        // Two replies in one read, the second split across reads, bare LF.
        feed(&mut r, b"220 ready\n354 go");
        assert_eq!(r.take(), Some(Ok(220)));
        assert_eq!(r.take(), None);
        feed(&mut r, b" ahead\r\n");
        assert_eq!(r.take(), Some(Ok(354)));
        // A code alone is a complete last line.
        feed(&mut r, b"221\r\n");
        assert_eq!(r.take(), Some(Ok(221)));
    }

    #[test]
    fn malformed_and_overlong_replies_are_refused() {
        for bad in [&b"hello\r\n"[..], b"25\r\n", b"250x\r\n", b"999 what\r\n", b"\r\n"] {
            let mut r = ReplyReader::default();
            feed(&mut r, bad);
            assert_eq!(r.take(), Some(Err(())), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut r = ReplyReader::default();
        let long = vec![b'a'; REPLY_BUF];
        feed(&mut r, &long);
        assert_eq!(r.take(), Some(Err(())));
        // Many continuation lines in all are fine: each is consumed.
        let mut r = ReplyReader::default();
        for _ in 0..100 {
            feed(&mut r, b"250-a capability line of some length\r\n");
            assert_eq!(r.take(), None);
        }
        feed(&mut r, b"250 end\r\n");
        assert_eq!(r.take(), Some(Ok(250)));
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(dot_stuff("a\r\n.b\r\n..c\r\nd.\r\n"), b"a\r\n..b\r\n...c\r\nd.\r\n.\r\n");
        // A lone dot line, bare LF and CR, no final line end.
        assert_eq!(dot_stuff(".\nx\ry"), b"..\r\nx\r\ny\r\n.\r\n");
        assert_eq!(dot_stuff(""), b".\r\n");
        // An empty last line is kept (keepalived ends its body with one).
        assert_eq!(dot_stuff("body\r\n\r\n"), b"body\r\n\r\n.\r\n");
    }

    #[test]
    fn envelope_addresses_as_keepalived_reads_them() {
        assert_eq!(envelope_addr("ops@example.org"), "ops@example.org");
        assert_eq!(envelope_addr("Ops Team <ops@example.org>"), "ops@example.org");
        assert_eq!(envelope_addr("<a@b>"), "a@b");
        assert_eq!(envelope_addr("odd>"), "odd>");
    }

    #[test]
    fn errors_read_as_keepalived_logs_them() {
        assert_eq!(SmtpError::Code(Step::Mail, 550).to_string(), "error processing MAIL cmd, SMTP status code = 550");
        assert_eq!(SmtpError::Timeout(Step::Greeting).to_string(), "timeout waiting for the (E)SMTP greeting reply");
    }
}
