//! notify scripts and the notify FIFO see transitions exactly as keepalived
//! reports them, in order.

use smol::LocalExecutor;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;
use vigil::notify::{NotifyFifo, NotifyScripts, NotifyState, Notifier};
use vigil::script::{RunAs, ScriptCommand};

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vigil-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_script(path: &Path, body: &str) -> ScriptCommand {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    ScriptCommand::new(vec![path.to_string_lossy().into_owned()], RunAs::current())
}

fn notifier(ex: &Rc<LocalExecutor<'static>>) -> Notifier {
    let ex = ex.clone();
    Notifier::new(move |f| ex.spawn(f).detach())
}

const SEQ: [NotifyState; 6] = [
    NotifyState::Backup,
    NotifyState::Master,
    NotifyState::Fault,
    NotifyState::Backup,
    NotifyState::Master,
    NotifyState::Stop,
];

#[test]
fn notify_script_gets_keepalived_args_in_order() {
    let dir = TempDir::new("args");
    let out = dir.0.join("out");
    let o = out.display();
    // A random sleep: without per-instance ordering the lines would shuffle.
    let generic = write_script(&dir.0.join("notify.sh"), &format!("sleep 0.0$(( $$ % 5 )); echo \"$*\" >> {o}"));
    let master = write_script(&dir.0.join("master.sh"), &format!("echo master-script >> {o}"));
    let scripts = NotifyScripts { notify: Some(generic.clone()), master: Some(master), ..Default::default() };
    let group_scripts = NotifyScripts { notify: Some(generic), ..Default::default() };
    let ex = Rc::new(LocalExecutor::new());
    let n = notifier(&ex);
    smol::block_on(ex.run(async {
        for s in SEQ {
            n.instance_state("VI_1", &scripts, s, 150);
        }
        n.group_state("G1", &group_scripts, NotifyState::Master);
        assert!(n.idle(Duration::from_secs(20)).await, "notify scripts did not finish");
    }));
    let got = std::fs::read_to_string(&out).expect("notify output");
    let instance: Vec<&str> = got.lines().filter(|l| !l.starts_with("GROUP")).collect();
    assert_eq!(
        instance,
        vec![
            "INSTANCE VI_1 BACKUP 150",
            "master-script",
            "INSTANCE VI_1 MASTER 150",
            "INSTANCE VI_1 FAULT 150",
            "INSTANCE VI_1 BACKUP 150",
            "master-script",
            "INSTANCE VI_1 MASTER 150",
            "INSTANCE VI_1 STOP 150",
        ]
    );
    assert!(got.lines().any(|l| l == "GROUP G1 MASTER 0"), "{got}");
    let c = n.counters();
    assert_eq!((c.transitions, c.scripts_started, c.spawn_failed), (7, 9, 0));
}

#[test]
fn fifo_gets_the_same_lines_in_order() {
    let dir = TempDir::new("fifo");
    let path = dir.0.join("fifo");
    let cpath = std::ffi::CString::new(path.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    let want: Vec<String> = SEQ
        .iter()
        .map(|s| format!("INSTANCE \"VI_1\" {} 150", s.as_str()))
        .chain(["INSTANCE \"VI_1\" MASTER_PRIORITY 90".to_string(), "GROUP \"G1\" FAULT 0".to_string()])
        .collect();
    let n_lines = want.len();
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        let f = std::fs::File::open(&reader_path).expect("open fifo for reading");
        BufReader::new(f).lines().take(n_lines).map(|l| l.expect("line")).collect::<Vec<_>>()
    });
    let ex = Rc::new(LocalExecutor::new());
    let n = notifier(&ex);
    n.add_fifo(NotifyFifo::open(&path, None).expect("open fifo"));
    let none = NotifyScripts::default();
    for s in SEQ {
        n.instance_state("VI_1", &none, s, 150);
    }
    n.priority_change("VI_1", true, 90);
    n.group_state("G1", &none, NotifyState::Fault);
    let got = reader.join().expect("reader");
    assert_eq!(got, want);
    assert_eq!((n.counters().fifo_written, n.counters().fifo_dropped), (n_lines as u64, 0));
}

#[test]
fn full_fifo_drops_and_counts_without_blocking() {
    let dir = TempDir::new("full");
    let path = dir.0.join("fifo");
    let mut fifo = NotifyFifo::open(&path, None).expect("create and open fifo");
    assert!(path.exists());
    let line = "INSTANCE \"VI_1\" MASTER 150\n";
    let start = std::time::Instant::now();
    let ok = (0..20_000).filter(|_| fifo.write_line(line)).count();
    let (written, dropped) = fifo.counters();
    println!("no reader: {written} lines fit, {dropped} dropped in {:?}", start.elapsed());
    assert!(ok > 0 && dropped > 0 && written + dropped == 20_000);
    drop(fifo);
    assert!(!path.exists(), "a fifo we created is unlinked on close");
}

#[test]
fn a_regular_file_is_not_used_as_fifo() {
    let dir = TempDir::new("notfifo");
    let path = dir.0.join("plain");
    std::fs::write(&path, "").expect("write");
    assert!(NotifyFifo::open(&path, None).is_err());
}
