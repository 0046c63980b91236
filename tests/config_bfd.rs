//! BFD configuration (`bfd_instance`, `track_bfd`, `BFD_CHECK`) against Debian's keepalived
//! 2.2.7: every `*bfd*.conf` case of tests/data/config/compare is judged by `keepalived -t` and
//! by vigil, in one network namespace with eth0..eth3. Beyond the verdict (which
//! tests/config_corpus.rs checks for all cases), the messages: every BFD problem keepalived
//! prints, vigil reports in the same words, and vigil reports nothing keepalived does not say.
//!
//! keepalived reads the file once per process (VRRP, checker, BFD), so it may print one
//! problem more than once; vigil reports each once, at its FILE:LINE. Lines are compared as
//! sets of messages, without keepalived's prefixes or vigil's FILE:LINE.
//! Needs root (a namespace) and keepalived: a loud SKIPPED without them, a failure under
//! VIGIL_REQUIRE_ALL=1.

mod common;

use common::ka::{KaVerdict, Netns, keepalived, keepalived_verdict, skip_or_fail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vigil::config::{LoadOptions, load};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/compare");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("bfd")))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// vigil's exit code and messages (without FILE:LINE), from a thread in the namespace.
fn vigil_verdicts(ns: &str, files: &[PathBuf]) -> Vec<(i32, BTreeSet<String>)> {
    let files = files.to_vec();
    common::ka::in_netns(ns, move || {
        files
            .iter()
            .map(|p| {
                let l = load(p, &LoadOptions::default());
                (i32::from(l.test_exit_code()), l.diagnostics.iter().map(|d| d.message.clone()).collect())
            })
            .collect()
    })
}

/// keepalived's problem lines as messages: its -t output, one problem a line.
fn ka_messages(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        // keepalived -t ends with a summary of what it read; not a problem line.
        .filter(|l| !l.starts_with("Configuration file") && !l.starts_with("Keepalived"))
        .map(|l| {
            // "(FILE: Line N) msg" or "(Line N) msg"; an instance's "(VI_1) msg" stays.
            match l.find(") ") {
                Some(close) if l.starts_with('(') && l[..close].contains("Line ") => l[close + 2..].to_string(),
                _ => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn bfd_messages_match_keepalived() {
    let files = cases();
    assert!(files.len() >= 50, "the BFD cases are missing ({} found)", files.len());
    let Some(bin) = keepalived() else {
        skip_or_fail("keepalived binary not found");
        return;
    };
    let Some(ns) = Netns::create() else {
        skip_or_fail("cannot create a network namespace (not root?)");
        return;
    };
    let ours = vigil_verdicts(&ns.0, &files);
    let (mut verdicts, mut messages, mut compared) = (0, 0, 0);
    let mut report = String::new();
    for (f, (vigil_code, vigil_msgs)) in files.iter().zip(ours) {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (theirs, err) = keepalived_verdict(&bin, &ns.0, f);
        let KaVerdict::Exit(ka_code) = theirs else {
            // A crash is no verdict (DIFFERENCES.md, "Crashes are no verdict").
            println!("{name}: keepalived gave no verdict ({theirs:?}); not compared");
            continue;
        };
        compared += 1;
        let ka_msgs = ka_messages(&err);
        let verdict_ok = (ka_code == 0) == (vigil_code == 0);
        let messages_ok = ka_msgs == vigil_msgs;
        verdicts += usize::from(verdict_ok);
        messages += usize::from(messages_ok);
        if !verdict_ok || !messages_ok {
            report.push_str(&format!(
                "\n{name}: keepalived -t exits {ka_code}, vigil -t {vigil_code}\n  keepalived only: {:?}\n  vigil only: {:?}",
                ka_msgs.difference(&vigil_msgs).collect::<Vec<_>>(),
                vigil_msgs.difference(&ka_msgs).collect::<Vec<_>>(),
            ));
        }
    }
    println!("BFD cases: {compared} of {} judged by keepalived; verdicts agree on {verdicts}, messages on {messages}", files.len());
    assert!(report.is_empty(), "differences:{report}");
}

/// xorshift64 (as tests/config_corpus.rs), for the generated cases.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A configuration over the BFD axes: 1-3 `bfd_instance`s with keywords drawn from valid and
/// invalid values, VRRP instances and a sync group tracking them (by known and unknown
/// names, with and without weights), real servers checking them; the order of the blocks
/// varies, since keepalived looks names up in file order.
fn generate(rng: &mut Rng) -> String {
    let mut bfds = String::new();
    let n_bfd = 1 + rng.next() % 3;
    for i in 0..n_bfd {
        bfds += &format!("bfd_instance B{i} {{\n");
        if rng.chance(92) {
            let nbr = rng.pick(&["10.0.0.2", "10.0.0.3", "2001:db8::2", "10.0.0.300", "10.0.0.4"]);
            let kw = if rng.chance(80) { "neighbor_ip" } else { "neighbour_ip" };
            bfds += &format!("    {kw} {nbr}\n");
        }
        if rng.chance(30) {
            bfds += &format!("    source_ip {}\n", rng.pick(&["10.0.0.1", "2001:db8::1", "10.0.0.9", "bad"]));
        }
        for (kw, values) in [
            ("min_rx", &["1", "10", "2.5", "1000", "0", "1001", "0.5", "3.1234", "x"][..]),
            ("min_tx", &["1", "50", "7.125", "1000", "0", "2000"][..]),
            ("idle_tx", &["1000", "2000", "10000", "999", "10001", "1500.5"][..]),
            ("multiplier", &["1", "3", "10", "0", "11", "-1"][..]),
            ("ttl", &["1", "64", "255", "0", "256"][..]),
            ("hoplimit", &["1", "255", "300"][..]),
            ("max_hops", &["-1", "0", "2", "255", "-2", "256"][..]),
            ("weight", &["0", "10", "-10", "253", "-253", "254", "10 reverse", "5 sideways"][..]),
        ] {
            if rng.chance(25) {
                bfds += &format!("    {kw} {}\n", rng.pick(values));
            }
        }
        for kw in ["passive", "vrrp", "checker"] {
            if rng.chance(15) {
                bfds += &format!("    {kw}\n");
            }
        }
        if rng.chance(5) {
            bfds += "    interval 50\n";
        }
        bfds += "}\n";
    }
    let name = |rng: &mut Rng| if rng.chance(85) { format!("B{}", rng.next() % n_bfd) } else { "NOPE".to_string() };
    let track_line = |rng: &mut Rng| {
        let n = name(rng);
        let opt = rng.pick(&["", "", " weight 10", " weight -5", " weight 0", " weight 10 reverse", " weight 5 noreverse", " weight", " weight 300", " prio 1", " weight 1 x"]);
        format!("        {n}{opt}\n")
    };
    let mut vrrp = String::new();
    let n_inst = 1 + rng.next() % 2;
    for k in 0..n_inst {
        let prio = if rng.chance(15) { 255 } else { 100 };
        vrrp += &format!(
            "vrrp_instance VI_{k} {{\n    interface eth0\n    virtual_router_id {}\n    priority {prio}\n    virtual_ipaddress {{\n        10.200.{k}.1/24\n    }}\n",
            51 + k
        );
        if rng.chance(70) {
            vrrp += "    track_bfd {\n";
            for _ in 0..1 + rng.next() % 2 {
                vrrp += &track_line(rng);
            }
            vrrp += "    }\n";
        }
        vrrp += "}\n";
    }
    if n_inst == 2 && rng.chance(50) {
        vrrp += "vrrp_sync_group G {\n    group {\n        VI_0\n        VI_1\n    }\n";
        if rng.chance(30) {
            vrrp += "    sync_group_tracking_weight\n";
        }
        if rng.chance(60) {
            vrrp += &format!("    track_bfd {{\n{}    }}\n", track_line(rng));
        }
        vrrp += "}\n";
    }
    let mut lvs = String::new();
    if rng.chance(50) {
        lvs += "virtual_server 10.0.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 10.0.1.1 80 {\n";
        for _ in 0..1 + rng.next() % 2 {
            let body = match rng.next() % 6 {
                0 => String::new(),
                1 => format!("            name {} {}\n", name(rng), name(rng)),
                2 => format!("            name {}\n            name {}\n", name(rng), name(rng)),
                3 => format!("            name {}\n            alpha\n", name(rng)),
                _ => format!("            name {}\n", name(rng)),
            };
            lvs += &format!("        BFD_CHECK {{\n{body}        }}\n");
        }
        lvs += "    }\n}\n";
    }
    // Definitions first, mostly; sometimes the users come first.
    match rng.next() % 4 {
        0 => format!("{vrrp}{lvs}{bfds}"),
        1 => format!("{vrrp}{bfds}{lvs}"),
        _ => format!("{bfds}{vrrp}{lvs}"),
    }
}

/// Generated BFD configurations (VIGIL_BFD_DIFF_COUNT, default 150, from VIGIL_BFD_DIFF_SEED,
/// default 1): the verdicts must agree, and the messages are compared as above.
#[test]
fn bfd_generated_configurations_match_keepalived() {
    let count: u64 = std::env::var("VIGIL_BFD_DIFF_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let seed: u64 = std::env::var("VIGIL_BFD_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let Some(bin) = keepalived() else {
        skip_or_fail("keepalived binary not found");
        return;
    };
    let Some(ns) = Netns::create() else {
        skip_or_fail("cannot create a network namespace (not root?)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("vigil-bfd-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = Rng((seed ^ 0x9e37_79b9_7f4a_7c15) | 1);
    let files: Vec<PathBuf> = (0..count)
        .map(|i| {
            let p = dir.join(format!("bfd-{seed}-{i}.conf"));
            std::fs::write(&p, generate(&mut rng)).expect("write case");
            p
        })
        .collect();
    let ours = vigil_verdicts(&ns.0, &files);
    let (mut compared, mut verdicts, mut messages) = (0, 0, 0);
    let mut report = String::new();
    for (f, (vigil_code, vigil_msgs)) in files.iter().zip(ours) {
        let (theirs, err) = keepalived_verdict(&bin, &ns.0, f);
        let KaVerdict::Exit(ka_code) = theirs else { continue };
        compared += 1;
        let ka_msgs = ka_messages(&err);
        let verdict_ok = (ka_code == 0) == (vigil_code == 0);
        verdicts += usize::from(verdict_ok);
        messages += usize::from(ka_msgs == vigil_msgs);
        if !verdict_ok || ka_msgs != vigil_msgs {
            report.push_str(&format!(
                "\n{}: keepalived -t exits {ka_code}, vigil -t {vigil_code}\n  keepalived only: {:?}\n  vigil only: {:?}\n{}",
                f.display(),
                ka_msgs.difference(&vigil_msgs).collect::<Vec<_>>(),
                vigil_msgs.difference(&ka_msgs).collect::<Vec<_>>(),
                std::fs::read_to_string(f).unwrap_or_default()
            ));
        }
    }
    println!("generated BFD configurations (seed {seed}): {compared} of {count} judged; verdicts agree on {verdicts}, messages on {messages}");
    if report.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(report.is_empty(), "differences (files kept in {}):{report}", dir.display());
}
