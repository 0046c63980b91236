//! From the config model to runnable checkers, once at (re)load: every
//! default keepalived applies is resolved here, so the steady state reads
//! plain values.
//!
//! keepalived's inheritance (check_data.c, `check_check_data`): a checker's
//! retry, delay_before_retry, warmup, delay_loop, connect_timeout and alpha
//! come from the checker block, else from the real server, else from the
//! virtual server (delay_loop, alpha) or the checker type's default:
//! retry 1 (MISC_CHECK 0, DNS_CHECK 3), delay_before_retry 1 s (HTTP_GET and
//! SSL_GET 3 s, DNS_CHECK delay_loop), warmup = delay_loop, connect_timeout 5 s. The target address
//! and port default to the real server's.

use super::state::{RetryPolicy, RsId};
use crate::config::model::{
    BfdCheck, CheckKind, Checker, Config, DnsCheck, FileCheck, HttpCheck, HttpUrl, Microseconds, MiscCheck,
    RawOption, RealServer, SmtpCheck, UdpCheck, VirtualServer,
};
use crate::script::{ScriptCommand, prepare_script};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
/// HTTP_GET and SSL_GET's own default (keepalived's http_get_handler sets
/// default_delay_before_retry to 3 s; its checker dump shows it).
const HTTP_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(3);

/// Where a checker connects and how its socket is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub dst: SocketAddr,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    pub connect_timeout: Duration,
}

impl Target {
    /// A target with no binding, for tests and tools.
    pub fn new(dst: SocketAddr, connect_timeout: Duration) -> Target {
        Target {
            dst,
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            connect_timeout,
        }
    }
}

/// One URL of HTTP_GET / SSL_GET with its request prebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlSpec {
    pub path: String,
    /// The exact request bytes keepalived sends (built once).
    pub request: Vec<u8>,
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes, inclusive ranges (default 200-299).
    pub status: Vec<(u16, u16)>,
    /// Server name for SNI (SSL_GET with enable_sni).
    pub sni: Option<String>,
}

impl UrlSpec {
    pub fn status_ok(&self, code: u16) -> bool {
        self.status
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Tcp,
    Http {
        urls: Vec<UrlSpec>,
        tls: bool,
    },
    Smtp {
        helo: String,
        hosts: Vec<Target>,
    },
    Misc {
        cmd: Option<ScriptCommand>,
        timeout: Duration,
        dynamic: bool,
    },
    Dns {
        qtype: u16,
        name: String,
    },
    Udp(UdpCheck),
    Ping,
    File {
        path: String,
        weight: i32,
        reverse: bool,
        base_weight: i32,
    },
    /// BFD_CHECK: not run, told. The BFD child's session changes, relayed
    /// by the parent, are its results (`Checkers::bfd_changed`).
    Bfd {
        name: String,
    },
}

/// One checker, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub probe: Probe,
    pub target: Target,
    pub policy: RetryPolicy,
    /// Upper bound of the random delay before the first run.
    pub warmup: Duration,
}

/// One real server and its checkers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServerPlan {
    pub id: RsId,
    pub addr: SocketAddr,
    pub weight: i32,
    pub checkers: Vec<CheckSpec>,
}

/// Every real server of every virtual server that has checkers.
pub fn plan(config: &Config) -> Vec<RealServerPlan> {
    let mut out = Vec::with_capacity(config.virtual_servers.iter().map(|v| v.real_servers.len()).sum());
    for vi in 0..config.virtual_servers.len() {
        if !plan_vs(config, vi, &mut out) {
            break;
        }
    }
    out
}

/// `plan` for the virtual server at `vi` alone, appended to `out` (a
/// reload plans a batch of virtual servers at a time); false past the
/// indices a `RsId` holds (the rest are not checked).
pub fn plan_vs(config: &Config, vi: usize, out: &mut Vec<RealServerPlan>) -> bool {
    let Some(vs) = config.virtual_servers.get(vi) else { return true };
    for (ri, rs) in vs.real_servers.iter().enumerate() {
        let (Ok(v), Ok(r)) = (u16::try_from(vi), u16::try_from(ri)) else {
            log::warn!("more than 65535 virtual or real servers: the rest are not checked");
            return false;
        };
        let id = RsId { vs: v, rs: r };
        let port = rs.port.unwrap_or(0);
        // BFD_CHECKs come after the other checkers, as keepalived lists them.
        // Sized exactly: collected, one checker took room for four
        // (a kilobyte per real server at 40,000 while a reload ran).
        let mut checkers = Vec::with_capacity(rs.checkers.len() + rs.bfd_checks.len());
        checkers.extend(rs.checkers.iter().filter_map(|c| checker_spec(config, vs, rs, c)));
        checkers.extend(rs.bfd_checks.iter().map(|b| bfd_spec(vs, rs, b)));
        out.push(RealServerPlan { id, addr: SocketAddr::new(rs.addr, port), weight: rs.weight, checkers });
    }
    true
}

