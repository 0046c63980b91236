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
use std::cell::OnceCell;
use std::num::NonZeroU32;

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
    /// `Some` when the statement was followed by `{ ... }`: a run of one
    /// level of the [`Forest`].
    pub block: Option<&'a [Node<'a>]>,
}

impl<'a> Node<'a> {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|a| &**a)
    }
    pub fn children(&self) -> &'a [Node<'a>] {
        self.block.unwrap_or(&[])
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

/// Where the nodes live: one vector per level (a block's statements are
/// a run of the level below its own), so that the tree costs a handful of
/// allocations rather than one per block, and dropping it is freeing
/// those. Levels are filled deepest first, each once.
pub struct Forest<'a> {
    levels: Vec<OnceCell<Vec<Node<'a>>>>,
}

impl Forest<'_> {
    pub fn new() -> Self {
        // A block's statements sit at most one level below MAX_NESTING.
        Forest { levels: (0..MAX_NESTING + 2).map(|_| OnceCell::new()).collect() }
    }
}

/// A node before its level is placed; its block indexes
/// `Builder::blocks` (from 1). 48 bytes: the levels of these are the
/// largest part of the memory a load peaks at.
struct Flat<'a> {
    pos: Pos,
    keyword: &'a str,
    args: &'a [Text<'a>],
    block: Option<NonZeroU32>,
}

/// Where a block's statements were placed: level, first, count.
type Placed = (u32, u32, u32);

/// Builds the tree; unbalanced braces and excess nesting are diagnosed.
pub fn build_tree<'a>(lines: &Expanded, words: &'a Words<'a>, forest: &'a Forest<'a>, diags: &mut Diags) -> &'a [Node<'a>] {
    let mut b = Builder::default();
    let mut from = 0;
    for (line, &to) in lines.lines.iter().zip(&words.ends) {
        b.line(line.pos, words, from..to as usize, diags);
        from = to as usize;
    }
    let (levels, blocks) = b.finish(diags);
    // Deepest first: a block is always on a deeper level than its owner.
    for (d, flat) in levels.into_iter().enumerate().rev() {
        let nodes: Vec<Node<'a>> = flat
            .into_iter()
            .map(|f| Node {
                pos: f.pos,
                keyword: f.keyword,
                args: f.args,
                block: f.block.map(|b| {
                    let &(l, start, len) = blocks.get(b.get() as usize - 1).unwrap_or(&(0, 0, 0));
                    let (start, len) = (start as usize, len as usize);
                    let level = forest.levels.get(l as usize).and_then(OnceCell::get);
                    level.and_then(|v| v.get(start..start + len)).unwrap_or(&[])
                }),
            })
            .collect();
        if let Some(cell) = forest.levels.get(d) {
            let _ = cell.set(nodes);
        }
    }
    forest.levels.first().and_then(OnceCell::get).map_or(&[], Vec::as_slice)
}

/// The tree under construction. Every node of every open level sits in
/// `pending`, the outer levels first; a level's nodes move to the end of
/// `levels[depth]` when its `}` comes.
#[derive(Default)]
struct Builder<'a> {
    pending: Vec<Flat<'a>>,
    /// Open blocks: the statement that owns each one and where its nodes
    /// start in `pending`, innermost last.
    open: Vec<(Flat<'a>, usize)>,
    /// The placed nodes, by the depth they had when their block closed.
    levels: Vec<Vec<Flat<'a>>>,
    blocks: Vec<Placed>,
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
        let mut cur: Option<Flat<'a>> = None;
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
                    cur = Some(Flat { pos, keyword, args, block: None });
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

    fn open_block(&mut self, pos: Pos, cur: Option<Flat<'a>>, diags: &mut Diags) {
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
                Flat { pos, keyword: "", args: &[], block: None }
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
            Some((owner, start)) => self.place(owner, start),
            None => diags.warn(pos, "Unknown keyword '}'"),
        }
    }

    /// A block closed: its statements (`pending[start..]`) go one level
    /// below its owner, whose depth is the number of blocks still open.
    /// A node moved up by a stray block keeps its block deeper still.
    fn place(&mut self, mut owner: Flat<'a>, start: usize) {
        let level = self.open.len() + 1;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let dest = &mut self.levels[level];
        let first = dest.len();
        dest.extend(self.pending.drain(start..));
        // Counts below 4 G: the expanded text is bounded far lower.
        self.blocks.push((level as u32, first as u32, (dest.len() - first) as u32));
        owner.block = NonZeroU32::new(self.blocks.len() as u32);
        self.pending.push(owner);
    }

    /// The levels, the top one first, and where the blocks are in them.
    fn finish(mut self, diags: &mut Diags) -> (Vec<Vec<Flat<'a>>>, Vec<Placed>) {
        if !self.open.is_empty() {
            let pos = self.open.last().map(|(n, _)| n.pos).unwrap_or_default();
            diags.error(pos, format!("There are {} missing '}}'s or extra '{{'s", self.open.len()));
            // Close what is open so that the rest can still be checked.
            while let Some((owner, start)) = self.open.pop() {
                self.place(owner, start);
            }
        }
        // Beyond MAX_NESTING: already reported as excess nesting.
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0] = self.pending;
        (self.levels, self.blocks)
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
        let f = Forest::new();
        let t = build_tree(&e, &w, &f, &mut d);
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
        let f = Forest::new();
        let t = build_tree(&e, &w, &f, &mut d);
        assert_eq!(t[0].children()[0].args, ["x"]);
        assert_eq!(t[1].children()[0].children()[0].keyword, "1");
        assert_eq!(t[1].children()[0].children()[0].args, ["2"]);
    }

    #[test]
    fn a_stray_block_gives_its_statements_to_the_level_around_it() {
        let mut d = Diags::default();
        let e = lines("{\n a {\n  b { x }\n }\n}\nc {\n{ y }\n}");
        let w = Words::of(&e);
        let f = Forest::new();
        let t = build_tree(&e, &w, &f, &mut d);
        let kws: Vec<&str> = t.iter().map(|n| n.keyword).collect();
        assert_eq!(kws, ["a", "c"]);
        assert_eq!(t[0].children()[0].keyword, "b");
        assert_eq!(t[0].children()[0].children()[0].keyword, "x");
        assert_eq!(t[1].children()[0].keyword, "y");
        assert_eq!(d.into_diagnostics(&[]).len(), 2);
    }

    #[test]
    fn unbalanced() {
        let mut d = Diags::default();
        let e = lines("a {\n b {\n");
        build_tree(&e, &Words::of(&e), &Forest::new(), &mut d);
        assert!(d.has_errors());
        let mut d = Diags::default();
        let e = lines("}");
        build_tree(&e, &Words::of(&e), &Forest::new(), &mut d);
        assert!(!d.has_errors());
        assert_eq!(d.into_diagnostics(&[]).len(), 1);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut d = Diags::default();
        let text = "a {\n".repeat(100) + &"}\n".repeat(100);
        let e = lines(&text);
        let w = Words::of(&e);
        let f = Forest::new();
        let t = build_tree(&e, &w, &f, &mut d);
        assert!(d.has_errors());
        assert_eq!(t.len(), 1);
    }
}
