//! A classic BPF filter on an instance's receive socket that drops, in the
//! kernel, the adverts of its sibling instances: the other VRIDs this
//! configuration runs on the same interface, family and protocol. Every
//! raw socket sees every advert on its link, so without it N instances on a
//! link read N x N datagrams a second, N - 1 of every N only to drop them as
//! another VRID (keepalived avoids this with one socket per link and a
//! lookup by VRID). Datagrams of VRIDs we do not run, and anything too short
//! to carry a VRID, still reach every instance, to be counted by reason.
//!
//! The VRID is found as `advert::peek_vrid` finds it: IPv4 datagrams start
//! with their IP header (IHL words, then with AH keepalived's 24-byte AH
//! header), IPv6 ones with the VRRP header.

/// `struct sock_filter` instructions (classic BPF).
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const LD_B_IND: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_IND) as u16;
const LD_W_LEN: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_LEN) as u16;
const LDX_B_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const LDX_MEM: u16 = (libc::BPF_LDX | libc::BPF_W | libc::BPF_MEM) as u16;
const ST: u16 = libc::BPF_ST as u16;
const TXA: u16 = (libc::BPF_MISC | libc::BPF_TXA) as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const ADD_K: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JGE_X: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_X) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// keepalived's AH header (RFC 4302 with a 96-bit ICV), as `wire::ah`.
const AH_LEN: u32 = crate::vrrp::wire::ah::HEADER_LEN as u32;
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The program: drop a datagram whose VRID is one of `siblings`, accept the
/// rest. None when there is nothing to drop.
pub fn program(v6: bool, siblings: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let mut vrids: Vec<u8> = siblings.to_vec();
    vrids.sort_unstable();
    vrids.dedup();
    if vrids.is_empty() {
        return None;
    }
    let mut p = Vec::with_capacity(vrids.len() + 16);
    if v6 {
        // The VRRP header first: the VRID is byte 1.
        p.push(op(LD_W_LEN, 0, 0, 0));
        p.push(op(JGE_K, 1, 0, 2));
        p.push(op(RET_K, 0, 0, ACCEPT));
        p.push(op(LD_B_ABS, 0, 0, 1));
    } else {
        p.push(op(LDX_B_MSH, 0, 0, 0)); // X = IHL * 4
        p.push(op(LD_B_ABS, 0, 0, 9)); // A = protocol
        p.push(op(JEQ_K, 0, 3, u32::from(crate::vrrp::wire::IPPROTO_AH)));
        p.push(op(TXA, 0, 0, 0)); // AH: the VRRP header follows it
        p.push(op(ADD_K, 0, 0, AH_LEN));
        p.push(op(TAX, 0, 0, 0));
        p.push(op(TXA, 0, 0, 0)); // A = where the VRRP header starts
        p.push(op(ST, 0, 0, 0));
        p.push(op(ADD_K, 0, 0, 2));
        p.push(op(TAX, 0, 0, 0)); // X = what a VRID needs
        p.push(op(LD_W_LEN, 0, 0, 0));
        p.push(op(JGE_X, 1, 0, 0));
        p.push(op(RET_K, 0, 0, ACCEPT)); // too short: counted by the instance
        p.push(op(LDX_MEM, 0, 0, 0));
        p.push(op(LD_B_IND, 0, 0, 1)); // A = VRID
    }
    let n = vrids.len();
    for (j, v) in vrids.iter().enumerate() {
        // To DROP: past the remaining comparisons and ACCEPT (at most 255).
        let to_drop = u8::try_from(n - j).ok()?;
        p.push(op(JEQ_K, to_drop, 0, u32::from(*v)));
    }
    p.push(op(RET_K, 0, 0, ACCEPT));
    p.push(op(RET_K, 0, 0, DROP));
    Some(p)
}

