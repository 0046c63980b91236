//! `vigil -v`: what this binary is, as `keepalived -v` says what it was
//! built with, so that a bug report names the build without guessing.

/// What this build can do, in keepalived's `Config options:` words where
/// keepalived has one (a packager compares the two lines). Cargo has no
/// optional features in vigil yet: every build carries all of these.
pub const FEATURES: &[&str] = &[
    "VRRP",
    "VRRP_AUTH",
    "LVS",
    "LVS_SYNC",
    "NFTABLES",
    "JSON",
    "SSL_GET(rustls)",
    "SMTP_ALERT",
    "BFD",
    "SECCOMP",
    "INIT=vigil",
    "SD_NOTIFY",
];

/// The whole text, ending with a newline.
pub fn text() -> String {
    let target = env!("VIGIL_BUILD_TARGET");
    let linkage = if target.contains("musl") { "static" } else { "dynamic" };
    format!(
        "vigil {} (git {})\n\
         keepalived-compatible VRRP and health checkers; reads keepalived.conf as keepalived 2.2.7\n\
         \n\
         Built for {target} ({linkage}, {} profile)\n\
         Config options:  {}\n\
         License: GPL-2.0-or-later\n",
        env!("CARGO_PKG_VERSION"),
        env!("VIGIL_GIT_REVISION"),
        env!("VIGIL_BUILD_PROFILE"),
        FEATURES.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_version_revision_and_features_and_ends_with_a_newline() {
        let t = text();
        assert!(t.starts_with(&format!("vigil {} (git ", env!("CARGO_PKG_VERSION"))), "{t}");
        assert!(!env!("VIGIL_GIT_REVISION").is_empty());
        assert!(t.contains("Config options:  VRRP "), "{t}");
        assert!(t.ends_with('\n') && !t.ends_with("\n\n"), "{t:?}");
    }
}
