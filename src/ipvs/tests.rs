//! Golden bytes against ipvsadm 1.31's own requests (tests/data/ipvs/*.hex, captured by
//! tests/data/ipvs/capture.sh), hand-made kernel replies incl. truncated and garbled ones,
//! and the planner.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netlink::consts::{NLM_F_MULTI, NLMSG_HDRLEN};
use crate::netlink::types::AddrFamily;
use crate::netlink::wire::{Messages, MsgWriter, NlMsg, ParseError};

use super::consts::*;
use super::msg::{self, Change};
use super::parse::{IpvsMsg, parse};
use super::plan::{Op, plan};
use super::types::*;

/// The family id ipvsadm_shim.c hands out, so the fixtures' message type is ours too.
const FAMILY: u16 = 0x2a;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/ipvs/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

/// Builds with `build` into a 0xa5-filled buffer (an unwritten byte would show) with the
/// fixture's seq, and compares everything but the port id (bytes 12..16).
fn assert_same_as_ipvsadm(name: &str, build: impl FnOnce(&mut [u8], u32) -> super::Result<usize>) {
    if cfg!(target_endian = "big") {
        return;
    }
    let want = fixture(name);
    let seq = u32::from_ne_bytes([want[8], want[9], want[10], want[11]]);
    let mut buf = [0xa5u8; msg::REQUEST_BUF_LEN];
    let n = build(&mut buf, seq).unwrap();
    let mut got = buf[..n].to_vec();
    got[12..16].copy_from_slice(&want[12..16]);
    assert_eq!(hex(&got), hex(&want), "{name}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x} ")).collect()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn vip() -> Service {
    Service::new(Protocol::Tcp, v4(192, 0, 2, 10), 80, "rr").unwrap()
}

fn first(b: &[u8]) -> NlMsg<'_> {
    Messages::new(b).next().unwrap().unwrap()
}

fn parse_bytes(b: &[u8]) -> Result<IpvsMsg, ParseError> {
    let m = Messages::new(b).next().ok_or(ParseError::Truncated)??;
    parse(&m, None)
}

#[test]
fn get_family_matches_ipvsadm() {
    assert_same_as_ipvsadm("get_family", |b, s| {
        Ok(super::genl::build_get_family(b, s, "IPVS")?)
    });
}

#[test]
fn service_requests_match_ipvsadm() {
    assert_same_as_ipvsadm("add_service_tcp_rr", |b, s| {
        msg::build_service(b, FAMILY, s, Change::New, &vip())
    });
    let mut wlc = vip().persistent(300, 32).unwrap();
    wlc.scheduler = IpvsName::try_from("wlc").unwrap();
    assert_same_as_ipvsadm("edit_service_wlc_persist", |b, s| {
        msg::build_service(b, FAMILY, s, Change::Set, &wlc)
    });
    let fw = Service::fwmark(AddrFamily::Inet, 42, "sh").unwrap();
    assert_same_as_ipvsadm("add_service_fwmark", |b, s| {
        msg::build_service(b, FAMILY, s, Change::New, &fw)
    });
    let v6 = Service::new(Protocol::Udp, "2001:db8::1".parse().unwrap(), 53, "rr").unwrap();
    assert_same_as_ipvsadm("add_service_udp6", |b, s| {
        msg::build_service(b, FAMILY, s, Change::New, &v6)
    });
    let sctp = Service::new(Protocol::Sctp, v4(192, 0, 2, 10), 80, "rr")
        .unwrap()
        .persistent(60, 24)
        .unwrap();
    assert_same_as_ipvsadm("add_service_sctp_mask", |b, s| {
        msg::build_service(b, FAMILY, s, Change::New, &sctp)
    });
}

