//! Diagnostics while parsing: positions are (file index, line) until the
//! end, when they become paths.

use super::{Diagnostic, Severity};
use std::path::PathBuf;

/// Where a token came from: an index into the file table and a 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: u32,
    pub line: u32,
}

/// Bound on the number of diagnostics kept: a hostile file must not make
/// us allocate one message per byte.
const MAX_DIAGS: usize = 1000;

#[derive(Default, Debug)]
pub struct Diags {
    items: Vec<(Pos, Severity, String)>,
    dropped: usize,
}

impl Diags {
    pub fn warn(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push(pos, Severity::Warning, msg.into());
    }
    pub fn error(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push(pos, Severity::Error, msg.into());
    }
    fn push(&mut self, pos: Pos, sev: Severity, msg: String) {
        if self.items.len() >= MAX_DIAGS {
            self.dropped += 1;
            return;
        }
        log::debug!("config: line {}: {}", pos.line, msg);
        self.items.push((pos, sev, msg));
    }
    #[allow(dead_code)]
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|(_, s, _)| *s == Severity::Error)
    }
    pub fn into_diagnostics(self, files: &[PathBuf]) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .items
            .into_iter()
            .map(|(pos, severity, message)| Diagnostic {
                file: files.get(pos.file as usize).cloned().unwrap_or_default(),
                line: pos.line,
                severity,
                message,
            })
            .collect();
        if self.dropped > 0 {
            let (file, line) = out.last().map(|d| (d.file.clone(), d.line)).unwrap_or_default();
            out.push(Diagnostic {
                file,
                line,
                severity: Severity::Warning,
                message: format!("{} further diagnostics not shown", self.dropped),
            });
        }
        out
    }
}
