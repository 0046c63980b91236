//! The diagnostics console: its command language, and the parent carrying
//! the commands out. On the appliance it runs on /dev/console; with
//! `--console` it reads stdin, so tests can script it through a pipe.

use super::{Event, Shutdown, print_prompt, query};
use crate::cli::Role;
use crate::ipc::Msg;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::Write as _;

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
  fault syscall vrrp|check make the child call acct(2), which its seccomp
                           filter forbids (the kernel kills it)
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
    Syscall,
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
        Some("bfd") => Some(Role::Bfd),
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
                "syscall" => Fault::Syscall,
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

/// The console's commands carried out by the parent.
impl super::Parent {
    pub(super) fn start_console(&mut self) {
        if !self.console_enabled {
            return;
        }
        match super::console_io::reader(self.tx.clone(), |l| Event::ConsoleLine(l), || Event::ConsoleClosed) {
            Ok(fut) => self.console_task = Some(self.ex.spawn(fut)),
            Err(e) => log::warn!("console: {e}"),
        }
        print_prompt();
    }

    pub(super) fn on_console(&mut self, line: &str) -> Option<Shutdown> {
        let mut out = String::new();
        let mut prompt = true;
        match parse(line) {
            ConsoleCmd::Empty => {}
            ConsoleCmd::Help => out = format!("{HELP}\n"),
            ConsoleCmd::Ps => out = self.status().ps_table(),
            ConsoleCmd::Mem => out = self.status().mem_table(),
            ConsoleCmd::Status | ConsoleCmd::StatusJson | ConsoleCmd::Vrrp | ConsoleCmd::Lvs => {
                let view = match parse(line) {
                    ConsoleCmd::Vrrp => query::ConsoleView::Vrrp,
                    ConsoleCmd::Lvs => query::ConsoleView::Lvs,
                    ConsoleCmd::StatusJson => query::ConsoleView::Json,
                    _ => query::ConsoleView::Status,
                };
                self.ask(query::Asker::Console(view));
                prompt = false;
            }
            ConsoleCmd::Log => {
                out.push_str("--- parent log ---\n");
                crate::log::for_each_recent(|l| {
                    out.push_str(l);
                    out.push('\n');
                });
                for s in &self.slots {
                    if let Some(tx) = &s.sender {
                        let _ = tx.try_send(&Msg::DumpLog);
                    }
                }
            }
            ConsoleCmd::Ipvs => out = crate::ipvs::show::show(),
            ConsoleCmd::Reload => self.reload(),
            ConsoleCmd::Restart(role) | ConsoleCmd::Fault(Fault::Kill, role) => {
                let s = &mut self.slots[Self::slot_index(role)];
                match s.pid {
                    Some(pid) => {
                        let sig = if matches!(parse(line), ConsoleCmd::Restart(_)) { Signal::SIGTERM } else { Signal::SIGKILL };
                        log::info!("console: {sig} to {} child {pid}", role.name());
                        let _ = kill(Pid::from_raw(pid as i32), sig);
                        out = format!("sent {sig} to {} child {pid}\n", role.name());
                    }
                    None => out = format!("{} child is not running\n", role.name()),
                }
            }
            ConsoleCmd::Fault(Fault::Hang, role) => {
                let s = &self.slots[Self::slot_index(role)];
                match s.pid {
                    Some(pid) => {
                        log::info!("console: SIGSTOP to {} child {pid}", role.name());
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
                        out = format!("sent SIGSTOP to {} child {pid}\n", role.name());
                    }
                    None => out = format!("{} child is not running\n", role.name()),
                }
            }
            ConsoleCmd::Fault(Fault::Wedge, role) => {
                let s = &self.slots[Self::slot_index(role)];
                match &s.sender {
                    Some(tx) => {
                        log::info!("console: wedge the {} child's loop", role.name());
                        let _ = tx.try_send(&Msg::Wedge);
                        out = format!("asked the {} child to wedge its loop\n", role.name());
                    }
                    None => out = format!("{} child is not running\n", role.name()),
                }
            }
            ConsoleCmd::Fault(Fault::Syscall, role) => {
                let s = &self.slots[Self::slot_index(role)];
                match &s.sender {
                    Some(tx) => {
                        log::info!("console: ask the {} child for a forbidden system call", role.name());
                        let _ = tx.try_send(&Msg::ForbiddenSyscall);
                        out = format!("asked the {} child to call acct(2)\n", role.name());
                    }
                    None => out = format!("{} child is not running\n", role.name()),
                }
            }
            ConsoleCmd::WedgeParent => {
                if self.hw.is_none() {
                    out = "refused: no hardware watchdog is armed, nothing would reset a wedged parent\n".to_string();
                } else {
                    let t = self.hw.as_ref().map_or(0, |w| w.timeout().as_secs());
                    log::error!("console: wedging the parent's loop; the hardware watchdog must reset the box within {t} s");
                    println!("wedging the parent's loop (the hardware watchdog resets the box within {t} s)");
                    loop {
                        std::hint::spin_loop();
                    }
                }
            }
            ConsoleCmd::Shell => match crate::supervisor::console_io::shell() {
                Ok(pid) => {
                    self.console_task = None;
                    self.shell_pid = Some(pid);
                    prompt = false;
                }
                Err(e) => out = format!("sh: {e}\n"),
            },
            ConsoleCmd::Reboot => {
                println!("vigil: rebooting");
                return self.begin_stop(if self.init { Shutdown::Reboot } else { Shutdown::Exit });
            }
            ConsoleCmd::PowerOff => {
                println!("vigil: powering off");
                return self.begin_stop(if self.init { Shutdown::PowerOff } else { Shutdown::Exit });
            }
            ConsoleCmd::Unknown(s) => out = format!("unknown command {s:?}; try help\n"),
        }
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(out.as_bytes());
        let _ = o.flush();
        drop(o);
        if prompt {
            print_prompt();
        }
        None
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
        assert_eq!(parse("fault syscall vrrp"), ConsoleCmd::Fault(Fault::Syscall, Role::Vrrp));
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
