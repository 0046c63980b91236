//! notify_fifo / vrrp_notify_fifo, as keepalived (`fifo_open` in its
//! notify.c, `notify_fifo` in vrrp_notify.c).
//!
//! The FIFO is created (mode 0644) when missing and opened O_RDWR |
//! O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, as keepalived does: holding the read
//! side ourselves means opening never fails for want of a reader and a
//! reader that goes away never raises SIGPIPE; lines wait in the pipe until
//! one reads. The file must be a FIFO owned by us (or the script user), else
//! it is not used. When the pipe is full a line is dropped and counted
//! (keepalived ignores the write error); we never block. A FIFO we created
//! is unlinked when dropped.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Larger lines could interleave with another writer's; they are dropped.
pub const MAX_LINE: usize = libc::PIPE_BUF;

pub struct NotifyFifo {
    path: PathBuf,
    file: File,
    created: bool,
    written: u64,
    dropped: u64,
}

#[derive(Debug)]
pub enum FifoError {
    Create(std::io::Error),
    Open(std::io::Error),
    NotOurFifo,
}

impl std::fmt::Display for FifoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FifoError::Create(e) => write!(f, "unable to create notify fifo: {e}"),
            FifoError::Open(e) => write!(f, "unable to open notify fifo: {e}"),
            FifoError::NotOurFifo => write!(f, "notify fifo is not a fifo we own - not using"),
        }
    }
}

impl NotifyFifo {
    /// `owner`: the uid allowed to own an existing FIFO besides us (the
    /// fifo's script user).
    pub fn open(path: &Path, owner: Option<u32>) -> Result<NotifyFifo, FifoError> {
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| FifoError::NotOurFifo)?;
        let created = match nix::unistd::mkfifo(cpath.as_c_str(), nix::sys::stat::Mode::from_bits_truncate(0o644)) {
            Ok(()) => true,
            Err(nix::errno::Errno::EEXIST) => false,
            Err(e) => return Err(FifoError::Create(e.into())),
        };
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path);
        let cleanup = |created: bool| {
            if created {
                let _ = std::fs::remove_file(path);
            }
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                cleanup(created);
                return Err(FifoError::Open(e));
            }
        };
        let me = nix::unistd::geteuid().as_raw();
        let ours = file
            .metadata()
            .map(|m| m.file_type().is_fifo() && (m.uid() == me || Some(m.uid()) == owner))
            .unwrap_or(false);
        if !ours {
            cleanup(created);
            return Err(FifoError::NotOurFifo);
        }
        // Another holder in this process may have created it: whoever is
        // the last to let go unlinks it.
        let created = created || HOLDERS.lock().map(|h| h.iter().any(|(p, _)| p == path)).unwrap_or(false);
        hold(path);
        Ok(NotifyFifo { path: path.to_path_buf(), file, created, written: 0, dropped: 0 })
    }

    /// Writes one whole line or nothing; never blocks.
    pub fn write_line(&mut self, line: &str) -> bool {
        if line.len() > MAX_LINE {
            self.dropped += 1;
            return false;
        }
        // One write of at most PIPE_BUF bytes is atomic: all or EAGAIN.
        match (&self.file).write(line.as_bytes()) {
            Ok(n) if n == line.len() => {
                self.written += 1;
                true
            }
            _ => {
                self.dropped += 1;
                false
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written, and lines dropped (pipe full or too long).
    pub fn counters(&self) -> (u64, u64) {
        (self.written, self.dropped)
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

/// The FIFO paths this process holds open, with how many holders each: a
/// reload opens the new engine's FIFO before the old engine's is dropped,
/// and the old one must not unlink the path the new one writes to.
static HOLDERS: std::sync::Mutex<Vec<(PathBuf, usize)>> = std::sync::Mutex::new(Vec::new());

fn hold(path: &Path) {
    let mut h = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
    match h.iter_mut().find(|(p, _)| p == path) {
        Some((_, n)) => *n += 1,
        None => h.push((path.to_path_buf(), 1)),
    }
}

/// Drops one holder of `path`; true when it was the last in this process.
fn release(path: &Path) -> bool {
    let mut h = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(i) = h.iter().position(|(p, _)| p == path) else { return true };
    h[i].1 -= 1;
    if h[i].1 == 0 {
        h.swap_remove(i);
        true
    } else {
        false
    }
}

impl Drop for NotifyFifo {
    fn drop(&mut self) {
        let last = release(&self.path);
        // keepalived unlinks first, so a reader looping on reopen cannot
        // reopen our FIFO. Only the last holder in this process unlinks,
        // and only the FIFO it has open (not one that replaced it).
        if self.created && last {
            let same = match (std::fs::symlink_metadata(&self.path), self.file.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_holder_does_not_unlink_the_path_still_in_use() {
        let dir = std::env::temp_dir().join(format!("vigil-fifo-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.fifo");
        // A reload: the old engine's FIFO, then the new one on the same path,
        // then the old one dropped.
        let old = NotifyFifo::open(&path, None).unwrap();
        let mut new = NotifyFifo::open(&path, None).unwrap();
        drop(old);
        assert!(path.exists(), "the old holder unlinked the FIFO the new one uses");
        assert!(new.write_line("INSTANCE \"VI_1\" MASTER 100\n"));
        // The last holder unlinks it.
        drop(new);
        assert!(!path.exists(), "the last holder left the FIFO behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
