//! The VRRP state machine with injected time: every timer checked to the
//! microsecond, every behaviour keepalived has that the FSM models.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vigil::vrrp::fsm::{
    Action, Advert, AdvertInterval, Centiseconds, Duration, Fsm, FsmConfig, InitialState, Input, Instant, Seconds,
    State, StateChange,
};

const US: u64 = 1;
const MS: u64 = 1_000;
const S: u64 = 1_000_000;

fn at(us: u64) -> Instant {
    Instant::from_micros(us)
}
fn v2(s: u8) -> AdvertInterval {
    AdvertInterval::V2(Seconds(s))
}
fn v3(cs: u16) -> AdvertInterval {
    AdvertInterval::V3(Centiseconds::from_wire(cs))
}
fn ip4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}
fn ip6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last))
}
fn cfg(prio: u8, iv: AdvertInterval) -> FsmConfig {
    FsmConfig::new(prio, iv, ip4(5))
}
fn adv(priority: u8, src: IpAddr, interval: AdvertInterval) -> Input {
    Input::AdvertReceived(Advert { priority, src, interval })
}
fn notify(from: State, to: State) -> Action {
    Action::Notify(StateChange { from, to })
}
fn become_master(from: State, prio: u8) -> Vec<Action> {
    vec![
        Action::AddVips,
        Action::SendGratuitous { repeat: 5 },
        notify(from, State::Master),
        Action::SendAdvert { priority: prio },
    ]
}
fn started(c: FsmConfig, now: u64) -> Fsm {
    let mut f = Fsm::new(c);
    f.handle(at(now), Input::Startup);
    f
}
/// A backup that became master at `Master_Down_Interval` after `t0`.
fn master(c: FsmConfig) -> Fsm {
    let mut f = started(c, 0);
    let when = f.poll_at().unwrap_or(Instant::ZERO);
    f.poll(when);
    assert_eq!(f.state(), State::Master);
    f
}

#[test]
fn startup_backup_becomes_master_after_exactly_master_down_interval() {
    // (interval, priority, Master_Down_Interval in us)
    let table: &[(AdvertInterval, u8, u64)] = &[
        (v2(1), 100, 3 * S + 609_375),            // RFC 3768: 3 s + 156/256 s
        (v2(1), 150, 3 * S + 414_062),            // 106/256 s = 0.4140625 s, us truncated
        (v2(3), 200, 9 * S + 218_750),            // v2 skew does not scale with the interval
        (v2(1), 254, 3 * S + 7_812),
        (v3(100), 150, 3 * S + 414_062),          // RFC 5798: 300 cs + 41.40625 cs
        (v3(100), 100, 3 * S + 609_375),
        (v3(5), 100, 150 * MS + 30_468),          // LAB-NOTES: 150 + 30 ms
        (v3(5), 150, 150 * MS + 20_703),
        (v3(1), 254, 30 * MS + 78),               // skew 0.78 ms, not truncated to 0
        (v3(4095), 1, 122_850 * MS + 40_790_039), // the largest: no overflow
    ];
    for &(iv, prio, down) in table {
        let mut c = cfg(prio, iv);
        c.garp.master_delay = Duration::ZERO; // only the advert timer after takeover
        let mut f = Fsm::new(c);
        assert_eq!(f.state(), State::Initialize);
        assert_eq!(f.poll_at(), None);
        let a = f.handle(at(1_000), Input::Startup);
        // Stale VIPs of a crashed run are removed first, as keepalived does at init.
        assert_eq!(a.as_slice(), &[Action::RemoveVips, notify(State::Initialize, State::Backup)]);
        assert_eq!(f.poll_at(), Some(at(1_000 + down)), "{iv:?} prio {prio}");
        assert!(f.poll(at(1_000 + down - US)).is_empty());
        assert_eq!(f.state(), State::Backup);
        let a = f.poll(at(1_000 + down));
        assert_eq!(a.as_slice(), become_master(State::Backup, prio).as_slice(), "{iv:?} prio {prio}");
        // Next advert one own interval later.
        assert_eq!(f.poll_at(), Some(at(1_000 + down + iv.to_duration().as_micros())));
    }
}

