//! keepalived's command line, plus vigil's own flags for roles and labs.

pub mod genhash;
pub mod version;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(5);
pub const DEFAULT_CONTROL: &str = "/run/vigil/control.sock";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Parent,
    Vrrp,
    Check,
    /// keepalived's third child: the BFD sessions (only when the config has `bfd_instance`).
    Bfd,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Parent => "parent",
            Role::Vrrp => "vrrp",
            Role::Check => "check",
            Role::Bfd => "bfd",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Run,
    TestConfig,
    DumpConfig,
    Version,
    Help,
    Status { json: bool },
    /// `vigil metrics`: the Prometheus text of the running daemon.
    Metrics,
    /// `vigil ctl WORDS...`: a runtime action (drain, restore, demote, undemote).
    Ctl(Vec<String>),
    /// `--signum=NAME`: print the signal number keepalived uses for NAME.
    Signum(String),
}

#[derive(Clone, Debug)]
pub struct Options {
    pub command: Command,
    pub role: Role,
    pub config: PathBuf,
    pub dont_fork: bool,
    pub log_console: bool,
    pub log_detail: bool,
    pub no_syslog: bool,
    pub vrrp_only: bool,
    pub check_only: bool,
    /// -B: no BFD child, whatever the config holds.
    pub no_bfd: bool,
    pub dont_respawn: bool,
    pub pid_file: PathBuf,
    pub vrrp_pid_file: PathBuf,
    pub checkers_pid_file: PathBuf,
    pub bfd_pid_file: PathBuf,
    pub config_id: Option<String>,
    pub mem_check: bool,
    /// -I: leave the IPVS services in the kernel at stop.
    pub dont_release_ipvs: bool,
    /// -V / -X: accepted for keepalived's command line, not implemented
    /// (a warning is logged at start).
    pub unsupported_flags: Vec<String>,
    pub watchdog: Duration,
    pub init: bool,
    pub console: bool,
    pub control: PathBuf,
    /// `--metrics-listen ADDR:PORT`: the parent serves GET /metrics there.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// PID 1 with a persistent configuration: where the last good copy of
    /// `config` is kept (set at boot, not on the command line).
    pub last_good: Option<PathBuf>,
    /// `--json-version=1|2`: keepalived 2.2.7's /tmp/keepalived.json layout
    /// (1) or keepalived 2.3's (2). vigil-only: keepalived 2.2.7 has no
    /// `json_version` keyword, and `-t` must keep its verdicts.
    pub json_version: u8,
    /// `--no-seccomp`: the children run without their seccomp filters (for
    /// debugging; `VIGIL_SECCOMP=off` does the same, `=log` logs instead
    /// of killing). Their capabilities are cut all the same.
    pub no_seccomp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            command: Command::Run,
            role: Role::Parent,
            config: PathBuf::from(DEFAULT_CONFIG),
            dont_fork: false,
            log_console: false,
            log_detail: false,
            no_syslog: false,
            vrrp_only: false,
            check_only: false,
            no_bfd: false,
            dont_respawn: false,
            pid_file: PathBuf::from("/run/keepalived.pid"),
            vrrp_pid_file: PathBuf::from("/run/vrrp.pid"),
            checkers_pid_file: PathBuf::from("/run/checkers.pid"),
            bfd_pid_file: PathBuf::from("/run/bfd.pid"),
            config_id: None,
            mem_check: false,
            dont_release_ipvs: false,
            unsupported_flags: Vec::new(),
            watchdog: DEFAULT_WATCHDOG,
            init: false,
            console: false,
            control: PathBuf::from(DEFAULT_CONTROL),
            metrics_listen: None,
            last_good: None,
            json_version: 1,
            no_seccomp: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub const USAGE: &str = "\
Usage: vigil [OPTION...]
  -f, --use-file=FILE          Use the specified configuration file
                               (default /etc/keepalived/keepalived.conf)
  -P, --vrrp                   Only run with VRRP subsystem
  -C, --check                  Only run with Health-checker subsystem
  -B, --no_bfd                 Don't run BFD subsystem
  -l, --log-console            Log messages to local console
  -D, --log-detail             Detailed log messages
  -G, --no-syslog              Don't log via syslog
  -n, --dont-fork              Don't fork the daemon process
  -R, --dont-respawn           Don't respawn child processes
  -p, --pid=FILE               Use specified pidfile for parent process
  -r, --vrrp_pid=FILE          Use specified pidfile for VRRP child process
  -c, --checkers_pid=FILE      Use specified pidfile for checkers child process
  -b, --bfd_pid=FILE           Use specified pidfile for BFD child process
  -i, --config-id ID           Skip any configuration lines beginning '@' that don't match ID
                               or any lines beginning @^ that do match.
  -t, --config-test            Check the configuration for obvious errors
  -m, --mem-check              Count allocations per process (debug memory mode)
  -I, --dont-release-ipvs      Don't remove IPVS topology on daemon stop
  -V, -X                       Accepted for keepalived's command line; not implemented (logged)
      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS,
                               STATS_CLEAR, JSON
  -v, --version                Display the version number
  -h, --help                   Display this help message
vigil's own:
      --dump-config            Print the resolved configuration as JSON
      --watchdog-interval=MS   Hello interval of the child watchdog (default 5000)
      --init                   Run PID-1 duties even when not PID 1
      --console                Serve the diagnostics console on stdin/stdout
      --control=PATH           Control socket (default /run/vigil/control.sock)
      --metrics-listen=ADDR:PORT  Serve Prometheus metrics over HTTP (GET /metrics)
      --json-version=1|2       Layout of /tmp/keepalived.json: keepalived 2.2.7's (1, the
                               default) or keepalived 2.3's json_version 2
      --no-seccomp             Children run without their seccomp filters (debugging;
                               also VIGIL_SECCOMP=off, or =log to log forbidden calls)
      --role=vrrp|check|bfd    (internal) run as a child
  vigil status [--json] [--control=PATH]
                               Show the running daemon's status
  vigil metrics [--control=PATH]
                               Print the running daemon's Prometheus metrics
  vigil ctl drain|restore VS RS [--control=PATH]
                               Real server RS of VS to weight 0, checks going on
                               (VS and RS as status names them, or ADDR:PORT)
  vigil ctl demote|undemote INSTANCE [--control=PATH]
                               Give up mastership, effective priority held at 1
  vigil genhash -s ADDR -p PORT -u URL [-S] [-V VHOST] ...  (or -T, --genhash)
                               keepalived's genhash: the MD5 digest of a page
