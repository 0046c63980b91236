//! `bfd_instance` blocks, and the names `track_bfd` and `BFD_CHECK` may use, as keepalived
//! 2.2.7 reads them.
//!
//! keepalived reads the file once per process, each with its own handlers for a
//! `bfd_instance` block (bfd_parser.c): the BFD process reads the session settings, the VRRP
//! process only the name and `weight`, the checker process only the name; `vrrp` and
//! `checker` say which of the two hear of the instance (both when neither is named). `-t`
//! runs all three readings, so a problem can be reported by more than one of them (a
//! duplicate name by all three). And each reads in file order: a `track_bfd` or `BFD_CHECK`
//! can only name an instance defined above it.

use std::net::IpAddr;

use super::addr::parse_ip;
use super::model::{BfdInstance, Config, Microseconds, bfd_limits as lim};
use super::tree::Node;
use super::values::{Ctx, parse_bool, parse_i64, read_decimal_scaled, unsigned_complaint};

/// The keywords of a `bfd_instance` block (any of the three readings).
const BFD_KEYWORDS: &[&str] = &[
    "source_ip", "neighbor_ip", "neighbour_ip", "min_rx", "min_tx", "idle_tx", "multiplier", "passive", "ttl",
    "hoplimit", "max_hops", "multihop", "weight", "vrrp", "checker",
];

/// What the VRRP and checker processes know of the `bfd_instance` blocks read so far.
#[derive(Debug, Default, Clone)]
pub struct BfdNames {
    /// (name, default weight, reverse) of the VRRP process's tracked BFDs.
    pub vrrp: Vec<(String, i32, bool)>,
    /// The checker process's tracked BFDs.
    pub checker: Vec<String>,
    /// keepalived's messages say "neighbour" for the rest of the file once it saw the word
    /// (as a value: see `bfd_reading`).
    neighbour_spelling: bool,
}

impl BfdNames {
    pub fn vrrp_weight(&self, name: &str) -> Option<(i32, bool)> {
        self.vrrp.iter().find(|(n, _, _)| n == name).map(|(_, w, r)| (*w, *r))
    }
    pub fn checker_knows(&self, name: &str) -> bool {
        self.checker.iter().any(|n| n == name)
    }
    fn neighbor_str(&self) -> &'static str {
        if self.neighbour_spelling { "neighbour" } else { "neighbor" }
    }
}

/// A `bfd_instance NAME { ... }` block: the three readings, in keepalived's order of
/// complaints within each (the BFD process's model goes to `cfg.bfd_instances`).
pub fn bfd_instance(ctx: &mut Ctx<'_>, n: &Node, cfg: &mut Config) {
    let Some(name) = ctx.arg(n, 0).map(str::to_string) else { return };
    let kids = ctx.need_block(n);
    let flags = event_processes(kids);
    // The VRRP and checker readings see every line, whatever the BFD reading refuses.
    for k in kids.iter().filter(|k| !BFD_KEYWORDS.contains(&&*k.keyword)) {
        ctx.unknown(k);
    }
    vrrp_reading(ctx, n, &name, kids, flags);
    checker_reading(ctx, &name, flags);
    if let Some(b) = bfd_reading(ctx, n, &name, kids, flags, &cfg.bfd_instances) {
        cfg.bfd_instances.push(b);
    }
}

/// (vrrp, checker): which processes hear of the instance.
fn event_processes(kids: &[Node]) -> (bool, bool) {
    let vrrp = kids.iter().any(|k| k.keyword == "vrrp");
    let checker = kids.iter().any(|k| k.keyword == "checker");
    if vrrp || checker { (vrrp, checker) } else { (true, true) }
}

/// The VRRP process: alloc_vrrp_tracked_bfd, then `weight`.
fn vrrp_reading(ctx: &mut Ctx<'_>, n: &Node, name: &str, kids: &[Node], (to_vrrp, _): (bool, bool)) {
    if name.len() > lim::NAME_MAX {
        ctx.warn(n.pos, format!("BFD name {name} too long"));
        return;
    }
    if ctx.bfd.vrrp.iter().any(|(known, _, _)| known == name) {
        ctx.warn(n.pos, format!("BFD {name} already specified"));
        return;
    }
    let (mut weight, mut reverse) = (0, false);
    for k in kids.iter().filter(|k| k.keyword == "weight") {
        let Some(v) = k.arg(0) else {
            ctx.warn(k.pos, "weight requires a parameter");
            continue;
        };
        match parse_i64(v).filter(|w| (i64::from(lim::WEIGHT.0)..=i64::from(lim::WEIGHT.1)).contains(w)) {
            Some(w) => weight = w as i32,
            None => {
                // read_int_strvec's own complaint comes first (its ignore_error only keeps the value).
                if parse_i64(v).is_some() {
                    ctx.warn(k.pos, format!("number '{v}' outside range [{}, {}]", lim::WEIGHT.0, lim::WEIGHT.1));
                }
                ctx.warn(
                    k.pos,
                    format!(
                        "Configuration error: BFD instance {name} weight value {v} not valid (must be in range [{}-{}]), ignoring",
                        lim::WEIGHT.0,
                        lim::WEIGHT.1
                    ),
                )
            }
        }
        if let Some(o) = k.arg(1) {
            if o == "reverse" {
                reverse = true;
            } else {
                ctx.warn(k.pos, format!("Configuration error: BFD instance {name} unknown weight option {o}"));
            }
        }
    }
    if to_vrrp {
        ctx.bfd.vrrp.push((name.to_string(), weight, reverse));
    }
}