#[test]
fn backup_adverts_keep_resetting_the_down_timer() {
    let mut f = started(cfg(100, v2(1)), 0);
    for k in 1..=20u64 {
        let now = k * S;
        assert!(f.poll(at(now - 1)).is_empty());
        assert!(f.handle(at(now), adv(200, ip4(9), v2(1))).is_empty());
        assert_eq!(f.poll_at(), Some(at(now + 3 * S + 609_375)));
    }
    assert_eq!(f.state(), State::Backup);
    assert_eq!(f.last_master(), Some((ip4(9), 200)));
    // Master vanishes after the advert at 20 s.
    assert!(f.poll(at(23 * S + 609_374)).is_empty());
    assert_eq!(f.poll(at(23 * S + 609_375)).first(), Some(&Action::AddVips));
}

#[test]
fn priority_zero_makes_the_backup_take_over_after_its_skew() {
    for (iv, prio, skew) in [(v2(1), 100u8, 609_375u64), (v3(100), 150, 414_062), (v3(5), 100, 30_468)] {
        let mut f = started(cfg(prio, iv), 0);
        f.handle(at(S / 2), adv(200, ip4(9), iv));
        f.handle(at(S), adv(0, ip4(9), iv));
        assert_eq!(f.poll_at(), Some(at(S + skew)), "{iv:?}");
        assert!(f.poll(at(S + skew - 1)).is_empty());
        assert_eq!(f.poll(at(S + skew)).as_slice(), become_master(State::Backup, prio).as_slice());
        assert_eq!(f.stats().priority_zero_received, 1);
    }
}

#[test]
fn v3_priority_zero_skew_uses_the_learnt_master_interval() {
    let mut f = started(cfg(100, v3(100)), 0);
    f.handle(at(0), adv(200, ip4(9), v3(20)));
    f.handle(at(S), adv(0, ip4(9), v3(20)));
    // 156 * 20 / 256 cs = 12.1875 cs
    assert_eq!(f.poll_at(), Some(at(S + 121_875)));
}

#[test]
fn preempt_nopreempt_and_preempt_delay() {
    // A backup of priority 200 hearing a master of priority 100 every second.
    let run = |c: FsmConfig| -> (Fsm, Option<u64>) {
        let mut f = started(c, 0);
        let mut became = None;
        for ms in (0..60_000u64).step_by(10) {
            let now = ms * MS;
            if f.poll_at().is_some_and(|t| t <= at(now)) {
                f.poll(at(now));
            }
            if f.state() == State::Master {
                became = Some(now);
                break;
            }
            if ms % 1000 == 500 {
                f.handle(at(now), adv(100, ip4(9), v2(1)));
            }
        }
        (f, became)
    };
    // preempt (default): the lower adverts are ignored, master after the
    // Master_Down_Interval from startup.
    let (f, became) = run(cfg(200, v2(1)));
    assert_eq!(became, Some(3_220 * MS)); // deadline 3.21875 s, polled on a 10 ms grid
    assert!(f.stats().lower_priority_ignored >= 3);

    // Exact deadline, not grid: poll_at is startup + down.
    let mut f = started(cfg(200, v2(1)), 0);
    f.handle(at(S / 2), adv(100, ip4(9), v2(1)));
    assert_eq!(f.poll_at(), Some(at(3 * S + 218_750)));

    // nopreempt: a backup accepts the lower master for ever.
    let mut c = cfg(200, v2(1));
    c.preempt = false;
    let (f, became) = run(c);
    assert_eq!(became, None);
    assert_eq!(f.state(), State::Backup);
    assert_eq!(f.last_master(), Some((ip4(9), 100)));

    // preempt_delay 10 s: the delay starts at the first lower advert (0.5 s);
    // adverts are accepted until 10.5 s; the one at 10.5 s is ignored, so
    // takeover is Master_Down_Interval after the advert at 9.5 s.
    let mut c = cfg(200, v2(1));
    c.preempt_delay = Duration::from_secs(10);
    let mut f = started(c, 0);
    for k in 0..12u64 {
        let now = k * S + S / 2;
        assert!(f.poll(at(now - 1)).is_empty(), "at {now}");
        f.handle(at(now), adv(100, ip4(9), v2(1)));
        if now < 10 * S + S / 2 {
            assert_eq!(f.poll_at(), Some(at(now + 3 * S + 218_750)), "accepted at {now}");
        } else {
            assert_eq!(f.poll_at(), Some(at(9 * S + S / 2 + 3 * S + 218_750)), "ignored at {now}");
        }
    }
    assert_eq!(f.state(), State::Backup);
    assert_eq!(f.poll(at(9 * S + S / 2 + 3 * S + 218_750)).first(), Some(&Action::AddVips));

    // A higher-or-equal advert stops the running delay.
    let mut c = cfg(200, v2(1));
    c.preempt_delay = Duration::from_secs(10);
    let mut f = started(c, 0);
    f.handle(at(S), adv(100, ip4(9), v2(1))); // delay until 11 s
    f.handle(at(2 * S), adv(250, ip4(8), v2(1))); // delay cleared
    f.handle(at(12 * S), adv(100, ip4(9), v2(1))); // restarts: until 22 s, accepted
    assert_eq!(f.poll_at(), Some(at(12 * S + 3 * S + 218_750)));
}

