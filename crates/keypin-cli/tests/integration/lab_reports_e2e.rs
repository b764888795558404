//! The evidence, end to end: `keypin collector serve` on loopback, the lab's forged
//! scenario (A3: a rogue CA the device trusts) run by keypin's own client under a report-only
//! rule with `--report-uri`, and the report found through `GET /v1/reports` and on the
//! dashboard.

use assert_cmd::Command;

use crate::common::collector;

#[test]
fn forged_scenario_report_reaches_the_collector_api_and_dashboard() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = collector::free_port();
    let mut server = collector::start(&dir.path().join("reports.db"), port);
    let uri = format!("http://127.0.0.1:{port}/v1/reports");

    let out = Command::cargo_bin("keypin")
        .unwrap()
        .args([
            "lab",
            "run",
            "--scenario",
            "A3",
            "--report-only",
            "--report-uri",
            &uri,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Report-only pinning lets the forged chain through: the lab says so (exit 1) ...
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("A3") && stdout.contains("accepted"),
        "{stdout}"
    );
    // ... and keypin reported it.
    assert!(
        stderr.contains("1 pin-failure report(s) sent to"),
        "{stdout}\n{stderr}"
    );

    let (status, body) = collector::get(port, "/v1/reports");
    assert!(status.contains("200"), "{status}: {body}");
    let reports: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1, "{body}");
    let r = &reports[0];
    let host = r["host"].as_str().unwrap().to_string();
    assert!(host.starts_with("a3."), "{r}");
    assert_eq!(r["dialect"], "keypin");
    assert_eq!(r["failure"], "pin-mismatch");
    assert_eq!(r["app_bundle_id"], "keypin-lab");
    assert_eq!(r["report"]["mode"], "report-only");
    assert_eq!(r["report"]["policy-version"], "lab");
    assert_eq!(
        r["report"]["served-certificate-chain"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "leaf and rogue intermediate: {r}"
    );
    assert!(
        r["served_leaf_pin"]
            .as_str()
            .unwrap()
            .starts_with("sha256/")
    );

    // The dashboard as served (bearer token) ...
    let (status, html) = collector::get(port, "/");
    assert!(status.contains("200"), "{status}");
    assert!(
        html.contains(&format!("<h2 class=\"hostname\">{host}</h2>")),
        "{html}"
    );
    // ... and as a browser renders it.
    if let Some(chromium) = collector::chromium("lab report on the dashboard in chromium") {
        let dom = collector::dashboard_dom(chromium, &dir.path().join("profile"), port);
        assert!(dom.contains("1 host(s) with pin-failure reports"), "{dom}");
        assert!(
            dom.contains(&format!("<h2 class=\"hostname\">{host}</h2>")),
            "{dom}"
        );
    }
    server.kill().unwrap();
    let _ = server.wait();
}
