//! keepalived's retry semantics end to end: a config model goes through
//! `plan`, one task per checker runs on a LocalExecutor against an HTTP
//! server on 127.0.0.1 that answers a scripted sequence of status codes,
//! and the events are matched to the request that caused them.
//!
//! - A checker that has succeeded goes down after exactly `retry + 1`
//!   consecutive failures, and comes back up on the first success.
//! - At start the first failure takes it down at once (keepalived sets
//!   retry_it = retry before the first run).
//! - alpha: the real server starts down, the first success brings it up.
//!
//! Delays are tens of milliseconds; every wait is bounded by a deadline;
//! only request counts are asserted, never elapsed time.

use smol::{LocalExecutor, future};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use vigil::check::{CheckEvent, NoTls, RsId, plan, spawn_checkers};
use vigil::config::model::{
    CheckKind, CheckTarget, Checker, Config, HttpCheck, HttpUrl, Microseconds, RealServer,
    VirtualServer,
};

const DEADLINE: Duration = Duration::from_secs(15);

/// An HTTP server answering the scripted status codes in order (200 once
/// they run out), counting requests.
struct Scripted {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn new(codes: &[u16]) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let codes = Arc::new(Mutex::new(codes.iter().copied().collect::<VecDeque<u16>>()));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r2, s2) = (requests.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for c in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut b = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let code = codes
                    .lock()
                    .map(|mut q| q.pop_front().unwrap_or(200))
                    .unwrap_or(200);
                r2.fetch_add(1, Ordering::SeqCst);
                let _ = c.write_all(
                    format!("HTTP/1.0 {code} X\r\nContent-Length: 2\r\n\r\nok").as_bytes(),
                );
            }
        });
        Scripted {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(port: u16, retry: u32, alpha: bool) -> Config {
    let ms = |n: u64| Some(Microseconds(n * 1000));
    let checker = Checker {
        kind: CheckKind::Http(Box::new(HttpCheck {
            urls: vec![HttpUrl {
                path: "/".into(),
                ..HttpUrl::default()
            }],
            ..HttpCheck::default()
        })),
        target: Some(Box::new(CheckTarget {
            connect_timeout: ms(2000),
            ..CheckTarget::default()
        })),
        retry: Some(retry),
        delay_before_retry: ms(10),
        delay_loop: ms(20),
        warmup: ms(0),
        alpha: Some(alpha),
        ..Checker::default()
    };
    let rs = RealServer {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: Some(port),
        checkers: vec![checker],
        ..RealServer::default()
    };
    Config {
        virtual_servers: vec![VirtualServer {
            real_servers: vec![rs],
            ..VirtualServer::default()
        }],
        ..Config::default()
    }
}

/// Runs the checkers until `want` events arrived (or the deadline), then
/// `extra` more requests to show nothing else is reported. Returns each
/// event with the number of requests the server had answered when it came,
/// and the real server's state before the first check.
fn drive(srv: &Scripted, cfg: &Config, want: usize, extra: usize) -> (Vec<(bool, usize)>, bool) {
    let ex = LocalExecutor::new();
    let events: Rc<RefCell<Vec<(bool, usize)>>> = Rc::new(RefCell::new(Vec::new()));
    let (ev2, req2) = (events.clone(), srv.requests.clone());
    let sink = Rc::new(move |e: CheckEvent| {
        assert_eq!(e.real_server, RsId { vs: 0, rs: 0 });
        ev2.borrow_mut().push((e.up, req2.load(Ordering::SeqCst)));
    });
    let plans = plan(cfg);
    let checkers = spawn_checkers(&ex, &plans, Rc::new(NoTls), sink);
    let initially = checkers.states()[0].1;
    let requests = srv.requests.clone();
    let done = async {
        loop {
            let n = events.borrow().len();
            if n >= want {
                let at = requests.load(Ordering::SeqCst);
                while requests.load(Ordering::SeqCst) < at + extra {
                    async_io::Timer::after(Duration::from_millis(5)).await;
                }
                return;
            }
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
    };
    future::block_on(ex.run(future::or(done, async {
        async_io::Timer::after(DEADLINE).await;
    })));
    drop(checkers);
    let got = events.borrow().clone();
    (got, initially)
}

#[test]
fn check_retry_down_after_retry_plus_one_failures_up_on_first_success() {
    let srv = Scripted::new(&[200, 500, 500, 500, 200]);
    let (events, initially) = drive(&srv, &config(srv.addr.port(), 2, false), 2, 2);
    assert!(initially);
    // Request 1 succeeds (no change), 2-4 fail: down at the 3rd failure
    // (retry 2 + 1); request 5 succeeds: up at once. Nothing after.
    assert_eq!(events, vec![(false, 4), (true, 5)]);
}

#[test]
fn check_retry_a_success_resets_the_count() {
    let srv = Scripted::new(&[200, 500, 200, 500, 500]);
    let (events, _) = drive(&srv, &config(srv.addr.port(), 1, false), 2, 2);
    // retry 1: failure 2 is followed by a success, so only 4-5 count.
    assert_eq!(events, vec![(false, 5), (true, 6)]);
}

#[test]
fn check_retry_first_failure_at_start_is_immediate() {
    let srv = Scripted::new(&[500, 500, 200]);
    let (events, _) = drive(&srv, &config(srv.addr.port(), 3, false), 2, 2);
    // Down at the very first failure, not retried while down, up on success.
    assert_eq!(events, vec![(false, 1), (true, 3)]);
}

#[test]
fn check_retry_alpha_starts_down() {
    let srv = Scripted::new(&[200]);
    let (events, initially) = drive(&srv, &config(srv.addr.port(), 1, true), 1, 2);
    assert!(!initially);
    assert_eq!(events, vec![(true, 1)]);
}
