//! Starting a child: the same binary re-executed from /proc/self/exe with
//! `--role`, its channel end as fd 3, nothing else inherited.

use crate::cli::{Options, Role};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The fd number a child finds its channel on.
pub const CHILD_IPC_FD: i32 = 3;

pub fn spawn_child(opts: &Options, role: Role, child_end: &OwnedFd) -> std::io::Result<u32> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(exe).args(opts.child_args(role));
    // Only the parent speaks to systemd (os::sdnotify).
    cmd.env_remove(crate::os::sdnotify::ENV);
    let fd = child_end.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: pre_exec's closure runs in the forked child of a possibly
    // multi-threaded parent, where only async-signal-safe calls are sound.
    // It makes only raw syscalls (prctl, getppid, _exit, dup2, fcntl,
    // close_range, sigemptyset/sigprocmask on a stack sigset): no allocation,
    // no locks. `fd` and `parent` are plain integers copied into the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(0);
            }
            // dup2 clears close-on-exec on the new fd; every other fd above
            // it goes, whatever its flags (a leak anywhere cannot reach us).
            if fd != CHILD_IPC_FD && libc::dup2(fd, CHILD_IPC_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if fd == CHILD_IPC_FD {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
            libc::syscall(libc::SYS_close_range, (CHILD_IPC_FD + 1) as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint);
            // The parent blocks the signals it reads through signalfd; the
            // mask survives exec, so clear it.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id())
}
