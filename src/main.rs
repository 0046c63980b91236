//! argv in, a role out: the parent (daemon or PID 1), a child, or one of the
//! one-shot commands (-t, --dump-config, status, -v, -h).

use std::process::ExitCode;
use vigil::cli::{self, Command, Options, Role};
use vigil::{config, supervisor};

#[global_allocator]
static ALLOC: vigil::os::mem::Counting = vigil::os::mem::Counting;

/// Exit codes (keepalived's where it has one).
mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 1;
    pub const CONFIG: u8 = 1;
    pub const RUNNING: u8 = 3;
    pub const STATUS: u8 = 4;
}

fn main() -> ExitCode {
    // genhash: `vigil genhash ...`, keepalived's `-T`/`--genhash` (first
    // option), or a link named genhash.
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let called = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a) == "genhash").unwrap_or(false);
    if called {
        return ExitCode::from(vigil::cli::genhash::main(&argv[1..]));
    }
    if matches!(argv.get(1).map(String::as_str), Some("genhash" | "-T" | "--genhash")) {
        return ExitCode::from(vigil::cli::genhash::main(&argv[2..]));
    }
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match opts.command {
        Command::Version => {
            print!("{}", cli::version::text());
            ExitCode::from(exit::OK)
        }
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::from(exit::OK)
        }
        Command::TestConfig => test_config(&opts),
        Command::DumpConfig => dump_config(&opts),
        Command::Status { json } => status(&opts, json),
        Command::Metrics => metrics(&opts),
        Command::Ctl(ref words) => ctl(&opts, words),
        // As keepalived: the number on stdout and 0, or its message on stderr and 1.
        Command::Signum(name) => match vigil::os::signals::signum(&name) {
            Some(n) => {
                println!("{n}");
                ExitCode::from(exit::OK)
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                ExitCode::from(exit::USAGE)
            }
        },
        Command::Run => ExitCode::from(run(opts)),
    }
}

fn load(opts: &Options) -> config::Loaded {
    config::load(&opts.config, &config::LoadOptions { config_id: opts.config_id.clone() })
}

/// The configuration to start with. With a persistent one (PID 1,
/// `vigil_persist=`): a version without problems is kept as the last good
/// copy; a version with problems is replaced by that copy, when there is
/// one that loads without problems (a bad edit must not take the appliance
/// down). Reloads read `opts.config` again, so a fixed file takes effect.
fn load_at_boot(opts: &Options, persist: Option<&vigil::init::persist::Persistent>) -> config::Loaded {
    let loaded = load(opts);
    for d in &loaded.diagnostics {
        log::warn!("{d}");
    }
    let Some(p) = persist else { return loaded };
    if !loaded.refuses_reload() {
        p.save_last_good();
        return loaded;
    }
    if !p.last_good.is_file() {
        log::error!("persist: {} has problems and there is no last good copy; running it as keepalived would", p.config.display());
        return loaded;
    }
    let good = config::load(&p.last_good, &config::LoadOptions { config_id: opts.config_id.clone() });
    if good.refuses_reload() {
        log::error!("persist: {} and its last good copy both have problems; running the former as keepalived would", p.config.display());
        return loaded;
    }
    log::error!(
        "persist: {} has {} problem(s); running the last good configuration {} (fix the file and reload)",
        p.config.display(),
        loaded.diagnostics.len(),
        p.last_good.display()
    );
    good
}

fn test_config(opts: &Options) -> ExitCode {
    let loaded = load(opts);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    // keepalived's codes: 0, 4 (a bad interface), 5 (problems), 6 (a
    // script security violation, or a missing include).
    ExitCode::from(loaded.test_exit_code())
}

fn dump_config(opts: &Options) -> ExitCode {
    let loaded = load(opts);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    println!("{}", config::to_json(&loaded.config));
    if loaded.has_errors() { ExitCode::from(exit::CONFIG) } else { ExitCode::from(exit::OK) }
}

fn ctl(opts: &Options, words: &[String]) -> ExitCode {
    match supervisor::query(&opts.control, &format!("ctl\t{}", words.join("\t"))) {
        Ok(r) => {
            print!("{r}");
            ExitCode::from(if r.starts_with("ok") { exit::OK } else { exit::STATUS })
        }
        Err(e) => {
            eprintln!("vigil: cannot reach the daemon at {}: {e}", opts.control.display());
            ExitCode::from(exit::STATUS)
        }
    }
}

fn metrics(opts: &Options) -> ExitCode {
    match supervisor::query(&opts.control, "metrics") {
        Ok(r) if r.starts_with("error: ") => {
            eprint!("vigil: {}", &r["error: ".len()..]);
            ExitCode::from(exit::STATUS)
        }
        Ok(r) => {
            print!("{r}");
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("vigil: cannot reach the daemon at {}: {e}", opts.control.display());
            ExitCode::from(exit::STATUS)
        }
    }
}

