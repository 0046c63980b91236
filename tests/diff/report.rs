//! What a run found, for people: each class of disagreement with a small configuration that
//! still disagrees that way (shrunk), both daemons' outputs and exit codes, the axes its
//! files share, and whether it is a known difference.

use crate::diff::judge::{Class, Compared, Direction, Judge, Outcome, Tally};
use std::collections::{BTreeMap, BTreeSet};

/// How a problem line is excused: (name, reason) of a known difference, or None.
pub type KnownLookup<'a> = &'a (dyn Fn(Direction, &str) -> Option<(&'static str, &'static str)> + Sync);

/// Which classes' examples are shrunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shrink {
    None,
    /// Only classes that are not known differences.
    Unknown,
    All,
}

/// A markdown table of the classes (after shrinking), and the details of each.
pub struct Report {
    pub table: String,
    pub details: String,
}

/// The files of one class after shrinking.
struct Group {
    members: Vec<usize>,
    /// The classes (before shrinking) merged here.
    pre: Vec<Class>,
    /// The smallest example, how it was judged, the file it came from, and whether it was
    /// shrunk.
    example: Option<(String, Outcome, usize, bool)>,
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    | {l}\n")).collect()
}

/// Shrinks each class's smallest file (as `shrink` says; a class that is not known keeps
/// one of its unknown problems while it shrinks), regroups the classes by what their shrunk
/// file says (a file with two problems falls under the class of one of them), and writes
/// the report.
pub fn report(
    judge: &Judge,
    tally: &Tally,
    texts: &[String],
    axes: &[Vec<String>],
    shrink: Shrink,
    threads: usize,
    known: KnownLookup,
) -> Report {
    let reps: Vec<(&Class, &Vec<usize>, usize)> = tally
        .classes
        .iter()
        .map(|(c, m)| (c, m, *m.iter().min_by_key(|&&i| texts[i].len()).unwrap()))
        .collect();
    let items: Vec<(String, Class)> = reps.iter().map(|(c, _, i)| (texts[*i].clone(), (*c).clone())).collect();
    let examples = shrink_all(judge, &items, shrink, threads, known);
    let mut grouped: BTreeMap<Class, Group> = BTreeMap::new();
    for ((class, members, smallest), (example, outcome)) in reps.iter().zip(examples) {
        let shrunk = example.len() < texts[*smallest].len();
        let final_class = match outcome.compare() {
            Compared::Disagree(d) => judge.class(&outcome, d),
            _ => (*class).clone(),
        };
        let g = grouped.entry(final_class).or_insert_with(|| Group { members: Vec::new(), pre: Vec::new(), example: None });
        g.members.extend(members.iter().copied());
        g.pre.push((*class).clone());
        if g.example.as_ref().is_none_or(|(e, _, _, _)| example.len() < e.len()) {
            g.example = Some((example, outcome, *smallest, shrunk));
        }
    }
    let mut table = String::from("\n| class (after shrinking) | files | known difference |\n|---|---:|---|\n");
    let mut details = String::new();
    for (class, g) in &grouped {
        let found: Vec<Option<(&str, &str)>> = class.messages.iter().map(|m| known(class.direction, m)).collect();
        let names: BTreeSet<&str> = found.iter().flatten().map(|(n, _)| *n).collect();
        let reasons: BTreeSet<String> = found.iter().flatten().map(|(n, r)| format!("{n}: {r}")).collect();
        let k = if found.iter().all(Option::is_some) { names.into_iter().collect::<Vec<_>>().join(", ") } else { "NO".into() };
        table += &format!("| {class} | {} | {k} |\n", g.members.len());
        // The axes every file of the class has: a hint at the combination.
        let mut common: Option<BTreeSet<&String>> = None;
        for &i in &g.members {
            let s: BTreeSet<&String> = axes[i].iter().collect();
            common = Some(match common {
                None => s,
                Some(c) => c.intersection(&s).copied().collect(),
            });
        }
        let (example, o, smallest, shrunk) = g.example.as_ref().unwrap();
        let (kc, vc) = o.exit_codes();
        details += &format!(
            "\n==== {class}\n  {} files; known: {k} {reasons:?}; axes all of them share: {:?}\n  classes before shrinking: {}\n  \
             config (from file {smallest}{}):\n{}  keepalived -t (exit {kc}):\n{}  vigil -t (exit {vc}):\n{}",
            g.members.len(),
            common.unwrap_or_default(),
            g.pre.len(),
            if *shrunk { ", shrunk" } else { "" },
            indent(example),
            indent(&o.ka.stderr),
            indent(&o.vigil.stderr),
        );
        if o.compare() != Compared::Disagree(class.direction) {
            details += "  (this example did not disagree when judged again: flaky?)\n";
        }
    }
    for (i, why) in &tally.not_compared {
        details += &format!("\n==== file {i}: keepalived gave no verdict ({why}); not compared\n{}", indent(&texts[*i]));
    }
    for (i, why) in &tally.vigil_broken {
        details += &format!("\n==== file {i}: vigil -t broken: {why}\n{}", indent(&texts[*i]));
    }
    Report { table, details }
}

/// Shrinks each (text, class) as `shrink` says, on `threads` threads; each example with its
/// outcome.
fn shrink_all(
    judge: &Judge,
    items: &[(String, Class)],
    shrink: Shrink,
    threads: usize,
    known: KnownLookup,
) -> Vec<(String, Outcome)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<std::sync::Mutex<Option<(String, Outcome)>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((text, class)) = items.get(i) else { break };
                    let keep: Vec<String> =
                        class.messages.iter().filter(|m| known(class.direction, m).is_none()).cloned().collect();
                    let now = shrink == Shrink::All || (shrink == Shrink::Unknown && !keep.is_empty());
                    let t = if now { judge.minimize(text, class, &keep, 300) } else { text.clone() };
                    let o = judge.judge(&t);
                    *out[i].lock().unwrap() = Some((t, o));
                }
            });
        }
    });
    out.into_iter().map(|m| m.into_inner().unwrap().expect("shrunk")).collect()
}
