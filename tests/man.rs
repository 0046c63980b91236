//! The man pages (doc/man/*.scd): doc/man/build renders them with scdoc,
//! `man -l` shows each with its NAME section, and vigil(8) names every
//! option `vigil --help` lists, so the page cannot fall behind the command
//! line. Without scdoc or man: SKIPPED loudly (a failure under
//! VIGIL_REQUIRE_ALL=1).

#[path = "support/skip.rs"]
mod skip;

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// man's output without its overstrike (X backspace X for bold, _ backspace X
/// for underline), as `col -b` would print it.
fn plain(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn man_pages_build_and_render() {
    for tool in ["scdoc", "man"] {
        if !have(tool) {
            skip::skip_or_fail(&format!("{tool} not installed: the man pages were not built (Debian: apt-get install scdoc man-db)"));
            return;
        }
    }
    let out = std::env::temp_dir().join(format!("vigil-man-{}", std::process::id()));
    let built = Command::new("bash").arg(format!("{ROOT}/doc/man/build")).arg(&out).output().unwrap();
    assert!(built.status.success(), "doc/man/build: {}", String::from_utf8_lossy(&built.stderr));
    for (page, name) in [("vigil.8", "vigil - "), ("vigil.conf.5", "vigil.conf - ")] {
        let r = Command::new("man").arg("-l").arg(out.join(page)).env("MANWIDTH", "80").env("MANPAGER", "cat").env("PAGER", "cat").output().unwrap();
        let text = plain(&String::from_utf8_lossy(&r.stdout));
        assert!(r.status.success(), "man -l {page}: {}", String::from_utf8_lossy(&r.stderr));
        let after_name = text.split_once("\nNAME\n").map(|(_, rest)| rest).unwrap_or_else(|| panic!("{page}: no NAME section:\n{text}"));
        assert!(after_name.trim_start().starts_with(name), "{page}: NAME is not '{name}...':\n{text}");
        assert!(String::from_utf8_lossy(&r.stderr).trim().is_empty(), "man -l {page} warned: {}", String::from_utf8_lossy(&r.stderr));
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn vigil_8_names_every_option_of_help() {
    let page = std::fs::read_to_string(format!("{ROOT}/doc/man/vigil.8.scd")).unwrap();
    let mut missing = Vec::new();
    // genhash's own options belong to genhash(1), not to this page.
    let usage = vigil::cli::USAGE.split("  vigil genhash").next().unwrap();
    for word in usage.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']') {
        let opt = word.trim_end_matches(')');
        let is_opt = (opt.starts_with("--") && opt.len() > 2) || (opt.len() == 2 && opt.starts_with('-'));
        // --role is internal (the parent's own way to start a child).
        if is_opt && opt != "--role" && !page.contains(&format!("*{opt}*")) && !page.contains(&format!("*{opt}=")) {
            missing.push(opt.to_string());
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "vigil --help lists options doc/man/vigil.8.scd does not: {missing:?}");
}
