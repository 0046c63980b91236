//! Whole-pipeline unit tests: defaults, ranges, cross references.

use super::*;
use model::*;

fn load_t(text: &str) -> Loaded {
    super::load_str_with_interfaces(text, Path::new("/nonexistent/test.conf"), &LoadOptions { config_id: Some("main".into()) }, &["lo"])
}

fn messages(l: &Loaded) -> Vec<String> {
    l.diagnostics.iter().map(|d| d.message.clone()).collect()
}

#[test]
fn instance_defaults() {
    let l = load_t("vrrp_instance A {\n interface lo\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.1/24 dev lo\n }\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int, Centiseconds(100));
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.virtual_ipaddress[0].prefix_len, 24);
    assert_eq!(l.config.global.vrrp_version, 2);
}

#[test]
fn ranges_are_checked() {
    let l = load_t("vrrp_instance A {\n interface lo\n virtual_router_id 256\n priority 0\n advert_int 0\n virtual_ipaddress {\n 10.0.0.1\n }\n}");
    let m = messages(&l);
    assert!(m.iter().any(|s| s.contains("VRID")), "{m:?}");
    assert!(m.iter().any(|s| s.contains("Priority")), "{m:?}");
    assert!(m.iter().any(|s| s.contains("Advert interval")), "{m:?}");
    assert_eq!(l.config.vrrp_instances[0].priority, 100);
    assert!(!l.is_valid());
}

#[test]
fn advert_int_units() {
    let l = load_t("vrrp_instance A {\n interface lo\n virtual_router_id 1\n version 3\n advert_int 0.25\n virtual_ipaddress {\n 10.0.0.1\n }\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(25));
    let l = load_t("vrrp_instance A {\n interface lo\n virtual_router_id 1\n version 3\n advert_int 41\n virtual_ipaddress {\n 10.0.0.1\n }\n}");
    assert!(!l.is_valid());
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(4095));
    let l = load_t("vrrp_instance A {\n interface lo\n virtual_router_id 1\n advert_int 0.5\n virtual_ipaddress {\n 10.0.0.1\n }\n}");
    assert!(!l.is_valid());
    assert_eq!(l.config.vrrp_instances[0].advert_int, Centiseconds(100));
}

#[test]
fn cross_references() {
    let l = load_t(
        "vrrp_sync_group G {\n group {\n  A\n  B\n }\n}\nvrrp_instance A {\n interface lo\n virtual_router_id 1\n track_script {\n  nothing\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\nvrrp_instance C {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.2\n }\n}",
    );
    let m = messages(&l);
    assert!(m.iter().any(|s| s.contains("track script nothing not found")), "{m:?}");
    assert!(m.iter().any(|s| s.contains("Virtual router B specified in sync group G")), "{m:?}");
    assert!(m.iter().any(|s| s.contains("both use VRID 1")), "{m:?}");
    assert!(l.config.vrrp_instances[0].track_scripts.is_empty());
}

#[test]
fn missing_interface() {
    let l = load_t("vrrp_instance A {\n interface no-such-if0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}");
    let d = &l.diagnostics[0];
    assert_eq!(d.line, 2);
    assert!(d.to_string().starts_with("/nonexistent/test.conf:2: "));
    assert!(!l.is_valid());
    assert!(!l.has_errors());
}

#[test]
fn unknown_keyword_has_position() {
    let l = load_t("global_defs {\n router_id x\n bogus 1\n}");
    assert_eq!(l.diagnostics.len(), 1);
    assert_eq!(l.diagnostics[0].line, 3);
    assert_eq!(l.config.global.router_id.as_deref(), Some("x"));
}

