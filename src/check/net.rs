//! Sockets for checkers: bound (bindto, bind_port, bind_if, fwmark) and
//! non-blocking from the start, every wait bounded by a timeout.

use super::plan::Target;
use async_io::{Async, Timer};
use nix::sys::socket::{
    self, AddressFamily, SockFlag, SockProtocol, SockType, SockaddrStorage, sockopt,
};
use smol::future;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Why one check run failed. Logged, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Socket(i32),
    Bind(i32),
    Refused,
    Connect(i32),
    Timeout,
    Io(i32),
    /// The peer closed before a full answer.
    Closed,
    /// HTTP: no end of headers in what was received.
    NoHeaders,
    Status(u16),
    Digest,
    Greeting,
    Helo,
    TlsUnavailable,
    Tls,
    DnsId,
    DnsNotReply,
    DnsRcode(u8),
    DnsNoAnswer,
    Unreachable,
    ReplyMismatch,
    Script,
    File,
    Ping,
    /// BFD_CHECK: its bfd_instance's session left Up.
    BfdDown,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = |e: &i32| std::io::Error::from_raw_os_error(*e);
        match self {
            Failure::Socket(e) => write!(f, "socket: {}", os(e)),
            Failure::Bind(e) => write!(f, "bind: {}", os(e)),
            Failure::Refused => write!(f, "connection refused"),
            Failure::Connect(e) => write!(f, "connect: {}", os(e)),
            Failure::Timeout => write!(f, "timeout"),
            Failure::Io(e) => write!(f, "I/O error: {}", os(e)),
            Failure::Closed => write!(f, "closed by peer"),
            Failure::NoHeaders => write!(f, "no HTTP header received"),
            Failure::Status(c) => write!(f, "HTTP status code {c}"),
            Failure::Digest => write!(f, "MD5 digest mismatch"),
            Failure::Greeting => write!(f, "bad SMTP greeting"),
            Failure::Helo => write!(f, "HELO refused"),
            Failure::TlsUnavailable => write!(f, "TLS unavailable"),
            Failure::Tls => write!(f, "TLS handshake failed"),
            Failure::DnsId => write!(f, "DNS reply id mismatch"),
            Failure::DnsNotReply => write!(f, "DNS answer is not a reply"),
            Failure::DnsRcode(r) => write!(f, "DNS rcode {r}"),
            Failure::DnsNoAnswer => write!(f, "DNS reply has no answer"),
            Failure::Unreachable => write!(f, "port unreachable"),
            Failure::ReplyMismatch => write!(f, "reply mismatch"),
            Failure::Script => write!(f, "script failed"),
            Failure::File => write!(f, "cannot read file"),
            Failure::Ping => write!(f, "no echo reply"),
            Failure::BfdDown => write!(f, "BFD session down"),
        }
    }
}

pub fn io_failure(e: &std::io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Failure::Refused,
        Some(libc::ETIMEDOUT) => Failure::Timeout,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH) => Failure::Unreachable,
        Some(c) => Failure::Io(c),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Failure::Closed,
        None => Failure::Io(libc::EIO),
    }
}

/// `fut`, or `Failure::Timeout` after `t`.
pub async fn timeout<T>(
    t: Duration,
    fut: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    future::or(fut, async {
        Timer::after(t).await;
        Err(Failure::Timeout)
    })
    .await
}

fn family(a: &SocketAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn errno(e: nix::Error) -> i32 {
    e as i32
}

/// A non-blocking, close-on-exec socket with the target's bindings applied.
pub fn bound_socket(
    t: &Target,
    ty: SockType,
    proto: Option<SockProtocol>,
) -> Result<OwnedFd, Failure> {
    let fd = socket::socket(
        family(&t.dst),
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        proto,
    )
    .map_err(|e| Failure::Socket(errno(e)))?;
    if let Some(dev) = &t.bind_if {
        socket::setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(dev))
            .map_err(|e| Failure::Bind(errno(e)))?;
    }
    if let Some(mark) = t.fwmark {
        socket::setsockopt(&fd, sockopt::Mark, &mark).map_err(|e| Failure::Bind(errno(e)))?;
    }
    if t.bindto.is_some() || t.bind_port.is_some() {
        let ip = t.bindto.unwrap_or(if t.dst.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
        if ip.is_ipv4() != t.dst.is_ipv4() {
            return Err(Failure::Bind(libc::EAFNOSUPPORT));
        }
        if t.bind_port.is_some() {
            // Several checkers may share a bind_port towards different servers.
            let _ = socket::setsockopt(&fd, sockopt::ReuseAddr, &true);
        }
        let sa = SockaddrStorage::from(SocketAddr::new(ip, t.bind_port.unwrap_or(0)));
        socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &sa)
            .map_err(|e| Failure::Bind(errno(e)))?;
    }
    Ok(fd)
}

/// Starts a non-blocking connect; EINPROGRESS is the normal answer.
fn start_connect(fd: &OwnedFd, dst: SocketAddr) -> Result<(), Failure> {
    let sa = SockaddrStorage::from(dst);
    match socket::connect(std::os::fd::AsRawFd::as_raw_fd(fd), &sa) {
        Ok(()) | Err(nix::Error::EINPROGRESS) | Err(nix::Error::EINTR) => Ok(()),
        Err(nix::Error::ECONNREFUSED) => Err(Failure::Refused),
        Err(e) => Err(Failure::Connect(errno(e))),
    }
}

/// A TCP connection to the target within its connect_timeout.
pub async fn tcp_connect(t: &Target) -> Result<Async<TcpStream>, Failure> {
    let stream = tcp_start(t, t.dst)?;
    timeout(t.connect_timeout, async {
        stream.writable().await.map_err(|e| io_failure(&e))?;
        tcp_connected(&stream)
    })
    .await?;
    Ok(stream)
}

