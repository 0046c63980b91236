//! keepalived's process options for its children: `vrrp_priority` /
//! `checker_priority` / `bfd_priority` (nice), `vrrp_no_swap` /
//! `checker_no_swap` / `bfd_no_swap` (mlockall), `vrrp_rt_priority` /
//! `checker_rt_priority` / `bfd_rt_priority` (SCHED_RR). A
//! child applies its own at start and on each new config; a failure is
//! logged and the child runs on.

use crate::cli::Role;
use crate::config::model::GlobalDefs;

pub fn apply(role: Role, g: &GlobalDefs) {
    let (nice, no_swap, rt) = match role {
        Role::Vrrp => (g.vrrp_priority, g.vrrp_no_swap, g.vrrp_rt_priority),
        Role::Check => (g.checker_priority, g.checker_no_swap, g.checker_rt_priority),
        Role::Bfd => (g.bfd_priority, g.bfd_no_swap, g.bfd_rt_priority),
        Role::Parent => return,
    };
    if let Some(n) = nice {
        // nix 0.29 wraps neither setpriority nor sched_setscheduler.
        // SAFETY: setpriority(2) takes integers only; who = 0 is this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) } != 0 {
            log::warn!("{} child: setpriority({n}): {}", role.name(), std::io::Error::last_os_error());
        }
    }
    if no_swap {
        use nix::sys::mman::{MlockAllFlags, mlockall};
        if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
            log::warn!("{} child: mlockall: {}", role.name(), std::io::Error::from(e));
        }
    }
    if let Some(p) = rt {
        // musl's sched_param has more fields than glibc's: start from zero.
        // SAFETY: sched_param is plain integers (and, on musl, timespecs of
        // integers); all-zero is a valid value.
        let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
        param.sched_priority = p.clamp(1, 99) as i32;
        // SAFETY: &param points at a live, initialised sched_param that the
        // kernel only reads during the call; pid 0 is this thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) } != 0 {
            log::warn!("{} child: SCHED_RR {p}: {}", role.name(), std::io::Error::last_os_error());
        } else {
            log::info!("{} child: realtime scheduling, SCHED_RR priority {}", role.name(), param.sched_priority);
        }
    }
}
