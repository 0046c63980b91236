//! Script runs never block the scheduler, and leave nothing behind.
//! Runs as root on the test machine (scripts are /bin/sh one-liners).

use smol::{LocalExecutor, Timer};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use vigil::script::{RunAs, RunningScript, ScriptCommand, ScriptOutcome, run_script};

fn sh(script: &str) -> ScriptCommand {
    ScriptCommand::new(vec!["/bin/sh".into(), "-c".into(), script.into()], RunAs::current())
}

/// (pid, state, ppid, pgrp) of every process.
fn procs() -> Vec<(i32, char, i32, i32)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // After the last ')': state ppid pgrp ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let state = f[0].chars().next().unwrap_or('?');
        out.push((pid, state, f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0)));
    }
    out
}

fn our_zombies() -> Vec<i32> {
    let me = std::process::id() as i32;
    procs().into_iter().filter(|p| p.2 == me && p.1 == 'Z').map(|p| p.0).collect()
}

/// Zombies of ours that stay (other tests' runs in flight are reaped fast).
fn lasting_zombies() -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let z = our_zombies();
        if z.is_empty() || Instant::now() > deadline {
            return z;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exit_codes_and_signals() {
    smol::block_on(async {
        assert_eq!(run_script(&sh("exit 0"), None).await, ScriptOutcome::Exited(0));
        assert_eq!(run_script(&sh("exit 3"), None).await, ScriptOutcome::Exited(3));
        assert_eq!(run_script(&sh("kill -TERM $$"), None).await, ScriptOutcome::Signaled(libc::SIGTERM));
        let missing = ScriptCommand::new(vec!["/nonexistent/script".into()], RunAs::current());
        assert!(matches!(run_script(&missing, None).await, ScriptOutcome::SpawnFailed(_)));
        let empty = ScriptCommand::new(vec![], RunAs::current());
        assert!(matches!(run_script(&empty, None).await, ScriptOutcome::SpawnFailed(_)));
    });
}

#[test]
fn hung_script_is_killed_with_its_process_group() {
    let started = Instant::now();
    let (outcome, pgid) = smol::block_on(async {
        let r = RunningScript::start(&sh("sleep 100 & sleep 100")).expect("spawn");
        let pgid = r.pid() as i32;
        // Let the shell start its background grandchild.
        Timer::after(Duration::from_millis(200)).await;
        let in_group = procs().iter().filter(|p| p.3 == pgid).count();
        assert!(in_group >= 3, "sh + 2 sleeps expected in pgid {pgid}, saw {in_group}");
        (r.wait(Some(Duration::from_secs(1))).await, pgid)
    });
    let took = started.elapsed();
    println!("hung script killed after {took:?}");
    assert_eq!(outcome, ScriptOutcome::TimedOut);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The grandchild was reparented; once SIGKILLed its new parent reaps it.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left: Vec<_> = procs().into_iter().filter(|p| p.3 == pgid && p.1 != 'Z').collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still alive in pgid {pgid}: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lasting_zombies().is_empty(), "zombies: {:?}", our_zombies());
}

#[test]
fn dropped_run_is_killed_and_reaped_later() {
    smol::block_on(async {
        let r = RunningScript::start(&sh("sleep 100")).expect("spawn");
        let pid = r.pid() as i32;
        drop(r);
        Timer::after(Duration::from_millis(100)).await;
        // The next start sweeps the killed child.
        assert_eq!(run_script(&sh("exit 0"), None).await, ScriptOutcome::Exited(0));
        assert!(!our_zombies().contains(&pid), "dropped child {pid} left a zombie");
    });
}

#[test]
fn timer_never_stalls_while_scripts_hang() {
    let ex = LocalExecutor::new();
    let max_gap = Rc::new(Cell::new(Duration::ZERO));
    let stop = Rc::new(Cell::new(false));
    let ticker = {
        let (max_gap, stop) = (max_gap.clone(), stop.clone());
        ex.spawn(async move {
            let mut last = Instant::now();
            while !stop.get() {
                Timer::after(Duration::from_millis(10)).await;
                let now = Instant::now();
                max_gap.set(max_gap.get().max(now - last));
                last = now;
            }
        })
    };
    let hung: Vec<_> = (0..10)
        .map(|_| ex.spawn(async { run_script(&sh("sleep 100"), Some(Duration::from_secs(2))).await }))
        .collect();
    smol::block_on(ex.run(async {
        for h in hung {
            assert_eq!(h.await, ScriptOutcome::TimedOut);
        }
        stop.set(true);
        ticker.await;
    }));
    println!("largest timer gap while 10 scripts hung: {:?}", max_gap.get());
    assert!(max_gap.get() < Duration::from_millis(200), "gap {:?}", max_gap.get());
}
