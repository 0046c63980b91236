//! Rule lines (`static_rules`, `virtual_rules`):
//! `[not] [from P] [to P] ACTION [priority N] [iif IF] [oif IF] [fwmark N[/M]] ...`.

use super::addr::{parse_prefix, u32_of, words};
use super::model::{Rule, RuleAction};
use super::tree::Node;
use super::values::{Ctx, parse_i64};

/// One `static_rules` / `virtual_rules` line. `next_pref` gives the
/// preference keepalived assigns (with a complaint) when none is set.
pub fn rule_line(ctx: &mut Ctx<'_>, n: &Node, next_pref: &mut u32) -> Option<Rule> {
    let w = words(n);
    let mut r = Rule::default();
    let mut i = 0;
    let mut bad = false;
    let mut action = false;
    while i < w.len() {
        let key = w[i];
        let val = w.get(i + 1).copied();
        let mut step = 2;
        if matches!(key, "table" | "lookup" | "goto" | "no_op" | "nop" | "blackhole" | "unreachable" | "prohibit") {
            action = true;
        }
        match key {
            "not" => {
                r.invert = true;
                step = 1
            }
            "from" | "to" => {
                let p = match val {
                    Some("all") => Some(None),
                    Some(v) => parse_prefix(v).map(Some),
                    None => None,
                };
                match p {
                    Some(p) => {
                        if key == "from" {
                            r.from = p
                        } else {
                            r.to = p
                        }
                    }
                    None => {
                        ctx.warn(n.pos, format!("VRRP parsed invalid IP {}. skipping IP...", val.unwrap_or("")));
                        ctx.warn(n.pos, format!("Invalid rule {} address {}", key, val.unwrap_or("")));
                        bad = true
                    }
                }
            }
            "table" | "lookup" => match val.and_then(|v| match v {
                "main" => Some(254),
                "local" => Some(255),
                "default" => Some(253),
                _ => u32_of(Some(v)),
            }) {
                Some(t) => {
                    r.action = RuleAction::Table;
                    r.table = Some(t)
                }
                None => {
                    ctx.warn(n.pos, format!("Invalid rule table {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "goto" => match u32_of(val) {
                Some(t) => {
                    r.action = RuleAction::Goto;
                    r.goto_target = Some(t)
                }
                None => {
                    // read_unsigned's complaint, then the rule's.
                    ctx.warn(n.pos, super::values::unsigned_complaint(val.unwrap_or(""), 0, i64::from(u32::MAX)));
                    ctx.warn(n.pos, "Invalid target goto specified");
                    bad = true
                }
            },
            "no_op" | "nop" => {
                r.action = RuleAction::Nop;
                step = 1
            }
            "blackhole" => {
                r.action = RuleAction::Blackhole;
                step = 1
            }
            "unreachable" => {
                r.action = RuleAction::Unreachable;
                step = 1
            }
            "prohibit" => {
                r.action = RuleAction::Prohibit;
                step = 1
            }
            // `pref` is iproute2's, not keepalived's ("Unknown rule option").
            "priority" | "preference" | "order" => match u32_of(val) {
                Some(p) => r.priority = Some(p),
                None => {
                    ctx.warn(n.pos, format!("Invalid rule preference {}", val.unwrap_or("")));
                    bad = true
                }
            },
            "iif" | "dev" => r.iif = val.map(String::from),
            "oif" => r.oif = val.map(String::from),
            "fwmark" => match val {
                Some(v) => {
                    let (m, mask) = match v.split_once('/') {
                        Some((m, k)) => (m, Some(k)),
                        None => (v, None),
                    };
                    r.fwmark = parse_u32_any(m);
                    r.fwmask = mask.and_then(parse_u32_any);
                    if r.fwmark.is_none() || (mask.is_some() && r.fwmask.is_none()) {
                        ctx.warn(n.pos, format!("Invalid rule fwmark {v}"));
                        bad = true;
                    }
                }
                None => bad = true,
            },
            "tos" | "dsfield" => r.tos = val.and_then(|v| u8::try_from(parse_u32_any(v)?).ok()),
            "realms" => r.realms = u32_of(val),
            "suppress_prefixlength" | "sup_pl" => r.suppress_prefixlength = val.and_then(parse_i64).map(|v| v as i32),
            "suppress_ifgroup" | "sup_group" => r.suppress_ifgroup = val.and_then(parse_i64).map(|v| v as i32),
            "uidrange" => {
                r.uidrange = val.and_then(|v| {
                    let (a, b) = v.split_once('-')?;
                    Some((u32_of(Some(a))?, u32_of(Some(b))?))
                });
                if r.uidrange.is_none() {
                    // keepalived names the keyword, not the value.
                    ctx.warn(n.pos, "Invalid uidrange uidrange specified");
                    bad = true;
                }
            }
            "l3mdev" => {
                r.l3mdev = true;
                step = 1
            }
            "protocol" => r.protocol = val.and_then(|v| u8::try_from(parse_i64(v)?).ok()),
            "ipproto" => r.ipproto = val.and_then(|v| match v {
                "tcp" => Some(6),
                "udp" => Some(17),
                "sctp" => Some(132),
                "icmp" => Some(1),
                _ => u8::try_from(parse_i64(v)?).ok(),
            }),
            "sport" | "dport" => {
                let range = val.and_then(|v| {
                    let (a, b) = v.split_once('-').unwrap_or((v, v));
                    Some((u16::try_from(parse_i64(a)?).ok()?, u16::try_from(parse_i64(b)?).ok()?))
                });
                if key == "sport" {
                    r.sport = range
                } else {
                    r.dport = range
                }
            }
            "no_track" => {
                r.no_track = true;
                step = 1
            }
            "track_group" => r.track_group = val.map(String::from),
            _ => {
                ctx.warn(n.pos, format!("Unknown rule option {key}"));
                bad = true;
                step = 1;
            }
        }
        if step == 2 && val.is_none() {
            ctx.warn(n.pos, format!("Missing value for rule option '{key}'"));
            bad = true;
        }
        i += step;
        // keepalived stops reading the line at its first error.
        if bad {
            break;
        }
    }
    if bad {
        return None;
    }
    if !action {
        ctx.warn(n.pos, "No action specified for rule - ignoring");
        return None;
    }
    if r.priority.is_none() {
        ctx.warn(
            n.pos,
            format!("Rule has no preference specified - setting to {}. This is probably not what you want.", next_pref),
        );
        r.priority = Some(*next_pref);
        *next_pref = next_pref.saturating_sub(1);
    }
    Some(r)
}

fn parse_u32_any(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

