//! The SMTP alert client against tiny scripted servers on loopback: the
//! exchange line by line (EHLO with a multi-line answer, EHLO refused then
//! HELO, dot-stuffed data, QUIT), refusals, a refused connection, a server
//! that never speaks; and the alert queue's bound and counters. Every wait
//! is bounded.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vigil::alert::smtp::{self, Relay, SmtpError, Step};
use vigil::alert::{Alerter, QUEUE_CAPACITY};
use vigil::alert::message::Text;
use vigil::config::model::{GlobalDefs, SmtpServer};

/// How the scripted server answers.
#[derive(Clone)]
struct Script {
    greeting: &'static str,
    ehlo: &'static str,
    rcpt: &'static str,
}

const GOOD: Script = Script {
    greeting: "220-mx.example.org ESMTP\r\n220 ready\r\n",
    ehlo: "250-mx.example.org hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    rcpt: "250 ok\r\n",
};

/// Serves `conns` connections as `s` says; returns every line received.
fn scripted(s: Script, conns: usize) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..conns {
            let (c, _) = l.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut w = c.try_clone().unwrap();
            let mut r = BufReader::new(c);
            w.write_all(s.greeting.as_bytes()).unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                seen.push(line.clone());
                let reply: &str = if in_data {
                    if line != ".\r\n" {
                        continue;
                    }
                    in_data = false;
                    "250 2.0.0 queued\r\n"
                } else {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    match verb.as_str() {
                        "EHLO" => s.ehlo,
                        "HELO" => "250 mx.example.org\r\n",
                        "MAIL" => "250 sender ok\r\n",
                        "RCPT" => s.rcpt,
                        "DATA" => {
                            in_data = true;
                            "354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n");
                            break;
                        }
                        _ => "500 what\r\n",
                    }
                };
                w.write_all(reply.as_bytes()).unwrap();
            }
        }
        seen
    });
    (addr, h)
}

fn relay(server: SocketAddr, step: Duration) -> Relay {
    Relay { server, helo: "lb1.example.org".into(), step_timeout: step }
}

fn rcpts() -> Vec<String> {
    vec!["ops@example.org".into(), "Pager <pager@example.org>".into()]
}

const MESSAGE: &str = "Subject: t\r\n\r\nline one\r\n.leading dot\r\n.\r\n";

#[test]
fn a_message_goes_through_ehlo_with_a_multi_line_answer() {
    let (addr, h) = scripted(GOOD, 1);
    let data = smtp::dot_stuff(MESSAGE);
    let r = async_io::block_on(smtp::deliver(&relay(addr, Duration::from_secs(5)), "Vigil <vigil@example.org>", &rcpts(), &data));
    assert_eq!(r, Ok(()));
    let seen = h.join().unwrap();
    assert_eq!(
        seen,
        [
            "EHLO lb1.example.org\r\n",
            "MAIL FROM:<vigil@example.org>\r\n",
            "RCPT TO:<ops@example.org>\r\n",
            "RCPT TO:<pager@example.org>\r\n",
            "DATA\r\n",
            "Subject: t\r\n",
            "\r\n",
            "line one\r\n",
            "..leading dot\r\n",
            "..\r\n",
            ".\r\n",
            "QUIT\r\n",
        ]
    );
}

#[test]
fn a_server_without_ehlo_gets_helo() {
    let (addr, h) = scripted(Script { ehlo: "502 5.5.2 Error: command not recognized\r\n", ..GOOD }, 1);
    let data = smtp::dot_stuff(MESSAGE);
    let r = async_io::block_on(smtp::deliver(&relay(addr, Duration::from_secs(5)), "vigil@example.org", &rcpts(), &data));
    assert_eq!(r, Ok(()));
    let seen = h.join().unwrap();
    assert_eq!(&seen[..3], ["EHLO lb1.example.org\r\n", "HELO lb1.example.org\r\n", "MAIL FROM:<vigil@example.org>\r\n"]);
}

