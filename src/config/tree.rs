//! The keyword tree: each statement is a keyword with its arguments and,
//! when followed by `{ ... }`, a block of child statements. Every node keeps
//! the FILE:LINE of its keyword.
//!
//! As in keepalived, `{` and `}` may sit anywhere on a line: a `{` ends the
//! statement it follows, a `}` closes the current block, and a `{` alone on
//! a line opens the block of the statement on the line before.

use super::diag::{Diags, Pos};
use super::expand::Expanded;
use super::lexer::{Word, split_words_into};
use super::limits::MAX_NESTING;
use std::borrow::Cow;

/// A word of the tree: borrowed from the expanded lines, owned only when
/// an escape made it differ from them.
pub type Text<'a> = Cow<'a, str>;

/// 56 bytes: hundreds of thousands of them at scale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub pos: Pos,
    pub keyword: &'a str,
    /// A run of [`Words`]: a statement's arguments follow one another.
    pub args: &'a [Text<'a>],
    /// `Some` when the statement was followed by `{ ... }`.
    pub block: Option<Box<[Node<'a>]>>,
}

impl<'a> Node<'a> {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|a| &**a)
    }
    pub fn children(&self) -> &[Node<'a>] {
        self.block.as_deref().unwrap_or(&[])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    Open,
    Close,
}

/// The words of all the expanded lines, one after another, read before
/// the tree is built: the nodes then borrow their arguments from here
/// rather than each holding a vector of them.
#[derive(Default)]
pub struct Words<'a> {
    /// The words that are not braces.
    texts: Vec<Text<'a>>,
    /// Per word or brace: which.
    kinds: Vec<Kind>,
    /// Per line: where its words and braces end in `kinds`.
    ends: Vec<u32>,
}

impl<'a> Words<'a> {
    pub fn of(lines: &'a Expanded) -> Self {
        // Room for what a typical file has (a word per 6 bytes of text, a
        // brace per line), so that the arrays are not copied as they grow.
        let guess = lines.text_len() / 6;
        let mut w = Words {
            texts: Vec::with_capacity(guess),
            kinds: Vec::with_capacity(guess + lines.lines.len()),
            ends: Vec::with_capacity(lines.lines.len()),
        };
        let mut one: Vec<Word<'a>> = Vec::new();
        for line in &lines.lines {
            one.clear();
            split_words_into(lines.text(line), &mut one);
            for word in one.drain(..) {
                w.kinds.push(if word.is_open() {
                    Kind::Open
                } else if word.is_close() {
                    Kind::Close
                } else {
                    w.texts.push(word.text);
                    Kind::Word
                });
            }
            // Below 4 G: the expanded text is bounded far lower.
            w.ends.push(w.kinds.len() as u32);
        }
        w
    }
}

/// Builds the tree; unbalanced braces and excess nesting are diagnosed.
pub fn build_tree<'a>(lines: &Expanded, words: &'a Words<'a>, diags: &mut Diags) -> Vec<Node<'a>> {
    let mut b = Builder::default();
    let mut from = 0;
    for (line, &to) in lines.lines.iter().zip(&words.ends) {
        b.line(line.pos, words, from..to as usize, diags);
        from = to as usize;
    }
    b.finish(diags)
}

/// The tree under construction. Every node of every open level sits in
/// `pending`, the outer levels first; a level's nodes move into a vector
/// of exactly their number when its `}` comes.
#[derive(Default)]
struct Builder<'a> {
    pending: Vec<Node<'a>>,
    /// Open blocks: the statement that owns each one and where its nodes
    /// start in `pending`, innermost last.
    open: Vec<(Node<'a>, usize)>,
    /// The next word's index in `Words::texts`.
    text: usize,
    /// Brace depth beyond MAX_NESTING that we are skipping.
    skipping: usize,
    /// The last statement ended on an earlier line without a block (it
    /// may take a `{` from the next line).
    can_take_block: bool,
}

impl<'a> Builder<'a> {
    fn level_start(&self) -> usize {
        self.open.last().map_or(0, |(_, start)| *start)
    }