/// The checker process: bfd_checker_handler.
fn checker_reading(ctx: &mut Ctx<'_>, name: &str, (_, to_checker): (bool, bool)) {
    if ctx.bfd.checker.iter().any(|n| n == name) {
        // Reported with the VRRP process's identical line; one is enough at FILE:LINE.
        return;
    }
    if to_checker {
        ctx.bfd.checker.push(name.to_string());
    }
}

/// An interval keyword: milliseconds with up to 3 decimals, as microseconds.
fn interval(ctx: &mut Ctx<'_>, k: &Node, name: &str, (lo, hi): (u64, u64)) -> Option<Microseconds> {
    let v = k.arg(0)?;
    let r = read_decimal_scaled(v, 3, lo * 1000, hi * 1000);
    for c in &r.complaints {
        ctx.warn(k.pos, c.clone());
    }
    // Too many decimal places is a complaint, but the rounded value is taken.
    match r.value {
        Some(us) => Some(Microseconds(us)),
        None => {
            ctx.warn(
                k.pos,
                format!(
                    "Configuration error: BFD instance {name} {} value {v} is not valid (must be in range [{lo}-{hi}]), ignoring",
                    k.keyword
                ),
            );
            None
        }
    }
}

/// keepalived's read_unsigned_strvec / read_int_strvec without ignore_error: its own
/// complaint, then the caller's.
fn integer(ctx: &mut Ctx<'_>, k: &Node, lo: i64, hi: i64) -> Option<i64> {
    let v = k.arg(0)?;
    match parse_i64(v) {
        Some(x) if (lo..=hi).contains(&x) => Some(x),
        _ => {
            let c = if lo < 0 {
                match parse_i64(v) {
                    Some(_) => format!("number '{v}' outside range [{lo}, {hi}]"),
                    None => format!("invalid number '{v}'"),
                }
            } else {
                unsigned_complaint(v, lo, hi)
            };
            ctx.warn(k.pos, c);
            None
        }
    }
}

