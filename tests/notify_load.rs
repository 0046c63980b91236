//! 1000 script runs leave no zombie and no fd behind. One test in this
//! binary, so nothing else opens fds or forks meanwhile.

use std::time::Duration;
use vigil::script::{RunAs, ScriptCommand, ScriptOutcome, run_script};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn zombies() -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[0] == "Z" && f[1] == me {
            n += 1;
        }
    }
    n
}

#[test]
fn thousand_runs_leave_no_zombie_and_no_fd() {
    let t = ScriptCommand::new(vec!["/bin/true".into()], RunAs::current());
    let f = ScriptCommand::new(vec!["/bin/false".into()], RunAs::current());
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        // Warm up the reactor (its epoll fd and notifier) before counting.
        assert_eq!(run_script(&t, None).await, ScriptOutcome::Exited(0));
        let before = fd_count();
        for _ in 0..500 {
            assert_eq!(run_script(&t, Some(Duration::from_secs(5))).await, ScriptOutcome::Exited(0));
        }
        for _ in 0..50 {
            let batch: Vec<_> = (0..10)
                .map(|i| {
                    let cmd = if i % 2 == 0 { t.clone() } else { f.clone() };
                    ex.spawn(async move { run_script(&cmd, Some(Duration::from_secs(5))).await })
                })
                .collect();
            for (i, task) in batch.into_iter().enumerate() {
                let want = if i % 2 == 0 { 0 } else { 1 };
                assert_eq!(task.await, ScriptOutcome::Exited(want));
            }
        }
        let after = fd_count();
        println!("fds before {before}, after 1000 runs {after}");
        assert_eq!(before, after, "fd growth");
        assert_eq!(zombies(), 0);
    }));
}
