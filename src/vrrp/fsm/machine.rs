//! The state machine proper: `handle(now, input)` and `poll(now)` return the
//! actions to perform; `poll_at()` says when to call `poll` next.

use core::cmp::Ordering;
use core::net::IpAddr;

use super::time::{AdvertInterval, Duration, Instant};
use super::timers::{master_down_interval, skew_time, DEFAULT_DOWN_TIMER_ADVERTS};
use super::types::{
    Action, Actions, Advert, FsmConfig, InitialState, Input, State, StateChange, Stats, PRIORITY_OWNER,
    PRIORITY_STOP,
};

/// keepalived's default priority when none is configured.
const DEFAULT_PRIORITY: u8 = 100;

/// What the backup's master-down timer was last armed from: the full
/// Master_Down_Interval after a live master's advert, or the skew alone after
/// a priority-0 advert. Kept so that a priority change can re-derive the
/// deadline from the same starting point (keepalived shifts `sands` by the
/// change in `ms_down_timer`, which comes to the same thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownArm {
    Full(Instant),
    SkewOnly(Instant),
}

/// One VRRP instance's state machine (RFC 9568 §6 with keepalived's FAULT
/// and STOP). Pure: no I/O, no clock.
#[derive(Debug, Clone)]
pub struct Fsm {
    cfg: FsmConfig,
    state: State,
    base_priority: u8,
    effective_priority: u8,
    /// Master_Adver_Interval: ours, or in v3 the one a master advertises.
    master_interval: AdvertInterval,
    /// Backup: Master_Down_Timer.
    down_arm: Option<DownArm>,
    /// Backup: the down timer was restarted once for a receive overflow
    /// since the last advert heard (see `receive_overflow`).
    overflow_grace_used: bool,
    /// Master: Adver_Timer.
    advert_at: Option<Instant>,
    /// Master: the delayed second GARP burst (`garp_master_delay`).
    garp_delay_at: Option<Instant>,
    /// Master: the periodic GARP refresh (`garp_master_refresh`).
    garp_refresh_at: Option<Instant>,
    /// keepalived's `preempt_time`: set when a lower priority master is first
    /// heard; until it passes, its adverts are still accepted.
    preempt_at: Option<Instant>,
    faulted: bool,
    last_master: Option<(IpAddr, u8)>,
    stats: Stats,
}

/// Compare an advert's source with our address as keepalived does
/// (`vrrp_saddr_cmp`): as unsigned big-endian numbers; different families
/// compare Equal (keepalived returns 0 and neither side yields).
pub fn compare_addr(theirs: IpAddr, ours: IpAddr) -> Ordering {
    match (theirs, ours) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a).cmp(&u32::from(b)),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a).cmp(&u128::from(b)),
        _ => Ordering::Equal,
    }
}

impl Fsm {
    /// Normalises the configuration as keepalived's `vrrp_complete_instance`
    /// does: priority 0 means the default; the owner and an instance with
    /// initial state MASTER cannot be `nopreempt` nor have `preempt_delay`;
    /// `preempt_delay` is meaningless with `nopreempt`.
    pub fn new(cfg: FsmConfig) -> Self {
        let cfg = Self::normalise(cfg);
        Fsm {
            state: State::Initialize,
            base_priority: cfg.priority,
            effective_priority: cfg.priority,
            master_interval: cfg.advert_interval,
            down_arm: None,
            overflow_grace_used: false,
            advert_at: None,
            garp_delay_at: None,
            garp_refresh_at: None,
            preempt_at: None,
            faulted: false,
            last_master: None,
            stats: Stats::default(),
            cfg,
        }
    }

    fn normalise(mut cfg: FsmConfig) -> FsmConfig {
        if cfg.priority == 0 {
            cfg.priority = match cfg.initial {
                InitialState::Master => PRIORITY_OWNER,
                InitialState::Backup => DEFAULT_PRIORITY,
            };
        }
        if cfg.priority == PRIORITY_OWNER || cfg.initial == InitialState::Master {
            cfg.preempt = true;
            cfg.preempt_delay = Duration::ZERO;
        }
        if !cfg.preempt {
            cfg.preempt_delay = Duration::ZERO;
        }
        if cfg.down_timer_adverts == 0 {
            cfg.down_timer_adverts = DEFAULT_DOWN_TIMER_ADVERTS;
        }
        cfg
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn config(&self) -> &FsmConfig {
        &self.cfg
    }
    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    /// Master_Adver_Interval as currently used for the down timer.
    pub fn master_adver_interval(&self) -> AdvertInterval {
        self.master_interval
    }
    /// Source and priority of the last master advert accepted in Backup.
    pub fn last_master(&self) -> Option<(IpAddr, u8)> {
        self.last_master
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn is_owner(&self) -> bool {
        self.base_priority == PRIORITY_OWNER
    }

    /// Skew_Time with our current priority and the master's interval.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.master_interval, self.effective_priority)
    }
    /// Master_Down_Interval with our current priority and the master's interval.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(self.master_interval, self.effective_priority, self.cfg.down_timer_adverts)
    }

