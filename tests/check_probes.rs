//! Every checker against tiny servers on 127.0.0.1 started by the test,
//! each success and the failure modes keepalived knows: refused, timeout,
//! wrong status, wrong digest, slow body, wrong greeting, no DNS answer,
//! no UDP reply, script exit codes and timeouts, file values.
//!
//! Every wait is bounded (connect_timeout in the checker, a deadline around
//! each run); nothing asserts wall-clock performance.

#[path = "support/skip.rs"]
mod skip;

use smol::future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use vigil::check::{
    CheckSpec, Failure, NoTls, Outcome, Probe, RetryPolicy, Target, UrlSpec, digest_hex, genhash,
    http_request, run_once,
};
use vigil::config::model::UdpCheck;
use vigil::script::{RunAs, ScriptCommand};

const IO: Duration = Duration::from_millis(400);
const DEADLINE: Duration = Duration::from_secs(20);

fn spec(probe: Probe, dst: SocketAddr) -> CheckSpec {
    CheckSpec {
        probe,
        target: Target::new(dst, IO),
        policy: RetryPolicy {
            retry: 1,
            delay_loop: Duration::from_secs(1),
            delay_before_retry: Duration::from_secs(1),
            alpha: false,
        },
        warmup: Duration::ZERO,
    }
}

fn run(s: &CheckSpec) -> Result<Outcome, Failure> {
    smol::block_on(future::or(run_once(s, &NoTls), async {
        async_io::Timer::after(DEADLINE).await;
        panic!("check did not finish within {DEADLINE:?}");
    }))
}

/// A port nothing listens on (bound then released).
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// A blocking server thread that handles connections with `f` until dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn tcp(f: impl Fn(TcpStream) + Send + 'static) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = thread::spawn(move || {
            for c in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = c {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    f(c);
                }
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(c: &mut TcpStream) -> Vec<u8> {
    let mut req = Vec::new();
    let mut b = [0u8; 512];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
        if req.len() > 8192 {
            break;
        }
    }
    req
}

struct HttpReply {
    status: &'static str,
    body: Vec<u8>,
    /// Pause after the headers (a slow body).
    stall: Duration,
}

fn http_server(reply: HttpReply) -> (Server, Arc<Mutex<Vec<Vec<u8>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let srv = Server::tcp(move |mut c| {
        let req = read_request(&mut c);
        if let Ok(mut s) = s2.lock() {
            s.push(req);
        }
        let head = format!(
            "HTTP/1.0 {}\r\nServer: test\r\nContent-Length: {}\r\n\r\n",
            reply.status,
            reply.body.len()
        );
        let _ = c.write_all(head.as_bytes());
        if !reply.stall.is_zero() {
            thread::sleep(reply.stall);
        }
        let _ = c.write_all(&reply.body);
    });
    (srv, seen)
}

fn url(dst: SocketAddr, digest: Option<[u8; 16]>, status: Vec<(u16, u16)>) -> UrlSpec {
    UrlSpec {
        path: "/health".into(),
        request: http_request("/health", None, None, dst),
        digest,
        status,
        sni: None,
    }
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn digest_of(body: &[u8]) -> [u8; 16] {
    let resp = [b"HTTP/1.0 200 OK\r\n\r\n".as_slice(), body].concat();
    genhash(&resp).unwrap()
}

// ---------------------------------------------------------------- TCP

#[test]
fn check_tcp_connects_and_reports_refused() {
    let srv = Server::tcp(|_| {});
    assert_eq!(run(&spec(Probe::Tcp, srv.addr)), Ok(Outcome::UP));
    assert_eq!(run(&spec(Probe::Tcp, closed_port())), Err(Failure::Refused));
}

#[test]
fn check_tcp_times_out_on_a_full_backlog() {
    // A listener nobody accepts from, backlog 0: once its queue is full the
    // kernel drops further SYNs, so a connect can only time out.
    use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket};
    use std::os::fd::AsRawFd;
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap();
    let l = TcpListener::from(fd);
    let addr = l.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(c);
        }
    }
    assert_eq!(run(&spec(Probe::Tcp, addr)), Err(Failure::Timeout));
}

