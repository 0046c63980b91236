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

/// docs/licences.md lists every crate of the graph cargo-deny checks (the
/// targets deny.toml names; build and test dependencies included), with the
/// licence its Cargo.toml declares: what a packager needs for a copyright
/// file. A crate added, removed, updated or relicensed without the list
/// following fails here; `VIGIL_UPDATE_LICENCES=1 cargo test --test licences`
/// rewrites the list.
#[test]
fn docs_list_every_dependency_with_its_licence() {
    if !have_cargo_deny() {
        skip::skip_or_fail("cargo-deny not installed: the dependency list in docs/licences.md not checked (cargo install --locked cargo-deny)");
        return;
    }
    let out = Command::new(env!("CARGO")).args(["deny", "--offline", "list", "-l", "crate", "-f", "json"]).current_dir(ROOT).output().unwrap();
    assert!(out.status.success(), "cargo deny list: {}", String::from_utf8_lossy(&out.stderr));
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo deny list's JSON");
    let meta = Command::new(env!("CARGO")).args(["metadata", "--offline", "--format-version", "1"]).current_dir(ROOT).output().unwrap();
    assert!(meta.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&meta.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).expect("cargo metadata's JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let mut rows = Vec::new();
    for key in graph.as_object().expect("an object of crates").keys() {
        // "NAME VERSION SOURCE"
        let mut words = key.split(' ');
        let (name, version, source) = (words.next().unwrap_or(""), words.next().unwrap_or(""), words.next().unwrap_or(""));
        let licence = packages
            .iter()
            .find(|p| p["name"] == name && p["version"] == version)
            .and_then(|p| p["license"].as_str())
            .unwrap_or_else(|| panic!("{name} {version}: no licence in cargo metadata"));
        let from = if source.starts_with("registry+") {
            "crates.io".to_string()
        } else if let Some(path) = source.strip_prefix("path+file://") {
            match Path::new(path).strip_prefix(ROOT) {
                // vigil itself: its licence is the page's first line.
                Ok(p) if p.as_os_str().is_empty() => continue,
                Ok(p) => format!("`{}` (patched copy)", p.display()),
                Err(_) => panic!("{name}: a path dependency outside the repository: {path}"),
            }
        } else {
            panic!("{name}: a source docs/licences.md does not know: {source}")
        };
        rows.push(format!("| {name} | {version} | {licence} | {from} |"));
    }
    rows.sort();
    let table = format!("| crate | version | licence (its Cargo.toml) | from |\n|---|---|---|---|\n{}\n", rows.join("\n"));
    let path = Path::new(ROOT).join("docs/licences.md");
    let doc = std::fs::read_to_string(&path).expect("docs/licences.md");
    let marker = "<!-- the table below is checked by tests/licences.rs -->\n";
    let (head, _) = doc.split_once(marker).expect("docs/licences.md: no table marker");
    let want = format!("{head}{marker}\n{table}");
    if doc != want && std::env::var("VIGIL_UPDATE_LICENCES").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("write docs/licences.md");
        return;
    }
    assert!(doc == want, "docs/licences.md does not list the dependency graph as it is (VIGIL_UPDATE_LICENCES=1 cargo test --test licences rewrites it):\n{table}");
}
