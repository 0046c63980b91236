//! vigil: keepalived rebuilt in Rust as appliance firmware.
//!
//! The binary (`src/main.rs`) only parses argv and picks a role; everything
//! else lives in these modules so that tests, benchmarks and the fuzz crate
//! can reach it.

pub mod config;
pub mod netlink;
pub mod vrrp;
