//! The files shipped for packagers under dist/: the systemd unit says what
//! Debian's keepalived.service says (Type=notify, --dont-fork, SIGHUP to
//! reload), vigil accepts its command line, and systemd-analyze finds the
//! unit valid when systemd is installed.

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/vigil.service")).unwrap()
}

fn value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn unit_runs_vigil_as_keepalived_runs() {
    let u = unit();
    assert_eq!(value(&u, "Type"), Some("notify"));
    assert_eq!(value(&u, "ExecStart"), Some("/usr/sbin/vigil --dont-fork $DAEMON_ARGS"));
    assert_eq!(value(&u, "ExecReload"), Some("/bin/kill -HUP $MAINPID"));
    assert_eq!(value(&u, "EnvironmentFile"), Some("-/etc/default/vigil"));
    assert_eq!(value(&u, "KillMode"), Some("mixed"));
    assert!(std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/vigil.default")).unwrap().contains("DAEMON_ARGS=\"\""));
    // The flags the unit passes are ones vigil takes (here with -t, which
    // checks a config and exits, so nothing is started).
    let dir = std::env::temp_dir().join(format!("vigil-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, "global_defs {\n    router_id dist\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["--dont-fork", "-t", "-f"]).arg(&conf).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn systemd_finds_the_unit_valid() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        skip::skip_or_fail("systemd-analyze not installed: dist/vigil.service not verified");
        return;
    }
    // Verified as installed, with this build in /usr/sbin/vigil's place
    // (systemd checks that the binary exists); the man pages may not be
    // installed here, so they are not looked up.
    let dir = std::env::temp_dir().join(format!("vigil-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let u = unit().replace("/usr/sbin/vigil", env!("CARGO_BIN_EXE_vigil"));
    let path = dir.join("vigil.service");
    std::fs::write(&path, u).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(Path::new(&path)).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "systemd-analyze verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
