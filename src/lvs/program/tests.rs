//! The LVS program against a recorder of hooks and the pure planner:
//! notify and quorum scripts, reloads, omega, alpha, groups, the cache.

use super::*;
use crate::config::model::{RealServer, Script, SorryServer, VirtualServerGroup, VirtualServerKey, VsgEntry};
use crate::ipvs::Protocol;
use crate::lvs::hooks::Recorder;
use crate::netlink::AddrFamily;

fn script(tag: &str) -> Option<Script> {
    Some(Script { argv: vec!["/usr/bin/echo".into(), tag.into()], user: None, group: None })
}

fn rs(addr: &str) -> RealServer {
    RealServer {
        addr: addr.parse().unwrap(),
        port: Some(80),
        weight: 1,
        notify_up: script(&format!("up {addr}")).map(Box::new),
        notify_down: script(&format!("down {addr}")).map(Box::new),
        checkers: vec![Default::default()],
        ..RealServer::default()
    }
}

fn config() -> Config {
    let vs = VirtualServer {
        key: VirtualServerKey::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 },
        quorum: 2,
        quorum_up: script("qup"),
        quorum_down: script("qdown"),
        real_servers: vec![rs("10.0.0.1"), rs("10.0.0.2")],
        ..VirtualServer::default()
    };
    Config { virtual_servers: vec![vs], ..Config::default() }
}

fn ev(rs: u16, up: bool) -> CheckEvent {
    CheckEvent { real_server: RsId { vs: 0, rs }, checker: 0, up, weight: None, kind: CheckEventKind::Health }
}

fn started(r: &Recorder) -> Vec<String> {
    r.scripts.borrow_mut().drain(..).map(|(argv, _)| argv[1..].join(" ")).collect()
}

#[test]
fn transitions_run_notify_and_quorum_scripts() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec.clone());
    l.apply(Rc::new(config()), &[]);
    // Both up at start: quorum 2 met, quorum_up runs; no notify_up.
    assert_eq!(started(&rec), vec!["qup"]);
    l.on_event(ev(1, false));
    assert_eq!(started(&rec), vec!["down 10.0.0.2", "qdown"]);
    l.on_event(ev(1, true));
    assert_eq!(started(&rec), vec!["up 10.0.0.2", "qup"]);
    // The FIFO lines follow the same transitions.
    assert_eq!(
        rec.fifo_lines.borrow_mut().drain(..).collect::<Vec<_>>(),
        vec![
            "VS [192.0.2.10]:tcp:80 UP\n",
            "RS [10.0.0.2]:tcp:80 [192.0.2.10]:tcp:80 DOWN\n",
            "VS [192.0.2.10]:tcp:80 DOWN\n",
            "RS [10.0.0.2]:tcp:80 [192.0.2.10]:tcp:80 UP\n",
            "VS [192.0.2.10]:tcp:80 UP\n",
        ]
    );
    // Real server alerts by default, with the checker kind; none for
    // the virtual server.
    let alerts = rec.alerts.borrow();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].message, "=> TCP CHECK failed on service <=");
    assert_eq!(alerts[0].subject, AlertSubject::RealServer { vs: "[192.0.2.10]:tcp:80".into(), rs: "[10.0.0.2]:tcp:80".into() });
}

#[test]
fn reload_keeps_carried_servers_and_notifies_removed_ones() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec.clone());
    let mut c = config();
    c.virtual_servers[0].quorum = 1;
    l.apply(Rc::new(c.clone()), &[]);
    l.on_event(ev(0, false));
    started(&rec);
    // New config: a real server in front, 10.0.0.2 gone, 10.0.0.1 (down)
    // now at index 1.
    let mut c2 = c.clone();
    c2.virtual_servers[0].real_servers = vec![rs("10.0.0.3"), rs("10.0.0.1")];
    let carried = [(RsId { vs: 0, rs: 1 }, RsView { up: false, weight: None })];
    l.apply(Rc::new(c2), &carried);
    // 10.0.0.2 was up and is removed: notify_down. 10.0.0.1 stays down
    // silently; 10.0.0.3 is new and up (no checker verdict yet).
    assert_eq!(started(&rec), vec!["down 10.0.0.2"]);
    assert_eq!(l.view(RsId { vs: 0, rs: 1 }), Some(RsView { up: false, weight: None }));
    assert_eq!(rec.alerts.borrow().last().unwrap().message, "=> Removing <=");
}

