//! At boot of the appliance: keepalived's static_ipaddress, static_routes
//! and static_rules applied through rtnetlink.

use crate::config::Config;

pub fn apply_static(_config: &Config) {}
