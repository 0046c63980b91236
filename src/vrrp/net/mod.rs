//! VRRP's sockets: raw IP protocol 112 for adverts, AF_PACKET for
//! gratuitous ARP, raw ICMPv6 for unsolicited neighbour advertisements.
//! All non-blocking and close-on-exec; the engine wraps them in
//! async_io::Async on the VRRP child's scheduler.

pub mod filter;
pub mod garp;
pub mod sock;

pub use sock::{AdvertSocket, Received};
pub(crate) use sock::from_sockaddr;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // nix's socket() takes its SockProtocol enum, which has no VRRP (112),
    // AH (51) or "0 on AF_PACKET": the raw call is the only way to ask for them.
    // SAFETY: socket(2) reads only its three integer arguments.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, proto) })?;
    // SAFETY: socket(2) succeeded, so fd is a new descriptor no one else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt with a value nix has no typed option for (IP_HDRINCL,
/// IPV6_RECVHOPLIMIT, IP_MULTICAST_IF with an ip_mreqn, ...). `T` is the
/// C type the option expects: an int or a libc request struct.
pub(crate) fn setsockopt<T: Copy>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: the pointer and length describe `*value`, a live, initialised
    // T borrowed for the whole call; the kernel only reads that many bytes
    // and keeps no reference. fd is an open socket (OwnedFd).
    cvt(unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), std::mem::size_of::<T>() as libc::socklen_t)
    })
    .map(|_| ())
}

pub(crate) fn bind_to_device(fd: &OwnedFd, ifname: &str) -> io::Result<()> {
    nix::sys::socket::setsockopt(fd, nix::sys::socket::sockopt::BindToDevice, &std::ffi::OsString::from(ifname))?;
    Ok(())
}
