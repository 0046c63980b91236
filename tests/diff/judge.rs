//! Each configuration judged by `keepalived -t` and `vigil -t` (both as processes, in one
//! namespace with eth0..eth3), compared, grouped into classes of disagreement, and the
//! disagreements shrunk to small configurations that still disagree the same way.

use crate::common::ka::{self, Ended, KaVerdict, Netns, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// vigil -t never needs long; a hang is a bug to report.
const VIGIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Both daemons' runs on one file.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub ka: Run,
    pub vigil: Run,
}

/// Which way a disagreement goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// keepalived -t exits 0, vigil -t reports problems.
    VigilStricter,
    /// keepalived -t reports problems, vigil -t exits 0.
    VigilLaxer,
    /// Both report problems, with different exit codes (4 a bad interface, 5 problems,
    /// 6 a script security violation or a missing include).
    ExitCode,
}

impl Direction {
    pub fn describe(self) -> &'static str {
        match self {
            Direction::VigilStricter => "keepalived valid, vigil invalid",
            Direction::VigilLaxer => "keepalived invalid, vigil valid",
            Direction::ExitCode => "both invalid, different exit codes",
        }
    }
}

/// The verdict comparison of one file.
#[derive(Clone, Debug, PartialEq)]
pub enum Compared {
    Agree { valid: bool },
    Disagree(Direction),
    /// keepalived crashed, hung, or gave no verdict: nothing to compare with.
    NoKeepalivedVerdict(String),
    /// vigil -t ended other than with 0, 4, 5 or 6 (a panic, a signal, a hang): always a bug.
    VigilBroken(String),
}

impl Outcome {
    /// keepalived -t's exit code: 0 valid, 5 problems, 6 a script security violation.
    pub fn ka_code(&self) -> Option<i32> {
        match self.ka.ended {
            Ended::Exit(c) => Some(c),
            _ => None,
        }
    }

    /// vigil -t's exit code, as keepalived's: 0, 5 or 6.
    pub fn vigil_code(&self) -> Option<i32> {
        match self.vigil.ended {
            Ended::Exit(c @ (0 | 4 | 5 | 6)) => Some(c),
            _ => None,
        }
    }

    pub fn ka_valid(&self) -> Result<bool, String> {
        match ka::ka_verdict(&self.ka) {
            KaVerdict::Exit(code) => Ok(code == 0),
            // No generated file names a non-root script_user, so keepalived's silent SIGTERM
            // is not the known case of DIFFERENCES.md: report it rather than guess.
            KaVerdict::NoVerdict => Err("killed itself with SIGTERM, printing nothing".into()),
            KaVerdict::Crashed(0) => Err("hung".into()),
            KaVerdict::Crashed(sig) => Err(format!("crashed (signal {sig})")),
        }
    }

    pub fn vigil_valid(&self) -> Result<bool, String> {
        match &self.vigil.ended {
            Ended::Exit(0) => Ok(true),
            Ended::Exit(4 | 5 | 6) => Ok(false),
            other => Err(format!("{other:?}: {}", self.vigil.stderr.trim())),
        }
    }

    pub fn compare(&self) -> Compared {
        let v = match self.vigil_valid() {
            Ok(v) => v,
            Err(e) => return Compared::VigilBroken(e),
        };
        match self.ka_valid() {
            Err(e) => Compared::NoKeepalivedVerdict(e),
            // Both invalid: the exit code says which kind of problem (5 or 6).
            Ok(false) if !v && self.ka_code().is_some() && self.ka_code() != self.vigil_code() => {
                Compared::Disagree(Direction::ExitCode)
            }
            Ok(k) if k == v => Compared::Agree { valid: k },
            Ok(true) => Compared::Disagree(Direction::VigilStricter),
            Ok(false) => Compared::Disagree(Direction::VigilLaxer),
        }
    }

    pub fn exit_codes(&self) -> (String, String) {
        let show = |e: &Ended| match e {
            Ended::Exit(c) => c.to_string(),
            Ended::Signal(s) => format!("signal {s}"),
            Ended::Hung => "hung".into(),
            Ended::NotRun(_) => "not run".into(),
        };
        (show(&self.ka.ended), show(&self.vigil.ended))
    }
}

/// The problem lines a daemon printed, without the file/line prefix, with the temp paths
/// and numbers made generic, so that the same problem in two files reads the same.
pub fn normalized(stderr: &str, file: &Path, tree: &Path) -> Vec<String> {
    let file_s = file.display().to_string();
    let tree_s = tree.display().to_string();
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            // keepalived: "(FILE: Line N) msg" or "(Line N) msg"; vigil: "FILE:LINE: msg".
            let mut m = l;
            if m.starts_with('(')
                && let Some(close) = m.find(") ")
                && m[..close].contains("Line ")
            {
                m = &m[close + 2..];
            } else if let Some(rest) = m.strip_prefix(&file_s).and_then(|r| r.strip_prefix(':'))
                && let Some(colon) = rest.find(": ")
                && rest[..colon].chars().all(|c| c.is_ascii_digit())
            {
                m = &rest[colon + 2..];
            }
            let m = m.replace(&tree_s, "TREE").replace(&file_s, "FILE");
            let mut out = String::with_capacity(m.len());
            let mut in_digits = false;
            for ch in m.chars() {
                if ch.is_ascii_digit() {
                    if !in_digits {
                        out.push('N');
                    }
                    in_digits = true;
                } else {
                    in_digits = false;
                    out.push(ch);
                }
            }
            out
        })
        .collect()
}

