//! Status that is current when read: `vigil status` asks the
//! children at the moment it is run, so counters move between two reads of
//! a master in steady state, a backup names its master, and every real
//! server shows its checks and the last result. Also: an IPv6 instance
//! started while its link-local address is still tentative (DAD running on
//! an interface that just came up) reaches MASTER instead of staying in
//! FAULT. Bounds are functional deadlines with generous slack.

mod lab;

use lab::{Lab, VrrpConf, ready, vigil};
use serde_json::Value;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

fn status_json(sock: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--control"]).arg(sock).output().unwrap();
    assert!(out.status.success(), "vigil status: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn status_text(sock: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--control"]).arg(sock).output().unwrap();
    assert!(out.status.success(), "vigil status: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn instance<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["vrrp"].as_array().and_then(|a| a.iter().find(|i| i["name"] == name)).unwrap_or_else(|| panic!("no {name} in {st}"))
}

fn wait_state(sock: &std::path::Path, state: &str, bound: Duration) -> Value {
    let end = Instant::now() + bound;
    loop {
        if sock.exists() {
            let st = status_json(sock);
            if instance(&st, "VI_1")["state"] == state {
                return st;
            }
            assert!(Instant::now() < end, "VI_1 never reached {state}: {st}");
        }
        assert!(Instant::now() < end, "no control socket at {}", sock.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn status_is_current_when_read() {
    if !ready("status_is_current_when_read") {
        return;
    }
    let lab = Lab::new("vstat", 2);
    // A real server that answers, inside node 1's namespace.
    let listener: TcpListener = lab.in_ns(1, || TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });
    let mut c1 = VrrpConf::new(1, 3, 150, "0.2", &["192.0.2.100/24"]);
    c1.start_master = false;
    let extra = format!(
        "vrrp_sync_group G1 {{\n    group {{\n        VI_1\n    }}\n}}\n\
         virtual_server 192.0.2.200 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
         \x20   real_server 127.0.0.1 {port} {{\n        weight 3\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
         \x20   real_server 127.0.0.1 1 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    );
    let dir1 = lab.node_dir(1);
    let conf1 = dir1.join("keepalived.conf");
    std::fs::write(&conf1, c1.render() + &extra).unwrap();
    // Both children: the lab's daemons run VRRP only (-P).
    let argv: Vec<String> = vigil().argv(&dir1, &conf1).into_iter().filter(|a| a != "-P").collect();
    let d1 = lab.spawn(1, argv);
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.2", &["192.0.2.100/24"]).render());
    let (s1, s2) = (dir1.join("control.sock"), d2.control_socket());

    let a = wait_state(&s1, "MASTER", Duration::from_secs(15));
    wait_state(&s2, "BACKUP", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1500));
    let b = status_json(&s1);
    let (ia, ib) = (instance(&a, "VI_1"), instance(&b, "VI_1"));
    let sent = |i: &Value| i["counters"]["adverts_sent"].as_u64().unwrap();
    // 1.5 s at 0.2 s: about 7 adverts, with no state change in between.
    assert!(sent(ib) >= sent(ia) + 3, "adverts_sent not current: {} then {}\n{}", sent(ia), sent(ib), d1.log());
    assert_eq!(ib["vrid"], 51);
    assert_eq!(ib["version"], 3);
    assert_eq!(ib["interface"], "eth0");
    assert_eq!(ib["vips_set"], true, "{ib}");
    assert_eq!(ib["master"], lab::node_ip4(1).to_string(), "{ib}");
    assert_eq!(ib["fsm"]["become_master"], 1, "{ib}");
    let g = &b["sync_groups"][0];
    assert_eq!((g["name"].as_str(), g["state"].as_str()), (Some("G1"), Some("MASTER")), "{b}");

    // The backup: its master's address and priority, receive counters moving.
    let x = status_json(&s2);
    std::thread::sleep(Duration::from_millis(1000));
    let y = status_json(&s2);
    let (ix, iy) = (instance(&x, "VI_1"), instance(&y, "VI_1"));
    assert_eq!(iy["master"], lab::node_ip4(1).to_string(), "{iy}");
    assert_eq!(iy["master_priority"], 150, "{iy}");
    assert_eq!(iy["vips_set"], false, "{iy}");
    let rcvd = |i: &Value| i["counters"]["adverts_received"].as_u64().unwrap();
    assert!(rcvd(iy) >= rcvd(ix) + 2, "adverts_received not current: {} then {}", rcvd(ix), rcvd(iy));

    // Real servers: state, weight, checks run, last result and why.
    let vs = &b["virtual_servers"][0];
    assert_eq!(vs["name"], "[192.0.2.200]:tcp:80", "{vs}");
    assert_eq!(vs["lb_kind"], "NAT");
    let rs = |st: &Value, i: usize| st["virtual_servers"][0]["real_servers"][i].clone();
    let (up, down) = (rs(&b, 0), rs(&b, 1));
    assert_eq!((up["up"].as_bool(), up["weight"].as_i64(), up["last_ok"].as_bool()), (Some(true), Some(3), Some(true)), "{up}");
    assert_eq!(up["last_check"], "TCP_CHECK");
    assert_eq!((down["up"].as_bool(), down["last_ok"].as_bool()), (Some(false), Some(false)), "{down}");
    assert!(down["last_error"].as_str().unwrap_or("").contains("refused"), "{down}");
    let checks = |v: &Value| v["checks_run"].as_u64().unwrap();
    assert!(checks(&rs(&b, 0)) > checks(&rs(&a, 0)), "checks_run not current: {a}\n{b}");

    // The same as text, as a person reads it.
    let text = status_text(&s1);
    for want in ["VRRP instances", "VI_1", "MASTER", "192.0.2.100/24 (set)", "Sync groups", "G1", "Virtual servers", "[192.0.2.200]:tcp:80 rr NAT", "last TCP_CHECK ok", "last TCP_CHECK failed: connection refused", "Processes"] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let text2 = status_text(&s2);
    assert!(text2.contains(&format!("{} (150)", lab::node_ip4(1))), "the backup's text names its master:\n{text2}");
}

/// `ip ...` with a bound.
fn ip(args: &[&str]) {
    let out = lab::run_bounded(Command::new("ip").args(args), lab::EXEC_TIMEOUT).unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Netns(Vec<String>);

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = lab::run_bounded(Command::new("ip").args(["netns", "del", n]), lab::EXEC_TIMEOUT);
        }
    }
}

#[test]
fn ipv6_instance_starts_while_its_link_local_address_is_tentative() {
    if !ready("ipv6_instance_starts_while_its_link_local_address_is_tentative") {
        return;
    }
    // The lab turns DAD off; a real interface that just came up has it on.
    let tag = format!("vdad{}", std::process::id() % 100000);
    let ns = Netns(vec![format!("{tag}a"), format!("{tag}b")]);
    for n in &ns.0 {
        ip(&["netns", "add", n]);
    }
    ip(&["-n", &ns.0[0], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &ns.0[1]]);
    for n in &ns.0 {
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&["-n", n, "link", "set", "eth0", "up"]);
    }
    let dir = common_dir(&tag);
    let conf = dir.join("keepalived.conf");
    let c = VrrpConf::new(1, 3, 150, "1", &["fd00:96::100/128"]);
    std::fs::write(&conf, c.render()).unwrap();
    // Started at once: eth0's fe80:: address is tentative for about a second.
    let mut argv = vigil().argv(&dir, &conf);
    let prog = argv.remove(0);
    let log = std::fs::File::create(dir.join("vigil.log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0[0], &prog])
        .args(&argv)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let sock = dir.join("control.sock");
    let end = Instant::now() + Duration::from_secs(15);
    let mut last = Value::Null;
    let reached = loop {
        if sock.exists() {
            last = status_json(&sock);
            if last["vrrp"][0]["state"] == "MASTER" {
                break true;
            }
        }
        if Instant::now() > end {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // SAFETY: kill(2) takes integers only; `child` is not yet waited for, so its pid
    // still names our daemon and cannot have been reused.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let stop_end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < stop_end {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.join("vigil.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(reached, "the IPv6 instance never became MASTER: {last}\n{log}");
}

fn common_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-test-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
