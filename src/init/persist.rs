//! The appliance's persistent configuration. `vigil_persist=DEVICE` on the
//! kernel command line names a block device (ext4 or ext2) that PID 1
//! mounts at /persist. When /persist/keepalived/keepalived.conf exists it is
//! the configuration (reloads read it too), so a board keeps its config
//! across image updates, and QEMU nodes get theirs from a disk image.
//!
//! Beside it, keepalived.conf.last-good is a copy of the last version that
//! loaded without problems (at boot or at an accepted reload). A boot whose
//! configuration has problems runs that copy instead, so a bad edit leaves
//! the appliance running its last good configuration; a reload with
//! problems is refused as always. Only the main file is copied: files it
//! includes are read from where they are.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const MOUNT: &str = "/persist";
/// How long a device named on the command line may take to appear (its
/// driver probes asynchronously after the module is loaded).
const DEVICE_WAIT: Duration = Duration::from_secs(5);

/// Where the persistent configuration and its last good copy live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persistent {
    pub config: PathBuf,
    pub last_good: PathBuf,
}

impl Persistent {
    /// The files under `dir` (a mounted persistent file system), when it
    /// holds a configuration.
    pub fn under(dir: &Path) -> Option<Persistent> {
        let config = dir.join("keepalived/keepalived.conf");
        config.is_file().then(|| Persistent { last_good: dir.join("keepalived/keepalived.conf.last-good"), config })
    }

    /// Keeps `self.config` as the last good copy: written whole, synced,
    /// then renamed into place.
    pub fn save_last_good(&self) {
        let result = std::fs::read(&self.config).and_then(|text| crate::os::atomic_file::write(&self.last_good, &text, 0o600));
        match result {
            Ok(()) => log::info!("persist: {} kept as the last good configuration", self.config.display()),
            Err(e) => log::warn!("persist: keeping {}: {e}", self.last_good.display()),
        }
    }
}

/// Mounts the device `vigil_persist=` names at /persist; its files, or None
/// when there is no such value, no device, or no configuration on it. This
/// runs before the log exists: what happened goes to `notes` (level, line),
/// which the caller logs once it can.
pub fn mount(cmdline: &str, notes: &mut Vec<(log::Level, String)>) -> Option<Persistent> {
    let dev = super::cmdline_value(cmdline, "vigil_persist")?;
    let end = Instant::now() + DEVICE_WAIT;
    while !Path::new(dev).exists() {
        if Instant::now() >= end {
            notes.push((log::Level::Error, format!("persist: {dev} did not appear within {} s; using the image's configuration", DEVICE_WAIT.as_secs())));
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Err(e) = std::fs::create_dir_all(MOUNT) {
        notes.push((log::Level::Error, format!("persist: {MOUNT}: {e}")));
        return None;
    }
    use nix::mount::{MsFlags, mount};
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let mut last = None;
    for fs in ["ext4", "ext2"] {
        match mount(Some(dev), MOUNT, Some(fs), flags, None::<&str>) {
            Ok(()) => {
                notes.push((log::Level::Info, format!("persist: {dev} ({fs}) mounted at {MOUNT}")));
                let p = Persistent::under(Path::new(MOUNT));
                if p.is_none() {
                    notes.push((log::Level::Warn, format!("persist: no keepalived/keepalived.conf on {dev}; using the image's configuration")));
                }
                return p;
            }
            Err(e) => last = Some(e),
        }
    }
    notes.push((log::Level::Error, format!("persist: mounting {dev} at {MOUNT}: {}", last.map_or("no file system".into(), |e| e.to_string()))));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_on_the_persistent_fs_and_its_last_good_copy() {
        let dir = std::env::temp_dir().join(format!("vigil-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Persistent::under(&dir), None);
        std::fs::create_dir_all(dir.join("keepalived")).unwrap();
        std::fs::write(dir.join("keepalived/keepalived.conf"), "global_defs {\n}\n").unwrap();
        let p = Persistent::under(&dir).unwrap();
        assert_eq!(p.last_good, dir.join("keepalived/keepalived.conf.last-good"));
        p.save_last_good();
        assert_eq!(std::fs::read_to_string(&p.last_good).unwrap(), "global_defs {\n}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
