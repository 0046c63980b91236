//! `--metrics-listen ADDR:PORT`: the parent answers `GET /metrics` with the
//! Prometheus text, and anything else with 404. HTTP/1.0-style: one request
//! per connection, then close. Bounded everywhere: 4 KiB of request head,
//! 2 s to send it, 16 connections at a time (more are closed at once), so
//! a slow or hostile client costs a few buffers and never blocks the
//! parent's loop.

use super::Event;
use smol::channel::Sender;
use smol::{LocalExecutor, Task};
use std::cell::Cell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// Longest request head read: a scraper's GET is a few hundred bytes.
const HEAD_MAX: usize = 4096;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Metrics connections served at once; more are closed unanswered (counted:
/// `os::capacity`). A scraper or two and a person with curl fit.
pub(crate) const CONNECTIONS_MAX: usize = 16;

/// A request read whole, waiting for its answer.
pub struct Request {
    pub path: String,
    stream: async_io::Async<TcpStream>,
    _slot: Slot,
}

/// A connection in flight; dropping it frees its place.
struct Slot(Rc<Cell<usize>>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

pub fn listen(addr: SocketAddr, tx: Sender<Event>, ex: &Rc<LocalExecutor<'static>>) -> std::io::Result<Task<()>> {
    let listener = async_io::Async::<TcpListener>::bind(addr)?;
    let in_flight = Rc::new(Cell::new(0usize));
    let spawner = ex.clone();
    Ok(ex.spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("metrics listener: {e}");
                    async_io::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if in_flight.get() >= CONNECTIONS_MAX {
                crate::os::capacity::hit(crate::os::capacity::Cap::MetricsConnections, format_args!("a metrics connection closed unanswered"));
                continue;
            }
            in_flight.set(in_flight.get() + 1);
            let slot = Slot(in_flight.clone());
            let tx = tx.clone();
            spawner
                .spawn(async move {
                    let head = smol::future::or(read_head(&stream), async {
                        async_io::Timer::after(IO_TIMEOUT).await;
                        None
                    })
                    .await;
                    let Some(path) = head.as_deref().and_then(request_path) else {
                        reply(Request { path: String::new(), stream, _slot: slot }, 400, "bad request\n".into()).await;
                        return;
                    };
                    let _ = tx.send(Event::Http(Request { path, stream, _slot: slot })).await;
                })
                .detach();
        }
    }))
}

async fn read_head(stream: &async_io::Async<TcpStream>) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read_with(|s| std::io::Read::read(&mut &*s, &mut chunk)).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return String::from_utf8(buf).ok();
        }
        if buf.len() > HEAD_MAX {
            return None;
        }
    }
}

/// The path of a GET (or HEAD) request line, without its query string.
fn request_path(head: &str) -> Option<String> {
    let line = head.lines().next()?;
    let mut w = line.split_whitespace();
    let method = w.next()?;
    let target = w.next()?;
    if method != "GET" && method != "HEAD" {
        return None;
    }
    Some(target.split('?').next().unwrap_or(target).to_string())
}

/// Writes the answer (bounded by IO_TIMEOUT) and closes.
pub async fn reply(req: Request, code: u16, body: String) {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let mut data = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    data.extend_from_slice(body.as_bytes());
    super::control::write_bounded(&req.stream, &data).await;
}

#[cfg(test)]
mod tests {
    use super::request_path;

    #[test]
    fn request_lines() {
        assert_eq!(request_path("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(), Some("/metrics"));
        assert_eq!(request_path("GET /metrics?x=1 HTTP/1.0\r\n\r\n").as_deref(), Some("/metrics"));
        assert_eq!(request_path("POST /metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_path("\r\n"), None);
        assert_eq!(request_path("GET"), None);
    }
}
