//! From the config model to runnable commands, once at config time: the
//! script user resolved, the security check passed, argv[0] resolved.

use super::notify::NotifyScripts;
use super::security::check_script;
use super::spawn::ScriptCommand;
use super::user::script_run_as;
use crate::config::model::{GlobalDefs, Script, SyncGroup, VrrpInstance};

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

fn prep(s: &Option<Script>, global: &GlobalDefs) -> Option<ScriptCommand> {
    s.as_ref().and_then(|s| prepare_script(s, global))
}

impl NotifyScripts {
    pub fn for_instance(vi: &VrrpInstance, global: &GlobalDefs) -> NotifyScripts {
        NotifyScripts {
            notify: prep(&vi.notify, global),
            master: prep(&vi.notify_master, global),
            backup: prep(&vi.notify_backup, global),
            fault: prep(&vi.notify_fault, global),
            stop: prep(&vi.notify_stop, global),
            master_rx_lower_pri: prep(&vi.notify_master_rx_lower_pri, global),
        }
    }

    pub fn for_group(sg: &SyncGroup, global: &GlobalDefs) -> NotifyScripts {
        NotifyScripts {
            notify: prep(&sg.notify, global),
            master: prep(&sg.notify_master, global),
            backup: prep(&sg.notify_backup, global),
            fault: prep(&sg.notify_fault, global),
            stop: prep(&sg.notify_stop, global),
            master_rx_lower_pri: None,
        }
    }
}
