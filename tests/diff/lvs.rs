//! Virtual servers over the LVS axes: a [`VsSpec`] (kind address / fwmark / group, lb_kind,
//! real-server port, inhibit_on_failure, sorry server, per-real-server lvs_method) written as
//! keepalived.conf, and a deterministic sample that covers every axis ([`lvs_cover`]), run
//! in the QEMU guest by tests/lvs_guest.rs and judged by `-t` in tests/config_diff.rs.
#![allow(dead_code)]

use std::fmt::Write as _;

pub const LB_KINDS: [&str; 3] = ["NAT", "DR", "TUN"];
pub const VS_KINDS: [&str; 3] = ["address", "fwmark", "group"];
/// Real-server port: none, the service's (80), another (8080).
pub const RS_PORTS: [&str; 3] = ["absent", "equal", "different"];

/// A virtual server's settings, chosen by the random generator or set by a covering sample
/// (tests/lvs_guest.rs).
#[derive(Clone, Debug)]
pub struct VsSpec {
    /// Index: addresses and fwmarks derive from it.
    pub n: u32,
    pub kind: &'static str,
    /// A group's members: "addresses", "range", "fwmark" or "mixed" (an address and a fwmark).
    pub members: &'static str,
    pub lb_kind: &'static str,
    pub rs_port: &'static str,
    pub inhibit: bool,
    /// None, or a sorry server: "port", "noport" or "equal-rs".
    pub sorry: Option<&'static str>,
    /// Real servers (1..): (address, lvs_method, checker).
    pub real: Vec<(String, Option<&'static str>, Option<String>)>,
    /// Extra lines in the service (quorum, persistence ...).
    pub extra: Vec<String>,
    /// Lines after the sorry_server line (keepalived reads sorry_server_inhibit and
    /// sorry_server_lvs_method in order: before sorry_server they are ignored, and reported).
    pub after_sorry: Vec<String>,
    /// `protocol` line (None: left out).
    pub protocol: Option<&'static str>,
    pub lb_algo: &'static str,
    pub delay_loop: u32,
}

impl VsSpec {
    /// The service's port (address and group members).
    pub const PORT: u16 = 80;

    pub fn rs_port(&self) -> Option<u16> {
        match self.rs_port {
            "equal" => Some(Self::PORT),
            "different" => Some(8080),
            _ => None,
        }
    }

    pub fn fwmark(&self) -> u32 {
        100 + self.n
    }

    /// The service's (first) address: 10.1.N.1, or 10.1.N.10 for a group of a range.
    pub fn address(&self) -> String {
        let host = if self.kind == "group" && self.members == "range" { 10 } else { 1 };
        format!("10.1.{}.{host}", self.n)
    }