/// A class of disagreement.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Class {
    pub direction: Direction,
    pub messages: Vec<String>,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.direction.describe(), self.messages.join(" | "))
    }
}

/// Judges files with both daemons in one namespace.
pub struct Judge {
    pub ns: Netns,
    pub keepalived: PathBuf,
    pub vigil: PathBuf,
    /// Where the files are written.
    pub dir: PathBuf,
    /// The scripts' tree (made generic in messages).
    pub tree: PathBuf,
    seq: AtomicUsize,
}

impl Judge {
    /// None (with the reason) when keepalived or a namespace is not available.
    pub fn new(tag: &str, tree: &Path) -> Result<Judge, String> {
        let keepalived = ka::keepalived().ok_or("keepalived binary not found")?;
        let ns = Netns::create().ok_or("cannot create a network namespace (not root?)")?;
        let dir = std::env::temp_dir().join(format!("vigil-diff-cases-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Judge {
            ns,
            keepalived,
            vigil: PathBuf::from(env!("CARGO_BIN_EXE_vigil")),
            dir,
            tree: tree.to_path_buf(),
            seq: AtomicUsize::new(0),
        })
    }

    /// The file a case is written to; keepalived and vigil both name it in their messages.
    fn file(&self) -> PathBuf {
        self.dir.join(format!("c{}.conf", self.seq.fetch_add(1, Ordering::Relaxed)))
    }

    pub fn judge(&self, text: &str) -> Outcome {
        let f = self.file();
        if let Err(e) = std::fs::write(&f, text) {
            let run = Run { ended: Ended::NotRun(format!("{}: {e}", f.display())), stderr: String::new() };
            return Outcome { ka: run.clone(), vigil: run };
        }
        let mut ka_run = ka::run_test_mode(&self.keepalived, &self.ns.0, &f, ka::KEEPALIVED_TIMEOUT);
        let mut vigil_run = ka::run_test_mode(&self.vigil, &self.ns.0, &f, VIGIL_TIMEOUT);
        // Messages name the file; make them name no particular file.
        let f_s = f.display().to_string();
        ka_run.stderr = ka_run.stderr.replace(&f_s, "keepalived.conf");
        vigil_run.stderr = vigil_run.stderr.replace(&f_s, "keepalived.conf");
        let _ = std::fs::remove_file(&f);
        Outcome { ka: ka_run, vigil: vigil_run }
    }