#[test]
fn a_refused_recipient_or_greeting_fails_and_quits() {
    let (addr, h) = scripted(Script { rcpt: "550 5.1.1 no such user\r\n", ..GOOD }, 1);
    let r = async_io::block_on(smtp::deliver(&relay(addr, Duration::from_secs(5)), "v@example.org", &rcpts(), b".\r\n"));
    assert_eq!(r, Err(SmtpError::Code(Step::Rcpt, 550)));
    let seen = h.join().unwrap();
    assert_eq!(seen.last().map(String::as_str), Some("QUIT\r\n"), "{seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("DATA")), "{seen:?}");

    let (addr, h) = scripted(Script { greeting: "554 no service\r\n", ..GOOD }, 1);
    let r = async_io::block_on(smtp::deliver(&relay(addr, Duration::from_secs(5)), "v@example.org", &rcpts(), b".\r\n"));
    assert_eq!(r, Err(SmtpError::Code(Step::Greeting, 554)));
    assert_eq!(h.join().unwrap(), ["QUIT\r\n"]);
}

#[test]
fn a_refused_connection_and_a_silent_server_fail_within_the_step_bound() {
    // Nothing listens on a port we just released.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = Instant::now();
    let r = async_io::block_on(smtp::deliver(&relay(([127, 0, 0, 1], port).into(), Duration::from_secs(5)), "v@x", &rcpts(), b".\r\n"));
    assert_eq!(r, Err(SmtpError::Connect(libc::ECONNREFUSED)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // The kernel accepts the connection; nobody ever speaks.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let step = Duration::from_millis(300);
    let t = Instant::now();
    let r = async_io::block_on(smtp::deliver(&relay(silent.local_addr().unwrap(), step), "v@x", &rcpts(), b".\r\n"));
    let took = t.elapsed();
    assert_eq!(r, Err(SmtpError::Timeout(Step::Greeting)));
    // The greeting's bound, then QUIT's bound (as keepalived): two steps.
    assert!(took >= step && took < step * 2 + Duration::from_secs(1), "{took:?}");
}

fn global(addr: SocketAddr, timeout_s: u32) -> GlobalDefs {
    GlobalDefs {
        router_id: Some("lb1".into()),
        notification_email: vec!["ops@example.org".into()],
        notification_email_from: Some("vigil@example.org".into()),
        smtp_server: Some(SmtpServer { host: addr.ip().to_string(), port: addr.port() }),
        smtp_connect_timeout: timeout_s,
        ..GlobalDefs::default()
    }
}

fn text(i: usize) -> Text {
    Text { subject: format!("alert {i}"), body: "body".into() }
}

/// Runs `ex` until `done` holds (bounded).
fn run_until(ex: &smol::LocalExecutor<'static>, bound: Duration, done: impl Fn() -> bool) {
    let until = Instant::now() + bound;
    async_io::block_on(ex.run(async {
        while !done() {
            assert!(Instant::now() < until, "not done within {bound:?}");
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
    }));
}

#[test]
fn the_queue_is_bounded_and_counts_what_it_drops_sends_and_fails() {
    // A silent server: the first alert stalls in delivery, the rest wait.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let ex = Rc::new(smol::LocalExecutor::new());
    let spawner = ex.clone();
    let a = Alerter::new(move |f| spawner.spawn(f).detach());
    a.configure(&global(silent.local_addr().unwrap(), 30));
    assert!(a.enabled());
    for i in 0..QUEUE_CAPACITY + 6 {
        a.alert(text(i));
    }
    let c = a.counters();
    assert_eq!((c.queued, c.dropped, c.sent, c.failed), (QUEUE_CAPACITY as u64, 6, 0, 0), "{c:?}");
    drop(a);

    // Refused: each alert fails at once.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawner = ex.clone();
    let a = Alerter::new(move |f| spawner.spawn(f).detach());
    a.configure(&global(([127, 0, 0, 1], port).into(), 30));
    for i in 0..3 {
        a.alert(text(i));
    }
    run_until(&ex, Duration::from_secs(10), || a.counters().queued == 0);
    let c = a.counters();
    assert_eq!((c.failed, c.sent, c.dropped), (3, 0, 0), "{c:?}");

    // A server that takes them: sent.
    let (addr, h) = scripted(GOOD, 2);
    a.configure(&global(addr, 5));
    a.alert(text(1));
    a.alert(text(2));
    run_until(&ex, Duration::from_secs(10), || a.counters().queued == 0);
    assert_eq!(a.counters().sent, 2, "{:?}", a.counters());
    let seen = h.join().unwrap();
    assert!(seen.iter().any(|l| l == "Subject: [lb1] alert 2\r\n"), "{seen:?}");

    // Without notification_email (or smtp_server) nothing is queued.
    a.configure(&GlobalDefs { notification_email: vec![], ..global(addr, 5) });
    assert!(!a.enabled());
    a.alert(text(3));
    assert_eq!(a.counters().queued, 0);
}
