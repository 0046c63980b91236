//! vrrp/wire against real adverts: keepalived 2.2.7 (v2 PASS, v2 AH, v3 IPv4, v3 IPv6, captured
//! here in a network namespace) and FRR vrrpd (v3 IPv4), plus golden AH vectors computed
//! independently with python3's hmac module, and garbled input that must never panic.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use vigil::vrrp::wire::{
    AcceptChecksums, AhSeqCounter, AuthKey, Centiseconds, ChecksumKind, Error, Ipv4Packet,
    RxConfig, Seconds, TxIpv4, V2Auth, VersionFields, VirtualAddresses, VrrpRepr, auth_data,
    emit_ipv4, emit_ipv6, ipv4_len, parse_ipv4, parse_ipv6,
};

// ---- a tiny pcap reader ----------------------------------------------------------------------

/// One captured IP datagram: IPv4 (header included) or IPv6 (split into header fields + payload).
#[derive(Debug, Clone)]
enum Frame {
    V4(Vec<u8>),
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        next_header: u8,
        payload: Vec<u8>,
    },
}

fn read_pcap(path: &Path) -> Vec<Frame> {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(d.len() >= 24, "pcap header");
    let magic = u32::from_le_bytes(d[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a pcap file: magic {m:#x}"),
    };
    let u32_at = |b: &[u8], at: usize| {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(&d, 20);
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32_at(&d, off + 8) as usize;
        let rec = &d[off + 16..off + 16 + incl];
        off += 16 + incl;
        let (ethertype, l3) = match linktype {
            1 => {
                let mut at = 12;
                let mut et = u16::from_be_bytes([rec[at], rec[at + 1]]);
                while et == 0x8100 || et == 0x88a8 {
                    at += 4;
                    et = u16::from_be_bytes([rec[at], rec[at + 1]]);
                }
                (et, &rec[at + 2..])
            }
            113 => (u16::from_be_bytes([rec[14], rec[15]]), &rec[16..]),
            276 => (u16::from_be_bytes([rec[0], rec[1]]), &rec[20..]),
            101 => (if rec[0] >> 4 == 6 { 0x86dd } else { 0x0800 }, rec),
            t => panic!("link type {t} not handled"),
        };
        match ethertype {
            0x0800 => {
                // Drop Ethernet padding: the datagram is total-length long.
                let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
                out.push(Frame::V4(l3[..total].to_vec()));
            }
            0x86dd => {
                let plen = usize::from(u16::from_be_bytes([l3[4], l3[5]]));
                out.push(Frame::V6 {
                    src: Ipv6Addr::from(<[u8; 16]>::try_from(&l3[8..24]).unwrap()),
                    dst: Ipv6Addr::from(<[u8; 16]>::try_from(&l3[24..40]).unwrap()),
                    hop_limit: l3[7],
                    next_header: l3[6],
                    payload: l3[40..40 + plen].to_vec(),
                });
            }
            _ => {}
        }
    }
    out
}

fn shared(name: &str) -> Vec<Frame> {
    read_pcap(&Path::new("/work/shared/captures").join(name))
}

fn fixture(name: &str) -> Vec<Frame> {
    read_pcap(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/vrrp")
            .join(name),
    )
}

fn v4_frames(frames: Vec<Frame>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::V4(b) => Some(b),
            Frame::V6 { .. } => None,
        })
        .collect()
}

fn ipv4s(v: &VirtualAddresses) -> Vec<Ipv4Addr> {
    match v {
        VirtualAddresses::V4(a) => a.to_vec(),
        VirtualAddresses::V6(_) => panic!("IPv6 addresses in an IPv4 advert"),
    }
}

fn ipv6s(v: &VirtualAddresses) -> Vec<Ipv6Addr> {
    match v {
        VirtualAddresses::V6(a) => a.to_vec(),
        VirtualAddresses::V4(_) => panic!("IPv4 addresses in an IPv6 advert"),
    }
}