    /// `virtual_server_group` block (for kind "group"), then the `virtual_server` block.
    pub fn emit(&self, out: &mut String) {
        let head = match self.kind {
            "fwmark" => format!("fwmark {}", self.fwmark()),
            "group" => {
                let _ = writeln!(out, "virtual_server_group GV{} {{", self.n);
                let addr = format!("10.1.{}", self.n);
                match self.members {
                    "addresses" => {
                        let _ = writeln!(out, "    {addr}.1 {}\n    {addr}.2 {}", Self::PORT, Self::PORT);
                    }
                    "range" => {
                        let _ = writeln!(out, "    {addr}.10-12 {}", Self::PORT);
                    }
                    "fwmark" => {
                        let _ = writeln!(out, "    fwmark {}", self.fwmark());
                    }
                    _ => {
                        let _ = writeln!(out, "    {addr}.1 {}\n    fwmark {}", Self::PORT, self.fwmark());
                    }
                }
                out.push_str("}\n");
                format!("group GV{}", self.n)
            }
            _ => format!("10.1.{}.1 {}", self.n, Self::PORT),
        };
        let _ = writeln!(out, "virtual_server {head} {{\n    delay_loop {}\n    lb_algo {}\n    lb_kind {}", self.delay_loop, self.lb_algo, self.lb_kind);
        if let Some(p) = self.protocol {
            let _ = writeln!(out, "    protocol {p}");
        }
        for l in &self.extra {
            let _ = writeln!(out, "    {l}");
        }
        if self.inhibit {
            out.push_str("    inhibit_on_failure\n");
        }
        let port = self.rs_port().map(|p| format!(" {p}")).unwrap_or_default();
        match self.sorry {
            Some("port") => {
                let _ = writeln!(out, "    sorry_server 10.9.{}.9 8000", self.n);
            }
            Some("noport") => {
                let _ = writeln!(out, "    sorry_server 10.9.{}.9", self.n);
            }
            Some(_) => {
                if let Some((a, _, _)) = self.real.first() {
                    let _ = writeln!(out, "    sorry_server {a}{port}");
                }
            }
            None => {}
        }
        for l in &self.after_sorry {
            let _ = writeln!(out, "    {l}");
        }
        for (i, (addr, method, check)) in self.real.iter().enumerate() {
            let _ = writeln!(out, "    real_server {addr}{port} {{\n        weight {}", 1 + i);
            if let Some(m) = method {
                let _ = writeln!(out, "        lvs_method {m}");
            }
            if let Some(c) = check {
                for l in c.lines() {
                    let _ = writeln!(out, "        {l}");
                }
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n");
    }
}

/// A deterministic sample covering every LVS axis: each virtual-server kind × lb_kind ×
/// real-server port (27 services), then inhibit_on_failure and the sorry-server variants on
/// each kind, per-real-server lvs_method, and groups of addresses only and of a range whose
/// real servers have no port. Each service has an unchecked real server (up) and, from `down`, a
/// TCP_CHECK'ed real server that never answers: `down(n)` gives its (address, port) for
/// TCP_CHECK's connect_ip/connect_port. With `quorum` set high the sorry server comes in.
pub fn lvs_cover(first: u32, down: &dyn Fn(u32) -> (String, u16)) -> (String, Vec<VsSpec>) {
    let mut specs = Vec::new();
    let mut n = first;
    let check = |n: u32| {
        let (a, p) = down(n);
        format!("TCP_CHECK {{\n    connect_ip {a}\n    connect_port {p}\n    connect_timeout 1\n    retry 0\n}}")
    };
    let base = |n: u32, kind: &'static str, lb_kind: &'static str, rs_port: &'static str| VsSpec {
        n,
        kind,
        members: "mixed",
        lb_kind,
        rs_port,
        inhibit: false,
        sorry: None,
        real: vec![(format!("10.2.{n}.1"), None, None), (format!("10.2.{n}.2"), None, Some(check(n)))],
        extra: vec![],
        after_sorry: vec![],
        protocol: (kind != "fwmark").then_some("TCP"),
        lb_algo: "wrr",
        delay_loop: 1,
    };
    for kind in VS_KINDS {
        for lb_kind in LB_KINDS {
            for rs_port in RS_PORTS {
                specs.push(base(n, kind, lb_kind, rs_port));
                n += 1;
            }
        }
    }
    for kind in VS_KINDS {
        // inhibit_on_failure: the down real server stays at weight 0.
        let mut s = base(n, kind, "NAT", "different");
        s.inhibit = true;
        specs.push(s);
        n += 1;
        // A lost quorum (3 > 1 up): the sorry server, with and without a port, or equal to a
        // real server, replaces the pool.
        for (sorry, lb_kind, rs_port) in [("port", "DR", "equal"), ("noport", "NAT", "absent"), ("equal-rs", "TUN", "different")] {
            let mut s = base(n, kind, lb_kind, rs_port);
            s.sorry = Some(sorry);
            s.extra.push("quorum 3".into());
            specs.push(s);
            n += 1;
        }
    }
    // A per-real-server lvs_method different from the service's.
    for kind in VS_KINDS {
        let mut s = base(n, kind, "DR", "equal");
        s.real[0].1 = Some("NAT");
        s.real[1].1 = Some("TUN");
        specs.push(s);
        n += 1;
    }
    // Groups of addresses only (and of a range): a real server without a port, under each
    // lb_kind.
    for members in ["addresses", "range"] {
        for lb_kind in LB_KINDS {
            let mut s = base(n, "group", lb_kind, "absent");
            s.members = members;
            specs.push(s);
            n += 1;
        }
    }
    let mut text = String::new();
    for s in &specs {
        s.emit(&mut text);
    }
    (text, specs)
}