#[test]
fn a_global_only_reload_keeps_every_state_silently() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec.clone());
    l.apply(Rc::new(config()), &[]);
    l.on_event(ev(1, false));
    started(&rec);
    rec.fifo_lines.borrow_mut().clear();
    let mut c = config();
    c.global.router_id = Some("other".into());
    l.apply(Rc::new(c), &[]);
    assert!(started(&rec).is_empty());
    assert!(rec.fifo_lines.borrow().is_empty());
    assert_eq!(l.view(RsId { vs: 0, rs: 1 }), Some(RsView { up: false, weight: None }));
    assert_eq!(l.config().global.router_id.as_deref(), Some("other"));
}

#[test]
fn omega_runs_down_notifiers_at_shutdown_only_when_set() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec.clone());
    l.apply(Rc::new(config()), &[]);
    l.on_event(ev(0, false));
    started(&rec);
    l.teardown(true);
    assert!(started(&rec).is_empty());
    let mut c = config();
    c.virtual_servers[0].omega = true;
    let mut l = Lvs::without_ipvs(rec.clone());
    l.apply(Rc::new(c), &[]);
    l.on_event(ev(0, false));
    started(&rec);
    l.teardown(true);
    let got = rec.scripts.borrow().clone();
    assert_eq!(got.iter().map(|(a, _)| a[1..].join(" ")).collect::<Vec<_>>(), vec!["down 10.0.0.2", "qdown"]);
    assert!(got.iter().all(|(_, k)| *k == Some(STOP_SCRIPT_TIMEOUT)));
}

#[test]
fn alpha_first_failure_notifies_down() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec.clone());
    let mut c = config();
    c.virtual_servers[0].alpha = true;
    c.virtual_servers[0].sorry_server = Some(SorryServer { addr: "10.9.9.9".parse().unwrap(), port: None, lb_kind: None });
    l.apply(Rc::new(c), &[]);
    // Alpha, nothing checked: quorum down at start, reported (sorry server).
    assert_eq!(started(&rec), vec!["qdown"]);
    l.on_event(ev(0, false));
    assert_eq!(started(&rec), vec!["down 10.0.0.1"]);
    l.on_event(ev(1, true));
    assert_eq!(started(&rec), vec!["up 10.0.0.2"]);
}

#[test]
fn a_group_is_one_service_per_member_with_the_same_destinations() {
    let mut c = config();
    c.virtual_server_groups = vec![VirtualServerGroup {
        name: "g".into(),
        entries: vec![
            VsgEntry::Range { first: "192.0.2.1".parse().unwrap(), last: "192.0.2.2".parse().unwrap(), port: 443 },
            VsgEntry::Fwmark(5),
        ],
    }];
    let vs = &mut c.virtual_servers[0];
    vs.key = VirtualServerKey::Group("g".into());
    vs.real_servers[1].port = None;
    let (wants, _) = desired(&c, |_| None, &mut QuorumMemory::default());
    let got = to_ipvs(&c, &wants[0]);
    assert_eq!(got.len(), 3);
    let ports: Vec<Vec<u16>> = got.iter().map(|(_, d)| d.iter().map(|d| d.port).collect()).collect();
    // The second real server has no port: with NAT, 0 under every member
    // (keepalived's table in the guest); with DR, the address member's.
    assert_eq!(ports, vec![vec![80, 0], vec![80, 0], vec![80, 0]]);
    c.virtual_servers[0].lb_kind = LbKind::Dr;
    let (wants, _) = desired(&c, |_| None, &mut QuorumMemory::default());
    let ports: Vec<Vec<u16>> = to_ipvs(&c, &wants[0]).iter().map(|(_, d)| d.iter().map(|d| d.port).collect()).collect();
    assert_eq!(ports, vec![vec![443, 443], vec![443, 443], vec![0, 0]]);
    assert_eq!(got[2].0.key(), Service::fwmark(AddrFamily::Inet, 5, "wlc").unwrap().key());
    assert_eq!(got[1].0.key(), Service::new(Protocol::Tcp, "192.0.2.2".parse().unwrap(), 443, "wlc").unwrap().key());
}

