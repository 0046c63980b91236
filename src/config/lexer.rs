//! Splitting one logical line into words, as keepalived 2.2.7 does (found
//! by running it, which differs from its manual): whitespace separates
//! words; `"` quotes, and a quoted string is always a word of its own
//! (`ab"c d"` is `ab` and `c d`); `'` is an ordinary character; escapes work
//! inside quotes; `{` and `}` outside quotes are words of their own; `#` and
//! `!` outside quotes start a comment, even inside a word.
//!
//! Scanning is by byte: every character with a meaning here is ASCII, and
//! a UTF-8 continuation byte never equals an ASCII one. A word is a slice
//! of the line unless an escape made it differ (a configuration at scale
//! then costs no allocation per word here).

use std::borrow::Cow;

/// One word of a line. `quoted` tells a literal `"{"` from a brace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: Cow<'a, str>,
    pub quoted: bool,
}

impl Word<'_> {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// The line up to its first comment character outside quotes.
pub fn strip_comment(line: &str) -> &str {
    &line[..scan_quotes(line, true).0]
}

/// Whether a `"` opened on this line is never closed (keepalived reports it).
pub fn has_unterminated_quote(line: &str) -> bool {
    scan_quotes(line, false).1
}

/// Walks `line`'s quotes: where it stops (a comment character outside
/// quotes when `at_comment`, else the end) and whether a quote is open there.
fn scan_quotes(line: &str, at_comment: bool) -> (usize, bool) {
    let b = line.as_bytes();
    let mut open = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // An escape (only inside quotes) hides the next character.
            b'\\' if open => i += 1,
            b'"' => open = !open,
            b'#' | b'!' if at_comment && !open => return (i, open),
            _ => {}
        }
        i += 1;
    }
    (b.len(), open)
}

/// Whether the character starting at byte `i` of `line` is whitespace
/// (Unicode's, as `char::is_whitespace`), and its length in bytes.
fn space_at(line: &str, i: usize) -> (bool, usize) {
    match line.as_bytes()[i] {
        b'\t'..=b'\r' | b' ' => (true, 1),
        b if b < 0x80 => (false, 1),
        _ => match line[i..].chars().next() {
            Some(c) => (c.is_whitespace(), c.len_utf8()),
            None => (false, 1),
        },
    }
}

/// Splits a (comment-free) logical line into words. An unterminated quote
/// runs to the end of the line, as in keepalived.
pub fn split_words(line: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    split_words_into(line, &mut words);
    words
}

/// As `split_words`, appending to `words` (a buffer the caller reuses).
pub fn split_words_into<'a>(line: &'a str, words: &mut Vec<Word<'a>>) {
    let b = line.as_bytes();
    // The unquoted word being read starts here.
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'#' | b'!' | b'{' | b'}') {
            if let Some(s) = start.take() {
                words.push(Word { text: Cow::Borrowed(&line[s..i]), quoted: false });
            }
            match c {
                b'"' => {
                    i = quoted_word(line, i + 1, words);
                    continue;
                }
                // A `#` or `!` that substitution produced (`${_HASH}`) still
                // starts a comment here, as in keepalived 2.2.7.
                b'#' | b'!' => return,
                _ => words.push(Word { text: Cow::Borrowed(&line[i..i + 1]), quoted: false }),
            }
            i += 1;
            continue;
        }
        let (space, len) = space_at(line, i);
        if space {
            if let Some(s) = start.take() {
                words.push(Word { text: Cow::Borrowed(&line[s..i]), quoted: false });
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        words.push(Word { text: Cow::Borrowed(&line[s..]), quoted: false });
    }
}

