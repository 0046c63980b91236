//! Hostile input: vigil's config reader answers with FILE:LINE diagnostics,
//! never a panic, never unbounded memory or time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil::config::{LoadOptions, Loaded, load, load_str};

fn opts() -> LoadOptions {
    LoadOptions { config_id: Some("test".into()) }
}

fn name() -> &'static Path {
    Path::new("/nonexistent/hostile.conf")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn has_msg(l: &Loaded, needle: &str) -> bool {
    l.diagnostics.iter().any(|d| d.message.contains(needle))
}

/// Deterministic xorshift so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn config_random_bytes_never_panic() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for _ in 0..300 {
        let len = (r.next() % 2000) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = load_str(&text, name(), &opts());
    }
}

#[test]
fn config_random_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "{", "}", "\n", " ", "vrrp_instance", "virtual_server", "real_server", "HTTP_GET", "url", "global_defs",
        "interface", "eth0", "virtual_router_id", "priority", "advert_int", "255", "0", "-1", "1.5", "10.0.0.1",
        "fe80::1/64", "\"", "'", "#", "!", "@test", "@^test", "$A=", "$A", "${A}", "~SEQ(I,1,3)", "~LST(X,a,b)",
        "include", "*", "track_script", "virtual_ipaddress", "dev", "authentication", "auth_type", "AH", "\\",
        "static_routes", "via", "table", "static_rules", "from", "to", "vrrp_sync_group", "group", "99999999999999999999",
    ];
    let mut r = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..500 {
        let n = (r.next() % 200) as usize;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(TOKENS[(r.next() % TOKENS.len() as u64) as usize]);
            text.push(' ');
        }
        let _ = load_str(&text, name(), &opts());
    }
}

#[test]
fn config_unterminated_block() {
    let l = load_str("global_defs {\n router_id x\n\nvrrp_instance A {\n", name(), &opts());
    assert!(l.has_errors());
    let d = l.diagnostics.iter().find(|d| d.message.contains("missing '}'")).expect("diagnostic");
    assert_eq!(d.file, name());
    assert_eq!(d.line, 4);
}

