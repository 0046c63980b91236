//! The vrrp_script runner feeds the tracker from real script runs.

use smol::LocalExecutor;
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::rc::Rc;
use std::time::Duration;
use vigil::script::{RunAs, ScriptCommand, ScriptState, ScriptTracker, TrackEffect, TrackEvent, TrackWeight, effective_priority, run_tracker};

/// Trailing run of identical results in the script's log, and that result.
fn trailing(log: &str) -> (usize, String) {
    let lines: Vec<&str> = log.lines().collect();
    let last = lines.last().copied().unwrap_or("").to_string();
    (lines.iter().rev().take_while(|l| **l == last).count(), last)
}

#[test]
fn weight_applies_after_fall_failures_and_lifts_after_rise_successes() {
    let dir = std::env::temp_dir().join(format!("vigil-notify-track-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (ctrl, log, script) = (dir.join("ok"), dir.join("log"), dir.join("check.sh"));
    std::fs::write(&ctrl, "").expect("ctrl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e {c} ]; then echo ok >> {l}; exit 0; else echo fail >> {l}; exit 1; fi\n",
            c = ctrl.display(),
            l = log.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cmd = ScriptCommand::new(vec![script.to_string_lossy().into_owned()], RunAs::current());
    let (rise, fall) = (2usize, 3usize);
    let weight = TrackWeight { weight: -60, reverse: false };
    let events: Rc<RefCell<Vec<(TrackEvent, usize, String)>>> = Rc::default();
    let ex = LocalExecutor::new();
    let task = {
        let (events, log) = (events.clone(), log.clone());
        ex.spawn(async move {
            run_tracker(&cmd, ScriptTracker::new(rise as u32, fall as u32, false), Duration::from_millis(30), Duration::from_secs(2), |e| {
                let (n, what) = trailing(&std::fs::read_to_string(&log).unwrap_or_default());
                events.borrow_mut().push((e, n, what));
            })
            .await
        })
    };
    let wait_for = |count: usize| {
        let events = events.clone();
        async move {
            for _ in 0..500 {
                if events.borrow().len() >= count {
                    return true;
                }
                smol::Timer::after(Duration::from_millis(10)).await;
            }
            false
        }
    };
    smol::block_on(ex.run(async {
        assert!(wait_for(1).await, "no first result");
        std::fs::remove_file(&ctrl).expect("rm ctrl");
        assert!(wait_for(2).await, "never went down");
        std::fs::write(&ctrl, "").expect("ctrl");
        assert!(wait_for(3).await, "never came back");
    }));
    drop(task);
    let ev = events.borrow();
    // First run decides (INIT): up at once.
    assert_eq!((ev[0].0.state, ev[0].0.run), (ScriptState::Up, 1));
    assert_eq!(weight.effect(ev[0].0.state), TrackEffect::Priority(0));
    // Down after exactly `fall` failures: priority 100 → 40.
    assert_eq!((ev[1].0.state, ev[1].1, ev[1].2.as_str()), (ScriptState::Down, fall, "fail"));
    let TrackEffect::Priority(d) = weight.effect(ev[1].0.state) else { panic!("weight -60 is not a fault") };
    assert_eq!(effective_priority(100, [d]), 40);
    // Back after exactly `rise` successes.
    assert_eq!((ev[2].0.state, ev[2].1, ev[2].2.as_str()), (ScriptState::Up, rise, "ok"));
    assert_eq!(weight.effect(ev[2].0.state), TrackEffect::Priority(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hung_check_counts_as_failure() {
    let cmd = ScriptCommand::new(vec!["/bin/sleep".into(), "100".into()], RunAs::current());
    let got: Rc<RefCell<Vec<TrackEvent>>> = Rc::default();
    let ex = LocalExecutor::new();
    let g = got.clone();
    let task = ex.spawn(async move {
        run_tracker(&cmd, ScriptTracker::new(1, 1, false), Duration::from_millis(50), Duration::from_millis(200), |e| {
            g.borrow_mut().push(e)
        })
        .await
    });
    smol::block_on(ex.run(async {
        for _ in 0..300 {
            if !got.borrow().is_empty() {
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    }));
    drop(task);
    let ev = got.borrow();
    assert_eq!(ev.first().map(|e| e.state), Some(ScriptState::Down));
    assert_eq!(ev.first().map(|e| e.outcome), Some(vigil::script::ScriptOutcome::TimedOut));
}