#[test]
fn initial_state_master_clears_nopreempt_and_preempt_delay_and_starts_as_backup() {
    let mut c = cfg(150, v2(1));
    c.initial = InitialState::Master;
    c.preempt = false;
    c.preempt_delay = Duration::from_secs(30);
    let mut f = Fsm::new(c);
    assert!(f.config().preempt);
    assert_eq!(f.config().preempt_delay, Duration::ZERO);
    assert_eq!(f.handle(at(0), Input::Startup).as_slice(), &[Action::RemoveVips, notify(State::Initialize, State::Backup)]);
    assert_eq!(f.poll_at(), Some(at(3 * S + 414_062)));
}

#[test]
fn equal_priority_tie_break_on_primary_address() {
    // (our address, their address, does the master yield?)
    let cases: &[(IpAddr, IpAddr, bool)] = &[
        (ip4(5), ip4(9), true),
        (ip4(5), ip4(2), false),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200)), IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), true), // numeric, not last octet
        (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 255, 255, 255)), false),
        (ip6(5), ip6(9), true),
        (ip6(5), ip6(1), false),
        (ip6(0xffff), IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 1, 0, 0, 0, 0)), true),
    ];
    for &(ours, theirs, yields) in cases {
        let mut c = cfg(100, v3(100));
        c.primary_addr = ours;
        let mut f = master(c);
        let a = f.handle(at(10 * S), adv(100, theirs, v3(100)));
        if yields {
            assert_eq!(a.as_slice(), &[Action::RemoveVips, notify(State::Master, State::Backup)], "{ours} vs {theirs}");
            assert_eq!(f.state(), State::Backup);
            assert_eq!(f.poll_at(), Some(at(10 * S + 3 * S + 609_375)));
        } else {
            assert_eq!(a.as_slice(), &[Action::SendAdvert { priority: 100 }], "{ours} vs {theirs}");
            assert_eq!(f.state(), State::Master);
        }
    }
    // In Backup, equal priority is always accepted (RFC 6.4.2: >=).
    let mut f = started(cfg(100, v2(1)), 0);
    f.handle(at(S), adv(100, ip4(1), v2(1)));
    assert_eq!(f.poll_at(), Some(at(S + 3 * S + 609_375)));
}

#[test]
fn equal_priority_from_our_own_address_or_other_family_changes_nothing() {
    for theirs in [ip4(5), ip6(9)] {
        let mut f = master(cfg(100, v2(1)));
        let a = f.handle(at(10 * S), adv(100, theirs, v2(1)));
        assert!(a.is_empty(), "{theirs}");
        assert_eq!(f.state(), State::Master);
    }
}

