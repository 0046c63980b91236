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

/// One non-blocking `recvmsg` into `buf`, handing each control message's (level, type,
/// payload) to `on_cmsg`; returns the length received and the sender's address. Raw, not
/// nix's: nix decodes IPV6_HOPLIMIT only as an `Unknown` cmsg that copies into a Vec, and
/// receiving allocates nothing. The VRRP and BFD sockets share it.
pub(crate) fn recvmsg_cmsgs(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
    mut on_cmsg: impl FnMut(libc::c_int, libc::c_int, &[u8]),
) -> io::Result<(usize, libc::sockaddr_storage)> {
    // SAFETY: sockaddr_storage is plain integers and byte arrays, for which all-zero is a
    // valid value (family AF_UNSPEC).
    let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is pointers and integers; all-zero (null pointers, zero lengths) is
    // valid, and every field recvmsg reads is set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut sa as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg points at `sa`, `iov` (which points at `buf`) and `cbuf`, each with its
    // own size, all alive and exclusively borrowed until recvmsg returns; the kernel writes
    // no further than those sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let end = cbuf.as_ptr() as usize + std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg succeeded, so msg_control/msg_controllen describe the cmsgs the kernel
    // wrote into cbuf; CMSG_FIRSTHDR/CMSG_NXTHDR return only headers wholly inside that range
    // (or null), so each `*c` read is in bounds. Each payload slice starts at CMSG_DATA and
    // is clamped to both its cmsg_len and the end of cbuf, so it covers only bytes of cbuf,
    // which is initialised (zeroed) and not otherwise borrowed while `on_cmsg` runs.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let declared = ((*c).cmsg_len as usize).saturating_sub(data as usize - c as usize);
            let len = declared.min(end.saturating_sub(data as usize));
            on_cmsg((*c).cmsg_level, (*c).cmsg_type, std::slice::from_raw_parts(data, len));
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, sa))
}

/// An int payload (IP_TTL, IPV6_HOPLIMIT), in host order.
pub(crate) fn cmsg_int(data: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}