// ---------------------------------------------------------------- HTTP

#[test]
fn check_http_status_digest_and_request_bytes() {
    let b = body(10_000); // larger than the header buffer: streamed into MD5
    let (srv, seen) = http_server(HttpReply {
        status: "200 OK",
        body: b.clone(),
        stall: Duration::ZERO,
    });
    let d = digest_of(&b);
    let u = url(srv.addr, Some(d), vec![(200, 299)]);
    let want_request = u.request.clone();
    let s = spec(
        Probe::Http {
            urls: vec![u],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Ok(Outcome::UP));
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(got, want_request);
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!(
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:{}\r\n\r\n",
            srv.addr.port()
        )
    );
    assert_eq!(digest_hex(&d).len(), 32);
}

#[test]
fn check_http_wrong_status_and_status_sets() {
    let (srv, _) = http_server(HttpReply {
        status: "503 Busy",
        body: b"x".to_vec(),
        stall: Duration::ZERO,
    });
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, None, vec![(200, 299)])],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::Status(503)));
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, None, vec![(200, 200), (500, 503)])],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Ok(Outcome::UP));
}

#[test]
fn check_http_wrong_digest() {
    let (srv, _) = http_server(HttpReply {
        status: "200 OK",
        body: b"changed".to_vec(),
        stall: Duration::ZERO,
    });
    let s = spec(
        Probe::Http {
            urls: vec![url(
                srv.addr,
                Some(digest_of(b"original")),
                vec![(200, 299)],
            )],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::Digest));
}

#[test]
fn check_http_slow_body_times_out() {
    let (srv, _) = http_server(HttpReply {
        status: "200 OK",
        body: b"late".to_vec(),
        stall: IO * 4,
    });
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, Some(digest_of(b"late")), vec![(200, 299)])],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::Timeout));
}

#[test]
fn check_http_silent_server_and_refused() {
    let srv = Server::tcp(|mut c| {
        let _ = read_request(&mut c);
        thread::sleep(IO * 3);
    });
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, None, vec![(200, 299)])],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::Timeout));
    let dst = closed_port();
    let s = spec(
        Probe::Http {
            urls: vec![url(dst, None, vec![(200, 299)])],
            tls: false,
        },
        dst,
    );
    assert_eq!(run(&s), Err(Failure::Refused));
}

#[test]
fn check_http_garbage_without_headers_fails() {
    let srv = Server::tcp(|mut c| {
        let _ = read_request(&mut c);
        let _ = c.write_all(b"not http at all");
    });
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, None, vec![(200, 299)])],
            tls: false,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::NoHeaders));
}

#[test]
fn check_ssl_without_tls_library_reports_tls_unavailable() {
    let srv = Server::tcp(|_| {});
    let s = spec(
        Probe::Http {
            urls: vec![url(srv.addr, None, vec![(200, 299)])],
            tls: true,
        },
        srv.addr,
    );
    assert_eq!(run(&s), Err(Failure::TlsUnavailable));
}

#[test]
fn check_genhash_matches_what_the_checker_accepts() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(
        genhash(resp).map(|d| digest_hex(&d)).as_deref(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
}

// ---------------------------------------------------------------- SMTP

fn smtp_server(
    greeting: &'static [u8],
    helo_reply: &'static [u8],
) -> (Server, Arc<Mutex<Vec<u8>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let srv = Server::tcp(move |mut c| {
        let _ = c.write_all(greeting);
        let mut line = Vec::new();
        let mut b = [0u8; 256];
        while !line.ends_with(b"\n") {
            match c.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => line.extend_from_slice(&b[..n]),
            }
        }
        if let Ok(mut s) = s2.lock() {
            s.extend_from_slice(&line);
        }
        let _ = c.write_all(helo_reply);
        let _ = c.read(&mut b);
    });
    (srv, seen)
}

