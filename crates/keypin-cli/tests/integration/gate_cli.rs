//! `keypin gate` as a user runs it: the offline demo; `serve` as a process that a simulated
//! iOS app registers with and gets a token from; `verify-token` on that token (exit 0), with
//! another audience (exit 1) and with unreadable input (exit 2).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::Command as Cmd;
use base64::Engine as _;
use keypin_pki::attest_sim::{AppleAttestCa, AppleAttestationSpec};
use predicates::str::contains;
use serde_json::{Value, json};

use crate::common::collector::free_port;

const APP: &str = "ABCDE12345.com.example.app";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn http(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: g\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().unwrap();
    let (_, json) = reply.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(json).unwrap())
}

#[test]
fn gate_demo_accepts_genuine_apps_and_refuses_each_attack() {
    let out = Cmd::cargo_bin("keypin")
        .unwrap()
        .args(["gate", "demo"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for (label, verdict) in [
        ("iOS assertion (counter 1, ephemeral key)", "accepted"),
        (
            "secret maps_api_key",
            "opened by the app: \"demo-maps-key-0123\"",
        ),
        ("Android signed client data", "accepted"),
        ("repackaged iOS app", "made for another team or bundle"),
        ("repackaged APK", "are not allowed by the policy"),
        ("replayed assertion", "counter 1 is not above the stored 1"),
        ("rolled-back counter", "counter 2 is not above the stored 4"),
        ("intercepted channel", "channel binding mismatch"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label}: {text}"));
        assert!(line.contains(verdict), "{line}");
    }
}

#[test]
fn a_token_from_gate_serve_verifies_with_verify_token() {
    let dir = tempfile::tempdir().unwrap();
    let ca = AppleAttestCa::generate().unwrap();
    std::fs::write(dir.path().join("roots.pem"), ca.root_pem()).unwrap();
    std::fs::write(
        dir.path().join("gate.toml"),
        format!(
            "audience = \"api\"\ndanger_trust_test_attestation_roots = \"roots.pem\"\n[[app]]\nname = \"a\"\nios_app_id = \"{APP}\"\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("keypin"))
        .args(["gate", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--config")
        .arg(dir.path().join("gate.toml"))
        .arg("--db")
        .arg(dir.path().join("gate.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let challenge = |()| {
        let (_, v) = http(port, "POST", "/v1/challenge", &json!({"app": "a"}));
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v["challenge"].as_str().unwrap())
            .unwrap()
    };
    let c = challenge(());
    let mut made = ca
        .attest(
            &AppleAttestationSpec::genuine(APP),
            &keypin_gate::sha256(&[&c]),
        )
        .unwrap();
    let (status, reg) = http(
        port,
        "POST",
        "/v1/register",
        &json!({"app": "a", "platform": "ios",
        "challenge": b64(&c), "key_id": b64(&made.key.key_id()), "attestation": b64(&made.object)}),
    );
    assert_eq!(status, 200, "{reg}");
    let cd = keypin_gate::client_data::build(&challenge(()), "GET", "/v1/me", b"", None);
    let assertion = made.key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
    let (status, tok) = http(
        port,
        "POST",
        "/v1/assert",
        &json!({"install_id": reg["install_id"],
        "client_data": b64(&cd), "assertion": b64(&assertion)}),
    );
    assert_eq!(status, 200, "{tok}");
    let (_, jwks) = http(port, "GET", "/.well-known/jwks.json", &Value::Null);
    child.kill().unwrap();
    child.wait().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let token = tok["token"].as_str().unwrap();
    let verify = |aud: &str| {
        let mut c = Cmd::cargo_bin("keypin").unwrap();
        c.args(["gate", "verify-token", token, "--audience", aud])
            .arg("--jwks")
            .arg(&jwks_file);
        c
    };
    verify("api")
        .assert()
        .code(0)
        .stdout(contains("valid token"))
        .stdout(contains("\"htu\": \"/v1/me\""));
    verify("other")
        .assert()
        .code(1)
        .stdout(contains("InvalidAudience"));
    Cmd::cargo_bin("keypin")
        .unwrap()
        .args(["gate", "verify-token", token, "--audience", "api", "--jwks"])
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2)
        .stderr(contains("missing.json"));
}
