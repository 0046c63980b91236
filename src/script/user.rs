//! Who a script runs as, resolved once at config time (keepalived's
//! `set_uid_gid` / `get_default_script_user`).
//!
//! Order, as keepalived: the script's own `user [group]`, else global
//! `script_user`, else the user `keepalived_script` when it exists, else
//! ourselves (root). A group name starting with ':' (keepalived's "set
//! supplementary groups" marker) is accepted; we do not set supplementary
//! groups (see the report: difference).

use super::spawn::RunAs;
use crate::config::model::{GlobalDefs, Script};
use nix::unistd::{Group, User};

/// keepalived's default script user when none is configured.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// uid and primary gid of `name` from the passwd database.
pub fn resolve_user(name: &str) -> Option<(u32, u32)> {
    match User::from_name(name) {
        Ok(Some(u)) => Some((u.uid.as_raw(), u.gid.as_raw())),
        _ => None,
    }
}

/// gid of `name` from the group database.
pub fn resolve_group(name: &str) -> Option<u32> {
    let name = name.strip_prefix(':').unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    match Group::from_name(name) {
        Ok(Some(g)) => Some(g.gid.as_raw()),
        _ => None,
    }
}

/// Why a script's user could not be resolved (the script is then disabled,
/// as keepalived disables it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserError {
    NoSuchUser(String),
    NoSuchGroup(String),
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserError::NoSuchUser(u) => write!(f, "script user '{u}' does not exist"),
            UserError::NoSuchGroup(g) => write!(f, "script group '{g}' does not exist"),
        }
    }
}

fn resolve_pair(user: &str, group: Option<&str>) -> Result<RunAs, UserError> {
    let (uid, mut gid) = resolve_user(user).ok_or_else(|| UserError::NoSuchUser(user.to_string()))?;
    if let Some(g) = group.filter(|g| !g.is_empty() && *g != ":") {
        gid = resolve_group(g).ok_or_else(|| UserError::NoSuchGroup(g.to_string()))?;
    }
    Ok(RunAs { uid, gid })
}

/// The user a script runs as.
pub fn script_run_as(script: &Script, global: &GlobalDefs) -> Result<RunAs, UserError> {
    if let Some(u) = &script.user {
        return resolve_pair(u, script.group.as_deref());
    }
    // The config keeps `script_user USER [GROUP]` in user/group (argv empty).
    if let Some(u) = global.script_user.as_ref().and_then(|s| s.user.as_deref()) {
        let group = global.script_user.as_ref().and_then(|s| s.group.as_deref());
        return resolve_pair(u, group);
    }
    match resolve_user(DEFAULT_SCRIPT_USER) {
        Some((uid, gid)) => Ok(RunAs { uid, gid }),
        None => {
            if global.enable_script_security {
                // keepalived: a config error, and scripts run as root only
                // after the security check below accepts them.
                log::warn!("default script user '{DEFAULT_SCRIPT_USER}' does not exist - scripts run as uid {}", RunAs::current().uid);
            }
            Ok(RunAs::current())
        }
    }
}
