//! Runtime integrity findings in the signed client data, and the `on_runtime_findings`
//! policy: refuse with a named reason, a down-scoped token without secrets, or a full token.

use keypin::runtime::{RuntimeFinding, Severity};
use keypin_gate::client_data::{build_full, with_runtime_findings};
use keypin_gate::secrets::ephemeral_keypair;
use keypin_gate::verify_token;
use serde_json::Value;

use crate::common::*;

const SECRET: &str =
    "\n[[secret]]\nname = \"maps\"\nvalue_file = \"secret.txt\"\napps = [\"example\"]\n";

fn traced() -> RuntimeFinding {
    RuntimeFinding::new("SH001", Severity::High, "TracerPid: 4242 (gdb)")
}

/// An iOS install asserts once with `findings` in its client data (and an ephemeral key, so
/// secrets would be released); returns (status, body).
async fn assert_reporting(g: &TestGate, findings: &[RuntimeFinding]) -> (u16, Value) {
    let (install, mut key) = g.genuine_ios().await;
    let (_sk, pk) = ephemeral_keypair();
    let cd = build_full(
        &g.challenge().await,
        "POST",
        "/v1/orders",
        b"{}",
        Some(&SERVED_PIN),
        None,
        Some(&pk),
    );
    let cd = with_runtime_findings(&cd, findings);
    g.assert_signed(&install, &mut key, &cd).await
}

#[tokio::test]
async fn a_traced_app_is_refused_with_the_finding_named() {
    let g = start(
        &format!("on_runtime_findings = \"refuse\"{SECRET}"),
        "production",
    )
    .await;
    let (status, body) = assert_reporting(&g, &[traced()]).await;
    assert_eq!(status, 401, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("runtime integrity") && error.contains("SH001 (high: TracerPid: 4242"),
        "{error}"
    );
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn downscope_gives_a_narrower_token_and_no_secrets() {
    let extra = format!(
        "on_runtime_findings = \"downscope\"\nruntime_findings_min_severity = \"medium\"\n\
         downscoped_scope = \"read-only\"{SECRET}"
    );
    let g = start(&extra, "production").await;
    let frida_port = RuntimeFinding::new("SH005", Severity::Medium, "127.0.0.1:27042");
    let (status, body) = assert_reporting(&g, &[frida_port]).await;
    assert_eq!(status, 200, "{body}");
    let claims = verify_token(body["token"].as_str().unwrap(), &jwks(&g).await, AUDIENCE).unwrap();
    assert_eq!(claims.scope.as_deref(), Some("read-only"));
    assert_eq!(claims.runtime_findings, ["SH005"]);
    assert_eq!(body["secrets"], serde_json::json!([]));
}

#[tokio::test]
async fn no_findings_or_findings_below_the_threshold_get_a_full_token() {
    let g = start(
        &format!("on_runtime_findings = \"refuse\"{SECRET}"),
        "production",
    )
    .await;
    let preload = RuntimeFinding::new("SH006", Severity::Medium, "LD_PRELOAD=/opt/x.so");
    for findings in [vec![], vec![preload]] {
        let (status, body) = assert_reporting(&g, &findings).await;
        assert_eq!(status, 200, "{findings:?}: {body}");
        let claims =
            verify_token(body["token"].as_str().unwrap(), &jwks(&g).await, AUDIENCE).unwrap();
        assert_eq!((claims.scope, claims.runtime_findings.len()), (None, 0));
        assert_eq!(body["secrets"].as_array().unwrap().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn oversized_runtime_findings_are_a_bad_request() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let mut data: Value = serde_json::from_slice(&cd).unwrap();
    data["runtime_findings"] =
        serde_json::json!([{"id": "SH001", "severity": "high", "evidence": "x".repeat(257)}]);
    let cd = data.to_string().into_bytes();
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("runtime_findings"), "{body}");
}

#[test]
fn a_wrong_runtime_policy_is_a_configuration_error_naming_the_field() {
    let app = "audience = \"https://api.example.com\"\n[[app]]\nname = \"a\"\nios_app_id = \"ABCDE12345.com.example.app\"\n";
    for (line, words) in [
        ("on_runtime_findings = \"maybe\"", "on_runtime_findings"),
        (
            "runtime_findings_min_severity = \"critical\"",
            "runtime_findings_min_severity",
        ),
        ("downscoped_scope = \"\"", "downscoped_scope"),
    ] {
        let text = format!("{line}\n{app}");
        let e = keypin_gate::GateConfig::from_toml(&text, std::path::Path::new(".")).unwrap_err();
        assert!(e.contains(words), "{line}: {e}");
    }
    let ok = keypin_gate::GateConfig::from_toml(app, std::path::Path::new(".")).unwrap();
    assert_eq!(ok.runtime, keypin_gate::config::RuntimePolicy::default());
}
