//! /tmp/keepalived.stats: per instance, keepalived's counters in its
//! sections (Advertisements, Packet Errors, Authentication Errors,
//! Priority Zero), the layout the Prometheus exporters parse.

use super::View;
use std::fmt::Write as _;

pub fn render(v: &View) -> String {
    let mut s = String::with_capacity(700 * v.status.len().max(1));
    for (c, _, k) in v.instances() {
        let _ = writeln!(s, "VRRP Instance: {}", c.name);
        let _ = writeln!(s, "  Advertisements:\n    Received: {}\n    Sent: {}", k.advert_rcvd, k.advert_sent);
        let _ = writeln!(s, "  Became master: {}\n  Released master: {}", k.become_master, k.release_master);
        let _ = writeln!(
            s,
            "  Packet Errors:\n    Length: {}\n    TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}",
            k.packet_len_err, k.ip_ttl_err, k.invalid_type_rcvd, k.advert_interval_err, k.addr_list_err
        );
        let _ = writeln!(
            s,
            "  Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}",
            k.invalid_authtype, k.authtype_mismatch, k.auth_failure
        );
        let _ = writeln!(s, "  Priority Zero:\n    Received: {}\n    Sent: {}", k.pri_zero_rcvd, k.pri_zero_sent);
    }
    s
}
