//! `vigil genhash` against a real HTTP server on loopback: the digest it
//! prints is the MD5 of the body, the same as Debian's keepalived genhash
//! prints for the same page, and the checker accepts it as `digest`.

#[path = "support/skip.rs"]
mod skip;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

fn vigil() -> &'static str {
    env!("CARGO_BIN_EXE_vigil")
}

/// Serves `body` to every connection (HTTP/1.0, close) until dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    join: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(body: &'static [u8]) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let join = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                            match c.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let head = format!("HTTP/1.0 200 OK\r\nServer: t\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = c.write_all(head.as_bytes());
                        let _ = c.write_all(body);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, stop, join: Some(join) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    let d = md5::Md5::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

const BODY: &[u8] = b"<html>vigil genhash test page</html>\n";

#[test]
fn genhash_prints_the_md5_of_the_body() {
    let srv = Server::start(BODY);
    let port = srv.port.to_string();
    let out = Command::new(vigil()).args(["genhash", "-s", "127.0.0.1", "-p", &port, "-u", "/index.html"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ours = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(ours, md5_hex(BODY));

    // keepalived's spelling of the command.
    let out = Command::new(vigil()).args(["--genhash", "-s", "127.0.0.1", "-p", &port, "-u", "/"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ours);

    // Debian's genhash, where installed, prints the same digest.
    match Command::new("genhash").args(["-s", "127.0.0.1", "-p", &port, "-u", "/index.html"]).output() {
        Ok(k) => assert_eq!(String::from_utf8_lossy(&k.stdout).trim(), ours, "keepalived's genhash disagrees"),
        Err(_) => skip::skip_or_fail("comparison with keepalived's genhash: it is not installed"),
    }
}

#[test]
fn genhash_fails_clearly() {
    // Nothing listens on this port (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let out = Command::new(vigil()).args(["genhash", "-s", "127.0.0.1", "-p", &port, "-u", "/", "-t", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1"), "{out:?}");
    let out = Command::new(vigil()).args(["genhash", "-u", "/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server address"));
}
