//! The build uses our patched async-io, async-executor and polling (vendor/README.md),
//! not the registry's: a dependency bump that brings upstream back (and with
//! it allocation per wake-up and an async-io thread polling every 10 ms)
//! fails here. Cargo.lock is what the build resolved: a path dependency has
//! no `source` line, a registry one has; and there must be exactly one of each.

use std::path::Path;

/// The `[[package]]` entries of Cargo.lock named `name`, as text.
fn packages<'a>(lock: &'a str, name: &str) -> Vec<&'a str> {
    lock.split("[[package]]")
        .filter(|p| p.lines().any(|l| l.trim() == format!("name = \"{name}\"")))
        .collect()
}

#[test]
fn async_io_async_executor_and_polling_are_ours() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    for (name, dir) in [
        ("async-io", "vendor/async-io-2.6.0"),
        ("async-executor", "vendor/async-executor-1.14.1"),
        ("polling", "vendor/polling-3.11.0"),
    ] {
        let found = packages(&lock, name);
        assert_eq!(found.len(), 1, "{name}: {} entries in Cargo.lock (a second version crept in?)", found.len());
        assert!(!found[0].contains("source = "), "{name} comes from a registry, not {dir}:\n{}", found[0]);
        assert!(manifest.contains(&format!("{name} = {{ path = \"{dir}\" }}")), "Cargo.toml's [patch.crates-io] no longer names {dir}");
        // The patch is there: the vendored source carries our marks.
        let src = match name {
            "async-io" => "src/driver.rs",
            "polling" => "src/epoll.rs",
            _ => "src/lib.rs",
        };
        let text = std::fs::read_to_string(root.join(dir).join(src)).expect("vendored source");
        assert!(text.contains("vigil patch"), "{dir}/{src} has no `vigil patch` mark: upstream's file?");
    }
}
