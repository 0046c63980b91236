//! From files to logical lines: includes, `@id` conditionals, `$NAME`
//! definitions (single- and multi-line) and their substitution, `~SEQ`,
//! `~SEQx` and `~LST` repetition. Every produced line keeps the FILE:LINE
//! of the physical line it came from.
//!
//! keepalived 2.2.7 has no parameterised definitions (`$F(a,b)=...` is not
//! a definition there), so neither do we.

use super::LoadOptions;
use super::diag::{Diags, Pos};
use super::glob;
use super::lexer::{has_unterminated_quote, split_words, strip_comment};
use super::limits::*;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A logical line after expansion: its text is a range of
/// [`Expanded::text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub pos: Pos,
    start: u32,
    len: u32,
}

/// The logical lines, their texts one after another in one string (one
/// allocation for them all, not one per line).
#[derive(Debug, Default)]
pub struct Expanded {
    /// File table: `Pos::file` indexes it.
    pub files: Vec<PathBuf>,
    pub lines: Vec<Line>,
    text: String,
}

impl Expanded {
    /// The text of one of these lines.
    pub fn text(&self, line: &Line) -> &str {
        let start = line.start as usize;
        self.text.get(start..start + line.len as usize).unwrap_or_default()
    }

    /// The bytes of all lines' texts.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Room for what a main file of these bytes most likely expands to
    /// (each line once, a `{` after a statement making a line of its own):
    /// growing by doubling cost a copy and fresh pages each time.
    fn reserve_for(&mut self, bytes: &[u8]) {
        let lines = bytes.iter().filter(|&&b| b == b'\n' || b == b'{').count();
        self.lines.reserve(lines + 1);
        self.text.reserve(bytes.len());
    }

    /// Appends a line. Callers bound the total below 4 GiB
    /// (MAX_TOTAL_BYTES).
    pub fn push(&mut self, pos: Pos, text: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        self.lines.push(Line { pos, start, len: text.len() as u32 });
    }
}

pub fn expand_file(path: &Path, opts: &LoadOptions, diags: &mut Diags) -> Expanded {
    let mut ex = Expander::new(opts, diags);
    let idx = ex.add_file(path);
    match read_bounded(path) {
        Ok(bytes) => {
            ex.total_bytes = bytes.len();
            ex.out.reserve_for(&bytes);
            let dir = parent_dir(path);
            ex.include_stack.push(canonical(path));
            ex.process_source(&bytes, idx, &dir, 0);
        }
        Err(msg) => ex.diags.error(Pos { file: idx, line: 0 }, msg),
    }
    ex.finish()
}

pub fn expand_text(text: &[u8], name: &Path, opts: &LoadOptions, diags: &mut Diags) -> Expanded {
    let mut ex = Expander::new(opts, diags);
    let idx = ex.add_file(name);
    if text.len() as u64 > MAX_FILE_BYTES {
        ex.diags.error(
            Pos { file: idx, line: 1 },
            format!("configuration is {} bytes, more than the {} allowed", text.len(), MAX_FILE_BYTES),
        );
        return ex.finish();
    }
    ex.total_bytes = text.len();
    ex.out.reserve_for(text);
    ex.include_stack.push(canonical(name));
    ex.process_source(text, idx, &parent_dir(name), 0);
    ex.finish()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let meta = f.metadata().map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} is {} bytes, more than the {} allowed", path.display(), meta.len(), MAX_FILE_BYTES));
    }
    // Its size up front (read_to_end through `take` would double its way there).
    let mut buf = Vec::with_capacity(meta.len() as usize + 1);
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{} is more than the {} bytes allowed", path.display(), MAX_FILE_BYTES));
    }
    Ok(buf)
}

/// The default config id: the host name up to its first dot, as keepalived.
pub fn default_config_id() -> String {
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    host.split('.').next().unwrap_or_default().to_string()
}

#[derive(Clone, Debug)]
struct Definition {
    /// One entry per line of a multi-line definition.
    lines: Vec<String>,
}

