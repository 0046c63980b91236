//! The checker child's side of status: every virtual server and its real
//! servers as the checkers and the IPVS side see them now.

use crate::check::runner::RsReport;
use crate::check::RsId;
use crate::config::model::{Config, LbKind, RealServer, VirtualServer, VirtualServerKey};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    /// As keepalived logs it: `[192.0.2.10]:TCP:80`, `FWM 1`.
    pub name: String,
    pub lb_algo: String,
    pub lb_kind: String,
    /// None before the first evaluation.
    pub quorum_up: Option<bool>,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `[198.51.100.1]:TCP:8080`.
    pub name: String,
    pub up: bool,
    /// The weight IPVS gives it: a checker's, else the configured one.
    pub weight: i32,
    pub checks_run: u64,
    /// The last check's kind (`TCP_CHECK`, ...), its result and, when it
    /// failed, why.
    pub last_check: Option<String>,
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
    /// Drained by the operator (`vigil ctl drain`): weight 0, checks go on.
    #[serde(default)]
    pub drained: bool,
}

/// Status of every virtual server of `config`; `quorum(i)` is virtual
/// server i's quorum as last evaluated.
pub fn report(
    config: &Config,
    servers: &[RsReport],
    quorum: impl Fn(usize) -> Option<bool>,
    drained: impl Fn(RsId) -> bool,
) -> Vec<VirtualServerStatus> {
    let by_id: std::collections::HashMap<RsId, &RsReport> = servers.iter().map(|r| (r.id, r)).collect();
    config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(vi, vs)| VirtualServerStatus {
            name: vs.fmt_vs(),
            lb_algo: vs.lb_algo.clone(),
            lb_kind: match vs.lb_kind {
                LbKind::Nat => "NAT",
                LbKind::Dr => "DR",
                LbKind::Tun => "TUN",
            }
            .to_string(),
            quorum_up: quorum(vi),
            real_servers: vs
                .real_servers
                .iter()
                .enumerate()
                .map(|(ri, rs)| {
                    let id = RsId { vs: vi as u16, rs: ri as u16 };
                    let r = by_id.get(&id);
                    let drained = drained(id);
                    RealServerStatus {
                        name: vs.fmt_rs(rs),
                        // Without a checker a real server is always up.
                        up: r.is_none_or(|r| r.up),
                        weight: if drained { 0 } else { r.and_then(|r| r.weight).unwrap_or(rs.weight) },
                        checks_run: r.map_or(0, |r| r.checks_run),
                        last_check: r.and_then(|r| r.last).map(|l| l.0.to_string()),
                        last_ok: r.and_then(|r| r.last).map(|l| l.1.is_none()),
                        last_error: r.and_then(|r| r.last).and_then(|l| l.1).map(|f| f.to_string()),
                        drained,
                    }
                })
                .collect(),
        })
        .collect()
}

/// The names an operator may give virtual server `vs` in `vigil ctl`:
/// status's own (`[192.0.2.10]:tcp:80`, `FWM 1`, `[GROUP]:0`) and the
/// short forms `192.0.2.10:80`, `[2001:db8::1]:80`, `fwmark 1`, `GROUP`.
fn vs_names(vs: &VirtualServer) -> Vec<String> {
    let mut v = vec![vs.fmt_vs()];
    match &vs.key {
        VirtualServerKey::Addr { addr, port } => {
            v.push(format!("[{addr}]:{port}"));
            v.push(std::net::SocketAddr::new(*addr, *port).to_string());
            v.push(format!("{addr}:{}:{port}", vs.protocol_name()));
        }
        VirtualServerKey::Fwmark(m) => {
            v.push(format!("fwmark {m}"));
            v.push(format!("fwm{m}"));
        }
        VirtualServerKey::Group(g) => v.push(g.clone()),
        VirtualServerKey::Unset => {}
    }
    v
}

