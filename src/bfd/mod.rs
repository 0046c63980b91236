//! BFD (RFC 5880; single hop RFC 5881, multihop RFC 5883), as keepalived's third child runs
//! it: the control packet codec ([`wire`]) and one session's state machine ([`fsm`]). Both
//! are pure (no sockets, no clock). The BFD child runs them: [`engine`] over the sockets
//! of [`net`], reporting [`status`].
//!
//! Time comes from `vrrp::fsm`'s microsecond [`Instant`](crate::vrrp::fsm::Instant) and
//! [`Duration`](crate::vrrp::fsm::Duration), so that every state machine in vigil counts
//! time the same way.

pub mod fsm;
pub mod wire;
pub mod engine;
pub mod net;
pub mod status;
pub mod dump;