/// A socket bound as `t` says with its connect to `dst` started.
pub fn tcp_start(t: &Target, dst: SocketAddr) -> Result<Async<TcpStream>, Failure> {
    let fd = bound_socket(t, SockType::Stream, Some(SockProtocol::Tcp))?;
    start_connect(&fd, dst)?;
    register(TcpStream::from(fd))
}

/// Whether the connect of a socket now writable succeeded. Writable and
/// SO_ERROR 0 is a completed connect (keepalived's tcp_socket_state asks
/// the same); a refused or unreachable one sets SO_ERROR. No getpeername:
/// one system call per check fewer.
pub fn tcp_connected(stream: &Async<TcpStream>) -> Result<(), Failure> {
    match stream.get_ref().take_error() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(io_failure(&e)),
        Err(e) => Err(io_failure(&e)),
    }
}

/// A connected UDP socket to the target (so ICMP errors come back to us).
pub fn udp_connect(t: &Target) -> Result<Async<UdpSocket>, Failure> {
    let fd = bound_socket(t, SockType::Datagram, Some(SockProtocol::Udp))?;
    start_connect(&fd, t.dst)?;
    register(UdpSocket::from(fd))
}

/// A checker's socket in the reactor. Created non-blocking (`bound_socket`):
/// no FIONBIO ioctl again. Registered lazily (vendor/README.md): one
/// epoll_ctl ADD at the first wait, with its interest, and no DEL, the
/// close removes it: two system calls per check fewer than ADD, MOD, DEL.
fn register<T: std::os::fd::AsFd>(io: T) -> Result<Async<T>, Failure> {
    // SAFETY: `io` is a TcpStream or UdpSocket made from the OwnedFd that
    // `bound_socket` just created: it owns the descriptor, closes it when
    // dropped, and nothing duplicates it (CLOEXEC, never cloned).
    unsafe { Async::new_nonblocking_lazy(io) }.map_err(|e| io_failure(&e))
}

/// Raises this process's soft limit on open files to its hard limit and
/// returns the new soft limit. The checker child holds a socket per check in
/// flight: with thousands of real servers that do not answer (each socket
/// open for connect_timeout) the usual soft limit of 1024 runs out long
/// before the hard one. keepalived raises its limit for the same reason.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
        return Ok(hard);
    }
    Ok(soft)
}

/// Kernel-random bytes (warmup jitter, DNS ids). Falls back to the clock.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // The raw system call: the static musl build resolves libc's
    // getrandom() to a null address (a SIGSEGV seen in the checker child).
    // SAFETY: b is a valid 8-byte buffer.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr(), b.len(), libc::GRND_NONBLOCK) };
    if n == 8 {
        return u64::from_ne_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}

/// A uniformly random duration in [0, max].
pub fn random_upto(max: Duration) -> Duration {
    let us = max.as_micros().min(u128::from(u64::MAX)) as u64;
    if us == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(random_u64() % (us + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::net::TcpListener;
    use std::rc::Rc;

    // Every connection registers a socket with the reactor, which keeps the
    // sources of closed ones for reuse (vendor/README.md): a reused source
    // must behave as a fresh one, whatever the previous connection's fate.
    #[test]
    fn connects_and_refusals_interleaved_reuse_reactor_sources() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = Target::new(l.local_addr().unwrap(), Duration::from_secs(5));
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let down = Target::new(gone.local_addr().unwrap(), Duration::from_secs(5));
        drop(gone);
        smol::block_on(async {
            for i in 0..300 {
                let s = tcp_connect(&up).await.expect("connect to the listener");
                assert_eq!(s.get_ref().peer_addr().unwrap(), up.dst);
                drop(s);
                l.accept().unwrap();
                if i % 3 == 0 {
                    assert_eq!(tcp_connect(&down).await.err(), Some(Failure::Refused));
                }
            }
        });
    }

    #[test]
    fn nofile_soft_limit_raised_to_the_hard_one() {
        let soft = raise_nofile_limit().unwrap();
        let (cur, max) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((soft, cur), (max, max));
    }

    // The reactor's timer queue (vendor/README.md) must fire timers in
    // deadline order and never fire a cancelled one. Only the order is
    // checked, no durations.
    #[test]
    fn timeouts_fire_in_deadline_order_and_cancelled_ones_never() {
        let ex = smol::LocalExecutor::new();
        let fired: Rc<RefCell<Vec<u64>>> = Rc::default();
        let mut tasks = Vec::new();
        // Deadlines 1..=120 ms after one instant, in a scrambled order;
        // every other one is cancelled by its future finishing first. The
        // instant is 300 ms ahead so that every task is first polled (and
        // its timer set) before any deadline, even on a loaded machine: a
        // task first polled after its deadline would set a later one.
        let base = std::time::Instant::now() + Duration::from_millis(300);
        for k in 0..120u64 {
            let ms = (k * 37) % 120 + 1;
            let fired = fired.clone();
            tasks.push(ex.spawn(async move {
                let at = base + Duration::from_millis(ms);
                let left = at.saturating_duration_since(std::time::Instant::now());
                let r = timeout(left, async move {
                    if ms % 2 == 0 {
                        Ok(())
                    } else {
                        future::pending::<Result<(), Failure>>().await
                    }
                })
                .await;
                if r == Err(Failure::Timeout) {
                    fired.borrow_mut().push(ms);
                }
            }));
        }
        smol::block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
        let fired = fired.borrow();
        let want: Vec<u64> = (1..=120).filter(|ms| ms % 2 == 1).collect();
        assert_eq!(*fired, want);
    }
}