/// The BFD process: bfd_handler, the keyword handlers, bfd_end_handler.
fn bfd_reading(
    ctx: &mut Ctx<'_>,
    n: &Node,
    name: &str,
    kids: &[Node],
    (vrrp, checker): (bool, bool),
    done: &[BfdInstance],
) -> Option<BfdInstance> {
    if name.len() > lim::NAME_MAX {
        ctx.warn(
            n.pos,
            format!(
                "Configuration error: BFD instance {name} name too long (maximum length is {} characters) - ignoring",
                lim::NAME_MAX
            ),
        );
        return None;
    }
    if done.iter().any(|b| b.name == name) {
        ctx.warn(n.pos, format!("Configuration error: BFD instance {name} already configured - ignoring"));
        return None;
    }
    let ms = |v: u64| Microseconds(v * 1000);
    let mut neighbor: Option<IpAddr> = None;
    let mut source: Option<IpAddr> = None;
    let mut b = BfdInstance {
        name: name.to_string(),
        neighbor_ip: IpAddr::from([0, 0, 0, 0]),
        source_ip: None,
        min_rx: ms(lim::MIN_RX_MS.2),
        min_tx: ms(lim::MIN_TX_MS.2),
        idle_tx: ms(lim::IDLE_TX_MS.2),
        multiplier: lim::MULTIPLIER.2,
        passive: false,
        ttl: 0,
        max_hops: 0,
        multihop: false,
        weight: 0,
        weight_reverse: false,
        vrrp,
        checker,
    };
    for k in kids {
        ctx.no_block(k);
        match &*k.keyword {
            "neighbor_ip" | "neighbour_ip" => {
                let Some(v) = ctx.arg(k, 0) else { continue };
                // keepalived compares the value, not the keyword, with "neighbour_ip" (so its
                // messages say "neighbor" unless the address is that word).
                if v == "neighbour_ip" {
                    ctx.bfd.neighbour_spelling = true;
                }
                match parse_ip(v) {
                    Some(a) => neighbor = Some(a),
                    None => {
                        let word = ctx.bfd.neighbor_str();
                        ctx.warn(
                            k.pos,
                            format!("Configuration error: BFD instance {name} has malformed {word} address {v}, ignoring instance"),
                        );
                        return None;
                    }
                }
            }
            "source_ip" => {
                let Some(v) = ctx.arg(k, 0) else { continue };
                match parse_ip(v) {
                    Some(a) => source = Some(a),
                    None => ctx.warn(
                        k.pos,
                        format!("Configuration error: BFD instance {name} has malformed source address {v}, ignoring"),
                    ),
                }
            }
            "min_rx" | "min_tx" | "idle_tx" => {
                if ctx.arg(k, 0).is_none() {
                    continue;
                }
                let (lo, hi, _) = match &*k.keyword {
                    "min_rx" => lim::MIN_RX_MS,
                    "min_tx" => lim::MIN_TX_MS,
                    _ => lim::IDLE_TX_MS,
                };
                if let Some(v) = interval(ctx, k, name, (lo, hi)) {
                    match &*k.keyword {
                        "min_rx" => b.min_rx = v,
                        "min_tx" => b.min_tx = v,
                        _ => b.idle_tx = v,
                    }
                }
            }
            "multiplier" => {
                if ctx.arg(k, 0).is_none() {
                    continue;
                }
                let (lo, hi, _) = lim::MULTIPLIER;
                match integer(ctx, k, i64::from(lo), i64::from(hi)) {
                    Some(m) => b.multiplier = m as u8,
                    None => ctx.warn(
                        k.pos,
                        format!(
                            "Configuration error: BFD instance {name} multiplier value {} not valid (must be in range [{lo}-{hi}]), ignoring",
                            k.arg(0).unwrap_or("")
                        ),
                    ),
                }
            }
            "passive" => b.passive = true,
            "ttl" | "hoplimit" => {
                if ctx.arg(k, 0).is_none() {
                    continue;
                }
                match integer(ctx, k, 1, 255) {
                    Some(t) => b.ttl = t as u8,
                    None => ctx.warn(
                        k.pos,
                        format!(
                            "Configuration error: BFD instance {name} ttl/hoplimit value {} not valid (must be in range [1-255]), ignoring",
                            k.arg(0).unwrap_or("")
                        ),
                    ),
                }
            }
            "max_hops" => {
                if ctx.arg(k, 0).is_none() {
                    continue;
                }
                match integer(ctx, k, -1, 255) {
                    // keepalived keeps it in 8 bits: -1 is 255, "no check".
                    Some(h) => b.max_hops = h as u8,
                    None => ctx.warn(
                        k.pos,
                        format!(
                            "Configuration error: BFD instance {name} max_hops value {} not valid (must be in range [-1-255]), ignoring",
                            k.arg(0).unwrap_or("")
                        ),
                    ),
                }
            }
            "multihop" => match k.arg(0) {
                None => b.multihop = true,
                Some(v) => match parse_bool(v) {
                    Some(t) => b.multihop = t,
                    None => ctx.warn(k.pos, format!("Configuration error: BFD instance {name} multihop setting not valid - {v}")),
                },
            },
            // The VRRP process's keyword, the event targets (read above), and what none of the
            // three readings knows (reported once, by `bfd_instance`, for all of them).
            _ => {}
        }
    }
    let word = ctx.bfd.neighbor_str();
    let Some(nbr) = neighbor else {
        ctx.warn(n.pos, format!("Configuration error: BFD instance {name} has no {word} address set, disabling instance"));
        return None;
    };
    if let Some(src) = source
        && src.is_ipv4() != nbr.is_ipv4()
    {
        // keepalived formats both addresses into one static buffer, so the source's text
        // stands for the neighbour's too; these are its words.
        ctx.warn(
            n.pos,
            format!(
                "Configuration error: BFD instance {name} source address {src} and {word} address {src} are not of the same family, disabling instance"
            ),
        );
        return None;
    }
    // find_bfd_by_addr: the same neighbour, and the same source unless either has none (and,
    // since `multihop` came, the same kind of session).
    if done
        .iter()
        .any(|d| d.neighbor_ip == nbr && d.multihop == b.multihop && (source.is_none() || d.source_ip.is_none() || d.source_ip == source))
    {
        let msg = match source {
            Some(src) => format!(
                "Configuration error: BFD instance {name} has duplicate source/{word} address {src}/{nbr}, ignoring instance"
            ),
            None => format!("Configuration error: BFD instance {name} has duplicate {word} address {nbr}, ignoring instance"),
        };
        ctx.warn(n.pos, msg);
        return None;
    }
    if let Some((w, r)) = ctx.bfd.vrrp_weight(name) {
        (b.weight, b.weight_reverse) = (w, r);
    }
    b.neighbor_ip = nbr;
    b.source_ip = source;
    if b.ttl == 0 {
        b.ttl = if nbr.is_ipv4() { lim::TTL_V4 } else { lim::HOPLIMIT_V6 };
    }
    if b.max_hops > b.ttl {
        ctx.warn(n.pos, format!("BFD instance {name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit"));
        b.max_hops = b.ttl;
    }
    Some(b)
}
