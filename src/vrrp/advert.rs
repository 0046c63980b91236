//! The engine's view of an advert: what it needs to build ours and to judge
//! one received. A thin layer over the wire codec.

use super::fsm::{AdvertInterval, Centiseconds, Seconds};
use super::net::Received;
use crate::config::model::{AuthType, IpAddress, VrrpInstance};
use std::net::IpAddr;

/// Most addresses in one advert (keepalived's limit is what fits a frame).
pub const MAX_ADDRS: usize = 64;

/// Per-instance constants of our adverts.
pub struct AdvertCtx {
    pub vrid: u8,
    pub version: u8,
    pub interval: AdvertInterval,
    pub src: IpAddr,
    pub v6: bool,
    pub addrs: heapless::Vec<IpAddr, MAX_ADDRS>,
    pub pass: Option<[u8; 8]>,
}

/// A received advert that passed every check that does not depend on state.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub vrid: u8,
    pub priority: u8,
    pub src: IpAddr,
    pub interval: AdvertInterval,
    pub addresses_match: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    TooShort,
    BadIpHeader,
    BadTtl(u8),
    BadVersion(u8),
    BadType(u8),
    BadChecksum,
    BadLength,
    AuthMismatch,
    OtherVrid,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::TooShort => f.write_str("too short"),
            Reject::BadIpHeader => f.write_str("bad IP header"),
            Reject::BadTtl(t) => write!(f, "TTL/hop limit {t}, not 255"),
            Reject::BadVersion(v) => write!(f, "version {v} is not ours"),
            Reject::BadType(t) => write!(f, "type {t}"),
            Reject::BadChecksum => f.write_str("bad checksum"),
            Reject::BadLength => f.write_str("address count does not match the length"),
            Reject::AuthMismatch => f.write_str("authentication failed"),
            Reject::OtherVrid => f.write_str("other VRID"),
        }
    }
}

impl AdvertCtx {
    pub fn new(inst: &VrrpInstance, version: u8, interval: AdvertInterval, src: IpAddr, vips: &[IpAddress]) -> Result<Self, String> {
        let v6 = src.is_ipv6();
        let mut addrs = heapless::Vec::new();
        for a in vips {
            if a.addr.is_ipv6() != v6 {
                continue;
            }
            addrs.push(a.addr).map_err(|_| format!("more than {MAX_ADDRS} addresses in one advert"))?;
        }
        if v6 && version != 3 {
            return Err("IPv6 needs VRRP version 3".into());
        }
        let pass = match &inst.authentication {
            Some(a) if version == 2 => match a.auth_type {
                AuthType::Pass => {
                    let mut p = [0u8; 8];
                    for (d, s) in p.iter_mut().zip(a.auth_pass.as_bytes()) {
                        *d = *s;
                    }
                    Some(p)
                }
                AuthType::Ah => return Err("AH authentication is not supported yet".into()),
            },
            _ => None,
        };
        Ok(AdvertCtx { vrid: inst.virtual_router_id, version, interval, src, v6, addrs, pass })
    }
}

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + 112 + len as u32
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + (len as u32 >> 16) + (len as u32 & 0xffff) + 112
        }
        _ => 0,
    }
}

/// Builds our advert for `dst` into `buf`; returns its length.
pub fn encode(ctx: &AdvertCtx, priority: u8, dst: IpAddr, buf: &mut [u8]) -> Result<usize, &'static str> {
    let alen = if ctx.v6 { 16 } else { 4 };
    let len = 8 + ctx.addrs.len() * alen + if ctx.version == 2 { 8 } else { 0 };
    if buf.len() < len {
        return Err("buffer too small");
    }
    let b = &mut buf[..len];
    b[0] = (ctx.version << 4) | 1;
    b[1] = ctx.vrid;
    b[2] = priority;
    b[3] = ctx.addrs.len() as u8;
    match ctx.interval {
        AdvertInterval::V2(Seconds(s)) => {
            b[4] = if ctx.pass.is_some() { 1 } else { 0 };
            b[5] = s;
        }
        AdvertInterval::V3(cs) => b[4..6].copy_from_slice(&(cs.get() & 0x0fff).to_be_bytes()),
    }
    b[6] = 0;
    b[7] = 0;
    let mut off = 8;
    for a in &ctx.addrs {
        match a {
            IpAddr::V4(x) => b[off..off + 4].copy_from_slice(&x.octets()),
            IpAddr::V6(x) => b[off..off + 16].copy_from_slice(&x.octets()),
        }
        off += alen;
    }
    if ctx.version == 2 {
        b[off..off + 8].copy_from_slice(&ctx.pass.unwrap_or([0; 8]));
    }
    let acc = if ctx.version == 3 { pseudo(ctx.src, dst, len) } else { 0 };
    let c = fold(sum16(acc, b));
    b[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(len)
}