pub(super) struct Expander<'d> {
    out: Expanded,
    defs: HashMap<String, Definition>,
    config_id: String,
    pub(super) diags: &'d mut Diags,
    total_bytes: usize,
    include_stack: Vec<PathBuf>,
    /// Directory of the file being read (for `${_PWD}`).
    pwd: PathBuf,
    /// Set when a bound was hit: stop producing lines.
    pub(super) aborted: bool,
    rng: u64,
    /// Logical lines processed, emitted or not: bounds the time a hostile
    /// file can cost (`~SEQ` loops that only define things).
    work: usize,
}

/// What a line asks of the physical-line reader.
pub(super) enum Next {
    Done,
    /// A `$NAME= \` definition whose body continues on following lines.
    StartMultiline(String, Vec<String>),
}

/// What one piece of a line left: done, or where the text after its first
/// brace starts (a byte offset into the piece).
enum Piece {
    Next(Next),
    Rest(usize),
}

/// keepalived's cut of a line at its first `{` or `}` outside `"`s: a line
/// that starts with one gives the brace alone and the rest (blanks after it
/// skipped); otherwise the text before it and the rest from the brace on.
/// None when there is nothing to cut (also after a quote with no end,
/// where keepalived gives up looking).
fn split_at_brace(t: &str) -> Option<(&str, &str)> {
    let mut in_quote = false;
    // Bytes: every character looked for is ASCII.
    let at = t.bytes().position(|c| match c {
        b'"' => {
            in_quote = !in_quote;
            false
        }
        // A comment (one a substitution made, too) hides what follows.
        b'{' | b'}' | b'#' | b'!' => !in_quote,
        _ => false,
    })?;
    if matches!(t.as_bytes()[at], b'#' | b'!') {
        return None;
    }
    let (head, rest) = if at == 0 {
        (&t[..1], t[1..].trim_start_matches([' ', '\t']))
    } else {
        (&t[..at], &t[at..])
    };
    let rest = rest.trim_end_matches([' ', '\t']);
    (!rest.is_empty()).then_some((head, rest))
}