/// The sibling VRIDs of `inst` in `config`: the other instances received on
/// the same interface, in the same family, with the same protocol (AH or
/// VRRP), and another VRID.
pub fn siblings(config: &crate::config::Config, inst: &crate::config::model::VrrpInstance) -> Vec<u8> {
    let key = |i: &crate::config::model::VrrpInstance| {
        let v6 = i.virtual_ipaddress.first().map(|a| a.addr.is_ipv6()).unwrap_or(false);
        // As Instance::setup: AH only in v2.
        let v2 = i.version.unwrap_or(config.global.vrrp_version) == 2;
        let ah = v2 && i.authentication.as_ref().is_some_and(|a| a.auth_type == crate::config::model::AuthType::Ah);
        (i.interface.clone(), v6, ah)
    };
    let mine = key(inst);
    config
        .vrrp_instances
        .iter()
        .filter(|i| i.virtual_router_id != inst.virtual_router_id && key(i) == mine)
        .map(|i| i.virtual_router_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter of the instructions `program` emits, to run it on
    /// datagrams here (the kernel runs it in the namespace tests).
    fn run(p: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut m0, mut pc) = (0u32, 0u32, 0u32, 0usize);
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                LD_W_LEN => a = pkt.len() as u32,
                LD_B_ABS => match pkt.get(i.k as usize) {
                    Some(b) => a = u32::from(*b),
                    None => return 0,
                },
                LD_B_IND => match pkt.get((x + i.k) as usize) {
                    Some(b) => a = u32::from(*b),
                    None => return 0,
                },
                LDX_B_MSH => x = u32::from(pkt[i.k as usize] & 0x0f) * 4,
                LDX_MEM => x = m0,
                ST => m0 = a,
                TXA => a = x,
                TAX => x = a,
                ADD_K => a = a.wrapping_add(i.k),
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JGE_K => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
                JGE_X => pc += usize::from(if a >= x { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("unexpected op {c:#x}"),
            }
        }
    }

    fn v4(proto: u8, vrid: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[9] = proto;
        let off = if proto == 51 { 20 + AH_LEN as usize } else { 20 };
        if let Some(b) = p.get_mut(off + 1) {
            *b = vrid;
        }
        p
    }

    #[test]
    fn drops_sibling_vrids_only() {
        let p = program(false, &[7, 9, 7]).unwrap();
        assert_eq!(run(&p, &v4(112, 7, 40)), DROP);
        assert_eq!(run(&p, &v4(112, 9, 40)), DROP);
        assert_eq!(run(&p, &v4(112, 8, 40)), ACCEPT, "ours or a stranger's: accepted");
        assert_eq!(run(&p, &v4(51, 9, 80)), DROP, "behind an AH header");
        assert_eq!(run(&p, &v4(51, 8, 80)), ACCEPT);
        // Too short to carry a VRID: accepted, to be counted as truncated.
        assert_eq!(run(&p, &v4(112, 7, 21)), ACCEPT);
        assert_eq!(run(&p, &v4(51, 7, 45)), ACCEPT);
        // An IP header with options moves the VRRP header.
        let mut opt = vec![0u8; 60];
        opt[0] = 0x46;
        opt[9] = 112;
        opt[25] = 9;
        assert_eq!(run(&p, &opt), DROP);
        let p6 = program(true, &[3]).unwrap();
        assert_eq!(run(&p6, &[0x31, 3, 100, 1]), DROP);
        assert_eq!(run(&p6, &[0x31, 4, 100, 1]), ACCEPT);
        assert_eq!(run(&p6, &[0x31]), ACCEPT);
        assert!(program(false, &[]).is_none());
    }

    #[test]
    fn every_vrid_but_ours_fits_the_jumps() {
        let all: Vec<u8> = (1..=255).filter(|&v| v != 100).collect();
        let p = program(false, &all).unwrap();
        for v in 1..=255u8 {
            assert_eq!(run(&p, &v4(112, v, 40)), if v == 100 { ACCEPT } else { DROP }, "vrid {v}");
        }
    }
}
