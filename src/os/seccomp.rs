//! The children's seccomp filters: each role may make only the system calls
//! it was seen to make.
//!
//! The filter is a classic BPF program written here, not a crate's: it is
//! one linear list, short enough to read in full.
//!
//! - The architecture must be x86_64; anything else (a 32-bit or x32 entry
//!   into the kernel) kills the process, so the numbers below mean what
//!   they say.
//! - `clone` is allowed only with CLONE_THREAD (a thread: async-io's and
//!   the sync-daemon helper); `clone3`, whose flags BPF cannot read, fails
//!   with ENOSYS, so the C library falls back to `clone`. There is no
//!   fork, vfork or execve: scripts run from the script helper, forked
//!   before the filter (`script::helper`).
//! - Any other call not listed kills the whole process (SIGSYS); the parent
//!   restarts it as it restarts any crashed child.
//!
//! The lists cover what both C libraries we ship with make: glibc (the
//! debug build the host tests run) and musl (the static release build in
//! the image), which differ (musl opens with `open`, stats with `stat` and
//! `lstat`, makes FIFOs with `mknod`). They were found with `strace -f` of
//! the namespace suites (glibc) and of the musl binary through every path
//! (reload, dumps, status, ctl, scripts, checks, FIFOs), counting what each
//! child called after its filter went on; `RARE` adds what known paths
//! need that no test reached. `VIGIL_SECCOMP=log` logs unlisted calls
//! (kernel log, `type=1326`) instead of killing, for checking a new path.

use crate::cli::Role;

/// What a filter does with a call it does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No filter (`--no-seccomp`, `VIGIL_SECCOMP=off`).
    Off,
    /// Allow, but log to the kernel log (`VIGIL_SECCOMP=log`): for finding
    /// what a new code path calls.
    Log,
    /// Kill the process (the default).
    Kill,
}

impl Mode {
    /// The mode asked for by `--no-seccomp` and `VIGIL_SECCOMP`.
    pub fn from_env(no_seccomp: bool) -> Mode {
        if no_seccomp {
            return Mode::Off;
        }
        match std::env::var("VIGIL_SECCOMP").as_deref() {
            Ok("off") | Ok("0") | Ok("no") => Mode::Off,
            Ok("log") => Mode::Log,
            _ => Mode::Kill,
        }
    }
}

// From <linux/audit.h>, <linux/seccomp.h> and <linux/filter.h>.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_uint = 1;

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_JMP: u16 = 0x05;
const BPF_JEQ: u16 = 0x10;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// The low 32 bits of args[0] (little-endian).
const OFF_ARG0_LO: u32 = 16;

const CLONE_THREAD: u32 = libc::CLONE_THREAD as u32;

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const fn stmt(code: u16, k: u32) -> Insn {
    Insn { code, jt: 0, jf: 0, k }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

macro_rules! syscalls {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name as u32)),*]
    };
}

/// Calls both children were seen to make once filtered, in the test
/// suites (glibc) and a musl run of every path (reload, dumps, status,
/// ctl, scripts, checks, FIFOs): the reactor, the channel, sockets and
/// netlink, the log, dump and pid files, FIFOs. The busiest first: the
/// list is searched in order.
const SEEN: &[(&str, u32)] = syscalls![
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_read,
    SYS_recvmsg,
    SYS_recvfrom,
    SYS_sendto,
    SYS_write,
    SYS_close,
    SYS_openat,
    SYS_open,
    SYS_statx,
    SYS_newfstatat,
    SYS_fstat,
    SYS_stat,
    SYS_lstat,
    SYS_setsockopt,
    SYS_getsockopt,
    SYS_socket,
    SYS_bind,
    SYS_connect,
    SYS_getsockname,
    SYS_ioctl,
    SYS_fcntl,
    SYS_poll,
    SYS_futex,
    SYS_mmap,
    SYS_munmap,
    SYS_mprotect,
    SYS_readlink,
    SYS_readlinkat,
    SYS_lseek,
    SYS_getpid,
    SYS_gettid,
    SYS_geteuid,
    SYS_getegid,
    SYS_uname,
    SYS_prctl,
    SYS_rt_sigprocmask,
    SYS_sigaltstack,
    SYS_sched_getaffinity,
    SYS_set_robust_list,
    SYS_rseq,
    SYS_fchmod,
    SYS_fsync,
    SYS_rename,
    SYS_unlink,
    SYS_mknodat,
    SYS_mknod,
    SYS_exit_group,
    // TLS (SSL_GET), DNS ids, a new thread's hash keys.
    SYS_getrandom,
];