/// The same for real server `rs` of `vs`: status's name, `ADDR:PORT`,
/// `[ADDR]:PORT`, or the bare address.
fn rs_names(vs: &VirtualServer, rs: &RealServer) -> Vec<String> {
    let mut v = vec![vs.fmt_rs(rs), rs.addr.to_string(), format!("[{}]", rs.addr)];
    if let Some(port) = rs.port {
        v.push(std::net::SocketAddr::new(rs.addr, port).to_string());
        v.push(format!("[{}]:{port}", rs.addr));
    }
    v
}

/// The real server `vigil ctl` names, by index; an error in words when
/// none or several match.
pub fn find_real_server(config: &Config, vs_arg: &str, rs_arg: &str) -> Result<RsId, String> {
    let eq = |names: Vec<String>, arg: &str| names.iter().any(|n| n.eq_ignore_ascii_case(arg.trim()));
    let vss: Vec<usize> = config.virtual_servers.iter().enumerate().filter(|(_, v)| eq(vs_names(v), vs_arg)).map(|(i, _)| i).collect();
    let vi = match vss.as_slice() {
        [i] => *i,
        [] => return Err(format!("no virtual server {vs_arg:?} (status names them, e.g. {})", config.virtual_servers.first().map_or("none configured".into(), |v| v.fmt_vs()))),
        _ => return Err(format!("{vs_arg:?} names {} virtual servers; use the name status shows (e.g. {})", vss.len(), config.virtual_servers[vss[0]].fmt_vs())),
    };
    let vs = &config.virtual_servers[vi];
    let rss: Vec<usize> = vs.real_servers.iter().enumerate().filter(|(_, r)| eq(rs_names(vs, r), rs_arg)).map(|(i, _)| i).collect();
    match rss.as_slice() {
        [i] => Ok(RsId { vs: vi as u16, rs: *i as u16 }),
        [] => Err(format!("{} has no real server {rs_arg:?}", vs.fmt_vs())),
        _ => Err(format!("{rs_arg:?} names {} real servers of {}; give the port too", rss.len(), vs.fmt_vs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::RealServer;

    fn config() -> Config {
        let mut c = Config::default();
        let rs = |a: &str, p: u16| RealServer { addr: a.parse().unwrap(), port: Some(p), ..Default::default() };
        c.virtual_servers.push(VirtualServer {
            key: VirtualServerKey::Addr { addr: "192.0.2.10".parse().unwrap(), port: 80 },
            real_servers: vec![rs("198.51.100.1", 8080), rs("198.51.100.1", 8081), rs("198.51.100.2", 8080)],
            ..Default::default()
        });
        c.virtual_servers.push(VirtualServer { key: VirtualServerKey::Fwmark(7), real_servers: vec![rs("2001:db8::5", 443)], ..Default::default() });
        c
    }

    #[test]
    fn operators_name_servers_as_status_shows_them_or_shortly() {
        let c = config();
        assert_eq!(find_real_server(&c, "[192.0.2.10]:tcp:80", "[198.51.100.1]:tcp:8081"), Ok(RsId { vs: 0, rs: 1 }));
        assert_eq!(find_real_server(&c, "192.0.2.10:80", "198.51.100.2"), Ok(RsId { vs: 0, rs: 2 }));
        assert_eq!(find_real_server(&c, "fwm 7", "[2001:db8::5]:443"), Ok(RsId { vs: 1, rs: 0 }));
        assert_eq!(find_real_server(&c, "FWMARK 7", "2001:db8::5"), Ok(RsId { vs: 1, rs: 0 }));
        assert!(find_real_server(&c, "192.0.2.10:80", "198.51.100.1").unwrap_err().contains("give the port"));
        assert!(find_real_server(&c, "192.0.2.11:80", "198.51.100.1").unwrap_err().contains("no virtual server"));
        assert!(find_real_server(&c, "192.0.2.10:80", "203.0.113.1").unwrap_err().contains("has no real server"));
    }
}
