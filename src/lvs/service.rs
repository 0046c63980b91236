//! The IPVS service a virtual server's member becomes: scheduler,
//! persistence, and the settings keepalived takes from keywords our config
//! model keeps raw (`ops`, `persistence_engine`).
//!
//! - `ops` (one-packet scheduling) is for UDP: keepalived resets it on a
//!   TCP or SCTP address service ("one packet scheduling requires UDP -
//!   resetting"). A fwmark service keeps it; the kernel applies it to the
//!   UDP packets only.
//! - `persistence_engine NAME` goes to the kernel as the service's PE name
//!   (`sip`); the kernel refuses a name it has no module for.
//! - Scheduler flags: `flag-1`..`flag-3` are IP_VS_SVC_F_SCHED1..3;
//!   `sh-fallback`/`mh-fallback` SCHED1 and `sh-port`/`mh-port` SCHED2,
//!   taken only with the sh or mh scheduler (keepalived 2.2.7 ignores them
//!   otherwise: "only applies to sh scheduler - ignoring"). `hashed` is the
//!   kernel's own bit and is not sent. The config parser does not accept
//!   these keywords yet; once it keeps them as raw options they apply here.

use super::group::{self, Member};
use crate::config::model::{Config, Protocol as CfgProtocol, VirtualServer, VirtualServerKey};
use crate::ipvs::{Protocol, Service, ServiceFlags};
use crate::ipvs::types::IpvsName;
use crate::netlink::AddrFamily;

/// A raw virtual_server keyword's arguments, if given.
fn raw<'a>(vs: &'a VirtualServer, keyword: &str) -> Option<&'a [String]> {
    vs.other.iter().rev().find(|o| o.keyword == keyword).map(|o| o.args.as_slice())
}

/// Whether `ops` is set and applies (see the module doc).
pub fn one_packet(vs: &VirtualServer) -> bool {
    raw(vs, "ops").is_some() && (vs.protocol == CfgProtocol::Udp || matches!(vs.key, VirtualServerKey::Fwmark(_)))
}

/// The configured persistence engine, if any.
pub fn persistence_engine(vs: &VirtualServer) -> Option<&str> {
    raw(vs, "persistence_engine").and_then(|a| a.first()).map(String::as_str)
}

/// The scheduler flags the raw options ask for (see the module doc).
pub fn sched_flags(vs: &VirtualServer) -> ServiceFlags {
    let hashing = matches!(vs.lb_algo.as_str(), "sh" | "mh");
    let mut f = ServiceFlags::default();
    for o in &vs.other {
        let bit = match o.keyword.as_str() {
            "flag-1" => ServiceFlags::SCHED1,
            "flag-2" => ServiceFlags::SCHED2,
            "flag-3" => ServiceFlags::SCHED3,
            "sh-fallback" | "mh-fallback" if hashing => ServiceFlags::SCHED1,
            "sh-port" | "mh-port" if hashing => ServiceFlags::SCHED2,
            _ => continue,
        };
        f = f.with(bit);
    }
    f
}

/// Why a virtual server's settings cannot all be honoured, for the log.
pub fn warnings(vs: &VirtualServer, name: &str) -> Vec<String> {
    let mut w = Vec::new();
    if raw(vs, "ops").is_some() && !one_packet(vs) {
        w.push(format!("Virtual server {name}: one packet scheduling requires UDP - resetting"));
    }
    if let Some(pe) = persistence_engine(vs)
        && IpvsName::try_from(pe).is_err()
    {
        w.push(format!("Virtual server {name}: persistence_engine '{pe}' is too long - ignoring"));
    }
    w
}

