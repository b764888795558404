//! `keypin collector serve --alerts`: the rules file checked before serving, an alert from a
//! running collector reaching a webhook on loopback, and `GET /metrics` counting it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::collector::{self, TOKEN, free_port};

const RULE: &str = "[[alert]]
name = \"api-keys\"
hosts = [\"api.example.com\"]
threshold = 2
window = \"10m\"
webhook = \"URL\"
format = \"FORMAT\"
";

fn keypin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("keypin"))
}

#[test]
fn alerts_and_public_url_flags_are_checked_before_serving() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("alerts.toml");
    // (alerts.toml, extra flags, words in the error)
    let rows: &[(&str, &[&str], &str)] = &[
        (
            &RULE.replace("threshold = 2", "threshold = -1"),
            &[],
            "alerts.toml:4: field `threshold`: -1: expected a number of reports",
        ),
        (
            &RULE.replace(
                "format = \"FORMAT\"",
                "format = \"json\"\nplatfrom = \"ios\"",
            ),
            &[],
            "alerts.toml:8: field `platfrom`: unknown field",
        ),
        (
            &RULE.replace("URL", "http://hooks.example.com/x"),
            &[],
            "alerts.toml:6: field `webhook`: http:// to hooks.example.com would send alerts in clear",
        ),
        (
            &RULE
                .replace("URL", "https://hooks.example.com/x")
                .replace("FORMAT", "json"),
            &["--public-url", "collector.example.com"],
            "--public-url \"collector.example.com\": expected an http:// or https:// URL",
        ),
        (
            &RULE
                .replace("URL", "https://hooks.example.com/x")
                .replace("FORMAT", "json"),
            &["--public-url", "https://c.example.com/?x=1"],
            "a query or fragment",
        ),
    ];
    for (text, flags, words) in rows {
        std::fs::write(&file, text).unwrap();
        let out = keypin()
            .args(["collector", "serve", "--token", TOKEN, "--db"])
            .arg(&db)
            .arg("--alerts")
            .arg(&file)
            .args(*flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(words), "{words:?} not in {stderr}");
    }
    let out = keypin()
        .args(["collector", "serve", "--token", TOKEN, "--db"])
        .arg(&db)
        .args(["--alerts", "/nonexistent/alerts.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/alerts.toml: cannot read it")
    );
    assert!(!db.exists(), "nothing is created before the flags are good");
}

/// A webhook on loopback answering 200 to every POST after `delay`; the bodies it got.
fn receiver(delay: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                g.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            std::thread::sleep(delay);
            let mut w = s;
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

/// `DIR/alerts.toml` with [`RULE`] to the receiver on `hook`, as `format`.
fn alerts_file(dir: &std::path::Path, hook: u16, format: &str) -> std::path::PathBuf {
    let file = dir.join("alerts.toml");
    let text = RULE
        .replace("URL", &format!("http://127.0.0.1:{hook}/hooks/keypin"))
        .replace("FORMAT", format);
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn an_alert_from_a_running_collector_reaches_the_webhook_and_metrics_count_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let (hook, got) = receiver(Duration::ZERO);
    let file = alerts_file(dir.path(), hook, "slack");
    let port = free_port();
    let mut child = keypin()
        .args(["collector", "serve", "--token", TOKEN, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(dir.path().join("r.db"))
        .arg("--alerts")
        .arg(&file)
        .args([
            "--public-url",
            "https://collector.example.com",
            "--alert-every",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    for _ in 0..2 {
        out.read_line(&mut lines).unwrap();
    }
    assert!(lines.contains("alerts: 1 rule(s) from"), "{lines}");
    assert!(
        lines.contains("linking to https://collector.example.com"),
        "{lines}"
    );
    let rogue = keypin_pki::self_signed(keypin_pki::CertSpec::leaf(&["api.example.com"])).unwrap();
    let report = serde_json::json!({
        "hostname": "api.example.com",
        "served-certificate-chain": [rogue.cert_pem()],
        "failure": "pin-mismatch",
        "app-version": "4.2.0",
        "app-platform": "IOS",
    })
    .to_string();
    for _ in 0..2 {
        assert!(collector::post(port, &report).starts_with("HTTP/1.1 202"));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("keypin alert api-keys: 2 pin-failure report(s) for api.example.com"),
        "{text}"
    );
    assert!(text.contains("serves a key never seen before"), "{text}");
    assert!(
        text.contains("<https://collector.example.com/?host=api.example.com|Open the dashboard>"),
        "{text}"
    );
    if let Ok(dump) = std::env::var("KEYPIN_DUMP_ALERT") {
        std::fs::write(&dump, &bodies[0]).unwrap();
    }
    let (status, metrics) = collector::get(port, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(
        metrics.contains("keypin_collector_reports_accepted_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keypin_collector_alert_deliveries_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    if let Ok(dump) = std::env::var("KEYPIN_DUMP_METRICS") {
        std::fs::write(&dump, &metrics).unwrap();
    }
    child.kill().unwrap();
    let _ = child.wait();
}

/// Starts `keypin collector serve` on `port` with the alerts file, checking every second.
fn serve_with_alerts(
    db: &std::path::Path,
    alerts: &std::path::Path,
    port: u16,
) -> std::process::Child {
    let child = keypin()
        .args(["collector", "serve", "--token", TOKEN, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(db)
        .arg("--alerts")
        .arg(alerts)
        .args(["--alert-every", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "collector did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn two_collector_processes_on_one_sqlite_file_send_one_alert() {
    let dir = tempfile::TempDir::new().unwrap();
    // Each delivery takes a second: both processes evaluate meanwhile.
    let (hook, got) = receiver(Duration::from_secs(1));
    let file = alerts_file(dir.path(), hook, "json");
    let db = dir.path().join("r.db");
    let ports = [free_port(), free_port()];
    let mut children: Vec<_> = ports
        .iter()
        .map(|p| serve_with_alerts(&db, &file, *p))
        .collect();
    let report = r#"{"hostname":"api.example.com","failure":"pin-mismatch"}"#;
    for p in ports {
        assert!(collector::post(p, report).starts_with("HTTP/1.1 202"));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Several more evaluations by each.
    std::thread::sleep(Duration::from_secs(3));
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(
        body["reports"], 2,
        "both processes' reports counted: {body}"
    );
    for c in &mut children {
        c.kill().unwrap();
        let _ = c.wait();
    }
}