/// Calls no test reached, on paths we know of: the clock when the vDSO
/// cannot read it (a guest's clocksource), sleeps; the allocator (brk,
/// madvise, mremap) and a thread's end (exit); a panic's abort
/// (rt_sigaction; tgkill and tkill below, to this process only); a
/// signal handler's return; yields in contended queues; a reactor timeout
/// past 24 days (epoll_pwait2); `*_priority`, `*_rt_priority` and
/// `*_no_swap` at each config; datagrams with ancillary data and TCP
/// half-closes.
const RARE: &[(&str, u32)] = syscalls![
    SYS_clock_gettime,
    SYS_gettimeofday,
    SYS_clock_nanosleep,
    SYS_nanosleep,
    SYS_brk,
    SYS_madvise,
    SYS_mremap,
    SYS_exit,
    SYS_rt_sigaction,
    SYS_rt_sigreturn,
    SYS_sched_yield,
    SYS_epoll_pwait2,
    SYS_setpriority,
    SYS_sched_setscheduler,
    SYS_mlockall,
    SYS_sendmsg,
    SYS_shutdown,
    // Vectored I/O: rustls writes a TLS record with writev (SSL_GET: found by
    // tests/checker_ssl.rs after the first lists missed it), std may use both.
    SYS_writev,
    SYS_readv,
    // The reactor's notifier on kernels or builds where polling picks a pipe
    // or an eventfd; a sleep restarted after a signal.
    SYS_pipe2,
    SYS_eventfd2,
    SYS_restart_syscall,
];

/// The VRRP child's own: the netlink reflector's and the engine's event
/// fds, /proc directory reads, track_file's inotify (and dropping a watch
/// at a reload).
const VRRP: &[(&str, u32)] = syscalls![SYS_eventfd2, SYS_getdents64, SYS_inotify_init1, SYS_inotify_add_watch, SYS_inotify_rm_watch];

/// The checker child's own: none beyond the shared lists.
const CHECK: &[(&str, u32)] = &[];

/// The BFD child's own: none beyond the shared lists (UDP sockets, recvmsg
/// with the TTL in a control message, sendto, the reactor, timers, and
/// getrandom for discriminators and jitter seeds). Found with
/// VIGIL_SECCOMP=log against FRR's bfdd (tests/bfd_interop.rs).
const BFD: &[(&str, u32)] = &[];

/// Allowed only with this process's own pid as the first argument: the
/// signal a panic's abort sends itself.
const SELF_ONLY: &[(&str, u32)] = syscalls![SYS_tgkill, SYS_tkill];

/// The system calls `role` may make besides `clone` (threads only).
pub fn allowed(role: Role) -> Vec<(&'static str, u32)> {
    let own = match role {
        Role::Vrrp => VRRP,
        Role::Bfd => BFD,
        _ => CHECK,
    };
    let mut v: Vec<(&'static str, u32)> = SEEN.iter().chain(own).chain(RARE).copied().collect();
    let mut seen = std::collections::HashSet::new();
    v.retain(|(_, nr)| seen.insert(*nr));
    v
}

/// The filter for `allowed`, with `default` the action for anything else;
/// `pid` is this process's (for SELF_ONLY).
pub fn build(allowed: &[(&str, u32)], default: u32, pid: u32) -> Vec<Insn> {
    let mut p = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
        // x32 calls are x86_64 calls with this bit set: never ours.
        jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        // clone3's flags are behind a pointer: make the C library use clone.
        jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone3 as u32, 0, 1),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        // clone: a thread, or the default action (no fork).
        jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone as u32, 0, 4),
        stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARG0_LO),
        jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        stmt(BPF_RET | BPF_K, default),
    ];
    for &(_, nr) in SELF_ONLY {
        p.extend([
            jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4),
            stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARG0_LO),
            jump(BPF_JMP | BPF_JEQ | BPF_K, pid, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            stmt(BPF_RET | BPF_K, default),
        ]);
    }
    for &(_, nr) in allowed {
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
        p.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    }
    p.push(stmt(BPF_RET | BPF_K, default));
    p
}

/// Installs `role`'s filter on every thread of this process, after setting
/// no_new_privs (which a filter needs without CAP_SYS_ADMIN, and which keeps
/// an exec, were one possible, from gaining privileges). Returns how many
/// calls the filter allows.
pub fn install(role: Role, mode: Mode) -> std::io::Result<usize> {
    let default = match mode {
        Mode::Off => return Ok(0),
        Mode::Log => SECCOMP_RET_LOG,
        Mode::Kill => SECCOMP_RET_KILL_PROCESS,
    };
    let list = allowed(role);
    let prog = build(&list, default, std::process::id());
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const Insn,
    }
    let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fprog points at `prog`, a live array of `len` instructions laid
    // out as struct sock_filter; the kernel copies it during the call.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog as *const SockFprog) };
    if r != 0 {
        return Err(if r > 0 {
            std::io::Error::other(format!("thread {r} could not take the filter"))
        } else {
            std::io::Error::last_os_error()
        });
    }
    // + clone (threads only), tgkill and tkill (to ourselves).
    Ok(list.len() + 1 + SELF_ONLY.len())
}

