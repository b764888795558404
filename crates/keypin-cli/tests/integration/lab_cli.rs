//! `keypin lab` as a user runs it: keypin's own client, any command (curl when present),
//! `lab serve`, and every bad input a clear error.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

fn keypin() -> Command {
    Command::new(cargo_bin("keypin"))
}

/// Runs `keypin lab run ARGS --json`; returns (exit code, outcome per scenario id).
fn run_json(args: &[&str]) -> (i32, Vec<(String, String)>, Value) {
    let out = keypin()
        .args(["lab", "run", "--json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let rows = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), rows, report)
}

fn outcome<'a>(rows: &'a [(String, String)], id: &str) -> &'a str {
    &rows.iter().find(|(i, _)| i == id).unwrap().1
}

#[test]
fn keypin_client_passes_every_scenario_with_table_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("lab.xml");
    let out = keypin()
        .args(["lab", "run", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 failed, 0 skipped"), "{stdout}");
    for id in ["P0", "P1", "P2", "A3", "A7", "A14-tls1.0", "A15", "A18"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(id) && l.contains("PASS")),
            "{id}: {stdout}"
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"0\"") && xml.contains("skipped=\"0\""),
        "{xml}"
    );

    let (code, rows, _) = run_json(&[]);
    assert_eq!(code, 0);
    assert!(rows.len() >= 20);
    assert!(rows.iter().all(|(_, o)| o == "PASS"), "{rows:?}");
}

#[test]
fn refuse_everything_fails_the_positive_controls_and_skips_are_not_passes() {
    let (code, rows, _) = run_json(&["--client", "false"]);
    assert_eq!(code, 1);
    for id in ["P0", "P1", "P2"] {
        assert_eq!(outcome(&rows, id), "FAIL", "{id}");
    }
    assert_eq!(outcome(&rows, "A18"), "SKIP");
}

#[test]
fn a_hanging_client_is_killed_at_the_timeout() {
    let started = Instant::now();
    let (code, rows, report) = run_json(&[
        "--client",
        "sleep 30",
        "--timeout",
        "0.3",
        "--scenario",
        "P0,A3",
    ]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 2);
    assert_eq!(outcome(&rows, "P0"), "FAIL");
    let status = report["verdicts"][0]["client_status"].as_str().unwrap();
    assert!(status.contains("timed out"), "{status}");
}

fn have_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn curl_with_and_without_pinnedpubkey() {
    if !have_curl() {
        eprintln!("curl not found: skipping the curl lab test");
        return;
    }
    let (code, pinned, _) = run_json(&[
        "--client",
        "curl -sS --max-time 4 --cacert {ca_file} --pinnedpubkey {pins_curl} {url}",
    ]);
    assert_eq!(code, 1, "{pinned:?}");
    for id in ["P0", "P1", "P2", "A3", "A7", "A10"] {
        assert_eq!(outcome(&pinned, id), "PASS", "pinned curl {id}");
    }
    // OpenSSL falls back to the CN when a certificate has no SAN, and curl pins the leaf
    // key, which A16 carries.
    assert_eq!(outcome(&pinned, "A16"), "FAIL");
    assert_eq!(outcome(&pinned, "A18"), "SKIP");

    let (code, plain, _) =
        run_json(&["--client", "curl -sS --max-time 4 --cacert {ca_file} {url}"]);
    assert_eq!(code, 1);
    for id in ["A3", "A7", "A10"] {
        assert_eq!(outcome(&plain, id), "FAIL", "plain curl {id}");
    }
    assert_eq!(outcome(&plain, "P0"), "PASS");

    // Following redirects (-L) takes the SSL-stripping bait.
    let (code, follow, _) = run_json(&[
        "--scenario",
        "P0,A15",
        "--client",
        "curl -sSL --max-time 4 --cacert {ca_file} --pinnedpubkey {pins_curl} {url}",
    ]);
    assert_eq!(code, 1);
    assert_eq!(outcome(&follow, "P0"), "PASS");
    assert_eq!(outcome(&follow, "A15"), "FAIL");
}

fn expect_error(args: &[&str], needle: &str) {
    let out = keypin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn bad_input_is_a_clear_error() {
    expect_error(
        &["lab", "run", "--client", "curl {nope}"],
        "unknown placeholder {nope}",
    );
    expect_error(
        &["lab", "run", "--client", "keypin-lab-no-such-program {url}"],
        "cannot start the client command \"keypin-lab-no-such-program\"",
    );
    expect_error(&["lab", "run", "--scenario", "Z9"], "unknown scenario");

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    expect_error(&["lab", "run", "--base-port", &port], "in use");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = file.join("lab");
    let out = out.to_str().unwrap();
    expect_error(
        &["lab", "serve", "--out", out],
        "cannot create the --out directory",
    );
    expect_error(
        &["lab", "run", "--out", out],
        "cannot create the --out directory",
    );
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with("}\n")
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_writes_the_lab_files_and_serves_until_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = keypin()
        .args(["lab", "serve", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lab: Value = serde_json::from_str(&wait_for(&dir.path().join("lab.json"))).unwrap();
    let scenarios = lab["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 20);
    let p0 = &scenarios[0];
    assert_eq!(p0["id"], "P0");
    assert_eq!(p0["host"], "p0.lab.localhost");
    assert_eq!(p0["address"], "127.0.0.1");
    assert_eq!(p0["expected"], "accept");
    let a3 = scenarios.iter().find(|s| s["id"] == "A3").unwrap();
    assert_eq!(a3["expected"], "reject");

    let store = std::fs::read_to_string(dir.path().join("trust-store.pem")).unwrap();
    assert_eq!(store.matches("BEGIN CERTIFICATE").count(), 3);
    let pins = std::fs::read_to_string(dir.path().join("pins.txt")).unwrap();
    assert_eq!(pins.lines().filter(|l| l.starts_with("sha256/")).count(), 3);
    keypin::Policy::from_file(dir.path().join("policy.toml")).unwrap();

    // The servers are up: a keypin check of P0 with the lab policy passes.
    let port = p0["port"].as_u64().unwrap();
    let live = std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).unwrap()));
    assert!(live.is_ok());
    assert!(
        child.try_wait().unwrap().is_none(),
        "lab serve exited early"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn curl_presents_the_client_identity_of_the_mtls_scenarios() {
    if !have_curl() {
        eprintln!("curl not found: skipping the curl mTLS lab test");
        return;
    }
    let (code, rows, _) = run_json(&[
        "--client",
        "curl -sS --max-time 4 --cacert {ca_file} --cert {client_cert} --key {client_key} {url}",
        "--scenario",
        "M1,M2,M3",
    ]);
    assert_eq!(rows.len(), 3);
    // M1 shows curl presented the identity it was handed (the server accepts only that key);
    // M2 and M3 are refused by keypin's client verifier on the server.
    for id in ["M1", "M2", "M3"] {
        assert_eq!(outcome(&rows, id), "PASS", "{id}: {rows:?}");
    }
    assert_eq!(code, 0);

    // Without a client certificate, the positive control M1 fails.
    let (code, rows, _) = run_json(&[
        "--client",
        "curl -sS --max-time 4 --cacert {ca_file} {url}",
        "--scenario",
        "M1",
    ]);
    assert_eq!(code, 1);
    assert_eq!(outcome(&rows, "M1"), "FAIL");
}
