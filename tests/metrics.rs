//! Metrics: `vigil metrics` prints the Prometheus text
//! exposition format, judged by Debian's `promtool check metrics`, and
//! `--metrics-listen` serves it over HTTP to a real Prometheus server that
//! the test starts and lets scrape: the scraped series are queried back
//! through Prometheus's API. Bounds are functional deadlines.

mod lab;

use lab::{Lab, VrrpConf, ready, vigil};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 9650;
const PROM_PORT: u16 = 9651;

/// GET `path` from 127.0.0.1:`port` inside node 1's namespace.
fn get(lab: &Lab, port: u16, path: &str) -> Option<String> {
    let path = path.to_string();
    lab.in_ns(1, move || {
        let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
    .ok()
    .flatten()
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[test]
fn metrics_pass_promtool_and_a_real_prometheus_scrapes_them() {
    if !ready("metrics_pass_promtool_and_a_real_prometheus_scrapes_them") {
        return;
    }
    if !have("promtool") || !have("prometheus") {
        lab::skip("metrics_pass_promtool_and_a_real_prometheus_scrapes_them", "promtool/prometheus not installed (Debian's prometheus package)");
        return;
    }
    let lab = Lab::new("vmet", 2);
    let dir = lab.node_dir(1);
    let conf = dir.join("keepalived.conf");
    let extra = "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n\
                 virtual_server 192.0.2.200 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
                 \x20   real_server 127.0.0.1 1 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n";
    std::fs::write(&conf, VrrpConf::new(1, 2, 150, "1", &["192.0.2.100/24", "192.0.2.101/24"]).render() + extra).unwrap();
    let mut argv: Vec<String> = vigil().argv(&dir, &conf).into_iter().filter(|a| a != "-P").collect();
    argv.push(format!("--metrics-listen=127.0.0.1:{METRICS_PORT}"));
    let d1 = lab.spawn(1, argv);
    let _d2 = lab.start(2, vigil(), &VrrpConf::new(2, 2, 100, "1", &["192.0.2.100/24", "192.0.2.101/24"]).render());
    let sock = dir.join("control.sock");

    // `vigil metrics` over the control socket, once the instance is master.
    let end = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["metrics", "--control"]).arg(&sock).output().unwrap();
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        if t.contains("state=\"MASTER\"") && t.contains("vigil_real_server_last_check_ok{") {
            break t;
        }
        assert!(Instant::now() < end, "no master in the metrics: {t}\n{}", d1.log());
        std::thread::sleep(Duration::from_millis(300));
    };
    let file = dir.join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = lab::run_bounded(Command::new("sh").arg("-c").arg(format!("promtool check metrics < {}", file.display())), lab::EXEC_TIMEOUT).unwrap();
    assert!(out.status.success(), "promtool check metrics:\n{}{}\n{text}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for want in [
        "keepalived_advertisements_sent_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",state=\"MASTER\"} ",
        "keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"192.0.2.101\"} 2",
        "vigil_vrrp_sync_group_state{group=\"G1\"} 2",
        "vigil_real_server_up{virtual_server=\"[192.0.2.200]:tcp:80\",real_server=\"[127.0.0.1]:tcp:1\"} 0",
        "vigil_child_up{role=\"check\"} 1",
        "vigil_child_restarts_total{role=\"vrrp\"} 0",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }

    // Over HTTP: a 404 for other paths, the same families on /metrics.
    let nf = get(&lab, METRICS_PORT, "/other").unwrap_or_default();
    assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
    let http = get(&lab, METRICS_PORT, "/metrics").unwrap_or_default();
    assert!(http.starts_with("HTTP/1.1 200") && http.contains("keepalived_advertisements_sent_total{"), "{http}");

    // A real Prometheus in the namespace scrapes it.
    let pdir = dir.join("prometheus");
    std::fs::create_dir_all(pdir.join("data")).unwrap();
    std::fs::write(
        pdir.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:{METRICS_PORT}']\n"),
    )
    .unwrap();
    let prom = lab.spawn(
        1,
        [
            "prometheus".to_string(),
            format!("--config.file={}", pdir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", pdir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{PROM_PORT}"),
        ]
        .to_vec(),
    );
    let end = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    let sent = loop {
        if let Some(r) = get(&lab, PROM_PORT, "/api/v1/query?query=keepalived_advertisements_sent_total%7Biname%3D%22VI_1%22%7D") {
            if let Some(body) = r.split("\r\n\r\n").nth(1) {
                let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                if let Some(val) = v["data"]["result"][0]["value"][1].as_str() {
                    break val.parse::<f64>().unwrap_or(-1.0);
                }
            }
            last = r;
        }
        assert!(Instant::now() < end, "Prometheus never scraped vigil: {last}\n{}", prom.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(sent >= 1.0, "adverts sent as scraped: {sent}");
    let up = get(&lab, PROM_PORT, "/api/v1/query?query=up%7Bjob%3D%22vigil%22%7D").unwrap_or_default();
    assert!(up.contains("\"value\":[") && up.contains(",\"1\"]"), "scrape not up: {up}");
    prom.stop(Duration::from_secs(10));
}