#[test]
fn address_owner_goes_straight_to_master_and_never_changes_priority() {
    let mut f = Fsm::new(cfg(255, v2(1)));
    let a = f.handle(at(7), Input::Startup);
    assert_eq!(a.as_slice(), become_master(State::Initialize, 255).as_slice());
    assert_eq!(f.poll_at(), Some(at(7 + S)));
    f.handle(at(8), Input::EffectivePriorityChanged(50));
    assert_eq!(f.effective_priority(), 255);
    // Back from a fault the owner is master at once too.
    f.handle(at(S), Input::Fault);
    let a = f.handle(at(2 * S), Input::FaultCleared);
    assert_eq!(a.as_slice(), become_master(State::Fault, 255).as_slice());
    // A second owner: keepalived steps down to 254 and yields.
    let a = f.handle(at(3 * S), adv(255, ip4(9), v2(1)));
    assert_eq!(a.as_slice(), &[Action::RemoveVips, notify(State::Master, State::Backup)]);
    assert_eq!(f.effective_priority(), 254);
    assert_eq!(f.stats().owner_conflict, 1);
}

#[test]
fn shutdown_sends_priority_zero_only_from_master() {
    let mut f = master(cfg(100, v2(1)));
    let a = f.handle(at(10 * S), Input::Shutdown);
    assert_eq!(
        a.as_slice(),
        &[Action::SendAdvert { priority: 0 }, Action::RemoveVips, notify(State::Master, State::Stop)]
    );
    assert_eq!(f.poll_at(), None);
    assert!(f.handle(at(11 * S), Input::Shutdown).is_empty());
    assert!(f.handle(at(11 * S), adv(200, ip4(9), v2(1))).is_empty());

    let mut f = started(cfg(100, v2(1)), 0);
    assert_eq!(f.handle(at(S), Input::Shutdown).as_slice(), &[notify(State::Backup, State::Stop)]);
}

#[test]
fn fault_and_recovery() {
    let mut f = master(cfg(150, v3(10)));
    let t = 5 * S;
    let a = f.handle(at(t), Input::Fault);
    assert_eq!(
        a.as_slice(),
        &[Action::SendAdvert { priority: 0 }, Action::RemoveVips, notify(State::Master, State::Fault)]
    );
    assert_eq!(f.poll_at(), None);
    assert!(f.handle(at(t + 1), Input::Fault).is_empty(), "level, not edge");
    assert!(f.handle(at(t + 2), adv(200, ip4(9), v3(10))).is_empty());
    assert_eq!(f.stats().ignored_in_state, 1);
    let a = f.handle(at(t + S), Input::FaultCleared);
    assert_eq!(a.as_slice(), &[notify(State::Fault, State::Backup)]);
    // 300 ms + 106*10/256 cs = 41.40625 ms
    assert_eq!(f.poll_at(), Some(at(t + S + 300 * MS + 41_406)));

    // Backup -> Fault -> Backup; Fault before Startup starts in Fault.
    let mut f = started(cfg(100, v2(1)), 0);
    assert_eq!(f.handle(at(S), Input::Fault).as_slice(), &[notify(State::Backup, State::Fault)]);
    let mut f = Fsm::new(cfg(100, v2(1)));
    assert!(f.handle(at(0), Input::Fault).is_empty());
    assert_eq!(f.handle(at(0), Input::Startup).as_slice(), &[Action::RemoveVips, notify(State::Initialize, State::Fault)]);
    assert!(!f.handle(at(1), Input::FaultCleared).is_empty());
    assert_eq!(f.state(), State::Backup);
}

/// RFC 9568 §6.4.2: a Backup takes Active_Adver_Interval from the advert
/// and recomputes Skew_Time and Active_Down_Interval from it (the step RFC
/// 9568 added to RFC 5798's text); §6.4.3: a router yielding does the same.
#[test]
fn v3_backup_adopts_the_master_interval_then_advertises_its_own() {
    let mut f = started(cfg(100, v3(100)), 0);
    f.handle(at(S), adv(200, ip4(9), v3(50)));
    // 3 * 500 ms + 156 * 50 / 256 cs (304.6875 ms)
    assert_eq!(f.poll_at(), Some(at(S + 1_500 * MS + 304_687)));
    assert_eq!(f.master_adver_interval(), v3(50));
    f.poll(at(S + 1_500 * MS + 304_687));
    assert_eq!(f.state(), State::Master);
    assert_eq!(f.master_adver_interval(), v3(100));
    assert_eq!(f.poll_at(), Some(at(S + 1_500 * MS + 304_687 + S)));

    // A master yielding to a higher priority adopts its interval too.
    let mut f = master(cfg(100, v3(100)));
    f.handle(at(10 * S), adv(200, ip4(9), v3(200)));
    assert_eq!(f.poll_at(), Some(at(10 * S + 6 * S + 1_218_750)));
}