#[test]
fn the_cache_follows_the_planned_ops() {
    let c = config();
    let vs = &c.virtual_servers[0];
    let svc = service_for(&c, vs, Member::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 }).unwrap();
    let d = |a: &str, w: u32| Destination::new(a.parse().unwrap(), 80, FwdMethod::Masq).with_weight(w);
    let cur = (svc.clone(), vec![d("10.0.0.1", 1), d("10.0.0.2", 1), d("10.0.0.3", 1)]);
    let mut other = svc.clone();
    other.scheduler = "rr".try_into().unwrap();
    let wants = [
        (svc.clone(), vec![d("10.0.0.2", 0), d("10.0.0.4", 1), d("10.0.0.1", 1), d("10.0.0.4", 3)]),
        (other, vec![d("10.0.0.3", 1)]),
        (svc.clone(), vec![]),
    ];
    for w in &wants {
        // Recording the ops on the cache gives what was wanted.
        let mut cache = Cache::from([(svc.key(), cur.clone())]);
        for op in plan_service(Some(&cur), w) {
            record(&mut cache, &op);
        }
        let got = &cache[&svc.key()];
        assert!(got.0.same_settings(&w.0));
        // The first of each destination wanted, in any order.
        let mut first: Vec<Destination> = Vec::new();
        for x in &w.1 {
            if !first.iter().any(|f| f.key() == x.key()) {
                first.push(*x);
            }
        }
        let mut have = got.1.clone();
        have.sort_by_key(|x| x.key());
        first.sort_by_key(|x| x.key());
        assert_eq!(have, first);
    }
}

#[test]
fn alpha_without_a_verdict_keeps_what_the_kernel_has() {
    let mut c = config();
    c.virtual_servers[0].alpha = true;
    let vs = &c.virtual_servers[0];
    let svc = service_for(&c, vs, Member::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 }).unwrap();
    let table: Table = vec![(
        svc,
        vec![
            Destination::new("10.0.0.1".parse().unwrap(), 80, FwdMethod::Masq).with_weight(1),
            Destination::new("10.0.0.2".parse().unwrap(), 80, FwdMethod::Masq).with_weight(0),
        ],
    )];
    let index = index_table(&table);
    assert!(in_table(|k| index.get(k).copied(), &c, vs, &vs.real_servers[0]));
    // Weight 0 (inhibited) is not up; absent is not up.
    assert!(!in_table(|k| index.get(k).copied(), &c, vs, &vs.real_servers[1]));
    assert!(!in_table(|_| None, &c, vs, &vs.real_servers[0]));
}

#[test]
fn a_done_reconcile_gives_its_queue_room_back() {
    let rec = Rc::new(Recorder::default());
    let mut l = Lvs::without_ipvs(rec);
    let svc = Service::new(Protocol::Tcp, "192.0.2.10".parse().unwrap(), 80, "rr").unwrap();
    // A first reconcile of a large config queues an op per real server.
    l.pending.extend((0..PENDING_KEPT * 8).map(|_| Op::DelService(svc.clone())));
    l.reconciling = true;
    let mut steps = 0;
    while !l.reconcile_step(64) {
        steps += 1;
        assert!(steps < 1_000, "the reconcile never finished");
    }
    assert!(l.pending.capacity() <= PENDING_KEPT, "the done queue keeps room for {} ops", l.pending.capacity());
}
