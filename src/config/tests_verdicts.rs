//! The model keepalived 2.2.7 builds where vigil's verdict used to differ
//! from it: each test checks what the configuration resolves to,
//! not only whether it is valid.

use super::*;
use model::*;
use std::net::IpAddr;

fn load_t(text: &str) -> Loaded {
    super::load_str_with_interfaces(text, Path::new("/nonexistent/test.conf"), &LoadOptions { config_id: Some("main".into()) }, &["lo"])
}

fn messages(l: &Loaded) -> Vec<String> {
    l.diagnostics.iter().map(|d| d.message.clone()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// An instance on `lo` with the given extra lines.
fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance A {{\n interface lo\n virtual_router_id 1\n virtual_ipaddress {{\n  10.0.0.1/24\n }}\n{extra}\n}}\n"
    )
}

#[test]
fn track_file_both_spellings_build_the_same_model() {
    let body = " {\n file /tmp/x\n weight 7\n}\n";
    let refs = " track_file {\n  TF weight 3\n }";
    let a = load_t(&format!("vrrp_track_file TF{body}{}", instance(refs)));
    let b = load_t(&format!("track_file TF{body}{}", instance(refs)));
    assert!(b.is_valid(), "{:?}", messages(&b));
    assert_eq!(a.config, b.config);
    assert_eq!(b.config.track_files[0].weight, 7);
    assert_eq!(b.config.vrrp_instances[0].track_files[0].name, "TF");
    // FILE_CHECK names a track file without a block.
    let c = load_t(
        "track_file TF {\n file /tmp/x\n}\nvirtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.1 80 {\n  FILE_CHECK {\n   track_file TF\n  }\n }\n}",
    );
    assert!(c.is_valid(), "{:?}", messages(&c));
}

#[test]
fn broadcast_plus_minus_resolve_to_addresses() {
    let l = load_t(&instance(
        " virtual_ipaddress {\n  10.1.2.3/24 brd +\n  10.1.2.4/20 broadcast -\n  10.1.2.5/24 brd 10.1.2.127\n  10.1.2.6/31 brd +\n }",
    ));
    let vips = &l.config.vrrp_instances[0].virtual_ipaddress;
    let brd: Vec<Option<IpAddr>> = vips.iter().map(|a| a.broadcast).collect();
    assert_eq!(brd[1..], [Some(ip("10.1.2.255")), Some(ip("10.1.0.0")), Some(ip("10.1.2.127")), None]);
    assert_eq!(messages(&l), ["Address prefix length 31 too long for broadcast"]);
    // An IPv6 address with a broadcast is dropped.
    let l = load_t(&instance(" virtual_ipaddress_excluded {\n  fd00::1/64 brd +\n }"));
    assert!(l.config.vrrp_instances[0].virtual_ipaddress_excluded.is_empty());
    assert!(!l.is_valid());
}

#[test]
fn route_via_names_the_family() {
    let l = load_t(
        "static_routes {\n fd01::/64 via inet6 fd00::2 dev lo\n default via inet6 fd00::3 dev lo\n 10.9.0.0/16 via inet 10.0.0.254 dev lo\n}",
    );
    assert!(l.is_valid(), "{:?}", messages(&l));
    let r = &l.config.static_routes;
    assert_eq!(r[0].gateway, Some(ip("fd00::2")));
    // `default` takes the family of the gateway.
    assert_eq!(r[1].dst, IpPrefix { addr: ip("::"), prefix_len: 0 });
    assert_eq!(r[2].gateway, Some(ip("10.0.0.254")));
    let l = load_t("static_routes {\n 10.9.0.0/16 via inet6 10.0.0.254 dev lo\n}");
    assert_eq!(messages(&l), ["Cannot mix IPv4 and IPv6 addresses for route"]);
    assert!(l.config.static_routes.is_empty());
}

#[test]
fn protocol_is_case_insensitive_lb_kind_is_not() {
    let l = load_t(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind nat\n protocol sctp\n real_server 10.0.1.1 80 {\n }\n}",
    );
    let vs = &l.config.virtual_servers[0];
    assert_eq!(vs.protocol, Protocol::Sctp);
    let m = messages(&l);
    assert!(m.contains(&"PARSER : unknown [nat] routing method for virtual server.".to_string()), "{m:?}");
    assert!(m.contains(&"Virtual server [10.0.0.1]:sctp:80: no forwarding method set, setting default NAT".to_string()), "{m:?}");
}

