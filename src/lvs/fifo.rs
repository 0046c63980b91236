//! The checker child's notify FIFO lines, as keepalived writes them from
//! its checker process (ipwrapper.c notify_fifo_rs / notify_fifo_vs) to
//! both `notify_fifo` and `lvs_notify_fifo`:
//!
//! ```text
//! RS [10.0.0.2]:tcp:80 [192.0.2.10]:tcp:80 UP
//! VS [192.0.2.10]:tcp:80 DOWN
//! ```
//!
//! written wherever the notify scripts run (see `hooks`). The FIFO itself is
//! `notify::NotifyFifo` (created when missing, never blocks).
//!
//! `notify_fifo` is shared with the VRRP child, which re-creates it when it
//! rebuilds its engine at a reload; a line written into the FIFO we opened
//! before would go nowhere. So before each line the path is checked: when
//! it no longer names the FIFO we hold, we let ours go (without unlinking
//! the new one) and open what is there now.

use crate::config::model::GlobalDefs;
use crate::notify::NotifyFifo;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// keepalived's line for a real server.
pub fn rs_line(vs: &str, rs: &str, up: bool) -> String {
    format!("RS {rs} {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// keepalived's line for a virtual server's quorum.
pub fn vs_line(vs: &str, up: bool) -> String {
    format!("VS {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// The FIFOs the checker child writes to: notify_fifo and lvs_notify_fifo.
pub fn paths(g: &GlobalDefs) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let lvs = g.other.iter().rev().find(|o| o.keyword == "lvs_notify_fifo").and_then(|o| o.args.first());
    for p in [g.notify_fifo.as_ref().and_then(|s| s.argv.first()), lvs].into_iter().flatten() {
        let p = PathBuf::from(p);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// One FIFO, reopened when its path comes to name another file.
struct Reopening {
    path: PathBuf,
    fifo: Option<NotifyFifo>,
}

/// (device, inode) of what `path` names now.
fn node_of_path(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn node_of_fd(f: &NotifyFifo) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(f.raw_fd()).ok().map(|st| (st.st_dev, st.st_ino))
}

/// Closes a FIFO whose path now names something else. Dropping it would
/// unlink that path if we had created ours (NotifyFifo unlinks by path).
fn let_go(f: NotifyFifo) {
    let fd = f.raw_fd();
    std::mem::forget(f);
    // fd was owned by the forgotten FIFO: closed here, once.
    let _ = nix::unistd::close(fd);
}

impl Reopening {
    fn current(&mut self) -> Option<&mut NotifyFifo> {
        let stale = match &self.fifo {
            Some(f) => node_of_path(&self.path) != node_of_fd(f),
            None => true,
        };
        if stale {
            if let Some(f) = self.fifo.take() {
                let_go(f);
            }
            match NotifyFifo::open(&self.path, None) {
                Ok(f) => self.fifo = Some(f),
                Err(e) => log::warn!("lvs notify fifo {}: {e}", self.path.display()),
            }
        }
        self.fifo.as_mut()
    }
}

impl Drop for Reopening {
    fn drop(&mut self) {
        if let Some(f) = self.fifo.take() {
            if node_of_path(&self.path) == node_of_fd(&f) {
                drop(f);
            } else {
                let_go(f);
            }
        }
    }
}

/// The checker child's FIFOs.
#[derive(Default)]
pub struct Fifos {
    open: Vec<Reopening>,
}

impl Fifos {
    /// Takes the config's FIFOs (start, reload): ones it still names are
    /// kept, new ones opened, dropped ones closed.
    pub fn configure(&mut self, g: &GlobalDefs) {
        let want = paths(g);
        self.open.retain(|r| want.contains(&r.path));
        for p in want {
            if !self.open.iter().any(|r| r.path == p) {
                let mut r = Reopening { path: p, fifo: None };
                r.current();
                self.open.push(r);
            }
        }
    }

    pub fn write(&mut self, line: &str) {
        for r in &mut self.open {
            if let Some(f) = r.current()
                && !f.write_line(line)
            {
                log::debug!("lvs notify fifo {}: line dropped", r.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{RawOption, Script};
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn lines_as_keepalived_writes_them() {
        assert_eq!(rs_line("[192.0.2.10]:tcp:80", "[10.0.0.2]:tcp:80", true), "RS [10.0.0.2]:tcp:80 [192.0.2.10]:tcp:80 UP\n");
        assert_eq!(vs_line("FWM 7", false), "VS FWM 7 DOWN\n");
    }

    #[test]
    fn both_fifos_once_each() {
        let mut g = GlobalDefs {
            notify_fifo: Some(Script { argv: vec!["/run/a".into()], user: None, group: None }),
            ..GlobalDefs::default()
        };
        g.other.push(RawOption { keyword: "lvs_notify_fifo".into(), args: vec!["/run/b".into()] });
        assert_eq!(paths(&g), vec![PathBuf::from("/run/a"), PathBuf::from("/run/b")]);
        g.other[0].args[0] = "/run/a".into();
        assert_eq!(paths(&g), vec![PathBuf::from("/run/a")]);
    }

    #[test]
    fn a_fifo_replaced_under_us_is_reopened_and_not_unlinked() {
        let dir = std::env::temp_dir().join(format!("vigil-lvsfifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let mut g = GlobalDefs::default();
        g.other.push(RawOption { keyword: "lvs_notify_fifo".into(), args: vec![path.to_string_lossy().into()] });
        let mut f = Fifos::default();
        f.configure(&g);
        let read = |p: &Path| {
            let mut r = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(p).unwrap();
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        };
        f.write("VS x UP\n");
        assert_eq!(read(&path), "VS x UP\n");
        // Someone (the VRRP child at a reload) unlinks it and makes another.
        std::fs::remove_file(&path).unwrap();
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).unwrap();
        f.write("VS x DOWN\n");
        let mut s = String::new();
        let _ = reader.read_to_string(&mut s);
        assert_eq!(s, "VS x DOWN\n");
        // Ours was let go without unlinking theirs; theirs, opened (not
        // created) by us, survives our drop too.
        drop(f);
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