/// The IPVS service for one member of a virtual server.
pub fn service_for(config: &Config, vs: &VirtualServer, member: Member) -> Option<Service> {
    let proto = match vs.protocol {
        CfgProtocol::Tcp => Protocol::Tcp,
        CfgProtocol::Udp => Protocol::Udp,
        CfgProtocol::Sctp => Protocol::Sctp,
    };
    let mut svc = match member {
        Member::Addr { addr, port } => Service::new(proto, addr, port, &vs.lb_algo)?,
        Member::Fwmark(m) => {
            let af = vs.real_servers.first().map(|r| AddrFamily::of(&r.addr)).unwrap_or(AddrFamily::Inet);
            Service::fwmark(af, m, &vs.lb_algo)?
        }
    };
    if let Some(t) = group::persistence(config, vs) {
        let prefix = match vs.persistence_granularity {
            Some(std::net::IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
            _ => svc.af.max_prefix_len(),
        };
        svc = svc.persistent(t, prefix)?;
    }
    svc.flags = svc.flags.with(sched_flags(vs));
    let ops = raw(vs, "ops").is_some() && (proto == Protocol::Udp || matches!(member, Member::Fwmark(_)));
    if ops {
        svc.flags = svc.flags.with(ServiceFlags::ONEPACKET);
    }
    if let Some(pe) = persistence_engine(vs).and_then(|p| IpvsName::try_from(p).ok()) {
        svc.pe_name = pe;
    }
    Some(svc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{RawOption, RealServer, VirtualServerGroup, VsgEntry};

    fn opt(k: &str, args: &[&str]) -> RawOption {
        RawOption { keyword: k.into(), args: args.iter().map(|a| a.to_string()).collect() }
    }

    fn vs(protocol: CfgProtocol, other: Vec<RawOption>) -> VirtualServer {
        VirtualServer {
            key: VirtualServerKey::Addr { addr: "192.0.2.10".parse().unwrap(), port: 53 },
            protocol,
            other,
            real_servers: vec![RealServer { addr: "10.0.0.1".parse().unwrap(), ..RealServer::default() }],
            ..VirtualServer::default()
        }
    }

    fn addr_member() -> Member {
        Member::Addr { addr: "192.0.2.10".parse().unwrap(), port: 53 }
    }

    #[test]
    fn ops_sets_one_packet_on_udp_only() {
        let c = Config::default();
        let udp = vs(CfgProtocol::Udp, vec![opt("ops", &[])]);
        let s = service_for(&c, &udp, addr_member()).unwrap();
        assert!(s.flags.contains(ServiceFlags::ONEPACKET));
        assert_eq!(s.protocol, Protocol::Udp);
        assert!(warnings(&udp, "v").is_empty());
        let tcp = vs(CfgProtocol::Tcp, vec![opt("ops", &[])]);
        let s = service_for(&c, &tcp, addr_member()).unwrap();
        assert_eq!(s.flags, ServiceFlags::default());
        assert_eq!(warnings(&tcp, "v"), vec!["Virtual server v: one packet scheduling requires UDP - resetting"]);
        // Without ops: no flag at all (a later edit would clear it).
        let plain = vs(CfgProtocol::Udp, Vec::new());
        assert_eq!(service_for(&c, &plain, addr_member()).unwrap().flags, ServiceFlags::default());
    }

    #[test]
    fn ops_on_a_fwmark_service_and_a_group_member() {
        let mut v = vs(CfgProtocol::Tcp, vec![opt("ops", &[])]);
        v.key = VirtualServerKey::Fwmark(7);
        let s = service_for(&Config::default(), &v, Member::Fwmark(7)).unwrap();
        assert!(s.flags.contains(ServiceFlags::ONEPACKET));
        // A group: its fwmark member gets it, its TCP address member not.
        let mut g = vs(CfgProtocol::Tcp, vec![opt("ops", &[])]);
        g.key = VirtualServerKey::Group("g".into());
        let c = Config {
            virtual_server_groups: vec![VirtualServerGroup {
                name: "g".into(),
                entries: vec![
                    VsgEntry::Range { first: "192.0.2.10".parse().unwrap(), last: "192.0.2.10".parse().unwrap(), port: 53 },
                    VsgEntry::Fwmark(9),
                ],
            }],
            ..Config::default()
        };
        let got: Vec<bool> =
            group::members(&c, &g).into_iter().map(|m| service_for(&c, &g, m).unwrap().flags.contains(ServiceFlags::ONEPACKET)).collect();
        assert_eq!(got, vec![false, true]);
    }

    #[test]
    fn persistence_engine_is_the_pe_name_with_persistence_kept() {
        let mut v = vs(CfgProtocol::Udp, vec![opt("persistence_engine", &["sip"])]);
        v.persistence_timeout = Some(120);
        let s = service_for(&Config::default(), &v, addr_member()).unwrap();
        assert_eq!(s.pe_name.as_str(), "sip");
        assert!(s.flags.contains(ServiceFlags::PERSISTENT));
        assert_eq!(s.timeout, 120);
        let long = vs(CfgProtocol::Udp, vec![opt("persistence_engine", &["a-name-too-long-for-ipvs"])]);
        assert_eq!(service_for(&Config::default(), &long, addr_member()).unwrap().pe_name.as_str(), "");
        assert_eq!(warnings(&long, "v").len(), 1);
        assert_eq!(service_for(&Config::default(), &vs(CfgProtocol::Udp, Vec::new()), addr_member()).unwrap().pe_name.as_str(), "");
    }

    #[test]
    fn from_config_text_through_the_parser() {
        let text = "virtual_server 192.0.2.10 5060 {\n  protocol UDP\n  lb_algo rr\n  ops\n  persistence_timeout 60\n  persistence_engine sip\n  real_server 10.0.0.1 5060 {\n  }\n}\n";
        let l = crate::config::load_str(text, std::path::Path::new("t.conf"), &Default::default());
        let v = &l.config.virtual_servers[0];
        let s = service_for(&l.config, v, Member::Addr { addr: "192.0.2.10".parse().unwrap(), port: 5060 }).unwrap();
        assert_eq!(s.flags, ServiceFlags::PERSISTENT.with(ServiceFlags::ONEPACKET), "{:?}", l.diagnostics);
        assert_eq!(s.pe_name.as_str(), "sip");
    }

    #[test]
    fn scheduler_flags_and_the_hashing_schedulers() {
        let mut v = vs(CfgProtocol::Tcp, vec![opt("flag-3", &[]), opt("sh-port", &[]), opt("mh-fallback", &[]), opt("hashed", &[])]);
        v.lb_algo = "wlc".into();
        // Only flag-N outside sh/mh; hashed never.
        assert_eq!(sched_flags(&v), ServiceFlags::SCHED3);
        v.lb_algo = "mh".into();
        assert_eq!(sched_flags(&v), ServiceFlags::SCHED3.with(ServiceFlags::SCHED2).with(ServiceFlags::SCHED1));
        let s = service_for(&Config::default(), &v, addr_member()).unwrap();
        assert_eq!(s.flags, ServiceFlags::SCHED3.with(ServiceFlags::SCHED2).with(ServiceFlags::SCHED1));
        assert_eq!(s.scheduler.as_str(), "mh");
    }
}