fn smtp(dst: SocketAddr) -> CheckSpec {
    spec(
        Probe::Smtp {
            helo: "vigil.test".into(),
            hosts: vec![],
        },
        dst,
    )
}

#[test]
fn check_smtp_greeting_and_helo() {
    let (srv, seen) = smtp_server(b"220-mx ESMTP\r\n220 ready\r\n", b"250 hello\r\n");
    assert_eq!(run(&smtp(srv.addr)), Ok(Outcome::UP));
    assert_eq!(seen.lock().unwrap().as_slice(), b"HELO vigil.test\r\n");
}

#[test]
fn check_smtp_wrong_greeting_refused_helo_and_refused_port() {
    let (srv, _) = smtp_server(b"554 go away\r\n", b"250 hello\r\n");
    assert_eq!(run(&smtp(srv.addr)), Err(Failure::Greeting));
    let (srv, _) = smtp_server(b"220 ready\r\n", b"501 bad helo\r\n");
    assert_eq!(run(&smtp(srv.addr)), Err(Failure::Helo));
    assert_eq!(run(&smtp(closed_port())), Err(Failure::Refused));
}

#[test]
fn check_smtp_silent_server_times_out() {
    let srv = Server::tcp(|_| thread::sleep(IO * 3));
    assert_eq!(run(&smtp(srv.addr)), Err(Failure::Timeout));
}

// ---------------------------------------------------------------- UDP

