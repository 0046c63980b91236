//! Repetition lines: `~SEQ(var, [start,] [step,] end) REST`, `~SEQx(...)`
//! (the value in hexadecimal) and `~LST(var, v1, v2, ...)` /
//! `~LST({a, b}, {1, 2}, ...)`: REST is processed once per value with the
//! variables defined.

use super::diag::Pos;
use super::expand::{Expander, Next, valid_name};
use super::limits::MAX_LINES;

/// How many rounds of definition replacement the numbers of a `~SEQ` get
/// (a definition may name another).
const MAX_SEQ_SUBSTITUTIONS: usize = 32;

impl Expander<'_> {
    /// `~SEQ(var, [start,] [step,] end) REST`, `~SEQx(...)`, `~LST(var, v...)`
    /// and `~LST({a,b}, {1,2}, ...)`.
    pub(super) fn repetition(&mut self, t: &str, pos: Pos, include_depth: usize, depth: usize) {
        let (kind, after) = if let Some(r) = t.strip_prefix("~SEQx(") {
            ("SEQx", r)
        } else if let Some(r) = t.strip_prefix("~SEQ(") {
            ("SEQ", r)
        } else if let Some(r) = t.strip_prefix("~LST(") {
            ("LST", r)
        } else {
            self.diags.warn(pos, format!("Unknown sequence specifier in '{t}'"));
            return;
        };
        let Some(close) = find_close_paren(after) else {
            self.diags.warn(pos, format!("missing ')' in '{t}'"));
            return;
        };
        let spec = &after[..close];
        let rest = after[close + 1..].trim_start().to_string();
        let mut iterations: Vec<Vec<(String, String)>> = Vec::new();
        if kind == "LST" {
            let items = split_top_commas(spec);
            let Some((vars, values)) = items.split_first() else {
                self.diags.warn(pos, "~LST needs a variable");
                return;
            };
            let vars: Vec<String> = strip_braces(vars).split(',').map(|s| s.trim().to_string()).collect();
            if vars.iter().any(|v| !valid_name(v)) || values.is_empty() {
                self.diags.warn(pos, format!("invalid ~LST specification '{spec}'"));
                return;
            }
            for v in values {
                let vals: Vec<String> = strip_braces(v).split(',').map(|s| s.trim().to_string()).collect();
                if vals.len() != vars.len() {
                    self.diags.warn(pos, format!("~LST value '{v}' does not match the variables"));
                    return;
                }
                iterations.push(vars.iter().cloned().zip(vals).collect());
            }
        } else {
            // keepalived replaces definitions in the numbers (`$START`,
            // `${END}`), not in the variable's name.
            let (var_part, nums_part) = spec.split_once(',').unwrap_or((spec, ""));
            let mut nums_text = nums_part.to_string();
            for _ in 0..MAX_SEQ_SUBSTITUTIONS {
                match self.substitute_once(&nums_text) {
                    Ok(Some(t)) => nums_text = t,
                    Ok(None) => break,
                    Err(msg) => {
                        self.abort(pos, msg);
                        return;
                    }
                }
            }
            let spec_text = format!("{var_part},{nums_text}");
            let spec = if nums_part.is_empty() { spec } else { spec_text.as_str() };
            let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
            let var = parts.first().copied().unwrap_or("");
            let nums: Option<Vec<i64>> = parts.iter().skip(1).map(|s| parse_seq_num(s)).collect();
            let (Some(nums), true) = (nums, valid_name(var)) else {
                self.diags.warn(pos, format!("invalid ~{kind} specification '{spec}'"));
                return;
            };
            let (start, step, end) = match nums.as_slice() {
                [end] => (if *end < 0 { -1 } else { 1 }, if *end < 0 { -1 } else { 1 }, *end),
                [start, end] => (*start, if end >= start { 1 } else { -1 }, *end),
                [start, step, end] => (*start, *step, *end),
                _ => {
                    self.diags.warn(pos, format!("invalid ~{kind} specification '{spec}'"));
                    return;
                }
            };
            if step == 0 {
                self.diags.warn(pos, format!("~{kind} step cannot be 0"));
                return;
            }
            // Count first, so a huge range is refused before any work.
            let span = i128::from(end) - i128::from(start);
            let count = if (span >= 0) == (step > 0) || span == 0 { span / i128::from(step) + 1 } else { 0 };
            if count > MAX_LINES as i128 {
                self.abort(pos, format!("~{kind} repeats {count} times, more than the {MAX_LINES} allowed"));
                return;
            }
            let mut v = start;
            for _ in 0..count {
                if self.aborted {
                    return;
                }
                let text = if kind == "SEQx" { format!("{v:x}") } else { v.to_string() };
                self.define(pos, var.to_string(), vec![text]);
                if let Next::StartMultiline(name, first) = self.process_line(&rest, pos, include_depth, depth + 1) {
                    self.define(pos, name, first);
                }
                let Some(n) = v.checked_add(step) else { break };
                v = n;
            }
            return;
        }
        for assigns in iterations {
            if self.aborted {
                return;
            }
            for (k, v) in assigns {
                self.define(pos, k, vec![v]);
            }
            if let Next::StartMultiline(name, first) = self.process_line(&rest, pos, include_depth, depth + 1) {
                self.define(pos, name, first);
            }
        }
    }

}

fn find_close_paren(s: &str) -> Option<usize> {
    let mut level = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ')' if level <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_top_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut level = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '{' => {
                level += 1;
                cur.push(c)
            }
            '}' => {
                level -= 1;
                cur.push(c)
            }
            ',' if level <= 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn strip_braces(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(t)
}

fn parse_seq_num(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => body.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

