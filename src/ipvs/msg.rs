//! Builders for every IPVS request: pure functions that write one message into a caller's
//! buffer and return its length. `family` is the id [`super::genl::parse_family`] resolved.
//!
//! Attribute order and encodings follow ipvsadm 1.31 (checked byte for byte against its
//! requests in `src/ipvs/tests.rs`). Two deliberate differences, both smaller requests
//! the kernel reads the same way: deletes and destination requests carry only the
//! service's identity (AF + fwmark, or AF + protocol + address + port), and deletes of a
//! destination or a daemon carry only what identifies them. ipvsadm sends its whole
//! service struct each time, including an empty scheduler name.
//!
//! Encodings worth knowing: ports are big-endian u16; service and destination addresses are
//! 16 bytes (`union nf_inet_addr`, IPv4 in the first 4); an IPv4 persistence netmask is the
//! mask's bytes in network order, an IPv6 one a host-order prefix length.

use std::net::IpAddr;

use crate::netlink::consts::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::netlink::types::AddrFamily;
use crate::netlink::wire::MsgWriter;

use super::consts::*;
use super::error::{IpvsError, Result};
use super::genl;
use super::types::{Destination, Service, ServiceFlags, SyncDaemon, Timeouts};

/// The request buffer every builder here fits in (the largest, a destination request with
/// an IPv6 service, is about 160 bytes).
pub const REQUEST_BUF_LEN: usize = 512;

const REQ: u16 = NLM_F_REQUEST | NLM_F_ACK;
const DUMP: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;

/// Add, change in place, or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Set,
    Del,
}

