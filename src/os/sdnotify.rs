//! systemd's readiness protocol (sd_notify(3)) without libsystemd: one
//! datagram per state change to the unix socket named by $NOTIFY_SOCKET
//! (an abstract name when it starts with '@'), as keepalived does under
//! `Type=notify`. Only the parent notifies; its children never see the
//! variable (spawn removes it), so a notify script cannot speak for us.

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for a `Type=notify` service.
pub const ENV: &str = "NOTIFY_SOCKET";

pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier $NOTIFY_SOCKET names, or None when it is unset, empty
    /// or unusable (then logged: the unit would time out waiting for us).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os(ENV)?;
        if path.is_empty() {
            return None;
        }
        match Self::open(path.as_encoded_bytes()) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!("{ENV}={}: {e}; systemd will not hear that vigil is ready", path.to_string_lossy());
                None
            }
        }
    }

    fn open(path: &[u8]) -> std::io::Result<Notifier> {
        let addr = match path.strip_prefix(b"@") {
            Some(name) => <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path))?,
        };
        let sock = UnixDatagram::unbound()?;
        Ok(Notifier { sock, addr })
    }

    /// Sends one state line (`READY=1`, `STOPPING=1`, ...). A failure is
    /// logged, never fatal: systemd's absence must not stop the daemon.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.sock.send_to_addr(state.as_bytes(), &self.addr) {
            log::warn!("{ENV}: sending {:?}: {e}", state.lines().next().unwrap_or(""));
        }
    }

    /// `RELOADING=1` with the monotonic time systemd asks for it.
    pub fn reloading(&self) {
        let usec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            .unwrap_or(0);
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("vigil-sdnotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("notify");
        let rx = UnixDatagram::bind(&p).unwrap();
        Notifier::open(p.as_os_str().as_bytes()).unwrap().send("READY=1");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("vigil-sdnotify-test-{}", std::process::id());
        let addr = <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::open(format!("@{name}").as_bytes()).unwrap().reloading();
        let n = rx.recv(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"RELOADING=1\nMONOTONIC_USEC="), "{:?}", String::from_utf8_lossy(&buf[..n]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
