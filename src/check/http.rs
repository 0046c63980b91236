//! HTTP_GET and SSL_GET (keepalived's check_http.c), and genhash's digest.
//!
//! One run fetches every url in order over a fresh connection each; the
//! first url that fails fails the run. (keepalived spreads the urls over
//! successive delay_loops and retries the failing url itself; the verdicts
//! and the retry count are the same, only the timing differs.) Per url, as
//! keepalived:
//! - the request is the prebuilt `UrlSpec::request` (HTTP/1.0 by default);
//! - the response is read until the server closes, each read bounded by
//!   connect_timeout (a body that stalls longer fails: "slow body");
//! - the headers must end (`\r\n\r\n`) within `HEADER_BUF` bytes;
//! - the status code must be in the url's set (default 200-299);
//! - with `digest`, the MD5 of the body (after the headers, at most
//!   Content-Length bytes when the server sent one) must match.
//!
//! The body is hashed as it streams through a fixed buffer: nothing is kept.

use super::net::{Failure, io_failure, tcp_connect, timeout};
use super::plan::{Target, UrlSpec};
use super::tls::TlsConnector;
use md5::{Digest, Md5};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::time::Duration;

/// Bytes of response headers we accept (keepalived's MAX_BUFFER_LENGTH).
pub const HEADER_BUF: usize = 4096;

/// The parts of a response the checker judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// MD5 of the body, as genhash prints it.
    pub digest: [u8; 16],
    pub body_len: u64,
}

/// The status code of a status line: the number after its first space
/// (0 when there is none).
fn status_code(head: &[u8]) -> u16 {
    let line_end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len());
    let line = &head[..line_end];
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return 0;
    };
    let mut code: u32 = 0;
    for &b in line[sp + 1..]
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit())
        .take(5)
    {
        code = code * 10 + u32::from(b - b'0');
    }
    u16::try_from(code).unwrap_or(0)
}

/// The Content-Length header's value, when present and numeric.
fn content_length(head: &[u8]) -> Option<u64> {
    const NAME: &[u8] = b"content-length:";
    for line in head.split(|&b| b == b'\n') {
        if line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let v = line[NAME.len()..]
                .iter()
                .skip_while(|b| **b == b' ' || **b == b'\t');
            let mut n: u64 = 0;
            let mut any = false;
            for &b in v.take_while(|b| b.is_ascii_digit()) {
                n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                any = true;
            }
            return any.then_some(n);
        }
    }
    None
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Incremental response parser: headers into a fixed buffer, body into MD5.
pub struct ResponseReader {
    head: [u8; HEADER_BUF],
    head_len: usize,
    status: Option<u16>,
    remaining: Option<u64>,
    body_len: u64,
    md5: Md5,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader {
            head: [0; HEADER_BUF],
            head_len: 0,
            status: None,
            remaining: None,
            body_len: 0,
            md5: Md5::new(),
        }
    }
}

/// Hashes body bytes, at most `remaining` of them when the server sent a
/// Content-Length.
fn hash_body(md5: &mut Md5, remaining: &mut Option<u64>, body_len: &mut u64, data: &[u8]) {
    let take = match remaining {
        Some(r) => (*r).min(data.len() as u64) as usize,
        None => data.len(),
    };
    md5.update(&data[..take]);
    *body_len += take as u64;
    if let Some(r) = remaining.as_mut() {
        *r -= take as u64;
    }
}

impl ResponseReader {
    fn body(&mut self, data: &[u8]) {
        hash_body(&mut self.md5, &mut self.remaining, &mut self.body_len, data);
    }

    pub fn new() -> ResponseReader {
        ResponseReader::default()
    }

    /// Feeds received bytes. Err(NoHeaders) once the header buffer is full
    /// without an end of headers.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Failure> {
        while self.status.is_none() && !data.is_empty() {
            let room = HEADER_BUF - self.head_len;
            if room == 0 {
                return Err(Failure::NoHeaders);
            }
            let n = room.min(data.len());
            // Look for the end from 3 bytes back: it may straddle two reads.
            let from = self.head_len.saturating_sub(3);
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
            self.head_len += n;
            data = &data[n..];
            if let Some(end) = header_end(&self.head[from..self.head_len]).map(|e| e + from) {
                let head = &self.head[..end];
                self.status = Some(status_code(head));
                self.remaining = content_length(head);
                let extra = &self.head[end..self.head_len];
                hash_body(
                    &mut self.md5,
                    &mut self.remaining,
                    &mut self.body_len,
                    extra,
                );
            } else if self.head_len == HEADER_BUF {
                return Err(Failure::NoHeaders);
            }
        }
        if self.status.is_some() && !data.is_empty() {
            self.body(data);
        }
        Ok(())
    }

    /// At end of stream: the response, or NoHeaders when none arrived.
    pub fn finish(self) -> Result<Response, Failure> {
        let status = self.status.ok_or(Failure::NoHeaders)?;
        Ok(Response {
            status,
            digest: self.md5.finalize().into(),
            body_len: self.body_len,
        })
    }
}

