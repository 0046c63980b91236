//! `vigil -v` / `--version`: the version, the git revision and the build's
//! options on stdout, ending with a newline, exit 0 (as `keepalived -v`).

use std::process::Command;

#[test]
fn version_names_the_build() {
    for flag in ["-v", "--version"] {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil")).arg(flag).output().unwrap();
        assert!(out.status.success(), "{flag}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let first = text.lines().next().unwrap_or("");
        assert!(first.starts_with(&format!("vigil {} (git ", env!("CARGO_PKG_VERSION"))), "{flag}: {text}");
        // A revision, never empty: git's hash here, "unknown" without git.
        let rev = first.rsplit("(git ").next().unwrap().trim_end_matches(')');
        assert!(!rev.is_empty() && rev.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{rev:?}");
        let options = text.lines().find(|l| l.starts_with("Config options:")).unwrap_or("");
        assert!(options.contains("VRRP") && options.contains("LVS"), "{text}");
        // The BFD child runs sessions: BFD as keepalived says it, no qualifier.
        assert!(options.split_whitespace().any(|w| w == "BFD"), "{text}");
        assert!(text.ends_with('\n'), "{text:?}");
    }
}

/// A packager's revision (a tarball build has no git) wins over git's.
#[test]
fn packagers_revision_is_honoured_by_the_build_script() {
    let build = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs")).unwrap();
    assert!(build.contains("VIGIL_GIT_REVISION") && build.contains("\"unknown\""));
}