#[test]
fn virtual_server_model() {
    let l = load_t(
        "virtual_server 10.0.0.1 80 {\n delay_loop 6\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {\n  weight 3\n  HTTP_GET {\n   url {\n    path /\n    status_code 200 300-302\n   }\n   connect_timeout 2.5\n  }\n }\n}",
    );
    assert!(l.is_valid(), "{:?}", messages(&l));
    let vs = &l.config.virtual_servers[0];
    assert_eq!(vs.delay_loop, Microseconds(6_000_000));
    assert_eq!(vs.lb_kind, LbKind::Dr);
    let rs = &vs.real_servers[0];
    assert_eq!(rs.weight, 3);
    assert_eq!(rs.checkers[0].connect_timeout, Microseconds(2_500_000));
    match &rs.checkers[0].kind {
        CheckKind::Http(h) => assert_eq!(h.urls[0].status_code, [(200, 200), (300, 302)]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn virtual_server_missing_settings_match_keepalived() {
    let l = load_t("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}");
    assert_eq!(l.diagnostics.len(), 3, "{:?}", messages(&l));
    assert_eq!(l.config.virtual_servers[0].protocol, Protocol::Udp);
}

#[test]
fn routes_and_rules() {
    let l = load_t("static_routes {\n 10.1.0.0/16 via 10.0.0.1 dev lo table 100 metric 5\n blackhole 10.9.0.0/16 dev lo\n}\nstatic_rules {\n from 10.0.0.0/8 table 100 priority 10\n}");
    assert!(l.is_valid(), "{:?}", messages(&l));
    let r = &l.config.static_routes[0];
    assert_eq!(r.dst.prefix_len, 16);
    assert_eq!(r.table, Some(100));
    assert_eq!(r.metric, Some(5));
    assert_eq!(l.config.static_routes[1].route_type, RouteType::Blackhole);
    assert_eq!(l.config.static_rules[0].priority, Some(10));
    let l = load_t("static_rules {\n from 10.0.0.0/8 table 1\n}");
    assert_eq!(l.config.static_rules[0].priority, Some(16384));
    assert!(!l.is_valid());
}

#[test]
fn postcard_and_json_round_trip() {
    let l = load_t("global_defs {\n router_id r\n}\nvrrp_instance A {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n fe80::1/64 dev lo scope link\n }\n}");
    let bytes = postcard::to_allocvec(&l.config).unwrap_or_default();
    let back: Config = postcard::from_bytes(&bytes).unwrap_or_default();
    assert_eq!(back, l.config);
    let json = to_json(&l.config);
    let back: Config = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(back, l.config);
}

#[test]
fn includes_relative_and_loops() {
    let d = std::env::temp_dir().join(format!("vigil-inc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(d.join("conf.d"));
    let _ = std::fs::write(d.join("main.conf"), "include conf.d/*.conf\n");
    let _ = std::fs::write(d.join("conf.d/a.conf"), "global_defs {\n router_id A\n}\ninclude ../loop.conf\n");
    let _ = std::fs::write(d.join("loop.conf"), "include conf.d/a.conf\n");
    let l = load(&d.join("main.conf"), &LoadOptions::default());
    assert_eq!(l.config.global.router_id.as_deref(), Some("A"));
    assert!(l.has_errors());
    assert!(l.diagnostics.iter().any(|x| x.message.contains("include loop")), "{:?}", l.diagnostics);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn unreadable_main_file() {
    let l = load(Path::new("/nonexistent/keepalived.conf"), &LoadOptions::default());
    assert!(l.has_errors());
    assert!(!l.is_valid());
}

#[test]
fn vips_past_what_an_advert_carries_become_evips() {
    // As keepalived 2.2.7: 300 IPv4 VIPs, 255 advertised, 45 moved to the eVIPs
    // (after those already there), with its warning; IPv6 adverts carry 90.
    let vips: String = (0..300).map(|i| format!("  10.1.{}.{}\n", i / 250, i % 250 + 1)).collect();
    let l = load_t(&format!(
        "vrrp_instance A {{\n interface lo\n virtual_router_id 1\n virtual_ipaddress {{\n{vips} }}\n virtual_ipaddress_excluded {{\n  10.9.0.1\n }}\n}}"
    ));
    let m = messages(&l);
    assert!(m.iter().any(|s| s == "(A) Number of VIPs (300) exceeds maximum/space available in packet (max 255 addresses) - excess moved to eVIPs"), "{m:?}");
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.virtual_ipaddress.len(), 255);
    assert_eq!(i.virtual_ipaddress_excluded.len(), 46);
    assert_eq!(i.virtual_ipaddress_excluded[0].addr.to_string(), "10.1.1.6");
    assert_eq!(i.virtual_ipaddress_excluded[45].addr.to_string(), "10.9.0.1");
    assert_eq!(validate_vrrp::max_advert_vips(true, 3, false), 90);
    assert_eq!(validate_vrrp::max_advert_vips(false, 2, true), 255);
}
