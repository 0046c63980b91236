//! The hardware watchdog (/dev/watchdog, Linux's watchdog API): PID 1 arms it
//! at boot, the parent's loop pets it on its tick while it supervises (see
//! `supervisor::hwwdt` for when), and a clean stop disarms it with the magic
//! close. A wedged PID 1 stops petting and the hardware resets the box.
//!
//! Kernel command line: `vigil_hwwdt=SECONDS` (the hardware timeout, default
//! 30) and `vigil_hwwdt_policy=off|parent|children` (default children; see
//! [`Policy`]).

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

pub const DEVICE: &str = "/dev/watchdog";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The hardware timeout is at least this many ticks (hello intervals), so
/// that a tick late by a whole interval still pets in time.
pub const MIN_TICKS_PER_TIMEOUT: u32 = 3;

/// What the hardware watchdog guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Not armed: /dev/watchdog is left closed.
    Off,
    /// The parent's loop runs and supervises: every child is answering or
    /// being restarted, however long a crash loop lasts.
    Parent,
    /// As `Parent`, and no enabled child has gone unanswered for longer
    /// than `supervisor::hwwdt::CHILD_BOUND`: a child the parent cannot
    /// bring back resets the box.
    Children,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "off" | "0" | "none" => Some(Policy::Off),
            "parent" | "loop" => Some(Policy::Parent),
            "children" | "on" | "1" => Some(Policy::Children),
            _ => None,
        }
    }
}

/// The settings read from the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub timeout: Duration,
    pub policy: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { timeout: DEFAULT_TIMEOUT, policy: Policy::Children }
    }
}

impl Settings {
    /// `vigil_hwwdt=SECONDS` and `vigil_hwwdt_policy=...`; a bad value is
    /// logged and the default kept.
    pub fn from_cmdline(cmdline: &str) -> Settings {
        let mut s = Settings::default();
        if let Some(v) = super::cmdline_value(cmdline, "vigil_hwwdt") {
            match v.parse::<u32>() {
                Ok(0) => s.policy = Policy::Off,
                Ok(secs) => s.timeout = Duration::from_secs(secs.into()),
                Err(_) => log::warn!("vigil_hwwdt={v}: not a number of seconds; using {} s", s.timeout.as_secs()),
            }
        }
        if let Some(v) = super::cmdline_value(cmdline, "vigil_hwwdt_policy") {
            match Policy::parse(v) {
                Some(p) if s.policy != Policy::Off => s.policy = p,
                Some(_) => {}
                None => log::warn!("vigil_hwwdt_policy={v}: want off, parent or children; using {:?}", s.policy),
            }
        }
        s
    }
}

/// The timeout to ask for: at least `MIN_TICKS_PER_TIMEOUT` ticks, in whole
/// seconds (the API's unit), rounded up.
pub fn clamp_timeout(wanted: Duration, tick: Duration) -> Duration {
    let floor = tick.saturating_mul(MIN_TICKS_PER_TIMEOUT);
    let t = wanted.max(floor);
    let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
    Duration::from_secs(secs.clamp(1, u64::from(i32::MAX as u32)))
}

/// Arms /dev/watchdog as `settings` say, with a timeout of at least
/// `MIN_TICKS_PER_TIMEOUT` parent ticks. None when off, absent or failing
/// (logged): the appliance runs on without it.
pub fn arm(settings: &Settings, tick: Duration) -> Option<(HwWatchdog, Policy)> {
    if settings.policy == Policy::Off {
        log::info!("hardware watchdog: off (kernel command line)");
        return None;
    }
    let timeout = clamp_timeout(settings.timeout, tick);
    if timeout != settings.timeout {
        log::warn!(
            "hardware watchdog: timeout {} s raised to {} s, {MIN_TICKS_PER_TIMEOUT} times the {} ms tick that pets it",
            settings.timeout.as_secs_f64(),
            timeout.as_secs(),
            tick.as_millis()
        );
    }
    match HwWatchdog::open(Path::new(DEVICE), timeout) {
        Ok(Some(w)) => {
            log::info!(
                "hardware watchdog {DEVICE}: armed, timeout {} s (asked {} s), policy {:?}, petted every {} ms while the parent supervises",
                w.timeout().as_secs(),
                timeout.as_secs(),
                settings.policy,
                tick.as_millis()
            );
            if w.timeout() != Duration::ZERO && w.timeout() < tick.saturating_mul(2) {
                log::error!("hardware watchdog: the device's timeout {} s is under two ticks; expect resets", w.timeout().as_secs());
            }
            Some((w, settings.policy))
        }
        Ok(None) => {
            log::info!("hardware watchdog: no {DEVICE}");
            None
        }
        Err(e) => {
            log::error!("hardware watchdog {DEVICE}: {e}; running without it");
            None
        }
    }
}

