//! What `keepalived -t` reports about scripts (its check_vrrp_script_security,
//! check_check_script_security and the start/shutdown check in main.c):
//!
//! - each side checks its scripts only when it has something to run them
//!   for: the VRRP side when there is a vrrp_instance (then every
//!   vrrp_script, used or not, every instance and sync group notify, the
//!   global and VRRP notify_fifo scripts), the checker side when a virtual
//!   server is left (MISC_CHECK, quorum_up/down, notify_up/down, the global
//!   and LVS notify_fifo scripts); startup/shutdown scripts always;
//! - a script is looked at as keepalived's check_script_secure does (the
//!   same code vigil runs at start, `notify::check_script`); one starting
//!   `</` only tests that a file opens and is no script at all;
//! - a vrrp_script that cannot be found is "Disabling track script NAME
//!   since not found/accessible"; one refused for its path (a component of
//!   the wrong type, or unsafe permissions under enable_script_security) is
//!   "... due to insecure"; a refused notify script is dropped silently;
//! - without enable_script_security, any script found that runs as root is
//!   a SECURITY VIOLATION, one message per side, ending "There are insecure
//!   scripts." when a path non-root users can write leads to one.
//!
//! A script run as a non-root user makes keepalived 2.2.7 `-t` switch its
//! effective uid and kill itself without a verdict (DIFFERENCES.md): vigil
//! does not judge such a script's security.

use super::diag::{Diags, Pos};
use super::model::{CheckKind, Config, RawOption, Script};
use super::tree::Node;
use super::validate::{HostEnv, child_pos, pos_of};
use super::values::split_script;
use crate::script::security::{RefuseReason, check_script};
use crate::script::spawn::RunAs;
use std::path::Path;

/// Default PATH keepalived searches for scripts named without a '/'.
const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether a script's program exists as a file (keepalived only runs, and
/// only checks the security of, scripts it can find).
fn script_exists(s: &Script) -> bool {
    let Some(prog) = s.argv.first() else { return false };
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    let env_path = std::env::var("PATH").unwrap_or_default();
    env_path
        .split(':')
        .chain(SCRIPT_PATH.split(':'))
        .filter(|d| !d.is_empty())
        .any(|d| Path::new(d).join(prog).is_file())
}

fn is_root_name(u: &str) -> bool {
    u == "root" || u == "0"
}

/// One script to judge: where it is configured, the script, and the
/// vrrp_script it is (None for notify-style scripts).
struct Entry {
    pos: Pos,
    script: Script,
    track_script: Option<String>,
}

/// Which of keepalived's three checks a script belongs to, with the words
/// of its violation message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Vrrp,
    Check,
    StartStop,
}

impl Side {
    fn what(self) -> &'static str {
        match self {
            Side::Vrrp => "scripts",
            Side::Check => "check scripts",
            Side::StartStop => "start/shutdown scripts",
        }
    }
}

/// A global `*_script` keyword (`notify_fifo_script /path [user [group]]`).
fn global_script(tree: &[Node], other: &[RawOption], keyword: &str) -> Option<Entry> {
    let o = other.iter().find(|o| o.keyword == keyword)?;
    let argv = split_script(o.args.first()?);
    if argv.is_empty() {
        return None;
    }
    let script = Script { argv, user: o.args.get(1).cloned(), group: o.args.get(2).cloned() };
    let pos = tree
        .iter()
        .filter(|n| n.keyword == "global_defs")
        .flat_map(|n| n.children())
        .find(|c| c.keyword == keyword)
        .map(|c| c.pos)
        .unwrap_or_else(|| pos_of(tree, "global_defs", None));
    Some(Entry { pos, script, track_script: None })
}

