//! Loading a configuration at scale (40,000 real servers under 2,000
//! virtual servers, as benches/lvs_scale.py writes it): prints the
//! allocations, peak and retained heap of one load. Figures are printed,
//! never asserted against; the assertions are functional (the load is
//! valid and holds what the file says).
//!
//! `VIGIL_SCALE_DUMP=FILE` also writes the model and diagnostics as JSON,
//! to compare two builds of the reader.

use std::path::Path;
use vigil::config::{LoadOptions, load_str};

#[global_allocator]
static A: vigil::os::mem::Counting = vigil::os::mem::Counting;

fn vip(v: usize) -> String {
    format!("10.{}.{}.{}", 99 + v / 62500, (v / 250) % 250, v % 250 + 1)
}

fn rs_addr(i: usize) -> String {
    format!("127.{}.{}.{}", 20 + i / 62500, (i / 250) % 250 + 1, i % 250 + 1)
}

/// benches/lvs_scale.py's make_config(n, vs_count, port, 1).
fn make_config(n: usize, vs_count: usize, port: u16) -> String {
    let mut out = String::from("global_defs {\n    router_id lvs_scale\n}\n");
    let per = n.div_ceil(vs_count);
    let mut i = 0;
    for v in 0..vs_count {
        if i >= n {
            break;
        }
        out += &format!(
            "virtual_server {} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
            vip(v)
        );
        for _ in 0..per.min(n - i) {
            out += &format!(
                "    real_server {} {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n",
                rs_addr(i)
            );
            i += 1;
        }
        out += "}\n";
    }
    out
}

#[test]
fn load_at_40000_real_servers() {
    let text = make_config(40_000, 2_000, 8080);
    vigil::os::mem::enable();
    let before = vigil::os::mem::stats();
    let loaded = load_str(&text, Path::new("/nonexistent/scale.conf"), &LoadOptions::default());
    let after = vigil::os::mem::stats();
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics.first());
    assert_eq!(loaded.config.virtual_servers.len(), 2_000);
    let reals: usize = loaded.config.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
    assert_eq!(reals, 40_000);
    assert!(loaded.config.virtual_servers.iter().all(|v| v.real_servers.iter().all(|r| r.checkers.len() == 1)));
    let encoded = postcard::to_allocvec(&loaded.config).unwrap_or_default();
    let mid = vigil::os::mem::stats();
    let decoded: vigil::config::Config = postcard::from_bytes(&encoded).unwrap_or_default();
    let dec = vigil::os::mem::stats();
    assert!(decoded == loaded.config);
    eprintln!(
        "load at 40,000 real servers: {} allocations, peak {} bytes above start, retained {} bytes; postcard-decoded model {} bytes",
        after.allocs - before.allocs,
        after.peak_bytes - before.live_bytes,
        after.live_bytes - before.live_bytes,
        dec.live_bytes - mid.live_bytes,
    );
    if let Some(path) = std::env::var_os("VIGIL_SCALE_DUMP") {
        let diags: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        let json = format!("{}\n{:?}\n", vigil::config::to_json(&loaded.config), diags);
        std::fs::write(path, json).unwrap_or_default();
    }
}
