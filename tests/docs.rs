//! The user's documentation holds together: every relative link in README.md
//! and docs/*.md reaches a file that exists, and its #anchor a heading of
//! that file (GitHub's slug rules); the README's "Two commands" block is the
//! two commands and they exist; the README stays short, links every page
//! of docs/ and has the migration section, each of its differences linked
//! to its reason; and no user-facing text names a tracker issue or a working
//! session by number, which means nothing to a reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every docs/*.md.
fn pages() -> Vec<PathBuf> {
    let mut v = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "docs/ has no .md page");
    v.extend(docs);
    v
}

/// The lines of a Markdown text outside fenced code blocks (``` or ~~~)
/// and indented code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    let mut prev_blank = true;
    let mut in_indented = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
            continue;
        }
        // An indented code block starts after a blank line; a list item's
        // continuation is indented too, but follows text, not a blank line.
        if line.starts_with("    ") && (prev_blank || in_indented) && !t.starts_with("- ") && !t.starts_with('|') {
            in_indented = true;
            prev_blank = false;
            continue;
        }
        in_indented = false;
        prev_blank = line.trim().is_empty();
        out.push((i + 1, line));
    }
    out
}

/// The text of a line with its inline code spans removed.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// `[text](target)` link targets of a line (code spans left out).
fn links(line: &str) -> Vec<String> {
    let s = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                out.push(after[..j].trim().to_string());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// GitHub's anchor for a heading's text: the rendered text (code spans'
/// backticks, emphasis and link syntax dropped) lower-cased, every
/// character but letters, digits, '-', '_' and spaces removed, spaces made
/// '-'. Repeats get -1, -2, ... (done by the caller).
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // [text](url) -> text
    while let Some(i) = rest.find('[') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find("](").and_then(|j| after[j..].find(')').map(|k| (j, j + k))) {
            Some((j, end)) => {
                text.push_str(&after[..j]);
                rest = &after[end + 1..];
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(line[hashes..].trim());
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
            *n += 1;
        }
    }
    out
}

