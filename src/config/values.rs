//! Scalar values as keepalived reads them: integers in a range, booleans,
//! decimal timers, scripts. Each reader reports keepalived's complaint and
//! returns None, so the keyword is ignored as keepalived ignores it.

use super::diag::{Diags, Pos};
use super::model::{Microseconds, RawOption, Script};
use super::tree::Node;

pub fn parse_i64(s: &str) -> Option<i64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.is_empty() || !t.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// keepalived's check_true_false: lower case only (`On` is refused).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// A decimal number of seconds (`2.71828`, `3`), no exponent, no sign.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let mut dots = 0;
    if t.is_empty() || t == "." {
        return None;
    }
    for b in t.bytes() {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if dots > 1 {
        return None;
    }
    t.parse().ok()
}

/// What keepalived's read_decimal_unsigned (6 decimal places, as for
/// `advert_int`) makes of a number of seconds: microseconds, exactly, or
/// the complaint it prints. More than 6 decimal places are reported and
/// rounded, but the value is still used.
pub struct DecimalMicros {
    pub value: Option<u64>,
    pub complaints: Vec<String>,
}

pub fn read_decimal_micros(s: &str, min: u64, max: u64) -> DecimalMicros {
    read_decimal_scaled(s, 6, min, max)
}

/// keepalived's read_decimal_unsigned with `places` decimal places: `s` times
/// 10^places (BFD's `min_rx` etc. are milliseconds with 3 places, so
/// microseconds), with the same complaints as [`read_decimal_micros`].
pub fn read_decimal_scaled(s: &str, places: usize, min: u64, max: u64) -> DecimalMicros {
    let unit = 10u64.pow(places as u32);
    let mut complaints = Vec::new();
    if s.starts_with('-') {
        complaints.push(format!("negative number '{s}'"));
        return DecimalMicros { value: None, complaints };
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut round_up = false;
    let frac = if frac.len() > places {
        complaints.push(format!("number '{s}' has too many decimal places"));
        round_up = frac.as_bytes()[places] >= b'5';
        // A cut inside a multi-byte character: not a number anyway.
        if !frac.is_char_boundary(places) {
            complaints.push(format!("invalid number '{s}'"));
            return DecimalMicros { value: None, complaints };
        }
        &frac[..places]
    } else {
        frac
    };
    let digits = format!("{int}{frac:0<places$}");
    // strtoull: an optional '+', then digits only.
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        complaints.push(format!("invalid number '{s}'"));
        // keepalived (ignore_error) still takes what strtoull read of the
        // padded digits ("x" is 0, "1x" is 1 µs) when it is in range.
        let lead: String = body.chars().take_while(char::is_ascii_digit).collect();
        let v = if lead.is_empty() { Some(0) } else { lead.parse::<u64>().ok() };
        let value = v.map(|v| v + u64::from(round_up)).filter(|v| (min..=max).contains(v));
        return DecimalMicros { value, complaints };
    }
    let Some(v) = body.parse::<u64>().ok().and_then(|v| v.checked_add(u64::from(round_up))) else {
        complaints.push(format!("number '{s}' outside unsigned decimal range"));
        return DecimalMicros { value: None, complaints };
    };
    if !(min..=max).contains(&v) {
        complaints.push(format!(
            "number '{s}' outside range [{}.{:0w$}, {}.{:0w$}]",
            min / unit,
            min % unit,
            max / unit,
            max % unit,
            w = places
        ));
        return DecimalMicros { value: None, complaints };
    }
    DecimalMicros { value: Some(v), complaints }
}

/// keepalived's read_unsigned complaint about a number outside [min, max].
pub fn unsigned_complaint(a: &str, min: i64, max: i64) -> String {
    if a.starts_with('-') {
        format!("negative number '{a}'")
    } else if parse_i64(a).is_some() {
        format!("number '{a}' outside range [{min}, {max}]")
    } else {
        format!("invalid number '{a}'")
    }
}