/// A call no role allows, for the fault-injection test (`fault syscall`):
/// acct(NULL) would only switch process accounting off, were it allowed.
pub fn call_forbidden() {
    // SAFETY: acct(NULL) takes no memory; without the filter it fails
    // (EPERM, no CAP_SYS_PACCT) or turns accounting off.
    unsafe { libc::syscall(libc::SYS_acct, std::ptr::null::<libc::c_char>()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` as the kernel would on (arch, nr, low 32 bits of arg 0).
    fn run(prog: &[Insn], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    a = match i.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        OFF_ARG0_LO => arg0,
                        k => panic!("load of offset {k}"),
                    };
                    pc += 1;
                }
                c if c == BPF_RET | BPF_K => return i.k,
                c if c & 0x07 == BPF_JMP => {
                    let taken = match c & 0xf0 {
                        BPF_JEQ => a == i.k,
                        BPF_JGE => a >= i.k,
                        BPF_JSET => a & i.k != 0,
                        op => panic!("jump op {op:#x}"),
                    };
                    pc += 1 + if taken { i.jt as usize } else { i.jf as usize };
                }
                c => panic!("opcode {c:#x}"),
            }
            assert!(pc < prog.len(), "ran off the end");
        }
    }

    fn nr(n: libc::c_long) -> u32 {
        n as u32
    }

    #[test]
    fn listed_calls_pass_and_others_kill() {
        for role in [Role::Vrrp, Role::Check, Role::Bfd] {
            let list = allowed(role);
            let prog = build(&list, SECCOMP_RET_KILL_PROCESS, 42);
            assert!(prog.len() < 4096, "BPF_MAXINSNS");
            for &(name, n) in &list {
                assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, 0), SECCOMP_RET_ALLOW, "{name}");
            }
            for forbidden in [libc::SYS_execve, libc::SYS_execveat, libc::SYS_fork, libc::SYS_vfork, libc::SYS_ptrace, libc::SYS_acct, libc::SYS_reboot, libc::SYS_init_module, libc::SYS_finit_module, libc::SYS_mount, libc::SYS_setns, libc::SYS_unshare, libc::SYS_kexec_load, libc::SYS_setuid, libc::SYS_capset, libc::SYS_bpf, libc::SYS_process_vm_writev, libc::SYS_kill] {
                assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(forbidden), 0), SECCOMP_RET_KILL_PROCESS, "{forbidden}");
            }
        }
    }

    #[test]
    fn other_architectures_and_x32_are_killed() {
        let prog = build(&allowed(Role::Vrrp), SECCOMP_RET_LOG, 42);
        // i386's read is 3, x86_64's close: the architecture decides.
        assert_eq!(run(&prog, 0x4000_0003, 3, 0), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | nr(libc::SYS_read), 0), SECCOMP_RET_KILL_PROCESS);
        // Even in log mode.
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(libc::SYS_acct), 0), SECCOMP_RET_LOG);
    }

    #[test]
    fn threads_but_no_fork() {
        let prog = build(&allowed(Role::Check), SECCOMP_RET_KILL_PROCESS, 42);
        let thread = (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD | libc::CLONE_SYSVSEM) as u32;
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(libc::SYS_clone), thread), SECCOMP_RET_ALLOW);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(libc::SYS_clone), libc::SIGCHLD as u32), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(libc::SYS_clone3), 0), SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
    }

    #[test]
    fn signals_to_ourselves_only() {
        let prog = build(&allowed(Role::Vrrp), SECCOMP_RET_KILL_PROCESS, 42);
        for call in [libc::SYS_tgkill, libc::SYS_tkill] {
            assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(call), 42), SECCOMP_RET_ALLOW);
            assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr(call), 1), SECCOMP_RET_KILL_PROCESS);
        }
    }

    #[test]
    fn both_c_libraries_are_covered() {
        // musl reaches the kernel through the old calls where glibc uses
        // the *at ones and statx.
        for role in [Role::Vrrp, Role::Check, Role::Bfd] {
            let list = allowed(role);
            for call in [libc::SYS_open, libc::SYS_openat, libc::SYS_stat, libc::SYS_lstat, libc::SYS_statx, libc::SYS_mknod, libc::SYS_mknodat, libc::SYS_poll, libc::SYS_epoll_pwait] {
                assert!(list.iter().any(|x| x.1 == nr(call)), "{call}");
            }
        }
    }

    #[test]
    fn lists_have_no_duplicates_or_dangerous_calls() {
        for role in [Role::Vrrp, Role::Check, Role::Bfd] {
            let list = allowed(role);
            let mut nrs: Vec<u32> = list.iter().map(|x| x.1).collect();
            nrs.sort();
            nrs.dedup();
            assert_eq!(nrs.len(), list.len());
            for (name, _) in &list {
                assert!(!["SYS_execve", "SYS_fork", "SYS_vfork", "SYS_clone", "SYS_clone3", "SYS_ptrace", "SYS_kill", "SYS_tgkill", "SYS_tkill"].contains(name), "{name}");
            }
        }
    }

    #[test]
    fn mode_from_switches() {
        assert_eq!(Mode::from_env(true), Mode::Off);
    }
}