    /// Judges every text on `threads` threads; outcomes in the same order.
    pub fn judge_all(&self, texts: &[String], threads: usize) -> Vec<Outcome> {
        let next = AtomicUsize::new(0);
        let mut out: Vec<Option<Outcome>> = vec![None; texts.len()];
        let slots: Vec<std::sync::Mutex<&mut Option<Outcome>>> = out.iter_mut().map(std::sync::Mutex::new).collect();
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= texts.len() {
                            break;
                        }
                        let o = self.judge(&texts[i]);
                        **slots[i].lock().unwrap() = Some(o);
                    }
                });
            }
        });
        drop(slots);
        out.into_iter().map(|o| o.expect("judged")).collect()
    }

    pub fn ka_messages(&self, o: &Outcome) -> Vec<String> {
        normalized(&o.ka.stderr, Path::new("keepalived.conf"), &self.tree)
    }

    pub fn vigil_messages(&self, o: &Outcome) -> Vec<String> {
        normalized(&o.vigil.stderr, Path::new("keepalived.conf"), &self.tree)
    }

    /// A disagreement's class: its direction and the (normalized, sorted, de-duplicated)
    /// problems reported by the side that found some.
    pub fn class(&self, o: &Outcome, d: Direction) -> Class {
        let mut m = match d {
            Direction::VigilStricter => self.vigil_messages(o),
            Direction::VigilLaxer => self.ka_messages(o),
            // The side with the worse code says why.
            Direction::ExitCode if o.ka_code() > o.vigil_code() => self.ka_messages(o),
            Direction::ExitCode => self.vigil_messages(o),
        };
        m.sort();
        m.dedup();
        Class { direction: d, messages: m }
    }

    /// Shrinks `text` by deleting lines and whole blocks while it still disagrees in the
    /// same direction as `class`, with problems among `class`'s (so that shrinking cannot
    /// wander off to a disagreement the deletions made), and, when `keep` is not empty, with
    /// at least one of `keep`'s problems; at most `budget` judgements.
    pub fn minimize(&self, text: &str, class: &Class, keep: &[String], budget: usize) -> String {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut spent = 0;
        let mut changed = true;
        while changed && spent < budget {
            changed = false;
            let mut i = 0;
            while i < lines.len() && spent < budget {
                let t = lines[i].trim();
                if t == "}" || t.is_empty() {
                    i += 1;
                    continue;
                }
                let end = block_end(&lines, i);
                let mut trial = lines.clone();
                trial.drain(i..=end);
                let trial_text = trial.join("\n") + "\n";
                spent += 1;
                let o = self.judge(&trial_text);
                let same = o.compare() == Compared::Disagree(class.direction) && {
                    let now = self.class(&o, class.direction).messages;
                    now.iter().all(|m| class.messages.contains(m)) && (keep.is_empty() || now.iter().any(|m| keep.contains(m)))
                };
                if same {
                    lines = trial;
                    changed = true;
                } else {
                    i += 1;
                }
            }
        }
        lines.join("\n") + "\n"
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The last line of the node starting at `i`: its matching `}` for a line that opens a
/// block, else `i` itself.
fn block_end(lines: &[String], i: usize) -> usize {
    if !lines[i].trim_end().ends_with('{') {
        return i;
    }
    let mut depth = 0i32;
    for (j, l) in lines.iter().enumerate().skip(i) {
        let t = l.trim();
        if t.ends_with('{') {
            depth += 1;
        }
        if t == "}" || (t.ends_with('}') && !t.ends_with('{')) {
            depth -= 1;
        }
        if depth <= 0 {
            return j;
        }
    }
    lines.len() - 1
}

/// Counts, and the disagreements grouped by class with their members' indexes.
#[derive(Default)]
pub struct Tally {
    pub compared: usize,
    pub agree: usize,
    pub agree_valid: usize,
    /// Both invalid, and the same number of problem lines / a different number.
    pub same_count: usize,
    pub diff_count: usize,
    pub not_compared: Vec<(usize, String)>,
    pub vigil_broken: Vec<(usize, String)>,
    pub classes: BTreeMap<Class, Vec<usize>>,
    /// (keepalived's exit, vigil's exit) -> how many files.
    pub exit_codes: BTreeMap<(String, String), usize>,
    /// Files both call invalid with a different number of problem lines: how often each
    /// (normalized) line of each side occurs in them.
    pub count_mismatch_ka: BTreeMap<String, usize>,
    pub count_mismatch_vigil: BTreeMap<String, usize>,
}

impl Tally {
    pub fn of(judge: &Judge, outcomes: &[Outcome]) -> Tally {
        let mut t = Tally::default();
        for (i, o) in outcomes.iter().enumerate() {
            *t.exit_codes.entry(o.exit_codes()).or_default() += 1;
            match o.compare() {
                Compared::Agree { valid } => {
                    t.compared += 1;
                    t.agree += 1;
                    if valid {
                        t.agree_valid += 1;
                    } else if judge.ka_messages(o).len() == judge.vigil_messages(o).len() {
                        t.same_count += 1;
                    } else {
                        t.diff_count += 1;
                        for m in judge.ka_messages(o) {
                            *t.count_mismatch_ka.entry(m).or_default() += 1;
                        }
                        for m in judge.vigil_messages(o) {
                            *t.count_mismatch_vigil.entry(m).or_default() += 1;
                        }
                    }
                }
                Compared::Disagree(d) => {
                    t.compared += 1;
                    t.classes.entry(judge.class(o, d)).or_default().push(i);
                }
                Compared::NoKeepalivedVerdict(why) => t.not_compared.push((i, why)),
                Compared::VigilBroken(why) => t.vigil_broken.push((i, why)),
            }
        }
        t
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "agreement: {}/{} verdicts agree ({:.1} %); {} valid under both; both invalid: {} with the same number of \
             problem lines, {} with a different number; {} not compared (keepalived gave no verdict); {} vigil -t broken; \
             {} disagreement classes\nexit codes (keepalived, vigil): ",
            self.agree,
            self.compared,
            if self.compared == 0 { 100.0 } else { self.agree as f64 * 100.0 / self.compared as f64 },
            self.agree_valid,
            self.same_count,
            self.diff_count,
            self.not_compared.len(),
            self.vigil_broken.len(),
            self.classes.len()
        );
        let codes: Vec<String> = self.exit_codes.iter().map(|((k, v), n)| format!("({k}, {v}) x{n}")).collect();
        s += &codes.join(", ");
        s
    }

    /// The `n` most frequent problem lines of each side in files both call invalid with a
    /// different number of lines.
    pub fn count_mismatch_summary(&self, n: usize) -> String {
        let top = |m: &BTreeMap<String, usize>| {
            let mut v: Vec<(&String, &usize)> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.iter().take(n).map(|(l, c)| format!("  {c:5}  {l}\n")).collect::<String>()
        };
        format!(
            "both invalid, different number of problem lines ({} files): most frequent lines\n keepalived:\n{} vigil:\n{}",
            self.diff_count,
            top(&self.count_mismatch_ka),
            top(&self.count_mismatch_vigil)
        )
    }
}