/// keepalived splits a script into argv at unquoted whitespace; single
/// quotes group words.
pub fn split_script(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut in_quote = false;
    for c in cmd.chars() {
        if in_quote {
            if c == '\'' {
                in_quote = false;
            } else {
                cur.push(c);
            }
        } else if c == '\'' {
            in_quote = true;
            in_word = true;
        } else if c.is_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Reading context for one section: diagnostics plus the helpers every
/// section uses.
pub struct Ctx<'d> {
    pub diags: &'d mut Diags,
    /// The file's last statement: keepalived says nothing of a missing
    /// `{` when the file ends there.
    pub last: Option<Pos>,
    /// The `bfd_instance` names read so far, as the VRRP and checker
    /// processes know them (`track_bfd` and `BFD_CHECK` look them up).
    pub bfd: super::build_bfd::BfdNames,
}

impl Ctx<'_> {
    pub fn warn(&mut self, pos: Pos, msg: impl Into<String>) {
        self.diags.warn(pos, msg);
    }

    pub fn unknown(&mut self, n: &Node) {
        self.diags.warn(n.pos, format!("Unknown keyword '{}'", n.keyword));
        if n.block.is_some() {
            self.diags.warn(n.pos, "Unexpected '{' - ignoring");
        }
    }

    /// A keyword that takes no block was given one.
    pub fn no_block(&mut self, n: &Node) {
        if n.block.is_some() {
            self.diags.warn(n.pos, "Unexpected '{' - ignoring");
        }
    }

    /// A keyword that needs a block was given none.
    pub fn need_block<'n, 't>(&mut self, n: &'n Node<'t>) -> &'n [Node<'t>] {
        if n.block.is_none() && self.last != Some(n.pos) {
            self.diags.warn(n.pos, format!("Missing '{{' at beginning of {} configuration block", n.keyword));
        }
        n.children()
    }

    /// The lines of a value block (`virtual_ipaddress { ... }` and the
    /// like): a `{` inside one is an error there, as in keepalived.
    /// A missing block is simply empty there.
    pub fn value_block<'n, 't>(&mut self, n: &'n Node<'t>) -> &'n [Node<'t>] {
        let lines = n.children();
        for l in lines {
            if l.block.is_some() {
                self.diags.warn(l.pos, format!("Unexpected '{{' in {} block", n.keyword));
            }
        }
        lines
    }

    pub fn arg<'n>(&mut self, n: &'n Node, i: usize) -> Option<&'n str> {
        let a = n.arg(i);
        if a.is_none() {
            self.diags.warn(n.pos, format!("{} requires a parameter", n.keyword));
        }
        a
    }

    pub fn string(&mut self, n: &Node) -> Option<String> {
        self.arg(n, 0).map(str::to_string)
    }

    pub fn int(&mut self, n: &Node, min: i64, max: i64) -> Option<i64> {
        let s = self.arg(n, 0)?;
        self.int_value(n, s, min, max)
    }

    pub fn int_value(&mut self, n: &Node, s: &str, min: i64, max: i64) -> Option<i64> {
        match parse_i64(s) {
            Some(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.diags.warn(
                    n.pos,
                    format!("{} '{}' is invalid - must be between {} and {}", n.keyword, s, min, max),
                );
                None
            }
        }
    }

    pub fn u32(&mut self, n: &Node, min: u32, max: u32) -> Option<u32> {
        self.int(n, i64::from(min), i64::from(max)).map(|v| v as u32)
    }

    /// `KEYWORD [BOOL]`: no argument means true.
    pub fn flag(&mut self, n: &Node) -> Option<bool> {
        match n.arg(0) {
            None => Some(true),
            Some(s) => match parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.diags.warn(n.pos, format!("Invalid value '{}' for {}", s, n.keyword));
                    None
                }
            },
        }
    }

    /// A <TIMER> in seconds with microsecond resolution, within [min, max] s.
    pub fn timer(&mut self, n: &Node, min: f64, max: f64) -> Option<Microseconds> {
        let s = self.arg(n, 0)?;
        match parse_decimal(s) {
            Some(v) if v >= min && v <= max => Microseconds::from_secs_f64(v),
            _ => {
                self.diags.warn(n.pos, format!("{} '{}' is invalid - must be between {} and {}", n.keyword, s, min, max));
                None
            }
        }
    }

    /// `KEYWORD "command args" [user [group]]`
    pub fn script(&mut self, n: &Node) -> Option<Script> {
        let cmd = self.arg(n, 0)?;
        let argv = split_script(cmd);
        if argv.is_empty() {
            self.diags.warn(n.pos, format!("{} has an empty command", n.keyword));
            return None;
        }
        let user = n.arg(1).map(str::to_string);
        let group = n.arg(2).map(str::to_string);
        // keepalived drops, without a word, a script whose user or group
        // does not exist.
        if user.as_deref().is_some_and(|u| !super::build_global::user_exists(u))
            || group.as_deref().is_some_and(|g| !super::build_global::group_exists(g))
        {
            return None;
        }
        Some(Script { argv, user, group })
    }

    /// A notify-style script keyword; keepalived keeps the first and
    /// complains about a second (`owner` names the instance/group).
    pub fn script_once<S: From<Script>>(&mut self, n: &Node, slot: &mut Option<S>, owner: &str) {
        if slot.is_some() {
            self.diags.warn(n.pos, format!("({owner}) {} script already specified - ignoring {}", n.keyword, n.args.join(" ")));
            return;
        }
        *slot = self.script(n).map(S::from);
    }

    pub fn raw(&mut self, n: &Node) -> RawOption {
        RawOption { keyword: n.keyword.to_string(), args: n.args.iter().map(|a| a.to_string()).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_i64("42"), Some(42));
        assert_eq!(parse_i64("-5"), Some(-5));
        assert_eq!(parse_i64("4x"), None);
        assert_eq!(parse_i64(""), None);
        assert_eq!(parse_i64("99999999999999999999999"), None);
        assert_eq!(parse_decimal("2.5"), Some(2.5));
        assert_eq!(parse_decimal("1.2.3"), None);
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal("1e3"), None);
    }

    #[test]
    fn decimal_micros() {
        let r = |s: &str| read_decimal_micros(s, 10_000, 255_000_000);
        assert_eq!(r("1").value, Some(1_000_000));
        assert_eq!(r("0.015").value, Some(15_000));
        assert_eq!(r("+2.5").value, Some(2_500_000));
        assert!(r("0.015").complaints.is_empty());
        let x = r("0.0150005");
        assert_eq!(x.value, Some(15_001));
        assert_eq!(x.complaints, ["number '0.0150005' has too many decimal places"]);
        assert_eq!(r("0.001").complaints, ["number '0.001' outside range [0.010000, 255.000000]"]);
        assert_eq!(r("0.001").value, None);
        assert_eq!(r("-1").complaints, ["negative number '-1'"]);
        assert_eq!(r("1x").complaints, ["invalid number '1x'"]);
        // strtoull's reading of "1x000000" is 1 µs: below the minimum.
        assert_eq!(r("1x").value, None);
        let g = read_decimal_micros("x", 0, 1_000_000);
        assert_eq!((g.value, g.complaints.len()), (Some(0), 1));
        assert_eq!(r("").value, None);
        // Multi-byte characters past the sixth place must not panic.
        assert_eq!(r("0.12345é").value, None);
        assert_eq!(r("1.ééééé").value, None);
        assert_eq!(r("99999999999999999999").value, None);
    }

    #[test]
    fn scripts() {
        assert_eq!(split_script("/bin/x  a 'b c'  d"), ["/bin/x", "a", "b c", "d"]);
        assert_eq!(split_script("  "), Vec::<String>::new());
    }
}