#[test]
fn dest_requests_match_ipvsadm() {
    let masq = Destination::new(v4(198, 51, 100, 1), 8080, FwdMethod::Masq).with_weight(5);
    let dr = Destination {
        u_threshold: 100,
        l_threshold: 10,
        ..Destination::new(v4(198, 51, 100, 1), 80, FwdMethod::DirectRoute).with_weight(3)
    };
    let gue = Destination {
        tun_type: TunType::Gue,
        tun_port: 6080,
        ..Destination::new(v4(198, 51, 100, 2), 80, FwdMethod::Tunnel)
    };
    // ipvsadm sends its whole service struct with a destination; we send the service's
    // identity only. The destination nest must match byte for byte, the whole message
    // must mean the same.
    for (name, change, d) in [
        ("add_dest_masq", Change::New, masq),
        ("edit_dest_dr", Change::Set, dr),
        ("add_dest_gue", Change::New, gue),
    ] {
        let want = fixture(name);
        let mut buf = [0xa5u8; msg::REQUEST_BUF_LEN];
        let n = msg::build_dest(&mut buf, FAMILY, 1, change, &vip(), &d).unwrap();
        let ours = parse(&first(&buf[..n]), None).unwrap();
        let theirs = parse(&first(&want), None).unwrap();
        assert_eq!(ours.cmd, theirs.cmd, "{name}");
        assert_eq!(ours.dest, theirs.dest, "{name}");
        assert_eq!(ours.dest.map(|x| x.0), Some(d), "{name}");
        assert_eq!(
            ours.service.map(|s| s.key()),
            theirs.service.map(|s| s.key()),
            "{name}"
        );
        if cfg!(target_endian = "little") {
            // The destination nest (0x60 bytes, type 0x8002) ends both messages.
            assert_eq!(
                hex(&buf[n - 0x60..n]),
                hex(&want[want.len() - 0x60..]),
                "{name}"
            );
        }
    }
    // Deletes: the same service and destination identity as ipvsadm's.
    let want = parse(&first(&fixture("del_dest")), None).unwrap();
    let mut buf = [0u8; msg::REQUEST_BUF_LEN];
    let n = msg::build_dest(&mut buf, FAMILY, 1, Change::Del, &vip(), &masq).unwrap();
    let ours = parse(&first(&buf[..n]), None).unwrap();
    assert_eq!(ours.cmd, IPVS_CMD_DEL_DEST);
    assert_eq!(ours.cmd, want.cmd);
    assert_eq!(ours.dest.map(|d| d.0.key()), want.dest.map(|d| d.0.key()));
    let want = parse(&first(&fixture("del_service")), None).unwrap();
    let n = msg::build_service(&mut buf, FAMILY, 1, Change::Del, &vip()).unwrap();
    let ours = parse(&first(&buf[..n]), None).unwrap();
    assert_eq!(
        (ours.cmd, ours.service.map(|s| s.key())),
        (want.cmd, want.service.map(|s| s.key()))
    );
}

#[test]
fn del_service_golden_by_hand() {
    let mut buf = [0xa5u8; 128];
    let n = msg::build_service(&mut buf, FAMILY, 7, Change::Del, &vip()).unwrap();
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x44, 0, 0, 0,  0x2a, 0,  0x05, 0,  7, 0, 0, 0,  0, 0, 0, 0,
        3, 1, 0, 0,                                  // DEL_SERVICE, version 1
        0x30, 0, 0x01, 0x80,                         // nested SERVICE
        6, 0, 1, 0,  2, 0, 0, 0,                     // AF_INET
        6, 0, 2, 0,  6, 0, 0, 0,                     // TCP
        0x14, 0, 3, 0,  192, 0, 2, 10,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
        6, 0, 4, 0,  0, 80, 0, 0,                    // port 80, big-endian
    ];
    if cfg!(target_endian = "little") {
        assert_eq!(&buf[..n], want);
    }
}

