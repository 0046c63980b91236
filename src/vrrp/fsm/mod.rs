//! The VRRP state machine of RFC 9568 (which obsoletes RFC 5798), pure:
//! (state, input, now) -> actions.
//!
//! Inputs go in through [`Fsm::handle`]; timers run when the caller calls
//! [`Fsm::poll`] at or after [`Fsm::poll_at`] (smoltcp style). Time is
//! passed in as [`Instant`] (microseconds on the caller's monotonic clock);
//! the machine never reads a clock and never allocates: actions come back in
//! a fixed-capacity [`Actions`] vector.
//!
//! Behaviour follows RFC 9568 §6 (and RFC 3768 for v2) as keepalived
//! implements it: FAULT and STOP states, `nopreempt`, `preempt_delay`,
//! priority-0 handling, the address-owner shortcut, the GARP schedule.
//!
//! RFC 9568 renames Master to Active (Active_Down_Timer, Active_Adver_Interval);
//! we keep keepalived's words (MASTER, Master_Down_Interval), which are the
//! ones in its logs, notify scripts and our status. What RFC 9568 changed
//! from RFC 5798 (its §1.2), and what we do about each:
//! - §5.2.8: the VRRPv3 checksum over IPv4 covers the VRRP message alone.
//!   keepalived 2.2.7 and FRR 8.4 send and require RFC 5798's pseudo-header
//!   form, so we send that and accept both (`vrrp::advert::V3_IPV4_ACCEPT`),
//!   counting message-only senders.
//! - §6.4.2: a Backup recomputes Skew_Time with Active_Down_Interval from
//!   the advertised interval: both come from `master_interval` here
//!   (`timers::master_down_interval`).
//! - §6.4.3: an Active router that hears a lower priority advert discards
//!   it and sends an advert at once, so that the sender and learning
//!   bridges see who is active: keepalived already did this, so do we
//!   (unless `lower_prio_no_advert`).
//! - §7.1 and §8.3.2: receive errors and a second address owner are logged
//!   rate-limited (our logs: the first, then at every power of two of the
//!   count; every one is counted).
//! - §6.4.3 / §8.2.2: an unsolicited NA from the Active router carries the
//!   Router flag (`vrrp::net::garp::build_na`).
//! - The appendices on FDDI, Token Ring and ATM LANE are gone; nothing of
//!   ours depended on them.

mod machine;
mod time;
mod timers;
mod types;

pub use machine::{compare_addr, Fsm};
pub use time::{AdvertInterval, Centiseconds, Duration, Instant, Seconds, MICROS_PER_CENTI, MICROS_PER_SEC};
pub use timers::{master_down_interval, skew_time, DEFAULT_DOWN_TIMER_ADVERTS};
pub use types::{
    Action, Actions, Advert, FsmConfig, GarpConfig, InitialState, Input, State, StateChange, Stats, MAX_ACTIONS,
    PRIORITY_OWNER, PRIORITY_STOP,
};
