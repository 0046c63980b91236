//! The version has one source, Cargo.toml: the newest release in
//! CHANGELOG.md and the Buildroot recipe's VIGIL_VERSION must say the same,
//! and the changelog keeps Keep a Changelog's shape (an Unreleased section,
//! then releases newest first, each with a date).

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(p: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{p}")).unwrap()
}

#[test]
fn changelog_recipe_and_cargo_agree_on_the_version() {
    let version = env!("CARGO_PKG_VERSION");
    let log = read("CHANGELOG.md");
    let heads: Vec<&str> = log.lines().filter(|l| l.starts_with("## [")).collect();
    assert_eq!(heads.first().copied(), Some("## [Unreleased]"), "{heads:?}");
    let releases: Vec<(&str, &str)> = heads[1..]
        .iter()
        .map(|h| {
            let (v, d) = h.trim_start_matches("## [").split_once("] - ").unwrap_or_else(|| panic!("{h:?}: not '## [X.Y.Z] - YYYY-MM-DD'"));
            assert!(d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-', "{h:?}");
            (v, d)
        })
        .collect();
    assert_eq!(releases.first().map(|r| r.0), Some(version), "Cargo.toml's version is not the newest release in CHANGELOG.md");
    let num = |v: &str| v.split('.').map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>();
    assert!(releases.windows(2).all(|w| num(w[0].0) > num(w[1].0) && w[0].1 >= w[1].1), "releases not newest first: {releases:?}");
    let mk = read("board/package/vigil/vigil.mk");
    assert!(mk.lines().any(|l| l == format!("VIGIL_VERSION = {version}")), "vigil.mk's VIGIL_VERSION is not {version}");
}
