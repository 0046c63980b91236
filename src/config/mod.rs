//! keepalived.conf, read as keepalived 2.2.7 reads it.
//!
//! Pipeline, one module per idea:
//! - `expand` (with `glob` and `seq`): reads files, follows `include`
//!   globs, applies `@id` conditionals, `$NAME` definitions and
//!   `~SEQ`/`~LST` repetition, and yields logical lines that keep their
//!   FILE:LINE; `limits` bounds all of it;
//! - `lexer`: splits one logical line into words (quotes, escapes, braces);
//! - `tree`: builds the keyword tree from `{ }`;
//! - `build`, `build_global`, `build_vrrp`, `build_lvs`, `build_bfd` (with `addr`,
//!   `route`, `rule`, `values`): turn the tree into the typed [`model`]
//!   with keepalived's defaults and ranges;
//! - `validate`: cross references and the checks keepalived makes after
//!   reading (interfaces, VRIDs, scripts).
//!
//! Where vigil deliberately differs from keepalived 2.2.7: DIFFERENCES.md.
//!
//! Every problem keepalived would report is a [`Diagnostic`]; `keepalived -t`
//! exits non-zero when it reports any, so [`Loaded::is_valid`] is "no
//! diagnostics at all".

pub mod dump;
pub mod model;

mod addr;
mod build;
mod build_bfd;
mod build_global;
mod build_lvs;
mod build_misc;
mod build_vrrp;
mod diag;
mod expand;
mod glob;
mod lexer;
mod seq;
mod limits;
mod route;
mod script_security;
mod tighten;
mod rule;
mod tree;
mod validate;
mod validate_group;
mod validate_vrrp;
mod values;

use std::path::{Path, PathBuf};

pub use model::Config;

/// How to read a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// keepalived's `-i CONFIG_ID`: selects `@ID` lines. None: the first
    /// part of the host name, as keepalived.
    pub config_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// keepalived reports it (so `-t` fails) but still runs with the rest.
    Warning,
    /// The configuration cannot be used at all.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u32,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
}

/// How keepalived's (and our) script security violation diagnostics begin.
pub const SECURITY_VIOLATION: &str = "SECURITY VIOLATION";

impl Loaded {
    /// True iff `keepalived -t` would exit 0: it reported no problem.
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }
    /// Whether a reload must keep the running configuration instead: an
    /// error, or a keyword we do not know (most likely a typo, which would
    /// otherwise silently change what runs). Warnings about defaults
    /// applied or script security are logged and do not block, as
    /// keepalived reloads such a file too (and starts with it).
    pub fn refuses_reload(&self) -> bool {
        self.has_errors() || self.diagnostics.iter().any(|d| d.message.starts_with("Unknown keyword"))
    }
    /// Whether keepalived would call this a script security violation
    /// (its `-t` then exits 6 rather than 5, whatever else it reported).
    pub fn security_violation(&self) -> bool {
        self.diagnostics.iter().any(|d| d.message.starts_with(SECURITY_VIOLATION))
    }

    /// `keepalived -t`'s exit code for what was reported (its
    /// config_test_exit over the worst problem kind, seen on Debian's 2.2.7):
    /// 0 nothing; 6 a script security violation or a missing or directory
    /// include; 4 only a bad interface in `interface_up_down_delays`
    /// (CONFIG_BAD_IF); 5 anything else.
    pub fn test_exit_code(&self) -> u8 {
        self.diagnostics
            .iter()
            .map(|d| {
                let m = d.message.as_str();
                if m.starts_with(SECURITY_VIOLATION) || m.starts_with("Config files missing") || m.ends_with("is a directory - skipping") {
                    6
                } else if m.ends_with("specified for up/down delay") {
                    4
                } else {
                    5
                }
            })
            .max()
            .unwrap_or(0)
    }
    /// Any problem that makes the configuration unusable.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Reads and resolves the configuration at `path`. Never panics: an
/// unreadable main file is an Error diagnostic.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    let mut diags = diag::Diags::default();
    let lines = expand::expand_file(path, opts, &mut diags);
    finish(lines, opts, diags)
}

/// Reads a configuration from memory; `name` names it in diagnostics and
/// includes are relative to its directory.
pub fn load_str(text: &str, name: &Path, opts: &LoadOptions) -> Loaded {
    let mut diags = diag::Diags::default();
    let lines = expand::expand_text(text.as_bytes(), name, opts, &mut diags);
    finish(lines, opts, diags)
}

fn finish(lines: expand::Expanded, _opts: &LoadOptions, diags: diag::Diags) -> Loaded {
    finish_in(lines, diags, &validate::HostEnv::probe())
}

fn finish_in(lines: expand::Expanded, mut diags: diag::Diags, env: &validate::HostEnv) -> Loaded {
    // The words and the tree are freed at the end of this block, before
    // the model is made tight.
    let mut config = {
        let words = tree::Words::of(&lines);
        let forest = tree::Forest::new();
        let tree = tree::build_tree(&lines, &words, &forest, &mut diags);
        let mut config = build::build_config(tree, &mut diags);
        validate::validate(&mut config, tree, env, &mut diags);
        config
    };
    tighten::tighten(&mut config);
    Loaded { config, diagnostics: diags.into_diagnostics(&lines.files) }
}

/// As `load_str`, judged against a fixed list of interfaces, none of them a
/// loopback: the model's unit tests name `lo`, which every test host has,
/// as an ordinary interface.
#[cfg(test)]
pub(crate) fn load_str_with_interfaces(text: &str, name: &Path, opts: &LoadOptions, interfaces: &[&str]) -> Loaded {
    let mut diags = diag::Diags::default();
    let lines = expand::expand_text(text.as_bytes(), name, opts, &mut diags);
    let mut env = validate::HostEnv::probe();
    env.interfaces = Some(interfaces.iter().map(|s| s.to_string()).collect());
    finish_in(lines, diags, &env)
}

/// Pretty JSON of the resolved model, for `vigil --dump-config`.
pub fn to_json(config: &Config) -> String {
    match serde_json::to_string_pretty(config) {
        Ok(s) => s,
        Err(e) => format!("{{\"error\": \"cannot serialise config: {e}\"}}"),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_verdicts;
