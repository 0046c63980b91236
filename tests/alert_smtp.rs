//! SMTP alerts from the running daemon to a real SMTP server (Debian's
//! python3-aiosmtpd, started by the test on 127.0.0.1): a VRRP instance
//! entering MASTER, FAULT and stopping; a real server going down and up
//! through its TCP_CHECK. Then, with the server refusing connections or
//! accepting them and never speaking, the largest gap between the
//! master's adverts, captured on the wire: a functional bound (2.5 ×
//! advert_int), not a performance figure.
//!
//! Each test runs in a network namespace of its own (this thread, the
//! daemon and the SMTP server share it), so traffic stays inside it; the
//! namespace goes with the test's thread.

mod common;

use common::Daemon;
use common::skip::skip_or_fail;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

/// Writes each message aiosmtpd receives as one JSON line.
const SERVER: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP
out = sys.argv[1]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        rec = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "helo": session.host_name,
               "data": envelope.original_content.decode("utf-8", "replace")}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(Handler(), hostname="mx.test"), "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
"#;

/// aiosmtpd on 127.0.0.1, on a port it picked.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl SmtpServer {
    fn start(dir: &Path) -> Option<SmtpServer> {
        let out = dir.join("mail.jsonl");
        let mut child = Command::new(PYTHON)
            .args(["-c", SERVER])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(BOUND).ok().and_then(|l| l.trim().parse().ok()) {
            Some(port) => Some(SmtpServer { child, port, out }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first message whose Subject header is `subject` (bounded wait).
    fn wait_subject(&self, d: &Daemon, subject: &str) -> Value {
        let header = format!("Subject: {subject}\r\n");
        let until = Instant::now() + BOUND;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m["data"].as_str().is_some_and(|s| s.contains(&header))) {
                return m;
            }
            assert!(Instant::now() < until, "no mail '{subject}' within {BOUND:?}; got {:#?}\nlog:\n{}", self.messages(), d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ip(args: &str) {
    let out = Command::new("ip").args(args.split_whitespace()).output().expect("ip");
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A network namespace for this thread, with lo up; false (after the
/// skip rule) when the test cannot run here.
fn own_netns(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail(&format!("{test}: needs root"));
        return false;
    }
    if !Path::new(PYTHON).exists()
        || !Command::new(PYTHON).args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success())
    {
        skip_or_fail(&format!("{test}: python3-aiosmtpd is not installed (tests/deps)"));
        return false;
    }
    // SAFETY: unshare takes flags only; it moves this test's thread (each
    // test runs on its own) into a new network namespace and touches no memory.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        skip_or_fail(&format!("{test}: unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
        return false;
    }
    ip("link set lo up");
    true
}

/// va (192.0.2.1/24, where the instance runs) and its peer vb (where the
/// adverts are captured).
fn veth_pair() {
    ip("link add va type veth peer name vb");
    ip("addr add 192.0.2.1/24 dev va");
    ip("link set va up");
    ip("link set vb up");
}

fn global_defs(port: u16, timeout_s: u32) -> String {
    format!(
        "global_defs {{\n    router_id lb-test\n    notification_email {{\n        ops@example.org\n        pager@example.org\n    }}\n    notification_email_from vigil@example.org\n    smtp_server 127.0.0.1 {port}\n    smtp_connect_timeout {timeout_s}\n    smtp_helo_name lb-test.example.org\n    vrrp_version 3\n}}\n"
    )
}

fn vrrp_conf(port: u16, timeout_s: u32, advert_int: &str) -> String {
    format!(
        "{}vrrp_instance VI_1 {{\n    state MASTER\n    interface va\n    virtual_router_id 51\n    priority 150\n    advert_int {advert_int}\n    smtp_alert\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n",
        global_defs(port, timeout_s)
    )
}

fn wait_log(d: &Daemon, pat: &str, n: usize) {
    let until = Instant::now() + BOUND;
    while d.log().matches(pat).count() < n {
        assert!(Instant::now() < until, "{pat:?} not logged {n} time(s) within {BOUND:?}\nlog:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The message's headers, up to the empty line, and its body.
fn split(data: &str) -> (&str, &str) {
    data.split_once("\r\n\r\n").unwrap_or((data, ""))
}

#[test]
fn vrrp_master_fault_and_stop_are_mailed_as_keepalived_mails_them() {
    if !own_netns("vrrp_master_fault_and_stop_are_mailed_as_keepalived_mails_them") {
        return;
    }
    veth_pair();
    let dir = common::tempdir("smtp-vrrp-mail");
    let server = SmtpServer::start(&dir).expect("aiosmtpd did not start");
    let mut d = Daemon::start_with("smtp-vrrp", 1000, "-P", &vrrp_conf(server.port, 5, "1"));
    wait_log(&d, "Entering MASTER STATE", 1);

    let m = server.wait_subject(&d, "[lb-test] VRRP Instance VI_1 - Entering MASTER state");
    assert_eq!(m["mail_from"], "vigil@example.org");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.org", "pager@example.org"]));
    assert_eq!(m["helo"], "lb-test.example.org");
    let data = m["data"].as_str().unwrap();
    let (headers, body) = split(data);
    let names: Vec<&str> = headers.split("\r\n").filter(|l| !l.starts_with(' ')).map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(names, ["Date", "From", "Subject", "X-Mailer", "To"], "{data:?}");
    assert!(headers.contains("\r\nFrom: vigil@example.org\r\n"), "{data:?}");
    assert!(headers.contains("\r\nX-Mailer: Keepalived\r\n"), "{data:?}");
    assert!(headers.ends_with("\r\nTo: ops@example.org,\r\n pager@example.org"), "{data:?}");
    let date = headers.lines().next().unwrap().strip_prefix("Date: ").unwrap();
    assert_eq!(date.len(), "Mon, 01 Mar 2021 09:44:08 +0000".len(), "{date:?}");
    assert_eq!(body.trim_end(), "=> VRRP Instance is now owning VRRP VIPs <=", "{data:?}");

    // FAULT: the interface goes down.
    ip("link set va down");
    let m = server.wait_subject(&d, "[lb-test] VRRP Instance VI_1 - Entering FAULT state");
    assert_eq!(split(m["data"].as_str().unwrap()).1.trim_end(), "=> VRRP Instance is no longer owning VRRP VIPs <=");
    ip("link set va up");
    wait_log(&d, "Entering MASTER STATE", 2);
    // Back to MASTER: announced again, since FAULT came in between.
    let until = Instant::now() + BOUND;
    while server.messages().iter().filter(|m| m["data"].as_str().unwrap_or("").contains("Entering MASTER state")).count() < 2 {
        assert!(Instant::now() < until, "second MASTER mail missing: {:#?}", server.messages());
        std::thread::sleep(Duration::from_millis(50));
    }

    // The counters, in the data dump.
    d.signal(libc::SIGUSR1);
    wait_log(&d, "SMTP alerts: sent ", 1);
    let line = d.log().lines().find(|l| l.contains("SMTP alerts: sent ")).unwrap().to_string();
    assert!(line.contains("failed 0, dropped 0"), "{line}");
    // And in status, asked of the child now.
    let st = d.status().expect("status");
    let a = &common::child(&st, "vrrp")["alerts"];
    assert!(a["sent"].as_u64().unwrap_or(0) >= 3 && a["failed"] == 0 && a["dropped"] == 0, "{a}");

    // A clean stop mails "Stopping" before the child exits.
    assert_eq!(d.terminate(BOUND), Some(0));
    let m = server.wait_subject(&d, "[lb-test] VRRP Instance VI_1 - Stopping");
    assert_eq!(split(m["data"].as_str().unwrap()).1.trim_end(), "=> VRRP Instance stopping <=");
    println!("vrrp alert mails: {}", server.messages().len());
}

#[test]
fn a_real_server_going_down_and_up_is_mailed() {
    if !own_netns("a_real_server_going_down_and_up_is_mailed") {
        return;
    }
    let dir = common::tempdir("smtp-rs-mail");
    let server = SmtpServer::start(&dir).expect("aiosmtpd did not start");
    let rs = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = rs.local_addr().unwrap().port();
    let conf = format!(
        "{}virtual_server 192.0.2.10 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n}}\n",
        global_defs(server.port, 5)
    );
    let d = Daemon::start_with("smtp-rs", 1000, "-C", &conf);
    d.wait_for(BOUND, |st| common::child(st, "check")["state"] == "running");
    // Up from the start: no mail for that (keepalived sends none either).
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.messages().is_empty(), "{:#?}", server.messages());

    let rs_name = format!("[127.0.0.1]:tcp:{port}");
    drop(rs);
    let m = server.wait_subject(&d, &format!("[lb-test] Realserver {rs_name} of virtual server [192.0.2.10]:tcp:80 - DOWN"));
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.org", "pager@example.org"]));
    assert_eq!(split(m["data"].as_str().unwrap()).1.trim_end(), "=> TCP CHECK failed on service <=");

    let _rs = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let m = server.wait_subject(&d, &format!("[lb-test] Realserver {rs_name} of virtual server [192.0.2.10]:tcp:80 - UP"));
    assert_eq!(split(m["data"].as_str().unwrap()).1.trim_end(), "=> TCP CHECK succeed on service <=");
}

/// Captures VRRP adverts from 192.0.2.1 arriving on `ifname` for `window`;
/// their arrival times.
fn capture_adverts(ifname: &str, window: Duration) -> Vec<Instant> {
    let proto = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: socket takes plain integers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(proto)) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    let name = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex > 0, "no interface {ifname}");
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the length passed, alive for the call.
    let r = unsafe { libc::bind(fd, &sll as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as u32) };
    assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
    let tv = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
    // SAFETY: `tv` is a valid timeval of the length passed, alive for the call.
    unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv as *const _ as *const libc::c_void, std::mem::size_of::<libc::timeval>() as u32) };
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    let until = Instant::now() + window;
    while Instant::now() < until {
        // SAFETY: `buf` is writable for its whole length, which is what is passed.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n >= 20 && buf[9] == 112 && buf[12..16] == [192, 0, 2, 1] {
            seen.push(Instant::now());
        }
    }
    // SAFETY: `fd` is ours (opened above) and closed once.
    unsafe { libc::close(fd) };
    seen
}

