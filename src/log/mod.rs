//! The `log` backend: every record is formatted once into a fixed-size line
//! (no allocation per record), kept in a per-process ring that the console's
//! `log` command shows, and written to the enabled sinks (console = stderr,
//! syslog = /dev/log).

mod ring;

pub use ring::{LINE_CAP, Line, RING_CAP, Ring};

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static LOGGER: Logger = Logger {
    ring: Mutex::new(Ring::new()),
    syslog: Mutex::new(None),
    console: AtomicBool::new(false),
    pid: AtomicU32::new(0),
};
static TAG: Mutex<&'static str> = Mutex::new("vigil");

struct Logger {
    ring: Mutex<Ring>,
    syslog: Mutex<Option<UnixDatagram>>,
    console: AtomicBool,
    pid: AtomicU32,
}

/// Where records go besides the ring.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sinks {
    pub console: bool,
    pub syslog: bool,
    pub detail: bool,
}

/// Installs the backend for this process. `tag` names the process in every
/// line ("vigil", "vrrp", "check"). Safe to call again after a fork/exec.
pub fn init(tag: &'static str, sinks: Sinks) {
    if let Ok(mut t) = TAG.lock() {
        *t = tag;
    }
    LOGGER.pid.store(std::process::id(), Ordering::Relaxed);
    LOGGER.console.store(sinks.console, Ordering::Relaxed);
    if sinks.syslog {
        let sock = UnixDatagram::unbound().ok().filter(|s| s.connect("/dev/log").is_ok());
        if let Ok(mut g) = LOGGER.syslog.lock() {
            *g = sock;
        }
    }
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(if sinks.detail { log::LevelFilter::Debug } else { log::LevelFilter::Info });
}

/// Monotonic milliseconds (since boot on the appliance).
pub fn monotonic_ms() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1000 + ts.tv_nsec() as u64 / 1_000_000,
        Err(_) => 0,
    }
}

/// Calls `f` with each line in the ring, oldest first.
pub fn for_each_recent(mut f: impl FnMut(&str)) {
    if let Ok(ring) = LOGGER.ring.lock() {
        ring.for_each(|l| f(l));
    }
}

/// Copies of the ring's lines (for the console; not a steady-state path).
pub fn recent_lines() -> Vec<String> {
    let mut v = Vec::new();
    for_each_recent(|l| v.push(l.to_string()));
    v
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let tag = TAG.lock().map(|t| *t).unwrap_or("vigil");
        let ms = monotonic_ms();
        let mut line = Line::new();
        let _ = std::fmt::write(
            &mut line,
            format_args!(
                "[{:5}.{:03}] {}[{}]: {}{}",
                ms / 1000,
                ms % 1000,
                tag,
                self.pid.load(Ordering::Relaxed),
                level_prefix(record.level()),
                record.args()
            ),
        );
        if self.console.load(Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
            let _ = err.write_all(b"\n");
        }
        if let Ok(sock) = self.syslog.lock() {
            if let Some(sock) = sock.as_ref() {
                // <PRI> = facility daemon (3) * 8 + severity.
                let sev = match record.level() {
                    log::Level::Error => 3,
                    log::Level::Warn => 4,
                    log::Level::Info => 6,
                    _ => 7,
                };
                let mut msg = Line::new();
                let _ = std::fmt::write(
                    &mut msg,
                    format_args!("<{}>{}[{}]: {}", 24 + sev, tag, self.pid.load(Ordering::Relaxed), record.args()),
                );
                let _ = sock.send(msg.as_bytes());
            }
        }
        if let Ok(mut ring) = self.ring.lock() {
            ring.push(&line);
        }
    }

    fn flush(&self) {}
}

fn level_prefix(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        _ => "",
    }
}
