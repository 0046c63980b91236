//! The script helper: a process each child forks before it drops its
//! capabilities and takes its seccomp filter, which then starts the child's
//! scripts (notify, track_script, MISC_CHECK, the LVS notifiers) for it.
//!
//! A seccomp filter is inherited across fork and exec and cannot be lifted,
//! and capabilities dropped from the bounding set never come back: scripts
//! forked by a filtered child would run crippled (no execve at all, in
//! fact). keepalived runs its scripts with the privileges of the process
//! that forks them, root with the full set unless `script_user` or a
//! script's `user` says otherwise; the helper keeps exactly those, so a
//! script run by vigil has what keepalived would give it.
//!
//! The helper is small: a blocking loop over a SOCK_SEQPACKET socketpair
//! (postcard-encoded `Req`/`Reply`) and a signalfd for SIGCHLD. It starts a
//! script as `spawn` always has (same set-up before exec), answers with the
//! pid, kills the script's process group when asked, and reports the exit
//! once it has reaped it, so a pid it kills cannot have been reused. It
//! exits when the child's end closes; its scripts then get SIGTERM
//! (PDEATHSIG), as they did when the child forked them itself. It dies
//! with the child (PDEATHSIG SIGKILL).
//!
//! What the helper trusts: the child it was forked from, which may ask it
//! to run any command as any user. The filter and the dropped capabilities
//! keep a compromised child from acting on the system directly; they cannot
//! keep it from asking for a script, as keepalived's single process could
//! run any. The child's side starts a script synchronously (the request and
//! the pid, as fork and exec were before) and awaits the exit without
//! blocking its scheduler.

use super::spawn::{RunAs, ScriptCommand, ScriptOutcome, SpawnError};
use async_io::Async;
use serde::{Deserialize, Serialize};
use smol::future;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Child → helper.
#[derive(Debug, Serialize, Deserialize)]
enum Req {
    Start { id: u32, argv: Vec<String>, uid: u32, gid: u32 },
    /// SIGKILL the script's process group (a timeout, or a run dropped).
    Kill { id: u32 },
}

/// Helper → child.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Started { id: u32, pid: i32 },
    Failed { id: u32, errno: i32 },
    Exited { id: u32, signaled: bool, code: i32 },
}

/// How long starting a script may take before the helper counts as lost.
const START_WAIT: Duration = Duration::from_secs(5);
/// The largest request: argv well past any notify script's.
const REQ_MAX: usize = 256 * 1024;

enum Slot {
    Running(Option<Waker>),
    Done(ScriptOutcome),
    /// Dropped unawaited: forgotten once its exit comes.
    Abandoned,
}

/// The child's end.
pub struct Client {
    sock: Async<OwnedFd>,
    helper_pid: i32,
    next_id: Cell<u32>,
    slots: RefCell<HashMap<u32, Slot>>,
}

thread_local! {
    static CLIENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
}

/// The helper scripts go through in this process, if one was started.
pub fn client() -> Option<Rc<Client>> {
    CLIENT.with(|c| c.borrow().clone())
}

/// The helper's pid, if this process has one.
pub fn helper_pid() -> Option<i32> {
    client().map(|c| c.helper_pid)
}

/// Forks the helper. Call while this process is single-threaded (a fork
/// copies only the calling thread) and before it drops any privilege.
pub fn start() -> std::io::Result<i32> {
    let (mine, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the caller guarantees a single thread, so the child may go on
    // running ordinary Rust code (no lock can be held by a thread that the
    // fork left behind).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        drop(mine);
        let code = serve(theirs, parent);
        // SAFETY: _exit ends the helper without running the child's
        // atexit handlers or flushing its buffers a second time.
        unsafe { libc::_exit(code) };
    }
    drop(theirs);
    let sock = Async::new(mine)?;
    let c = Rc::new(Client { sock, helper_pid: pid, next_id: Cell::new(1), slots: RefCell::new(HashMap::new()) });
    CLIENT.with(|cl| *cl.borrow_mut() = Some(c));
    Ok(pid)
}

fn send_blocking(fd: RawFd, bytes: &[u8], limit: Duration) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        // SAFETY: bytes is a live buffer of its length; fd is our socket.
        let r = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(std::io::Error::from_raw_os_error(libc::ETIMEDOUT));
                }
                wait_fd(fd, libc::POLLOUT, left);
            }
            _ => return Err(e),
        }
    }
}

fn wait_fd(fd: RawFd, events: libc::c_short, limit: Duration) {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, limit.as_millis().min(i32::MAX as u128) as i32) };
}

