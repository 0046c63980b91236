//! `no_accept` through nf_tables against the host kernel, in a network namespace private to
//! the test thread (see tests/netlink_rtnl.rs for why per thread). Needs root; skipped with
//! a note otherwise.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nix::errno::Errno;
use vigil::netlink::nft::{NftError, NftMsg, NoAccept};
use vigil::netlink::{AddrSpec, Rtnl};

const PORT: u16 = 7411;
const V4: &str = "192.0.2.100";
const V6: &str = "2001:db8::100";

/// Runs `body` in a fresh network namespace on its own thread, with lo up and carrying
/// V4/32 and V6/128.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let handle = std::thread::spawn(move || {
        // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET affects only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(Errno::last());
        }
        let mut nl = Rtnl::new().unwrap();
        let lo = nl.link_index("lo").unwrap();
        nl.link_set_up(lo, true).unwrap();
        nl.addr_add(&AddrSpec::new(lo, ip(V4), 32)).unwrap();
        let mut v6 = AddrSpec::new(lo, ip(V6), 128);
        v6.flags = libc::IFA_F_NODAD;
        nl.addr_add(&v6).unwrap();
        body();
        Ok(())
    });
    match handle.join() {
        Ok(Ok(())) => {}
        Ok(Err(Errno::EPERM)) => eprintln!("skipped: unshare(CLONE_NEWNET) not permitted here"),
        Ok(Err(e)) => panic!("unshare(CLONE_NEWNET): {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether `addr` accepts a connection within a few attempts (3 s in all): a connect that
/// should succeed may time out once on a loaded machine; a dropped SYN never succeeds.
fn reachable(addr: IpAddr) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        if connects(addr) {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
    }
}

/// Whether a TCP connect to `addr` completes within 300 ms. A dropped SYN times out.
fn connects(addr: IpAddr) -> bool {
    match TcpStream::connect_timeout(&SocketAddr::new(addr, PORT), Duration::from_millis(300)) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::TimedOut => false,
        Err(e) => panic!("connect to {addr}: unexpected {e}"),
    }
}

/// The ruleset as `nft` sees it inside this thread's namespace, when nft is installed.
fn nsenter_nft_ruleset() -> Option<String> {
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { libc::gettid() };
    let out = std::process::Command::new("nsenter")
        // /proc/self would be nsenter's own: name our process explicitly.
        .arg(format!(
            "--net=/proc/{}/task/{tid}/ns/net",
            std::process::id()
        ))
        .args(["nft", "list", "ruleset"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_family(addr: &'static str) {
    in_netns(move || {
        let addr = ip(addr);
        let _listener = TcpListener::bind(SocketAddr::new(addr, PORT)).unwrap();
        assert!(reachable(addr), "before setup");

        let mut na = NoAccept::setup().unwrap();
        assert!(na.table_present().unwrap());
        assert!(reachable(addr), "an empty set drops nothing");

        na.add(addr).unwrap();
        na.add(addr).unwrap(); // idempotent
        assert!(
            !connects(addr),
            "{addr} in the set must be dropped\n{:?}",
            nsenter_nft_ruleset()
        );

        na.del(addr).unwrap();
        na.del(addr).unwrap(); // idempotent
        assert!(
            reachable(addr),
            "{addr} removed from the set must be accepted again"
        );

        na.add(addr).unwrap();
        assert!(!connects(addr));
        na.teardown().unwrap();
        assert!(!na.table_present().unwrap());
        assert!(reachable(addr), "teardown must remove the drop");
        na.teardown().unwrap(); // idempotent
        if let Some(rs) = nsenter_nft_ruleset() {
            assert!(!rs.contains("vigil"), "teardown left: {rs}");
        }
    });
}

#[test]
fn ipv4_vip_dropped_while_in_set() {
    check_family(V4);
}

#[test]
fn ipv6_vip_dropped_while_in_set() {
    check_family(V6);
}

#[test]
fn setup_replaces_a_stale_table_and_other_addresses_pass() {
    in_netns(|| {
        let v4 = ip(V4);
        let v6 = ip(V6);
        let _l4 = TcpListener::bind(SocketAddr::new(v4, PORT)).unwrap();
        let _l6 = TcpListener::bind(SocketAddr::new(v6, PORT)).unwrap();
        let mut stale = NoAccept::setup().unwrap();
        stale.add(v4).unwrap();
        assert!(!connects(v4));
        assert!(reachable(v6), "only set members are dropped");
        drop(stale); // a crashed run leaves its table behind

        let mut na = NoAccept::setup().unwrap();
        assert!(reachable(v4), "setup must start from an empty set");
        na.add(v6).unwrap();
        assert!(!connects(v6));
        assert!(reachable(v4));
        if let Some(rs) = nsenter_nft_ruleset() {
            assert!(rs.contains("table inet vigil"), "{rs}");
            assert!(rs.contains("icmpv6 type 135-136 accept"), "{rs}");
            assert!(rs.contains("ip daddr @vips4 drop"), "{rs}");
            assert!(rs.contains("ip6 daddr @vips6 drop"), "{rs}");
            assert!(rs.contains("2001:db8::100"), "{rs}");
        }
        na.teardown().unwrap();
        assert!(reachable(v6));
    });
}

#[test]
fn elements_without_a_table_fail_with_enoent() {
    in_netns(|| {
        let mut na = NoAccept::open().unwrap();
        assert!(!na.table_present().unwrap());
        let err = na.add(ip(V4)).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENOENT), "{err}");
        assert!(
            matches!(
                err,
                NftError::Kernel {
                    msg: NftMsg::NewSetElem,
                    ..
                }
            ),
            "the error names the refused message: {err:?}"
        );
        // del of an absent element/table is not an error: the VIP is not filtered either way.
        na.del(ip(V4)).unwrap();
        na.teardown().unwrap();
    });
}

/// Replies that do not parse become errors through the public reply parser, never panics.
#[test]
fn garbled_replies_are_errors() {
    use vigil::netlink::nft::{BATCH_BUF_LEN, build_setup, parse_batch_reply};
    let mut buf = [0u8; BATCH_BUF_LEN];
    let (sent, seqs) = build_setup(&mut buf, 1).unwrap();
    for garbage in [
        &[][..],
        &[1, 2, 3][..],
        &[0xff; 16][..],
        &[8, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        match parse_batch_reply(garbage, 0, seqs, sent) {
            Ok(p) => assert_eq!(
                p,
                vigil::netlink::nft::BatchProgress::Acked(0),
                "{garbage:?}"
            ),
            Err(NftError::Malformed(_)) => {}
            Err(e) => panic!("{garbage:?}: {e}"),
        }
    }
    // An NLMSG_ERROR for our message with its error code cut off.
    let mut short = Vec::new();
    short.extend_from_slice(&18u32.to_ne_bytes());
    short.extend_from_slice(&2u16.to_ne_bytes());
    short.extend_from_slice(&0u16.to_ne_bytes());
    short.extend_from_slice(&2u32.to_ne_bytes());
    short.extend_from_slice(&0u32.to_ne_bytes());
    short.extend_from_slice(&[0, 0]);
    assert!(matches!(
        parse_batch_reply(&short, 0, seqs, sent),
        Err(NftError::Malformed(_))
    ));
}