fn request(
    buf: &mut [u8],
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    body: impl FnOnce(&mut MsgWriter<'_>) -> Result<()>,
) -> Result<usize> {
    let mut w = genl::begin(buf, family, flags, seq, cmd, IPVS_GENL_VERSION)?;
    body(&mut w)?;
    Ok(w.finish()?.len())
}

fn attr_u16(w: &mut MsgWriter<'_>, kind: u16, v: u16) -> Result<()> {
    Ok(w.attr(kind, &v.to_ne_bytes())?)
}

fn attr_be16(w: &mut MsgWriter<'_>, kind: u16, v: u16) -> Result<()> {
    Ok(w.attr(kind, &v.to_be_bytes())?)
}

/// An address as `union nf_inet_addr`: always 16 bytes.
fn attr_inet_addr(w: &mut MsgWriter<'_>, kind: u16, ip: IpAddr) -> Result<()> {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    Ok(w.attr(kind, &b)?)
}

/// The nested IPVS_CMD_ATTR_SERVICE: identity always, settings when `full`.
fn put_service(w: &mut MsgWriter<'_>, svc: &Service, full: bool) -> Result<()> {
    let nest = w.begin_nested(IPVS_CMD_ATTR_SERVICE)?;
    attr_u16(w, IPVS_SVC_ATTR_AF, u16::from(svc.af.raw()))?;
    match (svc.fwmark, svc.addr) {
        (Some(mark), _) => w.attr_u32(IPVS_SVC_ATTR_FWMARK, mark)?,
        (None, Some(addr)) => {
            if AddrFamily::of(&addr) != svc.af {
                return Err(IpvsError::InvalidSpec(
                    "service address not of the service's family",
                ));
            }
            attr_u16(w, IPVS_SVC_ATTR_PROTOCOL, svc.protocol.into())?;
            attr_inet_addr(w, IPVS_SVC_ATTR_ADDR, addr)?;
            attr_be16(w, IPVS_SVC_ATTR_PORT, svc.port)?;
        }
        (None, None) => {
            return Err(IpvsError::InvalidSpec(
                "service needs an address or a fwmark",
            ));
        }
    }
    if full {
        if svc.scheduler.is_empty() {
            return Err(IpvsError::InvalidSpec("service needs a scheduler"));
        }
        w.attr_str(IPVS_SVC_ATTR_SCHED_NAME, &svc.scheduler)?;
        if !svc.pe_name.is_empty() {
            w.attr_str(IPVS_SVC_ATTR_PE_NAME, &svc.pe_name)?;
        }
        // The kernel sets HASHED itself when it files the service; a request carrying it
        // would make the kernel believe the new service is already in its table.
        let flags = svc.flags.without(ServiceFlags::HASHED).0;
        let mut f = [0u8; 8];
        f[..4].copy_from_slice(&flags.to_ne_bytes());
        f[4..].copy_from_slice(&u32::MAX.to_ne_bytes()); // mask: every bit is ours to set
        w.attr(IPVS_SVC_ATTR_FLAGS, &f)?;
        w.attr_u32(IPVS_SVC_ATTR_TIMEOUT, svc.timeout)?;
        let mask = match svc.af {
            AddrFamily::Inet => svc.netmask.to_be_bytes(),
            AddrFamily::Inet6 => svc.netmask.to_ne_bytes(),
        };
        w.attr(IPVS_SVC_ATTR_NETMASK, &mask)?;
    }
    Ok(w.end_nested(nest)?)
}

/// The nested IPVS_CMD_ATTR_DEST: identity always, settings when `full`.
fn put_dest(w: &mut MsgWriter<'_>, dest: &Destination, full: bool) -> Result<()> {
    let nest = w.begin_nested(IPVS_CMD_ATTR_DEST)?;
    attr_u16(
        w,
        IPVS_DEST_ATTR_ADDR_FAMILY,
        u16::from(AddrFamily::of(&dest.addr).raw()),
    )?;
    attr_inet_addr(w, IPVS_DEST_ATTR_ADDR, dest.addr)?;
    attr_be16(w, IPVS_DEST_ATTR_PORT, dest.port)?;
    if full {
        w.attr_u32(IPVS_DEST_ATTR_FWD_METHOD, dest.fwd_method.into())?;
        w.attr_u32(IPVS_DEST_ATTR_WEIGHT, dest.weight)?;
        w.attr(IPVS_DEST_ATTR_TUN_TYPE, &[dest.tun_type.into()])?;
        attr_be16(w, IPVS_DEST_ATTR_TUN_PORT, dest.tun_port)?;
        attr_u16(w, IPVS_DEST_ATTR_TUN_FLAGS, dest.tun_flags)?;
        w.attr_u32(IPVS_DEST_ATTR_U_THRESH, dest.u_threshold)?;
        w.attr_u32(IPVS_DEST_ATTR_L_THRESH, dest.l_threshold)?;
    }
    Ok(w.end_nested(nest)?)
}

/// NEW_SERVICE / SET_SERVICE / DEL_SERVICE.
pub fn build_service(
    buf: &mut [u8],
    family: u16,
    seq: u32,
    change: Change,
    svc: &Service,
) -> Result<usize> {
    let cmd = match change {
        Change::New => IPVS_CMD_NEW_SERVICE,
        Change::Set => IPVS_CMD_SET_SERVICE,
        Change::Del => IPVS_CMD_DEL_SERVICE,
    };
    request(buf, family, REQ, seq, cmd, |w| {
        put_service(w, svc, change != Change::Del)
    })
}

/// GET_SERVICE as a dump: every service.
pub fn build_dump_services(buf: &mut [u8], family: u16, seq: u32) -> Result<usize> {
    request(buf, family, DUMP, seq, IPVS_CMD_GET_SERVICE, |_| Ok(()))
}

/// NEW_DEST / SET_DEST / DEL_DEST of `dest` in `svc`.
pub fn build_dest(
    buf: &mut [u8],
    family: u16,
    seq: u32,
    change: Change,
    svc: &Service,
    dest: &Destination,
) -> Result<usize> {
    let cmd = match change {
        Change::New => IPVS_CMD_NEW_DEST,
        Change::Set => IPVS_CMD_SET_DEST,
        Change::Del => IPVS_CMD_DEL_DEST,
    };
    request(buf, family, REQ, seq, cmd, |w| {
        put_service(w, svc, false)?;
        put_dest(w, dest, change != Change::Del)
    })
}

/// GET_DEST as a dump: every destination of `svc`.
pub fn build_dump_dests(buf: &mut [u8], family: u16, seq: u32, svc: &Service) -> Result<usize> {
    request(buf, family, DUMP, seq, IPVS_CMD_GET_DEST, |w| {
        put_service(w, svc, false)
    })
}

/// FLUSH: removes every service and destination.
pub fn build_flush(buf: &mut [u8], family: u16, seq: u32) -> Result<usize> {
    request(buf, family, REQ, seq, IPVS_CMD_FLUSH, |_| Ok(()))
}

/// SET_CONFIG: the three timeouts (0 leaves one unchanged).
pub fn build_set_timeouts(buf: &mut [u8], family: u16, seq: u32, t: &Timeouts) -> Result<usize> {
    request(buf, family, REQ, seq, IPVS_CMD_SET_CONFIG, |w| {
        w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp)?;
        w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcp_fin)?;
        Ok(w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp)?)
    })
}

