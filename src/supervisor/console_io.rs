//! Console I/O for the parent: lines from stdin (the serial console on the
//! appliance, a pipe in tests) become events; `sh` hands the console to a
//! shell until it exits.

use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Longest console line kept; the rest of a longer line is dropped.
const LINE_MAX: usize = 512;

/// A future that reads stdin line by line and sends each line as an event.
pub fn reader<E: 'static>(
    tx: smol::channel::Sender<E>,
    line: impl Fn(String) -> E + 'static,
    closed: impl Fn() -> E + 'static,
) -> std::io::Result<impl Future<Output = ()>> {
    // A close-on-exec duplicate (F_DUPFD_CLOEXEC) of stdin.
    let fd: OwnedFd = std::io::stdin().as_fd().try_clone_to_owned()?;
    let io = async_io::Async::new(fd)?;
    Ok(async move {
        let mut pending: Vec<u8> = Vec::with_capacity(LINE_MAX);
        let mut buf = [0u8; 256];
        loop {
            let n = match io.read_with(|fd| nix::unistd::read(fd.as_raw_fd(), &mut buf).map_err(std::io::Error::from)).await {
                Ok(n) => n,
                Err(e) => {
                    log::warn!("console read: {e}");
                    0
                }
            };
            if n == 0 {
                let _ = tx.send(closed()).await;
                return;
            }
            for &b in &buf[..n] {
                if b == b'\n' || b == b'\r' {
                    let l = String::from_utf8_lossy(&pending).into_owned();
                    pending.clear();
                    if tx.send(line(l)).await.is_err() {
                        return;
                    }
                } else if pending.len() < LINE_MAX {
                    pending.push(b);
                }
            }
        }
    })
}

/// Starts a shell on the console; returns its pid. The console reader must
/// be stopped first, and stdin made blocking again for the shell.
pub fn shell() -> std::io::Result<u32> {
    let sh = ["/bin/sh", "/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(sh) = sh else {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no shell in this image"));
    };
    set_blocking(0);
    let mut cmd = std::process::Command::new(sh);
    if sh.ends_with("busybox") {
        cmd.arg("sh");
    }
    // Only the parent speaks to systemd for vigil (as the children, which lose it too).
    cmd.env_remove(crate::os::sdnotify::ENV);
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe syscalls (sigemptyset/sigprocmask on a stack sigset,
    // setsid, ioctl(TIOCSCTTY) on fd 0); it allocates nothing and takes no lock.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            // Its own session with the console as controlling tty, so
            // ctrl-c reaches the shell and never the parent.
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 1);
            Ok(())
        });
    }
    println!("starting a shell; exit it to return to the vigil console");
    Ok(cmd.spawn()?.id())
}

fn set_blocking(fd: i32) {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    if let Ok(fl) = fcntl(fd, FcntlArg::F_GETFL) {
        let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::from_bits_retain(fl) & !OFlag::O_NONBLOCK));
    }
}
