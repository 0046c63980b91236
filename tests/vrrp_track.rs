//! VRRP that reacts to the box it runs on (namespaces, real interfaces,
//! real scripts): track_interface, track_script with weight, a VIP deleted
//! by hand, a sync group, notify scripts and the notify FIFO, and hanging
//! scripts that must not disturb the adverts.

mod lab;

use lab::{ready, vigil};

use lab::{Kind, Lab, VrrpConf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

/// A second veth pair inside the node (eth1 <-> eth1p), to track.
fn add_eth1(lab: &Lab, n: usize) {
    for argv in [
        &["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"][..],
        &["ip", "link", "set", "eth1", "up"],
        &["ip", "link", "set", "eth1p", "up"],
    ] {
        let o = lab.exec(n, argv);
        assert!(o.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

fn set(lab: &Lab, n: usize, dev: &str, up: bool) {
    let o = lab.exec(n, &["ip", "link", "set", dev, if up { "up" } else { "down" }]);
    assert!(o.status.success());
}

#[test]
fn track_interface_fault_and_recovery() {
    if !ready("track_interface_fault_and_recovery") {
        return;
    }
    let lab = Lab::new("ttif", 2);
    add_eth1(&lab, 1);
    let mut c1 = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c1.extra = "track_interface {\neth1\n}".into();
    let d1 = lab.start(1, vigil(), &c1.render());
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.1", &["192.0.2.100/24"]).render());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    let t = Instant::now();
    set(&lab, 1, "eth1p", false); // eth1 loses carrier
    assert!(d1.wait_log("Entering FAULT STATE", Duration::from_secs(3)), "{}", d1.log());
    assert!(lab.wait_addr(2, VIP, true, Duration::from_secs(3)), "{}", d2.log());
    assert!(lab.wait_addr(1, VIP, false, Duration::from_secs(3)));
    eprintln!("FAULT takeover after {:?}", t.elapsed());
    set(&lab, 1, "eth1p", true);
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(5)), "no recovery\n{}", d1.log());
    assert!(lab.wait_addr(2, VIP, false, Duration::from_secs(3)));
    let log = d1.log();
    let fault = log.find("Entering FAULT STATE").unwrap();
    assert!(log[fault..].contains("Entering BACKUP STATE"), "FAULT -> BACKUP missing\n{log}");
}

/// Node 1 (priority 150) tracks `script` (weight -60, fall 2, rise 2), which
/// fails while `flag` exists; node 2 has 100. The VIP moves to node 2 when
/// the flag appears and back when it goes. `global` is added to node 1's
/// global_defs, `extra` to its instance. Returns node 1's daemon.
fn track_script_moves_mastership(lab: &Lab, flag: &std::path::Path, script: &str, global: &str, extra: &str) -> lab::DaemonHandle {
    let mut c1 = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c1.extra = format!("track_script {{\nchk\n}}\n{extra}");
    let head = format!("vrrp_script chk {{\n    script \"{script}\"\n    interval 1\n    weight -60\n    fall 2\n    rise 2\n}}\n");
    let text = format!("{head}{}", c1.render().replacen("global_defs {\n", &format!("global_defs {{\n{global}"), 1));
    let d1 = lab.start(1, vigil(), &text);
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.1", &["192.0.2.100/24"]).render());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    std::fs::write(flag, "").unwrap();
    // fall 2 at 1 s: down after ~2 s; 150-60 = 90 < 100: n2 takes over.
    assert!(lab.wait_addr(2, VIP, true, Duration::from_secs(10)), "{}\n{}", d1.log(), d2.log());
    assert!(d1.log().contains("Changing effective priority from 150 to 90"), "{}", d1.log());
    std::fs::remove_file(flag).unwrap();
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    assert!(d1.log().contains("Changing effective priority from 90 to 150"), "{}", d1.log());
    d1
}

#[test]
fn track_script_weight_moves_mastership() {
    if !ready("track_script_weight_moves_mastership") {
        return;
    }
    let lab = Lab::new("ttsc", 2);
    let flag = lab.node_dir(1).join("fail");
    let script = lab.node_dir(1).join("check.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntest ! -e {}\n", flag.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    track_script_moves_mastership(&lab, &flag, &script.display().to_string(), "", "");
}

#[test]
fn vip_deleted_by_hand_is_noticed() {
    if !ready("vip_deleted_by_hand_is_noticed") {
        return;
    }
    let lab = Lab::new("tvip", 1);
    let d1 = lab.start(1, vigil(), &VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]).render());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    let o = lab.exec(1, &["ip", "addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    assert!(o.status.success());
    assert!(d1.wait_log("was removed by someone else", Duration::from_secs(3)), "{}", d1.log());
    // It drops to backup, then wins again (alone) and re-adds the VIP.
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(5)), "VIP not re-added\n{}", d1.log());
    assert!(d1.log().matches("Entering MASTER STATE").count() >= 2, "{}", d1.log());
}

#[test]
fn sync_group_moves_together() {
    if !ready("sync_group_moves_together") {
        return;
    }
    let lab = Lab::new("tsync", 2);
    add_eth1(&lab, 1);
    let conf = |n: usize, prio: u8, track: bool| {
        let mut a = VrrpConf::new(n, 3, prio, "0.1", &["192.0.2.100/24"]);
        if track {
            a.extra = "track_interface {\neth1\n}".into();
        }
        let mut b = VrrpConf::new(n, 3, prio, "0.1", &["192.0.2.101/24"]);
        b.vrid = 52;
        let b = b.render();
        // The second instance: same node, VRID 52, named VI_2.
        let b = b[b.find("vrrp_instance").unwrap()..].replace("VI_1", "VI_2");
        format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}\n{b}", a.render())
    };
    let d1 = lab.start(1, vigil(), &conf(1, 150, true));
    let d2 = lab.start(2, vigil(), &conf(2, 100, false));
    for vip in ["192.0.2.100", "192.0.2.101"] {
        assert!(lab.wait_addr(1, vip, true, Duration::from_secs(10)), "{vip}\n{}", d1.log());
    }
    set(&lab, 1, "eth1p", false);
    // VI_1 tracks eth1; VI_2 does not, but follows its group into FAULT.
    for vip in ["192.0.2.100", "192.0.2.101"] {
        assert!(lab.wait_addr(2, vip, true, Duration::from_secs(5)), "{vip} did not move\n{}\n{}", d1.log(), d2.log());
        assert!(lab.wait_addr(1, vip, false, Duration::from_secs(3)));
    }
    assert_eq!(d1.log().matches("Entering FAULT STATE").count(), 2, "{}", d1.log());
    set(&lab, 1, "eth1p", true);
    for vip in ["192.0.2.100", "192.0.2.101"] {
        assert!(lab.wait_addr(1, vip, true, Duration::from_secs(5)), "{vip} did not come back\n{}", d1.log());
    }
}