struct Udp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Udp {
    /// Answers each datagram with `reply(datagram)` (None: stays silent).
    fn new(reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> Udp {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = s.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = thread::spawn(move || {
            let mut b = [0u8; 1500];
            while !st.load(Ordering::SeqCst) {
                if let Ok((n, from)) = s.recv_from(&mut b)
                    && let Some(r) = reply(&b[..n])
                {
                    let _ = s.send_to(&r, from);
                }
            }
        });
        Udp {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Udp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn closed_udp_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    drop(s);
    a
}

#[test]
fn check_udp_reply_rules() {
    let echo = Udp::new(|d| Some([b"OK:".as_slice(), d].concat()));
    let want = |r: &[u8]| UdpCheck {
        payload: Some(b"ping".to_vec()),
        require_reply: Some(r.to_vec()),
        ..UdpCheck::default()
    };
    assert_eq!(
        run(&spec(Probe::Udp(want(b"OK:ping")), echo.addr)),
        Ok(Outcome::UP)
    );
    assert_eq!(
        run(&spec(Probe::Udp(want(b"NO")), echo.addr)),
        Err(Failure::ReplyMismatch)
    );
    let too_long = UdpCheck {
        max_reply_length: Some(3),
        ..want(b"OK")
    };
    assert_eq!(
        run(&spec(Probe::Udp(too_long), echo.addr)),
        Err(Failure::ReplyMismatch)
    );
}

#[test]
fn check_udp_no_reply() {
    let silent = Udp::new(|_| None);
    let with_reply = UdpCheck {
        require_reply: Some(b"x".to_vec()),
        ..UdpCheck::default()
    };
    // require_reply: silence is a failure.
    assert_eq!(
        run(&spec(Probe::Udp(with_reply), silent.addr)),
        Err(Failure::Timeout)
    );
    // Without it silence is success (no ICMP unreachable came back) ...
    assert_eq!(
        run(&spec(Probe::Udp(UdpCheck::default()), silent.addr)),
        Ok(Outcome::UP)
    );
    // ... and a closed port's ICMP port unreachable is failure.
    assert_eq!(
        run(&spec(Probe::Udp(UdpCheck::default()), closed_udp_port())),
        Err(Failure::Unreachable)
    );
}

// ---------------------------------------------------------------- DNS

#[derive(Clone, Copy)]
enum DnsMode {
    Answer,
    NoAnswer,
    WrongId,
}

/// A hand-built reply: the question echoed, one A record 127.0.0.1.
fn dns_reply(q: &[u8], mode: DnsMode) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut r = q.to_vec();
    if let DnsMode::WrongId = mode {
        r[0] ^= 0xff;
    }
    r[2] = 0x81; // QR, RD
    r[3] = 0x80; // RA, rcode 0
    r[6] = 0;
    r[7] = if let DnsMode::NoAnswer = mode { 0 } else { 1 };
    if r[7] == 1 {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some(r)
}

fn dns_spec(dst: SocketAddr) -> CheckSpec {
    spec(
        Probe::Dns {
            qtype: 1,
            name: "www.example.test".into(),
        },
        dst,
    )
}

#[test]
fn check_dns_answer_and_failures() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let ok = Udp::new(move |q| {
        if let Ok(mut s) = s2.lock() {
            s.push(q.to_vec());
        }
        dns_reply(q, DnsMode::Answer)
    });
    assert_eq!(run(&dns_spec(ok.addr)), Ok(Outcome::UP));
    let q = seen.lock().unwrap()[0].clone();
    // RD set, one question, www.example.test type A class IN.
    assert_eq!(&q[2..6], &[1, 0, 0, 1]);
    assert_eq!(&q[12..], b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");

    let none = Udp::new(|q| dns_reply(q, DnsMode::NoAnswer));
    assert_eq!(run(&dns_spec(none.addr)), Err(Failure::DnsNoAnswer));
    let wrong = Udp::new(|q| dns_reply(q, DnsMode::WrongId));
    assert_eq!(run(&dns_spec(wrong.addr)), Err(Failure::DnsId));
    let silent = Udp::new(|_| None);
    assert_eq!(run(&dns_spec(silent.addr)), Err(Failure::Timeout));
    assert_eq!(run(&dns_spec(closed_udp_port())), Err(Failure::Unreachable));
}

// ---------------------------------------------------------------- PING

#[test]
fn check_ping_loopback() {
    let s = spec(Probe::Ping, "127.0.0.1:0".parse().unwrap());
    assert_eq!(run(&s), Ok(Outcome::UP));
}

#[test]
fn check_ping_unanswered_times_out() {
    // Sent out of lo to an address nobody here owns: dropped, never answered.
    let mut s = spec(Probe::Ping, "192.0.2.77:0".parse().unwrap());
    s.target.bind_if = Some("lo".into());
    let r = run(&s);
    assert!(
        matches!(
            r,
            Err(Failure::Ping | Failure::Unreachable | Failure::Io(_))
        ),
        "{r:?}"
    );
}

// ---------------------------------------------------------------- MISC

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vigil-check-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn misc(path: String, dynamic: bool, timeout: Duration) -> CheckSpec {
    let cmd = ScriptCommand::new(vec![path], RunAs::current());
    spec(
        Probe::Misc {
            cmd: Some(cmd),
            timeout,
            dynamic,
        },
        "127.0.0.1:0".parse().unwrap(),
    )
}

#[test]
fn check_misc_exit_codes_dynamic_weights_and_timeout() {
    let d = TempDir::new("misc");
    let t = Duration::from_secs(5);
    assert_eq!(
        run(&misc(d.script("ok", "exit 0"), false, t)),
        Ok(Outcome::UP)
    );
    assert_eq!(
        run(&misc(d.script("bad", "exit 1"), false, t)),
        Err(Failure::Script)
    );
    assert_eq!(
        run(&misc(d.script("seven", "exit 7"), false, t)),
        Err(Failure::Script)
    );
    assert_eq!(
        run(&misc(d.script("seven2", "exit 7"), true, t)),
        Ok(Outcome::Up { weight: Some(5) })
    );
    assert_eq!(
        run(&misc(d.script("one", "exit 1"), true, t)),
        Err(Failure::Script)
    );
    let slow = misc(
        d.script("slow", "sleep 30"),
        false,
        Duration::from_millis(300),
    );
    assert_eq!(run(&slow), Err(Failure::Script));
    let missing = spec(
        Probe::Misc {
            cmd: None,
            timeout: t,
            dynamic: false,
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    assert_eq!(run(&missing), Err(Failure::Script));
}

// ---------------------------------------------------------------- FILE

#[test]
fn check_file_values() {
    let d = TempDir::new("file");
    let p = d.0.join("state");
    let f = |weight, reverse| {
        spec(
            Probe::File {
                path: p.to_string_lossy().into_owned(),
                weight,
                reverse,
                base_weight: 10,
            },
            "127.0.0.1:0".parse().unwrap(),
        )
    };
    std::fs::write(&p, "0\n").unwrap();
    assert_eq!(run(&f(0, false)), Ok(Outcome::UP));
    std::fs::write(&p, "1\n").unwrap();
    assert_eq!(run(&f(0, false)), Err(Failure::File));
    assert_eq!(run(&f(0, true)), Ok(Outcome::UP));
    std::fs::write(&p, "3\n").unwrap();
    assert_eq!(run(&f(2, false)), Ok(Outcome::Up { weight: Some(16) }));
    std::fs::remove_file(&p).unwrap();
    assert_eq!(run(&f(0, false)), Err(Failure::File));
}

#[test]
fn check_ping_both_socket_kinds_in_a_private_netns() {
    use vigil::check::ping::{PingSocket, open};
    // A thread of our own in a fresh network namespace (ping_group_range
    // is per namespace), so the host's setting is never touched.
    let r = thread::spawn(|| {
        // SAFETY: plain syscall; affects only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None; // not root: nothing to show
        }
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(
            up.map(|s| s.success()).unwrap_or(false),
            "ip link set lo up"
        );
        let t = Target::new("127.0.0.1:0".parse().unwrap(), IO);
        let ping = spec(Probe::Ping, t.dst);
        // /proc/sys/net shows the namespace of the task that opens it.
        let range = "/proc/sys/net/ipv4/ping_group_range";
        std::fs::write(range, "1 0\n").unwrap();
        let raw = (open(&t).map(|s| s.1), run(&ping));
        std::fs::write(range, "0 4294967294\n").unwrap();
        let dgram = (open(&t).map(|s| s.1), run(&ping));
        Some((raw, dgram))
    })
    .join()
    .unwrap();
    if let Some((raw, dgram)) = r {
        assert_eq!(raw, (Ok(PingSocket::Raw), Ok(Outcome::UP)));
        assert_eq!(dgram, (Ok(PingSocket::Unprivileged), Ok(Outcome::UP)));
    }
}

// ---------------------------------------------------------------- bindings

#[test]
fn check_bindto_and_bind_port_set_the_source() {
    let peer = Arc::new(Mutex::new(None));
    let p2 = peer.clone();
    let srv = Server::tcp(move |c| {
        if let Ok(mut p) = p2.lock() {
            *p = c.peer_addr().ok();
        }
    });
    let mut s = spec(Probe::Tcp, srv.addr);
    let src: SocketAddr = {
        let u = UdpSocket::bind("127.0.0.2:0").unwrap(); // a free port to reuse
        u.local_addr().unwrap()
    };
    s.target.bindto = Some(src.ip());
    s.target.bind_port = Some(src.port());
    assert_eq!(run(&s), Ok(Outcome::UP));
    // The connect completes in the kernel before the server thread accepts:
    // wait (bounded) for it to record the peer.
    for _ in 0..500 {
        if peer.lock().unwrap().is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*peer.lock().unwrap(), Some(src));
    drop(srv);
}

#[test]
fn check_tcp_over_ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        skip::skip_or_fail("no IPv6 loopback here");
        return;
    };
    let addr = l.local_addr().unwrap();
    assert_eq!(run(&spec(Probe::Tcp, addr)), Ok(Outcome::UP));
    drop(l);
    assert_eq!(run(&spec(Probe::Tcp, addr)), Err(Failure::Refused));
}
