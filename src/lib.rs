//! vigil: keepalived rebuilt in Rust as appliance firmware.
//!
//! The binary (`src/main.rs`) only parses argv and picks a role; everything
//! else lives in these modules so that tests, benchmarks and the fuzz crate
//! can reach it.

pub mod alert;
pub mod bfd;
pub mod check;
pub mod cli;
pub mod config;
pub mod init;
pub mod ipvs;
pub mod ipc;
pub mod log;
pub mod lvs;
pub mod netlink;
pub mod notify;
pub mod os;

/// The unit tests count allocations as the daemon does (`-m`): a test can
/// show that a steady state allocates nothing.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: os::mem::Counting = os::mem::Counting;
pub mod role;
pub mod script;
pub mod supervisor;
pub mod vrrp;