#[test]
fn notify_script_and_fifo_see_every_transition_in_order() {
    if !ready("notify_script_and_fifo_see_every_transition_in_order") {
        return;
    }
    let lab = Lab::new("tnot", 1);
    let dir = lab.node_dir(1);
    let out = dir.join("notify.out");
    let script = dir.join("notify.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fifo = dir.join("notify.fifo");
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: fifo_c is a NUL-terminated path alive across the call.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o644) }, 0);
    // Read the FIFO from a thread (opening for read blocks until the writer comes).
    let fifo_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&fifo_path).unwrap();
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut f, &mut s);
        s
    });
    let mut c = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c.extra = format!("notify {}", script.display());
    // notify_fifo goes into the global_defs that VrrpConf renders.
    let text = c.render().replacen("global_defs {\n", &format!("global_defs {{\n    notify_fifo {}\n", fifo.display()), 1);
    let d = lab.start(1, vigil(), &text);
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.kill(libc::SIGTERM));
    assert!(d.wait(Duration::from_secs(10)).is_some());
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    let want = "INSTANCE VI_1 BACKUP 150\nINSTANCE VI_1 MASTER 150\nINSTANCE VI_1 STOP 150\n";
    assert_eq!(got, want, "notify script saw:\n{got}\nlog:\n{}", d.log());
    let lines = reader.join().unwrap();
    let want_fifo = ["INSTANCE \"VI_1\" BACKUP 150", "INSTANCE \"VI_1\" MASTER 150", "INSTANCE \"VI_1\" STOP 150"];
    let got_fifo: Vec<&str> = lines.lines().filter(|l| l.starts_with("INSTANCE")).collect();
    assert_eq!(got_fifo, want_fifo, "fifo saw:\n{lines}");
}