#[test]
fn slugs_follow_githubs_rules() {
    assert_eq!(slug("Configuration (`-t` verdicts)"), "configuration--t-verdicts");
    assert_eq!(slug("keepalived 2.2.7 behaviour we match, which its manual does not describe"), "keepalived-227-behaviour-we-match-which-its-manual-does-not-describe");
    assert_eq!(slug("1,000 VRRP instances"), "1000-vrrp-instances");
    assert_eq!(slug("Soak at keepalived's sizes"), "soak-at-keepaliveds-sizes");
    assert_eq!(slug("The failover lab (`qemu/lab`)"), "the-failover-lab-qemulab");
    let a = anchors("# A\n## Twice\n```sh\n# not a heading\n```\n## Twice\n");
    assert_eq!(a, ["a", "twice", "twice-1"].into_iter().map(String::from).collect());
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    // image/README.md and vendor/README.md link into docs/ too.
    let extra = ["image/README.md", "vendor/README.md"].map(|f| Path::new(ROOT).join(f));
    for page in pages().into_iter().chain(extra) {
        let text = std::fs::read_to_string(&page).expect("page");
        let dir = page.parent().expect("parent");
        for (n, line) in prose_lines(&text) {
            for target in links(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target.as_str(), None),
                };
                let path = if file.is_empty() { page.clone() } else { dir.join(file) };
                let where_ = format!("{}:{n}: {target}", page.strip_prefix(ROOT).unwrap_or(&page).display());
                if !path.exists() {
                    broken.push(format!("{where_}: no such file"));
                    continue;
                }
                if let Some(a) = anchor {
                    if path.extension().is_none_or(|e| e != "md") {
                        broken.push(format!("{where_}: an anchor into a file that is not Markdown"));
                    } else if !anchors(&std::fs::read_to_string(&path).expect("target")).contains(a) {
                        broken.push(format!("{where_}: no heading with that anchor"));
                    }
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found: is the link reader broken?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn readme_has_exactly_the_two_commands() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let section = readme.split_once("\n## Two commands\n").map(|(_, s)| s).expect("README.md: no '## Two commands' section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let block = section.split_once("```sh\n").and_then(|(_, b)| b.split_once("\n```")).map(|(b, _)| b).expect("no ```sh block under Two commands");
    let commands: Vec<&str> = block.lines().map(|l| l.split_once(" #").map_or(l, |(c, _)| c).trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(commands, ["image/build && qemu/lab", "tests/run"], "the Two commands block");
    // They are there to run, and CI runs the second.
    for script in ["image/build", "qemu/lab", "tests/run"] {
        let meta = std::fs::metadata(Path::new(ROOT).join(script)).unwrap_or_else(|e| panic!("{script}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert!(meta.permissions().mode() & 0o111 != 0, "{script} is not executable");
    }
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).expect(".ci/run");
    assert!(ci.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("tests/run")), ".ci/run does not run tests/run");
}

#[test]
fn readme_is_short_and_links_every_page_of_docs() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    // The user's README; detail belongs in docs/ (it had grown to 94 KB).
    assert!(readme.len() < 12_000, "README.md is {} bytes: move detail into docs/", readme.len());
    let linked: BTreeSet<String> = prose_lines(&readme).into_iter().flat_map(|(_, l)| links(l)).map(|t| t.split('#').next().unwrap_or_default().to_string()).collect();
    for page in pages().into_iter().skip(1) {
        let rel = format!("docs/{}", page.file_name().expect("name").to_string_lossy());
        assert!(linked.contains(&rel), "README.md does not link {rel}");
    }
}

/// The user-facing text: pages, changelog, man pages, the Buildroot tree's
/// text, the image's README, the unit files, and the scripts a user runs.
fn user_facing() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut v = pages();
    for f in [
        "CHANGELOG.md",
        "image/README.md",
        "vendor/README.md",
        "Cargo.toml",
        "image/build",
        "tests/run",
        "tests/deps",
        "tests/fuzz-smoke",
        ".ci/run",
        "board/vigil/readme.txt",
        "board/package/vigil/vigil.mk",
        "board/package/vigil/Config.in",
        "board/Config.in",
        "dist/vigil.service",
        "dist/vigil.default",
    ] {
        v.push(root.join(f));
    }
    for dir in ["doc/man", "qemu", "benches"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let p = e.expect("entry").path();
            if p.is_file() {
                v.push(p);
            }
        }
    }
    v
}

/// "issue 14", "Issues 6 and 15", "session 4", "(#12)".
fn names_a_number(line: &str) -> bool {
    let lower = line.to_lowercase();
    for word in ["issue ", "issues ", "session ", "sessions "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(word) {
            let at = from + i;
            let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            if before_ok && lower[at + word.len()..].starts_with(|c: char| c.is_ascii_digit()) {
                return true;
            }
            from = at + word.len();
        }
    }
    // "(#12)", not a link to an anchor such as "(#1000-vrrp-instances)".
    line.split("(#").skip(1).any(|s| {
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && s[digits..].starts_with(')')
    })
}

#[test]
fn no_user_facing_text_names_an_issue_number() {
    assert!(names_a_number("before issue 11") && names_a_number("Issues 6 and 15") && names_a_number("(session 4)") && names_a_number("fixed (#12)"));
    assert!(!names_a_number("[1,000 VRRP instances](#1000-vrrp-instances)"));
    assert!(!names_a_number("the tissue 5") && !names_a_number("issue tracker") && !names_a_number("BFD sessions"));
    let mut found = Vec::new();
    for f in user_facing() {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for (n, line) in text.lines().enumerate() {
            if names_a_number(line) {
                found.push(format!("{}:{}: {}", f.strip_prefix(ROOT).unwrap_or(&f).display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "tracker numbers in user-facing text (say what changed instead):\n{}", found.join("\n"));
}

/// A keepalived user switches by the README alone: it has the migration
/// section, and each line of "What differs" links to its reason in
/// docs/differences.md (the anchors themselves are checked above).
#[test]
fn readme_tells_a_keepalived_user_how_to_switch() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let migrating = readme.split_once("\n## Migrating from keepalived\n").map(|(_, s)| s).expect("README.md: no '## Migrating from keepalived'");
    let migrating = migrating.split("\n## ").next().unwrap_or_default();
    for needed in ["### What keeps working", "### What differs", "vigil -t", "systemctl", "/run/keepalived.pid", "/tmp/keepalived.data", "keepalived-exporter", "--signum"] {
        assert!(migrating.contains(needed), "the migration section does not mention {needed}");
    }
    let differs = migrating.split_once("### What differs\n").map(|(_, s)| s).unwrap_or_default();
    let lines: Vec<&str> = differs.lines().filter(|l| l.starts_with("- ")).collect();
    assert!(lines.len() >= 5, "What differs has {} lines", lines.len());
    for l in lines {
        assert!(links(l).iter().any(|t| t.starts_with("docs/differences.md#")), "a What differs line without a link into docs/differences.md: {l}");
    }
}