#[test]
fn v2_interval_mismatch_is_dropped_and_version_mismatch_too() {
    let mut f = started(cfg(100, v2(1)), 0);
    f.handle(at(S), adv(200, ip4(9), v2(2)));
    f.handle(at(S), adv(200, ip4(9), v3(100)));
    f.handle(at(S), adv(200, ip4(9), v3(0)));
    assert_eq!(f.poll_at(), Some(at(3 * S + 609_375)), "timer not reset");
    assert_eq!(f.stats().interval_mismatch, 1);
    assert_eq!(f.stats().version_mismatch, 2);
    let mut f = started(cfg(100, v3(100)), 0);
    f.handle(at(S), adv(200, ip4(9), v3(0)));
    assert_eq!(f.stats().interval_mismatch, 1);
    assert_eq!(f.poll_at(), Some(at(3 * S + 609_375)));
}

/// RFC 9568 §6.4.3: the Active router answers a priority-0 advert and a
/// lower priority one with an advert at once (the second is new in RFC
/// 9568; keepalived did it already, `lower_prio_no_advert` turns it off).
#[test]
fn master_answers_priority_zero_and_lower_priority_at_once() {
    let mut f = master(cfg(150, v2(1)));
    let t0 = f.poll_at().unwrap_or(Instant::ZERO); // next regular advert
    let now = t0.as_micros() - 300 * MS;
    let a = f.handle(at(now), adv(0, ip4(9), v2(1)));
    assert_eq!(a.as_slice(), &[Action::SendAdvert { priority: 150 }]);
    assert_eq!(f.poll_at(), Some(at(now + S)), "advert timer restarts");
    let a = f.handle(at(now + 1), adv(100, ip4(9), v2(1)));
    assert_eq!(a.as_slice(), &[Action::SendAdvert { priority: 150 }]);
    assert_eq!(f.state(), State::Master);

    let mut c = cfg(150, v2(1));
    c.lower_prio_no_advert = true;
    c.garp.lower_prio_repeat = 2;
    let mut f = master(c);
    let a = f.handle(at(10 * S), adv(100, ip4(9), v2(1)));
    assert_eq!(a.as_slice(), &[Action::SendGratuitous { repeat: 2 }]);

    let mut c = cfg(150, v2(1));
    c.higher_prio_send_advert = true;
    let mut f = master(c);
    let a = f.handle(at(10 * S), adv(200, ip4(9), v2(1)));
    assert_eq!(
        a.as_slice(),
        &[Action::SendAdvert { priority: 150 }, Action::RemoveVips, notify(State::Master, State::Backup)]
    );
}

#[test]
fn lowered_priority_master_keeps_advertising_it_without_priority_zero() {
    let mut f = master(cfg(150, v3(10)));
    let next = f.poll_at().unwrap_or(Instant::ZERO);
    assert!(f.handle(next.sub(Duration::from_micros(1)), Input::EffectivePriorityChanged(90)).is_empty());
    assert_eq!(f.state(), State::Master);
    assert_eq!(f.poll(next).as_slice(), &[Action::SendAdvert { priority: 90 }]);
    // Clamped to 1..=254 as keepalived does.
    f.handle(next, Input::EffectivePriorityChanged(0));
    assert_eq!(f.effective_priority(), 1);
    f.handle(next, Input::EffectivePriorityChanged(255));
    assert_eq!(f.effective_priority(), 254);
}

#[test]
fn backup_priority_change_moves_the_down_deadline() {
    let mut f = started(cfg(100, v2(1)), 0);
    f.handle(at(S), adv(200, ip4(9), v2(1)));
    assert_eq!(f.poll_at(), Some(at(S + 3 * S + 609_375)));
    f.handle(at(2 * S), Input::EffectivePriorityChanged(200));
    assert_eq!(f.poll_at(), Some(at(S + 3 * S + 218_750)));
    f.handle(at(2 * S), Input::EffectivePriorityChanged(50));
    assert_eq!(f.poll_at(), Some(at(S + 3 * S + 804_687)));
}

