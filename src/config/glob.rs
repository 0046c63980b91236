//! Include patterns: `*`, `?`, `[...]` per path component and csh-style
//! `{a,b}` brace alternatives, as glob(3) with GLOB_BRACE. Results are
//! sorted, as glob(3) sorts them, and only regular files are returned.

use std::path::{Path, PathBuf};

/// Bound on brace alternatives and matches, so a pattern cannot explode.
const MAX_ALTERNATIVES: usize = 256;
const MAX_MATCHES: usize = 4096;

pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Expands `pattern` (absolute, or relative to `base`): the regular files
/// and directories that match (keepalived reports a matched directory).
pub fn glob(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for alt in expand_braces(pattern) {
        let full = if alt.starts_with('/') { PathBuf::from(&alt) } else { base.join(&alt) };
        let mut matches = glob_one(&full);
        matches.sort();
        for m in matches {
            if out.len() >= MAX_MATCHES {
                return out;
            }
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

fn glob_one(path: &Path) -> Vec<PathBuf> {
    let mut cur: Vec<PathBuf> = vec![PathBuf::new()];
    let comps: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    for comp in &comps {
        let mut next = Vec::new();
        for dir in &cur {
            if has_wildcard(comp) {
                let rd = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
                let Ok(entries) = std::fs::read_dir(rd) else { continue };
                let mut names: Vec<String> =
                    entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                for name in names {
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if matches(comp.as_bytes(), name.as_bytes()) {
                        next.push(dir.join(&name));
                        if next.len() >= MAX_MATCHES {
                            break;
                        }
                    }
                }
            } else {
                next.push(dir.join(comp));
            }
        }
        cur = next;
        if cur.is_empty() {
            break;
        }
    }
    cur.into_iter().filter(|p| p.is_file() || p.is_dir()).collect()
}

/// fnmatch(3) without flags, on one path component.
pub fn matches(pat: &[u8], name: &[u8]) -> bool {
    // Iterative with one backtrack point for `*`: linear in practice.
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = class(&pat[p..], name[n]) {
                        if ok {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == name[n] {
                        p += 2;
                        n += 1;
                        continue;
                    }
                }
                c => {
                    if c == name[n] {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `pat`: (matched, bytes of pattern used),
/// or None when the bracket is not closed (then it is a literal `[`).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let &b = pat.get(i)?;
        if b == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            let e = pat[i + 2];
            if b <= c && c <= e {
                found = true;
            }
            i += 3;
        } else {
            if b == c {
                found = true;
            }
            i += 1;
        }
    }
}

/// `a{b,c{d,e}}f` → [abf, acdf, acef]; unbalanced braces are literal.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out, 0);
    out
}

fn expand_into(pattern: &str, out: &mut Vec<String>, depth: usize) {
    if out.len() >= MAX_ALTERNATIVES {
        return;
    }
    let b = pattern.as_bytes();
    let Some(open) = b.iter().position(|&c| c == b'{') else {
        out.push(pattern.to_string());
        return;
    };
    // Find the matching close and the top-level commas.
    let mut level = 0usize;
    let mut commas = Vec::new();
    let mut close = None;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => level += 1,
            b'}' => {
                level -= 1;
                if level == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if level == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        out.push(pattern.to_string());
        return;
    };
    if depth > 16 {
        out.push(pattern.to_string());
        return;
    }
    let pre = &pattern[..open];
    let post = &pattern[close + 1..];
    let mut start = open + 1;
    let mut bounds = commas.clone();
    bounds.push(close);
    for end in bounds {
        let alt = &pattern[start..end];
        expand_into(&format!("{pre}{alt}{post}"), out, depth + 1);
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch() {
        assert!(matches(b"*.conf", b"a.conf"));
        assert!(!matches(b"*.conf", b"a.conf.bak"));
        assert!(matches(b"a?c", b"abc"));
        assert!(matches(b"[a-c]x", b"bx"));
        assert!(!matches(b"[!a-c]x", b"bx"));
        assert!(matches(b"*a*b*c", b"xxaxxbxxc"));
        assert!(matches(b"[", b"["));
        assert!(matches(b"**", b""));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(expand_braces("x{"), ["x{"]);
        assert_eq!(expand_braces("{foo/{,cat,dog},bar}"), ["foo/", "foo/cat", "foo/dog", "bar"]);
    }

    #[test]
    fn glob_dir() {
        let d = std::env::temp_dir().join(format!("vigil-glob-{}", std::process::id()));
        let _ = std::fs::create_dir_all(d.join("sub"));
        for f in ["b.conf", "a.conf", "c.txt", ".h.conf", "sub/d.conf"] {
            let _ = std::fs::write(d.join(f), "");
        }
        let got: Vec<String> = glob("*.conf", &d)
            .iter()
            .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["a.conf", "b.conf"]);
        assert_eq!(glob("*/*.conf", &d).len(), 1);
        assert_eq!(glob("su?", &d), [d.join("sub")]);
        assert_eq!(glob("{a,c}.*", &d).len(), 2);
        assert!(glob("nothing*", &d).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
}
