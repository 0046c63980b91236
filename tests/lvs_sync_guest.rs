//! keepalived's `lvs_sync_daemon` in the QEMU guest, checked with Debian's `ipvsadm -L --daemon`
//! (the kernel's view, independent of our client), in one boot:
//!
//! 1. PID 1 boots a config whose VRRP instance VI_1 is alone on eth0 (so it becomes MASTER after
//!    its master-down interval) with `lvs_sync_daemon eth0 VI_1 id 5`: the backup daemon is
//!    started first (the log says so), then, once master, the master daemon runs with syncid 5
//!    and the backup one is gone.
//! 2. A tracked file (weight 0) set to 1 takes VI_1 to FAULT: the master daemon stops and the
//!    backup daemon runs, syncid 5.
//! 3. The file set back to 0: VI_1 becomes master again, and so does the daemon.
//! 4. A reload that keeps VI_1 (master) and the daemon's settings: the daemon is not touched.
//! 5. A reload without lvs_sync_daemon stops the daemon; a reload with it again starts the
//!    master daemon straight away (VI_1 stays master across reloads).
//! 6. poweroff: the VRRP child stops the master daemon on its way out (its log line).
//!
//! Needs the image (image/build), root and qemu-system-x86_64 like tests/qemu_boot.rs (a loud
//! skip without them, a failure under VIGIL_REQUIRE_ALL=1). The console transcript goes to
//! target/lvs_sync_guest.log.

mod guest;

use guest::{Node, NodeOpts, PROMPT, ShOut, missing_prerequisite, say};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TEST: &str = "lvs_sync_guest";
const QEMU_TIMEOUT: Duration = Duration::from_secs(240);
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
/// From a state change to the daemon the kernel reports: master-down (3 x 1 s + skew) plus
/// the kernel's start and stop of its sync threads, slow under TCG.
const SETTLE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);
const FAULT_FILE: &str = "/tmp/syncd_fault";

/// One instance alone on eth0 at `priority`, followed by the sync daemon when `syncd`.
fn config(priority: u8, syncd: bool) -> String {
    let syncd = if syncd { "    lvs_sync_daemon eth0 VI_1 id 5\n" } else { "" };
    format!(
        r#"! lvs_sync_guest
global_defs {{
    router_id syncd
{syncd}}}

vrrp_track_file syncd_fault {{
    file {FAULT_FILE}
    weight 0
    init_file 0
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        192.0.2.100/24
    }}
    track_file {{
        syncd_fault
    }}
}}

static_ipaddress {{
    192.0.2.1/24 dev eth0
}}
"#
    )
}

/// The daemons `ipvsadm -L --daemon` lists, as (role, syncid) pairs, e.g. from
/// `master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`.
fn daemons(out: &str) -> Vec<(String, String, u32)> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (role, rest) = l.split_once(" sync daemon (")?;
            let field = |k: &str| rest.split([',', ')']).map(str::trim).find_map(|f| f.strip_prefix(k)).map(str::to_owned);
            Some((role.to_owned(), field("mcast=")?, field("syncid=")?.parse().ok()?))
        })
        .collect()
}

fn only(role: &str) -> impl Fn(&ShOut) -> bool {
    let want = vec![(role.to_owned(), "eth0".to_owned(), 5)];
    move |r: &ShOut| r.status == 0 && daemons(&r.out) == want
}

/// Polls `ipvsadm -L --daemon` until only `role`'s daemon runs (eth0, syncid 5); the time taken.
fn wait_for(node: &mut Node, role: &str, since: Instant) -> Duration {
    let (r, ok) = node.sh_until("ipvsadm -L --daemon", POLL, SETTLE, only(role));
    if !ok {
        node.fail(&format!("only the {role} sync daemon (eth0, syncid 5) should run; ipvsadm -L --daemon: {:?}", r.out));
    }
    since.elapsed()
}

/// Copies /etc/keepalived/`file` over keepalived.conf, SIGHUPs PID 1 and waits until the VRRP
/// child has the new config in force.
fn reload(node: &mut Node, file: &str) {
    let before = node.transcript.len();
    node.sh_ok(&format!("cp /etc/keepalived/{file} /etc/keepalived/keepalived.conf && kill -HUP 1"), guest::COMMAND_TIMEOUT);
    let deadline = Instant::now() + SETTLE;
    while !node.transcript[before..].contains("vrrp child: config generation") {
        if Instant::now() >= deadline || !node.pump(POLL) {
            node.fail(&format!("the VRRP child did not take {file} within {SETTLE:?}"));
        }
    }
}

