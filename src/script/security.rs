//! keepalived's script security check (`check_script_secure` and
//! `check_security` in its notify.c), done once at config time.
//!
//! - A bare name (no '/') is searched in PATH for a regular file the script
//!   user may execute; found: warn "please specify full path" and use it.
//! - The file must exist and be executable by the script user, else the
//!   script is disabled (whatever enable_script_security says).
//! - The path is resolved as keepalived 2.2.7 resolves it: realpath of the
//!   command, but when the last component was a symlink (the file name
//!   changed), the original name in the resolved directory, which is the
//!   same file (`/bin/sh` on a merged-/usr system is `/usr/bin/sh`, not
//!   `/usr/bin/dash`). That path replaces argv[0].
//! - Protection is needed when the script runs as uid 0 or gid 0, or is
//!   setuid-root / setgid-root. Then every component of the resolved path
//!   and of the real file's path, from "/", is lstat'ed: a directory
//!   component must be a directory, the last a regular file or symlink
//!   (else disabled); a component is unsafe when it is not owned by root, or
//!   when it is a regular file or a directory without the sticky bit that is
//!   group-writable with a non-root group or world-writable.
//! - Unsafe with enable_script_security: refused. Unsafe without: keepalived
//!   logs and runs it anyway; so do we.

use super::spawn::{DEFAULT_PATH, RunAs};
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// Why a script is not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    EmptyCommand,
    /// Not found (in PATH, or the path does not resolve).
    NotFound,
    NotExecutable { uid: u32, gid: u32 },
    /// A path component of the wrong type (a non-directory in the middle, or
    /// neither a file nor a symlink at the end).
    WrongType { component: PathBuf },
    /// A component non-root users can write (only with enable_script_security).
    Insecure { component: PathBuf, why: &'static str },
}

/// A script refused at config time; `Display` is the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub script: String,
    pub reason: RefuseReason,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.script;
        match &self.reason {
            RefuseReason::EmptyCommand => write!(f, "script has an empty command - disabling"),
            RefuseReason::NotFound => write!(f, "cannot find script '{s}' - disabling"),
            RefuseReason::NotExecutable { uid, gid } => {
                write!(f, "script '{s}' is not executable for uid:gid {uid}:{gid} - disabling")
            }
            RefuseReason::WrongType { component } => {
                write!(f, "wrong file type '{}' in path of script '{s}' - disabling", component.display())
            }
            RefuseReason::Insecure { component, why } => write!(
                f,
                "unsafe permissions found for script '{s}': '{}' {why} (enable_script_security) - disabling",
                component.display()
            ),
        }
    }
}

/// A script that passed: the path to exec, and whether it is unsafe
/// (only possible without enable_script_security; it was logged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub path: PathBuf,
    pub insecure: bool,
}

fn is_executable(md: &std::fs::Metadata, who: RunAs) -> bool {
    let mode = md.permissions().mode();
    (who.uid == 0 && mode & 0o111 != 0)
        || (who.uid == md.uid() && mode & 0o100 != 0)
        || (who.uid != md.uid() && ((who.gid == md.gid() && mode & 0o010 != 0) || (who.gid != md.gid() && mode & 0o001 != 0)))
}

fn search_path(name: &str, who: RunAs) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    path.split(':').find_map(|dir| {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        let md = std::fs::metadata(&p).ok()?;
        (md.is_file() && is_executable(&md, who)).then_some(p)
    })
}

/// Why one path component is unsafe, or None.
fn unsafe_component(md: &std::fs::Metadata) -> Option<&'static str> {
    let mode = md.mode();
    if md.uid() != 0 {
        return Some("is not owned by root");
    }
    let ft = md.file_type();
    let checked = ft.is_file() || (ft.is_dir() && mode & S_ISVTX == 0);
    if checked && md.gid() != 0 && mode & 0o020 != 0 {
        return Some("is writable by a non-root group");
    }
    if checked && mode & 0o002 != 0 {
        return Some("is world-writable");
    }
    None
}

