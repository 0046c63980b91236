//! `vrrp_track_file` and `vrrp_track_process`, watched on the VRRP child's
//! scheduler without blocking it.
//!
//! A tracked file holds a number (keepalived reads the integer at its start;
//! anything else reads as 0). It is watched with inotify on its directory,
//! so a file written in place, replaced by rename, created or deleted is
//! seen at once. A tracked process is looked for in /proc every `delay`
//! (default 1 s): it is up while the number of matching processes is
//! between `quorum` and `quorum_max`.

use crate::config::model::{TrackFileDef, TrackProcessDef};
use std::ffi::CString;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::Duration;

/// The number in a tracked file, as keepalived reads it.
pub fn parse_value(text: &str) -> i64 {
    let t = text.trim_start();
    let end = t.char_indices().find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))).map_or(t.len(), |(i, _)| i);
    t[..end].parse().unwrap_or(0)
}

pub fn read_value(path: &Path) -> i64 {
    std::fs::read_to_string(path).map(|s| parse_value(&s)).unwrap_or(0)
}

/// keepalived's `init_file VALUE [overwrite]`: create the file with VALUE
/// if it is missing (or always, with overwrite).
pub fn init_file(def: &TrackFileDef) {
    if let Some((value, overwrite)) = def.init_file {
        let p = Path::new(&def.file);
        if overwrite || !p.exists() {
            if let Err(e) = std::fs::write(p, format!("{value}\n")) {
                log::warn!("track_file {}: cannot initialise {}: {e}", def.name, def.file);
            }
        }
    }
}

/// Calls `on_value` with the file's value now and after every change.
pub async fn watch_file(def: TrackFileDef, mut on_value: impl FnMut(i64)) {
    init_file(&def);
    let path = std::path::PathBuf::from(&def.file);
    let mut last = read_value(&path);
    on_value(last);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let ino = match inotify(dir) {
        Ok(fd) => fd,
        Err(e) => {
            // No inotify: fall back to reading it every second.
            log::warn!("track_file {}: inotify on {}: {e}; polling", def.name, dir.display());
            loop {
                async_io::Timer::after(Duration::from_secs(1)).await;
                let v = read_value(&path);
                if v != last {
                    last = v;
                    on_value(v);
                }
            }
        }
    };
    let mut buf = [0u8; 4096];
    loop {
        if ino.readable().await.is_err() {
            async_io::Timer::after(Duration::from_secs(1)).await;
        }
        // Drain the events; which file they name matters little: re-read ours.
        while matches!(nix::unistd::read(ino.get_ref().as_fd().as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
        let v = read_value(&path);
        if v != last {
            last = v;
            on_value(v);
        }
    }
}

fn inotify(dir: &Path) -> std::io::Result<async_io::Async<Inotify>> {
    let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MODIFY;
    fd.add_watch(c.as_c_str(), mask)?;
    async_io::Async::new(fd)
}

/// How keepalived compares a process's parameters with the ones on the
/// `process` line (its check_params): both as NUL-terminated words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParamMatch {
    /// Parameters not looked at (no parameters, no `param_match`).
    Any,
    /// The same parameters, no more (`param_match`, or parameters given).
    Exact,
    /// The process's parameters start with ours, whole words
    /// (`param_match partial`).
    Partial,
    /// The process's parameters start with ours, the last of ours may be
    /// the start of a word (`param_match initial`).
    Initial,
}

fn param_match(def: &TrackProcessDef) -> ParamMatch {
    match def.param_match.as_deref() {
        Some("partial") => ParamMatch::Partial,
        Some("initial") => ParamMatch::Initial,
        Some(_) => ParamMatch::Exact,
        None if def.process.len() > 1 => ParamMatch::Exact,
        None => ParamMatch::Any,
    }
}

/// The parameters of the `process` line as keepalived keeps them: each
/// followed by a NUL, as in /proc/PID/cmdline. Built once per count.
fn params_bytes(def: &TrackProcessDef) -> Vec<u8> {
    def.process.iter().skip(1).flat_map(|p| p.bytes().chain([0])).collect()
}

/// Whether a process with `comm` and NUL-separated `cmdline` is one that
/// `def` tracks, as keepalived's track_process decides: by name (its comm,
/// at most 15 bytes) or, with `full_command`, parameters or `param_match`,
/// by argv[0] and the parameters after it (`ours`: `params_bytes(def)`).
fn process_matches(def: &TrackProcessDef, ours: &[u8], comm: &str, cmdline: &[u8]) -> bool {
    let Some(want) = def.process.first() else { return false };
    let mode = param_match(def);
    if def.full_command || mode != ParamMatch::Any {
        let (argv0, params) = match cmdline.iter().position(|&b| b == 0) {
            Some(i) => (&cmdline[..i], &cmdline[i + 1..]),
            None => (cmdline, &[][..]),
        };
        if argv0 != want.as_bytes() {
            return false;
        }
        match mode {
            ParamMatch::Any => true,
            ParamMatch::Exact => params == ours,
            _ if ours.is_empty() => true,
            ParamMatch::Partial => params.starts_with(ours),
            ParamMatch::Initial => params.starts_with(&ours[..ours.len() - 1]),
        }
    } else {
        // The kernel keeps 15 bytes of a process's name.
        let name = want.as_bytes();
        comm.as_bytes() == &name[..name.len().min(15)]
    }
}

/// How many running processes match the definition.
pub fn count_processes(def: &TrackProcessDef) -> u32 {
    let ours = params_bytes(def);
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir("/proc") else { return 0 };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|s| s.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if process_matches(def, &ours, comm.trim_end(), &cmdline) {
            n += 1;
        }
    }
    n
}

