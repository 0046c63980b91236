//! The children's capabilities, cut to what each role uses. The
//! parent and the script helpers keep the full set, so scripts
//! get what keepalived gives them.
//!
//! The bounding set is cut first (that needs CAP_SETPCAP, which goes next),
//! then the permitted and effective sets become the role's, the inheritable
//! set and the ambient set empty. The children are still uid 0: files they
//! write (pid, dump files) are root's, as before.

use crate::cli::Role;

pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_NICE: u32 = 23;

/// What the VRRP child keeps: addresses, routes, rules, nftables, macvlans
/// and the IPVS sync daemon (NET_ADMIN); its raw VRRP, ARP and NA sockets
/// and SO_BINDTODEVICE (NET_RAW); `vrrp_rt_priority` / `vrrp_priority`
/// (SYS_NICE) and `vrrp_no_swap` (IPC_LOCK) at each config.
pub const VRRP: &[(&str, u32)] = &[("net_admin", CAP_NET_ADMIN), ("net_raw", CAP_NET_RAW), ("sys_nice", CAP_SYS_NICE), ("ipc_lock", CAP_IPC_LOCK)];

/// What the checker child keeps: IPVS and SO_MARK (NET_ADMIN); ICMP
/// checks and `bindto` an interface (NET_RAW); a checker's `bind_port`
/// below 1024 (NET_BIND_SERVICE); `checker_rt_priority` and friends.
pub const CHECK: &[(&str, u32)] = &[
    ("net_admin", CAP_NET_ADMIN),
    ("net_raw", CAP_NET_RAW),
    ("net_bind_service", CAP_NET_BIND_SERVICE),
    ("sys_nice", CAP_SYS_NICE),
    ("ipc_lock", CAP_IPC_LOCK),
];

/// What the BFD child keeps: only `bfd_priority` / `bfd_rt_priority`
/// (SYS_NICE) and `bfd_no_swap` (IPC_LOCK), applied at each config as the
/// other children's. Its UDP ports (3784, 4784, and sources from 49152) are
/// unprivileged, and TTL 255 needs no capability.
pub const BFD: &[(&str, u32)] = &[("sys_nice", CAP_SYS_NICE), ("ipc_lock", CAP_IPC_LOCK)];

pub fn for_role(role: Role) -> &'static [(&'static str, u32)] {
    match role {
        Role::Vrrp => VRRP,
        Role::Bfd => BFD,
        _ => CHECK,
    }
}

/// The mask of `caps` (bit n for capability n).
pub fn mask(caps: &[(&str, u32)]) -> u64 {
    caps.iter().fold(0, |m, (_, c)| m | 1 << c)
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Cuts this process (every thread: call it before any thread exists, or
/// on each) to `keep`.
pub fn restrict(keep: u64) -> std::io::Result<()> {
    // Up to the kernel's last capability: PR_CAPBSET_DROP of a number past
    // it fails with EINVAL, which ends the loop.
    for cap in 0..64u32 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(e);
        }
    }
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let lo = keep as u32;
    let hi = (keep >> 32) as u32;
    let data = [CapData { effective: lo, permitted: lo, inheritable: 0 }, CapData { effective: hi, permitted: hi, inheritable: 0 }];
    // SAFETY: hdr and data are live, correctly laid out (version 3 takes
    // two CapData), and only read by the kernel during the call.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// This process's effective set, as /proc/self/status shows it.
pub fn effective() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
}

/// Names of the capabilities in `caps`, for the log line.
pub fn names(caps: &[(&str, u32)]) -> String {
    caps.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask(VRRP), (1 << 12) | (1 << 13) | (1 << 14) | (1 << 23));
        assert_eq!(mask(CHECK), mask(VRRP) | (1 << 10));
        // Neither child may change users, load modules, mount or reboot.
        for m in [mask(VRRP), mask(CHECK)] {
            for forbidden in [0u32 /* chown */, 1 /* dac_override */, 6 /* setgid */, 7 /* setuid */, 8 /* setpcap */, 16 /* sys_module */, 21 /* sys_admin */, 22 /* sys_boot */] {
                assert_eq!(m & (1 << forbidden), 0, "{forbidden}");
            }
        }
    }
}