#[test]
fn hanging_scripts_do_not_disturb_adverts() {
    if !ready("hanging_scripts_do_not_disturb_adverts") {
        return;
    }
    let lab = Lab::new("thang", 1);
    let script = lab.node_dir(1).join("hang.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 100\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut head = String::new();
    let mut track = String::from("track_script {\n");
    for i in 0..10 {
        head += &format!("vrrp_script hang{i} {{\n    script \"{}\"\n    interval 1\n    timeout 1\n    weight 0\n}}\n", script.display());
        track += &format!("hang{i} weight -1\n");
    }
    track += "}";
    let mut c = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c.extra = track;
    let probe = lab.probe(VIP);
    let d = lab.start(1, vigil(), &format!("{head}{}", c.render()));
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d.log());
    // 5 s of scripts hanging and being killed at their 1 s timeout.
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let tl = probe.finish();
    let adverts: Vec<Instant> = tl.events.iter().filter(|e| matches!(e.kind, Kind::Advert { .. }) && e.mac == lab.mac(1) && e.t >= from).map(|e| e.t).collect();
    assert!(adverts.len() > 30, "too few adverts seen: {}", adverts.len());
    let gap = adverts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!("largest gap between adverts while 10 scripts hang: {gap:?} ({} adverts)", adverts.len());
    assert!(gap < Duration::from_millis(500), "adverts stalled for {gap:?}");
    // The scripts really ran and timed out (fall 1: down after the first).
    assert!(d.log().matches(") Down (run 1)").count() >= 10, "{}", d.log());
    assert!(d.log().contains("to 140"), "{}", d.log());
    // No zombie among the VRRP child's children.
    let pid = std::fs::read_to_string(d.dir().join("vrrp.pid")).unwrap();
    let kids = std::fs::read_to_string(format!("/proc/{}/task/{}/children", pid.trim(), pid.trim())).unwrap_or_default();
    for k in kids.split_whitespace() {
        let st = std::fs::read_to_string(format!("/proc/{k}/stat")).unwrap_or_default();
        assert!(!st.contains(") Z "), "zombie {k}: {st}");
    }
}

#[test]
fn track_file_weight_moves_mastership() {
    if !ready("track_file_weight_moves_mastership") {
        return;
    }
    let lab = Lab::new("ttfile", 2);
    let file = lab.node_dir(1).join("prio");
    std::fs::write(&file, "0\n").unwrap();
    let mut c1 = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c1.extra = "track_file {\nprio\n}".into();
    let head = format!("vrrp_track_file prio {{\n    file {}\n    weight 60\n}}\n", file.display());
    let d1 = lab.start(1, vigil(), &format!("{head}{}", c1.render()));
    let d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.1", &["192.0.2.100/24"]).render());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    // -1 x 60: 150 - 60 = 90 < 100. Written by rename, as tools do.
    let tmp = lab.node_dir(1).join("prio.tmp");
    std::fs::write(&tmp, "-1\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    assert!(lab.wait_addr(2, VIP, true, Duration::from_secs(5)), "{}\n{}", d1.log(), d2.log());
    assert!(d1.log().contains("Changing effective priority from 150 to 90"), "{}", d1.log());
    // Written in place.
    std::fs::write(&file, "0\n").unwrap();
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(5)), "{}", d1.log());
    // -5 x 60 = -300: at or below -254 keepalived puts the instance in FAULT.
    std::fs::write(&file, "-5\n").unwrap();
    assert!(d1.wait_log("Entering FAULT STATE", Duration::from_secs(5)), "{}", d1.log());
}

