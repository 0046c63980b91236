//! keepalived's port checks for a virtual server over a
//! `virtual_server_group` (validate_check_config in check_data.c). Under a
//! group nothing is changed, since IPVS gets one service per member (see
//! `lvs::group::dest_port`); what DR or TUN cannot honour is reported:
//! - with fwmark members, a real server's or the sorry server's port;
//! - for each address member, a real server's port that differs from the
//!   member's, and a sorry server's.
//!
//! NAT real servers (by the virtual server's `lb_kind` or their own
//! `lvs_method`) may have any port, as keepalived allows.

use super::diag::{Diags, Pos};
use super::model::{LbKind, VirtualServer, VsgEntry};

/// keepalived's format_vsge: `[FIRST-LAST,PORT]`, or `[ADDR,PORT]` for one address.
fn member_label(e: &VsgEntry) -> Option<String> {
    match e {
        VsgEntry::Range { first, last, port } if first == last => Some(format!("[{first},{port}]")),
        VsgEntry::Range { first, last, port } => Some(format!("[{first}-{last},{port}]")),
        _ => None,
    }
}

/// Reports, at `pos`, what keepalived reports of `vs` over a group of `entries`.
pub(super) fn port_warnings(vs: &VirtualServer, entries: &[VsgEntry], pos: Pos, diags: &mut Diags) {
    let label = vs.fmt_vs();
    let fwmark_only = !entries.is_empty() && entries.iter().all(|e| matches!(e, VsgEntry::Fwmark(_)));
    // FMT_RS names the service's protocol; a group of fwmarks only has none.
    let rs_label = |addr: std::net::IpAddr, port: u16| {
        let proto = if fwmark_only { "none" } else { vs.protocol_name() };
        format!("[{addr}]:{proto}:{port}")
    };
    let ported = |kind: LbKind, port: Option<u16>| port.filter(|p| kind != LbKind::Nat && *p != 0);
    let sorry_port = vs.sorry_server.as_ref().and_then(|s| ported(vs.sorry_lb_kind(s), s.port));
    if entries.iter().any(|e| matches!(e, VsgEntry::Fwmark(_))) {
        for rs in &vs.real_servers {
            if let Some(p) = ported(vs.rs_lb_kind(rs), rs.port) {
                diags.warn(
                    pos,
                    format!("WARNING - fwmark virtual server {label}, real server {} has port specified - port will be ignored", rs_label(rs.addr, p)),
                );
            }
        }
        if sorry_port.is_some() {
            diags.warn(pos, format!("WARNING - fwmark virtual server {label}, sorry server has port specified - port will be ignored"));
        }
    }
    for e in entries {
        let (Some(member), VsgEntry::Range { port: mport, .. }) = (member_label(e), e) else { continue };
        for rs in &vs.real_servers {
            if let Some(p) = ported(vs.rs_lb_kind(rs), rs.port).filter(|p| p != mport) {
                diags.warn(
                    pos,
                    format!("virtual server {label}:{member} and real server {} ports don't match", rs_label(rs.addr, p)),
                );
            }
        }
        if sorry_port.is_some_and(|p| p != *mport) {
            diags.warn(pos, format!("WARNING - virtual server {label}, sorry server has port specified - port will be ignored"));
        }
    }
}