#[test]
fn garp_schedule_delay_and_refresh() {
    let mut c = cfg(100, v2(1));
    c.garp.master_delay = Duration::from_millis(2_500);
    c.garp.master_repeat = 3;
    c.garp.master_refresh = Some(Duration::from_secs(4));
    c.garp.master_refresh_repeat = 2;
    let mut f = Fsm::new(c);
    f.handle(at(0), Input::Startup);
    let t0 = 3 * S + 609_375;
    let a = f.poll(at(t0));
    assert_eq!(a.get(1), Some(&Action::SendGratuitous { repeat: 3 }));
    let mut log = Vec::new();
    while let Some(t) = f.poll_at() {
        if t > at(t0 + 9 * S) {
            break;
        }
        for a in f.poll(t) {
            if let Action::SendGratuitous { repeat } = a {
                log.push((t.as_micros() - t0, repeat));
            }
        }
    }
    assert_eq!(log, vec![(2_500 * MS, 3), (4 * S, 2), (8 * S, 2)]);
    // Leaving master cancels them all.
    f.handle(at(t0 + 9 * S), adv(200, ip4(9), v2(1)));
    assert_eq!(f.poll_at(), Some(at(t0 + 9 * S + 3 * S + 609_375)));
}

#[test]
fn master_advert_timer_is_exact() {
    let mut c = cfg(100, v3(7));
    c.garp.master_delay = Duration::ZERO;
    let mut f = master(c);
    let start = f.poll_at().unwrap_or(Instant::ZERO);
    for k in 0..100u64 {
        let t = start.add(Duration::from_micros(k * 70 * MS));
        assert_eq!(f.poll_at(), Some(t));
        assert!(f.poll(t.sub(Duration::from_micros(1))).is_empty());
        assert_eq!(f.poll(t).as_slice(), &[Action::SendAdvert { priority: 100 }]);
    }
}

#[test]
fn vips_lost_drops_to_backup_with_priority_zero() {
    let mut f = master(cfg(150, v3(10)));
    let a = f.handle(at(10 * S), Input::VipsLost);
    assert_eq!(
        a.as_slice(),
        &[Action::SendAdvert { priority: 0 }, Action::RemoveVips, notify(State::Master, State::Backup)]
    );
    assert_eq!(f.poll_at(), Some(at(10 * S + 41_406)));
}

/// Seeded random inputs at random times: no panic, no lost action, and the
/// timer exists exactly in the states that have one.
#[test]
fn random_inputs_never_panic_or_overflow() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for run in 0..200 {
        let iv = if run % 2 == 0 { v2((rnd() % 256) as u8) } else { v3((rnd() % 0x10000) as u16) };
        let mut c = FsmConfig::new((rnd() % 256) as u8, iv, ip4((rnd() % 256) as u8));
        c.preempt = rnd() % 2 == 0;
        c.preempt_delay = Duration::from_micros(rnd() % (20 * S));
        c.initial = if rnd() % 2 == 0 { InitialState::Master } else { InitialState::Backup };
        c.garp.master_refresh = (rnd() % 2 == 0).then(|| Duration::from_micros(rnd() % (3 * S)));
        c.down_timer_adverts = (rnd() % 5) as u8;
        let mut f = Fsm::new(c);
        let mut now = 0u64;
        for _ in 0..2_000 {
            now += rnd() % (2 * S);
            let input = match rnd() % 10 {
                0 => Input::Startup,
                1 => Input::Shutdown,
                2 => Input::Fault,
                3 => Input::FaultCleared,
                4 => Input::EffectivePriorityChanged((rnd() % 256) as u8),
                5 => Input::VipsLost,
                6 if rnd() % 4 == 0 => {
                    let mut r = c;
                    r.priority = (rnd() % 256) as u8;
                    r.preempt = rnd() % 2 == 0;
                    Input::Reconfigure(r)
                }
                _ => {
                    let iv = if rnd() % 3 == 0 { v2((rnd() % 4) as u8) } else { v3((rnd() % 300) as u16) };
                    let src = if rnd() % 2 == 0 { ip4((rnd() % 256) as u8) } else { ip6((rnd() % 65536) as u16) };
                    adv((rnd() % 256) as u8, src, iv)
                }
            };
            f.handle(at(now), input);
            if let Some(t) = f.poll_at()
                && t <= at(now)
            {
                f.poll(at(now));
            }
            let has_timer = f.poll_at().is_some();
            match f.state() {
                State::Master | State::Backup => assert!(has_timer),
                State::Initialize | State::Fault | State::Stop => assert!(!has_timer),
            }
        }
        assert_eq!(f.stats().actions_dropped, 0);
    }
}

