//! The control socket: one request line in, one reply out, then close.
//! Root-only: mode 0600, and a peer whose credentials (SO_PEERCRED) are not
//! root's is refused even if the mode was changed. `vigil status`,
//! `vigil metrics` and `vigil ctl` are its clients.

use super::Event;
use smol::channel::Sender;
use smol::{LocalExecutor, Task};
use std::io::{BufRead as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// Longest request accepted.
const REQUEST_MAX: usize = 256;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Request {
    pub line: String,
    stream: async_io::Async<UnixStream>,
}

pub fn listen(path: &Path, tx: Sender<Event>, ex: &LocalExecutor<'static>) -> std::io::Result<Task<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a dead daemon is stale; a live one is in use.
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "another daemon is listening"));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let listener = async_io::Async::new(listener)?;
    Ok(ex.spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("control accept: {e}");
                    async_io::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let line = smol::future::or(read_line(&stream), async {
                async_io::Timer::after(IO_TIMEOUT).await;
                None
            })
            .await;
            // Root only, whatever the socket file's mode became: the peer's
            // credentials as the kernel recorded them at connect. (The line
            // is read first: closing on unread data would reset the
            // connection before the client reads why.)
            match nix::sys::socket::getsockopt(stream.get_ref(), nix::sys::socket::sockopt::PeerCredentials) {
                Ok(c) if c.uid() == 0 => {}
                Ok(c) => {
                    log::warn!("control socket: refused a request from uid {} (pid {}): root only", c.uid(), c.pid());
                    write_bounded(&stream, b"error: the control socket answers root only\n").await;
                    continue;
                }
                Err(e) => {
                    log::warn!("control socket: peer credentials: {e}; request refused");
                    continue;
                }
            }
            if let Some(line) = line {
                if tx.send(Event::Control(Request { line, stream })).await.is_err() {
                    return;
                }
            }
        }
    }))
}

async fn read_line(stream: &async_io::Async<UnixStream>) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        let n = stream.read_with(|s| std::io::Read::read(&mut &*s, &mut chunk)).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.contains(&b'\n') || buf.len() > REQUEST_MAX {
            break;
        }
    }
    let line = buf.split(|&b| b == b'\n').next()?;
    String::from_utf8(line.to_vec()).ok()
}

pub async fn reply(req: Request, text: String) {
    write_bounded(&req.stream, text.as_bytes()).await;
}

/// Writes `data` whole to a peer, giving up on an error or after
/// IO_TIMEOUT (a client that does not read costs a buffer, never the loop).
/// The control socket's replies and the metrics listener's share it.
pub(super) async fn write_bounded<T>(stream: &async_io::Async<T>, data: &[u8])
where
    for<'a> &'a T: std::io::Write,
{
    let write = async {
        let mut off = 0;
        while off < data.len() {
            match stream.write_with(|s| std::io::Write::write(&mut &*s, &data[off..])).await {
                Ok(0) | Err(_) => return,
                Ok(n) => off += n,
            }
        }
    };
    smol::future::or(write, async {
        async_io::Timer::after(IO_TIMEOUT).await;
    })
    .await;
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// The client side, for `vigil status`.
pub fn query(path: &Path, request: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(request.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    let mut r = std::io::BufReader::new(s);
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            break;
        }
        out.push_str(&l);
    }
    Ok(out)
}