#[test]
fn track_process_fault_when_it_dies() {
    if !ready("track_process_fault_when_it_dies") {
        return;
    }
    let lab = Lab::new("ttproc", 2);
    let marker = format!("{}", 900000 + std::process::id() % 90000);
    let mut proc_ = std::process::Command::new("sleep").arg(&marker).spawn().unwrap();
    let mut c1 = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]);
    c1.extra = "track_process {\nworker\n}".into();
    // keepalived's form: the parameters on the `process` line, matched exactly.
    let head = format!("vrrp_track_process worker {{\n    process sleep {marker}\n    weight 0\n}}\n");
    let d1 = lab.start(1, vigil(), &format!("{head}{}", c1.render()));
    let _d2 = lab.start(2, vigil(), &VrrpConf::new(2, 3, 100, "0.1", &["192.0.2.100/24"]).render());
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(10)), "{}", d1.log());
    let _ = proc_.kill();
    let _ = proc_.wait();
    assert!(d1.wait_log("Entering FAULT STATE", Duration::from_secs(5)), "{}", d1.log());
    assert!(lab.wait_addr(2, VIP, true, Duration::from_secs(5)));
    let mut again = std::process::Command::new("sleep").arg(&marker).spawn().unwrap();
    assert!(lab.wait_addr(1, VIP, true, Duration::from_secs(8)), "{}", d1.log());
    let _ = again.kill();
    let _ = again.wait();
}

#[test]
fn sync_group_notify_scripts() {
    if !ready("sync_group_notify_scripts") {
        return;
    }
    let lab = Lab::new("tgnot", 1);
    let dir = lab.node_dir(1);
    let out = dir.join("group.out");
    let script = dir.join("gnotify.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let a = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.100/24"]).render();
    let mut b = VrrpConf::new(1, 3, 150, "0.1", &["192.0.2.101/24"]);
    b.vrid = 52;
    let b = b.render();
    let b = b[b.find("vrrp_instance").unwrap()..].replace("VI_1", "VI_2");
    let text = format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    notify {}\n}}\n{a}\n{b}", script.display());
    let d = lab.start(1, vigil(), &text);
    for vip in ["192.0.2.100", "192.0.2.101"] {
        assert!(lab.wait_addr(1, vip, true, Duration::from_secs(10)), "{}", d.log());
    }
    std::thread::sleep(Duration::from_millis(500));
    d.kill(libc::SIGTERM);
    assert!(d.wait(Duration::from_secs(10)).is_some());
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(got, "GROUP G BACKUP 0\nGROUP G MASTER 0\nGROUP G STOP 0\n", "group notify saw:\n{got}\n{}", d.log());
}

/// vrrp_script and notify scripts by the machine's real /bin (on Debian 12
/// a symlink to usr/bin) under enable_script_security and script_user root:
/// keepalived 2.2.7 resolves `/bin/sh` to `/usr/bin/sh` and runs it; vigil
/// used to disable both ("wrong file type '/bin'"), so tracking silently
/// stopped.
#[test]
fn scripts_through_the_real_bin_track_under_script_security() {
    if !ready("scripts_through_the_real_bin_track_under_script_security") {
        return;
    }
    let lab = Lab::new("tbin", 2);
    let flag = lab.node_dir(1).join("fail");
    let out = lab.node_dir(1).join("notify.out");
    let d1 = track_script_moves_mastership(
        &lab,
        &flag,
        &format!("/bin/sh -c 'test ! -e {}'", flag.display()),
        "    enable_script_security\n    script_user root\n",
        &format!("notify_master \"/bin/sh -c 'echo master >> {}'\"", out.display()),
    );
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && std::fs::read_to_string(&out).unwrap_or_default().lines().count() < 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(got, "master\nmaster\n", "notify_master by /bin/sh ran at each MASTER\n{}", d1.log());
    assert!(!d1.log().contains("wrong file type"), "{}", d1.log());
}