impl<'d> Expander<'d> {
    fn new(opts: &LoadOptions, diags: &'d mut Diags) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Expander {
            out: Expanded::default(),
            defs: HashMap::new(),
            config_id: opts.config_id.clone().unwrap_or_else(default_config_id),
            diags,
            total_bytes: 0,
            include_stack: Vec::new(),
            pwd: PathBuf::from("."),
            aborted: false,
            rng: seed | 1,
            work: 0,
        }
    }

    fn add_file(&mut self, path: &Path) -> u32 {
        self.out.files.push(path.to_path_buf());
        (self.out.files.len() - 1) as u32
    }

    fn finish(self) -> Expanded {
        self.out
    }

    pub(super) fn abort(&mut self, pos: Pos, msg: String) {
        if !self.aborted {
            self.diags.error(pos, msg);
        }
        self.aborted = true;
    }

    fn process_source(&mut self, bytes: &[u8], file: u32, dir: &Path, include_depth: usize) {
        let saved_pwd = std::mem::replace(&mut self.pwd, dir.to_path_buf());
        let mut multiline: Option<(String, Vec<String>, Pos)> = None;
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            if self.aborted {
                break;
            }
            let pos = Pos { file, line: (i + 1).min(u32::MAX as usize) as u32 };
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.len() > MAX_LINE_BYTES {
                self.diags.error(pos, format!("line is {} bytes long, more than the {} allowed", raw.len(), MAX_LINE_BYTES));
                continue;
            }
            if multiline.is_none()
                && is_plain(raw)
                && let Ok(t) = std::str::from_utf8(raw)
            {
                if let Next::StartMultiline(name, first) = self.plain_line(t, pos, include_depth) {
                    multiline = Some((name, first, pos));
                }
                continue;
            }
            let text = match std::str::from_utf8(raw) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => {
                    let lossy = String::from_utf8_lossy(raw).into_owned();
                    if strip_comment(&lossy).contains('\u{FFFD}') {
                        self.diags.error(pos, "line is not valid UTF-8");
                        continue;
                    }
                    std::borrow::Cow::Owned(lossy)
                }
            };
            let body = strip_comment(&text).trim();
            // keepalived checks quotes before anything else, even on lines
            // a conditional then drops.
            if has_unterminated_quote(body) {
                self.diags.warn(pos, format!("Unterminated quote '{body}'"));
            }
            if let Some((name, mut acc, start)) = multiline.take() {
                let (piece, more) = continuation(body);
                if !piece.is_empty() {
                    acc.push(piece.to_string());
                }
                if more {
                    multiline = Some((name, acc, start));
                } else {
                    self.define(start, name, acc);
                }
                continue;
            }
            match self.process_line(body, pos, include_depth, 0) {
                Next::Done => {}
                Next::StartMultiline(name, first) => multiline = Some((name, first, pos)),
            }
        }
        if let Some((name, acc, start)) = multiline {
            self.define(start, name, acc);
        }
        self.pwd = saved_pwd;
    }

    pub(super) fn define(&mut self, pos: Pos, name: String, lines: Vec<String>) {
        if self.defs.len() >= MAX_DEFINITIONS && !self.defs.contains_key(&name) {
            self.abort(pos, format!("more than {MAX_DEFINITIONS} definitions"));
            return;
        }
        self.defs.insert(name, Definition { lines });
    }

    /// One logical line: conditional, definition, repetition, substitution,
    /// include, or a line for the tree. As keepalived's read_line does, a
    /// line is cut at its first `{` or `}` (outside quotes) and the rest is
    /// read as a line of its own, conditionals and definitions included
    /// (`global_defs { @^id router_id x`).
    pub(super) fn process_line(&mut self, text: &str, pos: Pos, include_depth: usize, depth: usize) -> Next {
        // A loop, not recursion: a line may hold thousands of braces. Each
        // round costs a work unit, and each rest is a shorter suffix of
        // `text` (no copy).
        let mut start = 0;
        loop {
            match self.process_piece(&text[start..], pos, include_depth, depth) {
                Piece::Next(n) => return n,
                Piece::Rest(off) => start += off,
            }
        }
    }

    fn process_piece(&mut self, text: &str, pos: Pos, include_depth: usize, depth: usize) -> Piece {
        let mut rest = None;
        let next = self.process_piece_inner(text, pos, include_depth, depth, &mut rest);
        match (next, rest) {
            (Next::Done, Some(off)) if !self.aborted && off > 0 && off <= text.len() => Piece::Rest(off),
            (next, _) => Piece::Next(next),
        }
    }

    fn process_piece_inner(
        &mut self,
        text: &str,
        pos: Pos,
        include_depth: usize,
        depth: usize,
        rest_at: &mut Option<usize>,
    ) -> Next {
        if self.aborted {
            return Next::Done;
        }
        if depth > MAX_EXPANSION_DEPTH {
            self.abort(pos, format!("definitions nest more than {MAX_EXPANSION_DEPTH} deep (a definition that uses itself?)"));
            return Next::Done;
        }
        self.work += 1;
        if self.work > MAX_WORK {
            self.abort(pos, format!("configuration needs more than {MAX_WORK} expansion steps"));
            return Next::Done;
        }
        let mut t = text.trim();
        if t.is_empty() {
            return Next::Done;
        }
        // @ID / @^ID conditionals.
        if let Some(rest) = t.strip_prefix('@') {
            let (neg, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let id = &rest[..end];
            if (id == self.config_id) == neg {
                return Next::Done;
            }
            t = rest[end..].trim_start();
            if t.is_empty() {
                return Next::Done;
            }
        }
        // $NAME=VALUE
        if let Some((name, value)) = definition(t) {
            let (piece, more) = continuation(value.trim());
            let first = if piece.is_empty() { Vec::new() } else { vec![piece.to_string()] };
            if more {
                return Next::StartMultiline(name.to_string(), first);
            }
            let v = value.trim_start().to_string();
            self.define(pos, name.to_string(), vec![v]);
            return Next::Done;
        }
        // ~SEQ(...) / ~SEQx(...) / ~LST(...)
        if t.starts_with("~SEQ") || t.starts_with("~LST") {
            self.repetition(t, pos, include_depth, depth);
            return Next::Done;
        }
        // Substitution; a line that changed is processed again, since it may
        // now be a conditional, a definition or several lines.
        match self.substitute_once(t) {
            Err(msg) => {
                self.abort(pos, msg);
                return Next::Done;
            }
            Ok(Some(new)) => {
                let pieces: Vec<String> = new.split('\n').map(str::to_string).collect();
                for p in pieces {
                    if let Next::StartMultiline(name, first) = self.process_line(&p, pos, include_depth, depth + 1) {
                        // A `$X= \` produced by substitution has no following
                        // physical lines: it is a (possibly empty) definition.
                        self.define(pos, name, first);
                    }
                }
                return Next::Done;
            }
            Ok(None) => {}
        }
        // Only a line that starts with "include" can be one: the cheap test
        // first (a long line is cut into many pieces at its braces).
        if t.starts_with("include") {
            let words = split_words(t);
            if let Some(first) = words.first()
                && !first.quoted
                && is_include(&first.text)
            {
                self.include(&first.text, &words[1..].iter().map(|w| w.text.to_string()).collect::<Vec<_>>(), pos, include_depth);
                return Next::Done;
            }
        }
        match split_at_brace(t) {
            Some((head, rest)) => {
                self.emit(pos, head);
                // `t`, and so `rest`, is a slice of `text` here (substitution
                // returned above): its offset is where the next piece starts.
                *rest_at = (rest.as_ptr() as usize).checked_sub(text.as_ptr() as usize);
            }
            None => self.emit(pos, t),
        }
        Next::Done
    }

    fn emit(&mut self, pos: Pos, text: &str) {
        self.total_bytes = self.total_bytes.saturating_add(text.len() + 1);
        if self.total_bytes > MAX_TOTAL_BYTES {
            self.abort(pos, format!("configuration expands to more than {MAX_TOTAL_BYTES} bytes"));
            return;
        }
        if self.out.lines.len() >= MAX_LINES {
            self.abort(pos, format!("configuration expands to more than {MAX_LINES} lines"));
            return;
        }
        self.out.push(pos, text);
    }

    /// One pass of replacing `${NAME}` and `$NAME` (followed by a blank,
    /// ',', ')' or the end); Ok(None) when nothing was replaced. The caller processes
    /// a changed line again, so replacement is recursive but lazy: a
    /// multi-line value's later lines see definitions made by earlier ones.
    pub(super) fn substitute_once(&mut self, text: &str) -> Result<Option<String>, String> {
        if !text.contains('$') {
            return Ok(None);
        }
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut i = 0;
        let mut last = 0;
        while i < b.len() {
            if b[i] != b'$' {
                i += 1;
                continue;
            }
            // ${NAME [ARGS]}
            if b.get(i + 1) == Some(&b'{') {
                if let Some(close) = text[i + 2..].find('}') {
                    let inner = &text[i + 2..i + 2 + close];
                    if let Some(value) = self.lookup_braced(inner) {
                        out.push_str(&text[last..i]);
                        out.push_str(&value);
                        changed = true;
                        i = i + 2 + close + 1;
                        last = i;
                        continue;
                    }
                }
                i += 1;
                continue;
            }
            // $NAME followed by whitespace or end of line
            let start = i + 1;
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            // keepalived also ends a name at ',' and ')' (find_definition).
            if end > start && (end == b.len() || b[end].is_ascii_whitespace() || matches!(b[end], b',' | b')'))
                && let Some(value) = self.lookup(&text[start..end]) {
                    out.push_str(&text[last..i]);
                    out.push_str(&value);
                    changed = true;
                    i = end;
                    last = i;
                    continue;
                }
            i += 1;
        }
        if !changed {
            return Ok(None);
        }
        out.push_str(&text[last..]);
        if out.len() > MAX_EXPANDED_LINE {
            return Err(format!("a line expands to more than {MAX_EXPANDED_LINE} bytes"));
        }
        Ok(Some(out))
    }

    fn lookup_braced(&mut self, inner: &str) -> Option<String> {
        let mut parts = inner.split_whitespace();
        let name = parts.next()?;
        if name == "_RANDOM" {
            let min: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let max: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(32767);
            let (lo, hi) = if min <= max { (min, max) } else { (max, min) };
            let r = self.next_random();
            let span = hi - lo;
            let v = if span == u64::MAX { r } else { lo + r % (span + 1) };
            return Some(v.to_string());
        }
        if inner.trim() != name {
            return None;
        }
        self.lookup(name)
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match name {
            "_PWD" => return Some(self.pwd.to_string_lossy().into_owned()),
            "_INSTANCE" => return Some(self.config_id.clone()),
            "_HASH" => return Some("#".into()),
            "_BANG" => return Some("!".into()),
            "_RANDOM" => return Some((self.next_random() % 32768).to_string()),
            _ => {}
        }
        self.defs.get(name).map(|d| d.lines.join("\n"))
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: keepalived's ${_RANDOM} is not reproducible either.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn include(&mut self, kind: &str, args: &[String], pos: Pos, include_depth: usize) {
        let Some(pattern) = args.first() else {
            self.diags.warn(pos, format!("{kind} needs a file name"));
            return;
        };
        if include_depth + 1 > MAX_INCLUDE_DEPTH {
            self.abort(pos, format!("includes nest more than {MAX_INCLUDE_DEPTH} deep"));
            return;
        }
        let matches = glob::glob(pattern, &self.pwd.clone());
        if matches.is_empty() {
            let strict = match kind {
                "includew" | "includea" => true,
                "includem" | "includeb" => !glob::has_wildcard(pattern),
                _ => false,
            };
            if strict {
                self.diags.warn(pos, format!("Config files missing '{pattern}'."));
            } else {
                log::info!("config: no file matches include '{pattern}'");
            }
            return;
        }
        for path in matches {
            if self.aborted {
                return;
            }
            if path.is_dir() {
                let msg = format!("Configuration file '{}/' is a directory - skipping", path.display());
                if kind == "include" {
                    log::info!("config: {msg}");
                } else {
                    self.diags.warn(pos, msg);
                }
                continue;
            }
            let canon = canonical(&path);
            if self.include_stack.contains(&canon) {
                self.abort(pos, format!("include loop: {} includes itself", path.display()));
                return;
            }
            if self.out.files.len() >= MAX_FILES {
                self.abort(pos, format!("more than {MAX_FILES} files included"));
                return;
            }
            match read_bounded(&path) {
                Ok(bytes) => {
                    self.total_bytes = self.total_bytes.saturating_add(bytes.len());
                    if self.total_bytes > MAX_TOTAL_BYTES {
                        self.abort(pos, format!("configuration files total more than {MAX_TOTAL_BYTES} bytes"));
                        return;
                    }
                    let idx = self.add_file(&path);
                    self.include_stack.push(canon);
                    let dir = parent_dir(&path);
                    self.process_source(&bytes, idx, &dir, include_depth + 1);
                    self.include_stack.pop();
                }
                Err(msg) => {
                    if kind == "include" {
                        log::info!("config: {msg}");
                    } else {
                        self.diags.warn(pos, msg);
                    }
                }
            }
        }
    }
}

