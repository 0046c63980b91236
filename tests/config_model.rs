//! The typed model of a real sample: keepalived's values and defaults, in
//! std::net types and the right time units.

#[path = "support/skip.rs"]
mod skip;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use vigil::config::model::*;
use vigil::config::{LoadOptions, load, load_str};

fn sample(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("VIGIL_KEEPALIVED_SAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/keepalived-samples"));
    let p = dir.join(name);
    if p.is_file() {
        Some(p)
    } else {
        skip::skip_or_fail(&format!("sample {} not found", p.display()));
        None
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn config_keepalived_conf_sample() {
    let Some(p) = sample("keepalived.conf.sample") else { return };
    let cfg = load(&p, &LoadOptions::default()).config;
    let g = &cfg.global;
    assert_eq!(g.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(g.notification_email, ["acassen"]);
    assert_eq!(g.notification_email_from.as_deref(), Some("Alexandre.Cassen@firewall.loc"));
    assert_eq!(g.smtp_server, Some(SmtpServer { host: "192.168.200.1".into(), port: 25 }));
    assert_eq!(g.smtp_connect_timeout, 30);
    assert_eq!(g.vrrp_version, 2);

    let i = &cfg.vrrp_instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.interface.as_deref(), Some("eth0"));
    assert_eq!(i.virtual_router_id, 50);
    assert!(i.nopreempt);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int, Centiseconds(100));
    assert_eq!(i.advert_int.as_micros(), 1_000_000);
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.version, Some(2));
    let vips: Vec<IpAddr> = i.virtual_ipaddress.iter().map(|a| a.addr).collect();
    assert_eq!(vips, [v4(192, 168, 200, 11), v4(192, 168, 200, 12), v4(192, 168, 200, 13)]);
    assert!(i.virtual_ipaddress.iter().all(|a| a.prefix_len == 32 && a.dev.is_none()));

    let vs = &cfg.virtual_servers[0];
    assert_eq!(vs.key, VirtualServerKey::Addr { addr: v4(10, 10, 10, 2), port: 1358 });
    assert_eq!(vs.delay_loop, Microseconds::from_secs(6));
    assert_eq!(vs.lb_algo, "rr");
    assert_eq!(vs.lb_kind, LbKind::Nat);
    assert_eq!(vs.protocol, Protocol::Tcp);
    assert_eq!(vs.persistence_timeout, Some(50));
    assert_eq!(vs.sorry_server, Some(SorryServer { addr: v4(192, 168, 200, 200), port: Some(1358), lb_kind: None }));
    assert_eq!(vs.quorum, 1);
    let rs = &vs.real_servers[0];
    assert_eq!((rs.addr, rs.port, rs.weight), (v4(192, 168, 200, 2), Some(1358), 1));
    let ch = &rs.checkers[0];
    assert_eq!(ch.connect_timeout, Microseconds::from_secs(3));
    assert_eq!(ch.retry, Some(3));
    assert_eq!(ch.delay_before_retry, Some(Microseconds::from_secs(3)));
    let CheckKind::Http(h) = &ch.kind else { panic!("HTTP_GET expected, got {:?}", ch.kind) };
    assert_eq!(h.urls[0].path, "/testurl3/test.jsp");
    assert_eq!(h.urls[0].digest.as_deref(), Some("640205b7b0fc66c1ea91c463fac6334d"));
}

#[test]
fn config_routes_and_rules_samples() {
    let Some(p) = sample("keepalived.conf.vrrp.routes") else { return };
    let cfg = load(&p, &LoadOptions::default()).config;
    let r = &cfg.static_routes[0];
    assert_eq!(r.src, Some(v4(192, 168, 100, 1)));
    assert_eq!(r.dst, IpPrefix { addr: v4(192, 168, 209, 0), prefix_len: 24 });
    assert_eq!(r.gateway, Some(v4(192, 168, 200, 254)));
    assert_eq!(r.dev.as_deref(), Some("eth0"));
    assert_eq!(cfg.static_routes[3].scope, Some(Scope::Site));
    let vr = &cfg.vrrp_instances[0].virtual_routes;
    assert!(vr.iter().any(|r| r.route_type == RouteType::Blackhole));
    assert!(vr.iter().any(|r| r.table == Some(100) && r.dst.prefix_len == 0));
    assert!(vr.iter().any(|r| r.nexthops.len() == 2));
}

#[test]
fn config_conditional_sample_with_config_id() {
    let Some(p) = sample("keepalived.conf.conditional_conf") else { return };
    let high = load(&p, &LoadOptions { config_id: Some("high".into()) });
    let low = load(&p, &LoadOptions { config_id: Some("low".into()) });
    assert_eq!(high.config.vrrp_instances[0].priority, 170);
    assert_eq!(low.config.vrrp_instances[0].priority, 85);
    assert_eq!(high.config.vrrp_scripts[0].script.argv, ["/etc/keepalived/scripts/check_high_VI_0.sh"]);
    assert_eq!(high.config.global.net_namespace.as_deref(), Some("high"));
    // advert_int 12 with version 3: 12 s, i.e. 1200 centiseconds.
    assert_eq!(high.config.vrrp_instances[0].advert_int, Centiseconds(1200));
    assert_eq!(high.config.vrrp_instances[0].use_vmac.as_deref(), Some("vrrp.1"));
}

