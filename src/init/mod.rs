//! PID-1 duties: the appliance's early boot and its final power-off.
//! Nothing here may panic or exit: a failure is logged and boot goes on.

pub mod boot_net;
pub mod hwwdt;
mod modules;
pub mod persist;

use std::path::Path;
use std::time::{Duration, Instant};

/// The list of modules the image wants loaded, in dependency order.
pub const MODULES_LIST: &str = "/etc/vigil/modules";

/// What early boot learned that the parent needs.
#[derive(Debug, Default)]
pub struct Boot {
    pub watchdog_ms: Option<u64>,
    /// The hardware watchdog's settings (vigil_hwwdt, vigil_hwwdt_policy).
    pub hwwdt: hwwdt::Settings,
    /// `vigil_config_id=ID`: keepalived's `-i ID` (which `@ID` config lines apply), so that one
    /// image and one keepalived.conf serve every node of a cluster.
    pub config_id: Option<String>,
    pub modules_loaded: usize,
    pub modules_failed: usize,
    /// The persistent configuration (`vigil_persist=DEVICE`), when mounted.
    pub persist: Option<persist::Persistent>,
    /// What early boot has to say, for the log once it exists.
    pub notes: Vec<(log::Level, String)>,
}

/// Mounts, console, hostname, modules, loopback. Call before any thread exists.
pub fn early_boot() -> Boot {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // SAFETY: set_var races only with another thread reading or writing the
    // environment; PID 1 runs this first thing in main, before any thread exists.
    unsafe {
        std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        std::env::set_var("HOME", "/");
        std::env::set_var("TERM", "linux");
    }
    mount_all();
    reopen_console();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    set_hostname(&cmdline);
    let (ok, failed) = modules::load_list(Path::new(MODULES_LIST));
    if let Err(e) = set_link_up("lo") {
        log::error!("bringing lo up: {e}");
    }
    // ctrl-alt-del sends SIGINT to PID 1 instead of an immediate reboot.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log::warn!("disabling ctrl-alt-del: {e}");
    }
    let mut notes = Vec::new();
    let persist = persist::mount(&cmdline, &mut notes);
    Boot {
        watchdog_ms: cmdline_value(&cmdline, "vigil_watchdog_ms").and_then(|v| v.parse().ok()),
        hwwdt: hwwdt::Settings::from_cmdline(&cmdline),
        config_id: cmdline_value(&cmdline, "vigil_config_id").filter(|v| !v.is_empty()).map(str::to_owned),
        modules_loaded: ok,
        modules_failed: failed,
        persist,
        notes,
    }
}

/// `name=value` from the kernel command line (names without a dot: the
/// kernel takes dotted names as module parameters).
pub fn cmdline_value<'a>(cmdline: &'a str, name: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

fn mount_all() {
    use nix::mount::{MsFlags, mount};
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let table: [(&str, &str, MsFlags, Option<&str>); 6] = [
        ("/proc", "proc", nodev, None),
        ("/sys", "sysfs", nodev, None),
        ("/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755")),
        ("/dev/pts", "devpts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("gid=5,mode=620,ptmxmode=666")),
        ("/run", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755")),
        ("/tmp", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=1777")),
    ];
    for (target, fstype, flags, data) in table {
        let _ = std::fs::create_dir_all(target);
        match mount(Some(fstype), target, Some(fstype), flags, data) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => log::error!("mount {fstype} on {target}: {e}"),
        }
    }
    let _ = std::fs::create_dir_all("/run/vigil");
    let _ = std::os::unix::fs::symlink("/run", "/var/run");
}

/// The kernel opens /dev/console for PID 1 only if the node exists in the
/// initramfs; after devtmpfs is mounted it does, so make fds 0-2 point there.
fn reopen_console() {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/console") else {
        return;
    };
    for fd in 0..3 {
        let _ = nix::unistd::dup2(f.as_raw_fd(), fd);
    }
    // The console is deliberately not our controlling tty: ctrl-c typed on
    // it must not reach PID 1 (SIGINT means ctrl-alt-del: reboot). A shell
    // started from the console takes it as its own controlling tty.
}

fn set_hostname(cmdline: &str) {
    let name = cmdline_value(cmdline, "vigil_hostname")
        .map(str::to_string)
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "vigil".to_string());
    if let Err(e) = nix::unistd::sethostname(&name) {
        log::error!("sethostname {name}: {e}");
    }
}

/// Sets IFF_UP on an interface by name (ioctl; works before netlink setup).
pub fn set_link_up(name: &str) -> std::io::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    use std::os::fd::AsRawFd;
    let owned = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    let sock = owned.as_raw_fd();
    (|| {
        // SAFETY: ifreq is a name array and a union of plain integers and
        // sockaddrs; all-zero is a valid value of each.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        let bytes = name.as_bytes();
        if bytes.len() >= ifr.ifr_name.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "interface name too long"));
        }
        for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // nix's ioctl macros only generate unsafe functions: the raw call is no worse.
        // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name (len checked above)
        // and writes ifru_flags inside `ifr`, a live, exclusively borrowed ifreq.
        if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFFLAGS succeeded, so the kernel wrote the union's
        // ifru_flags member; reading it reads initialised bytes of that type.
        unsafe {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        }
        // SAFETY: SIOCSIFFLAGS only reads the name and ifru_flags of `ifr`,
        // which lives across the call.
        if unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &ifr) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    })()
}

/// The end: every other process is asked to stop, then killed, file systems
/// are synced, and the kernel powers off or reboots. Never returns.
pub fn final_shutdown(reboot: bool) -> ! {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let all = Pid::from_raw(-1);
    let _ = kill(all, Signal::SIGTERM);
    wait_all(Duration::from_secs(2));
    let _ = kill(all, Signal::SIGKILL);
    wait_all(Duration::from_secs(1));
    nix::unistd::sync();
    println!("vigil: {}", if reboot { "rebooting now" } else { "power off" });
    let how = if reboot { nix::sys::reboot::RebootMode::RB_AUTOBOOT } else { nix::sys::reboot::RebootMode::RB_POWER_OFF };
    let err = nix::sys::reboot::reboot(how);
    // Only reached if reboot(2) failed: PID 1 must not exit.
    log::error!("reboot(2): {err:?}; halting here");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Reaps every process until none is left or the bound passes.
fn wait_all(bound: Duration) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let until = Instant::now() + bound;
    while Instant::now() < until {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => return,
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(20)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_values() {
        let c = "console=ttyS0 vigil_watchdog_ms=1000 vigil_hostname=n1 quiet";
        assert_eq!(cmdline_value(c, "vigil_watchdog_ms"), Some("1000"));
        assert_eq!(cmdline_value(c, "vigil_hostname"), Some("n1"));
        assert_eq!(cmdline_value(c, "vigil_host"), None);
        let c = "console=ttyS0 vigil_config_id=node2";
        assert_eq!(cmdline_value(c, "vigil_config_id"), Some("node2"));
        assert_eq!(cmdline_value(c, "quiet"), None);
    }
}
