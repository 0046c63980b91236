//! The licence check: `cargo deny check licenses` passes on vigil's
//! dependency graph (vendor/ included) with deny.toml's list, and the same
//! list fails on a crate that pulls in a dependency under a licence it does
//! not allow. Without cargo-deny: SKIPPED loudly (a failure under
//! VIGIL_REQUIRE_ALL=1; tests/deps installs it).

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn deny(dir: &Path) -> Output {
    Command::new(env!("CARGO")).args(["deny", "--offline", "check", "licenses"]).current_dir(dir).output().unwrap()
}

fn have_cargo_deny() -> bool {
    Command::new(env!("CARGO")).args(["deny", "--version"]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn dependency_licences_are_allowed_and_others_refused() {
    if !have_cargo_deny() {
        skip::skip_or_fail("cargo-deny not installed: dependency licences not checked (cargo install --locked cargo-deny)");
        return;
    }
    let ok = deny(Path::new(ROOT));
    assert!(ok.status.success(), "cargo deny check licenses:\n{}", String::from_utf8_lossy(&ok.stderr));

    // A crate under vigil's licence with a path dependency under one the
    // list does not carry: the same deny.toml must refuse it.
    let dir = std::env::temp_dir().join(format!("vigil-licences-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, licence, dep) in [("top", "GPL-2.0-or-later", "dep = { path = \"../dep\" }\n"), ("dep", "SSPL-1.0", "")] {
        let d = dir.join(name);
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::write(
            d.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"{licence}\"\n\n[dependencies]\n{dep}\n[workspace]\n"),
        )
        .unwrap();
        std::fs::write(d.join("src/lib.rs"), "").unwrap();
    }
    std::fs::copy(format!("{ROOT}/deny.toml"), dir.join("top/deny.toml")).unwrap();
    let bad = deny(&dir.join("top"));
    let err = String::from_utf8_lossy(&bad.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!bad.status.success(), "an SSPL-1.0 dependency passed:\n{err}");
    assert!(err.contains("dep") && err.contains("rejected"), "{err}");
}