    fn down_deadline(&self) -> Option<Instant> {
        match self.down_arm? {
            DownArm::Full(from) => Some(from.add(self.master_down_interval())),
            DownArm::SkewOnly(from) => Some(from.add(self.skew_time())),
        }
    }

    /// When `poll` must next be called; `None` when no timer runs.
    pub fn poll_at(&self) -> Option<Instant> {
        match self.state {
            State::Backup => self.down_deadline(),
            State::Master => [self.advert_at, self.garp_delay_at, self.garp_refresh_at].into_iter().flatten().min(),
            State::Initialize | State::Fault | State::Stop => None,
        }
    }

    /// Run the timers that have expired at `now`.
    pub fn poll(&mut self, now: Instant) -> Actions {
        let mut out = Actions::new();
        match self.state {
            State::Backup => {
                if self.down_deadline().is_some_and(|t| t <= now) {
                    self.become_master(now, &mut out);
                }
            }
            State::Master => {
                if self.garp_delay_at.is_some_and(|t| t <= now) {
                    self.garp_delay_at = None;
                    self.push(&mut out, Action::SendGratuitous { repeat: self.cfg.garp.master_repeat });
                }
                if let (Some(t), Some(every)) = (self.garp_refresh_at, self.cfg.garp.master_refresh)
                    && t <= now
                {
                    self.garp_refresh_at = Some(now.add(every));
                    self.push(&mut out, Action::SendGratuitous { repeat: self.cfg.garp.master_refresh_repeat });
                }
                if self.advert_at.is_some_and(|t| t <= now) {
                    self.send_advert(now, &mut out);
                }
            }
            State::Initialize | State::Fault | State::Stop => {}
        }
        out
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Actions {
        let mut out = Actions::new();
        match input {
            Input::Startup => self.startup(now, &mut out),
            Input::ResumeMaster => self.resume_master(now, &mut out),
            Input::SyncMaster => {
                // A sync-group peer became master: follow it from backup.
                if self.state == State::Backup && !self.faulted {
                    self.become_master(now, &mut out);
                }
            }
            Input::SyncBackup => {
                // A sync-group peer left master: follow it to backup.
                if self.state == State::Master && !self.is_owner() {
                    self.release_master(false, &mut out);
                    self.enter_backup(now, State::Master, &mut out);
                }
            }
            Input::Shutdown => self.shutdown(&mut out),
            Input::ReceiveOverflow => self.receive_overflow(now),
            Input::AdvertReceived(adv) => self.advert(now, adv, &mut out),
            Input::Fault => self.fault(&mut out),
            Input::FaultCleared => self.fault_cleared(now, &mut out),
            Input::EffectivePriorityChanged(p) => self.set_effective_priority(p),
            Input::VipsLost | Input::Relinquish => self.vips_lost(now, &mut out),
            Input::Reconfigure(cfg) => self.reconfigure(now, cfg),
        }
        out
    }

    // --- reload --------------------------------------------------------------

    /// New settings at a reload, taken in place as keepalived keeps an
    /// instance's state across one: no transition, no action. The state,
    /// the timers' phase, the master heard and the counters stay; what the
    /// settings change follows from here on:
    /// - the base priority; the effective one is left to the tracking that
    ///   computes it (`EffectivePriorityChanged` follows), except that the
    ///   address owner's is always 255 and leaving ownership starts from the
    ///   new base;
    /// - the advert interval: a master's next advert comes one new interval
    ///   after its last one (at once if that is past), so the gap on the wire
    ///   is never longer than the longer of the two; a v2 backup expects the
    ///   new interval (v3 keeps the master's, learned from its adverts);
    /// - preemption, GARP and the other switches: from the next event on;
    ///   a preempt_delay that is gone or shorter stops an armed delay.
    fn reconfigure(&mut self, now: Instant, cfg: FsmConfig) {
        let cfg = Self::normalise(cfg);
        let old = self.cfg;
        let was_owner = self.is_owner();
        self.cfg = cfg;
        self.base_priority = cfg.priority;
        if self.is_owner() {
            self.effective_priority = PRIORITY_OWNER;
        } else if was_owner {
            self.effective_priority = cfg.priority;
        }
        if cfg.advert_interval != old.advert_interval {
            match self.state {
                State::Master => {
                    self.master_interval = cfg.advert_interval;
                    if let Some(next) = self.advert_at {
                        let last = Instant::from_micros(next.as_micros().saturating_sub(old.advert_interval.to_duration().as_micros()));
                        let due = last.add(cfg.advert_interval.to_duration());
                        self.advert_at = Some(if due < now { now } else { due });
                    }
                }
                _ if !cfg.advert_interval.is_v3() => self.master_interval = cfg.advert_interval,
                _ => {}
            }
        }
        if !cfg.preempt || cfg.preempt_delay == Duration::ZERO {
            self.preempt_at = None;
        } else if let Some(at) = self.preempt_at {
            // Started under the old delay: it ends no later than the new one would.
            let started = Instant::from_micros(at.as_micros().saturating_sub(old.preempt_delay.as_micros()));
            let by_new = started.add(cfg.preempt_delay);
            if by_new < at {
                self.preempt_at = Some(by_new);
            }
        }
        if self.state == State::Master && cfg.garp.master_refresh != old.garp.master_refresh {
            self.garp_refresh_at = cfg.garp.master_refresh.filter(|d| *d > Duration::ZERO).map(|d| now.add(d));
        }
        if cfg.garp.master_repeat == 0 || cfg.garp.master_delay == Duration::ZERO {
            self.garp_delay_at = None;
        }
    }

    // --- transitions -------------------------------------------------------

    fn startup(&mut self, now: Instant, out: &mut Actions) {
        if !matches!(self.state, State::Initialize | State::Stop) {
            return;
        }
        let from = self.state;
        self.master_interval = self.cfg.advert_interval;
        if !self.is_owner() || self.faulted {
            // As keepalived at init ("removing VIPs"): a node starting as
            // backup must not answer for VIPs a crashed run left behind.
            self.push(out, Action::RemoveVips);
        }
        if self.faulted {
            self.enter(State::Fault, from, out);
        } else if self.is_owner() {
            // RFC 9568 §6.4.1 and keepalived: the owner does not wait.
            self.become_master(now, out);
        } else {
            // keepalived without a sync group: `state MASTER` below 255 also
            // starts as backup with the full Master_Down_Interval.
            self.enter_backup(now, from, out);
        }
    }

    /// A restarted VRRP child whose predecessor was master when it died:
    /// take the mastership back at once instead of waiting a whole
    /// Master_Down_Interval as a backup (by which time a peer would have
    /// taken over). If a better master is out there, its next advert sends
    /// us back to backup as usual.
    fn resume_master(&mut self, now: Instant, out: &mut Actions) {
        if !matches!(self.state, State::Initialize | State::Stop) {
            return;
        }
        self.master_interval = self.cfg.advert_interval;
        if self.faulted {
            let from = self.state;
            self.enter(State::Fault, from, out);
        } else {
            self.become_master(now, out);
        }
    }

    fn shutdown(&mut self, out: &mut Actions) {
        if self.state == State::Stop {
            return;
        }
        let from = self.state;
        if from == State::Master {
            self.release_master(true, out);
        }
        self.enter(State::Stop, from, out);
    }

    fn fault(&mut self, out: &mut Actions) {
        if self.faulted {
            return;
        }
        self.faulted = true;
        match self.state {
            State::Master => {
                // keepalived `vrrp_state_leave_master` with wantstate FAULT.
                self.release_master(true, out);
                self.enter(State::Fault, State::Master, out);
            }
            State::Backup => self.enter(State::Fault, State::Backup, out),
            State::Initialize | State::Fault | State::Stop => {}
        }
    }

    fn fault_cleared(&mut self, now: Instant, out: &mut Actions) {
        if !self.faulted {
            return;
        }
        self.faulted = false;
        if self.state != State::Fault {
            return;
        }
        // keepalived `try_up_instance` + `vrrp_state_leave_fault`.
        self.master_interval = self.cfg.advert_interval;
        if self.is_owner() {
            self.become_master(now, out);
        } else {
            self.enter_backup(now, State::Fault, out);
        }
    }

    fn set_effective_priority(&mut self, p: u8) {
        if self.is_owner() {
            return;
        }
        // The backup's deadline follows automatically: it is derived from
        // `down_arm` and the current priority.
        self.effective_priority = p.clamp(1, PRIORITY_OWNER - 1);
    }

    fn vips_lost(&mut self, now: Instant, out: &mut Actions) {
        if self.state != State::Master {
            return;
        }
        self.release_master(true, out);
        self.enter(State::Backup, State::Master, out);
        // keepalived re-wins on its own skew here (LAB-NOTES: it hears its
        // own priority-0 advert); model exactly that.
        self.down_arm = Some(DownArm::SkewOnly(now));
        self.preempt_at = None;
    }

    fn become_master(&mut self, now: Instant, out: &mut Actions) {
        let from = self.state;
        self.state = State::Master;
        self.stats.become_master += 1;
        self.down_arm = None;
        self.preempt_at = None;
        // As master we advertise our own interval.
        self.master_interval = self.cfg.advert_interval;
        // keepalived order (`vrrp_state_become_master`, then the advert).
        self.push(out, Action::AddVips);
        let garp = self.cfg.garp;
        if garp.master_repeat > 0 {
            self.push(out, Action::SendGratuitous { repeat: garp.master_repeat });
        }
        self.garp_delay_at = (garp.master_repeat > 0 && garp.master_delay > Duration::ZERO)
            .then(|| now.add(garp.master_delay));
        self.garp_refresh_at = garp.master_refresh.filter(|d| *d > Duration::ZERO).map(|d| now.add(d));
        self.push(out, Action::Notify(StateChange { from, to: State::Master }));
        self.send_advert(now, out);
    }

    /// Leave Master: optionally announce priority 0, then drop the VIPs.
    /// The caller sets the next state.
    fn release_master(&mut self, send_zero: bool, out: &mut Actions) {
        if send_zero {
            self.push(out, Action::SendAdvert { priority: PRIORITY_STOP });
            self.stats.priority_zero_sent += 1;
        }
        self.push(out, Action::RemoveVips);
        self.stats.release_master += 1;
        self.advert_at = None;
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
    }

    /// A flood overflowed our receive queue: the master's adverts may have
    /// been dropped by our own kernel, so a backup whose Master_Down_Timer
    /// runs from a heard advert starts it again from now, once; not again
    /// until an advert is heard. A master that really died is declared down
    /// at most one Master_Down_Interval late under a flood, and a flood that
    /// happens to drop one advert no longer makes a backup take over.
    fn receive_overflow(&mut self, now: Instant) {
        if self.state != State::Backup || self.overflow_grace_used {
            return;
        }
        if let Some(DownArm::Full(_)) = self.down_arm {
            self.down_arm = Some(DownArm::Full(now));
            self.overflow_grace_used = true;
        }
    }

    fn enter_backup(&mut self, now: Instant, from: State, out: &mut Actions) {
        self.down_arm = Some(DownArm::Full(now));
        self.overflow_grace_used = false;
        self.preempt_at = None;
        self.enter(State::Backup, from, out);
    }

    fn enter(&mut self, to: State, from: State, out: &mut Actions) {
        self.state = to;
        if to != State::Backup {
            self.down_arm = None;
        }
        if to != State::Master {
            self.advert_at = None;
            self.garp_delay_at = None;
            self.garp_refresh_at = None;
        }
        if from != to {
            self.push(out, Action::Notify(StateChange { from, to }));
        }
    }

    fn send_advert(&mut self, now: Instant, out: &mut Actions) {
        self.push(out, Action::SendAdvert { priority: self.effective_priority });
        self.advert_at = Some(now.add(self.cfg.advert_interval.to_duration()));
    }

    fn push(&mut self, out: &mut Actions, a: Action) {
        if out.push(a).is_err() {
            self.stats.actions_dropped += 1;
            crate::os::capacity::hit(crate::os::capacity::Cap::FsmActions, format_args!("vrrp fsm: dropped {a:?}"));
        }
    }

    // --- adverts -----------------------------------------------------------

    fn advert(&mut self, now: Instant, adv: Advert, out: &mut Actions) {
        self.stats.adverts_received += 1;
        if !matches!(self.state, State::Backup | State::Master) {
            // keepalived ignores adverts in FAULT and INIT.
            self.stats.ignored_in_state += 1;
            return;
        }
        if adv.interval.is_v3() != self.cfg.advert_interval.is_v3() {
            self.stats.version_mismatch += 1;
            return;
        }
        if adv.interval.is_zero() {
            self.stats.interval_mismatch += 1;
            return;
        }
        // RFC 3768 §7.1: a v2 advert whose interval differs from ours MUST
        // be discarded; keepalived drops it (VRRP_PACKET_DROP) and logs.
        // RFC 9568 §7.1: logged subject to rate-limiting (a peer sends one
        // every interval, a flood many more): the first, then at each
        // power of two of the count.
        if !adv.interval.is_v3() && adv.interval != self.cfg.advert_interval {
            self.stats.interval_mismatch += 1;
            if self.stats.interval_mismatch.is_power_of_two() {
                log::info!(
                    "vrrp: advert interval mismatch: ours {:?}, received {:?} ({} so far)",
                    self.cfg.advert_interval,
                    adv.interval,
                    self.stats.interval_mismatch
                );
            }
            return;
        }
        if adv.priority == PRIORITY_STOP {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, adv),
            State::Master => self.master_rx(now, adv, out),
            _ => {}
        }
    }