/// GET_CONFIG: answered with one SET_CONFIG message carrying the timeouts.
pub fn build_get_timeouts(buf: &mut [u8], family: u16, seq: u32) -> Result<usize> {
    request(buf, family, REQ, seq, IPVS_CMD_GET_CONFIG, |_| Ok(()))
}

/// NEW_DAEMON: starts a sync daemon.
pub fn build_start_daemon(buf: &mut [u8], family: u16, seq: u32, d: &SyncDaemon) -> Result<usize> {
    if d.mcast_ifn.is_empty() {
        return Err(IpvsError::InvalidSpec("sync daemon needs an interface"));
    }
    request(buf, family, REQ, seq, IPVS_CMD_NEW_DAEMON, |w| {
        let nest = w.begin_nested(IPVS_CMD_ATTR_DAEMON)?;
        w.attr_u32(IPVS_DAEMON_ATTR_STATE, d.state.into())?;
        w.attr_str(IPVS_DAEMON_ATTR_MCAST_IFN, &d.mcast_ifn)?;
        w.attr_u32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncid)?;
        if let Some(len) = d.sync_maxlen {
            attr_u16(w, IPVS_DAEMON_ATTR_SYNC_MAXLEN, len)?;
        }
        match d.mcast_group {
            Some(IpAddr::V4(a)) => w.attr(IPVS_DAEMON_ATTR_MCAST_GROUP, &a.octets())?,
            Some(IpAddr::V6(a)) => w.attr(IPVS_DAEMON_ATTR_MCAST_GROUP6, &a.octets())?,
            None => {}
        }
        if let Some(port) = d.mcast_port {
            attr_be16(w, IPVS_DAEMON_ATTR_MCAST_PORT, port)?;
        }
        if let Some(ttl) = d.mcast_ttl {
            w.attr(IPVS_DAEMON_ATTR_MCAST_TTL, &[ttl])?;
        }
        Ok(w.end_nested(nest)?)
    })
}

/// DEL_DAEMON: stops the daemon in `state`; the kernel needs nothing else.
pub fn build_stop_daemon(
    buf: &mut [u8],
    family: u16,
    seq: u32,
    state: super::types::DaemonState,
) -> Result<usize> {
    request(buf, family, REQ, seq, IPVS_CMD_DEL_DAEMON, |w| {
        let nest = w.begin_nested(IPVS_CMD_ATTR_DAEMON)?;
        w.attr_u32(IPVS_DAEMON_ATTR_STATE, state.into())?;
        Ok(w.end_nested(nest)?)
    })
}

/// GET_DAEMON as a dump: the running sync daemons (at most a master and a backup).
pub fn build_dump_daemons(buf: &mut [u8], family: u16, seq: u32) -> Result<usize> {
    request(buf, family, DUMP, seq, IPVS_CMD_GET_DAEMON, |_| Ok(()))
}
