//! VRRP: the wire codec, the pure state machine, and (to come) the I/O layer.

pub mod advert;
pub mod engine;
pub mod fsm;
pub mod instance;
pub mod net;
pub mod syncd;
pub mod track;
pub mod watch;
pub mod vmac;
pub mod wire;