#[test]
fn parses_ipvsadm_daemon_lines() {
    let out = "master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
               backup sync daemon (mcast=eth1, syncid=7)\n";
    assert_eq!(daemons(out), vec![("master".into(), "eth0".into(), 5), ("backup".into(), "eth1".into(), 7)]);
    assert!(daemons("").is_empty());
}

#[test]
fn lvs_sync_daemon_follows_vrrp_state() {
    if let Some(why) = missing_prerequisite() {
        guest::skip_or_fail(TEST, &why);
        return;
    }
    let overlay = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lvs_sync_guest-overlay");
    let _ = std::fs::remove_dir_all(&overlay);
    std::fs::create_dir_all(overlay.join("etc/keepalived")).unwrap();
    let etc = overlay.join("etc/keepalived");
    std::fs::write(etc.join("keepalived.conf"), config(150, true)).unwrap();
    std::fs::write(etc.join("prio.conf"), config(151, true)).unwrap();
    std::fs::write(etc.join("nosync.conf"), config(151, false)).unwrap();
    std::fs::write(etc.join("sync.conf"), config(150, true)).unwrap();

    let started = Instant::now();
    let mut opts = NodeOpts::new(TEST, "syncd");
    opts.timeout = QEMU_TIMEOUT;
    opts.overlays.push(overlay);
    let mut node = Node::start(opts);
    node.expect(PROMPT, BOOT_TIMEOUT);
    let booted = Instant::now();
    say(&format!("{TEST}: prompt after {:.1} s", started.elapsed().as_secs_f64()));
    node.enter_shell();

    // 1. Alone on the link: master after master-down, and the master daemon with it.
    let to_master = wait_for(&mut node, "master", booted);
    let backup_at = node.transcript.find("lvs_sync_daemon: starting the backup daemon on eth0 syncid 5");
    let master_at = node.transcript.find("lvs_sync_daemon: starting the master daemon on eth0 syncid 5");
    match (backup_at, master_at) {
        (Some(b), Some(m)) if b < m => {}
        _ => node.fail("the log should show the backup daemon started before the master one"),
    }

    // 2. FAULT through the tracked file: backup daemon, master one stopped.
    let t = Instant::now();
    node.sh_ok(&format!("echo 1 > {FAULT_FILE}"), guest::COMMAND_TIMEOUT);
    let to_backup = wait_for(&mut node, "backup", t);

    // 3. Out of FAULT: master again after master-down.
    let t = Instant::now();
    node.sh_ok(&format!("echo 0 > {FAULT_FILE}"), guest::COMMAND_TIMEOUT);
    let to_master_again = wait_for(&mut node, "master", t);

    // 4. A reload that keeps VI_1 master and the daemon as it is: nothing is stopped or
    //    started (the new engine finds the daemon it wants running).
    let before = node.transcript.len();
    reload(&mut node, "prio.conf");
    std::thread::sleep(Duration::from_secs(2));
    wait_for(&mut node, "master", Instant::now());
    if node.transcript[before..].contains("lvs_sync_daemon: ") {
        node.fail("a reload that keeps the sync daemon as it was touched it");
    }

    // 5. A reload without lvs_sync_daemon stops it; one with it again starts the master
    //    daemon at once (VI_1 stays master across both).
    reload(&mut node, "nosync.conf");
    let (r, ok) = node.sh_until("ipvsadm -L --daemon", POLL, SETTLE, |r| r.status == 0 && daemons(&r.out).is_empty());
    if !ok {
        node.fail(&format!("the sync daemon should stop with a config without it: {:?}", r.out));
    }
    let t = Instant::now();
    reload(&mut node, "sync.conf");
    let after_reload = wait_for(&mut node, "master", t);

    // The helper thread's own timings, as logged: "(N ms)" per request.
    let timings: Vec<String> = node
        .transcript
        .split("lvs_sync_daemon: ")
        .skip(1)
        .filter_map(|s| s.find(')').map(|i| s[..=i].to_owned()))
        .collect();

    // 6. poweroff stops the master daemon.
    node.exit_shell();
    let t = Instant::now();
    let before = node.transcript.len();
    node.poweroff(POWEROFF_TIMEOUT);
    let stop_logged = node.transcript[before..].contains("lvs_sync_daemon: stopping the master daemon");
    say(&format!(
        "{TEST}: master daemon {:.1} s after the prompt; backup daemon {:.1} s after FAULT was asked; \
         master again {:.1} s after the fault cleared; {:.1} s after a reload brought it back; \
         poweroff {:.1} s; total {:.1} s",
        to_master.as_secs_f64(),
        to_backup.as_secs_f64(),
        to_master_again.as_secs_f64(),
        after_reload.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    say(&format!("{TEST}: requests: {}", timings.join("; ")));
    assert!(stop_logged, "{TEST}: no 'stopping the master daemon' at poweroff; see {}", node.log_path.display());
}
