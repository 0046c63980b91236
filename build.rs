//! Build-time facts for `vigil -v`: the git revision the binary was built
//! from. A packager building from a tarball (Buildroot, Debian) has no git:
//! VIGIL_GIT_REVISION names the revision then, and without either the
//! revision is "unknown". No dependency: git is run when it is there.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Whether git's work tree is this source tree: a tarball unpacked inside
/// another repository (Buildroot's own checkout, a distribution's packaging
/// repository) must not be given that repository's revision.
fn own_repository() -> bool {
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else { return false };
    let here = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    match (std::fs::canonicalize(top), std::fs::canonicalize(here)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=VIGIL_GIT_REVISION");
    let rev = match std::env::var("VIGIL_GIT_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ if !own_repository() => "unknown".to_string(),
        _ => {
            // Rebuild when HEAD moves (a commit, a checkout); in a worktree
            // these paths are the worktree's own, which git resolves.
            for p in ["HEAD", "packed-refs"] {
                if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
                if let Some(path) = git(&["rev-parse", "--git-path", &head]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=VIGIL_GIT_REVISION={rev}");
    println!("cargo:rustc-env=VIGIL_BUILD_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    println!("cargo:rustc-env=VIGIL_BUILD_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
}
