//! The one test-skip rule: a test that cannot run says SKIPPED on
//! the real stderr (libtest captures `eprintln!` of a passing test, so a skip
//! printed that way is never seen), and fails instead when
//! VIGIL_REQUIRE_ALL=1 (set by `.ci/run`). Included by path into each test
//! crate or helper module that needs it.
#![allow(dead_code)]

use std::io::Write as _;

/// Whether skipping is forbidden: VIGIL_REQUIRE_ALL=1, the same reading everywhere.
pub fn require_all() -> bool {
    std::env::var("VIGIL_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// A missing prerequisite: a loud SKIPPED line on the real stderr, or a
/// failure under VIGIL_REQUIRE_ALL=1.
pub fn skip_or_fail(what: &str) {
    if require_all() {
        panic!("{what} (VIGIL_REQUIRE_ALL=1 forbids skipping)");
    }
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {what} !!!!!!!!\n");
}