// --- reload: Input::Reconfigure -------------------------------------------

#[test]
fn reconfigure_keeps_state_and_advert_phase_of_a_master() {
    let mut f = master(cfg(150, v3(100)));
    let next = f.poll_at().unwrap();
    let before = *f.stats();
    let mut c = cfg(160, v3(100));
    c.preempt = false;
    let a = f.handle(at(next.as_micros() - 10 * MS), Input::Reconfigure(c));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(f.state(), State::Master);
    assert_eq!(f.base_priority(), 160);
    // The effective priority is the tracking's to set: it follows.
    assert_eq!(f.effective_priority(), 150);
    f.handle(at(next.as_micros() - 10 * MS), Input::EffectivePriorityChanged(160));
    assert_eq!(f.poll_at(), Some(next), "the advert timer kept its phase");
    assert_eq!(f.poll(next).as_slice(), &[Action::SendAdvert { priority: 160 }]);
    assert_eq!(f.stats().become_master, before.become_master);
    assert!(!f.config().preempt);
}

#[test]
fn reconfigure_advert_interval_counts_from_the_last_advert() {
    // 1 s -> 0.3 s, 200 ms after an advert: the next is due 300 ms after
    // the last one, i.e. 100 ms from now.
    let mut f = master(cfg(150, v3(100)));
    let next = f.poll_at().unwrap();
    let last = next.as_micros() - S;
    let a = f.handle(at(last + 200 * MS), Input::Reconfigure(cfg(150, v3(30))));
    assert!(a.is_empty());
    assert_eq!(f.poll_at(), Some(at(last + 300 * MS)));
    // 600 ms after the last: due now.
    let mut f = master(cfg(150, v3(100)));
    let last = f.poll_at().unwrap().as_micros() - S;
    f.handle(at(last + 600 * MS), Input::Reconfigure(cfg(150, v3(30))));
    assert_eq!(f.poll_at(), Some(at(last + 600 * MS)));
    // Longer: 1 s -> 2 s.
    let mut f = master(cfg(150, v3(100)));
    let last = f.poll_at().unwrap().as_micros() - S;
    f.handle(at(last + 100 * MS), Input::Reconfigure(cfg(150, v3(200))));
    assert_eq!(f.poll_at(), Some(at(last + 2 * S)));
    assert_eq!(f.poll(at(last + 2 * S)).as_slice(), &[Action::SendAdvert { priority: 150 }]);
    assert_eq!(f.poll_at(), Some(at(last + 4 * S)));
}

#[test]
fn reconfigure_backup_keeps_its_down_timer_and_master() {
    let mut f = started(cfg(100, v2(1)), 0);
    f.handle(at(500 * MS), adv(150, ip4(9), v2(1)));
    let deadline = f.poll_at().unwrap();
    let a = f.handle(at(700 * MS), Input::Reconfigure(cfg(100, v2(1))));
    assert!(a.is_empty());
    assert_eq!(f.state(), State::Backup);
    assert_eq!(f.poll_at(), Some(deadline));
    assert_eq!(f.last_master(), Some((ip4(9), 150)));
    // v2: a new interval is the one the backup now expects.
    f.handle(at(800 * MS), Input::Reconfigure(cfg(100, v2(2))));
    assert_eq!(f.master_adver_interval(), v2(2));
    f.handle(at(900 * MS), adv(150, ip4(9), v2(1)));
    assert_eq!(f.stats().interval_mismatch, 1);
}