/// Re-emit what we parsed with the sender's own IP parameters and require identical bytes.
fn reemit_ipv4(bytes: &[u8], cfg: &RxConfig) -> vigil::vrrp::wire::Ipv4Advert {
    let adv = parse_ipv4(bytes, cfg).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
    let ip = Ipv4Packet::new_checked(bytes).unwrap();
    assert!(ip.verify_checksum());
    let mut tx = TxIpv4::new(adv.src, adv.ident);
    tx.dst = adv.dst;
    tx.ttl = ip.ttl();
    tx.tos = ip.tos();
    tx.dont_fragment = ip.flags_frag() == 0x4000;
    tx.v3_checksum = adv.checksum;
    tx.unicast = cfg.unicast;
    if let (AuthKey::Ah(key), Some(seq)) = (cfg.auth, adv.ah_seq) {
        tx.ah = Some((key, seq));
    }
    assert_eq!(ipv4_len(&adv.repr), bytes.len());
    let mut out = vec![0xa5u8; bytes.len()];
    assert_eq!(emit_ipv4(&adv.repr, &tx, &mut out), Ok(bytes.len()));
    assert_eq!(out, bytes, "re-emitted advert differs");
    // And into a buffer one byte short: an error, not a panic.
    let mut short = vec![0u8; bytes.len() - 1];
    assert_eq!(emit_ipv4(&adv.repr, &tx, &mut short), Err(Error::Exhausted));
    adv
}

// ---- the shared captures: FRR and keepalived v3 ----------------------------------------------