    /// RFC 9568 §6.4.2 with keepalived's `preempt_delay` (`vrrp_state_backup`).
    fn backup_rx(&mut self, now: Instant, adv: Advert) {
        let ours = self.effective_priority;
        if adv.priority == PRIORITY_STOP {
            // RFC 9568 §6.4.2: Active_Down_Timer := Skew_Time.
            self.down_arm = Some(DownArm::SkewOnly(now));
            return;
        }
        let delaying = self.cfg.preempt_delay > Duration::ZERO && self.preempt_at.is_none_or(|t| t > now);
        if !self.cfg.preempt || adv.priority >= ours || delaying {
            if adv.interval.is_v3() {
                // RFC 9568 §6.4.2: Active_Adver_Interval := the advert's
                // interval; Skew_Time and Active_Down_Interval follow from
                // it when the timer is armed.
                self.master_interval = adv.interval;
            }
            self.down_arm = Some(DownArm::Full(now));
            self.overflow_grace_used = false;
            self.last_master = Some((adv.src, adv.priority));
            if self.cfg.preempt_delay > Duration::ZERO {
                if adv.priority >= ours {
                    self.preempt_at = None;
                } else if self.preempt_at.is_none() {
                    self.preempt_at = Some(now.add(self.cfg.preempt_delay));
                }
            }
        } else {
            // Preempting: discard, so the down timer runs out.
            self.stats.lower_priority_ignored += 1;
        }
    }

