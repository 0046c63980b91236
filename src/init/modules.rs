//! Kernel modules from the image's list, loaded in the order given (the
//! image build resolved dependencies from modules.dep and modules.softdep).

use std::os::fd::AsFd;
use std::path::Path;

/// One line of the list: an absolute .ko path, then optional parameters.
/// Blank lines and `#` comments are skipped.
pub fn parse_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(match line.split_once(char::is_whitespace) {
        Some((p, params)) => (p, params.trim()),
        None => (line, ""),
    })
}

/// Loads every module in the list; returns (loaded, failed).
pub fn load_list(list: &Path) -> (usize, usize) {
    let Ok(text) = std::fs::read_to_string(list) else {
        log::info!("no module list at {}", list.display());
        return (0, 0);
    };
    let (mut ok, mut failed) = (0, 0);
    for line in text.lines() {
        let Some((path, params)) = parse_line(line) else { continue };
        match load(Path::new(path), params) {
            Ok(()) => ok += 1,
            Err(nix::errno::Errno::EEXIST) => ok += 1,
            Err(e) => {
                failed += 1;
                log::error!("module {path}: {e}");
            }
        }
    }
    log::info!("modules: {ok} loaded, {failed} failed");
    (ok, failed)
}

fn load(path: &Path, params: &str) -> Result<(), nix::errno::Errno> {
    let f = std::fs::File::open(path).map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
    let params = std::ffi::CString::new(params).map_err(|_| nix::errno::Errno::EINVAL)?;
    nix::kmod::finit_module(f.as_fd(), &params, nix::kmod::ModuleInitFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines() {
        assert_eq!(parse_line("  # comment"), None);
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("/lib/modules/x/a.ko"), Some(("/lib/modules/x/a.ko", "")));
        assert_eq!(parse_line("/m/b.ko  p=1 q=2 "), Some(("/m/b.ko", "p=1 q=2")));
    }
}
