//! Signals are read through a signalfd on the scheduler, never handled in
//! an async signal handler. They must be blocked in every thread before any
//! thread exists, so `block` runs first thing in main.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub const PARENT_SIGNALS: &[Signal] =
    &[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGPWR];
pub const CHILD_SIGNALS: &[Signal] = &[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGCHLD];

fn set(sigs: &[Signal]) -> SigSet {
    let mut s = SigSet::empty();
    for &sig in sigs {
        s.add(sig);
    }
    s
}

/// Blocks `sigs` for this thread (and every thread it later creates).
pub fn block(sigs: &[Signal]) -> nix::Result<()> {
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set(sigs)), None)
}

/// A non-blocking, close-on-exec signalfd for `sigs` (already blocked).
pub fn signalfd(sigs: &[Signal]) -> std::io::Result<OwnedFd> {
    let sfd = SignalFd::with_flags(&set(sigs), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    // SignalFd closes on drop and (in nix 0.29) cannot be turned into an
    // OwnedFd: keep a close-on-exec duplicate (F_DUPFD_CLOEXEC) instead.
    let owned = sfd.as_fd().try_clone_to_owned()?;
    drop(sfd);
    Ok(owned)
}

/// Reads one signal number; WouldBlock when none is pending.
pub fn read(fd: &OwnedFd) -> std::io::Result<i32> {
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