#[test]
fn config_flush_and_daemon_requests_match_ipvsadm() {
    assert_same_as_ipvsadm("flush", |b, s| msg::build_flush(b, FAMILY, s));
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    assert_same_as_ipvsadm("set_timeouts", |b, s| {
        msg::build_set_timeouts(b, FAMILY, s, &t)
    });
    assert_same_as_ipvsadm("get_timeouts", |b, s| msg::build_get_timeouts(b, FAMILY, s));
    assert_same_as_ipvsadm("dump_services", |b, s| {
        msg::build_dump_services(b, FAMILY, s)
    });
    assert_same_as_ipvsadm("dump_daemons", |b, s| msg::build_dump_daemons(b, FAMILY, s));
    let d = SyncDaemon::new(DaemonState::Master, "eth0", 7).unwrap();
    assert_same_as_ipvsadm("start_daemon", |b, s| {
        msg::build_start_daemon(b, FAMILY, s, &d)
    });
    // ipvsadm's stop also sends an empty interface and syncid 0; the kernel reads the state.
    let want = parse(&first(&fixture("stop_daemon")), None).unwrap();
    let mut buf = [0u8; 64];
    let n = msg::build_stop_daemon(&mut buf, FAMILY, 1, DaemonState::Master).unwrap();
    let ours = parse(&first(&buf[..n]), None).unwrap();
    assert_eq!(ours.cmd, want.cmd);
    assert_eq!(ours.daemon.map(|d| d.state), want.daemon.map(|d| d.state));
}

#[test]
fn requests_round_trip_through_the_parser() {
    let mut full = Service::new(Protocol::Udp, "2001:db8::5".parse().unwrap(), 5060, "mh")
        .unwrap()
        .persistent(1800, 64)
        .unwrap();
    full.flags = full
        .flags
        .with(ServiceFlags::SCHED1)
        .with(ServiceFlags::ONEPACKET);
    full.pe_name = IpvsName::try_from("sip").unwrap();
    let mut buf = [0u8; msg::REQUEST_BUF_LEN];
    let n = msg::build_service(&mut buf, FAMILY, 1, Change::New, &full).unwrap();
    assert_eq!(
        parse(&first(&buf[..n]), None).unwrap().service,
        Some(full.clone())
    );
    let d = Destination {
        tun_type: TunType::Gre,
        tun_flags: IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
        u_threshold: 9,
        ..Destination::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060, FwdMethod::Tunnel)
            .with_weight(65535)
    };
    let n = msg::build_dest(&mut buf, FAMILY, 1, Change::Set, &full, &d).unwrap();
    assert_eq!(
        parse(&first(&buf[..n]), None).unwrap().dest.map(|x| x.0),
        Some(d)
    );
    let daemon = SyncDaemon {
        sync_maxlen: Some(1400),
        mcast_group: Some("ff02::81".parse().unwrap()),
        mcast_port: Some(8848),
        mcast_ttl: Some(2),
        ..SyncDaemon::new(DaemonState::Backup, "eth1", 255).unwrap()
    };
    let n = msg::build_start_daemon(&mut buf, FAMILY, 1, &daemon).unwrap();
    assert_eq!(parse(&first(&buf[..n]), None).unwrap().daemon, Some(daemon));
}

#[test]
fn builders_refuse_what_cannot_be_expressed() {
    let mut buf = [0u8; msg::REQUEST_BUF_LEN];
    let mut no_addr = vip();
    no_addr.addr = None;
    assert!(matches!(
        msg::build_service(&mut buf, FAMILY, 1, Change::New, &no_addr),
        Err(super::IpvsError::InvalidSpec(_))
    ));
    let mut mixed = vip();
    mixed.af = AddrFamily::Inet6;
    assert!(msg::build_service(&mut buf, FAMILY, 1, Change::New, &mixed).is_err());
    let mut no_sched = vip();
    no_sched.scheduler.clear();
    assert!(msg::build_service(&mut buf, FAMILY, 1, Change::New, &no_sched).is_err());
    // The kernel's HASHED bit is never sent back.
    let mut hashed = vip();
    hashed.flags = ServiceFlags::HASHED.with(ServiceFlags::PERSISTENT);
    let n = msg::build_service(&mut buf, FAMILY, 1, Change::New, &hashed).unwrap();
    let back = parse(&first(&buf[..n]), None).unwrap().service.unwrap();
    assert_eq!(back.flags, ServiceFlags::PERSISTENT);
    // Every too-small buffer is an error, not a panic.
    let d = Destination::new(v4(10, 0, 0, 1), 80, FwdMethod::Masq);
    let need = msg::build_dest(&mut buf, FAMILY, 1, Change::New, &vip(), &d).unwrap();
    for len in 0..need + 8 {
        let mut small = vec![0u8; len];
        let r = msg::build_dest(&mut small, FAMILY, 1, Change::New, &vip(), &d);
        assert_eq!(r.is_ok(), len >= need, "len {len}");
    }
}

