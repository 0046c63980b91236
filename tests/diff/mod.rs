//! The differential harness: a generator of configurations over the model's axes
//! ([`generate`]) and the judge that runs keepalived -t and vigil -t on each ([`judge`]).
pub mod generate;
pub mod judge;