/// keepalived genhash's digest of a complete response (headers included):
/// the MD5 of its body. None when the headers never end.
pub fn genhash(response: &[u8]) -> Option<[u8; 16]> {
    let mut r = ResponseReader::new();
    r.feed(response).ok()?;
    r.finish().ok().map(|resp| resp.digest)
}

/// The digest as genhash prints it: 32 lowercase hex digits.
pub fn hex(digest: &[u8; 16]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(32);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Sends the request and reads the response until the server closes,
/// every I/O bounded by `io_timeout`.
pub async fn fetch<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
    io_timeout: Duration,
) -> Result<Response, Failure> {
    timeout(io_timeout, async {
        stream.write_all(request).await.map_err(|e| io_failure(&e))
    })
    .await?;
    timeout(io_timeout, async {
        stream.flush().await.map_err(|e| io_failure(&e))
    })
    .await?;
    let mut reader = ResponseReader::new();
    let mut buf = [0u8; 2048];
    loop {
        let n = timeout(io_timeout, async {
            stream.read(&mut buf).await.map_err(|e| io_failure(&e))
        })
        .await?;
        if n == 0 {
            return reader.finish();
        }
        reader.feed(&buf[..n])?;
    }
}

/// Judges a response against its url.
pub fn judge(url: &UrlSpec, resp: &Response) -> Result<(), Failure> {
    if !url.status_ok(resp.status) {
        return Err(Failure::Status(resp.status));
    }
    if let Some(want) = url.digest
        && want != resp.digest
    {
        return Err(Failure::Digest);
    }
    Ok(())
}

/// One url over a fresh connection (TLS when `tls` is Some).
pub async fn check_url(
    t: &Target,
    url: &UrlSpec,
    tls: Option<&dyn TlsConnector>,
) -> Result<Response, Failure> {
    let tcp = tcp_connect(t).await?;
    let resp = match tls {
        None => {
            let mut s = tcp;
            fetch(&mut s, &url.request, t.connect_timeout).await?
        }
        Some(c) => {
            let mut s = timeout(
                t.connect_timeout,
                c.connect(tcp, url.sni.as_deref(), t.dst.ip()),
            )
            .await?;
            fetch(&mut s, &url.request, t.connect_timeout).await?
        }
    };
    judge(url, &resp)?;
    Ok(resp)
}

/// A whole HTTP_GET / SSL_GET run.
pub async fn check(
    t: &Target,
    urls: &[UrlSpec],
    tls: Option<&dyn TlsConnector>,
) -> Result<(), Failure> {
    for u in urls {
        if let Err(e) = check_url(t, u, tls).await {
            log::debug!("HTTP check of {} url {}: {e}", t.dst, u.path);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(b: &[u8]) -> String {
        hex(&Md5::digest(b).into())
    }

    #[test]
    fn genhash_is_md5_of_the_body() {
        let d = genhash(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello").map(|d| hex(&d));
        assert_eq!(d.as_deref(), Some("5d41402abc4b2a76b9719d911017c592"));
        // Empty body: MD5 of nothing.
        assert_eq!(
            genhash(b"HTTP/1.0 204 No\r\n\r\n").map(|d| hex(&d)),
            Some(md5_hex(b""))
        );
        assert_eq!(genhash(b"HTTP/1.0 200 OK\r\nno end"), None);
    }

    #[test]
    fn content_length_bounds_the_digest() {
        let d = genhash(b"HTTP/1.1 200 OK\r\nContent-length: 3\r\n\r\nabcdef").map(|d| hex(&d));
        assert_eq!(d, Some(md5_hex(b"abc")));
    }

    #[test]
    fn split_reads_give_the_same_digest() {
        let resp = b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nthe body, in pieces";
        for cut in 1..resp.len() {
            let mut r = ResponseReader::new();
            r.feed(&resp[..cut]).unwrap();
            r.feed(&resp[cut..]).unwrap();
            let got = r.finish().unwrap();
            assert_eq!(
                got.digest,
                Md5::digest(b"the body, in pieces").as_slice(),
                "cut at {cut}"
            );
            assert_eq!(got.status, 200);
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 404 Not Found\r\n"), 404);
        assert_eq!(status_code(b"HTTP/1.1\r\n"), 0);
        assert_eq!(status_code(b"garbage"), 0);
        assert_eq!(status_code(b"HTTP/1.0 99999999 x"), 0);
    }

    #[test]
    fn oversized_headers_are_refused() {
        let mut r = ResponseReader::new();
        let junk = [b'a'; HEADER_BUF + 10];
        assert_eq!(r.feed(&junk), Err(Failure::NoHeaders));
    }
}
