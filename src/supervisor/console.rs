//! The diagnostics console's command language (parsing only; the parent
//! carries the commands out). On the appliance it runs on /dev/console; with
//! `--console` it reads stdin, so tests can script it through a pipe.

use crate::cli::Role;

pub const PROMPT: &str = "vigil> ";

pub const HELP: &str = "\
commands:
  help                     this text
  ps                       processes: role, pid, state, restarts, age of last answer
  mem                      allocation counters per process (counting needs -m)
  status                   instances, sync groups, virtual and real servers, processes
  status json              the same as JSON (as vigil status --json)
  vrrp                     the VRRP instances: state, priorities, master, counters
  lvs                      the virtual servers and their real servers' checks
  log                      recent log records of every process
  ipvs                     the kernel's IPVS table (as ipvsadm -Ln)
  reload                   re-read the configuration (as SIGHUP)
  restart vrrp|check       stop a child; the watchdog starts it again
  fault kill vrrp|check    SIGKILL the child
  fault hang vrrp|check    SIGSTOP the child (the watchdog must notice)
  fault wedge vrrp|check   make the child's scheduler loop spin forever
  fault wedge parent       make PID 1's own loop spin forever (the hardware
                           watchdog must reset the box; refused without one)
  sh                       a shell on the console (when the image has one)
  reboot                   stop cleanly and reboot
  poweroff                 stop cleanly and power off";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Kill,
    Hang,
    Wedge,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleCmd {
    Empty,
    Help,
    Ps,
    Mem,
    Status,
    StatusJson,
    Vrrp,
    Lvs,
    Log,
    Ipvs,
    Reload,
    Restart(Role),
    Fault(Fault, Role),
    /// `fault wedge parent`: the parent's loop spins forever.
    WedgeParent,
    Shell,
    Reboot,
    PowerOff,
    Unknown(String),
}

fn role(word: Option<&str>) -> Option<Role> {
    match word {
        Some("vrrp") => Some(Role::Vrrp),
        Some("check") | Some("checker") => Some(Role::Check),
        _ => None,
    }
}

pub fn parse(line: &str) -> ConsoleCmd {
    let mut w = line.split_whitespace();
    let first = w.next();
    let rest: Vec<&str> = w.collect();
    let bad = || ConsoleCmd::Unknown(line.trim().to_string());
    match (first, rest.as_slice()) {
        (None, _) => ConsoleCmd::Empty,
        (Some("help" | "?"), []) => ConsoleCmd::Help,
        (Some("ps"), []) => ConsoleCmd::Ps,
        (Some("mem"), []) => ConsoleCmd::Mem,
        (Some("status"), []) => ConsoleCmd::Status,
        (Some("status"), ["json"]) => ConsoleCmd::StatusJson,
        (Some("vrrp"), []) => ConsoleCmd::Vrrp,
        (Some("lvs"), []) => ConsoleCmd::Lvs,
        (Some("log"), []) => ConsoleCmd::Log,
        (Some("ipvs"), []) => ConsoleCmd::Ipvs,
        (Some("reload"), []) => ConsoleCmd::Reload,
        (Some("restart"), [r]) => role(Some(r)).map_or_else(bad, ConsoleCmd::Restart),
        (Some("fault"), ["wedge", "parent"]) => ConsoleCmd::WedgeParent,
        (Some("fault"), [kind, r]) => {
            let f = match *kind {
                "kill" => Fault::Kill,
                "hang" => Fault::Hang,
                "wedge" => Fault::Wedge,
                _ => return bad(),
            };
            role(Some(r)).map_or_else(bad, |r| ConsoleCmd::Fault(f, r))
        }
        (Some("sh" | "shell"), []) => ConsoleCmd::Shell,
        (Some("reboot"), []) => ConsoleCmd::Reboot,
        (Some("poweroff" | "halt"), []) => ConsoleCmd::PowerOff,
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("  ps \n"), ConsoleCmd::Ps);
        assert_eq!(parse(""), ConsoleCmd::Empty);
        assert_eq!(parse("fault kill vrrp"), ConsoleCmd::Fault(Fault::Kill, Role::Vrrp));
        assert_eq!(parse("fault hang check"), ConsoleCmd::Fault(Fault::Hang, Role::Check));
        assert_eq!(parse("fault wedge check"), ConsoleCmd::Fault(Fault::Wedge, Role::Check));
        assert_eq!(parse("restart vrrp"), ConsoleCmd::Restart(Role::Vrrp));
        assert!(matches!(parse("fault kill parent"), ConsoleCmd::Unknown(_)));
        assert_eq!(parse("fault wedge parent"), ConsoleCmd::WedgeParent);
        assert!(matches!(parse("fault explode vrrp"), ConsoleCmd::Unknown(_)));
        assert!(matches!(parse("ps extra"), ConsoleCmd::Unknown(_)));
        assert_eq!(parse("poweroff"), ConsoleCmd::PowerOff);
        assert_eq!(parse("status json"), ConsoleCmd::StatusJson);
        assert_eq!(parse(" vrrp "), ConsoleCmd::Vrrp);
        assert_eq!(parse("lvs"), ConsoleCmd::Lvs);
        assert!(matches!(parse("status xml"), ConsoleCmd::Unknown(_)));
    }
}