/// Parses and checks a received datagram (IPv4: with its IP header).
pub fn decode(pkt: &[u8], meta: &Received, ctx: &AdvertCtx) -> Result<Heard, Reject> {
    let (src, dst, msg) = if ctx.v6 {
        let hl = meta.hop_limit.unwrap_or(0);
        if hl != 255 {
            return Err(Reject::BadTtl(hl));
        }
        (meta.src, meta.dst.unwrap_or(meta.src), pkt)
    } else {
        if pkt.len() < 20 {
            return Err(Reject::TooShort);
        }
        let ihl = ((pkt[0] & 0x0f) as usize) * 4;
        if pkt[0] >> 4 != 4 || ihl < 20 || pkt.len() < ihl || pkt[9] != 112 {
            return Err(Reject::BadIpHeader);
        }
        if pkt[8] != 255 {
            return Err(Reject::BadTtl(pkt[8]));
        }
        let s = IpAddr::from([pkt[12], pkt[13], pkt[14], pkt[15]]);
        let d = IpAddr::from([pkt[16], pkt[17], pkt[18], pkt[19]]);
        (s, d, &pkt[ihl..])
    };
    if msg.len() < 8 {
        return Err(Reject::TooShort);
    }
    let version = msg[0] >> 4;
    if msg[0] & 0x0f != 1 {
        return Err(Reject::BadType(msg[0] & 0x0f));
    }
    if msg[1] != ctx.vrid {
        return Err(Reject::OtherVrid);
    }
    if version != ctx.version {
        return Err(Reject::BadVersion(version));
    }
    let count = msg[3] as usize;
    let alen = if ctx.v6 { 16 } else { 4 };
    let need = 8 + count * alen + if version == 2 { 8 } else { 0 };
    if msg.len() < need {
        return Err(Reject::BadLength);
    }
    let msg = &msg[..need];
    let acc = if version == 3 { pseudo(src, dst, need) } else { 0 };
    if fold(sum16(acc, msg)) != 0 {
        return Err(Reject::BadChecksum);
    }
    let interval = if version == 3 {
        AdvertInterval::V3(Centiseconds::from_wire(u16::from_be_bytes([msg[4], msg[5]])))
    } else {
        let auth_type = msg[4];
        let want = if ctx.pass.is_some() { 1 } else { 0 };
        if auth_type != want {
            return Err(Reject::AuthMismatch);
        }
        if let Some(p) = ctx.pass {
            if msg[need - 8..] != p {
                return Err(Reject::AuthMismatch);
            }
        }
        AdvertInterval::V2(Seconds(msg[5]))
    };
    let mut addresses_match = count == ctx.addrs.len();
    if addresses_match {
        for i in 0..count {
            let o = 8 + i * alen;
            let a = if ctx.v6 {
                let mut x = [0u8; 16];
                x.copy_from_slice(&msg[o..o + 16]);
                IpAddr::from(x)
            } else {
                IpAddr::from([msg[o], msg[o + 1], msg[o + 2], msg[o + 3]])
            };
            if !ctx.addrs.contains(&a) {
                addresses_match = false;
                break;
            }
        }
    }
    Ok(Heard { vrid: msg[1], priority: msg[2], src, interval, addresses_match })
}
