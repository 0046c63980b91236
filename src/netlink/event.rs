//! Typed rtnetlink notifications, for the reflector that mirrors kernel state from the
//! RTMGRP_* multicast groups. Parsing only: the reflector owns the socket and the loop.

use super::consts::*;
use super::wire::{NlMsg, ParseError};
use super::{addr, link, route, rule};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    NewLink(link::Link),
    DelLink(link::Link),
    NewAddr(addr::Addr),
    DelAddr(addr::Addr),
    NewRoute(route::Route),
    DelRoute(route::Route),
    NewRule(rule::Rule),
    DelRule(rule::Rule),
}

/// Parses one rtnetlink data message. `Ok(None)` for message types and address families
/// this module does not model (neighbours, MPLS routes, ...): skipped, not errors.
pub fn parse_event(msg: &NlMsg<'_>) -> Result<Option<Event>, ParseError> {
    Ok(match msg.ty {
        RTM_NEWLINK => Some(Event::NewLink(link::parse(msg)?)),
        RTM_DELLINK => Some(Event::DelLink(link::parse(msg)?)),
        RTM_NEWADDR => addr::parse(msg)?.map(Event::NewAddr),
        RTM_DELADDR => addr::parse(msg)?.map(Event::DelAddr),
        RTM_NEWROUTE => route::parse(msg)?.map(Event::NewRoute),
        RTM_DELROUTE => route::parse(msg)?.map(Event::DelRoute),
        RTM_NEWRULE => rule::parse(msg)?.map(Event::NewRule),
        RTM_DELRULE => rule::parse(msg)?.map(Event::DelRule),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::addr::{AddrOp, AddrSpec};
    use crate::netlink::wire::Messages;

    #[test]
    fn dispatches_by_type() {
        let mut buf = [0u8; 128];
        let spec = AddrSpec::new(2, "192.0.2.1".parse().unwrap(), 24);
        let n = addr::build(&mut buf, 1, AddrOp::Del, &spec).unwrap();
        let m = Messages::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(parse_event(&m), Ok(Some(Event::DelAddr(spec))));
        let neigh = NlMsg { ty: 28, ..m };
        assert_eq!(parse_event(&neigh), Ok(None));
        let bad = NlMsg {
            ty: RTM_NEWLINK,
            payload: &m.payload[..3],
            ..m
        };
        assert!(parse_event(&bad).is_err());
    }
}