#[test]
fn config_ipv6_sample() {
    let Some(p) = sample("keepalived.conf.IPv6") else { return };
    let cfg = load(&p, &LoadOptions::default()).config;
    assert!(cfg.virtual_servers.iter().any(|v| matches!(v.key, VirtualServerKey::Addr { addr: IpAddr::V6(_), .. })));
    let g = &cfg.virtual_server_groups;
    assert!(g.iter().flat_map(|g| &g.entries).any(|e| matches!(e, VsgEntry::Range { first: IpAddr::V6(_), .. })));
}

#[test]
fn config_json_dump_is_the_model() {
    let l = load_str(
        "vrrp_instance A {\n interface lo\n virtual_router_id 9\n advert_int 0.5\n version 3\n virtual_ipaddress {\n 10.1.1.1/24 dev lo\n }\n}",
        Path::new("/nonexistent/x.conf"),
        &LoadOptions::default(),
    );
    let json = vigil::config::to_json(&l.config);
    assert!(json.contains("\"advert_int\": 50"), "{json}");
    let back: vigil::config::Config = serde_json::from_str(&json).expect("json");
    assert_eq!(back, l.config);
}

/// Real-server and sorry-server ports as keepalived 2.2.7 settles them
/// (validate_check_config): only NAT can change a port, so a fwmark NAT real
/// server keeps its port, a DR/TUN one loses it; under an address virtual
/// server a missing port is the virtual server's; a real server's own
/// `lvs_method` decides over the virtual server's `lb_kind`.
#[test]
fn config_real_server_ports_follow_the_forwarding_method() {
    let text = "
virtual_server fwmark 7 {
    lb_algo rr
    lb_kind NAT
    real_server 10.99.2.13 80 {
    }
    real_server 10.99.2.14 {
    }
    real_server 10.99.2.15 81 {
        lvs_method DR
    }
    sorry_server 10.99.2.20 8080
}
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.99.2.13 {
    }
    real_server 10.99.2.14 8080 {
    }
    real_server 10.99.2.15 8080 {
        lvs_method NAT
    }
    sorry_server 10.99.2.20 8080
    sorry_server_lvs_method TUN
}
virtual_server 10.0.0.2 443 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.2.16 {
    }
}
";
    let loaded = load_str(text, Path::new("ports.conf"), &LoadOptions::default());
    let vs = &loaded.config.virtual_servers;
    let ports = |i: usize| vs[i].real_servers.iter().map(|r| r.port).collect::<Vec<_>>();
    let kinds = |i: usize| vs[i].real_servers.iter().map(|r| vs[i].rs_lb_kind(r)).collect::<Vec<_>>();
    assert_eq!(ports(0), [Some(80), None, None]);
    assert_eq!(kinds(0), [LbKind::Nat, LbKind::Nat, LbKind::Dr]);
    assert_eq!(vs[0].sorry_server.as_ref().map(|s| s.port), Some(Some(8080)), "a NAT sorry server keeps its port");
    assert_eq!(ports(1), [Some(80), Some(80), Some(8080)]);
    assert_eq!(kinds(1), [LbKind::Dr, LbKind::Dr, LbKind::Nat]);
    let sorry = vs[1].sorry_server.as_ref().expect("sorry server");
    assert_eq!((sorry.port, vs[1].sorry_lb_kind(sorry)), (Some(80), LbKind::Tun));
    assert_eq!(ports(2), [Some(443)]);
    // keepalived's words for what it changed, and nothing about the NAT ones.
    let msgs: Vec<&str> = loaded.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "WARNING - fwmark virtual server FWM 7, real server [10.99.2.15]:none:81 has port specified - clearing",
            "WARNING - virtual server [10.0.0.1]:tcp:80 and real server [10.99.2.14]:tcp:8080 ports don't match - resetting",
            "WARNING - virtual server [10.0.0.1]:tcp:80 and sorry server ports don't match - resetting",
        ]
    );
}

/// docs/differences.md carries src/config/DIFFERENCES.md's text: its
/// introduction under "Configuration", "Deliberate differences" one level
/// down beneath it, and "keepalived 2.2.7 behaviour we match" as a section
/// of its own. A difference added to one is in both.
#[test]
fn docs_carry_the_configuration_differences() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(root.join("docs/differences.md")).expect("docs/differences.md");
    let diffs = std::fs::read_to_string(root.join("src/config/DIFFERENCES.md")).expect("DIFFERENCES.md");
    let body = diffs.split_once('\n').map(|(_, b)| b.trim()).unwrap_or_default();
    assert!(body.contains("\n## Deliberate differences\n") && body.contains("\n## keepalived 2.2.7 behaviour we match"), "DIFFERENCES.md's sections were renamed: update docs/differences.md and this test");
    let body = body.replace("\n## Deliberate differences\n", "\n### Deliberate differences\n");
    assert!(docs.contains(&body), "docs/differences.md's configuration sections are not DIFFERENCES.md's text: copy it over");
    let config = docs.find("\n## Configuration (`-t` verdicts)\n").expect("docs/differences.md: no Configuration section");
    assert!(docs.find(&body).is_some_and(|at| at > config), "DIFFERENCES.md's text is not under Configuration");
}