/// The quoted word whose text starts at byte `from` (after its `"`):
/// pushed to `words`; returns where reading goes on.
fn quoted_word<'a>(line: &'a str, from: usize, words: &mut Vec<Word<'a>>) -> usize {
    let b = line.as_bytes();
    // Set at the first escape: the word then differs from the line.
    let mut owned: Option<String> = None;
    let mut seg = from;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => break,
            b'\\' => {
                let out = owned.get_or_insert_with(String::new);
                out.push_str(&line[seg..i]);
                i += 1 + unescape(&line[i + 1..], out);
                seg = i;
            }
            _ => i += 1,
        }
    }
    let end = i.min(b.len());
    let text = match owned {
        Some(mut s) => {
            s.push_str(&line[seg..end]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(&line[from..end]),
    };
    words.push(Word { text, quoted: true });
    // Past the closing quote, or the end of an unterminated one.
    (end + 1).min(b.len())
}

/// One escape sequence inside quotes: `s` is what follows the backslash.
/// Appends its value; returns the bytes of `s` it used.
fn unescape(s: &str, out: &mut String) -> usize {
    let b = s.as_bytes();
    let mut chars = s.chars();
    let Some(c) = chars.next() else {
        out.push('\\');
        return 0;
    };
    let mut used = c.len_utf8();
    let digit = |i: usize, radix: u32| b.get(i).and_then(|&d| char::from(d).to_digit(radix));
    match c {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'E' => out.push('\x1b'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        'x' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while let Some(d) = digit(used, 16) {
                v = (v.wrapping_mul(16).wrapping_add(d)) & 0xff;
                used += 1;
                n += 1;
            }
            if n == 0 {
                out.push('x');
            } else {
                out.push(char::from(v as u8));
            }
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match digit(used, 8) {
                    Some(d) => {
                        v = v * 8 + d;
                        used += 1;
                    }
                    None => break,
                }
            }
            out.push(char::from((v & 0xff) as u8));
        }
        'c' => match chars.next() {
            Some(k) => {
                out.push(char::from((k.to_ascii_uppercase() as u32 & 0x1f) as u8));
                used += k.len_utf8();
            }
            None => out.push('c'),
        },
        other => out.push(other),
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split_words(line).into_iter().map(|w| w.text.into_owned()).collect()
    }

    #[test]
    fn words_and_braces() {
        assert_eq!(texts("  vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(texts("a}b"), ["a", "}", "b"]);
        assert_eq!(texts(""), Vec::<String>::new());
    }

    #[test]
    fn quotes_join_and_keep_spaces() {
        assert_eq!(texts(r#"abcd" efg h jkl "mnop"#), ["abcd", " efg h jkl ", "mnop"]);
        assert_eq!(texts(r#""cc dd"ee"#), ["cc dd", "ee"]);
        assert_eq!(texts("ii'jj kk'"), ["ii'jj", "kk'"]);
        assert_eq!(texts(r#"x """#), ["x", ""]);
        assert_eq!(texts(r#"abcd "efg h jkl" mnop"#), ["abcd", "efg h jkl", "mnop"]);
        assert_eq!(texts(r#"script "bash -c '</dev/tcp/1'""#), ["script", "bash -c '</dev/tcp/1'"]);
        let w = split_words(r#""{""#);
        assert!(w[0].quoted && !w[0].is_open());
    }

    #[test]
    fn escapes() {
        assert_eq!(texts(r#""a\tb\x41\101\"c""#), ["a\tbAA\"c"]);
        assert_eq!(texts(r#""\"#), ["\\"]);
    }

    #[test]
    fn unicode_blanks_and_escapes_before_multibyte_characters() {
        // Unicode whitespace separates words; a vertical tab does too.
        assert_eq!(texts("\u{e9}\u{2003}\u{fc}{ a\u{a0}b\x0bc"), ["\u{e9}", "\u{fc}", "{", "a", "b", "c"]);
        // `\c` takes the character after it whatever its length; `\x`
        // with no hex digit is an `x`.
        assert_eq!(texts("\"a\\c\u{e9} z\""), ["a\t z"]);
        assert_eq!(texts("\"\\x\u{e9}\\101\""), ["x\u{e9}A"]);
        // A word with no escape is the line's own text.
        let w = split_words("k \"v w\"");
        assert!(matches!(w[1].text, Cow::Borrowed("v w")));
        assert_eq!(strip_comment("\"\\\u{e9}#\" # c"), "\"\\\u{e9}#\" ");
    }

    #[test]
    fn comment_after_substitution() {
        assert_eq!(texts("router_id a#b"), ["router_id", "a"]);
        assert_eq!(texts(r#"x "a#b""#), ["x", "a#b"]);
    }

    #[test]
    fn comments() {
        assert_eq!(strip_comment("router_id x # c"), "router_id x ");
        assert_eq!(strip_comment("! all"), "");
        assert_eq!(strip_comment(r#"script "a # b" ! c"#), r#"script "a # b" "#);
        assert_eq!(strip_comment(r#"x "\" # in" # out"#), r#"x "\" # in" "#);
    }

    #[test]
    fn unterminated_quote_runs_to_end() {
        assert_eq!(texts(r#"a "b c"#), ["a", "b c"]);
        assert!(has_unterminated_quote(r#"a "b c"#));
        assert!(!has_unterminated_quote(r#"a "b \" c""#));
    }
}