fn largest_gap(t: &[Instant]) -> Duration {
    t.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(Duration::MAX)
}

/// The master with alerts that cannot go: flaps queue several alerts,
/// then its adverts are captured while the client fails or waits.
fn advert_gap_with(port: u16, what: &str) -> (Duration, usize, String) {
    veth_pair();
    let advert_int = Duration::from_millis(500);
    // smtp_connect_timeout 3: each step of each alert waits 3 s on a silent server.
    let d = Daemon::start_with(&format!("smtp-gap-{what}"), 1000, "-P", &vrrp_conf(port, 3, "0.5"));
    wait_log(&d, "Entering MASTER STATE", 1);
    // Three flaps: FAULT, then MASTER again, three times over.
    for n in 0..3 {
        ip("link set va down");
        wait_log(&d, "Entering FAULT STATE", n + 1);
        ip("link set va up");
        wait_log(&d, "Entering MASTER STATE", n + 2);
    }
    // Skip the GARP burst right after the takeover; then measure.
    std::thread::sleep(Duration::from_millis(600));
    let adverts = capture_adverts("vb", Duration::from_secs(8));
    let gap = largest_gap(&adverts);
    common::signal(d.pid(), libc::SIGUSR1);
    wait_log(&d, "SMTP alerts: sent ", 1);
    let counters = d.log().lines().find(|l| l.contains("SMTP alerts: sent ")).unwrap().to_string();
    println!("SMTP server {what}: {} adverts in 8 s, largest gap {gap:?} (advert_int {advert_int:?}); {counters}", adverts.len());
    // An unusable server shows in status as failed or still queued alerts, none sent.
    let st = d.status().expect("status");
    let a = &common::child(&st, "vrrp")["alerts"];
    assert!(a["sent"] == 0 && a["failed"].as_u64().unwrap_or(0) + a["queued"].as_u64().unwrap_or(0) > 0, "{a}");
    assert!(adverts.len() >= 10, "{} adverts in 8 s\nlog:\n{}", adverts.len(), d.log());
    assert!(gap < advert_int * 5 / 2, "largest advert gap {gap:?} with the SMTP server {what}\nlog:\n{}", d.log());
    (gap, adverts.len(), counters)
}

#[test]
fn adverts_keep_their_pace_while_the_smtp_server_refuses() {
    if !own_netns("adverts_keep_their_pace_while_the_smtp_server_refuses") {
        return;
    }
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, _, counters) = advert_gap_with(port, "refusing");
    // Every alert (start, three flaps) failed at once: none is left waiting.
    assert!(counters.contains("sent 0,") && counters.contains("queued 0"), "{counters}");
    assert!(!counters.contains("failed 0,"), "{counters}");
}

#[test]
fn adverts_keep_their_pace_while_the_smtp_server_stalls() {
    if !own_netns("adverts_keep_their_pace_while_the_smtp_server_stalls") {
        return;
    }
    // The kernel completes the connections; nobody reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (_, _, counters) = advert_gap_with(port, "stalling");
    // The alerts are still in the queue (or failed on the timeout).
    assert!(counters.contains("sent 0,") && !counters.contains("queued 0"), "{counters}");
    drop(silent);
}