/// The scripts of one side; `gated`: only when that side would check
/// them (it has instances / virtual servers).
fn entries(cfg: &Config, tree: &[Node], side: Side, gated: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut add = |pos: Pos, s: &Option<Script>| {
        if let Some(s) = s {
            out.push(Entry { pos, script: s.clone(), track_script: None });
        }
    };
    let other = &cfg.global.other;
    match side {
        Side::Vrrp => {
            if gated && cfg.vrrp_instances.is_empty() {
                return out;
            }
            for i in &cfg.vrrp_instances {
                let p = |k: &str| child_pos(tree, "vrrp_instance", &i.name, k);
                for (k, s) in i.notify_scripts() {
                    add(p(k), s);
                }
                // `notify_deleted [SCRIPT]`: kept unmodelled.
                let deleted = i.other.iter().find(|o| o.keyword == "notify_deleted").and_then(|o| o.args.first());
                if let Some(cmd) = deleted.map(|c| split_script(c)).filter(|a| !a.is_empty()) {
                    add(p("notify_deleted"), &Some(Script { argv: cmd, user: None, group: None }));
                }
            }
            for g in &cfg.sync_groups {
                for (k, s) in g.notify_scripts() {
                    add(child_pos(tree, "vrrp_sync_group", &g.name, k), s);
                }
            }
            out.extend(global_script(tree, other, "notify_fifo_script"));
            out.extend(global_script(tree, other, "vrrp_notify_fifo_script"));
            // vrrp_scripts first: keepalived checks them first.
            let mut scripts: Vec<Entry> = cfg
                .vrrp_scripts
                .iter()
                .map(|s| Entry {
                    pos: child_pos(tree, "vrrp_script", &s.name, "script"),
                    script: s.script.clone(),
                    track_script: Some(s.name.clone()),
                })
                .collect();
            scripts.append(&mut out);
            scripts
        }
        Side::Check => {
            if gated && cfg.virtual_servers.is_empty() {
                return out;
            }
            let vs_pos = pos_of(tree, "virtual_server", None);
            for vs in &cfg.virtual_servers {
                for rs in &vs.real_servers {
                    for c in &rs.checkers {
                        if let CheckKind::Misc(m) = &c.kind {
                            add(vs_pos, &Some(m.misc_path.clone()));
                        }
                    }
                }
            }
            for vs in &cfg.virtual_servers {
                add(vs_pos, &vs.quorum_up);
                add(vs_pos, &vs.quorum_down);
                for rs in &vs.real_servers {
                    add(vs_pos, &rs.notify_up.as_deref().cloned());
                    add(vs_pos, &rs.notify_down.as_deref().cloned());
                }
            }
            out.extend(global_script(tree, other, "notify_fifo_script"));
            out.extend(global_script(tree, other, "lvs_notify_fifo_script"));
            out
        }
        Side::StartStop => {
            out.extend(global_script(tree, other, "startup_script"));
            out.extend(global_script(tree, other, "shutdown_script"));
            out
        }
    }
}

/// The `notify_fifo` / `vrrp_notify_fifo` / `lvs_notify_fifo` lines naming
/// no user that come after `enable_script_security` in global_defs:
/// keepalived's handler looks up the default script user for each as it
/// reads it, script or not (so the order of the lines matters).
fn fifos_wanting_default_user(tree: &[Node]) -> Vec<Pos> {
    let mut out = Vec::new();
    for g in tree.iter().filter(|n| n.keyword == "global_defs") {
        let mut secure = false;
        for c in g.children() {
            match &*c.keyword {
                "enable_script_security" => secure = true,
                "notify_fifo" | "vrrp_notify_fifo" | "lvs_notify_fifo" if secure && c.args.len() <= 1 => out.push(c.pos),
                _ => {}
            }
        }
    }
    out
}

/// What keepalived makes of one script at config time.
enum Judged {
    /// `</path`: a check that a file can be opened, nothing is run
    /// (keepalived's SC_SYSTEM): neither a script nor missing.
    NotAScript,
    /// Run as a non-root user (keepalived -t gives no verdict on those).
    NotRoot { exists: bool },
    /// enable_script_security without a user and without keepalived_script:
    /// refused (reported once, by `check`).
    NoDefaultUser,
    /// Run as root: found (SC_ISSCRIPT), refused for its path (SC_INHIBIT),
    /// whether a path non-root users can write leads to it (SC_INSECURE),
    /// and whether it will run at all.
    Root { is_script: bool, inhibit: bool, insecure: bool, runs: bool },
}