// linux/watchdog.h: _IOR('W', 5, int), _IOWR('W', 6, int), _IOR('W', 7, int).
nix::ioctl_read!(wdioc_keepalive, b'W', 5, libc::c_int);
nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);
nix::ioctl_read!(wdioc_gettimeout, b'W', 7, libc::c_int);

/// An open, running hardware watchdog. Dropping it without [`disarm`]
/// closes it without the magic character: the hardware keeps counting
/// and resets the box (as for a crashed PID 1).
///
/// [`disarm`]: HwWatchdog::disarm
#[derive(Debug)]
pub struct HwWatchdog {
    file: File,
    timeout: Duration,
}

impl HwWatchdog {
    /// Opens `path` (which starts the hardware counting), sets its timeout
    /// and pets it once. `Ok(None)` when there is no such device.
    pub fn open(path: &Path, wanted: Duration) -> std::io::Result<Option<HwWatchdog>> {
        let file = match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut secs: libc::c_int = wanted.as_secs().min(i32::MAX as u64) as libc::c_int;
        // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the
        // pointer, which points at `secs`, live and exclusively borrowed.
        let set = unsafe { wdioc_settimeout(file.as_raw_fd(), &mut secs) };
        if let Err(e) = set {
            log::warn!("hardware watchdog {}: cannot set the timeout to {} s: {e}", path.display(), wanted.as_secs());
            // SAFETY: WDIOC_GETTIMEOUT writes one int into `secs`.
            if unsafe { wdioc_gettimeout(file.as_raw_fd(), &mut secs) }.is_err() {
                secs = 0;
            }
        }
        let w = HwWatchdog { file, timeout: Duration::from_secs(secs.max(0) as u64) };
        w.pet();
        Ok(Some(w))
    }

    /// The timeout the device runs with (as the driver reported it; zero if
    /// it would not say).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Restarts the hardware's count.
    pub fn pet(&self) {
        let mut dummy: libc::c_int = 0;
        // SAFETY: WDIOC_KEEPALIVE takes an int pointer it may write; it
        // points at `dummy`, live and exclusively borrowed.
        if let Err(e) = unsafe { wdioc_keepalive(self.file.as_raw_fd(), &mut dummy) } {
            // Some drivers only take a write; any write pets.
            if let Err(e2) = (&self.file).write_all(b"\0") {
                log::warn!("hardware watchdog keepalive: {e}; write: {e2}");
            }
        }
    }

    /// A clean stop: the magic close ('V', then close) stops the hardware,
    /// unless the kernel was built with nowayout.
    pub fn disarm(self) {
        match (&self.file).write_all(b"V") {
            Ok(()) => log::info!("hardware watchdog disarmed (magic close)"),
            Err(e) => log::error!("hardware watchdog: writing the magic close: {e}; the box may reset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_the_kernel_command_line() {
        assert_eq!(Settings::from_cmdline("console=ttyS0"), Settings::default());
        let s = Settings::from_cmdline("vigil_hwwdt=5 vigil_hwwdt_policy=parent");
        assert_eq!(s, Settings { timeout: Duration::from_secs(5), policy: Policy::Parent });
        assert_eq!(Settings::from_cmdline("vigil_hwwdt=0").policy, Policy::Off);
        assert_eq!(Settings::from_cmdline("vigil_hwwdt_policy=off").policy, Policy::Off);
        // Off by the timeout stays off whatever the policy says.
        assert_eq!(Settings::from_cmdline("vigil_hwwdt=0 vigil_hwwdt_policy=children").policy, Policy::Off);
        // Bad values keep the defaults.
        assert_eq!(Settings::from_cmdline("vigil_hwwdt=ten vigil_hwwdt_policy=maybe"), Settings::default());
    }

    #[test]
    fn the_timeout_exceeds_the_tick_with_margin() {
        let s = Duration::from_secs;
        assert_eq!(clamp_timeout(s(30), s(5)), s(30));
        assert_eq!(clamp_timeout(s(5), s(1)), s(5));
        assert_eq!(clamp_timeout(s(5), s(5)), s(15));
        assert_eq!(clamp_timeout(s(2), Duration::from_millis(1500)), Duration::from_millis(4500).max(s(5)));
        assert_eq!(clamp_timeout(Duration::ZERO, Duration::from_millis(10)), s(1));
    }
}