#[test]
fn reconfigure_priority_below_the_backup_keeps_master_until_preempted() {
    // keepalived: the master stays master at its new, lower priority; a
    // preempting backup takes over by the protocol (its down timer).
    let mut f = master(cfg(150, v3(100)));
    let t = f.poll_at().unwrap().as_micros() - 500 * MS;
    f.handle(at(t), Input::Reconfigure(cfg(50, v3(100))));
    f.handle(at(t), Input::EffectivePriorityChanged(50));
    assert_eq!(f.state(), State::Master);
    let next = f.poll_at().unwrap();
    assert_eq!(f.poll(next).as_slice(), &[Action::SendAdvert { priority: 50 }]);
    let a = f.handle(at(next.as_micros() + MS), adv(100, ip4(9), v3(100)));
    assert_eq!(f.state(), State::Backup);
    assert!(a.contains(&Action::RemoveVips) && !a.contains(&Action::SendAdvert { priority: 0 }), "{a:?}");
}

#[test]
fn reconfigure_owner_and_preempt_delay() {
    // Becoming the owner: 255 at once; leaving it: the new base.
    let mut f = master(cfg(150, v3(100)));
    f.handle(at(10 * S), Input::Reconfigure(cfg(255, v3(100))));
    assert_eq!(f.effective_priority(), 255);
    f.handle(at(11 * S), Input::Reconfigure(cfg(200, v3(100))));
    assert_eq!(f.effective_priority(), 200);
    assert_eq!(f.state(), State::Master);

    // An armed preempt_delay of 10 s shortened to 2 s ends 2 s after it started.
    let mut c = cfg(200, v3(100));
    c.preempt_delay = Duration::from_micros(10 * S);
    let mut f = started(c, 0);
    f.handle(at(100 * MS), adv(100, ip4(9), v3(100)));
    c.preempt_delay = Duration::from_micros(2 * S);
    f.handle(at(200 * MS), Input::Reconfigure(c));
    let mut t = 200 * MS;
    while f.state() == State::Backup && t < 20 * S {
        t += 100 * MS;
        f.handle(at(t), adv(100, ip4(9), v3(100)));
        if f.poll_at().is_some_and(|d| d <= at(t)) {
            f.poll(at(t));
        }
    }
    assert_eq!(f.state(), State::Master);
    // Adverts stop counting 2.1 s in; the down timer (3 s + skew) runs out
    // then. Under the old 10 s delay it would be past 13 s.
    assert!(t <= 2 * S + 100 * MS + 3_300 * MS, "took over at {t} us");
}

/// A receive-queue overflow (a flood) restarts a backup's Master_Down_Timer once from that
/// moment, and not again until an advert is heard; a master or a faulted node ignores it.
#[test]
fn receive_overflow_gives_the_master_one_more_down_interval() {
    // priority 100, v2 1 s: Master_Down_Interval 3 s + 156/256 s.
    let mdi = 3 * S + 609_375;
    let mut f = started(cfg(100, v2(1)), 0);
    assert!(f.handle(at(S), adv(200, ip4(9), v2(1))).is_empty());
    assert_eq!(f.poll_at(), Some(at(S + mdi)));
    // The flood drops adverts at 3 s: the timer starts again from there, once.
    assert!(f.handle(at(3 * S), Input::ReceiveOverflow).is_empty());
    assert_eq!(f.poll_at(), Some(at(3 * S + mdi)));
    assert!(f.handle(at(4 * S), Input::ReceiveOverflow).is_empty());
    assert_eq!(f.poll_at(), Some(at(3 * S + mdi)), "a second overflow must not postpone again");
    // A master that really died is declared down one interval late, not never.
    assert_eq!(f.poll(at(3 * S + mdi)).as_slice(), become_master(State::Backup, 100).as_slice());
    // A master ignores it.
    assert!(f.handle(at(8 * S), Input::ReceiveOverflow).is_empty());
    assert_eq!(f.state(), State::Master);

    // An advert heard gives the grace back.
    let mut f = started(cfg(100, v2(1)), 0);
    f.handle(at(S), adv(200, ip4(9), v2(1)));
    f.handle(at(2 * S), Input::ReceiveOverflow);
    f.handle(at(3 * S), adv(200, ip4(9), v2(1)));
    f.handle(at(4 * S), Input::ReceiveOverflow);
    assert_eq!(f.poll_at(), Some(at(4 * S + mdi)));
}