    /// RFC 9568 §6.4.3 as keepalived does it (`vrrp_state_master_rx`).
    fn master_rx(&mut self, now: Instant, adv: Advert, out: &mut Actions) {
        let cmp = compare_addr(adv.src, self.cfg.primary_addr);
        let ours = self.effective_priority;
        let higher = adv.priority > ours || (adv.priority == ours && cmp == Ordering::Greater);
        if adv.priority == PRIORITY_STOP || (self.cfg.higher_prio_send_advert && higher) {
            // Another router let go (or is about to take over): tell the
            // backups at once that a master exists.
            self.send_advert(now, out);
            if adv.priority == PRIORITY_STOP {
                return;
            }
        }
        if adv.priority == ours {
            if cmp == Ordering::Equal {
                self.stats.own_address_conflict += 1;
                log::warn!("vrrp: equal priority advert from our own address {}", adv.src);
            } else if ours == PRIORITY_OWNER {
                // keepalived: two owners is a configuration error (RFC 9568
                // §8.3.2, to be logged); it steps down to 254 so that the
                // election can end, which logs once.
                self.stats.owner_conflict += 1;
                log::error!("vrrp: {} is also address owner; lowering our priority to 254", adv.src);
                self.base_priority = PRIORITY_OWNER - 1;
                self.effective_priority = PRIORITY_OWNER - 1;
            }
        }
        let ours = self.effective_priority;
        if adv.priority < ours || (adv.priority == ours && cmp == Ordering::Less) {
            // Lower priority: RFC 9568 §6.4.3 discards it and sends an
            // advert at once (new in RFC 9568; keepalived already did,
            // unless lower_prio_no_advert), and keepalived can refresh ARP
            // caches.
            if !self.cfg.lower_prio_no_advert {
                self.send_advert(now, out);
            }
            if self.cfg.garp.lower_prio_repeat > 0 {
                self.push(out, Action::SendGratuitous { repeat: self.cfg.garp.lower_prio_repeat });
            }
            return;
        }
        if adv.priority > ours || (adv.priority == ours && cmp == Ordering::Greater) {
            if adv.interval.is_v3() {
                self.master_interval = adv.interval;
            }
            self.release_master(false, out);
            self.last_master = Some((adv.src, adv.priority));
            self.down_arm = Some(DownArm::Full(now));
            self.preempt_at = None;
            self.enter(State::Backup, State::Master, out);
        }
    }
}