fn judge(script: &Script, cfg: &Config, env: &HostEnv) -> Judged {
    let security = cfg.global.enable_script_security;
    let global_user = cfg.global.script_user.as_ref().and_then(|s| s.user.clone());
    let user = script
        .user
        .clone()
        .or(global_user)
        .or_else(|| env.default_script_user_exists.then(|| "keepalived_script".to_string()));
    let Some(prog) = script.argv.first() else { return Judged::NotAScript };
    if let Some(rest) = prog.strip_prefix('<')
        && rest.trim_start_matches([' ', '\t']).starts_with('/')
    {
        return Judged::NotAScript;
    }
    if !user.as_deref().is_none_or(is_root_name) {
        return Judged::NotRoot { exists: script_exists(script) };
    }
    if security && user.is_none() {
        return Judged::NoDefaultUser;
    }
    match check_script(prog, RunAs { uid: 0, gid: 0 }, security) {
        Ok(a) => Judged::Root { is_script: true, inhibit: false, insecure: a.insecure, runs: true },
        Err(r) => {
            let (is_script, inhibit, insecure) = match r.reason {
                RefuseReason::EmptyCommand | RefuseReason::NotFound => (false, false, false),
                // Found but not executable: keepalived disables it without a word.
                RefuseReason::NotExecutable { .. } => (true, false, false),
                RefuseReason::WrongType { .. } => (true, true, false),
                RefuseReason::Insecure { .. } => (true, true, true),
            };
            Judged::Root { is_script, inhibit, insecure, runs: false }
        }
    }
}

/// The vrrp_scripts keepalived disables before it completes the instances
/// (not found, not executable, refused for their path, no default user):
/// their `track_script` references go without a word, so no weight on them
/// is reported either.
pub fn disabled_vrrp_scripts(cfg: &Config, env: &HostEnv) -> Vec<String> {
    cfg.vrrp_scripts
        .iter()
        .filter(|s| match judge(&s.script, cfg, env) {
            Judged::NotAScript => false,
            Judged::NotRoot { exists } => !exists,
            Judged::NoDefaultUser => true,
            Judged::Root { runs, .. } => !runs,
        })
        .map(|s| s.name.clone())
        .collect()
}

pub fn check(cfg: &Config, tree: &[Node], env: &HostEnv, diags: &mut Diags) {
    let security = cfg.global.enable_script_security;
    let global_user = cfg.global.script_user.as_ref().and_then(|s| s.user.clone());
    if security && global_user.is_none() && !env.default_script_user_exists {
        // keepalived cannot take the default user: it says so once, for the
        // first script that names no user (as it reads it, whatever the
        // side), and refuses each such script.
        let first = [Side::Vrrp, Side::Check, Side::StartStop]
            .into_iter()
            .flat_map(|side| entries(cfg, tree, side, false))
            .filter(|e| e.script.user.is_none())
            .map(|e| e.pos)
            .chain(fifos_wanting_default_user(tree))
            .min_by_key(|p| (p.file, p.line));
        if let Some(pos) = first {
            diags.warn(pos, "Unable to set default user keepalived_script for script");
        }
    }
    for side in [Side::Vrrp, Side::Check, Side::StartStop] {
        let all = entries(cfg, tree, side, true);
        // The first script found (keepalived's SC_ISSCRIPT) and whether any
        // found one is unsafe (SC_INSECURE).
        let mut found: Option<Pos> = None;
        let mut insecure = false;
        for e in &all {
            let (is_script, inhibit) = match judge(&e.script, cfg, env) {
                Judged::NotAScript | Judged::NoDefaultUser => continue,
                Judged::NotRoot { exists } => {
                    // keepalived -t gives no verdict here (see the module doc);
                    // only a vrrp_script that is not there is still reported.
                    if let Some(name) = &e.track_script
                        && !exists
                    {
                        diags.warn(e.pos, format!("Disabling track script {name} since not found/accessible"));
                    }
                    continue;
                }
                Judged::Root { is_script, inhibit, insecure: i, .. } => {
                    insecure |= i;
                    (is_script, inhibit)
                }
            };
            if let Some(name) = &e.track_script {
                if inhibit {
                    diags.warn(e.pos, format!("Disabling track script {name} due to insecure"));
                } else if !is_script {
                    diags.warn(e.pos, format!("Disabling track script {name} since not found/accessible"));
                }
            }
            if is_script && found.is_none() {
                found = Some(e.pos);
            }
        }
        if let Some(pos) = found
            && !security
        {
            let tail = if insecure { " There are insecure scripts." } else { "" };
            diags.warn(
                pos,
                format!("{} - {} are being executed but script_security not enabled.{tail}", super::SECURITY_VIOLATION, side.what()),
            );
        }
    }
}
