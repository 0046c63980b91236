//! Running one script as a child process without ever blocking the scheduler.
//!
//! The child is forked with `std::process::Command` and set up the way
//! keepalived sets up its scripts (`system_call_script` in its notify.c): its
//! own process group, stdio on /dev/null, every inherited fd above stderr
//! marked close-on-exec, default signal dispositions and an empty signal
//! mask, the script user's uid/gid with no supplementary groups, SIGTERM when
//! we die, and keepalived's environment scrubbing.
//!
//! The exit is awaited through a pidfd (`pidfd_open`) registered with
//! async-io, then reaped with `waitid(P_PIDFD)`: no SIGCHLD handler, no
//! `waitpid(-1)` that could steal another module's child, and no zombie left
//! behind. A timeout SIGKILLs the whole process group (grandchildren too).

use async_io::{Async, Timer};
use smol::future;
use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The PATH a script gets when we have none (PID 1 starts with no PATH).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables keepalived removes before exec ("defence in depth").
const SCRUBBED_ENV: [&str; 3] = ["IFS", "LD_PRELOAD", "LD_LIBRARY_PATH"];

/// The uid/gid a script runs as, resolved once at config time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// Whoever we are now (keepalived's fallback when no script user exists).
    pub fn current() -> RunAs {
        RunAs { uid: nix::unistd::geteuid().as_raw(), gid: nix::unistd::getegid().as_raw() }
    }
}

/// A script ready to run: argv as configured (argv[0] an absolute path once
/// `security::check_script` resolved it) and who runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCommand {
    pub argv: Vec<String>,
    pub run_as: RunAs,
}

impl ScriptCommand {
    pub fn new(argv: Vec<String>, run_as: RunAs) -> ScriptCommand {
        ScriptCommand { argv, run_as }
    }

    /// The same command with `extra` appended (the generic `notify` script
    /// gets `TYPE NAME STATE PRIORITY`).
    pub fn with_args<I: IntoIterator<Item = String>>(&self, extra: I) -> ScriptCommand {
        let mut argv = self.argv.clone();
        argv.extend(extra);
        ScriptCommand { argv, run_as: self.run_as }
    }
}

/// Why a script could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    EmptyArgv,
    /// fork/exec (or the set-up before exec) failed with this errno.
    Exec(i32),
    /// pidfd_open failed (kernel older than 5.3?); the child was killed and reaped.
    Pidfd(i32),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::EmptyArgv => write!(f, "empty command"),
            SpawnError::Exec(e) => write!(f, "cannot execute: {}", std::io::Error::from_raw_os_error(*e)),
            SpawnError::Pidfd(e) => write!(f, "pidfd_open: {}", std::io::Error::from_raw_os_error(*e)),
        }
    }
}

/// How a script run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOutcome {
    Exited(i32),
    Signaled(i32),
    /// Ran past its timeout; its process group was SIGKILLed and it was reaped.
    TimedOut,
    SpawnFailed(SpawnError),
}

impl ScriptOutcome {
    /// keepalived's notion of a vrrp_script success: exit status 0.
    pub fn success(&self) -> bool {
        matches!(self, ScriptOutcome::Exited(0))
    }
}

/// A started script, not yet reaped. Dropping it without awaiting `wait`
/// SIGKILLs its process group and leaves the reap to the next spawn.
pub struct RunningScript {
    pid: libc::pid_t,
    pidfd: Option<Async<OwnedFd>>,
    /// Started by this process's script helper (a child role's scripts).
    remote: Option<super::helper::Remote>,
}

thread_local! {
    /// pidfds of killed children whose owner went away before reaping them.
    /// Swept (WNOHANG) at every start; bounded by how many runs get cancelled.
    static ORPHANS: RefCell<Vec<OwnedFd>> = const { RefCell::new(Vec::new()) };
}

fn sweep_orphans() {
    ORPHANS.with(|o| {
        if let Ok(mut list) = o.try_borrow_mut() {
            list.retain(|fd| reap(fd.as_raw_fd(), true).is_none());
        }
    });
}

/// Reaps through a pidfd. `Some(outcome)` once reaped; None while it runs
/// (only with `nohang`).
fn reap(pidfd: i32, nohang: bool) -> Option<ScriptOutcome> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | if nohang { libc::WNOHANG } else { 0 };
        // SAFETY: pidfd is an fd we own; info is a valid out-pointer.
        let r = unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, flags) };
        if r < 0 {
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            match e {
                libc::EINTR => continue,
                // O_NONBLOCK pidfd of a running child.
                libc::EAGAIN => return None,
                // Already reaped (ECHILD): nothing left to wait for.
                _ => return Some(ScriptOutcome::Exited(-1)),
            }
        }
        // SAFETY: waitid succeeded, so si_pid/si_status are set for WEXITED.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return None; // WNOHANG and still running
        }
        return Some(match info.si_code {
            libc::CLD_EXITED => ScriptOutcome::Exited(status),
            _ => ScriptOutcome::Signaled(status),
        });
    }
}

fn kill_group(pgid: libc::pid_t) {
    // The leader is unreaped until we waitid, so its pid (= the pgid) cannot
    // have been reused: this signals only the script's own group.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pgid), nix::sys::signal::Signal::SIGKILL);
}

fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, i32> {
    // SAFETY: plain syscall; a non-negative return is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn build_command(cmd: &ScriptCommand) -> Option<Command> {
    let (prog, args) = cmd.argv.split_first()?;
    let mut c = Command::new(prog);
    c.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    for var in SCRUBBED_ENV {
        c.env_remove(var);
    }
    if std::env::var_os("PATH").is_none() {
        c.env("PATH", DEFAULT_PATH);
    }
    // keepalived: `setgroups` to the user's list (empty unless
    // set_supplementary_groups); std clears supplementary groups itself
    // when it changes uid as root.
    let me = RunAs::current();
    if cmd.run_as.gid != me.gid {
        c.gid(cmd.run_as.gid);
    }
    if cmd.run_as.uid != me.uid {
        c.uid(cmd.run_as.uid);
    }
    c.process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            // Mark (not close) every fd above stderr close-on-exec, as
            // keepalived: std's own exec-error pipe must survive until exec.
            let r = libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC);
            if r < 0 {
                // Pre-5.11 kernel: set FD_CLOEXEC one by one up to the limit.
                let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(0, 65536) as i32;
                for fd in 3..max {
                    let fl = libc::fcntl(fd, libc::F_GETFD);
                    if fl >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, fl | libc::FD_CLOEXEC);
                    }
                }
            }
            // Ignored signals survive exec; scripts start with defaults.
            for sig in 1..32 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            // If we die, the script goes too (keepalived does the same). Set
            // after std changed our credentials, which clears it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0);
            Ok(())
        });
    }
    Some(c)
}

/// Forks and execs `cmd` from this process: its pid. The script helper's
/// way to start a script (and the reaping is then its business).
pub(super) fn spawn_here(cmd: &ScriptCommand) -> std::io::Result<libc::pid_t> {
    let mut c = build_command(cmd).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(c.spawn()?.id() as libc::pid_t)
}

impl RunningScript {
    /// Forks and execs the script (through the script helper, when this
    /// process has one). Returns at once; the child runs on.
    pub fn start(cmd: &ScriptCommand) -> Result<RunningScript, SpawnError> {
        if cmd.argv.is_empty() {
            return Err(SpawnError::EmptyArgv);
        }
        if let Some(helper) = super::helper::client() {
            let r = helper.start(cmd)?;
            return Ok(RunningScript { pid: r.pid(), pidfd: None, remote: Some(r) });
        }
        sweep_orphans();
        let mut c = build_command(cmd).ok_or(SpawnError::EmptyArgv)?;
        let child = c.spawn().map_err(|e| SpawnError::Exec(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
        let pid = child.id() as libc::pid_t;
        // std's Child neither waits nor kills on drop; we reap via the pidfd.
        drop(child);
        let fd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                kill_group(pid);
                // Rare fallback: the child is SIGKILLed; reap it by pid.
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                return Err(SpawnError::Pidfd(e));
            }
        };
        match Async::new(fd) {
            Ok(a) => Ok(RunningScript { pid, pidfd: Some(a), remote: None }),
            Err(e) => {
                kill_group(pid);
                Err(SpawnError::Pidfd(e.raw_os_error().unwrap_or(libc::EINVAL)))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Awaits the exit. With a timeout, the process group is SIGKILLed when
    /// it expires and the run reported as `TimedOut` (after reaping).
    pub async fn wait(mut self, timeout: Option<Duration>) -> ScriptOutcome {
        if let Some(r) = self.remote.take() {
            return r.wait(timeout).await;
        }
        let Some(fd) = self.pidfd.take() else {
            return ScriptOutcome::Exited(-1);
        };
        let exited = async {
            // A pidfd polls readable once the process has exited.
            let _ = fd.readable().await;
            true
        };
        let finished = match timeout {
            None => exited.await,
            Some(t) => {
                future::or(exited, async {
                    Timer::after(t).await;
                    false
                })
                .await
            }
        };
        if !finished {
            kill_group(self.pid);
        }
        let outcome = loop {
            if let Some(o) = reap(fd.get_ref().as_raw_fd(), true) {
                break o;
            }
            // Killed but not yet dead (or a spurious wake-up): wait again.
            if fd.readable().await.is_err() {
                Timer::after(Duration::from_millis(10)).await;
            }
        };
        if finished { outcome } else { ScriptOutcome::TimedOut }
    }
}

impl Drop for RunningScript {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd.take() {
            // Cancelled before reaping: kill it and reap later, never block.
            kill_group(self.pid);
            if let Ok(fd) = fd.into_inner()
                && reap(fd.as_raw_fd(), true).is_none()
            {
                ORPHANS.with(|o| {
                    if let Ok(mut list) = o.try_borrow_mut() {
                        list.push(fd);
                    }
                });
            }
        }
    }
}

/// Runs a script to completion (or `timeout`) on the current async-io
/// reactor. Never blocks the thread.
pub async fn run_script(cmd: &ScriptCommand, timeout: Option<Duration>) -> ScriptOutcome {
    match RunningScript::start(cmd) {
        Ok(r) => r.wait(timeout).await,
        Err(e) => ScriptOutcome::SpawnFailed(e),
    }
}