/// A kernel reply as `ip_vs_genl_fill_service`/`_dest` build them: a 16-byte address,
/// stats nests we skip, HASHED set, and (for a dest) counters.
fn kernel_service_reply() -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut w = MsgWriter::new(&mut buf, FAMILY, NLM_F_MULTI, 9).unwrap();
    w.put(&[IPVS_CMD_NEW_SERVICE, 1, 0, 0]).unwrap();
    let s = w.begin_nested(IPVS_CMD_ATTR_SERVICE).unwrap();
    w.attr(IPVS_SVC_ATTR_AF, &2u16.to_ne_bytes()).unwrap();
    w.attr(IPVS_SVC_ATTR_PROTOCOL, &6u16.to_ne_bytes()).unwrap();
    w.attr(
        IPVS_SVC_ATTR_ADDR,
        &[192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    .unwrap();
    w.attr(IPVS_SVC_ATTR_PORT, &80u16.to_be_bytes()).unwrap();
    w.attr_str(IPVS_SVC_ATTR_SCHED_NAME, "wrr").unwrap();
    let mut f = [0u8; 8];
    f[..4].copy_from_slice(&(IP_VS_SVC_F_HASHED | IP_VS_SVC_F_PERSISTENT).to_ne_bytes());
    f[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    w.attr(IPVS_SVC_ATTR_FLAGS, &f).unwrap();
    w.attr_u32(IPVS_SVC_ATTR_TIMEOUT, 360).unwrap();
    w.attr(IPVS_SVC_ATTR_NETMASK, &[255, 255, 255, 0]).unwrap();
    let st = w.begin_nested(10).unwrap();
    w.attr_u32(1, 12345).unwrap();
    w.end_nested(st).unwrap();
    w.attr(99, &[1, 2, 3]).unwrap(); // an attribute from a future kernel
    w.end_nested(s).unwrap();
    let n = w.finish().unwrap().len();
    buf.truncate(n);
    buf
}

fn kernel_dest_reply() -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut w = MsgWriter::new(&mut buf, FAMILY, NLM_F_MULTI, 9).unwrap();
    w.put(&[IPVS_CMD_NEW_DEST, 1, 0, 0]).unwrap();
    let s = w.begin_nested(IPVS_CMD_ATTR_DEST).unwrap();
    w.attr(
        IPVS_DEST_ATTR_ADDR,
        &[198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    .unwrap();
    w.attr(IPVS_DEST_ATTR_PORT, &8080u16.to_be_bytes()).unwrap();
    w.attr_u32(IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_DROUTE)
        .unwrap();
    w.attr_u32(IPVS_DEST_ATTR_WEIGHT, 20).unwrap();
    w.attr(IPVS_DEST_ATTR_TUN_TYPE, &[0]).unwrap();
    w.attr(IPVS_DEST_ATTR_TUN_PORT, &0u16.to_be_bytes())
        .unwrap();
    w.attr(IPVS_DEST_ATTR_TUN_FLAGS, &0u16.to_ne_bytes())
        .unwrap();
    w.attr_u32(IPVS_DEST_ATTR_U_THRESH, 0).unwrap();
    w.attr_u32(IPVS_DEST_ATTR_L_THRESH, 0).unwrap();
    w.attr_u32(IPVS_DEST_ATTR_ACTIVE_CONNS, 3).unwrap();
    w.attr_u32(IPVS_DEST_ATTR_INACT_CONNS, 4).unwrap();
    w.attr_u32(IPVS_DEST_ATTR_PERSIST_CONNS, 5).unwrap();
    w.attr(IPVS_DEST_ATTR_ADDR_FAMILY, &2u16.to_ne_bytes())
        .unwrap();
    w.end_nested(s).unwrap();
    let n = w.finish().unwrap().len();
    buf.truncate(n);
    buf
}

#[test]
fn kernel_replies_parse() {
    let s = parse_bytes(&kernel_service_reply())
        .unwrap()
        .service
        .unwrap();
    assert_eq!(s.key(), vip().key());
    assert_eq!(s.scheduler.as_str(), "wrr");
    assert!(
        s.flags
            .contains(ServiceFlags::PERSISTENT.with(ServiceFlags::HASHED))
    );
    assert_eq!((s.timeout, s.netmask), (360, 0xffff_ff00));
    let (d, c) = parse_bytes(&kernel_dest_reply()).unwrap().dest.unwrap();
    assert_eq!(
        d,
        Destination::new(v4(198, 51, 100, 7), 8080, FwdMethod::DirectRoute).with_weight(20)
    );
    assert_eq!(
        c,
        DestCounters {
            active_conns: 3,
            inact_conns: 4,
            persist_conns: 5
        }
    );
    // GET_CONFIG's answer.
    let mut buf = [0u8; 64];
    let mut w = MsgWriter::new(&mut buf, FAMILY, 0, 1).unwrap();
    w.put(&[IPVS_CMD_SET_CONFIG, 1, 0, 0]).unwrap();
    w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP, 900).unwrap();
    w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, 120).unwrap();
    w.attr_u32(IPVS_CMD_ATTR_TIMEOUT_UDP, 300).unwrap();
    let n = w.finish().unwrap().len();
    assert_eq!(
        parse_bytes(&buf[..n]).unwrap().timeouts,
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
}

#[test]
fn dest_without_family_needs_the_services() {
    let mut b = kernel_dest_reply();
    // Drop the trailing ADDR_FAMILY attribute (8 bytes) and fix both lengths.
    b.truncate(b.len() - 8);
    let l = b.len() as u32;
    b[..4].copy_from_slice(&l.to_ne_bytes());
    let nest = (l as usize - NLMSG_HDRLEN - 4) as u16;
    b[20..22].copy_from_slice(&nest.to_ne_bytes());
    assert_eq!(
        parse_bytes(&b),
        Err(ParseError::MissingAttribute(IPVS_DEST_ATTR_ADDR_FAMILY))
    );
    let m = first(&b);
    assert!(parse(&m, Some(AddrFamily::Inet)).unwrap().dest.is_some());
    // An IPv6 reading of a 16-byte address works too; a 4-byte one is refused.
    assert!(parse(&m, Some(AddrFamily::Inet6)).is_ok());
}

#[test]
fn garbled_replies_are_errors_not_panics() {
    for reply in [kernel_service_reply(), kernel_dest_reply()] {
        for cut in 0..reply.len() {
            let _ = parse_bytes(&reply[..cut]);
        }
        for i in 0..reply.len() {
            for v in [0u8, 1, 2, 3, 4, 5, 8, 0x10, 0x7f, 0x80, 0xff] {
                let mut c = reply.clone();
                c[i] = v;
                let _ = parse_bytes(&c);
            }
        }
    }
    // Specific rejections.
    let mut b = kernel_service_reply();
    b[28] = 0x0b; // AF = 11: not a family we know
    assert!(matches!(parse_bytes(&b), Err(ParseError::BadFamily(_))));
    let b = kernel_service_reply();
    assert_eq!(parse_bytes(&b[..18]), Err(ParseError::Truncated));
    let mut b = kernel_service_reply();
    b[24] = 7; // AF attribute length 7 instead of 6: the next attribute is misaligned
    assert!(parse_bytes(&b).is_err());
}

fn real(last: u8, weight: u32) -> Destination {
    Destination::new(v4(10, 0, 0, last), 80, FwdMethod::Masq).with_weight(weight)
}

#[test]
fn plan_touches_nothing_when_equal_and_ignores_hashed() {
    let cur_svc = {
        let mut s = vip();
        s.flags = ServiceFlags::HASHED;
        s
    };
    let current = vec![(cur_svc, vec![real(1, 1), real(2, 1)])];
    let wanted = vec![(vip(), vec![real(2, 1), real(1, 1)])];
    assert_eq!(plan(&current, &wanted), vec![]);
}

#[test]
fn plan_edits_weights_and_settings_in_place() {
    let current = vec![(vip(), vec![real(1, 1), real(2, 1)])];
    let mut wlc = vip();
    wlc.scheduler = IpvsName::try_from("wlc").unwrap();
    let wanted = vec![(wlc.clone(), vec![real(1, 0), real(2, 1)])];
    assert_eq!(
        plan(&current, &wanted),
        vec![Op::EditService(wlc.clone()), Op::EditDest(wlc, real(1, 0))]
    );
}

#[test]
fn plan_adds_new_before_deleting_old() {
    let current = vec![(vip(), vec![real(1, 1), real(2, 1)])];
    let wanted = vec![(vip(), vec![real(2, 5), real(3, 1)])];
    assert_eq!(
        plan(&current, &wanted),
        vec![
            Op::AddDest(vip(), real(3, 1)),
            Op::EditDest(vip(), real(2, 5)),
            Op::DelDest(vip(), real(1, 1)),
        ]
    );
}

#[test]
fn plan_removed_service_is_one_delete_and_new_service_comes_with_dests() {
    let other = Service::new(Protocol::Udp, v4(192, 0, 2, 10), 53, "rr").unwrap();
    let fw = Service::fwmark(AddrFamily::Inet, 1, "rr").unwrap();
    let current = vec![
        (vip(), vec![real(1, 1), real(2, 1)]),
        (other.clone(), vec![real(3, 1)]),
    ];
    let wanted = vec![
        (vip(), vec![real(1, 1), real(2, 1)]),
        (fw.clone(), vec![real(4, 2)]),
    ];
    assert_eq!(
        plan(&current, &wanted),
        vec![
            Op::DelService(other),
            Op::AddService(fw.clone()),
            Op::AddDest(fw, real(4, 2)),
        ]
    );
    // Everything gone: one delete per service, none per destination.
    assert_eq!(plan(&current, &[]).len(), 2);
    // From nothing: services and their destinations.
    assert_eq!(plan(&[], &current).len(), 5);
}

#[test]
fn plan_matches_by_identity_and_tolerates_duplicates() {
    // The same address on another protocol or port is another service.
    let udp = Service::new(Protocol::Udp, v4(192, 0, 2, 10), 80, "rr").unwrap();
    let current = vec![(vip(), vec![])];
    let wanted = vec![(udp.clone(), vec![]), (udp.clone(), vec![real(1, 1)])];
    assert_eq!(
        plan(&current, &wanted),
        vec![Op::DelService(vip()), Op::AddService(udp.clone())]
    );
    // A destination listed twice is added once; the same address on another port is another.
    let mut p81 = real(1, 1);
    p81.port = 81;
    let wanted = vec![(udp.clone(), vec![real(1, 1), real(1, 9), p81])];
    let ops = plan(&[(udp.clone(), vec![])], &wanted);
    assert_eq!(
        ops,
        vec![Op::AddDest(udp.clone(), real(1, 1)), Op::AddDest(udp, p81)]
    );
    // A changed forwarding method is an edit too.
    let mut dr = real(1, 1);
    dr.fwd_method = FwdMethod::DirectRoute;
    let ops = plan(&[(vip(), vec![real(1, 1)])], &[(vip(), vec![dr])]);
    assert_eq!(ops, vec![Op::EditDest(vip(), dr)]);
}

#[test]
fn open_without_ipvs_is_not_available() {
    // The host kernel here has no IPVS; in a guest with ip_vs loaded this checks nothing.
    if std::path::Path::new("/proc/net/ip_vs").exists() {
        return;
    }
    match super::Ipvs::open() {
        Err(super::IpvsError::NotAvailable) => {}
        Err(super::IpvsError::Io(e)) => eprintln!("no netlink socket here ({e}); skipped"),
        Err(e) => panic!("expected NotAvailable, got {e}"),
        Ok(_) => panic!("IPVS resolved although /proc/net/ip_vs is absent"),
    }
}