";

/// Parses argv (without argv[0]).
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Options, UsageError> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.into_string().map_err(|a| UsageError(format!("argument is not UTF-8: {a:?}"))))
        .collect::<Result<_, _>>()?;
    let mut o = Options::default();
    let mut i = 0;
    match args.first().map(String::as_str) {
        Some("status") => {
            o.command = Command::Status { json: false };
            i = 1;
        }
        Some("metrics") => {
            o.command = Command::Metrics;
            i = 1;
        }
        Some("ctl") => {
            // Everything up to the first option is the action.
            let words: Vec<String> = args[1..].iter().take_while(|a| !a.starts_with("--")).cloned().collect();
            i = 1 + words.len();
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            crate::ipc::CtlAction::parse(&w).map_err(UsageError)?;
            o.command = Command::Ctl(words);
        }
        _ => {}
    }
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // Split "--name=value" and "-fFILE".
        let (name, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-').and_then(|r| r.chars().next()).filter(|_| arg.chars().count() > 2) {
            // By characters, not bytes: `-é` must be an unknown option, not a
            // slice through a UTF-8 sequence (a panic; in PID 1 a reboot).
            let rest = &arg[1 + short.len_utf8()..];
            (format!("-{short}"), Some(rest.to_string()))
        } else {
            (arg.clone(), None)
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args.get(i).cloned().ok_or_else(|| UsageError(format!("option {what} needs a value")))?;
            i += 1;
            Ok(v)
        };
        let flag_only = |o: &mut Options, f: fn(&mut Options)| -> Result<(), UsageError> {
            if inline.is_some() && name.starts_with("--") {
                return Err(UsageError(format!("option {name} takes no value")));
            }
            f(o);
            Ok(())
        };
        match name.as_str() {
            "-f" | "--use-file" => o.config = PathBuf::from(value("-f")?),
            "-P" | "--vrrp" => flag_only(&mut o, |o| o.vrrp_only = true)?,
            "-C" | "--check" => flag_only(&mut o, |o| o.check_only = true)?,
            "-B" | "--no_bfd" => flag_only(&mut o, |o| o.no_bfd = true)?,
            "-l" | "--log-console" => flag_only(&mut o, |o| o.log_console = true)?,
            "-D" | "--log-detail" => flag_only(&mut o, |o| o.log_detail = true)?,
            "-G" | "--no-syslog" => flag_only(&mut o, |o| o.no_syslog = true)?,
            "-n" | "--dont-fork" => flag_only(&mut o, |o| o.dont_fork = true)?,
            "-R" | "--dont-respawn" => flag_only(&mut o, |o| o.dont_respawn = true)?,
            "-m" | "--mem-check" => flag_only(&mut o, |o| o.mem_check = true)?,
            "-I" | "--dont-release-ipvs" => flag_only(&mut o, |o| o.dont_release_ipvs = true)?,
            "-V" | "--dont-release-vrrp" | "-X" | "--release-vips" => {
                if inline.is_some() && name.starts_with("--") {
                    return Err(UsageError(format!("option {name} takes no value")));
                }
                o.unsupported_flags.push(name.clone());
            }
            "-p" | "--pid" => o.pid_file = PathBuf::from(value("-p")?),
            "-r" | "--vrrp_pid" => o.vrrp_pid_file = PathBuf::from(value("-r")?),
            "-c" | "--checkers_pid" => o.checkers_pid_file = PathBuf::from(value("-c")?),
            "-b" | "--bfd_pid" => o.bfd_pid_file = PathBuf::from(value("-b")?),
            "-i" | "--config-id" => o.config_id = Some(value("-i")?),
            // keepalived accepts an optional log file here; we print to stderr.
            "-t" | "--config-test" => o.command = Command::TestConfig,
            "-v" | "--version" => o.command = Command::Version,
            "-h" | "--help" => o.command = Command::Help,
            "--dump-config" => o.command = Command::DumpConfig,
            "--json" if matches!(o.command, Command::Status { .. }) => o.command = Command::Status { json: true },
            // keepalived answers --signum where it meets it and exits,
            // whatever else argv holds.
            "--signum" => {
                let v = value("--signum")?;
                if v.is_empty() {
                    return Err(UsageError("Missing parameter for option --signum".into()));
                }
                o.command = Command::Signum(v);
                return Ok(o);
            }
            "--json-version" => {
                o.json_version = match value("--json-version")?.as_str() {
                    "1" => 1,
                    "2" => 2,
                    other => return Err(UsageError(format!("--json-version: {other:?} is not 1 or 2"))),
                };
            }
            "--init" => o.init = true,
            "--no-seccomp" => o.no_seccomp = true,
            "--console" => o.console = true,
            "--control" => o.control = PathBuf::from(value("--control")?),
            "--metrics-listen" => {
                let v = value("--metrics-listen")?;
                let addr = v.parse().map_err(|_| UsageError(format!("--metrics-listen: {v:?} is not ADDR:PORT (e.g. 127.0.0.1:9650 or [::1]:9650)")))?;
                o.metrics_listen = Some(addr);
            }
            "--watchdog-interval" => {
                let v = value("--watchdog-interval")?;
                let ms: u64 = v
                    .parse()
                    .ok()
                    .filter(|ms| (10..=3_600_000).contains(ms))
                    .ok_or_else(|| UsageError(format!("--watchdog-interval: {v:?} is not a number of ms in 10..=3600000")))?;
                o.watchdog = Duration::from_millis(ms);
            }
            "--role" => {
                o.role = match value("--role")?.as_str() {
                    "vrrp" => Role::Vrrp,
                    "check" => Role::Check,
                    "bfd" => Role::Bfd,
                    other => return Err(UsageError(format!("unknown role {other:?}"))),
                };
            }
            _ => return Err(UsageError(format!("unknown option {arg:?}\n{USAGE}"))),
        }
    }
    if o.vrrp_only && o.check_only {
        return Err(UsageError("-P and -C exclude each other".into()));
    }
    Ok(o)
}