/// Whether a line can take the short way ([`Expander::plain_line`]): it
/// has no quote, comment, definition or substitution, conditional or
/// repetition, no vertical tab (whitespace to `trim`, not to
/// `trim_ascii`), and is ASCII. Most lines of a large file are.
fn is_plain(raw: &[u8]) -> bool {
    raw.iter().all(|&b| b < 0x80 && !matches!(b, b'"' | b'#' | b'!' | b'$' | b'@' | b'~' | b'\x0b'))
}

impl Expander<'_> {
    /// A plain line (see `is_plain`): what `process_line` makes of it,
    /// without the checks that cannot apply. Cut at each brace as there;
    /// a piece that starts with `include` goes the long way.
    fn plain_line(&mut self, line: &str, pos: Pos, include_depth: usize) -> Next {
        let mut t = line;
        loop {
            if self.aborted {
                return Next::Done;
            }
            let s = t.trim_ascii();
            if s.starts_with("include") {
                return self.process_line(s, pos, include_depth, 0);
            }
            self.work += 1;
            if self.work > MAX_WORK {
                self.abort(pos, format!("configuration needs more than {MAX_WORK} expansion steps"));
                return Next::Done;
            }
            if s.is_empty() {
                return Next::Done;
            }
            let Some(at) = s.bytes().position(|b| matches!(b, b'{' | b'}')) else {
                self.emit(pos, s);
                return Next::Done;
            };
            // As split_at_brace.
            let (head, rest) = if at == 0 { (&s[..1], s[1..].trim_start_matches([' ', '\t'])) } else { (&s[..at], &s[at..]) };
            if rest.trim_end_matches([' ', '\t']).is_empty() {
                self.emit(pos, s);
                return Next::Done;
            }
            self.emit(pos, head);
            t = rest;
        }
    }
}

