//! The IPVS table as text, like `ipvsadm -Ln`, for the console's `ipvs`.

use super::{Destination, FwdMethod, Ipvs, IpvsError, Protocol, Service};
use std::fmt::Write as _;

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        _ => "?",
    }
}

fn fwd(f: FwdMethod) -> &'static str {
    match f {
        FwdMethod::Masq => "Masq",
        FwdMethod::Local => "Local",
        FwdMethod::Tunnel => "Tunnel",
        FwdMethod::DirectRoute => "Route",
        FwdMethod::Bypass => "Bypass",
        _ => "?",
    }
}

fn endpoint(addr: std::net::IpAddr, port: u16) -> String {
    match addr {
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        a => format!("{a}:{port}"),
    }
}

/// A service as an operator names it: `TCP 192.0.2.10:80`, `FWM 7`.
pub fn service_label(svc: &Service) -> String {
    match (svc.fwmark, svc.addr) {
        (Some(m), _) => format!("FWM {m}"),
        (None, Some(a)) => format!("{} {}", proto(svc.protocol), endpoint(a, svc.port)),
        (None, None) => "?".to_string(),
    }
}

/// A destination as an operator reads it: `10.0.0.1:80 (Masq, weight 1)`.
pub fn dest_label(d: &Destination) -> String {
    format!("{} ({}, weight {})", endpoint(d.addr, d.port), fwd(d.fwd_method), d.weight)
}

/// A service with its scheduler: `TCP 192.0.2.10:80 rr, persistent 300`.
fn service_long(svc: &Service) -> String {
    let mut s = format!("{} {}", service_label(svc), svc.scheduler.as_str());
    if svc.flags.contains(super::ServiceFlags::PERSISTENT) {
        let _ = write!(s, ", persistent {}", svc.timeout);
    }
    s
}

/// The log line of one change to the table, in words (keepalived logs its
/// IPVS changes in words too, not as structures).
impl std::fmt::Display for super::plan::Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::plan::Op;
        match self {
            Op::AddService(s) => write!(f, "adding service {}", service_long(s)),
            Op::EditService(s) => write!(f, "changing service {}", service_long(s)),
            Op::DelService(s) => write!(f, "removing service {}", service_label(s)),
            Op::AddDest(s, d) => write!(f, "adding real server {} to {}", dest_label(d), service_label(s)),
            Op::EditDest(s, d) => write!(f, "setting real server {} of {}", dest_label(d), service_label(s)),
            Op::DelDest(s, d) => {
                write!(f, "removing real server {} from {}", endpoint(d.addr, d.port), service_label(s))
            }
        }
    }
}

/// Renders services and their destinations.
pub fn render(table: &[(Service, Vec<Destination>)]) -> String {
    let mut s = String::from("IP Virtual Server (vigil)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight\n");
    for (svc, dests) in table {
        let head = match (svc.fwmark, svc.addr) {
            (Some(m), _) => format!("FWM  {m}"),
            (None, Some(a)) => format!("{:<4} {}", proto(svc.protocol), endpoint(a, svc.port)),
            (None, None) => "?".to_string(),
        };
        let _ = write!(s, "{head} {}", svc.scheduler.as_str());
        if svc.flags.contains(super::ServiceFlags::PERSISTENT) {
            let _ = write!(s, " persistent {}", svc.timeout);
        }
        s.push('\n');
        for d in dests {
            let _ = writeln!(s, "  -> {:<24} {:<7} {}", endpoint(d.addr, d.port), fwd(d.fwd_method), d.weight);
        }
    }
    s
}

/// Reads the kernel's table and renders it (or says why it cannot).
pub fn show() -> String {
    let mut ipvs = match Ipvs::open() {
        Ok(i) => i,
        Err(IpvsError::NotAvailable) => return "IPVS is not available in this kernel\n".to_string(),
        Err(e) => return format!("IPVS: {e}\n"),
    };
    let services = match ipvs.services() {
        Ok(s) => s,
        Err(e) => return format!("IPVS: listing services: {e}\n"),
    };
    let mut table = Vec::with_capacity(services.len());
    for svc in services {
        let dests = ipvs.dests(&svc).unwrap_or_default();
        table.push((svc, dests));
    }
    render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_ipvsadm() {
        let svc = Service::new(Protocol::Tcp, "192.0.2.10".parse().unwrap(), 80, "rr").unwrap();
        let d = Destination::new("198.51.100.1".parse().unwrap(), 8080, FwdMethod::Masq).with_weight(3);
        let out = render(&[(svc, vec![d])]);
        assert!(out.contains("TCP  192.0.2.10:80 rr\n"), "{out}");
        assert!(out.contains("  -> 198.51.100.1:8080"), "{out}");
        assert!(out.contains("Masq    3"), "{out}");
    }

    #[test]
    fn changes_are_logged_in_words() {
        use crate::ipvs::plan::Op;
        let svc = Service::new(Protocol::Tcp, "192.0.2.10".parse().unwrap(), 80, "rr").unwrap();
        let d = Destination::new("198.51.100.1".parse().unwrap(), 8080, FwdMethod::Masq).with_weight(3);
        assert_eq!(Op::AddService(svc.clone()).to_string(), "adding service TCP 192.0.2.10:80 rr");
        assert_eq!(
            Op::AddDest(svc.clone(), d.clone()).to_string(),
            "adding real server 198.51.100.1:8080 (Masq, weight 3) to TCP 192.0.2.10:80"
        );
        assert_eq!(Op::DelDest(svc.clone(), d).to_string(), "removing real server 198.51.100.1:8080 from TCP 192.0.2.10:80");
        let fw = Service::fwmark(crate::netlink::AddrFamily::Inet, 7, "wlc").unwrap();
        assert_eq!(Op::DelService(fw).to_string(), "removing service FWM 7");
    }
}
