//! Routes: RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE and the `rtmsg` parser.

use std::net::IpAddr;

use super::consts::*;
use super::error::{NetlinkError, Result};
use super::types::{AddrFamily, IpPrefix, enum_with_unknown};
use super::wire::{MsgWriter, NlMsg, NoSpace, ParseError, split_header};

/// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32.
pub const RTMSG_LEN: usize = 12;

enum_with_unknown! {
    /// rtm_type.
    pub enum RouteType(u8) {
        Unspec = RTN_UNSPEC,
        Unicast = RTN_UNICAST,
        Local = RTN_LOCAL,
        Broadcast = RTN_BROADCAST,
        Anycast = RTN_ANYCAST,
        Multicast = RTN_MULTICAST,
        Blackhole = RTN_BLACKHOLE,
        Unreachable = RTN_UNREACHABLE,
        Prohibit = RTN_PROHIBIT,
        Throw = RTN_THROW,
    }
}

/// A route: what `route_add`/`route_del` take and what `routes()` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination; `IpPrefix::default_route(family)` for a default route.
    pub dst: IpPrefix,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Preferred source address (RTA_PREFSRC, `ip route ... src`).
    pub prefsrc: Option<IpAddr>,
    /// RTA_PRIORITY (`metric`).
    pub metric: Option<u32>,
    /// Table id; RT_TABLE_MAIN by default. Ids above 255 travel in RTA_TABLE.
    pub table: u32,
    /// RT_SCOPE_*. `None` on a request picks what iproute2 picks: link scope for an IPv4
    /// unicast route without a gateway, universe otherwise; for a delete, any scope.
    /// Always `Some` in dump results.
    pub scope: Option<u8>,
    /// RTPROT_* (RTPROT_BOOT by default, as iproute2; keepalived uses RTPROT_KEEPALIVED).
    pub protocol: u8,
    pub kind: RouteType,
}

/// A route as the kernel reports it. Multipath next hops are not modelled: such a route
/// comes back with `gateway` and `oif` unset.
pub type Route = RouteSpec;

impl RouteSpec {
    /// A unicast route to `dst` in the main table; set `gateway`/`oif` and the rest as needed.
    pub fn new(dst: IpPrefix) -> Self {
        Self {
            dst,
            gateway: None,
            oif: None,
            prefsrc: None,
            metric: None,
            table: RT_TABLE_MAIN,
            scope: None,
            protocol: RTPROT_BOOT,
            kind: RouteType::Unicast,
        }
    }

    pub fn family(&self) -> AddrFamily {
        self.dst.family()
    }