fn raw<'a>(other: &'a [RawOption], kw: &str) -> Option<&'a RawOption> {
    other.iter().rev().find(|o| o.keyword == kw)
}

fn raw_secs(other: &[RawOption], kw: &str) -> Option<Duration> {
    let a = raw(other, kw)?.args.first()?;
    Microseconds::from_secs_f64(a.parse().ok()?).map(|m| m.as_duration())
}

fn raw_u32(other: &[RawOption], kw: &str) -> Option<u32> {
    raw(other, kw)?.args.first()?.parse().ok()
}

fn raw_flag(other: &[RawOption], kw: &str) -> Option<bool> {
    let o = raw(other, kw)?;
    Some(!matches!(
        o.args.first().map(String::as_str),
        Some("false" | "off" | "no" | "0")
    ))
}

fn checker_spec(
    config: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    c: &Checker,
) -> Option<CheckSpec> {
    let o = &rs.other;
    let delay_loop = c
        .delay_loop
        .map(|m| m.as_duration())
        .or_else(|| raw_secs(o, "delay_loop"))
        .unwrap_or_else(|| vs.delay_loop.as_duration());
    let (default_retry, default_dbr) = match c.kind {
        CheckKind::Misc(_) | CheckKind::File(_) => (0, DEFAULT_DELAY_BEFORE_RETRY),
        CheckKind::Dns(_) => (3, delay_loop),
        CheckKind::Http(_) | CheckKind::Ssl(_) => (1, HTTP_DELAY_BEFORE_RETRY),
        _ => (1, DEFAULT_DELAY_BEFORE_RETRY),
    };
    let policy = RetryPolicy {
        retry: c
            .retry
            .or_else(|| raw_u32(o, "retry"))
            .unwrap_or(default_retry),
        delay_loop,
        delay_before_retry: c
            .delay_before_retry
            .map(|m| m.as_duration())
            .or_else(|| raw_secs(o, "delay_before_retry"))
            .unwrap_or(default_dbr),
        alpha: c.alpha.or_else(|| raw_flag(o, "alpha")).unwrap_or(vs.alpha),
    };
    let warmup = c
        .warmup
        .map(|m| m.as_duration())
        .or_else(|| raw_secs(o, "warmup"))
        .unwrap_or(delay_loop);
    // The checker's own connect_timeout, then one among the real server's
    // unknown options, then the default.
    let rs_timeout = c.explicit_connect_timeout().map(|m| m.as_duration()).or_else(|| raw_secs(o, "connect_timeout"));
    let target = target_of(c.target(), rs, rs_timeout);
    let probe = match &c.kind {
        CheckKind::Tcp => Probe::Tcp,
        CheckKind::Http(h) => Probe::Http {
            urls: urls(h, vs, rs, &target, false),
            tls: false,
        },
        CheckKind::Ssl(h) => Probe::Http {
            urls: urls(h, vs, rs, &target, true),
            tls: true,
        },
        CheckKind::Smtp(s) => smtp(config, s, rs, &target, raw_secs(o, "connect_timeout")),
        CheckKind::Misc(m) => misc(config, m, delay_loop),
        CheckKind::Dns(d) => dns(d)?,
        CheckKind::Udp(u) => Probe::Udp((**u).clone()),
        CheckKind::Ping => Probe::Ping,
        CheckKind::File(f) => file(config, f, rs),
    };
    Some(CheckSpec {
        probe,
        target,
        policy,
        warmup,
    })
}

/// A BFD_CHECK (keepalived's check_bfd.c): no probe and no retries; its
/// alpha is its own, else the real server's, else the virtual server's.
fn bfd_spec(vs: &VirtualServer, rs: &RealServer, b: &BfdCheck) -> CheckSpec {
    CheckSpec {
        probe: Probe::Bfd { name: b.name.clone() },
        target: Target::new(SocketAddr::new(rs.addr, rs.port.unwrap_or(0)), DEFAULT_CONNECT_TIMEOUT),
        policy: RetryPolicy {
            retry: 0,
            delay_loop: vs.delay_loop.as_duration(),
            delay_before_retry: DEFAULT_DELAY_BEFORE_RETRY,
            alpha: b.alpha.or_else(|| raw_flag(&rs.other, "alpha")).unwrap_or(vs.alpha),
        },
        warmup: Duration::ZERO,
    }
}

