//! Signals are read through a signalfd on the scheduler, never handled in
//! an async signal handler. They must be blocked in every thread before any
//! thread exists, so `block` runs first thing in main.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
    // SignalFd closes on drop; move the fd out into an OwnedFd.
    let raw = sfd.as_raw_fd();
    let dup = nix::unistd::dup(raw)?;
    drop(sfd);
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    nix::fcntl::fcntl(owned.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    Ok(owned)
}

/// Reads one signal number; WouldBlock when none is pending.
pub fn read(fd: &OwnedFd) -> std::io::Result<i32> {
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n as usize != size {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "short signalfd read"));
    }
    Ok(info.ssi_signo as i32)
}