    fn check(&self) -> Result<()> {
        let family = self.family();
        if self.gateway.is_some_and(|g| AddrFamily::of(&g) != family) {
            return Err(NetlinkError::InvalidSpec(
                "gateway family differs from the destination's",
            ));
        }
        if self.prefsrc.is_some_and(|s| AddrFamily::of(&s) != family) {
            return Err(NetlinkError::InvalidSpec(
                "source family differs from the destination's",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp {
    Add,
    Del,
}

/// rtm_table can only hold 0..=255; larger ids are sent as RT_TABLE_UNSPEC plus RTA_TABLE.
pub(crate) fn table_byte(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC as u8)
}

/// RTM_NEWROUTE (CREATE|EXCL: an existing route is EEXIST) or RTM_DELROUTE.
pub fn build(buf: &mut [u8], seq: u32, op: RouteOp, spec: &RouteSpec) -> Result<usize> {
    spec.check()?;
    let (ty, flags) = match op {
        RouteOp::Add => (
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ),
        RouteOp::Del => (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK),
    };
    let family = spec.family();
    let scope = spec.scope.unwrap_or(match op {
        RouteOp::Del => RT_SCOPE_NOWHERE,
        RouteOp::Add
            if family == AddrFamily::Inet
                && spec.kind == RouteType::Unicast
                && spec.gateway.is_none() =>
        {
            RT_SCOPE_LINK
        }
        RouteOp::Add => RT_SCOPE_UNIVERSE,
    });
    let mut w = MsgWriter::new(buf, ty, flags, seq)?;
    let hdr = [
        family.raw(),
        spec.dst.prefix_len(),
        0, // src_len
        0, // tos
        table_byte(spec.table),
        spec.protocol,
        scope,
        u8::from(spec.kind),
        0,
        0,
        0,
        0, // rtm_flags
    ];
    w.put(&hdr)?;
    if spec.dst.prefix_len() > 0 {
        w.attr_ip(RTA_DST, spec.dst.addr())?;
    }
    if let Some(g) = spec.gateway {
        w.attr_ip(RTA_GATEWAY, g)?;
    }
    if let Some(o) = spec.oif {
        w.attr_u32(RTA_OIF, o)?;
    }
    if let Some(s) = spec.prefsrc {
        w.attr_ip(RTA_PREFSRC, s)?;
    }
    if let Some(m) = spec.metric {
        w.attr_u32(RTA_PRIORITY, m)?;
    }
    // As iproute2: ids that fit rtm_table go there alone.
    if spec.table > 255 {
        w.attr_u32(RTA_TABLE, spec.table)?;
    }
    Ok(w.finish()?.len())
}

/// RTM_GETROUTE dump of one family (every table).
pub fn build_dump(buf: &mut [u8], seq: u32, family: AddrFamily) -> Result<usize, NoSpace> {
    let mut w = MsgWriter::new(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    let mut hdr = [0u8; RTMSG_LEN];
    hdr[0] = family.raw();
    w.put(&hdr)?;
    Ok(w.finish()?.len())
}

/// Parses an RTM_NEWROUTE / RTM_DELROUTE message; `Ok(None)` for families other than
/// IPv4/IPv6 (MPLS, multicast routing), which callers skip.
pub fn parse(msg: &NlMsg<'_>) -> Result<Option<Route>, ParseError> {
    if msg.ty != RTM_NEWROUTE && msg.ty != RTM_DELROUTE {
        return Err(ParseError::UnexpectedType(msg.ty));
    }
    let (hdr, attrs) = split_header(msg.payload, RTMSG_LEN)?;
    let Some(family) = AddrFamily::from_raw(hdr[0]) else {
        return Ok(None);
    };
    let dst_len = hdr[1];
    let mut dst = None;
    let mut route = RouteSpec {
        dst: IpPrefix::default_route(family),
        gateway: None,
        oif: None,
        prefsrc: None,
        metric: None,
        table: u32::from(hdr[4]),
        scope: Some(hdr[6]),
        protocol: hdr[5],
        kind: RouteType::from(hdr[7]),
    };
    for attr in attrs {
        let attr = attr?;
        match attr.kind {
            RTA_DST => dst = Some(attr.ip(family.raw())?),
            RTA_GATEWAY => route.gateway = Some(attr.ip(family.raw())?),
            RTA_OIF => route.oif = Some(attr.u32()?),
            RTA_PREFSRC => route.prefsrc = Some(attr.ip(family.raw())?),
            RTA_PRIORITY => route.metric = Some(attr.u32()?),
            RTA_TABLE => route.table = attr.u32()?,
            _ => {}
        }
    }
    let dst_addr = match dst {
        Some(a) => a,
        None if dst_len == 0 => family.unspecified(),
        None => return Err(ParseError::MissingAttribute(RTA_DST)),
    };
    route.dst = IpPrefix::new(dst_addr, dst_len).ok_or(ParseError::BadLength)?;
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::Messages;

    fn prefix(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(s.parse().unwrap(), len).unwrap()
    }

    /// `ip route add 198.51.100.0/24 dev lo`: byte for byte what iproute2 6.x sends
    /// (strace -x), with lo as ifindex 1.
    #[test]
    #[cfg(target_endian = "little")]
    fn route_via_dev_golden() {
        let mut spec = RouteSpec::new(prefix("198.51.100.0", 24));
        spec.oif = Some(1);
        let mut buf = [0xa5u8; 128];
        let n = build(&mut buf, 2, RouteOp::Add, &spec).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            // nlmsghdr: len 44, RTM_NEWROUTE (24), REQUEST|ACK|EXCL|CREATE, seq 2
            44, 0, 0, 0,  24, 0,  0x05, 0x06,  2, 0, 0, 0,  0, 0, 0, 0,
            // rtmsg: AF_INET, /24, src 0, tos 0, main, boot, scope link, unicast, flags 0
            2, 24, 0, 0,  254, 3, 253, 1,  0, 0, 0, 0,
            // RTA_DST 198.51.100.0
            8, 0, 1, 0,  198, 51, 100, 0,
            // RTA_OIF 1
            8, 0, 4, 0,  1, 0, 0, 0,
        ];
        assert_eq!(&buf[..n], want);
    }

    #[test]
    fn big_table_and_default_route() {
        let mut spec = RouteSpec::new(IpPrefix::default_route(AddrFamily::Inet6));
        spec.table = 1000;
        spec.gateway = Some("2001:db8::ff".parse().unwrap());
        spec.metric = Some(10);
        let mut buf = [0u8; 128];
        let n = build(&mut buf, 1, RouteOp::Add, &spec).unwrap();
        let m = Messages::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(
            m.payload[4], 0,
            "rtm_table is RT_TABLE_UNSPEC for ids above 255"
        );
        assert_eq!(m.payload[6], RT_SCOPE_UNIVERSE);
        let parsed = parse(&m).unwrap().unwrap();
        assert_eq!(
            parsed,
            RouteSpec {
                scope: Some(RT_SCOPE_UNIVERSE),
                ..spec
            }
        );
    }

    #[test]
    fn blackhole_and_delete_scope() {
        let mut spec = RouteSpec::new(prefix("203.0.113.0", 24));
        spec.kind = RouteType::Blackhole;
        let mut buf = [0u8; 128];
        let n = build(&mut buf, 1, RouteOp::Add, &spec).unwrap();
        assert_eq!(buf[16 + 6], RT_SCOPE_UNIVERSE);
        assert_eq!(buf[16 + 7], RTN_BLACKHOLE);
        let m = Messages::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(parse(&m).unwrap().unwrap().kind, RouteType::Blackhole);
        build(&mut buf, 1, RouteOp::Del, &spec).unwrap();
        assert_eq!(buf[4], RTM_DELROUTE as u8);
        assert_eq!(buf[16 + 6], RT_SCOPE_NOWHERE);
    }

    #[test]
    fn mixed_families_refused() {
        let mut spec = RouteSpec::new(prefix("198.51.100.0", 24));
        spec.gateway = Some("2001:db8::1".parse().unwrap());
        let mut buf = [0u8; 128];
        assert!(matches!(
            build(&mut buf, 1, RouteOp::Add, &spec),
            Err(NetlinkError::InvalidSpec(_))
        ));
    }

    #[test]
    fn garbled_routes() {
        let base = NlMsg {
            ty: RTM_NEWROUTE,
            flags: 0,
            seq: 0,
            pid: 0,
            payload: &[],
        };
        assert_eq!(parse(&base), Err(ParseError::Truncated));
        // dst_len 24 without RTA_DST
        let p = [2, 24, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            }),
            Err(ParseError::MissingAttribute(RTA_DST))
        );
        // dst_len 40 on IPv4
        let p = [
            2, 40, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0, 8, 0, 1, 0, 1, 2, 3, 4,
        ];
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            }),
            Err(ParseError::BadLength)
        );
        // an unknown route type is kept, not rejected
        let p = [2, 0, 0, 0, 254, 3, 0, 77, 0, 0, 0, 0];
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            })
            .unwrap()
            .unwrap()
            .kind,
            RouteType::Unknown(77)
        );
        // MPLS: skipped
        let p = [28, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            parse(&NlMsg {
                payload: &p,
                ..base
            }),
            Ok(None)
        );
    }
}