impl Ctx<'_> {
    /// Block keywords such as `global_defs` take no arguments; keepalived
    /// ignores any silently.
    pub fn no_args_ok(&mut self, _n: &Node) {}
}

/// What a keyword we keep unmodelled takes, so that keepalived's complaints
/// about its value are still made.
#[derive(Clone, Copy)]
pub enum ArgSpec {
    /// Anything (or nothing).
    Any,
    /// One word, required.
    Word,
    /// An integer in a range, required.
    Num(i64, i64),
    /// A decimal number of seconds, required.
    Secs,
    /// A decimal number of seconds in keepalived's microsecond timer range
    /// (0.000001 ..= 4294.967295), required.
    TimerSecs,
    /// An optional <BOOL>.
    OptBool,
    /// Exactly one word.
    One,
    /// One or more integers (CPU lists).
    NumList,
}

impl Ctx<'_> {
    /// Checks `n` against its spec and keeps it as a raw option.
    pub fn raw_checked(&mut self, n: &Node, spec: ArgSpec) -> Option<RawOption> {
        match spec {
            ArgSpec::Any => {}
            ArgSpec::Word => {
                self.arg(n, 0)?;
            }
            ArgSpec::Num(min, max) => {
                let a = self.arg(n, 0)?;
                match parse_i64(a) {
                    Some(v) if (min..=max).contains(&v) => {}
                    Some(_) => {
                        self.diags.warn(n.pos, format!("number '{a}' outside range [{min}, {max}]"));
                        return None;
                    }
                    None => {
                        self.diags.warn(n.pos, format!("invalid number '{a}'"));
                        return None;
                    }
                }
            }
            ArgSpec::One => {
                if n.args.len() != 1 {
                    self.diags.warn(n.pos, format!("{} missing or extra parameters", n.keyword));
                    return None;
                }
            }
            ArgSpec::NumList => {
                let bad = n.args.iter().find(|a| parse_i64(a).is_none_or(|v| v < 0));
                if n.args.is_empty() || bad.is_some() {
                    self.diags.warn(n.pos, format!("invalid number '{}'", bad.map(|a| &**a).unwrap_or("")));
                    return None;
                }
            }
            ArgSpec::OptBool => {
                if let Some(a) = n.arg(0)
                    && parse_bool(a).is_none() {
                        self.diags.warn(n.pos, format!("Invalid value '{a}' for global {} specified", n.keyword));
                        return None;
                    }
            }
            ArgSpec::TimerSecs => {
                let a = self.arg(n, 0)?;
                match parse_decimal(a) {
                    Some(v) if (0.000_001..=4_294.967_295).contains(&v) => {}
                    _ => {
                        self.diags.warn(n.pos, format!("{} {a} invalid - ignoring", n.keyword));
                        return None;
                    }
                }
            }
            ArgSpec::Secs => {
                let a = self.arg(n, 0)?;
                if parse_decimal(a).is_none() {
                    self.diags.warn(n.pos, format!("invalid number '{a}'"));
                    return None;
                }
            }
        }
        Some(self.raw(n))
    }
}
