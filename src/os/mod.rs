//! What the process asks of the operating system, whatever its role:
//! signals read through a signalfd, pid files, the counting allocator, and
//! the children's priority, scheduling class and memory locking, and files
//! replaced whole (keepalived's dump files).

pub mod atomic_file;
pub mod capacity;
pub mod caps;
pub mod mem;
pub mod pidfile;
pub mod priority;
pub mod seccomp;
pub mod sdnotify;
pub mod signals;