/// Calls `on_up` with whether the process is up now and at each change.
pub async fn watch_process(def: TrackProcessDef, mut on_up: impl FnMut(bool)) {
    let quorum = def.quorum.max(1);
    let max = def.quorum_max.unwrap_or(u32::MAX);
    let period = def.delay.map(|d| Duration::from_micros(d.0)).filter(|d| !d.is_zero()).unwrap_or(Duration::from_secs(1));
    let mut last = None;
    loop {
        let n = count_processes(&def);
        let up = n >= quorum && n <= max;
        if last != Some(up) {
            last = Some(up);
            on_up(up);
        }
        async_io::Timer::after(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(process: &[&str], param_match: Option<&str>, full_command: bool) -> TrackProcessDef {
        TrackProcessDef {
            process: process.iter().map(|s| s.to_string()).collect(),
            param_match: param_match.map(str::to_string),
            full_command,
            ..TrackProcessDef::default()
        }
    }

    fn matches(d: &TrackProcessDef, comm: &str, cmdline: &[u8]) -> bool {
        process_matches(d, &params_bytes(d), comm, cmdline)
    }

    /// keepalived's check_params and name rules, case by case.
    #[test]
    fn processes_match_as_keepalived_matches_them() {
        let cmd = b"/usr/sbin/nginx\0-c\0/etc/nginx.conf\0";
        // By name (comm), parameters not looked at.
        assert!(matches(&def(&["nginx"], None, false), "nginx", cmd));
        assert!(!matches(&def(&["nginx"], None, false), "nginx-worker", cmd));
        assert!(matches(&def(&["a_very_long_process_name"], None, false), "a_very_long_pro", b""));
        // full_command: argv[0] as written, any parameters.
        assert!(matches(&def(&["/usr/sbin/nginx"], None, true), "nginx", cmd));
        assert!(!matches(&def(&["nginx"], None, true), "nginx", cmd));
        // Parameters given: exact by default.
        assert!(matches(&def(&["/usr/sbin/nginx", "-c", "/etc/nginx.conf"], None, false), "nginx", cmd));
        assert!(!matches(&def(&["/usr/sbin/nginx", "-c"], None, false), "nginx", cmd));
        // `param_match` alone: exact, so no parameters at all.
        assert!(!matches(&def(&["/usr/sbin/nginx"], Some("exact"), false), "nginx", cmd));
        assert!(matches(&def(&["/usr/sbin/nginx"], Some("exact"), false), "nginx", b"/usr/sbin/nginx\0"));
        // partial: whole leading words; initial: the last may be cut short.
        assert!(matches(&def(&["/usr/sbin/nginx", "-c"], Some("partial"), false), "nginx", cmd));
        assert!(!matches(&def(&["/usr/sbin/nginx", "-c", "/etc/ng"], Some("partial"), false), "nginx", cmd));
        assert!(matches(&def(&["/usr/sbin/nginx", "-c", "/etc/ng"], Some("initial"), false), "nginx", cmd));
        assert!(!matches(&def(&["/usr/sbin/nginx", "-x"], Some("initial"), false), "nginx", cmd));
        assert!(matches(&def(&["/usr/sbin/nginx"], Some("partial"), false), "nginx", cmd));
    }

    #[test]
    fn values_as_keepalived_reads_them() {
        assert_eq!(parse_value("42\n"), 42);
        assert_eq!(parse_value("  -7 apples"), -7);
        assert_eq!(parse_value("abc"), 0);
        assert_eq!(parse_value(""), 0);
        assert_eq!(parse_value("99999999999999999999999"), 0);
    }
}
