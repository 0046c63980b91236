//! Splitting one logical line into words, as keepalived 2.2.7 does (found
//! by running it, which differs from its manual): whitespace separates
//! words; `"` quotes, and a quoted string is always a word of its own
//! (`ab"c d"` is `ab` and `c d`); `'` is an ordinary character; escapes work
//! inside quotes; `{` and `}` outside quotes are words of their own; `#` and
//! `!` outside quotes start a comment, even inside a word.

/// One word of a line. `quoted` tells a literal `"{"` from a brace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub quoted: bool,
}

impl Word {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// The line up to its first comment character outside quotes.
pub fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) => {
                if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' => quote = Some(c),
                '#' | '!' => return &line[..i],
                _ => {}
            },
        }
    }
    line
}

/// Whether a `"` opened on this line is never closed (keepalived reports it).
pub fn has_unterminated_quote(line: &str) -> bool {
    let mut open = false;
    let mut escaped = false;
    for c in line.chars() {
        if escaped {
            escaped = false;
        } else if open && c == '\\' {
            escaped = true;
        } else if c == '"' {
            open = !open;
        }
    }
    open
}

/// Splits a (comment-free) logical line into words. An unterminated quote
/// runs to the end of the line, as in keepalived.
pub fn split_words(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                words.push(Word { text: std::mem::take(&mut cur), quoted: true });
                in_word = false;
                quoted = false;
            } else if c == '\\' {
                unescape(&mut chars, &mut cur);
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                if in_word {
                    words.push(Word { text: std::mem::take(&mut cur), quoted });
                }
                quote = Some(c);
                in_word = true;
                quoted = true;
            }
            // A `#` or `!` that substitution produced (`${_HASH}`) still
            // starts a comment here, as in keepalived 2.2.7.
            '#' | '!' => break,
            '{' | '}' => {
                if in_word {
                    words.push(Word { text: std::mem::take(&mut cur), quoted });
                    in_word = false;
                    quoted = false;
                }
                words.push(Word { text: c.to_string(), quoted: false });
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(Word { text: std::mem::take(&mut cur), quoted });
                    in_word = false;
                    quoted = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(Word { text: cur, quoted });
    }
    words
}

/// One escape sequence inside quotes (after the backslash).
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let Some(c) = chars.next() else {
        out.push('\\');
        return;
    };
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
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(16)) {
                v = (v.wrapping_mul(16).wrapping_add(d)) & 0xff;
                chars.next();
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
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            out.push(char::from((v & 0xff) as u8));
        }
        'c' => match chars.next() {
            Some(k) => out.push(char::from((k.to_ascii_uppercase() as u32 & 0x1f) as u8)),
            None => out.push('c'),
        },
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split_words(line).into_iter().map(|w| w.text).collect()
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