fn target_of(
    t: &crate::config::model::CheckTarget,
    rs: &RealServer,
    rs_timeout: Option<Duration>,
) -> Target {
    let ip = t.connect_ip.unwrap_or(rs.addr);
    let port = t.connect_port.or(rs.port).unwrap_or(0);
    Target {
        dst: SocketAddr::new(ip, port),
        bindto: t.bindto,
        bind_port: t.bind_port,
        bind_if: t.bind_if.clone(),
        fwmark: t.fwmark,
        connect_timeout: t
            .connect_timeout
            .map(|m| m.as_duration())
            .or(rs_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    }
}

/// `GET` as keepalived's check_http.c writes it: HTTP/1.0 (1.1 with
/// http_protocol 1.1), `Connection: close` for 1.0C and 1.1, and Host from
/// the first virtualhost of url > checker > real server > virtual server,
/// else the target address with its port (IPv6 in brackets).
pub fn http_request(
    path: &str,
    protocol: Option<&str>,
    vhost: Option<&str>,
    dst: SocketAddr,
) -> Vec<u8> {
    let minor = if protocol == Some("1.1") { 1 } else { 0 };
    let close = matches!(protocol, Some("1.1" | "1.0C" | "1.0c"));
    let host = match (vhost, dst.ip()) {
        (Some(v), _) => v.to_string(),
        (None, IpAddr::V6(a)) => format!("[{a}]:{}", dst.port()),
        (None, IpAddr::V4(a)) => format!("{a}:{}", dst.port()),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{}Host: {host}\r\n\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

fn rs_virtualhost(rs: &RealServer) -> Option<&str> {
    raw(&rs.other, "virtualhost")?
        .args
        .first()
        .map(String::as_str)
}

fn urls(h: &HttpCheck, vs: &VirtualServer, rs: &RealServer, t: &Target, tls: bool) -> Vec<UrlSpec> {
    h.urls
        .iter()
        .map(|u: &HttpUrl| {
            let vhost = u
                .virtualhost
                .as_deref()
                .or(h.virtualhost.as_deref())
                .or_else(|| rs_virtualhost(rs))
                .or(vs.virtualhost.as_deref());
            UrlSpec {
                path: u.path.clone(),
                request: http_request(&u.path, h.http_protocol.as_deref(), vhost, t.dst),
                digest: u.digest.as_deref().and_then(parse_digest),
                status: if u.status_code.is_empty() {
                    vec![(200, 299)]
                } else {
                    u.status_code.clone()
                },
                sni: if tls && h.enable_sni {
                    vhost.map(String::from)
                } else {
                    None
                },
            }
        })
        .collect()
}

/// 32 hex digits to the 16 digest bytes.
pub fn parse_digest(hex: &str) -> Option<[u8; 16]> {
    let b = hex.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in b.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn smtp(
    config: &Config,
    s: &SmtpCheck,
    rs: &RealServer,
    t: &Target,
    rs_timeout: Option<Duration>,
) -> Probe {
    let helo = s
        .helo_name
        .clone()
        .or_else(|| config.global.smtp_helo_name.clone())
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "localhost".to_string());
    let hosts = s
        .hosts
        .iter()
        .map(|h| target_of(h, rs, rs_timeout.or(Some(t.connect_timeout))))
        .collect();
    Probe::Smtp { helo, hosts }
}

fn misc(config: &Config, m: &MiscCheck, delay_loop: Duration) -> Probe {
    let cmd = prepare_script(&m.misc_path, &config.global);
    if cmd.is_none() {
        log::warn!(
            "MISC_CHECK script {:?} cannot run: the checker will report failure",
            m.misc_path.argv.first()
        );
    }
    Probe::Misc {
        cmd,
        // keepalived: misc_timeout defaults to delay_loop.
        timeout: m
            .misc_timeout
            .map(|t| t.as_duration())
            .unwrap_or(delay_loop),
        dynamic: m.misc_dynamic,
    }
}

/// keepalived's DNS_CHECK query types.
pub fn dns_type(name: &str) -> Option<u16> {
    Some(match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        _ => return None,
    })
}

fn dns(d: &DnsCheck) -> Option<Probe> {
    let Some(qtype) = dns_type(&d.query_type) else {
        log::warn!("DNS_CHECK type {} unknown - checker skipped", d.query_type);
        return None;
    };
    Some(Probe::Dns {
        qtype,
        name: d.name.clone(),
    })
}

fn file(config: &Config, f: &FileCheck, rs: &RealServer) -> Probe {
    // FILE_CHECK names a top-level track_file; a bare path also works.
    let path = config
        .track_files
        .iter()
        .find(|t| t.name == f.track_file)
        .map(|t| t.file.clone())
        .unwrap_or_else(|| f.track_file.clone());
    Probe::File {
        path,
        weight: f.weight,
        reverse: f.weight_reverse,
        base_weight: rs.weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{CheckTarget, Checker};
    use std::net::Ipv4Addr;

    fn config_with(kind: CheckKind, tweak: impl FnOnce(&mut Checker, &mut RealServer)) -> Config {
        let mut ch = Checker {
            kind,
            ..Checker::default()
        };
        let mut rs = RealServer {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: Some(8080),
            ..RealServer::default()
        };
        tweak(&mut ch, &mut rs);
        rs.checkers.push(ch);
        let vs = VirtualServer {
            real_servers: vec![rs],
            ..VirtualServer::default()
        };
        Config {
            virtual_servers: vec![vs],
            ..Config::default()
        }
    }

    #[test]
    fn http_and_ssl_wait_three_seconds_before_a_retry_by_default() {
        // keepalived 2.2.7's checker dump: "Default delay before retry = 3000000 us".
        for kind in [CheckKind::Http(Default::default()), CheckKind::Ssl(Default::default())] {
            let p = plan(&config_with(kind, |_, _| {}));
            assert_eq!((p[0].checkers[0].policy.retry, p[0].checkers[0].policy.delay_before_retry), (1, Duration::from_secs(3)));
        }
    }

    #[test]
    fn defaults_follow_keepalived() {
        let p = plan(&config_with(CheckKind::Tcp, |_, _| {}));
        let c = &p[0].checkers[0];
        assert_eq!(c.target.dst, "10.0.0.2:8080".parse().unwrap());
        assert_eq!(c.policy.retry, 1);
        assert_eq!(c.policy.delay_loop, Duration::from_secs(60));
        assert_eq!(c.policy.delay_before_retry, Duration::from_secs(1));
        assert_eq!(c.warmup, Duration::from_secs(60));
        assert_eq!(c.target.connect_timeout, Duration::from_secs(5));
        let p = plan(&config_with(
            CheckKind::Dns(Box::new(DnsCheck {
                query_type: "A".into(),
                name: "x.".into(),
            })),
            |_, _| {},
        ));
        assert_eq!(
            (
                p[0].checkers[0].policy.retry,
                p[0].checkers[0].policy.delay_before_retry
            ),
            (3, Duration::from_secs(60))
        );
    }

    #[test]
    fn checker_then_real_server_values_win() {
        let p = plan(&config_with(CheckKind::Tcp, |c, rs| {
            rs.other.push(RawOption {
                keyword: "retry".into(),
                args: vec!["4".into()],
            });
            rs.other.push(RawOption {
                keyword: "delay_loop".into(),
                args: vec!["2.5".into()],
            });
            c.target = Some(Box::new(CheckTarget {
                connect_port: Some(81),
                ..CheckTarget::default()
            }));
            c.delay_before_retry = Some(Microseconds::from_secs(3));
        }));
        let c = &p[0].checkers[0];
        assert_eq!(
            (c.policy.retry, c.policy.delay_loop),
            (4, Duration::from_millis(2500))
        );
        assert_eq!(c.policy.delay_before_retry, Duration::from_secs(3));
        assert_eq!(c.target.dst.port(), 81);
    }

    #[test]
    fn http_request_as_keepalived_sends_it() {
        let r = http_request("/x", None, None, "10.0.0.2:8080".parse().unwrap());
        assert_eq!(
            r,
            b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:8080\r\n\r\n"
        );
        let r = http_request(
            "/",
            Some("1.1"),
            Some("www.example.com"),
            "[::1]:80".parse().unwrap(),
        );
        assert_eq!(
            r,
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let r = http_request("/", None, None, "[::1]:80".parse().unwrap());
        assert!(r.ends_with(b"Host: [::1]:80\r\n\r\n"));
    }

    #[test]
    fn file_check_resolves_its_track_file_and_misc_its_timeout() {
        use crate::config::model::{FileCheck, TrackFileDef};
        let mut cfg = config_with(
            CheckKind::File(Box::new(FileCheck {
                track_file: "tf".into(),
                weight: 3,
                weight_reverse: true,
            })),
            |_, rs| rs.weight = 7,
        );
        cfg.track_files.push(TrackFileDef {
            name: "tf".into(),
            file: "/run/x".into(),
            ..TrackFileDef::default()
        });
        let p = plan(&cfg);
        assert_eq!(
            p[0].checkers[0].probe,
            Probe::File {
                path: "/run/x".into(),
                weight: 3,
                reverse: true,
                base_weight: 7
            }
        );
        assert_eq!(p[0].checkers[0].policy.retry, 0);
        let p = plan(&config_with(
            CheckKind::Misc(Box::default()),
            |_, _| {},
        ));
        match &p[0].checkers[0].probe {
            Probe::Misc { cmd, timeout, .. } => {
                assert_eq!((cmd.is_none(), *timeout), (true, Duration::from_secs(60)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn digests_parse() {
        assert_eq!(
            parse_digest("000102030405060708090a0b0c0d0e0f").map(|d| d[15]),
            Some(15)
        );
        assert_eq!(parse_digest("zz"), None);
        assert_eq!(parse_digest("g00102030405060708090a0b0c0d0e0f"), None);
    }
}