fn is_include(word: &str) -> bool {
    matches!(word, "include" | "includer" | "includem" | "includew" | "includeb" | "includea")
}

/// `$NAME=VALUE` at the start of a line: (NAME, VALUE).
fn definition(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix('$')?;
    let eq = rest.find('=')?;
    let name = &rest[..eq];
    valid_name(name).then(|| (name, &rest[eq + 1..]))
}

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A line of a multi-line definition: (text without the trailing `\`,
/// whether another line follows).
fn continuation(t: &str) -> (&str, bool) {
    match t.strip_suffix('\\') {
        Some(p) => (p.trim_end(), true),
        None => (t, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, id: &str) -> (Vec<String>, Diags) {
        let mut d = Diags::default();
        let opts = LoadOptions { config_id: Some(id.into()) };
        let e = expand_text(text.as_bytes(), Path::new("/nonexistent/t.conf"), &opts, &mut d);
        (e.lines.iter().map(|l| e.text(l).to_string()).collect(), d)
    }

    #[test]
    fn conditionals() {
        let t = "@main a 1\n@backup a 2\n@^main b 3\n@^backup b 4\nc";
        assert_eq!(run(t, "main").0, ["a 1", "b 4", "c"]);
        assert_eq!(run(t, "other").0, ["b 3", "b 4", "c"]);
    }

    #[test]
    fn definitions_late_binding() {
        let t = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32";
        assert_eq!(run(t, "x").0, ["10.2.0.100/32", "10.2.10.100/32"]);
    }

    #[test]
    fn dollar_needs_whitespace_or_braces() {
        let t = "$A=x\n$A y\n$Ab\n${A}b\n${UNDEF} $UNDEF";
        // An undefined ${NAME} stays, and its braces cut the line as any
        // other brace does (keepalived then reports "Unexpected '{'").
        assert_eq!(run(t, "x").0, ["x y", "$Ab", "xb", "$", "{", "UNDEF", "}", "$UNDEF"]);
    }

    #[test]
    fn definition_with_conditional() {
        let t = "@main $P=240\n@backup $P=200\npriority $P\n$IF_MAIN=@main\n$IF_MAIN prio 1";
        assert_eq!(run(t, "main").0, ["priority 240", "prio 1"]);
        assert_eq!(run(t, "backup").0, ["priority 200"]);
    }

    #[test]
    fn multiline_nested() {
        let t = "$RS= \\\nreal_server ${N} { \\\n  weight 1 \\\n}\n$VS= \\\nvs { \\\n $N=1 \\\n $RS \\\n $N=2 \\\n $RS \\\n}\n$VS";
        assert_eq!(
            run(t, "x").0,
            ["vs ", "{", "real_server 1 ", "{", "weight 1", "}", "real_server 2 ", "{", "weight 1", "}", "}"]
        );
    }

    #[test]
    fn a_brace_cuts_the_line_and_the_rest_is_read_again() {
        // The rest after a brace is a line of its own: a conditional or a
        // definition there applies (keepalived's read_line).
        assert_eq!(run("g { @^main r 1\n@main x { $D=2\ny $D }", "main").0, ["g ", "{", "x ", "{", "y 2 ", "}"]);
        assert_eq!(run("g { @^main r 1", "other").0, ["g ", "{", "r 1"]);
        // Braces inside quotes do not cut; a quote with no end stops the search.
        assert_eq!(run("s \"a { b\" {", "x").0, ["s \"a { b\" ", "{"]);
        assert_eq!(run("s \"a { b", "x").0, ["s \"a { b"]);
        // Thousands of braces on one line: a loop, not a deep recursion.
        assert_eq!(run(&"{ ".repeat(20_000), "x").0.len(), 20_000);
    }

    #[test]
    fn plain_lines_read_as_the_long_way_reads_them() {
        // A comment sends a line the long way; the same line without one
        // takes the short way, and both must give the same lines.
        let lines = [
            "  real_server 10.0.0.1 80 {", "{", "}", " } ", "a{b}c", "{ { x", "}include", "v { include /nonexistent/x",
            "\tweight\t1\t", "x \\ y", "{\t", "a\x0cb {", "  ", "",
        ];
        for l in lines {
            let with_comment = format!("{l} # c\nend");
            let plain = format!("{l}\nend");
            assert!(is_plain(plain.as_bytes()) && !is_plain(with_comment.as_bytes()));
            let (a, da) = run(&plain, "x");
            let (b, db) = run(&with_comment, "x");
            assert_eq!(a, b, "{l:?}");
            assert_eq!(da.into_diagnostics(&[]), db.into_diagnostics(&[]), "{l:?}");
        }
    }

    #[test]
    fn seq_and_lst() {
        assert_eq!(run("~SEQ(S, 0, 3) ip 10.0.${S}.1", "x").0.len(), 4);
        assert_eq!(run("~SEQx(S, 0x90, 0x10, 0xc0) fe80::${S}", "x").0, ["fe80::90", "fe80::a0", "fe80::b0", "fe80::c0"]);
        assert_eq!(run("~SEQ(S, 3) a${S}", "x").0, ["a1", "a2", "a3"]);
        assert_eq!(run("~SEQ(S, 3, 1) a${S}", "x").0, ["a3", "a2", "a1"]);
        assert_eq!(run("~SEQ(A, 1, 2) ~SEQ(B, 1, 2) ${A}.${B}", "x").0, ["1.1", "1.2", "2.1", "2.2"]);
        assert_eq!(run("~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}", "x").0, ["192.168.10.1", "192.168.20.4"]);
        assert_eq!(run("~LST(X, a, b) v${X}", "x").0, ["va", "vb"]);
    }

    #[test]
    fn predefined() {
        let (l, _) = run("${_HASH} ${_BANG} ${_INSTANCE} ${_PWD}", "node1");
        assert_eq!(l, ["# ! node1 /nonexistent"]);
        let (l, _) = run("${_RANDOM 5 5}", "x");
        assert_eq!(l, ["5"]);
    }

    #[test]
    fn self_reference_is_bounded() {
        let (l, d) = run("$A=$A x\n$A", "x");
        assert!(l.is_empty());
        assert!(d.has_errors());
        let (_, d) = run("$A=${A}${A}\n${A}", "x");
        assert!(d.has_errors());
    }

    #[test]
    fn huge_seq_is_bounded() {
        let (_, d) = run("~SEQ(A, 0, 100000) ~SEQ(B, 0, 100000) x", "x");
        assert!(d.has_errors());
    }
}