impl Options {
    /// Whether the BFD child runs: keepalived starts it when the config has
    /// a `bfd_instance`, unless -B, or -P / -C asked for one subsystem only.
    pub fn runs_bfd(&self, config: &crate::config::Config) -> bool {
        !self.no_bfd && !self.vrrp_only && !self.check_only && !config.bfd_instances.is_empty()
    }

    /// The pid file of `role`'s child (-r, -c, -b).
    pub fn child_pid_file(&self, role: Role) -> &std::path::Path {
        match role {
            Role::Vrrp => &self.vrrp_pid_file,
            Role::Bfd => &self.bfd_pid_file,
            _ => &self.checkers_pid_file,
        }
    }

    /// The arguments a child is started with: the same config and logging,
    /// plus its role.
    pub fn child_args(&self, role: Role) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--role".into(), role.name().into(), "-f".into(), self.config.clone().into()];
        if self.log_console {
            v.push("-l".into());
        }
        if self.log_detail {
            v.push("-D".into());
        }
        if self.no_syslog {
            v.push("-G".into());
        }
        if self.mem_check {
            v.push("-m".into());
        }
        if self.dont_release_ipvs {
            v.push("-I".into());
        }
        if self.json_version != 1 {
            v.push(format!("--json-version={}", self.json_version).into());
        }
        if self.no_seccomp {
            v.push("--no-seccomp".into());
        }
        if let Some(id) = &self.config_id {
            v.push("-i".into());
            v.push(id.into());
        }
        let pid = match role {
            Role::Vrrp => ("-r", &self.vrrp_pid_file),
            Role::Bfd => ("-b", &self.bfd_pid_file),
            _ => ("-c", &self.checkers_pid_file),
        };
        v.push(pid.0.into());
        v.push(pid.1.clone().into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, UsageError> {
        parse(s.split_whitespace().map(OsString::from))
    }

    #[test]
    fn dont_release_ipvs_reaches_the_checker_child() {
        let o = p("-n -I -V --release-vips").unwrap();
        assert!(o.dont_release_ipvs);
        assert_eq!(o.unsupported_flags, vec!["-V".to_string(), "--release-vips".to_string()]);
        let args: Vec<String> = o.child_args(Role::Check).into_iter().map(|a| a.into_string().unwrap()).collect();
        assert!(args.contains(&"-I".to_string()), "{args:?}");
        assert!(p("--dont-release-ipvs=1").is_err());
    }

    #[test]
    fn keepalived_short_and_long_forms() {
        let o = p("-n -l -D -P -f /x.conf -p /a -r /b -c /c -i node1").unwrap();
        assert!(o.dont_fork && o.log_console && o.log_detail && o.vrrp_only);
        assert_eq!(o.config, PathBuf::from("/x.conf"));
        assert_eq!((o.pid_file.to_str(), o.vrrp_pid_file.to_str(), o.checkers_pid_file.to_str()), (Some("/a"), Some("/b"), Some("/c")));
        assert_eq!(o.config_id.as_deref(), Some("node1"));
        let o = p("--dont-fork --log-console --use-file=/y.conf --vrrp_pid /b --config-id=n2 --check").unwrap();
        assert!(o.dont_fork && o.log_console && o.check_only);
        assert_eq!(o.config, PathBuf::from("/y.conf"));
        assert_eq!(o.config_id.as_deref(), Some("n2"));
        let o = p("-f/z.conf -t").unwrap();
        assert_eq!(o.config, PathBuf::from("/z.conf"));
        assert_eq!(o.command, Command::TestConfig);
    }

    #[test]
    fn bfd_options_as_keepalived() {
        let o = p("-B -b /x/bfd.pid").unwrap();
        assert!(o.no_bfd);
        assert_eq!(o.bfd_pid_file, PathBuf::from("/x/bfd.pid"));
        let o = p("--no_bfd --bfd_pid=/y.pid").unwrap();
        assert!(o.no_bfd);
        assert_eq!(o.bfd_pid_file, PathBuf::from("/y.pid"));
        assert!(p("--no_bfd=1").is_err());
        let c = parse(p("-b /z.pid -l").unwrap().child_args(Role::Bfd)).unwrap();
        assert_eq!(c.role, Role::Bfd);
        assert_eq!(c.bfd_pid_file, PathBuf::from("/z.pid"));
        assert_eq!(p("-b/w.pid").unwrap().bfd_pid_file, PathBuf::from("/w.pid"));
    }

    #[test]
    fn errors_are_clear() {
        assert!(p("-f").unwrap_err().0.contains("needs a value"));
        assert!(p("--bogus").unwrap_err().0.contains("unknown option"));
        assert!(p("-P -C").is_err());
        assert!(p("--watchdog-interval 0").is_err());
        assert!(p("--role other").is_err());
        assert!(p("--dont-fork=yes").is_err());
        // Any argv gives an error, never a panic.
        for bad in ["-é", "-éé", "-fé", "-\u{1F600}x", "--é", "-", "é"] {
            let _ = parse(vec![std::ffi::OsString::from(bad)]);
        }
        assert!(p("-é").unwrap_err().0.contains("unknown option"));
        assert_eq!(p("-fé").unwrap().config, std::path::PathBuf::from("é"));
    }

    #[test]
    fn signum_stops_parsing_as_keepalived_does() {
        assert_eq!(p("--signum=DATA").unwrap().command, Command::Signum("DATA".into()));
        assert_eq!(p("--signum JSON -Z").unwrap().command, Command::Signum("JSON".into()));
        assert_eq!(p("-n --signum=nope").unwrap().command, Command::Signum("nope".into()));
        assert!(p("--signum").is_err());
        assert!(p("--signum=").unwrap_err().0.contains("Missing parameter"));
    }

    #[test]
    fn json_version_reaches_the_children() {
        assert_eq!(p("-n").unwrap().json_version, 1);
        let o = p("--json-version=2").unwrap();
        assert_eq!(o.json_version, 2);
        assert_eq!(parse(o.child_args(Role::Vrrp)).unwrap().json_version, 2);
        assert!(p("--json-version=3").is_err());
    }

    #[test]
    fn status_and_roles() {
        assert_eq!(p("status --json").unwrap().command, Command::Status { json: true });
        let o = p("--role vrrp --watchdog-interval=250").unwrap();
        assert_eq!(o.role, Role::Vrrp);
        assert_eq!(o.watchdog, Duration::from_millis(250));
    }

    #[test]
    fn metrics_and_ctl() {
        assert_eq!(p("metrics --control=/x").unwrap().command, Command::Metrics);
        let o = p("ctl drain 192.0.2.1:80 10.0.0.1:80 --control=/tmp/c").unwrap();
        assert_eq!(o.command, Command::Ctl(vec!["drain".into(), "192.0.2.1:80".into(), "10.0.0.1:80".into()]));
        assert_eq!(o.control, PathBuf::from("/tmp/c"));
        assert_eq!(p("ctl demote VI_1").unwrap().command, Command::Ctl(vec!["demote".into(), "VI_1".into()]));
        assert!(p("ctl demote").unwrap_err().0.contains("usage: vigil ctl"));
        assert!(p("ctl drain onlyone").is_err());
        assert_eq!(p("--metrics-listen=[::1]:9650").unwrap().metrics_listen, Some("[::1]:9650".parse().unwrap()));
        assert!(p("--metrics-listen=nowhere").is_err());
    }

    #[test]
    fn child_args_round_trip() {
        let o = p("-l -m -f /k.conf -i a -r /v.pid").unwrap();
        let c = parse(o.child_args(Role::Vrrp)).unwrap();
        assert_eq!(c.role, Role::Vrrp);
        assert!(c.log_console && c.mem_check);
        assert!(!c.no_seccomp);
        assert!(parse(p("--no-seccomp").unwrap().child_args(Role::Check)).unwrap().no_seccomp);
        assert_eq!(c.config, PathBuf::from("/k.conf"));
        assert_eq!(c.vrrp_pid_file, PathBuf::from("/v.pid"));
        assert_eq!(c.config_id.as_deref(), Some("a"));
    }
}
