//! enable_script_security and script_user, as keepalived. Runs as root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vigil::config::model::{GlobalDefs, Script};
use vigil::script::{RefuseReason, RunAs, ScriptCommand, ScriptOutcome, check_script, prepare_script, resolve_user, run_script, script_run_as};

/// Captures log lines, to check that a refusal names the path.
struct Capture(Mutex<Vec<String>>);
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}
static LOG: Capture = Capture(Mutex::new(Vec::new()));

fn logged(needle: &str) -> bool {
    LOG.0.lock().map(|v| v.iter().any(|l| l.contains(needle))).unwrap_or(false)
}

fn setup(tag: &str) -> PathBuf {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Trace);
    let p = std::env::temp_dir().join(format!("vigil-notify-sec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("mkdir");
    chmod(&p, 0o755);
    p
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
    chmod(&p, mode);
    p
}

const ROOT: RunAs = RunAs { uid: 0, gid: 0 };

#[test]
fn world_writable_script_is_refused_under_script_security() {
    let dir = setup("ww");
    let s = script(&dir, "ww.sh", "exit 0", 0o777);
    let sp = s.to_string_lossy().into_owned();
    let err = check_script(&sp, ROOT, true).expect_err("a 0777 script run as root must be refused");
    assert!(matches!(&err.reason, RefuseReason::Insecure { component, .. } if *component == s), "{err:?}");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains(&sp) && msg.contains("world-writable"), "{msg}");
    assert!(logged(&sp), "no log line names {sp}");
    // Without enable_script_security keepalived warns and runs it.
    let ok = check_script(&sp, ROOT, false).expect("runs with a warning");
    assert!(ok.insecure);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn root_owned_0755_script_in_0755_dir_is_accepted() {
    let dir = setup("ok");
    let s = script(&dir, "ok.sh", "exit 0", 0o755);
    let ok = check_script(&s.to_string_lossy(), ROOT, true).expect("accepted");
    assert_eq!((ok.path, ok.insecure), (s, false));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writable_directory_on_the_path_is_refused() {
    let dir = setup("wd");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    chmod(&sub, 0o777);
    let s = script(&sub, "s.sh", "exit 0", 0o755);
    let err = check_script(&s.to_string_lossy(), ROOT, true).expect_err("0777 dir");
    assert!(matches!(&err.reason, RefuseReason::Insecure { component, .. } if *component == sub), "{err:?}");
    // The sticky bit makes a world-writable directory safe (as /tmp).
    chmod(&sub, 0o1777);
    assert!(check_script(&s.to_string_lossy(), ROOT, true).is_ok());
    // A script owned by a non-root user is unsafe for root to run.
    std::os::unix::fs::chown(&s, Some(65534), None).expect("chown");
    let err = check_script(&s.to_string_lossy(), ROOT, true).expect_err("owned by nobody");
    assert!(err.to_string().contains("not owned by root"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_or_not_executable_is_disabled_even_without_security() {
    let dir = setup("nx");
    let s = script(&dir, "nx.sh", "exit 0", 0o644);
    let e = check_script(&s.to_string_lossy(), ROOT, false).expect_err("not executable");
    assert!(matches!(e.reason, RefuseReason::NotExecutable { .. }));
    let e = check_script(&dir.join("nope").to_string_lossy(), ROOT, false).expect_err("missing");
    assert_eq!(e.reason, RefuseReason::NotFound);
    // A bare name is searched in PATH.
    let ok = check_script("true", ROOT, true).expect("true in PATH");
    assert!(ok.path.is_absolute());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn script_user_nobody_runs_as_65534() {
    let dir = setup("nobody");
    let out = dir.join("out");
    std::fs::create_dir(&out).expect("mkdir");
    chmod(&out, 0o777);
    let (uid, gid) = resolve_user("nobody").expect("nobody exists");
    assert_eq!(uid, 65534);
    let s = script(&dir, "id.sh", &format!("echo $(id -u) $(id -G) > {}/id", out.display()), 0o755);
    // Global script_user, as the config model keeps it.
    let global = GlobalDefs {
        enable_script_security: true,
        script_user: Some(Script { argv: vec![], user: Some("nobody".into()), group: None }),
        ..Default::default()
    };
    let cfg = Script { argv: vec![s.to_string_lossy().into_owned()], user: None, group: None };
    assert_eq!(script_run_as(&cfg, &global), Ok(RunAs { uid, gid }));
    let cmd: ScriptCommand = prepare_script(&cfg, &global).expect("accepted for nobody");
    let outcome = smol::block_on(run_script(&cmd, Some(std::time::Duration::from_secs(10))));
    assert_eq!(outcome, ScriptOutcome::Exited(0));
    let id = std::fs::read_to_string(out.join("id")).expect("script output");
    // uid 65534, and only nobody's primary group (supplementary groups cleared).
    assert_eq!(id.trim(), format!("{uid} {gid}"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// GlobalDefs with enable_script_security and `script_user root`.
fn secure_root() -> GlobalDefs {
    GlobalDefs {
        enable_script_security: true,
        script_user: Some(Script { argv: vec![], user: Some("root".into()), group: None }),
        ..Default::default()
    }
}

/// The machine's real /bin (on Debian 12, merged /usr: a symlink to
/// usr/bin). keepalived 2.2.7 resolves the command first, so `/bin/sh` is
/// run as `/usr/bin/sh` and its components are all real directories; the
/// script runs under enable_script_security. vigil used to lstat `/bin`
/// itself and disable the script ("wrong file type '/bin'").
#[test]
fn bin_sh_through_the_real_bin_runs_under_script_security() {
    let dir = setup("binsh");
    let flag = dir.join("ok");
    let global = secure_root();
    let cfg = Script { argv: vec!["/bin/sh".into(), "-c".into(), format!("test -f {}", flag.display())], user: None, group: None };
    let cmd: ScriptCommand = prepare_script(&cfg, &global).expect("/bin/sh accepted under enable_script_security");
    let bin_is_link = std::fs::symlink_metadata("/bin").map(|m| m.file_type().is_symlink()).unwrap_or(false);
    let expect = if bin_is_link {
        std::fs::canonicalize("/bin").expect("realpath /bin").join("sh")
    } else {
        eprintln!("note: /bin is not a symlink here; the merged-/usr case is covered by the temp tree test only");
        PathBuf::from("/bin/sh")
    };
    let ok = check_script("/bin/sh", ROOT, true).expect("accepted");
    assert_eq!(ok.path, expect, "argv[0] is the resolved path, keeping the name sh");
    assert!(!ok.insecure);
    // It really runs, and its result is the test's.
    let run = |cmd: &ScriptCommand| smol::block_on(run_script(cmd, Some(std::time::Duration::from_secs(10))));
    assert_eq!(run(&cmd), ScriptOutcome::Exited(1));
    std::fs::write(&flag, "").expect("flag");
    assert_eq!(run(&cmd), ScriptOutcome::Exited(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A temp tree with a symlinked directory and a symlinked file:
///   real/dir/impl.sh, real/dir/name -> impl.sh, link -> real/dir,
///   etc/check -> real/dir/impl.sh
/// As keepalived: a symlinked directory is resolved (no "wrong file type");
/// a symlink chosen by name is run by that name in the real directory; a
/// symlink whose name is not in the real directory runs the real file; the
/// directory holding such a symlink is not walked, the real one is.
#[test]
fn symlinked_directories_and_files_are_resolved_as_keepalived() {
    let dir = setup("links");
    let real = dir.join("real/dir");
    std::fs::create_dir_all(&real).expect("mkdir");
    chmod(&dir.join("real"), 0o755);
    chmod(&real, 0o755);
    let imp = script(&real, "impl.sh", "exit 0", 0o755);
    std::os::unix::fs::symlink("impl.sh", real.join("name")).expect("symlink name");
    std::os::unix::fs::symlink("real/dir", dir.join("link")).expect("symlink dir");
    let etc = dir.join("etc");
    std::fs::create_dir(&etc).expect("mkdir etc");
    chmod(&etc, 0o755);
    std::os::unix::fs::symlink(&imp, etc.join("check")).expect("symlink check");
    let path_of = |p: PathBuf| check_script(&p.to_string_lossy(), ROOT, true).map(|a| a.path);

    assert_eq!(path_of(dir.join("link/impl.sh")), Ok(imp.clone()), "directory symlink resolved");
    assert_eq!(path_of(dir.join("link/name")), Ok(real.join("name")), "file name kept in the real directory");
    assert_eq!(path_of(etc.join("check")), Ok(imp.clone()), "name not in the real directory: the real file");

    // The symlink's own directory is not on the resolved path: keepalived
    // runs it even when that directory is world-writable.
    chmod(&etc, 0o777);
    assert_eq!(path_of(etc.join("check")), Ok(imp.clone()));
    chmod(&etc, 0o755);
    // The real directory is: refused.
    chmod(&real, 0o777);
    let err = check_script(&etc.join("check").to_string_lossy(), ROOT, true).expect_err("real dir world-writable");
    assert!(matches!(&err.reason, RefuseReason::Insecure { component, .. } if *component == real), "{err:?}");
    let err = check_script(&dir.join("link/name").to_string_lossy(), ROOT, true).expect_err("real dir world-writable");
    assert!(matches!(&err.reason, RefuseReason::Insecure { .. }), "{err:?}");
    chmod(&real, 0o755);
    let _ = std::fs::remove_dir_all(&dir);
}