    /// One line: `range` indexes its words and braces.
    fn line(&mut self, pos: Pos, words: &'a Words<'a>, range: std::ops::Range<usize>, diags: &mut Diags) {
        let mut cur: Option<Node<'a>> = None;
        let mut i = range.start;
        while i < range.end {
            let kind = words.kinds[i];
            i += 1;
            if self.skipping > 0 {
                match kind {
                    Kind::Open => self.skipping += 1,
                    Kind::Close => self.skipping -= 1,
                    Kind::Word => self.text += 1,
                }
                continue;
            }
            match kind {
                Kind::Open => self.open_block(pos, cur.take(), diags),
                Kind::Close => {
                    self.can_take_block = false;
                    if let Some(n) = cur.take() {
                        self.pending.push(n);
                    }
                    self.close_block(pos, diags);
                }
                Kind::Word => {
                    // A statement: its keyword, and as arguments the words
                    // up to the next brace.
                    let end = (i..range.end).find(|&j| words.kinds[j] != Kind::Word).unwrap_or(range.end);
                    let (k, first, last) = (self.text, self.text + 1, self.text + end - (i - 1));
                    let (Some(keyword), Some(args)) = (words.texts.get(k), words.texts.get(first..last)) else {
                        // Cannot be: `kinds` counts exactly the words in `texts`.
                        return;
                    };
                    cur = Some(Node { pos, keyword, args, block: None });
                    self.text = last;
                    i = end;
                }
            }
        }
        if let Some(n) = cur.take() {
            self.pending.push(n);
            self.can_take_block = true;
        }
    }

    fn open_block(&mut self, pos: Pos, cur: Option<Node<'a>>, diags: &mut Diags) {
        let owner = match cur {
            Some(n) => Some(n),
            None if self.can_take_block && self.pending.len() > self.level_start() => self.pending.pop(),
            None => None,
        };
        self.can_take_block = false;
        let owner = match owner {
            Some(n) => n,
            None => {
                diags.warn(pos, "Unexpected '{' - ignoring");
                Node { pos, keyword: "", args: &[], block: None }
            }
        };
        if self.open.len() >= MAX_NESTING {
            diags.error(pos, format!("blocks nest more than {MAX_NESTING} deep"));
            self.skipping = 1;
            return;
        }
        self.open.push((owner, self.pending.len()));
    }

    fn close_block(&mut self, pos: Pos, diags: &mut Diags) {
        match self.open.pop() {
            // A stray '{' block: its statements belong to the enclosing
            // level, as keepalived reads them; they are there already.
            Some((owner, _)) if owner.keyword.is_empty() => {}
            Some((mut owner, start)) => {
                owner.block = Some(self.pending.drain(start..).collect());
                self.pending.push(owner);
            }
            None => diags.warn(pos, "Unknown keyword '}'"),
        }
    }

    fn finish(mut self, diags: &mut Diags) -> Vec<Node<'a>> {
        if !self.open.is_empty() {
            let pos = self.open.last().map(|(n, _)| n.pos).unwrap_or_default();
            diags.error(pos, format!("There are {} missing '}}'s or extra '{{'s", self.open.len()));
            // Close what is open so that the rest can still be checked.
            while let Some((mut owner, start)) = self.open.pop() {
                owner.block = Some(self.pending.drain(start..).collect());
                self.pending.push(owner);
            }
        }
        // Beyond MAX_NESTING: already reported as excess nesting.
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &str) -> Expanded {
        let mut e = Expanded::default();
        for (i, l) in t.lines().enumerate() {
            e.push(Pos { file: 0, line: i as u32 + 1 }, l);
        }
        e
    }

    #[test]
    fn nested_blocks() {
        let mut d = Diags::default();
        let e = lines("a 1 {\n b 2\n c {\n  d\n }\n}\ne");
        let w = Words::of(&e);
        let t = build_tree(&e, &w, &mut d);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].keyword, "a");
        assert_eq!(t[0].args, ["1"]);
        assert_eq!(t[0].children().len(), 2);
        assert_eq!(t[0].children()[1].children()[0].keyword, "d");
        assert_eq!(t[0].children()[1].children()[0].pos.line, 4);
        assert!(!d.has_errors());
    }

    #[test]
    fn brace_on_next_line_and_inline() {
        let mut d = Diags::default();
        let e = lines("global_defs\n{\n router_id x }\nv { a { 1 2 } }");
        let w = Words::of(&e);
        let t = build_tree(&e, &w, &mut d);
        assert_eq!(t[0].children()[0].args, ["x"]);
        assert_eq!(t[1].children()[0].children()[0].keyword, "1");
        assert_eq!(t[1].children()[0].children()[0].args, ["2"]);
    }

    #[test]
    fn unbalanced() {
        let mut d = Diags::default();
        let e = lines("a {\n b {\n");
        build_tree(&e, &Words::of(&e), &mut d);
        assert!(d.has_errors());
        let mut d = Diags::default();
        let e = lines("}");
        build_tree(&e, &Words::of(&e), &mut d);
        assert!(!d.has_errors());
        assert_eq!(d.into_diagnostics(&[]).len(), 1);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut d = Diags::default();
        let text = "a {\n".repeat(100) + &"}\n".repeat(100);
        let e = lines(&text);
        let w = Words::of(&e);
        let t = build_tree(&e, &w, &mut d);
        assert!(d.has_errors());
        assert_eq!(t.len(), 1);
    }
}