#[test]
fn config_include_loop_and_missing_includes() {
    let d = tmpdir("loop");
    std::fs::write(d.join("a.conf"), "include b.conf\n").unwrap_or_default();
    std::fs::write(d.join("b.conf"), "global_defs {\n}\ninclude a.conf\n").unwrap_or_default();
    let l = load(&d.join("a.conf"), &opts());
    assert!(l.has_errors());
    let diag = l.diagnostics.iter().find(|x| x.message.contains("include loop")).expect("loop diagnostic");
    assert_eq!(diag.file, d.join("b.conf"));
    assert_eq!(diag.line, 3);

    // Plain include of nothing: keepalived only logs it.
    let l = load_str("include /nonexistent/dir/*.conf\n", name(), &opts());
    assert!(l.is_valid(), "{:?}", l.diagnostics);
    // includea requires a match.
    let l = load_str("includea /nonexistent/dir/*.conf\n", name(), &opts());
    assert!(!l.is_valid());
    assert_eq!(l.diagnostics[0].line, 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_self_including_glob_is_bounded() {
    let d = tmpdir("self");
    std::fs::write(d.join("x.conf"), "include *.conf\n").unwrap_or_default();
    let t = Instant::now();
    let l = load(&d.join("x.conf"), &opts());
    assert!(l.has_errors());
    assert!(t.elapsed() < Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_hundred_level_nesting() {
    let text = "a {\n".repeat(100) + &"}\n".repeat(100);
    let l = load_str(&text, name(), &opts());
    assert!(l.has_errors());
    let d = l.diagnostics.iter().find(|d| d.message.contains("nest")).expect("nesting diagnostic");
    assert_eq!(d.line, 33);
}

#[test]
fn config_fifty_megabyte_file() {
    let big = "# padding padding padding padding padding padding padding padding\n".repeat(800_000);
    assert!(big.len() > 50_000_000);
    let l = load_str(&big, name(), &opts());
    assert!(l.has_errors());
    assert_eq!(l.diagnostics[0].line, 1);

    let d = tmpdir("big");
    let p = d.join("big.conf");
    std::fs::write(&p, &big).unwrap_or_default();
    drop(big);
    let l = load(&p, &opts());
    assert!(l.has_errors());
    assert!(has_msg(&l, "bytes"), "{:?}", l.diagnostics);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_macro_expanding_to_itself() {
    for text in ["$A=$A\n$A\n", "$A=x $A\n$A\n", "$A=${A}${A}\nglobal_defs {\n router_id ${A}\n}\n", "$A= \\\n$A \\\n$A\n$A\n"] {
        let t = Instant::now();
        let l = load_str(text, name(), &opts());
        assert!(l.has_errors(), "{text:?}: {:?}", l.diagnostics);
        assert!(l.diagnostics.iter().all(|d| d.line >= 1));
        assert!(t.elapsed() < Duration::from_secs(10), "{text:?} took {:?}", t.elapsed());
    }
}

#[test]
fn config_exponential_definitions_are_bounded() {
    let mut text = String::from("$D0=x\n");
    for i in 1..40 {
        text.push_str(&format!("$D{i}= \\\n$D{} \\\n$D{}\n", i - 1, i - 1));
    }
    text.push_str("$D39\n");
    let t = Instant::now();
    let l = load_str(&text, name(), &opts());
    assert!(l.has_errors());
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn config_overlong_line() {
    let text = format!("global_defs {{\n router_id {}\n}}\n", "x".repeat(200_000));
    let l = load_str(&text, name(), &opts());
    assert!(l.has_errors());
    assert_eq!(l.diagnostics[0].line, 2);
    assert!(l.diagnostics[0].to_string().starts_with("/nonexistent/hostile.conf:2: "));
}

#[test]
fn config_non_utf8() {
    let d = tmpdir("utf8");
    let p = d.join("bad.conf");
    std::fs::write(&p, b"global_defs {\n router_id \xff\xfe\n}\n! caf\xe9 in a comment is fine\n").unwrap_or_default();
    let l = load(&p, &opts());
    assert!(l.has_errors());
    assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
    assert_eq!(l.diagnostics[0].line, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_huge_sequences_are_bounded() {
    let t = Instant::now();
    let l = load_str("~SEQ(A, 0, 1000000000) ~SEQ(B, 0, 1000000000) x ${A} ${B}\n", name(), &opts());
    assert!(l.has_errors());
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn config_silent_sequences_are_bounded() {
    let t = Instant::now();
    let l = load_str("~SEQ(A, 0, 1999999) ~SEQ(B, 0, 1999999) $X=1\n", name(), &opts());
    assert!(l.has_errors());
    assert!(t.elapsed() < Duration::from_secs(60));
}

#[test]
fn config_directory_and_empty_inputs() {
    let l = load(Path::new("/"), &opts());
    assert!(l.has_errors());
    let l = load_str("", name(), &opts());
    assert!(l.is_valid());
}

/// Every local case with random words swapped for tokens the newer readers
/// take (broadcast forms, route metrics, tunnel options, hex, decimals,
/// multi-byte characters): nothing panics.
#[test]
fn config_case_mutations_never_panic() {
    const TOKENS: &[&str] = &[
        "+", "-", "brd", "inet6", "inet", "via", "lock", "mtu", "rtt", "10ms", "realms", "1/2", "type", "gue", "port",
        "csum", "0x", "41x", "0.1234567", "1.ééééééé", "é", "{", "}", "$", "${", "~SEQ(i,$", "<", "</", "weight",
        "reverse", "254", "-254", "4294967296", "IRUSR|", "|", "MTU", "allow_if_changes", "peer", "255", "0",
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/compare");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect())
        .unwrap_or_default();
    cases.sort();
    assert!(!cases.is_empty());
    let mut r = Rng(0x0bad_f00d_1234_5678);
    for c in &cases {
        let text = std::fs::read_to_string(c).unwrap_or_default();
        for _ in 0..20 {
            let mut words: Vec<String> = text.split(' ').map(String::from).collect();
            for _ in 0..3 {
                let i = (r.next() % words.len() as u64) as usize;
                words[i] = TOKENS[(r.next() % TOKENS.len() as u64) as usize].to_string();
            }
            let _ = load_str(&words.join(" "), name(), &opts());
        }
    }
}
