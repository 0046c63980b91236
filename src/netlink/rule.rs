//! Policy-routing rules: RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE and the `fib_rule_hdr` parser.

use super::consts::*;
use super::error::{NetlinkError, Result};
use super::route::table_byte;
use super::types::{AddrFamily, IfName, IpPrefix, enum_with_unknown};
use super::wire::{MsgWriter, NlMsg, NoSpace, ParseError, split_header};

/// `struct fib_rule_hdr`: family, dst_len, src_len, tos, table, res1, res2, action, flags u32.
pub const FIB_RULE_HDR_LEN: usize = 12;

enum_with_unknown! {
    /// FR_ACT_*: what a matching rule does.
    pub enum RuleAction(u8) {
        Unspec = FR_ACT_UNSPEC,
        /// Look the destination up in `table`.
        ToTable = FR_ACT_TO_TBL,
        Goto = FR_ACT_GOTO,
        Nop = FR_ACT_NOP,
        Blackhole = FR_ACT_BLACKHOLE,
        Unreachable = FR_ACT_UNREACHABLE,
        Prohibit = FR_ACT_PROHIBIT,
    }
}

/// A rule: what `rule_add`/`rule_del` take and what `rules()` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: AddrFamily,
    /// Source prefix (`from`); `None` is `from all`.
    pub from: Option<IpPrefix>,
    /// Destination prefix (`to`).
    pub to: Option<IpPrefix>,
    /// Table for `ToTable`; 0 for none. Ids above 255 travel in FRA_TABLE only.
    pub table: u32,
    /// `priority`/`pref`; `None` lets the kernel choose on add and matches any on delete.
    pub priority: Option<u32>,
    pub iif: Option<IfName>,
    pub oif: Option<IfName>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub action: RuleAction,
    /// RTPROT_* recorded with the rule (FRA_PROTOCOL); 0 leaves it out.
    pub protocol: u8,
}

/// A rule as the kernel reports it; the same shape as a request.
pub type Rule = RuleSpec;

impl RuleSpec {
    /// `lookup table` for every packet of `family`; narrow it with the other fields.
    pub fn new(family: AddrFamily, table: u32) -> Self {
        Self {
            family,
            from: None,
            to: None,
            table,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            action: RuleAction::ToTable,
            protocol: 0,
        }
    }

