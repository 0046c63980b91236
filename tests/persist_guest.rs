//! A configuration from outside the image, as a board keeps it: a disk with
//! keepalived/keepalived.conf, named by `vigil_persist=/dev/vda` on the kernel command line.
//! First boot: PID 1 runs it and keeps a last good copy. Then the file is broken in the guest and
//! the guest powered off; second boot: the appliance runs the last good copy (and says so), a
//! reload of the still-broken file is refused, and a fixed file is taken by the next reload.

mod guest;

use guest::{Node, NodeOpts, PROMPT, missing_prerequisite, say};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TEST: &str = "persist_guest";
const BOOT: Duration = Duration::from_secs(150);

fn config(router_id: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router_id}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority 100\n    advert_int 1\n\
         \x20   virtual_ipaddress {{\n        192.0.2.61/24\n    }}\n}}\n"
    )
}

fn boot(disk: &Path, n: usize) -> Node {
    let mut opts = NodeOpts::new(TEST, &format!("persist{n}"));
    opts.timeout = Duration::from_secs(300);
    opts.log_path = guest::root().join(format!("target/{TEST}-{n}.log"));
    opts.args = vec!["--disk".into(), disk.display().to_string(), "--append".into(), "vigil_persist=/dev/vda".into()];
    let mut node = Node::start(opts);
    node.expect(PROMPT, BOOT);
    node
}

/// The router_id the children run (status json), once both have applied a config.
/// The router_id the children run, once it is `want` (asked again while the
/// children are still starting or applying a config, within a bound): the
/// last one seen.
fn router_id(node: &mut Node, want: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = node.command("status json");
        let at = out.find("\"router_id\": \"").map(|i| i + "\"router_id\": \"".len());
        let id = at.and_then(|i| out[i..].split('"').next()).unwrap_or("").to_string();
        if id == want || std::time::Instant::now() >= deadline {
            return id;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_bad_persistent_config_leaves_the_last_good_one_running() {
    if let Some(why) = missing_prerequisite() {
        guest::skip_or_fail(TEST, &why);
        return;
    }
    if !guest::on_path("mkfs.ext4") {
        guest::skip_or_fail(TEST, "mkfs.ext4 not installed (e2fsprogs)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigil-{TEST}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("fs/keepalived")).unwrap();
    std::fs::write(dir.join("fs/keepalived/keepalived.conf"), config("persist_good")).unwrap();
    let disk = dir.join("persist.img");
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(dir.join("fs"))
        .arg(&disk)
        .arg("16M")
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.ext4: {}", String::from_utf8_lossy(&out.stderr));

    // First boot: the persistent config runs, and a last good copy is kept.
    let mut node = boot(&disk, 1);
    node.line_with("persist: /dev/vda (ext4) mounted at /persist", Duration::from_secs(10))
        .unwrap_or_else(|| node.fail("the persistent disk was not mounted"));
    let id = router_id(&mut node, "persist_good");
    if id != "persist_good" {
        node.fail(&format!("router_id {id:?}, not the persistent config's"));
    }
    node.enter_shell();
    let kept = node.sh_ok("cat /persist/keepalived/keepalived.conf.last-good", guest::COMMAND_TIMEOUT);
    assert!(kept.contains("router_id persist_good"), "{kept}");
    // A bad edit, then a clean poweroff.
    node.sh_ok("echo 'vrrp_instance VI_2 {' >> /persist/keepalived/keepalived.conf && sync", guest::COMMAND_TIMEOUT);
    node.poweroff(Duration::from_secs(60));

    // Second boot: the last good copy runs; the broken file is named.
    let mut node = boot(&disk, 2);
    node.line_with("running the last good configuration", Duration::from_secs(10))
        .unwrap_or_else(|| node.fail("no 'running the last good configuration' line"));
    let id = router_id(&mut node, "persist_good");
    if id != "persist_good" {
        node.fail(&format!("router_id {id:?} after a bad edit, not the last good one"));
    }
    // A reload of the broken file is refused; the fixed one is taken.
    node.send("reload");
    node.line_with("reload refused", Duration::from_secs(20)).unwrap_or_else(|| node.fail("the broken file was not refused"));
    node.expect(PROMPT, guest::COMMAND_TIMEOUT);
    node.enter_shell();
    let fixed = config("persist_fixed").replace('\n', "\\n");
    node.sh_ok(&format!("printf '{fixed}' > /persist/keepalived/keepalived.conf && sync"), guest::COMMAND_TIMEOUT);
    node.exit_shell();
    node.send("reload");
    node.line_with("configuration generation 2 accepted", Duration::from_secs(20)).unwrap_or_else(|| node.fail("the fixed file was not taken"));
    node.expect(PROMPT, guest::COMMAND_TIMEOUT);
    let id = router_id(&mut node, "persist_fixed");
    if id != "persist_fixed" {
        node.fail(&format!("router_id {id:?} after the fixed reload"));
    }
    node.enter_shell();
    let kept = node.sh_ok("cat /persist/keepalived/keepalived.conf.last-good", guest::COMMAND_TIMEOUT);
    assert!(kept.contains("router_id persist_fixed"), "the accepted reload is the new last good copy: {kept}");
    node.poweroff(Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    say(&format!("{TEST}: persistent config ran, a bad edit fell back to the last good copy, a fix was reloaded"));
}
