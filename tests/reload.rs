//! SIGHUP on a running daemon: a good config reaches both children (as
//! postcard messages) and is applied; a bad one is refused with FILE:LINE and
//! the running config stays in force everywhere.

mod common;

use common::{Daemon, child};
use std::time::Duration;

fn conf(router_id: &str, servers: u32) -> String {
    let mut s = format!("global_defs {{\n    router_id {router_id}\n}}\n");
    for i in 0..servers {
        s.push_str(&format!(
            "virtual_server 192.0.2.{} 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 198.51.100.{} 80 {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n}}\n",
            10 + i,
            10 + i
        ));
    }
    s
}

fn both_at(st: &serde_json::Value, generation: u64, router_id: &str, servers: u64) -> bool {
    ["vrrp", "check"].iter().all(|r| {
        let c = child(st, r);
        c["config_generation"] == generation && c["config"]["router_id"] == router_id && c["config"]["virtual_servers"] == servers
    })
}

#[test]
fn good_reload_applies_and_bad_reload_changes_nothing() {
    let mut d = Daemon::start_with("reload", 500, "", &conf("r1", 1));
    d.wait_for(Duration::from_secs(10), |st| both_at(st, 1, "r1", 1));
    let path = d.dir.join("keepalived.conf");

    // Good: a new router id and a second virtual server.
    std::fs::write(&path, conf("r2", 2)).unwrap();
    d.signal(libc::SIGHUP);
    let st = d.wait_for(Duration::from_secs(10), |st| both_at(st, 2, "r2", 2));
    assert_eq!(st["config_generation"], 2);
    assert_eq!(st["reloads_refused"], 0);

    // Bad: an unterminated block. Refused, named by file and line, and
    // generation 2 stays in force in the parent and in both children.
    let bad = format!("{}virtual_server 192.0.2.99 80 {{\n    lb_algo rr\n", conf("r3", 1));
    std::fs::write(&path, &bad).unwrap();
    d.signal(libc::SIGHUP);
    let st = d.wait_for(Duration::from_secs(10), |st| st["reloads_refused"] == 1);
    assert_eq!(st["config_generation"], 2);
    assert!(both_at(&st, 2, "r2", 2), "{st:#}");
    let log = d.log();
    let shown = format!("{}:", path.display());
    assert!(log.lines().any(|l| l.contains(&shown) && l.contains("error")), "no FILE:LINE error in the log:\n{log}");
    assert!(log.contains("reload refused"), "{log}");

    // A good config after a refused one is applied again.
    std::fs::write(&path, conf("r4", 3)).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_for(Duration::from_secs(10), |st| both_at(st, 3, "r4", 3));

    // A typo'd keyword is refused too (it would silently change what runs).
    std::fs::write(&path, format!("{}    lb_algoo rr\n", conf("r5", 1))).unwrap();
    d.signal(libc::SIGHUP);
    let st = d.wait_for(Duration::from_secs(10), |st| st["reloads_refused"] == 2);
    assert!(both_at(&st, 3, "r4", 3), "{st:#}");

    // Warnings only (defaults applied: no lb_algo, no lb_kind), as keepalived
    // reloads and starts with them: applied, the warnings logged.
    let plain = "virtual_server 192.0.2.50 80 {\n    protocol TCP\n    real_server 198.51.100.50 80 {\n        TCP_CHECK {\n        }\n    }\n}\n";
    std::fs::write(&path, format!("{}{plain}", conf("r6", 1))).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_for(Duration::from_secs(10), |st| both_at(st, 4, "r6", 2));
    assert!(d.log().contains("setting default"), "the defaults warning was not logged");
    assert_eq!(d.terminate(Duration::from_secs(10)), Some(0));
}

#[test]
fn config_test_flag_reports_file_and_line() {
    let dir = common::tempdir("cfgtest");
    let good = dir.join("good.conf");
    std::fs::write(&good, conf("ok", 1)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).arg("-t").arg("-f").arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "global_defs {\n    router_id x\n    no_such_keyword 1\n}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).arg("-t").arg("-f").arg(&bad).output().unwrap();
    // keepalived -t's code for a configuration with problems.
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil")).arg("--dump-config").arg("-f").arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["global"]["router_id"], "ok");
    let _ = std::fs::remove_dir_all(&dir);
}
