//! Runtime control without a reload: `vigil ctl demote`
//! hands mastership over at once (priority 0) and holds the instance back,
//! across a reload and until `undemote`; `vigil ctl drain` holds a real
//! server at weight 0 while its checks go on, survives a reload and a
//! checker child restart, and `restore` ends it. Each action is logged and
//! shown in status and metrics; bad names get an error in words. (IPVS
//! weights themselves are checked in the guest: tests/lvs_guest.rs.)

mod lab;

use lab::{Lab, VrrpConf, ready, vigil};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

fn vigil_cmd(sock: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).arg("--control").arg(sock).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn status(sock: &Path) -> Value {
    let (ok, out) = vigil_cmd(sock, &["status", "--json"]);
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap()
}

fn wait(what: &str, bound: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + bound;
    while !f() {
        assert!(Instant::now() < end, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demote_hands_over_and_holds_back_until_undemote() {
    if !ready("demote_hands_over_and_holds_back_until_undemote") {
        return;
    }
    let lab = Lab::new("vctl", 2);
    let d1 = lab.start(1, vigil(), &VrrpConf::new(1, 3, 150, "0.2", &["192.0.2.100/24"]).render());
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.2", &["192.0.2.100/24"]).render());
    let (s1, s2) = (d1.control_socket(), d2.control_socket());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "n1 never master\n{}", d1.log());

    let (ok, out) = vigil_cmd(&s1, &["ctl", "demote", "VI_1"]);
    assert!(ok && out.starts_with("ok: VI_1 demoted"), "{out}");
    // Priority 0: n2 takes over after its skew time, well before master down.
    let t = Instant::now();
    assert!(lab.wait_addr(2, VIP, true, Duration::from_secs(5)), "n2 did not take over\n{}", d2.log());
    assert!(lab.wait_addr(1, VIP, false, Duration::from_secs(2)));
    eprintln!("takeover after demote: {:?}", t.elapsed());
    let i = &status(&s1)["vrrp"][0];
    assert_eq!((i["state"].as_str(), i["demoted"].as_bool(), i["effective_priority"].as_u64()), (Some("BACKUP"), Some(true), Some(1)), "{i}");
    assert!(d1.log().contains("(VI_1) demoted by the operator"), "{}", d1.log());
    let (_, m) = vigil_cmd(&s1, &["metrics"]);
    assert!(m.contains("vigil_vrrp_demoted{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 1"), "{m}");

    // Held back: no preemption over 2 s, nor after a reload.
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.has_addr(2, VIP) && !lab.has_addr(1, VIP));
    assert!(d1.kill(libc::SIGHUP));
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.has_addr(2, VIP) && !lab.has_addr(1, VIP), "a reload undid the demotion\n{}", d1.log());
    assert_eq!(status(&s1)["vrrp"][0]["demoted"], true);

    // Mistakes are refused in words, and change nothing.
    let (ok, out) = vigil_cmd(&s1, &["ctl", "demote", "VI_9"]);
    assert!(!ok && out.contains("no VRRP instance \"VI_9\""), "{out}");
    let (ok, out) = vigil_cmd(&s1, &["ctl", "drain", "192.0.2.1:80", "10.0.0.1:80"]);
    assert!(!ok && out.starts_with("error:"), "{out}");
    let (ok, out) = vigil_cmd(&s1, &["ctl", "promote", "VI_1"]);
    assert!(!ok && out.contains("usage: vigil ctl"), "{out}");

    // Undemote: n1's own priority again, and it preempts.
    let (ok, out) = vigil_cmd(&s1, &["ctl", "undemote", "VI_1"]);
    assert!(ok && out.contains("no longer demoted"), "{out}");
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(5)), "n1 did not preempt back\n{}", d1.log());
    wait("n2 backup", Duration::from_secs(5), || status(&s2)["vrrp"][0]["state"] == "BACKUP");
    assert_eq!(status(&s1)["vrrp"][0]["demoted"], false);
}

#[test]
fn drain_holds_weight_zero_across_reload_and_restart_until_restore() {
    if !ready("drain_holds_weight_zero_across_reload_and_restart_until_restore") {
        return;
    }
    let lab = Lab::new("vdrn", 1);
    let listener = lab.in_ns(1, || std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });
    let dir = lab.node_dir(1);
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "virtual_server 192.0.2.200 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
             \x20   real_server 127.0.0.1 {port} {{\n        weight 5\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let argv: Vec<String> = vigil().argv(&dir, &conf).into_iter().map(|a| if a == "-P" { "-C".into() } else { a }).collect();
    let d = lab.spawn(1, argv);
    let sock = dir.join("control.sock");
    let rs = |st: &Value| st["virtual_servers"][0]["real_servers"][0].clone();
    wait("first check", Duration::from_secs(15), || sock.exists() && rs(&status(&sock))["last_ok"] == true);

    let vs = "192.0.2.200:80";
    let (ok, out) = vigil_cmd(&sock, &["ctl", "drain", vs, &format!("127.0.0.1:{port}")]);
    assert!(ok && out.contains("drained: weight 0, checks go on"), "{out}\n{}", d.log());
    let a = rs(&status(&sock));
    assert_eq!((a["drained"].as_bool(), a["weight"].as_i64(), a["up"].as_bool()), (Some(true), Some(0), Some(true)), "{a}");
    // The checks go on while drained.
    std::thread::sleep(Duration::from_millis(2500));
    let b = rs(&status(&sock));
    assert!(b["checks_run"].as_u64() > a["checks_run"].as_u64(), "checks stopped: {a} {b}");
    let (_, m) = vigil_cmd(&sock, &["metrics"]);
    assert!(m.contains(&format!("vigil_real_server_drained{{virtual_server=\"[192.0.2.200]:tcp:80\",real_server=\"[127.0.0.1]:tcp:{port}\"}} 1")), "{m}");
    // Draining twice says so.
    let (ok, out) = vigil_cmd(&sock, &["ctl", "drain", "[192.0.2.200]:tcp:80", &format!("[127.0.0.1]:tcp:{port}")]);
    assert!(ok && out.contains("was already drained"), "{out}");

    // A reload keeps it; so does a checker child restart (the parent replays it).
    assert!(d.kill(libc::SIGHUP));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rs(&status(&sock))["drained"], true, "a reload undid the drain\n{}", d.log());
    let pid = status(&sock)["children"][1]["pid"].as_u64().unwrap();
    // SAFETY: kill takes plain integers; `pid` is the checker child this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    wait("checker restarted and drained again", Duration::from_secs(15), || {
        let st = status(&sock);
        st["children"][1]["pid"].as_u64().is_some_and(|p| p != pid) && rs(&st)["drained"] == true
    });

    let (ok, out) = vigil_cmd(&sock, &["ctl", "restore", vs, &format!("127.0.0.1:{port}")]);
    assert!(ok && out.contains("restored"), "{out}");
    let c = rs(&status(&sock));
    assert_eq!((c["drained"].as_bool(), c["weight"].as_i64()), (Some(false), Some(5)), "{c}");
    assert!(d.log().contains("ctl: drain real server"), "{}", d.log());
}
