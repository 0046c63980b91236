//! The keyword tree: each statement is a keyword with its arguments and,
//! when followed by `{ ... }`, a block of child statements. Every node keeps
//! the FILE:LINE of its keyword.
//!
//! As in keepalived, `{` and `}` may sit anywhere on a line: a `{` ends the
//! statement it follows, a `}` closes the current block, and a `{` alone on
//! a line opens the block of the statement on the line before.

use super::diag::{Diags, Pos};
use super::expand::Line;
use super::lexer::split_words;
use super::limits::MAX_NESTING;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub pos: Pos,
    pub keyword: String,
    pub args: Vec<String>,
    /// `Some` when the statement was followed by `{ ... }`.
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Builds the tree; unbalanced braces and excess nesting are diagnosed.
pub fn build_tree(lines: &[Line], diags: &mut Diags) -> Vec<Node> {
    // Open blocks: the statement that owns each one, innermost last.
    let mut stack: Vec<(Node, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    // Brace depth beyond MAX_NESTING that we are skipping.
    let mut skipping = 0usize;
    // The last statement ended on an earlier line without a block (it may
    // take a `{` from the next line).
    let mut can_take_block = false;

    for line in lines {
        let mut cur: Option<Node> = None;
        let words = split_words(&line.text);
        for w in words {
            if skipping > 0 {
                if w.is_open() {
                    skipping += 1;
                } else if w.is_close() {
                    skipping -= 1;
                }
                continue;
            }
            if w.is_open() {
                let owner = match cur.take() {
                    Some(n) => Some(n),
                    None if can_take_block => {
                        let level = match stack.last_mut() {
                            Some((_, children)) => children,
                            None => &mut top,
                        };
                        level.pop()
                    }
                    None => None,
                };
                can_take_block = false;
                let owner = match owner {
                    Some(n) => n,
                    None => {
                        diags.warn(line.pos, "Unexpected '{' - ignoring");
                        Node { pos: line.pos, keyword: String::new(), args: Vec::new(), block: None }
                    }
                };
                if stack.len() >= MAX_NESTING {
                    diags.error(line.pos, format!("blocks nest more than {MAX_NESTING} deep"));
                    skipping = 1;
                    continue;
                }
                stack.push((owner, Vec::new()));
                continue;
            }
            if w.is_close() {
                can_take_block = false;
                if let Some(n) = cur.take() {
                    push_level(&mut stack, &mut top, n);
                }
                match stack.pop() {
                    Some((mut owner, children)) => {
                        if owner.keyword.is_empty() {
                            // A stray '{' block: its statements belong to the
                            // enclosing level, as keepalived reads them.
                            for c in children {
                                push_level(&mut stack, &mut top, c);
                            }
                        } else {
                            owner.block = Some(children);
                            push_level(&mut stack, &mut top, owner);
                        }
                    }
                    None => diags.warn(line.pos, "Unknown keyword '}'"),
                }
                continue;
            }
            match cur.as_mut() {
                Some(n) => n.args.push(w.text),
                None => cur = Some(Node { pos: line.pos, keyword: w.text, args: Vec::new(), block: None }),
            }
        }
        if let Some(n) = cur.take() {
            push_level(&mut stack, &mut top, n);
            can_take_block = true;
        }
    }
    if !stack.is_empty() {
        let pos = stack.last().map(|(n, _)| n.pos).unwrap_or_default();
        diags.error(pos, format!("There are {} missing '}}'s or extra '{{'s", stack.len()));
        // Close what is open so that the rest can still be checked.
        while let Some((mut owner, children)) = stack.pop() {
            owner.block = Some(children);
            push_level(&mut stack, &mut top, owner);
        }
    }
    if skipping > 0 {
        // Already reported as excess nesting.
    }
    top
}

fn push_level(stack: &mut [(Node, Vec<Node>)], top: &mut Vec<Node>, n: Node) {
    match stack.last_mut() {
        Some((_, children)) => children.push(n),
        None => top.push(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &str) -> Vec<Line> {
        t.lines()
            .enumerate()
            .map(|(i, l)| Line { pos: Pos { file: 0, line: i as u32 + 1 }, text: l.to_string() })
            .collect()
    }

    #[test]
    fn nested_blocks() {
        let mut d = Diags::default();
        let t = build_tree(&lines("a 1 {\n b 2\n c {\n  d\n }\n}\ne"), &mut d);
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
        let t = build_tree(&lines("global_defs\n{\n router_id x }\nv { a { 1 2 } }"), &mut d);
        assert_eq!(t[0].children()[0].args, ["x"]);
        assert_eq!(t[1].children()[0].children()[0].keyword, "1");
        assert_eq!(t[1].children()[0].children()[0].args, ["2"]);
    }

    #[test]
    fn unbalanced() {
        let mut d = Diags::default();
        build_tree(&lines("a {\n b {\n"), &mut d);
        assert!(d.has_errors());
        let mut d = Diags::default();
        build_tree(&lines("}"), &mut d);
        assert!(!d.has_errors());
        assert_eq!(d.into_diagnostics(&[]).len(), 1);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut d = Diags::default();
        let text = "a {\n".repeat(100) + &"}\n".repeat(100);
        let t = build_tree(&lines(&text), &mut d);
        assert!(d.has_errors());
        assert_eq!(t.len(), 1);
    }
}
