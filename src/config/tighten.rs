//! The loaded model made tight: every vector and string of it shrunk to its
//! length. Vectors grown by `push` keep up to twice their length (a real
//! server's one checker sat in room for four, a virtual server's 20 real
//! servers in room for 32), and the parent keeps the model for as long as
//! it runs: at 40,000 real servers that slack was 17 MB, more than the
//! model itself.

use super::model::*;

/// Shrinks what it holds to its length.
trait Tighten {
    fn tighten(&mut self);
}

impl Tighten for String {
    fn tighten(&mut self) {
        self.shrink_to_fit();
    }
}

impl<T: Tighten> Tighten for Vec<T> {
    fn tighten(&mut self) {
        self.iter_mut().for_each(T::tighten);
        self.shrink_to_fit();
    }
}

impl<T: Tighten> Tighten for Option<T> {
    fn tighten(&mut self) {
        if let Some(t) = self {
            t.tighten();
        }
    }
}

impl<T: Tighten> Tighten for Box<T> {
    fn tighten(&mut self) {
        (**self).tighten();
    }
}

/// Types with nothing to shrink inside: only their vector is.
macro_rules! flat {
    ($($t:ty),*) => {
        $(impl Tighten for $t {
            fn tighten(&mut self) {}
        })*
    };
}
flat!(IpAddress, UnicastPeer, VsgEntry, BfdInstance, Rule, Nexthop, (u16, u16), u8);

/// Types whose named fields are to be shrunk.
macro_rules! fields {
    ($t:ty: $($f:ident),*) => {
        impl Tighten for $t {
            fn tighten(&mut self) {
                $(self.$f.tighten();)*
            }
        }
    };
}
fields!(RawOption: keyword, args);
fields!(Script: argv, user, group);
fields!(Route: nexthops, other);
fields!(VrrpScript: name, script);
fields!(TrackFileDef: name, file);
fields!(TrackProcessDef: name, process);
fields!(TrackRef: name);
fields!(SyncGroup: name, group, track_interfaces, track_scripts, track_files, track_processes, track_bfds, other);
fields!(VrrpInstance: name, unicast_peers, track_interfaces, track_scripts, track_files, track_processes, track_bfds,
    virtual_ipaddress, virtual_ipaddress_excluded, virtual_routes, virtual_rules, other);
fields!(VirtualServerGroup: name, entries);
fields!(VirtualServer: lb_algo, real_servers, other);
fields!(RealServer: notify_up, notify_down, checkers, bfd_checks, other);
fields!(BfdCheck: name);
fields!(HttpUrl: path, status_code);
fields!(HttpCheck: urls);
fields!(SmtpCheck: hosts);
fields!(CheckTarget: bind_if);
fields!(UdpCheck: payload, require_reply);
fields!(Checker: kind, target, other);

impl Tighten for CheckKind {
    fn tighten(&mut self) {
        match self {
            CheckKind::Http(h) | CheckKind::Ssl(h) => h.tighten(),
            CheckKind::Smtp(s) => s.tighten(),
            CheckKind::Udp(u) => u.tighten(),
            CheckKind::Tcp | CheckKind::Ping | CheckKind::Misc(_) | CheckKind::Dns(_) | CheckKind::File(_) => {}
        }
    }
}

/// Shrinks every vector of the model (and the strings in the parts that
/// repeat at scale) to its length; the model compares equal before and
/// after.
pub fn tighten(cfg: &mut Config) {
    cfg.global.notification_email.tighten();
    cfg.global.other.tighten();
    cfg.static_ipaddress.tighten();
    cfg.static_routes.tighten();
    cfg.static_rules.tighten();
    cfg.vrrp_scripts.tighten();
    cfg.track_files.tighten();
    cfg.track_processes.tighten();
    cfg.sync_groups.tighten();
    cfg.vrrp_instances.tighten();
    cfg.virtual_server_groups.tighten();
    cfg.virtual_servers.tighten();
    cfg.bfd_instances.tighten();
    cfg.other.tighten();
}
