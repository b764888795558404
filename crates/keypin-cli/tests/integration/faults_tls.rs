//! Fault injection on the TLS side: `keypin check`, `inspect` and `monitor` against loopback
//! servers that close mid-handshake, answer garbage, stall, or drip a record a byte at a
//! time. Each must end with exit code 3, a clear error, and within a bounded time.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use keypin::pin::Pin;
use keypin_pki::{Chain, Fault, FaultyServer, KeyAlg, TlsServer};
use tempfile::TempDir;

const HOST: &str = "api.keypin.test";
/// `--timeout` given to every command (seconds).
const TIMEOUT: u64 = 1;
/// Longest a command may take against a faulty server: the timeout, process start-up and
/// policy loading, and slack for a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(TIMEOUT + 6);

fn policy(dir: &Path, hosts: &[String], pin: &Pin) -> std::path::PathBuf {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let p = dir.join("policy.toml");
    std::fs::write(
        &p,
        format!(
            "[[rule]]\nhosts = [{}]\npins = [\"{pin}\", \"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n",
            hosts.join(", ")
        ),
    )
    .unwrap();
    p
}

fn timed(mut cmd: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = cmd.timeout(Duration::from_secs(60)).output().unwrap();
    (out, start.elapsed())
}

/// What the error must say for each fault.
fn expected_words(fault: Fault) -> &'static [&'static str] {
    match fault {
        Fault::CloseAtOnce | Fault::CloseAfterHello => &["closed the connection mid-handshake"],
        Fault::Garbage => &["corrupt message", "InvalidContentType"],
        Fault::Stall | Fault::Drip => &["timed out", "within 1 s"],
        _ => &[],
    }
}

fn assert_clean_failure(what: &str, fault: Fault, out: &Output, took: Duration) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what} vs {}: exit code; stderr: {stderr}",
        fault.name()
    );
    assert!(
        took < BOUND,
        "{what} vs {}: took {took:?} (bound {BOUND:?})",
        fault.name()
    );
    assert!(
        stderr.contains("TLS handshake with") && stderr.contains("127.0.0.1"),
        "{what} vs {}: names the server: {stderr}",
        fault.name()
    );
    let words = expected_words(fault);
    assert!(
        words.iter().any(|w| stderr.contains(w)),
        "{what} vs {}: expected one of {words:?} in: {stderr}",
        fault.name()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_and_inspect_fail_cleanly_and_in_time_on_every_fault() {
    let dir = TempDir::new().unwrap();
    let pin = Pin::from_spki_der(
        &keypin_pki::self_signed(keypin_pki::CertSpec::ca("Spare"))
            .unwrap()
            .spki_der(),
    );
    let policy = policy(dir.path(), &[HOST.to_string()], &pin);
    let servers: Vec<FaultyServer> = Fault::ALL
        .iter()
        .map(|f| FaultyServer::start(*f).unwrap())
        .collect();
    // All runs at once: the stalls overlap instead of adding up.
    let runs: Vec<_> = servers
        .iter()
        .flat_map(|s| [("check", s), ("inspect", s)])
        .map(|(sub, s)| {
            let mut cmd = Command::cargo_bin("keypin").unwrap();
            cmd.arg(sub)
                .arg(format!("{HOST}:{}", s.port()))
                .arg("--connect")
                .arg(s.addr().to_string())
                .arg("--timeout")
                .arg(TIMEOUT.to_string());
            if sub == "check" {
                cmd.arg("--policy").arg(&policy);
            } else {
                cmd.arg("--json");
            }
            let fault = s.fault();
            (sub, fault, std::thread::spawn(move || timed(cmd)))
        })
        .collect();
    for (sub, fault, run) in runs {
        let (out, took) = run.join().unwrap();
        assert_clean_failure(sub, fault, &out, took);
    }
    for s in &servers {
        assert!(
            s.accepted() >= 2,
            "{}: both commands connected",
            s.fault().name()
        );
    }
}

#[test]
fn monitor_reports_every_faulty_host_and_still_judges_the_good_one() {
    let dir = TempDir::new().unwrap();
    let chain = Chain::generate("Mon", &["good.fault.test"], KeyAlg::EcdsaP256).unwrap();
    let good = TlsServer::start(chain.server_options()).unwrap();
    std::fs::write(dir.path().join("root.pem"), chain.root.cert_pem()).unwrap();
    let servers: Vec<FaultyServer> = Fault::ALL
        .iter()
        .map(|f| FaultyServer::start(*f).unwrap())
        .collect();
    let mut hosts: Vec<String> = servers
        .iter()
        .map(|s| format!("{}.fault.test", s.fault().name()))
        .collect();
    hosts.push("good.fault.test".into());
    let pin = Pin::from_spki_der(&chain.intermediate.spki_der());
    let policy = policy(dir.path(), &hosts, &pin);
    let mut cmd = Command::cargo_bin("keypin").unwrap();
    cmd.arg("monitor")
        .arg(&policy)
        .arg("--json")
        .arg("--ca-file")
        .arg(dir.path().join("root.pem"))
        .arg("--timeout")
        .arg(TIMEOUT.to_string())
        .arg("--resolve")
        .arg(format!("good.fault.test={}", good.addr()));
    for s in &servers {
        cmd.arg("--resolve")
            .arg(format!("{}.fault.test={}", s.fault().name(), s.addr()));
    }
    let (out, took) = timed(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(took < BOUND, "monitor took {took:?} (bound {BOUND:?})");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let text = report.to_string();
    let entries: Vec<&serde_json::Value> = find_hosts(&report);
    assert_eq!(entries.len(), hosts.len(), "{text}");
    for s in &servers {
        let name = format!("{}.fault.test", s.fault().name());
        let e = entries
            .iter()
            .find(|e| e["host"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing: {text}"));
        let err = e["error"].as_str().unwrap_or_else(|| panic!("{name}: {e}"));
        let words = expected_words(s.fault());
        assert!(
            words.iter().any(|w| err.contains(w)),
            "{name}: expected one of {words:?} in {err}"
        );
    }
    let g = entries
        .iter()
        .find(|e| e["host"] == "good.fault.test")
        .unwrap();
    assert!(g["error"].is_null(), "{g}");
    assert_eq!(g["policies"][0]["verdict"], "pass", "{g}");
}

/// The host entries of monitor's JSON, wherever the document keeps them.
fn find_hosts(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    match v {
        serde_json::Value::Array(a) if a.iter().all(|e| e.get("host").is_some()) => {
            a.iter().collect()
        }
        serde_json::Value::Array(a) => a.iter().flat_map(find_hosts).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(find_hosts).collect(),
        _ => Vec::new(),
    }
}