    fn check(&self) -> Result<()> {
        let wrong = |p: &Option<IpPrefix>| p.is_some_and(|p| p.family() != self.family);
        if wrong(&self.from) || wrong(&self.to) {
            return Err(NetlinkError::InvalidSpec(
                "rule prefix family differs from the rule's",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    Add,
    Del,
}

/// RTM_NEWRULE (CREATE|EXCL: an identical rule is EEXIST) or RTM_DELRULE.
pub fn build(buf: &mut [u8], seq: u32, op: RuleOp, spec: &RuleSpec) -> Result<usize> {
    spec.check()?;
    let (ty, flags) = match op {
        RuleOp::Add => (
            RTM_NEWRULE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ),
        RuleOp::Del => (RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK),
    };
    let mut w = MsgWriter::new(buf, ty, flags, seq)?;
    let hdr = [
        spec.family.raw(),
        spec.to.map_or(0, |p| p.prefix_len()),
        spec.from.map_or(0, |p| p.prefix_len()),
        0, // tos
        table_byte(spec.table),
        0,
        0,
        u8::from(spec.action),
        0,
        0,
        0,
        0, // flags
    ];
    w.put(&hdr)?;
    if let Some(p) = spec.from.filter(|p| p.prefix_len() > 0) {
        w.attr_ip(FRA_SRC, p.addr())?;
    }
    if let Some(p) = spec.to.filter(|p| p.prefix_len() > 0) {
        w.attr_ip(FRA_DST, p.addr())?;
    }
    if let Some(p) = spec.priority {
        w.attr_u32(FRA_PRIORITY, p)?;
    }
    // As iproute2: ids that fit the header's table byte go there alone.
    if spec.table > 255 {
        w.attr_u32(FRA_TABLE, spec.table)?;
    }
    if let Some(i) = &spec.iif {
        w.attr_str(FRA_IIFNAME, i)?;
    }
    if let Some(o) = &spec.oif {
        w.attr_str(FRA_OIFNAME, o)?;
    }
    if let Some(m) = spec.fwmark {
        w.attr_u32(FRA_FWMARK, m)?;
    }
    if let Some(m) = spec.fwmask {
        w.attr_u32(FRA_FWMASK, m)?;
    }
    if spec.protocol != 0 {
        w.attr(FRA_PROTOCOL, &[spec.protocol])?;
    }
    Ok(w.finish()?.len())
}

/// RTM_GETRULE dump of one family.
pub fn build_dump(buf: &mut [u8], seq: u32, family: AddrFamily) -> Result<usize, NoSpace> {
    let mut w = MsgWriter::new(buf, RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    let mut hdr = [0u8; FIB_RULE_HDR_LEN];
    hdr[0] = family.raw();
    w.put(&hdr)?;
    Ok(w.finish()?.len())
}

/// Parses an RTM_NEWRULE / RTM_DELRULE message; `Ok(None)` for families other than IPv4/IPv6.
pub fn parse(msg: &NlMsg<'_>) -> Result<Option<Rule>, ParseError> {
    if msg.ty != RTM_NEWRULE && msg.ty != RTM_DELRULE {
        return Err(ParseError::UnexpectedType(msg.ty));
    }
    let (hdr, attrs) = split_header(msg.payload, FIB_RULE_HDR_LEN)?;
    let Some(family) = AddrFamily::from_raw(hdr[0]) else {
        return Ok(None);
    };
    let (dst_len, src_len) = (hdr[1], hdr[2]);
    let (mut src, mut dst) = (None, None);
    let mut rule = RuleSpec {
        table: u32::from(hdr[4]),
        action: RuleAction::from(hdr[7]),
        ..RuleSpec::new(family, 0)
    };
    for attr in attrs {
        let attr = attr?;
        match attr.kind {
            FRA_SRC => src = Some(attr.ip(family.raw())?),
            FRA_DST => dst = Some(attr.ip(family.raw())?),
            FRA_PRIORITY => rule.priority = Some(attr.u32()?),
            FRA_TABLE => rule.table = attr.u32()?,
            FRA_IIFNAME => rule.iif = Some(attr.str()?),
            FRA_OIFNAME => rule.oif = Some(attr.str()?),
            FRA_FWMARK => rule.fwmark = Some(attr.u32()?),
            FRA_FWMASK => rule.fwmask = Some(attr.u32()?),
            FRA_PROTOCOL => rule.protocol = attr.u8()?,
            _ => {}
        }
    }
    let prefix = |addr: Option<_>, len: u8, kind: u16| match addr {
        Some(a) => IpPrefix::new(a, len).map(Some).ok_or(ParseError::BadLength),
        None if len == 0 => Ok(None),
        None => Err(ParseError::MissingAttribute(kind)),
    };
    rule.from = prefix(src, src_len, FRA_SRC)?;
    rule.to = prefix(dst, dst_len, FRA_DST)?;
    Ok(Some(rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::Messages;

    fn prefix(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(s.parse().unwrap(), len).unwrap()
    }

    /// `ip rule add from 192.0.2.0/24 table 100 priority 1000`: byte for byte what
    /// iproute2 6.x sends (strace -x).
    #[test]
    #[cfg(target_endian = "little")]
    fn rule_golden() {
        let mut spec = RuleSpec::new(AddrFamily::Inet, 100);
        spec.from = Some(prefix("192.0.2.0", 24));
        spec.priority = Some(1000);
        let mut buf = [0xa5u8; 128];
        let n = build(&mut buf, 5, RuleOp::Add, &spec).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            // nlmsghdr: len 44, RTM_NEWRULE (32), REQUEST|ACK|EXCL|CREATE, seq 5
            44, 0, 0, 0,  32, 0,  0x05, 0x06,  5, 0, 0, 0,  0, 0, 0, 0,
            // fib_rule_hdr: AF_INET, dst_len 0, src_len 24, tos 0, table 100, res, res,
            // FR_ACT_TO_TBL, flags 0
            2, 0, 24, 0,  100, 0, 0, 1,  0, 0, 0, 0,
            // FRA_SRC 192.0.2.0
            8, 0, 2, 0,  192, 0, 2, 0,
            // FRA_PRIORITY 1000
            8, 0, 6, 0,  0xe8, 0x03, 0, 0,
        ];
        assert_eq!(&buf[..n], want);
    }

    #[test]
    fn round_trip_all_fields() {
        let spec = RuleSpec {
            family: AddrFamily::Inet6,
            from: Some(prefix("2001:db8::", 32)),
            to: Some(prefix("2001:db8:1::", 48)),
            table: 4242,
            priority: Some(7),
            iif: Some(IfName::try_from("eth0").unwrap()),
            oif: Some(IfName::try_from("eth1").unwrap()),
            fwmark: Some(0x10),
            fwmask: Some(0xff),
            action: RuleAction::ToTable,
            protocol: RTPROT_KEEPALIVED,
        };
        let mut buf = [0u8; 256];
        let n = build(&mut buf, 1, RuleOp::Add, &spec).unwrap();
        let m = Messages::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(m.payload[4], 0);
        assert_eq!(parse(&m), Ok(Some(spec)));
    }

    #[test]
    fn refuses_mixed_families_and_garbage() {
        let mut spec = RuleSpec::new(AddrFamily::Inet6, 100);
        spec.from = Some(prefix("192.0.2.0", 24));
        let mut buf = [0u8; 128];
        assert!(matches!(
            build(&mut buf, 1, RuleOp::Add, &spec),
            Err(NetlinkError::InvalidSpec(_))
        ));
        let base = NlMsg {
            ty: RTM_NEWRULE,
            flags: 0,
            seq: 0,
            pid: 0,
            payload: &[2, 0, 24],
        };
        assert_eq!(parse(&base), Err(ParseError::Truncated));
        let p = [2, 0, 24, 0, 100, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            }),
            Err(ParseError::MissingAttribute(FRA_SRC))
        );
        let p = [
            2, 0, 0, 0, 100, 0, 0, 1, 0, 0, 0, 0, 5, 0, 21, 0, 9, 0, 0, 0, 4, 0,
        ];
        // FRA_PROTOCOL parsed; then a dangling 2-byte tail
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            }),
            Err(ParseError::Truncated)
        );
    }
}
