//! The RFC 5798 state machine, pure: (state, input, now) -> actions.
//!
//! Inputs go in through [`Fsm::handle`]; timers run when the caller calls
//! [`Fsm::poll`] at or after [`Fsm::poll_at`] (smoltcp style). Time is
//! passed in as [`Instant`] (microseconds on the caller's monotonic clock);
//! the machine never reads a clock and never allocates: actions come back in
//! a fixed-capacity [`Actions`] vector.
//!
//! Behaviour follows RFC 5798 §6 (and RFC 3768 for v2) as keepalived
//! implements it: FAULT and STOP states, `nopreempt`, `preempt_delay`,
//! priority-0 handling, the address-owner shortcut, the GARP schedule.

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
