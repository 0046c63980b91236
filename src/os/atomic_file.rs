//! Files replaced whole: written to a temporary file in the same directory,
//! then renamed over the old one, so a reader sees the old file or the new
//! one, never a part. keepalived's dump files are written this way (mode
//! 0600, as keepalived creates them).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{seq}.tmp", std::process::id()))
}

/// Replaces `path` with `bytes`, mode `mode`.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        // create_new: never follow a link someone left at the temporary name.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        // The umask may have narrowed `mode`; keepalived's files are exactly 0600.
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        // On a disk (the persistent configuration), the data reaches it
        // before the name points at it: a power cut leaves the old file or
        // the new one.
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn replaces_whole_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("vigil-atomic-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("keepalived.data");
        write(&p, b"first\n", 0o600).unwrap();
        write(&p, b"second\n", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "second\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
