//! Parses an IPVS message (a kernel reply, or one of our own requests) back into the typed
//! model. Kernel replies are untrusted: every length is checked by `netlink::wire`, every
//! attribute's size here, and anything that does not fit is a [`ParseError`], never a panic.
//! Attributes this module does not know (statistics, newer kernels' additions) are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netlink::types::AddrFamily;
use crate::netlink::wire::{Attr, NlMsg, ParseError};

use super::consts::*;
use super::genl;
use super::types::*;

/// One IPVS message, whatever its command: the parts that were present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpvsMsg {
    pub cmd: u8,
    pub service: Option<Service>,
    pub dest: Option<(Destination, DestCounters)>,
    pub daemon: Option<SyncDaemon>,
    /// Top-level timeout attributes; absent ones are 0.
    pub timeouts: Timeouts,
}

fn u16_of(a: &Attr<'_>) -> Result<u16, ParseError> {
    match a.payload {
        [x, y] => Ok(u16::from_ne_bytes([*x, *y])),
        _ => Err(ParseError::BadAttribute(a.kind)),
    }
}

fn be16_of(a: &Attr<'_>) -> Result<u16, ParseError> {
    u16_of(a).map(u16::from_be)
}

fn family_of(a: &Attr<'_>) -> Result<AddrFamily, ParseError> {
    let raw = u16_of(a)?;
    u8::try_from(raw)
        .ok()
        .and_then(AddrFamily::from_raw)
        .ok_or(ParseError::BadFamily(raw.min(255) as u8))
}

/// `union nf_inet_addr` (16 bytes) or a bare IPv4 address (4 bytes).
fn inet_addr_of(a: &Attr<'_>, af: AddrFamily) -> Result<IpAddr, ParseError> {
    match (af, a.payload.len()) {
        (AddrFamily::Inet, 4 | 16) => {
            let mut o = [0u8; 4];
            o.copy_from_slice(a.payload.get(..4).ok_or(ParseError::BadAttribute(a.kind))?);
            Ok(IpAddr::V4(Ipv4Addr::from(o)))
        }
        (AddrFamily::Inet6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(a.payload);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(ParseError::BadAttribute(a.kind)),
    }
}

/// Parses any IPVS message. `dest_af` is the family to read a destination address in when
/// the message has neither IPVS_DEST_ATTR_ADDR_FAMILY nor a service (pre-3.18 kernels'
/// GET_DEST replies); `dests()` passes its service's family.
pub fn parse(msg: &NlMsg<'_>, dest_af: Option<AddrFamily>) -> Result<IpvsMsg, ParseError> {
    let (cmd, attrs) = genl::split(msg)?;
    let mut out = IpvsMsg {
        cmd,
        ..IpvsMsg::default()
    };
    let mut dest_attr = None;
    for a in attrs {
        let a = a?;
        match a.kind {
            IPVS_CMD_ATTR_SERVICE => out.service = Some(parse_service(&a)?),
            // Read after the loop: its family may come from the service.
            IPVS_CMD_ATTR_DEST => dest_attr = Some(a),
            IPVS_CMD_ATTR_DAEMON => out.daemon = Some(parse_daemon(&a)?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => out.timeouts.tcp = a.u32()?,
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => out.timeouts.tcp_fin = a.u32()?,
            IPVS_CMD_ATTR_TIMEOUT_UDP => out.timeouts.udp = a.u32()?,
            _ => {}
        }
    }
    if let Some(a) = dest_attr {
        let fallback = out.service.as_ref().map(|s| s.af).or(dest_af);
        out.dest = Some(parse_dest(&a, fallback)?);
    }
    Ok(out)
}

fn parse_service(nest: &Attr<'_>) -> Result<Service, ParseError> {
    let mut af = None;
    let mut protocol = None;
    let mut addr = None;
    let mut port = None;
    let mut fwmark = None;
    let mut scheduler = IpvsName::new();
    let mut pe_name = IpvsName::new();
    let mut flags = ServiceFlags::default();
    let mut timeout = 0;
    let mut netmask = None;
    for a in nest.nested() {
        let a = a?;
        match a.kind {
            IPVS_SVC_ATTR_AF => af = Some(family_of(&a)?),
            IPVS_SVC_ATTR_PROTOCOL => protocol = Some(Protocol::from(u16_of(&a)?)),
            IPVS_SVC_ATTR_ADDR => addr = Some(a),
            IPVS_SVC_ATTR_PORT => port = Some(be16_of(&a)?),
            IPVS_SVC_ATTR_FWMARK => fwmark = Some(a.u32()?),
            IPVS_SVC_ATTR_SCHED_NAME => scheduler = a.str()?,
            IPVS_SVC_ATTR_PE_NAME => pe_name = a.str()?,
            IPVS_SVC_ATTR_FLAGS => {
                // struct ip_vs_flags { flags, mask }: only the bits in the mask are meant.
                let f = a.payload.get(..4).ok_or(ParseError::BadAttribute(a.kind))?;
                let m = a
                    .payload
                    .get(4..8)
                    .ok_or(ParseError::BadAttribute(a.kind))?;
                if a.payload.len() != 8 {
                    return Err(ParseError::BadAttribute(a.kind));
                }
                let f = u32::from_ne_bytes([f[0], f[1], f[2], f[3]]);
                let m = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]);
                flags = ServiceFlags(f & m);
            }
            IPVS_SVC_ATTR_TIMEOUT => timeout = a.u32()?,
            IPVS_SVC_ATTR_NETMASK => netmask = Some(a),
            _ => {}
        }
    }
    let af = af.ok_or(ParseError::MissingAttribute(IPVS_SVC_ATTR_AF))?;
    let netmask = match netmask {
        None => Service::netmask_from_prefix(af, af.max_prefix_len()).unwrap_or(u32::MAX),
        Some(a) => {
            let v = a.u32()?;
            match af {
                // The kernel holds an IPv4 mask as __be32: its bytes are the mask's bytes.
                AddrFamily::Inet => u32::from_be(v),
                AddrFamily::Inet6 => v,
            }
        }
    };
    let (protocol, addr, port) = match fwmark {
        Some(_) => (protocol.unwrap_or(Protocol::Tcp), None, 0),
        None => {
            let a = addr.ok_or(ParseError::MissingAttribute(IPVS_SVC_ATTR_ADDR))?;
            (
                protocol.ok_or(ParseError::MissingAttribute(IPVS_SVC_ATTR_PROTOCOL))?,
                Some(inet_addr_of(&a, af)?),
                port.ok_or(ParseError::MissingAttribute(IPVS_SVC_ATTR_PORT))?,
            )
        }
    };
    Ok(Service {
        af,
        protocol,
        addr,
        port,
        fwmark,
        scheduler,
        flags,
        timeout,
        netmask,
        pe_name,
    })
}

