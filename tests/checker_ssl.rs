//! SSL_GET through rustls against a real TLS server (openssl s_server with a
//! certificate made by the test): up while it serves, down when it stops.

mod common;

use common::Daemon;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ssl_get_against_openssl_s_server() {
    if Command::new("openssl").arg("version").output().is_err() {
        common::skip::skip_or_fail("openssl is not installed");
        return;
    }
    let dir = common::tempdir("ssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new("openssl")
        .args(["s_server", "-www", "-accept", &port.to_string(), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let conf = format!(
        "virtual_server 127.0.0.1 443 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    alpha\n    real_server 127.0.0.1 {port} {{\n        weight 1\n        SSL_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 2\n            retry 0\n            delay_before_retry 1\n        }}\n    }}\n}}\n"
    );
    let d = Daemon::start_with("sslget", 1000, "-C", &conf);
    // alpha: starts down, up on the first good TLS answer.
    wait_log(&d, "real server 0 up", Duration::from_secs(15));
    let _ = server.kill();
    let _ = server.wait();
    wait_log(&d, "real server 0 down", Duration::from_secs(15));
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_log(d: &Daemon, pat: &str, bound: Duration) {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        if d.log().contains(pat) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {pat:?} within {bound:?}\n{}", d.log());
}
