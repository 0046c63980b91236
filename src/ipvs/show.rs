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
}
