//! VRRP: the wire codec, the pure state machine, and (to come) the I/O layer.

pub mod fsm;
pub mod net;
pub mod wire;
