//! The RFC 5798 state machine, pure: (state, input, now) -> actions.