fn status(opts: &Options, json: bool) -> ExitCode {
    let reply = match supervisor::query(&opts.control, "status") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil: cannot reach the daemon at {}: {e}", opts.control.display());
            return ExitCode::from(exit::STATUS);
        }
    };
    if let Some(why) = reply.strip_prefix("error: ") {
        eprint!("vigil: {why}");
        return ExitCode::from(exit::STATUS);
    }
    if json {
        print!("{reply}");
        return ExitCode::from(exit::OK);
    }
    match serde_json::from_str::<supervisor::status::Status>(&reply) {
        Ok(st) => {
            print!("{}", st.text());
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("vigil: bad status reply: {e}");
            ExitCode::from(exit::STATUS)
        }
    }
}

fn sinks(opts: &Options) -> vigil::log::Sinks {
    vigil::log::Sinks { console: opts.log_console, syslog: !opts.no_syslog, detail: opts.log_detail }
}

fn run(mut opts: Options) -> u8 {
    if opts.mem_check {
        vigil::os::mem::enable();
    }
    if opts.role != Role::Parent {
        if let Err(e) = vigil::os::signals::block(vigil::os::signals::CHILD_SIGNALS) {
            eprintln!("vigil: blocking signals: {e}");
        }
        vigil::log::init(opts.role.name(), sinks(&opts));
        return vigil::role::run(&opts).clamp(0, 255) as u8;
    }
    let init = std::process::id() == 1 || opts.init;
    if init {
        // The appliance's console is where its log goes.
        opts.log_console = true;
        opts.dont_fork = true;
        install_pid1_panic_hook();
    } else if !opts.dont_fork {
        if let Err(e) = daemonize(opts.log_console) {
            eprintln!("vigil: cannot daemonize: {e}");
            return exit::USAGE;
        }
    }
    // Before any thread exists, so that every thread has them blocked.
    if let Err(e) = vigil::os::signals::block(vigil::os::signals::PARENT_SIGNALS) {
        eprintln!("vigil: blocking signals: {e}");
    }
    let boot = if init { Some(vigil::init::early_boot()) } else { None };
    vigil::log::init("vigil", sinks(&opts));
    if let Some(b) = &boot {
        log::info!("init: modules {} loaded, {} failed", b.modules_loaded, b.modules_failed);
        for (level, line) in &b.notes {
            log::log!(*level, "{line}");
        }
        if let Some(ms) = b.watchdog_ms.filter(|ms| (10..=3_600_000).contains(ms)) {
            opts.watchdog = std::time::Duration::from_millis(ms);
        }
        // `-i` given to PID 1 itself wins; otherwise the kernel command line's value. Kept in
        // opts, so both children get the same `-i` and see the same `@ID` lines.
        if opts.config_id.is_none() {
            if let Some(id) = &b.config_id {
                log::info!("init: config id {id} (vigil_config_id)");
                opts.config_id = Some(id.clone());
            }
        }
    }
    // Armed as soon as the tick that pets it is known; the parent's loop
    // takes it over, and disarms it at a clean stop.
    let hw = boot.as_ref().and_then(|b| vigil::init::hwwdt::arm(&b.hwwdt, opts.watchdog));
    if let Some(pid) = vigil::os::pidfile::running(&opts.pid_file) {
        log::error!("daemon is already running (pid {pid} in {})", opts.pid_file.display());
        if !init {
            return exit::RUNNING;
        }
    }
    if let Err(e) = vigil::os::pidfile::write(&opts.pid_file) {
        log::warn!("pid file {}: {e}", opts.pid_file.display());
    }
    let persist = boot.as_ref().and_then(|b| b.persist.clone());
    if let Some(p) = &persist {
        opts.config = p.config.clone();
        opts.last_good = Some(p.last_good.clone());
    }
    let loaded = load_at_boot(&opts, persist.as_ref());
    if init {
        vigil::init::boot_net::apply_static(&loaded.config);
    }
    let how = supervisor::run(opts.clone(), init, loaded.config, hw);
    supervisor::remove_pid_file(&opts.pid_file);
    if init {
        vigil::init::final_shutdown(how == supervisor::Shutdown::Reboot);
    }
    exit::OK
}

fn daemonize(keep_stderr: bool) -> std::io::Result<()> {
    use nix::unistd::{ForkResult, fork, setsid};
    // SAFETY: daemonize runs before main starts any thread, so the child is
    // a copy of a single-threaded process and may run arbitrary code.
    match unsafe { fork() }? {
        // SAFETY: _exit(2) takes an integer and never returns. Unlike exit it
        // runs no atexit handlers and flushes no stdio buffers, which the
        // child, not this parent, owns from now on.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => {}
    }
    setsid()?;
    std::env::set_current_dir("/")?;
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    use std::os::fd::AsRawFd;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    nix::unistd::dup2(null.as_raw_fd(), 1)?;
    if !keep_stderr {
        nix::unistd::dup2(null.as_raw_fd(), 2)?;
    }
    Ok(())
}

/// A panic in PID 1 is a kernel panic. With panic=abort we cannot unwind,
/// so the policy is: log it, sync, and reboot the appliance.
fn install_pid1_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("vigil: PID 1 panic: {info}; rebooting");
        log::error!("PID 1 panic: {info}; rebooting");
        nix::unistd::sync();
        let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    }));
}
