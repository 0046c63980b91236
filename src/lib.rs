//! vigil: keepalived rebuilt in Rust as appliance firmware.
//!
//! The binary (`src/main.rs`) only parses argv and picks a role; everything
//! else lives in these modules so that tests, benchmarks and the fuzz crate
//! can reach it.

pub mod boot_net;
pub mod check;
pub mod child;
pub mod cli;
pub mod config;
pub mod genhash;
pub mod console_io;
pub mod init;
pub mod ipvs;
pub mod ipc;
pub mod log;
pub mod lvs;
pub mod mem;
pub mod netconf;
pub mod netlink;
pub mod notify;
pub mod pidfile;
pub mod sched;
pub mod signals;
pub mod supervisor;
pub mod vrrp;
