//! The netlink reflector (work in progress).
