//! Signals are read through a signalfd on the scheduler, never handled in
//! an async signal handler. They must be blocked in every thread before any
//! thread exists, so `block` runs first thing in main.
//!
//! Signals are plain numbers here, not nix's `Signal`, because keepalived's
//! JSON and STATS_CLEAR signals are real-time signals nix has no name for.

use std::os::fd::{FromRawFd, OwnedFd};

/// keepalived's JSON dump signal: SIGRTMIN + 2 as glibc numbers it (34 + 2),
/// the number `keepalived --signum=JSON` prints on Linux. Fixed rather than
/// computed: musl's SIGRTMIN is 35, and scripts send what keepalived prints.
pub const SIGJSON: i32 = 36;
/// keepalived's STATS_CLEAR signal: SIGRTMAX - 1 (63), as `--signum=STATS_CLEAR` prints.
pub const SIGSTATS_CLEAR: i32 = 63;

pub const PARENT_SIGNALS: &[i32] = &[
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPWR,
    SIGJSON,
    SIGSTATS_CLEAR,
];
pub const CHILD_SIGNALS: &[i32] =
    &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGCHLD, SIGJSON, SIGSTATS_CLEAR];

/// keepalived's `--signum` names and the numbers it prints for them.
pub const SIGFUNCS: &[(&str, i32)] = &[
    ("STOP", libc::SIGTERM),
    ("RELOAD", libc::SIGHUP),
    ("DATA", libc::SIGUSR1),
    ("STATS", libc::SIGUSR2),
    ("STATS_CLEAR", SIGSTATS_CLEAR),
    ("JSON", SIGJSON),
];

/// The signal keepalived's `--signum=NAME` names (names are case-sensitive, as keepalived's).
pub fn signum(name: &str) -> Option<i32> {
    SIGFUNCS.iter().find(|(n, _)| *n == name).map(|&(_, s)| s)
}

/// What a dump signal asks for (keepalived's DATA, STATS, STATS_CLEAR, JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dump {
    Data,
    Stats,
    /// The stats file is written, then the counters it shows are cleared.
    StatsClear,
    Json,
}

impl Dump {
    pub fn from_signal(sig: i32) -> Option<Dump> {
        match sig {
            libc::SIGUSR1 => Some(Dump::Data),
            libc::SIGUSR2 => Some(Dump::Stats),
            SIGSTATS_CLEAR => Some(Dump::StatsClear),
            SIGJSON => Some(Dump::Json),
            _ => None,
        }
    }
}

fn set(sigs: &[i32]) -> std::io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut s: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut s) };
    for &sig in sigs {
        // SAFETY: as above; an invalid number is reported, not undefined.
        if unsafe { libc::sigaddset(&mut s, sig) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(s)
}

/// Blocks `sigs` for this thread (and every thread it later creates).
pub fn block(sigs: &[i32]) -> std::io::Result<()> {
    let s = set(sigs)?;
    // SAFETY: `s` is initialised; the old mask is not asked for.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &s, std::ptr::null_mut()) };
    if r != 0 {
        return Err(std::io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// A non-blocking, close-on-exec signalfd for `sigs` (already blocked).
pub fn signalfd(sigs: &[i32]) -> std::io::Result<OwnedFd> {
    let s = set(sigs)?;
    // SAFETY: -1 asks for a new fd; `s` is initialised.
    let fd = unsafe { libc::signalfd(-1, &s, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one signal number; WouldBlock when none is pending.
pub fn read(fd: &OwnedFd) -> std::io::Result<i32> {
    use std::os::fd::AsRawFd;
    // The bytes of one signalfd_siginfo; only ssi_signo is looked at.
    let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    let n = nix::unistd::read(fd.as_raw_fd(), &mut info)?;
    if n != info.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "short signalfd read"));
    }
    let at = std::mem::offset_of!(libc::signalfd_siginfo, ssi_signo);
    let signo = u32::from_ne_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]);
    Ok(signo as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signum_names_are_keepalived_s() {
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("STATS_CLEAR"), Some(63));
        assert_eq!(signum("JSON"), Some(36));
        assert_eq!(signum("json"), None);
        assert_eq!(signum("TDATA"), None);
    }

    #[test]
    fn the_real_time_signals_can_be_blocked() {
        // Within range on glibc and musl alike.
        assert!(set(&[SIGJSON, SIGSTATS_CLEAR]).is_ok());
        assert_eq!(Dump::from_signal(36), Some(Dump::Json));
        assert_eq!(Dump::from_signal(63), Some(Dump::StatsClear));
    }
}