#[test]
fn seq_numbers_may_be_definitions() {
    let l = load_t(&format!(
        "$S=2\n$E=4\n{}",
        instance(" virtual_ipaddress {\n~SEQ(i, $S, $E) 10.0.0.${i}/24\n~SEQ(i,${S},$E) 10.0.1.${i}/24\n }")
    ));
    assert!(l.is_valid(), "{:?}", messages(&l));
    let n = l.config.vrrp_instances[0].virtual_ipaddress.len();
    assert_eq!(n, 1 + 3 + 3);
}

#[test]
fn unicast_keywords_without_peers() {
    let deprecated = "(A) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.";
    // A bad unicast_src_ip still makes the instance unicast.
    let l = load_t(&instance(" unicast_src_ip 10.0.0.999"));
    assert!(messages(&l).contains(&deprecated.to_string()), "{:?}", messages(&l));
    let l = load_t(&instance(" unicast_peer {\n }"));
    assert_eq!(messages(&l), [deprecated]);
    let l = load_t(&instance(" unicast_fault_no_peer\n unicast_src_ip 10.0.0.9"));
    assert!(l.is_valid(), "{:?}", messages(&l));
    let l = load_t(&instance(" unicast_ttl 5"));
    assert_eq!(messages(&l), ["(A): Cannot use unicast_ttl without unicast peers - resetting"]);
    assert!(!l.config.vrrp_instances[0].other.iter().any(|o| o.keyword == "unicast_ttl"));
}

#[test]
fn own_interface_is_not_tracked() {
    let l = load_t(&instance(" track_interface {\n  lo weight 10\n }"));
    assert_eq!(messages(&l), ["(A) Ignoring track_interface lo since own interface"]);
    assert!(l.config.vrrp_instances[0].track_interfaces.is_empty());
}

#[test]
fn advert_int_is_rounded_for_its_version() {
    let l = load_t(&instance(" version 3\n advert_int 0.015"));
    assert_eq!(messages(&l), ["(A) VRRPv3 advertisement interval 0.015000s must be in units of 10ms - rounding"]);
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(2));
    // 1.001 s is 100 cs, but VRRPv2 judges what was written.
    let l = load_t(&instance(" advert_int 1.001"));
    assert_eq!(messages(&l), ["(A) VRRPv2 advertisement interval 1.001000s must be an integer. rounding"]);
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(100));
    let l = load_t(&instance(" version 3\n advert_int 0.03"));
    assert!(l.is_valid(), "{:?}", messages(&l));
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(3));
    let l = load_t(&instance(" advert_int 0.001"));
    assert_eq!(
        messages(&l),
        ["number '0.001' outside range [0.010000, 255.000000]", "(A) Advert interval (0.001) not valid! Must be > 0 - ignoring"]
    );
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(100));
}

#[test]
fn nb_get_retry_is_http_get_retry() {
    let vs = |check: &str| {
        format!(
            "virtual_server 10.0.0.1 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.1 80 {{\n  {check} {{\n   url {{\n    path /\n   }}\n   nb_get_retry 4\n  }}\n }}\n}}"
        )
    };
    let l = load_t(&vs("HTTP_GET"));
    let m = messages(&l);
    assert!(m.contains(&"nb_get_retry is deprecated - please use 'retry'".to_string()), "{m:?}");
    let retry = l.config.virtual_servers.first().and_then(|v| v.real_servers.first()).and_then(|r| r.checkers.first()).map(|c| c.retry);
    assert_eq!(retry, Some(Some(4)));
    let l = load_t(&vs("TCP_CHECK"));
    assert!(messages(&l).contains(&"Unknown keyword 'nb_get_retry'".to_string()), "{:?}", messages(&l));
}

#[test]
fn vmac_rules() {
    let l = load_t(&instance(" use_vmac\n promote_secondaries"));
    assert_eq!(messages(&l), ["(A) promote_secondaries is automatically set for vmacs - ignoring"]);
    assert!(!l.config.vrrp_instances[0].other.iter().any(|o| o.keyword == "promote_secondaries"));
    let l = load_t(&instance(" use_vmac\n unicast_peer {\n  10.0.0.2\n }"));
    assert_eq!(messages(&l), ["(A) unicast with use_vmac requires vmac_xmit_base - setting"]);
    assert!(l.config.vrrp_instances[0].vmac_xmit_base);
    let l = load_t(&instance(" vmac_xmit_base"));
    assert_eq!(messages(&l), ["(A) vmac_xmit_base is only valid with a vmac"]);
    assert!(!l.config.vrrp_instances[0].vmac_xmit_base);
}

