//! From the config model to runnable commands, once at config time: the
//! script user resolved, the security check passed, argv[0] resolved.

use super::security::check_script;
use super::spawn::ScriptCommand;
use super::user::script_run_as;
use crate::config::model::{GlobalDefs, Script};

/// A runnable command for `script`, or None (and a log line saying why)
/// when keepalived would disable it: unknown user, not found, not
/// executable, or unsafe under enable_script_security.
pub fn prepare_script(script: &Script, global: &GlobalDefs) -> Option<ScriptCommand> {
    let argv0 = script.argv.first()?;
    let run_as = match script_run_as(script, global) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("{e} - disabling script '{argv0}'");
            return None;
        }
    };
    let accepted = check_script(argv0, run_as, global.enable_script_security).ok()?;
    let mut argv = script.argv.clone();
    argv[0] = accepted.path.to_string_lossy().into_owned();
    Some(ScriptCommand::new(argv, run_as))
}
