//! The checker child's side of status: every virtual server and its real
//! servers as the checkers and the IPVS side see them now.

use crate::check::runner::RsReport;
use crate::check::RsId;
use crate::config::model::{Config, LbKind};
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
}

/// Status of every virtual server of `config`; `quorum(i)` is virtual
/// server i's quorum as last evaluated.
pub fn report(config: &Config, servers: &[RsReport], quorum: impl Fn(usize) -> Option<bool>) -> Vec<VirtualServerStatus> {
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
                    let r = by_id.get(&RsId { vs: vi as u16, rs: ri as u16 });
                    RealServerStatus {
                        name: vs.fmt_rs(rs),
                        // Without a checker a real server is always up.
                        up: r.is_none_or(|r| r.up),
                        weight: r.and_then(|r| r.weight).unwrap_or(rs.weight),
                        checks_run: r.map_or(0, |r| r.checks_run),
                        last_check: r.and_then(|r| r.last).map(|l| l.0.to_string()),
                        last_ok: r.and_then(|r| r.last).map(|l| l.1.is_none()),
                        last_error: r.and_then(|r| r.last).and_then(|l| l.1).map(|f| f.to_string()),
                    }
                })
                .collect(),
        })
        .collect()
}