fn parse_dest(
    nest: &Attr<'_>,
    fallback_af: Option<AddrFamily>,
) -> Result<(Destination, DestCounters), ParseError> {
    let mut af = None;
    let mut addr = None;
    let mut port = None;
    let mut d = Destination::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, FwdMethod::Masq);
    let mut c = DestCounters::default();
    for a in nest.nested() {
        let a = a?;
        match a.kind {
            IPVS_DEST_ATTR_ADDR_FAMILY => af = Some(family_of(&a)?),
            IPVS_DEST_ATTR_ADDR => addr = Some(a),
            IPVS_DEST_ATTR_PORT => port = Some(be16_of(&a)?),
            IPVS_DEST_ATTR_FWD_METHOD => {
                d.fwd_method = FwdMethod::from(a.u32()? & IP_VS_CONN_F_FWD_MASK)
            }
            IPVS_DEST_ATTR_WEIGHT => d.weight = a.u32()?,
            IPVS_DEST_ATTR_U_THRESH => d.u_threshold = a.u32()?,
            IPVS_DEST_ATTR_L_THRESH => d.l_threshold = a.u32()?,
            IPVS_DEST_ATTR_TUN_TYPE => d.tun_type = TunType::from(a.u8()?),
            IPVS_DEST_ATTR_TUN_PORT => d.tun_port = be16_of(&a)?,
            IPVS_DEST_ATTR_TUN_FLAGS => d.tun_flags = u16_of(&a)?,
            IPVS_DEST_ATTR_ACTIVE_CONNS => c.active_conns = a.u32()?,
            IPVS_DEST_ATTR_INACT_CONNS => c.inact_conns = a.u32()?,
            IPVS_DEST_ATTR_PERSIST_CONNS => c.persist_conns = a.u32()?,
            _ => {}
        }
    }
    let af = af
        .or(fallback_af)
        .ok_or(ParseError::MissingAttribute(IPVS_DEST_ATTR_ADDR_FAMILY))?;
    let a = addr.ok_or(ParseError::MissingAttribute(IPVS_DEST_ATTR_ADDR))?;
    d.addr = inet_addr_of(&a, af)?;
    d.port = port.ok_or(ParseError::MissingAttribute(IPVS_DEST_ATTR_PORT))?;
    Ok((d, c))
}

fn parse_daemon(nest: &Attr<'_>) -> Result<SyncDaemon, ParseError> {
    let mut state = None;
    let mut d = SyncDaemon {
        state: DaemonState::Master,
        mcast_ifn: IpvsName::new(),
        syncid: 0,
        sync_maxlen: None,
        mcast_group: None,
        mcast_port: None,
        mcast_ttl: None,
    };
    for a in nest.nested() {
        let a = a?;
        match a.kind {
            IPVS_DAEMON_ATTR_STATE => state = Some(DaemonState::from(a.u32()?)),
            IPVS_DAEMON_ATTR_MCAST_IFN => d.mcast_ifn = a.str()?,
            IPVS_DAEMON_ATTR_SYNC_ID => d.syncid = a.u32()?,
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => d.sync_maxlen = Some(u16_of(&a)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => d.mcast_group = Some(a.ip(libc::AF_INET as u8)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => d.mcast_group = Some(a.ip(libc::AF_INET6 as u8)?),
            IPVS_DAEMON_ATTR_MCAST_PORT => d.mcast_port = Some(be16_of(&a)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => d.mcast_ttl = Some(a.u8()?),
            _ => {}
        }
    }
    d.state = state.ok_or(ParseError::MissingAttribute(IPVS_DAEMON_ATTR_STATE))?;
    Ok(d)
}
