//! `keypin collector serve` as a process: durability across kill -9, and the dashboard in a
//! real browser (Debian's headless chromium).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::collector;
use crate::common::collector::{free_port, start};

/// POSTs one report per request on a keep-alive connection until it breaks; returns the
/// number acknowledged with 2xx.
fn send_until_broken(port: u16, worker: usize) -> u64 {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut acked = 0;
    for i in 0.. {
        let body = format!("{{\"hostname\":\"crash.test\",\"noted-hostname\":\"{worker}-{i}\"}}");
        let req = format!(
            "POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(req.as_bytes()).is_err() {
            break;
        }
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let ok = line.starts_with("HTTP/1.1 2");
        let mut len = 0;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return acked;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut b = vec![0; len];
        if r.read_exact(&mut b).is_err() {
            break;
        }
        if ok {
            acked += 1;
        }
    }
    acked
}

fn stored(port: u16) -> i64 {
    let (_, body) = collector::get(port, "/v1/summary");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| h["reports"].as_i64().unwrap())
        .sum()
}

#[test]
fn acknowledged_reports_survive_kill_9() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("reports.db");
    let port = free_port();
    let mut child = start(&db, port);
    let senders: Vec<_> = (0..4)
        .map(|w| std::thread::spawn(move || send_until_broken(port, w)))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    let _ = child.wait();
    let acked: u64 = senders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(acked > 100, "the load ran ({acked} acknowledged)");
    let mut child = start(&db, port);
    let after = stored(port);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        after >= acked as i64,
        "acknowledged {acked}, stored {after}"
    );
}

#[test]
fn dashboard_renders_in_headless_chromium() {
    let Some(chromium) = collector::chromium("dashboard_renders_in_headless_chromium") else {
        // CI installs chromium (.ci/run); there a missing browser is a failure, not a skip.
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = start(&dir.path().join("r.db"), port);
    for (host, n) in [("api.bank.test", 3), ("<b>evil</b>.test", 1)] {
        for i in 0..n {
            let body = format!(
                "{{\"hostname\":\"{host}\",\"noted-hostname\":\"{i}\",\"failure\":\"pin-mismatch\"}}"
            );
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                s,
                "POST /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            assert!(out.starts_with("HTTP/1.1 202"), "{out}");
        }
    }
    let dom = collector::dashboard_dom(chromium, &dir.path().join("profile"), port);
    child.kill().unwrap();
    let _ = child.wait();
    // The login set the cookie and redirected to the dashboard, which the browser rendered.
    assert!(dom.contains("2 host(s) with pin-failure reports"), "{dom}");
    assert!(
        dom.contains("<h2 class=\"hostname\">api.bank.test</h2>"),
        "{dom}"
    );
    // The hostile host name is text, not markup.
    assert!(dom.contains("&lt;b&gt;evil&lt;/b&gt;.test"), "{dom}");
    assert!(!dom.contains("<b>evil</b>"), "{dom}");
    assert_eq!(
        dom.matches("class=\"bar\" data-count=\"3\"").count(),
        1,
        "{dom}"
    );
}

#[test]
fn web_surface_flags_are_checked_before_serving() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("r.db");
    let rows: &[(&[&str], &str)] = &[
        (&["--tls-cert", "cert.pem"], "--tls-key <FILE>"),
        (&["--tls-key", "key.pem"], "--tls-cert <FILE>"),
        (
            &["--tls-cert", "missing.pem", "--tls-key", "missing.pem"],
            "missing.pem: cannot read the certificate chain",
        ),
        (
            &["--trust-proxy", "10.1.2.3/8"],
            "host bits are set below the prefix",
        ),
        (
            &["--trust-proxy", "proxy.example"],
            "not an IPv4 or IPv6 address",
        ),
        (
            &["--trust-proxy", "10.0.0.0/33"],
            "the prefix length must be 0 to 32",
        ),
        (
            &["--max-connections-per-client", "0"],
            "--max-connections-per-client",
        ),
    ];
    for (flags, words) in rows {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("keypin"))
            .args(["collector", "serve", "--token", collector::TOKEN, "--db"])
            .arg(&db)
            .args(*flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(words), "{flags:?}: {stderr}");
    }
    assert!(!db.exists(), "nothing is created before the flags are good");
}