#[test]
fn frr_v3_capture() {
    let frames = v4_frames(shared("frr-v3.pcap"));
    assert!(!frames.is_empty());
    for f in &frames {
        let adv = reemit_ipv4(f, &RxConfig::new());
        assert_eq!(adv.src, Ipv4Addr::new(10, 97, 0, 1));
        assert_eq!(adv.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(
            adv.checksum,
            ChecksumKind::PseudoHeader,
            "FRR here sums the pseudo-header"
        );
        assert_eq!(adv.repr.vrid, 51);
        assert_eq!(adv.repr.priority, 150);
        assert_eq!(
            adv.repr.fields,
            VersionFields::V3 {
                adver_int: Centiseconds::new(10).unwrap()
            }
        );
        assert_eq!(ipv4s(&adv.repr.addresses), [Ipv4Addr::new(10, 97, 0, 50)]);
    }
}

#[test]
fn keepalived_v3_capture() {
    let frames = v4_frames(shared("keepalived-v3.pcap"));
    assert!(!frames.is_empty());
    for f in &frames {
        let adv = reemit_ipv4(f, &RxConfig::new());
        assert_eq!(adv.src, Ipv4Addr::new(10, 97, 0, 2));
        assert_eq!(adv.checksum, ChecksumKind::PseudoHeader);
        assert_eq!((adv.repr.vrid, adv.repr.priority), (51, 100));
        assert_eq!(
            adv.repr.fields,
            VersionFields::V3 {
                adver_int: Centiseconds::new(10).unwrap()
            }
        );
    }
}

#[test]
fn handover_v3_capture() {
    let frames = v4_frames(shared("handover-v3.pcap"));
    let mut seen = Vec::new();
    for f in &frames {
        let adv = reemit_ipv4(f, &RxConfig::new());
        seen.push((adv.src, adv.repr.priority));
    }
    // FRR master (150), its priority-0 resignation, then keepalived (100) takes over.
    assert!(seen.contains(&(Ipv4Addr::new(10, 97, 0, 1), 150)));
    assert!(seen.contains(&(Ipv4Addr::new(10, 97, 0, 1), 0)));
    assert!(seen.contains(&(Ipv4Addr::new(10, 97, 0, 2), 100)));
    let zero = seen.iter().position(|s| s.1 == 0).unwrap();
    assert!(
        seen[zero + 1..]
            .iter()
            .all(|s| s.0 == Ipv4Addr::new(10, 97, 0, 2))
    );
}

// ---- keepalived 2.2.7 captures made for this crate -------------------------------------------

#[test]
fn keepalived_v2_pass_capture() {
    let frames = v4_frames(fixture("keepalived-v2-pass.pcap"));
    assert_eq!(frames.len(), 3);
    let cfg = RxConfig {
        auth: AuthKey::Pass(auth_data("secret12")),
        ..RxConfig::new()
    };
    for (i, f) in frames.iter().enumerate() {
        let adv = reemit_ipv4(f, &cfg);
        assert_eq!(adv.checksum, ChecksumKind::MessageOnly);
        assert_eq!(adv.repr.vrid, 10);
        assert_eq!(adv.repr.priority, if i == 2 { 0 } else { 150 });
        assert_eq!(
            adv.repr.fields,
            VersionFields::V2 {
                adver_int: Seconds(1),
                auth: V2Auth::Pass(*b"secret12")
            }
        );
        assert_eq!(
            ipv4s(&adv.repr.addresses),
            [Ipv4Addr::new(10, 98, 0, 10), Ipv4Addr::new(10, 98, 0, 11)]
        );
    }
    let wrong = RxConfig {
        auth: AuthKey::Pass(auth_data("secret13")),
        ..RxConfig::new()
    };
    assert_eq!(
        parse_ipv4(&frames[0], &wrong).map(|_| ()),
        Err(Error::AuthFailure)
    );
    assert_eq!(
        parse_ipv4(&frames[0], &RxConfig::new()).map(|_| ()),
        Err(Error::AuthTypeMismatch {
            expected: 0,
            received: 1
        })
    );
    let ah = RxConfig {
        auth: AuthKey::Ah(auth_data("secret12")),
        ..RxConfig::new()
    };
    assert_eq!(
        parse_ipv4(&frames[0], &ah).map(|_| ()),
        Err(Error::AuthTypeMismatch {
            expected: 2,
            received: 1
        })
    );
}

#[test]
fn keepalived_v2_ah_capture() {
    let frames = v4_frames(fixture("keepalived-v2-ah.pcap"));
    assert_eq!(frames.len(), 3);
    let cfg = RxConfig {
        auth: AuthKey::Ah(auth_data("ahkey")),
        ..RxConfig::new()
    };
    let mut counter = AhSeqCounter::new();
    for (i, f) in frames.iter().enumerate() {
        let adv = reemit_ipv4(f, &cfg);
        assert_eq!(adv.ah_seq, Some(i as u32 + 1));
        assert_eq!(counter.accept(adv.ah_seq.unwrap()), Ok(()));
        assert_eq!(adv.repr.vrid, 11);
        assert_eq!(adv.repr.priority, if i == 2 { 0 } else { 200 });
        assert_eq!(
            adv.repr.fields,
            VersionFields::V2 {
                adver_int: Seconds(1),
                auth: V2Auth::Ah
            }
        );
        assert_eq!(ipv4s(&adv.repr.addresses), [Ipv4Addr::new(10, 98, 0, 20)]);
    }
    // Replay of the first advert is refused by the counter, as keepalived does.
    let first = parse_ipv4(&frames[0], &cfg).unwrap();
    assert_eq!(
        counter.accept(first.ah_seq.unwrap()),
        Err(Error::AhReplay {
            received: 1,
            last: 3
        })
    );
    // Wrong key, no AH expected, mutable fields still verify, immutable ones do not.
    let wrong = RxConfig {
        auth: AuthKey::Ah(auth_data("ahkez")),
        ..RxConfig::new()
    };
    assert_eq!(
        parse_ipv4(&frames[0], &wrong).map(|_| ()),
        Err(Error::AuthFailure)
    );
    assert_eq!(
        parse_ipv4(&frames[0], &RxConfig::new()).map(|_| ()),
        Err(Error::AuthTypeMismatch {
            expected: 0,
            received: 2
        })
    );
    let mut tos = frames[0].clone();
    tos[1] = 0x10;
    assert!(
        parse_ipv4(&tos, &cfg).is_ok(),
        "TOS is a mutable field, outside the ICV"
    );
    let mut id = frames[0].clone();
    id[5] ^= 1;
    assert_eq!(parse_ipv4(&id, &cfg).map(|_| ()), Err(Error::AuthFailure));
    // Multicast: TTL is inside keepalived's ICV, so the same advert checked as unicast fails.
    let uni = RxConfig {
        unicast: true,
        ..cfg
    };
    assert_eq!(
        parse_ipv4(&frames[0], &uni).map(|_| ()),
        Err(Error::AuthFailure)
    );
    // SPI must be the source address.
    let mut spi = frames[0].clone();
    spi[12] ^= 1;
    assert_eq!(parse_ipv4(&spi, &cfg).map(|_| ()), Err(Error::AuthFailure));
    // AH for another protocol.
    let mut nh = frames[0].clone();
    nh[20] = 17;
    assert_eq!(parse_ipv4(&nh, &cfg).map(|_| ()), Err(Error::BadAhHeader));
}

#[test]
fn keepalived_v3_ipv4_capture() {
    let frames = v4_frames(fixture("keepalived-v3-ipv4.pcap"));
    assert_eq!(frames.len(), 8);
    for (i, f) in frames.iter().enumerate() {
        let adv = reemit_ipv4(f, &RxConfig::new());
        assert_eq!(adv.ident, i as u16 + 1, "keepalived counts IP ids from 1");
        assert_eq!(adv.repr.vrid, 12);
        assert_eq!(adv.repr.priority, if i == 7 { 0 } else { 120 });
        assert_eq!(
            adv.repr.fields,
            VersionFields::V3 {
                adver_int: Centiseconds::new(50).unwrap()
            }
        );
        assert_eq!(
            ipv4s(&adv.repr.addresses),
            [
                Ipv4Addr::new(10, 98, 0, 30),
                Ipv4Addr::new(10, 98, 0, 31),
                Ipv4Addr::new(10, 98, 0, 32)
            ]
        );
    }
}

#[test]
fn keepalived_v3_ipv6_capture() {
    let frames = fixture("keepalived-v3-ipv6.pcap");
    assert_eq!(frames.len(), 3);
    for (i, f) in frames.iter().enumerate() {
        let Frame::V6 {
            src,
            dst,
            hop_limit,
            next_header,
            payload,
        } = f
        else {
            panic!("expected IPv6");
        };
        assert_eq!(*next_header, 112);
        let adv = parse_ipv6(payload, *src, *dst, Some(*hop_limit), &RxConfig::new()).unwrap();
        assert_eq!(adv.checksum, ChecksumKind::PseudoHeader);
        assert_eq!(adv.repr.vrid, 13);
        assert_eq!(adv.repr.priority, if i == 2 { 0 } else { 110 });
        assert_eq!(
            adv.repr.fields,
            VersionFields::V3 {
                adver_int: Centiseconds::new(100).unwrap()
            }
        );
        assert_eq!(
            ipv6s(&adv.repr.addresses),
            [
                "fe80::13".parse::<Ipv6Addr>().unwrap(),
                "2001:db8::13".parse().unwrap()
            ]
        );
        let mut out = vec![0xa5u8; payload.len()];
        assert_eq!(
            emit_ipv6(&adv.repr, *src, *dst, &mut out),
            Ok(payload.len())
        );
        assert_eq!(&out, payload);
        // Hop limit from the cmsg: checked unless unicast.
        assert_eq!(
            parse_ipv6(payload, *src, *dst, Some(64), &RxConfig::new()).map(|_| ()),
            Err(Error::BadTtl(64))
        );
        let uni = RxConfig {
            unicast: true,
            ..RxConfig::new()
        };
        assert!(parse_ipv6(payload, *src, *dst, Some(64), &uni).is_ok());
        // Another source changes the pseudo-header.
        assert_eq!(
            parse_ipv6(
                payload,
                Ipv6Addr::LOCALHOST,
                *dst,
                Some(255),
                &RxConfig::new()
            )
            .map(|_| ()),
            Err(Error::BadChecksum)
        );
    }
}

// ---- golden AH vectors computed independently (python3 hmac + struct) --------------------------

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn golden_repr() -> VrrpRepr {
    let mut a = heapless::Vec::new();
    a.push(Ipv4Addr::new(192, 0, 2, 100)).unwrap();
    VrrpRepr {
        vrid: 7,
        priority: 100,
        fields: VersionFields::V2 {
            adver_int: Seconds(1),
            auth: V2Auth::Ah,
        },
        addresses: VirtualAddresses::V4(a),
    }
}

#[test]
fn ah_golden_multicast_and_unicast() {
    // python3: hmac.new(b"pw\0\0\0\0\0\0", ip(tos, frag, csum zeroed) + ah(icv zeroed) + vrrp, md5)[:12]
    let mcast = hex(
        "45c0004012340000ff330683c0000201e000001270040000c0000201000000054fa2466fd6b3067b4db55472210764010201b691c00002640000000000000000",
    );
    // Unicast: TTL zeroed in the ICV as well.
    let ucast = hex(
        "45c0004012340000ff332493c0000201c000020270040000c000020100000005ffc52298062f8514313c15fa210764010201b691c00002640000000000000000",
    );
    let src = Ipv4Addr::new(192, 0, 2, 1);
    let key = auth_data("pw");
    for (bytes, dst, unicast) in [
        (mcast, Ipv4Addr::new(224, 0, 0, 18), false),
        (ucast, Ipv4Addr::new(192, 0, 2, 2), true),
    ] {
        let mut tx = TxIpv4::new(src, 0x1234);
        tx.dst = dst;
        tx.unicast = unicast;
        tx.ah = Some((key, 5));
        let mut out = [0xa5u8; 64];
        assert_eq!(emit_ipv4(&golden_repr(), &tx, &mut out), Ok(64));
        assert_eq!(out.to_vec(), bytes);
        let cfg = RxConfig {
            auth: AuthKey::Ah(key),
            unicast,
            ..RxConfig::new()
        };
        let adv = parse_ipv4(&bytes, &cfg).unwrap();
        assert_eq!(adv.repr, golden_repr());
        assert_eq!(adv.ah_seq, Some(5));
        // AH without a key to send with: refused, not a panic.
        tx.ah = None;
        assert_eq!(
            emit_ipv4(&golden_repr(), &tx, &mut out),
            Err(Error::Exhausted)
        );
    }
}

// ---- checksum compatibility (keepalived old_unicast_checksum, v3_checksum_as_v2) -------------

#[test]
fn v3_unicast_checksum_modes() {
    let frames = v4_frames(fixture("keepalived-v3-ipv4.pcap"));
    let adv = parse_ipv4(&frames[0], &RxConfig::new()).unwrap();
    let src = adv.src;
    let peer = Ipv4Addr::new(10, 98, 0, 2);
    for kind in [
        ChecksumKind::PseudoHeader,
        ChecksumKind::OldUnicast,
        ChecksumKind::MessageOnly,
    ] {
        let mut tx = TxIpv4::new(src, 9);
        tx.dst = peer;
        tx.v3_checksum = kind;
        let mut out = vec![0u8; ipv4_len(&adv.repr)];
        emit_ipv4(&adv.repr, &tx, &mut out).unwrap();
        let strict = RxConfig {
            unicast: true,
            ..RxConfig::new()
        };
        let any = RxConfig {
            accept: AcceptChecksums::ANY,
            ..strict
        };
        let got = parse_ipv4(&out, &any).unwrap();
        assert_eq!(got.checksum, kind);
        assert_eq!(got.repr, adv.repr);
        let strict_result = parse_ipv4(&out, &strict).map(|a| a.checksum);
        if kind == ChecksumKind::PseudoHeader {
            assert_eq!(strict_result, Ok(kind));
        } else {
            assert_eq!(strict_result, Err(Error::BadChecksum));
        }
    }
}

// ---- receive checks --------------------------------------------------------------------------

#[test]
fn receive_checks_are_typed() {
    let f = &v4_frames(fixture("keepalived-v3-ipv4.pcap"))[0];
    let cfg = RxConfig::new();
    let mut ttl = f.clone();
    ttl[8] = 64;
    assert_eq!(parse_ipv4(&ttl, &cfg).map(|_| ()), Err(Error::BadTtl(64)));
    assert!(
        parse_ipv4(
            &ttl,
            &RxConfig {
                unicast: true,
                ..cfg
            }
        )
        .is_ok()
    );
    let mut proto = f.clone();
    proto[9] = 17;
    assert_eq!(
        parse_ipv4(&proto, &cfg).map(|_| ()),
        Err(Error::WrongProtocol(17))
    );
    let mut ver = f.clone();
    ver[20] = 0x41;
    assert_eq!(
        parse_ipv4(&ver, &cfg).map(|_| ()),
        Err(Error::BadVersion(4))
    );
    let mut ty = f.clone();
    ty[20] = 0x32;
    assert_eq!(parse_ipv4(&ty, &cfg).map(|_| ()), Err(Error::BadType(2)));
    let mut count = f.clone();
    count[23] = 4;
    assert_eq!(
        parse_ipv4(&count, &cfg).map(|_| ()),
        Err(Error::LengthMismatch {
            expected: 24,
            actual: 20
        })
    );
    let mut sum = f.clone();
    sum[22] ^= 1;
    assert_eq!(parse_ipv4(&sum, &cfg).map(|_| ()), Err(Error::BadChecksum));
    let mut ipver = f.clone();
    ipver[0] = 0x65;
    assert_eq!(
        parse_ipv4(&ipver, &cfg).map(|_| ()),
        Err(Error::BadIpHeader)
    );
    let mut longer = f.clone();
    longer.push(0);
    assert_eq!(
        parse_ipv4(&longer, &cfg).map(|_| ()),
        Err(Error::LengthMismatch {
            expected: 40,
            actual: 41
        })
    );
    // v2 with an unknown auth type.
    let p = &v4_frames(fixture("keepalived-v2-pass.pcap"))[0];
    let mut at = p.clone();
    at[24] = 9;
    // Fix the VRRP checksum so the auth type is what fails.
    at[26] = 0;
    at[27] = 0;
    let c = !fold(&at[20..]);
    at[26..28].copy_from_slice(&c.to_be_bytes());
    let cfg = RxConfig {
        auth: AuthKey::Pass(auth_data("secret12")),
        ..RxConfig::new()
    };
    assert_eq!(
        parse_ipv4(&at, &cfg).map(|_| ()),
        Err(Error::BadAuthType(9))
    );
}

fn fold(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

// ---- construction into a 0xa5 buffer: every byte written -------------------------------------

#[test]
fn construct_writes_every_byte() {
    let mut a = heapless::Vec::new();
    for i in 0..3u8 {
        a.push(Ipv4Addr::new(192, 0, 2, i)).unwrap();
    }
    for fields in [
        VersionFields::V2 {
            adver_int: Seconds(1),
            auth: V2Auth::None,
        },
        VersionFields::V2 {
            adver_int: Seconds(3),
            auth: V2Auth::Pass(auth_data("x")),
        },
        VersionFields::V2 {
            adver_int: Seconds(1),
            auth: V2Auth::Ah,
        },
        VersionFields::V3 {
            adver_int: Centiseconds::V3_MAX,
        },
    ] {
        let repr = VrrpRepr {
            vrid: 1,
            priority: 255,
            fields,
            addresses: VirtualAddresses::V4(a.clone()),
        };
        let mut tx = TxIpv4::new(Ipv4Addr::new(192, 0, 2, 9), 1);
        tx.ah = Some((auth_data("k"), 1));
        let n = ipv4_len(&repr);
        let mut x = vec![0xa5u8; n];
        let mut y = vec![0x5au8; n];
        emit_ipv4(&repr, &tx, &mut x).unwrap();
        emit_ipv4(&repr, &tx, &mut y).unwrap();
        assert_eq!(x, y, "a byte was left unwritten");
        let cfg = RxConfig {
            auth: match fields {
                VersionFields::V2 {
                    auth: V2Auth::Pass(p),
                    ..
                } => AuthKey::Pass(p),
                VersionFields::V2 {
                    auth: V2Auth::Ah, ..
                } => AuthKey::Ah(auth_data("k")),
                _ => AuthKey::None,
            },
            ..RxConfig::new()
        };
        assert_eq!(parse_ipv4(&x, &cfg).unwrap().repr, repr);
    }
    // IPv6, the full 255 addresses.
    let mut a6 = heapless::Vec::new();
    for i in 0..255u16 {
        a6.push(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
            .unwrap();
    }
    let repr = VrrpRepr {
        vrid: 200,
        priority: 1,
        fields: VersionFields::V3 {
            adver_int: Centiseconds::new(100).unwrap(),
        },
        addresses: VirtualAddresses::V6(a6),
    };
    let (s, d) = ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap());
    let mut x = vec![0xa5u8; repr.buffer_len()];
    let mut y = vec![0x5au8; repr.buffer_len()];
    emit_ipv6(&repr, s, d, &mut x).unwrap();
    emit_ipv6(&repr, s, d, &mut y).unwrap();
    assert_eq!(x, y);
    assert_eq!(
        parse_ipv6(&x, s, d, Some(255), &RxConfig::new())
            .unwrap()
            .repr,
        repr
    );
}

// ---- garbled input never panics --------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn configs() -> Vec<RxConfig> {
    let mut v = Vec::new();
    for auth in [
        AuthKey::None,
        AuthKey::Pass(auth_data("secret12")),
        AuthKey::Ah(auth_data("ahkey")),
    ] {
        for unicast in [false, true] {
            v.push(RxConfig {
                auth,
                accept: AcceptChecksums::ANY,
                unicast,
            });
        }
    }
    v
}

#[test]
fn every_truncation_and_bit_flip_is_refused_or_parsed_without_panic() {
    let mut all = Vec::new();
    for name in [
        "keepalived-v2-pass.pcap",
        "keepalived-v2-ah.pcap",
        "keepalived-v3-ipv4.pcap",
    ] {
        all.extend(v4_frames(fixture(name)));
    }
    all.extend(v4_frames(shared("frr-v3.pcap")));
    let six = fixture("keepalived-v3-ipv6.pcap");
    for f in &all {
        for cfg in configs() {
            for n in 0..f.len() {
                assert!(
                    parse_ipv4(&f[..n], &cfg).is_err(),
                    "truncated to {n} accepted"
                );
            }
            for bit in 0..f.len() * 8 {
                let mut g = f.clone();
                g[bit / 8] ^= 1 << (bit % 8);
                let _ = parse_ipv4(&g, &cfg);
            }
        }
    }
    for f in &six {
        let Frame::V6 {
            src, dst, payload, ..
        } = f
        else {
            continue;
        };
        for n in 0..payload.len() {
            assert!(parse_ipv6(&payload[..n], *src, *dst, Some(255), &RxConfig::new()).is_err());
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let cfgs = configs();
    let mut buf = [0u8; 128];
    for i in 0..200_000u32 {
        let n = (rng.next() % 128) as usize;
        for b in buf.iter_mut().take(n) {
            *b = rng.next() as u8;
        }
        // Bias towards plausible headers so the deeper checks run too.
        if i % 2 == 0 && n >= 20 {
            buf[0] = 0x45;
            buf[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            buf[8] = 255;
            buf[9] = if i % 4 == 0 { 112 } else { 51 };
            if n > 20 {
                buf[20] = if i % 8 == 0 { 0x21 } else { 0x31 };
            }
        }
        let cfg = &cfgs[i as usize % cfgs.len()];
        let _ = parse_ipv4(&buf[..n], cfg);
        let _ = parse_ipv6(
            &buf[..n],
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::UNSPECIFIED,
            Some(255),
            cfg,
        );
        let _ = Ipv4Packet::new_checked(&buf[..n]).map(|p| (p.payload().len(), p.header().len()));
    }
}