enum Walk {
    Safe,
    Unsafe(PathBuf, &'static str),
    WrongType(PathBuf),
    NotFound,
}

/// Walks "/", "/a", "/a/b", ... "/a/b/script" with lstat.
fn walk(path: &Path) -> Walk {
    let mut prefixes: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    prefixes.reverse();
    let last = prefixes.len().saturating_sub(1);
    for (i, p) in prefixes.iter().enumerate() {
        if p.as_os_str().is_empty() {
            continue; // a relative path's empty root
        }
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return Walk::NotFound;
        };
        let ft = md.file_type();
        let ok_type = if i < last { ft.is_dir() } else { ft.is_file() || ft.is_symlink() };
        if !ok_type {
            return Walk::WrongType(p.clone());
        }
        if let Some(why) = unsafe_component(&md) {
            return Walk::Unsafe(p.clone(), why);
        }
    }
    Walk::Safe
}

/// The path a script is run by and the real file's path, as keepalived
/// 2.2.7's check_script_secure finds them: the real path, except that when
/// its file name differs from the command's (a symlink at the end), the
/// command's file name in the real directory is used if it names the same
/// file, so that a symlink chosen by name (`/bin/sh` -> `dash`) stays what
/// is run (as `/usr/bin/sh`). Directory symlinks (`/bin` -> `usr/bin`) are
/// resolved either way, so no later component check meets them.
fn resolve(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let real = std::fs::canonicalize(path).ok()?;
    let (Some(name), Some(real_name), Some(real_dir)) = (path.file_name(), real.file_name(), real.parent()) else {
        return Some((real.clone(), real));
    };
    if name == real_name {
        return Some((real.clone(), real));
    }
    let by_name = real_dir.join(name);
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    };
    if same(&by_name, &real) { Some((by_name, real)) } else { Some((real.clone(), real)) }
}

/// keepalived's check for one script, run as `who`. Logs what keepalived
/// logs (the path search warning, unsafe permissions without security).
pub fn check_script(argv0: &str, who: RunAs, script_security: bool) -> Result<Accepted, Refused> {
    let refuse = |reason| {
        let r = Refused { script: argv0.to_string(), reason };
        log::warn!("{r}");
        Err(r)
    };
    if argv0.is_empty() {
        return refuse(RefuseReason::EmptyCommand);
    }
    let path = if argv0.contains('/') {
        PathBuf::from(argv0)
    } else {
        match search_path(argv0, who) {
            Some(p) => {
                log::warn!("script `{argv0}` resolved by path search to `{}`. Please specify full path.", p.display());
                p
            }
            None => return refuse(RefuseReason::NotFound),
        }
    };
    let Some((path, real)) = resolve(&path) else {
        return refuse(RefuseReason::NotFound);
    };
    let Ok(md) = std::fs::metadata(&real) else {
        return refuse(RefuseReason::NotFound);
    };
    if !md.is_file() {
        return refuse(RefuseReason::WrongType { component: real });
    }
    if !is_executable(&md, who) {
        return refuse(RefuseReason::NotExecutable { uid: who.uid, gid: who.gid });
    }
    let mode = md.mode();
    let needs_protection = who.uid == 0
        || who.gid == 0
        || (md.uid() == 0 && mode & 0o100 != 0 && mode & S_ISUID != 0)
        || (md.gid() == 0 && mode & 0o010 != 0 && mode & S_ISGID != 0);
    let mut insecure = false;
    if needs_protection {
        let mut paths = vec![path.clone()];
        if real != path {
            paths.push(real.clone());
        }
        for p in &paths {
            match walk(p) {
                Walk::Safe => {}
                Walk::NotFound => return refuse(RefuseReason::NotFound),
                Walk::WrongType(component) => return refuse(RefuseReason::WrongType { component }),
                Walk::Unsafe(component, why) => {
                    if script_security {
                        return refuse(RefuseReason::Insecure { component, why });
                    }
                    log::warn!("unsafe permissions found for script '{argv0}': '{}' {why}", component.display());
                    insecure = true;
                    break;
                }
            }
        }
    }
    Ok(Accepted { path, insecure })
}
