//! The differential harness: a generator of configurations over the model's axes
//! ([`generate`], with the virtual servers of [`lvs`]), the judge that runs keepalived -t
//! and vigil -t on each ([`judge`]), and the report of what a run found ([`report`]).
pub mod generate;
pub mod judge;
pub mod lvs;
pub mod report;