#[test]
fn sorry_server_takes_the_matching_real_servers_inhibit() {
    let l = load_t(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n inhibit_on_failure\n sorry_server 10.0.1.1\n real_server 10.0.1.1 {\n }\n}",
    );
    assert_eq!(
        messages(&l),
        ["Virtual server [10.0.0.1]:tcp:80: real server [10.0.1.1]:tcp:0 matches sorry server, but inhibit setting differs, setting on sorry server"]
    );
    assert!(l.config.virtual_servers[0].sorry_server_inhibit);
    // Another port is another server.
    let l = load_t(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n sorry_server 10.0.1.1 81\n real_server 10.0.1.1 80 {\n  inhibit_on_failure\n }\n}",
    );
    assert!(l.is_valid(), "{:?}", messages(&l));
    assert!(!l.config.virtual_servers[0].sorry_server_inhibit);
}

#[test]
fn interface_up_down_delays_are_read() {
    let l = load_t("interface_up_down_delays {\n lo 1 2\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    let l = load_t("interface_up_down_delays {\n nosuch9 1 2\n}");
    assert_eq!(messages(&l), ["unknown interface nosuch9 specified for up/down delay"]);
}

#[test]
fn script_violations_per_side() {
    // No vrrp_instance: keepalived checks no VRRP script at all.
    let l = load_t("vrrp_script chk {\n script /nonexistent/x\n}\nvrrp_script ok {\n script /bin/true\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    let l = load_t(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.1 80 {\n  notify_up /bin/true\n }\n}",
    );
    assert_eq!(messages(&l), ["SECURITY VIOLATION - check scripts are being executed but script_security not enabled."]);
    let l = load_t("global_defs {\n startup_script /bin/true\n}");
    assert_eq!(messages(&l), ["SECURITY VIOLATION - start/shutdown scripts are being executed but script_security not enabled."]);
    assert!(l.security_violation());
    let l = load_t(&instance(" notify_deleted /bin/true"));
    assert_eq!(messages(&l), ["SECURITY VIOLATION - scripts are being executed but script_security not enabled."]);
}

#[test]
fn bfd_is_read_into_the_model_where_it_is_asked_for() {
    let text = format!(
        "bfd_instance B1 {{\n neighbor_ip 10.0.0.2\n min_rx 2.5\n weight -20 reverse\n}}\nvrrp_sync_group G {{\n group {{\n  A\n  Z\n }}\n track_bfd {{\n  B1\n }}\n}}\n{}vrrp_instance Z {{\n interface lo\n virtual_router_id 2\n virtual_ipaddress {{\n  10.0.0.2/24\n }}\n}}\nvirtual_server 10.0.0.1 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.1 80 {{\n  BFD_CHECK {{\n   name B1\n  }}\n }}\n}}\n",
        instance(" track_bfd {\n  B1 weight 0\n }")
    );
    let l = load_t(&text);
    assert_eq!(messages(&l), Vec::<String>::new());
    let b = &l.config.bfd_instances[0];
    assert_eq!((b.name.as_str(), b.neighbor_ip, b.source_ip), ("B1", ip("10.0.0.2"), None));
    assert_eq!((b.min_rx, b.min_tx, b.idle_tx), (Microseconds(2_500), Microseconds(10_000), Microseconds(1_000_000)));
    assert_eq!((b.multiplier, b.ttl, b.max_hops, b.passive), (5, 255, 0, false));
    assert_eq!((b.weight, b.weight_reverse, b.vrrp, b.checker), (-20, true, true, true));
    // The sync group's line takes the instance's weight; the instance's own line overrides it.
    assert_eq!(l.config.sync_groups[0].track_bfds, [TrackRef { name: "B1".into(), weight: Some(-20), reverse: true }]);
    assert_eq!(l.config.vrrp_instances[0].track_bfds, [TrackRef { name: "B1".into(), weight: Some(0), reverse: true }]);
    assert_eq!(l.config.virtual_servers[0].real_servers[0].bfd_checks, [crate::config::model::BfdCheck { name: "B1".into(), alpha: None }]);
}

/// The BFD child's process options, read as the VRRP and checker children's
/// (keepalived's get_priority / get_realtime_priority words).
#[test]
fn bfd_process_options() {
    let l = load_t("global_defs {\n bfd_priority -5\n bfd_no_swap\n bfd_rt_priority 100\n bfd_priority 30\n vrrp_rt_priority 0\n}\n");
    assert_eq!(
        messages(&l),
        [
            "bfd process real-time priority 100 greater than maximum 99 - setting to maximum",
            "number '30' outside range [-20, 19]",
            "Invalid bfd process priority specified",
            "vrrp process real-time priority 0 less than minimum 1 - setting to minimum"
        ]
    );
    let g = &l.config.global;
    assert_eq!((g.bfd_priority, g.bfd_no_swap, g.bfd_rt_priority, g.vrrp_rt_priority), (Some(-5), true, Some(99), Some(1)));
}

/// `multihop` as keepalived 2.2.8 reads it (2.2.7 calls it unknown): bare or
/// true/false; a single-hop and a multihop session to the same neighbour are
/// not duplicates, two multihop ones are.
#[test]
fn bfd_multihop_keyword() {
    let l = load_t("bfd_instance B1 {\n neighbor_ip 10.0.0.2\n multihop\n}\nbfd_instance B2 {\n neighbor_ip 10.0.0.2\n}\nbfd_instance B3 {\n neighbor_ip 10.0.0.3\n multihop no\n}\nbfd_instance B4 {\n neighbor_ip 10.0.0.4\n multihop maybe\n}\nbfd_instance B5 {\n neighbor_ip 10.0.0.2\n multihop true\n}\n");
    assert_eq!(
        messages(&l),
        [
            "Configuration error: BFD instance B4 multihop setting not valid - maybe",
            "Configuration error: BFD instance B5 has duplicate neighbor address 10.0.0.2, ignoring instance"
        ]
    );
    let m: Vec<_> = l.config.bfd_instances.iter().map(|b| (b.name.as_str(), b.multihop)).collect();
    assert_eq!(m, [("B1", true), ("B2", false), ("B3", false), ("B4", false)]);
}

#[test]
fn bfd_names_resolve_in_file_order_and_per_process() {
    // track_bfd before the bfd_instance it names: keepalived reads in order.
    let l = load_t(&format!("{}bfd_instance B1 {{\n neighbor_ip 10.0.0.2\n}}\n", instance(" track_bfd {\n  B1\n }")));
    assert_eq!(messages(&l), ["(A) track bfd B1 not found, ignoring..."]);
    // An instance for the checker only is unknown to VRRP.
    let l = load_t(&format!("bfd_instance B1 {{\n neighbor_ip 10.0.0.2\n checker\n}}\n{}", instance(" track_bfd {\n  B1\n }")));
    assert_eq!(messages(&l), ["(A) track bfd B1 not found, ignoring..."]);
    assert_eq!((l.config.bfd_instances[0].vrrp, l.config.bfd_instances[0].checker), (false, true));
    // The BFD process refuses an instance without a neighbour; VRRP still knows the name.
    let l = load_t(&format!("bfd_instance B1 {{\n min_rx 5\n}}\n{}", instance(" track_bfd {\n  B1\n }")));
    assert_eq!(messages(&l), ["Configuration error: BFD instance B1 has no neighbor address set, disabling instance"]);
    assert!(l.config.bfd_instances.is_empty());
    assert_eq!(l.config.vrrp_instances[0].track_bfds.len(), 1);
}

#[test]
fn owner_and_sync_group_priorities_do_not_float() {
    // The address owner drops weighted interfaces and files; a file at its
    // default weight 1 is made unweighted.
    let l = load_t(&format!(
        "track_file T1 {{\n file /tmp/x\n}}\ntrack_file T2 {{\n file /tmp/y\n}}\n{}",
        instance(" priority 255\n track_interface {\n  lo weight 5\n }\n track_file {\n  T1\n  T2 weight 4\n }")
    ));
    let i = &l.config.vrrp_instances[0];
    assert!(i.track_interfaces.is_empty(), "{:?}", i.track_interfaces);
    assert_eq!(i.track_files.len(), 1);
    assert_eq!(i.track_files[0].weight, Some(0));
    let m = messages(&l);
    assert!(m.contains(&"(A) ignoring tracked file T2 with weight 4 due to address_owner".to_string()), "{m:?}");
    // In a sync group the interface stays, unweighted.
    let l = load_t(&format!(
        "vrrp_sync_group G {{\n group {{\n  A\n  Z\n }}\n}}\n{}vrrp_instance Z {{\n interface lo\n virtual_router_id 2\n virtual_ipaddress {{\n  10.0.0.2/24\n }}\n}}\n",
        instance(" track_interface {\n  dummy0 weight 5\n }")
    ));
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.track_interfaces.len(), 1);
    assert_eq!(i.track_interfaces[0].weight, Some(0));
    assert!(messages(&l).contains(&"(A) ignoring dummy0 tracked interface weight due to SYNC group".to_string()));
}