/// One datagram without blocking: Ok(None) when there is none.
fn recv_one(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        // SAFETY: buf is a live, writable buffer of its length.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if r >= 0 {
            return Ok(Some(r as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

impl Client {
    fn fd(&self) -> RawFd {
        self.sock.get_ref().as_raw_fd()
    }

    /// The helper is gone: without it no script can run again, so this
    /// child ends and the parent starts a new one (with a new helper).
    fn lost(&self, why: &str) -> ! {
        log::error!("script helper {}: {why}; stopping so that the parent restarts this child", self.helper_pid);
        std::process::exit(70);
    }

    fn send(&self, req: &Req) -> Result<(), SpawnError> {
        let bytes = postcard::to_allocvec(req).map_err(|_| SpawnError::Exec(libc::E2BIG))?;
        if bytes.len() > REQ_MAX {
            return Err(SpawnError::Exec(libc::E2BIG));
        }
        match send_blocking(self.fd(), &bytes, START_WAIT) {
            Ok(()) => Ok(()),
            Err(e) => self.lost(&format!("send: {e}")),
        }
    }

    /// Reads every waiting reply; returns the start answer for `want`, if
    /// one came.
    fn drain(&self, want: Option<u32>) -> Option<Result<i32, SpawnError>> {
        let mut buf = [0u8; 256];
        let mut answer = None;
        loop {
            let n = match recv_one(self.fd(), &mut buf) {
                Ok(Some(0)) => self.lost("closed its end"),
                Ok(Some(n)) => n,
                Ok(None) => return answer,
                Err(e) => self.lost(&format!("recv: {e}")),
            };
            match postcard::from_bytes::<Reply>(&buf[..n]) {
                Ok(Reply::Started { id, pid }) if Some(id) == want => answer = Some(Ok(pid)),
                Ok(Reply::Failed { id, errno }) if Some(id) == want => answer = Some(Err(SpawnError::Exec(errno))),
                Ok(Reply::Exited { id, signaled, code }) => {
                    let outcome = if signaled { ScriptOutcome::Signaled(code) } else { ScriptOutcome::Exited(code) };
                    let mut slots = self.slots.borrow_mut();
                    match slots.remove(&id) {
                        Some(Slot::Running(w)) => {
                            slots.insert(id, Slot::Done(outcome));
                            if let Some(w) = w {
                                w.wake();
                            }
                        }
                        Some(Slot::Abandoned) | None => {}
                        Some(done) => {
                            slots.insert(id, done);
                        }
                    }
                }
                Ok(other) => log::warn!("script helper: unexpected {other:?}"),
                Err(e) => log::warn!("script helper: undecodable reply: {e}"),
            }
        }
    }

    /// Starts `cmd` through the helper: its pid once it has been exec'd.
    pub fn start(self: &Rc<Self>, cmd: &ScriptCommand) -> Result<Remote, SpawnError> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        self.slots.borrow_mut().insert(id, Slot::Running(None));
        let req = Req::Start { id, argv: cmd.argv.clone(), uid: cmd.run_as.uid, gid: cmd.run_as.gid };
        if let Err(e) = self.send(&req) {
            self.slots.borrow_mut().remove(&id);
            return Err(e);
        }
        let deadline = std::time::Instant::now() + START_WAIT;
        loop {
            if let Some(answer) = self.drain(Some(id)) {
                return match answer {
                    Ok(pid) => Ok(Remote { id, pid, client: self.clone(), settled: false }),
                    Err(e) => {
                        self.slots.borrow_mut().remove(&id);
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.lost("no answer to a start within 5 s");
            }
            wait_fd(self.fd(), libc::POLLIN, left);
        }
    }

    /// The outcome of `id`, once the helper has reaped it.
    async fn exit_of(&self, id: u32) -> ScriptOutcome {
        loop {
            self.drain(None);
            {
                let mut slots = self.slots.borrow_mut();
                if let Some(Slot::Done(o)) = slots.get(&id) {
                    let o = *o;
                    slots.remove(&id);
                    return o;
                }
            }
            // Either the socket has something, or another waiter's drain
            // put our outcome in the slot (and woke us).
            let settled = future::poll_fn(|cx| {
                let mut slots = self.slots.borrow_mut();
                match slots.get_mut(&id) {
                    Some(Slot::Running(w)) => {
                        *w = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    _ => Poll::Ready(()),
                }
            });
            future::or(settled, async {
                let _ = self.sock.readable().await;
            })
            .await;
        }
    }

    fn kill(&self, id: u32) {
        let _ = self.send(&Req::Kill { id });
    }
}

/// A script the helper started.
pub struct Remote {
    id: u32,
    pid: i32,
    client: Rc<Client>,
    /// Reaped and reported (or given up on): nothing to do at drop.
    settled: bool,
}

impl Remote {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// As `RunningScript::wait`: the exit, or after `timeout` the process
    /// group killed, reaped, and `TimedOut`.
    pub async fn wait(mut self, timeout: Option<Duration>) -> ScriptOutcome {
        let client = self.client.clone();
        let finished = match timeout {
            None => Some(client.exit_of(self.id).await),
            Some(t) => {
                future::or(async { Some(client.exit_of(self.id).await) }, async {
                    async_io::Timer::after(t).await;
                    None
                })
                .await
            }
        };
        let outcome = match finished {
            Some(o) => o,
            None => {
                client.kill(self.id);
                let _ = client.exit_of(self.id).await;
                ScriptOutcome::TimedOut
            }
        };
        self.settled = true;
        outcome
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut slots = self.client.slots.borrow_mut();
        if let Some(Slot::Done(_)) = slots.remove(&self.id) {
            return;
        }
        slots.insert(self.id, Slot::Abandoned);
        drop(slots);
        self.client.kill(self.id);
    }
}

// ---- the helper process ----

/// The helper's loop; its exit code.
fn serve(sock: OwnedFd, parent: libc::pid_t) -> i32 {
    // SAFETY: prctl and getppid take integers only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
        if libc::getppid() != parent {
            return 0;
        }
        libc::prctl(libc::PR_SET_NAME, c"vigil-scripts".as_ptr() as libc::c_ulong, 0, 0, 0);
    }
    // Not ours: the child's channel to the parent.
    // SAFETY: closing a number; the channel's owner is the child, whose
    // copy stays open.
    unsafe { libc::close(crate::supervisor::spawn::CHILD_IPC_FD) };
    // SIGCHLD through a signalfd: blocked here, and unblocked again in each
    // script by spawn's set-up (it clears the mask).
    let _ = crate::os::signals::block(&[libc::SIGCHLD]);
    let sigfd = match crate::os::signals::signalfd(&[libc::SIGCHLD]) {
        Ok(fd) => fd,
        Err(e) => {
            log::error!("script helper: signalfd: {e}");
            return 1;
        }
    };
    let mut running: HashMap<u32, i32> = HashMap::new();
    let mut buf = vec![0u8; REQ_MAX];
    let fd = sock.as_raw_fd();
    loop {
        let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }, libc::pollfd { fd: sigfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: two live pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            while crate::os::signals::read(&sigfd).is_ok() {}
            reap(&mut running, fd);
        }
        if fds[0].revents == 0 {
            continue;
        }
        let n = match recv_one(fd, &mut buf) {
            Ok(Some(0)) | Err(_) => return 0,
            Ok(Some(n)) => n,
            Ok(None) => continue,
        };
        match postcard::from_bytes::<Req>(&buf[..n]) {
            Ok(Req::Start { id, argv, uid, gid }) => {
                let cmd = ScriptCommand::new(argv, RunAs { uid, gid });
                let reply = match super::spawn::spawn_here(&cmd) {
                    Ok(pid) => {
                        running.insert(id, pid);
                        Reply::Started { id, pid }
                    }
                    Err(e) => Reply::Failed { id, errno: e.raw_os_error().unwrap_or(libc::EINVAL) },
                };
                reply_to(fd, &reply);
            }
            Ok(Req::Kill { id }) => {
                if let Some(&pid) = running.get(&id) {
                    // Not yet reaped, so the group is still the script's.
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
            Err(e) => log::warn!("script helper: undecodable request: {e}"),
        }
        // A script may have ended while we were busy.
        reap(&mut running, fd);
    }
}

fn reply_to(fd: RawFd, reply: &Reply) {
    if let Ok(bytes) = postcard::to_allocvec(reply) {
        let _ = send_blocking(fd, &bytes, START_WAIT);
    }
}

/// Reaps every exited script and reports it.
fn reap(running: &mut HashMap<u32, i32>, fd: RawFd) {
    loop {
        let mut status = 0;
        // SAFETY: status is a live out-pointer; -1 waits for any child of
        // the helper, all of which are scripts it started.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        let Some(id) = running.iter().find(|(_, p)| **p == pid).map(|(id, _)| *id) else { continue };
        running.remove(&id);
        let (signaled, code) = if libc::WIFSIGNALED(status) { (true, libc::WTERMSIG(status)) } else { (false, libc::WEXITSTATUS(status)) };
        reply_to(fd, &Reply::Exited { id, signaled, code });
    }
}