#[test]
fn initial_state_and_preemption_as_keepalived_completes_them() {
    let l = load_t(&instance(" priority 255"));
    assert!(l.is_valid(), "{:?}", messages(&l));
    assert_eq!(l.config.vrrp_instances[0].state, InitialState::Master);
    // nopreempt is cleared; the state stays MASTER.
    let l = load_t(&instance(" state MASTER\n priority 100\n nopreempt"));
    assert_eq!(messages(&l), ["(A) Warning - nopreempt will not work with initial state MASTER - clearing"]);
    let i = &l.config.vrrp_instances[0];
    assert_eq!((i.state, i.nopreempt), (InitialState::Master, false));
    // In strict mode only the owner may start MASTER.
    let l = load_t(&format!("global_defs {{\n vrrp_strict\n}}\n{}", instance(" state MASTER\n priority 100")));
    assert_eq!(messages(&l), ["(A) State MASTER must match being address owner"]);
    assert_eq!(l.config.vrrp_instances[0].state, InitialState::Backup);
    let l = load_t("global_defs {\n vrrp_garp_interval 0\n}");
    assert_eq!(messages(&l), ["number '0' outside range [0.000001, 4294.967295]", "vrrp_garp_interval '0' is invalid"]);
    let l = load_t("static_routes {\n to 10.2.0.0/16 via 10.0.0.253 dev lo\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    assert_eq!(l.config.static_routes[0].dst.prefix_len, 16);
}

#[test]
fn udp_check_hex_as_keepalived_reads_it() {
    let vs = |lines: &str| {
        format!(
            "virtual_server 10.0.0.1 53 {{\n lb_algo rr\n lb_kind NAT\n protocol UDP\n real_server 10.0.1.1 53 {{\n  UDP_CHECK {{\n{lines}\n  }}\n }}\n}}"
        )
    };
    let udp = |l: &Loaded| match l.config.virtual_servers.first().and_then(|v| v.real_servers.first()).and_then(|r| r.checkers.first()).map(|c| &c.kind) {
        Some(CheckKind::Udp(u)) => Some(u.clone()),
        _ => None,
    };
    // A lone digit before a blank is one byte; `require_reply` alone wants
    // any reply (an empty prefix); a wildcard nibble ends the prefix.
    let l = load_t(&vs("   payload 41 4 0a\n   require_reply 42xx43"));
    assert!(l.is_valid(), "{:?}", messages(&l));
    let u = udp(&l);
    assert_eq!(u.as_ref().and_then(|u| u.payload.clone()), Some(vec![0x41, 0x04, 0x0a]));
    assert_eq!(u.as_ref().and_then(|u| u.require_reply.clone()), Some(vec![0x42]));
    let l = load_t(&vs("   require_reply"));
    assert_eq!(udp(&l).and_then(|u| u.require_reply), Some(vec![]));
    // `0x` is no prefix to keepalived: x is not a hex digit in a payload.
    let l = load_t(&vs("   payload 0x41"));
    assert_eq!(messages(&l), ["Invalid hex string for UDP_CHECK payload"]);
}

#[test]
fn a_loopback_interface_is_refused_as_keepalived_refuses_it() {
    // The host's own `lo`, asked of the kernel (IFF_LOOPBACK), as keepalived's
    // vrrp_int_handler asks for ARPHRD_LOOPBACK.
    let text = "vrrp_instance A {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n";
    let l = load_str(text, Path::new("/nonexistent/test.conf"), &LoadOptions::default());
    let mut m = messages(&l);
    m.sort();
    assert_eq!(m, ["(A) Unknown interface!", "(A) cannot use a loopback interface (lo) for vrrp - ignoring"]);
    assert_eq!(l.config.vrrp_instances[0].interface, None);
    let env = super::validate::HostEnv::probe();
    assert!(env.is_loopback("lo"));
    let l = super::load_str_with_interfaces(text, Path::new("/nonexistent/test.conf"), &LoadOptions::default(), &["lo"]);
    assert_eq!(messages(&l), Vec::<String>::new(), "a fixed list names no loopback");
}
