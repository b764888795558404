//! One test per attack of issue #16, named after it: each is refused with a reason that names
//! it, over loopback HTTP against a real SQLite file.

use keypin_gate::verify_token;
use keypin_pki::attest_sim::{
    AppleAttestCa, AppleAttestationSpec, AppleEnvironment, SimBoot, SimSecurityLevel,
};

use crate::common::*;

fn refused(status: u16, body: &serde_json::Value, reason: &str) {
    assert_eq!(status, 401, "{body}");
    assert!(
        error_of(body).contains(reason),
        "expected {reason:?} in {body}"
    );
}

#[tokio::test]
async fn replayed_challenge() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let first = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
    let (status, body) = g
        .post("/v1/assert", ios_assert_body(&install, &cd, &first))
        .await;
    assert_eq!(status, 200, "{body}");
    // A new, valid assertion (higher counter) over the same challenge.
    let second = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
    let (status, body) = g
        .post("/v1/assert", ios_assert_body(&install, &cd, &second))
        .await;
    refused(status, &body, "challenge already used");
}

#[tokio::test]
async fn replayed_assertion() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let assertion = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
    let request = ios_assert_body(&install, &cd, &assertion);
    assert_eq!(g.post("/v1/assert", request.clone()).await.0, 200);
    let (status, body) = g.post("/v1/assert", request).await;
    refused(status, &body, "counter 1 is not above the stored 1");
}

#[tokio::test]
async fn counter_rollback() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    for _ in 0..5 {
        assert_eq!(g.assert_ios(&install, &mut key).await.0, 200);
    }
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let rolled_back = key
        .assert_with_counter(3, &keypin_gate::sha256(&[&cd]))
        .unwrap();
    let (status, body) = g
        .post("/v1/assert", ios_assert_body(&install, &cd, &rolled_back))
        .await;
    refused(status, &body, "counter 3 is not above the stored 5");
}

#[tokio::test]
async fn repackaged_ios_app_attestation_for_another_team() {
    let g = start("", "production").await;
    let ((status, body), _) = g
        .register_ios(&AppleAttestationSpec::genuine("ZZZZZ99999.com.example.app"))
        .await;
    refused(status, &body, "made for another team or bundle");
}

#[tokio::test]
async fn repackaged_ios_app_attestation_for_another_bundle() {
    let g = start("", "production").await;
    let ((status, body), _) = g
        .register_ios(&AppleAttestationSpec::genuine(
            "ABCDE12345.com.example.app.resigned",
        ))
        .await;
    refused(status, &body, "made for another team or bundle");
}

#[tokio::test]
async fn development_attestation_in_production() {
    let g = start("", "production").await;
    let mut spec = AppleAttestationSpec::genuine(IOS_APP);
    spec.environment = AppleEnvironment::Development;
    let ((status, body), _) = g.register_ios(&spec).await;
    refused(status, &body, "expected the production environment");
}

#[tokio::test]
async fn attestation_under_a_self_made_apple_root() {
    // A root with the test root's very name but another key: no path verifies.
    let g = start("", "production").await;
    let other = AppleAttestCa::generate().unwrap();
    let challenge = g.challenge().await;
    let made = other
        .attest(
            &AppleAttestationSpec::genuine(IOS_APP),
            &keypin_gate::sha256(&[&challenge]),
        )
        .unwrap();
    let body = serde_json::json!({
        "app": "example", "platform": "ios", "challenge": b64(&challenge),
        "key_id": b64(&made.key.key_id()), "attestation": b64(&made.object),
    });
    let (status, body) = g.post("/v1/register", body).await;
    refused(status, &body, "App Attest attestation refused: step 1:");
}

#[tokio::test]
async fn repackaged_apk_signing_digest_mismatch() {
    let g = start("", "production").await;
    let ((status, body), _) = g
        .register_android(|s| s.signing_cert_sha256 = vec![[0xee; 32]])
        .await;
    refused(status, &body, "signing");
}

#[tokio::test]
async fn software_backed_key_when_tee_required() {
    let g = start("", "production").await;
    let ((status, body), _) = g
        .register_android(|s| s.keymint_level = SimSecurityLevel::Software)
        .await;
    refused(status, &body, "KeyMint security level is software");
}

#[tokio::test]
async fn unverified_boot_or_unlocked_device_when_required() {
    let g = start("", "production").await;
    let ((status, body), _) = g.register_android(|s| s.boot = SimBoot::Unverified).await;
    refused(status, &body, "Android attestation refused");
    let ((status, body), _) = g.register_android(|s| s.device_locked = false).await;
    refused(status, &body, "Android attestation refused");
}

#[tokio::test]
async fn android_signature_by_another_key() {
    let g = start("", "production").await;
    let ((_, body), _) = g.register_android(|_| {}).await;
    let install = body["install_id"].as_str().unwrap();
    let ((_, _), other_key) = g.register_android(|_| {}).await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let (status, body) = g
        .post(
            "/v1/assert",
            android_assert_body(install, &cd, &other_key.sign(&cd).unwrap()),
        )
        .await;
    refused(status, &body, "does not verify with the attested key");
}

#[tokio::test]
async fn channel_binding_mismatch_intercepted_channel() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    // The app's pinning is off; a proxy with a trusted rogue CA presented its own key.
    let rogue_pin = [0x66; 32];
    let cd = TestGate::client_data(&g.challenge().await, &rogue_pin);
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    refused(status, &body, "channel binding mismatch");
    let log = g.gate.store.audit_log().unwrap();
    assert!(
        log.iter()
            .any(|(event, who, _)| event == "channel binding mismatch"
                && who.as_deref() == Some(&install)),
        "{log:?}"
    );
}

#[tokio::test]
async fn channel_binding_absent() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd =
        keypin_gate::client_data::build(&g.challenge().await, "POST", "/v1/orders", b"{}", None);
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    refused(status, &body, "names no server SPKI");
}

#[tokio::test]
async fn token_with_wrong_audience() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let (_, body) = g.assert_ios(&install, &mut key).await;
    let token = body["token"].as_str().unwrap();
    let jwks = g.gate.jwks().unwrap();
    assert!(verify_token(token, &jwks, AUDIENCE).is_ok());
    let err = verify_token(token, &jwks, "https://other.example.com").unwrap_err();
    assert!(err.to_string().contains("InvalidAudience"), "{err}");
}

#[tokio::test]
async fn token_expired() {
    let g = start("token_lifetime_secs = 1", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let (_, body) = g.assert_ios(&install, &mut key).await;
    let token = body["token"].as_str().unwrap().to_string();
    let jwks = g.gate.jwks().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = verify_token(&token, &jwks, AUDIENCE).unwrap_err();
    assert!(err.to_string().contains("ExpiredSignature"), "{err}");
}

#[tokio::test]
async fn token_signed_by_a_key_not_in_the_set() {
    let g = start("", "production").await;
    let other = start("", "production").await;
    let (install, mut key) = other.genuine_ios().await;
    let (_, body) = other.assert_ios(&install, &mut key).await;
    let err = verify_token(
        body["token"].as_str().unwrap(),
        &g.gate.jwks().unwrap(),
        AUDIENCE,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not in the key set"), "{err}");
}

#[tokio::test]
async fn simulated_device_without_the_danger_flag() {
    // The production configuration trusts Apple's and Google's roots only.
    let g = start_trusting("", "production", false).await;
    let ((status, body), _) = g
        .register_ios(&AppleAttestationSpec::genuine(IOS_APP))
        .await;
    refused(
        status,
        &body,
        "does not lead to the Apple App Attestation Root CA",
    );
    let ((status, body), _) = g.register_android(|_| {}).await;
    refused(status, &body, "Android attestation refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_mismatch_reaches_the_collector() {
    use std::sync::Arc;

    use keypin_collector::store::{Query, Store as _};
    use keypin_collector::{Settings, SqliteStore};

    let dir = tempfile::tempdir().unwrap();
    let reports = Arc::new(SqliteStore::open(&dir.path().join("reports.db")).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let store: Arc<dyn keypin_collector::Store> = reports.clone();
    tokio::spawn(keypin_collector::serve(
        listener,
        store,
        Settings::new("a-collector-token-of-32-characters"),
        std::future::pending(),
    ));
    let g = start(
        &format!("report_uri = \"http://{collector}/v1/reports\""),
        "production",
    )
    .await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &[0x66; 32]);
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    refused(status, &body, "channel binding mismatch");
    let query = Query {
        limit: 10,
        ..Query::default()
    };
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = reports.reports(&query).unwrap();
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let [report] = stored.as_slice() else {
        panic!("expected one report at the collector, got {stored:?}");
    };
    assert_eq!(report.host, "api.example.com");
    assert_eq!(report.failure.as_deref(), Some("channel-binding-mismatch"));
    assert_eq!(report.app_bundle_id.as_deref(), Some("example"));
}

#[tokio::test]
async fn expired_attestation_certificate() {
    let g = start("", "production").await;
    let mut spec = AppleAttestationSpec::genuine(IOS_APP);
    spec.expired = true;
    let ((status, body), _) = g.register_ios(&spec).await;
    refused(status, &body, "step 1: a certificate expired at");
    let ((status, body), _) = g.register_android(|s| s.expired = true).await;
    refused(status, &body, "expired at");
}

#[tokio::test]
async fn revoked_attestation_certificate() {
    let (ca, list) = ca_and_a_list_revoking_its_batch_certificate();
    let g = start_full(
        "android_revocation_list = \"status.json\"",
        "production",
        true,
        Some(ca),
        &[("status.json", &list)],
    )
    .await;
    let ((status, body), _) = g.register_android(|_| {}).await;
    refused(status, &body, "REVOKED");
}

/// A simulated Google CA, and a status list (Google's JSON format) naming its batch
/// (intermediate) certificate as revoked.
fn ca_and_a_list_revoking_its_batch_certificate()
-> (keypin_pki::attest_sim::AndroidAttestCa, String) {
    use keypin_pki::attest_sim::{AndroidAttestCa, AndroidKeySpec};
    use x509_parser::prelude::{FromDer as _, X509Certificate};

    let ca = AndroidAttestCa::generate().unwrap();
    let probe = ca
        .attest(&AndroidKeySpec::genuine(b"x", PACKAGE, SIGNER))
        .unwrap();
    let intermediate = rustls_pki_types::pem::PemObject::pem_slice_iter(probe.chain_pem.as_bytes())
        .nth(1)
        .map(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.unwrap())
        .unwrap();
    let (_, cert) = X509Certificate::from_der(intermediate.as_ref()).unwrap();
    let serial: String = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let list = format!(
        "{{\"entries\": {{\"{serial}\": {{\"status\": \"REVOKED\", \"reason\": \"KEY_COMPROMISE\"}}}}}}"
    );
    (ca, list)
}

#[tokio::test]
async fn a_revocation_published_while_the_gate_runs_counts_without_a_restart() {
    let (ca, list) = ca_and_a_list_revoking_its_batch_certificate();
    let g = start_full(
        "android_revocation_list = \"status.json\"\nandroid_revocation_refresh_secs = 1",
        "production",
        true,
        Some(ca),
        &[("status.json", "{\"entries\": {}}")],
    )
    .await;
    let ((status, body), _) = g.register_android(|_| {}).await;
    assert_eq!(status, 200, "before the revocation: {body}");
    let path = g.dir().join("status.json");
    std::fs::write(&path, &list).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ((status, body), _) = g.register_android(|_| {}).await;
    refused(status, &body, "REVOKED");
}

#[tokio::test]
async fn expired_challenge() {
    let g = start("challenge_lifetime_secs = 1", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    refused(status, &body, "challenge expired");
}

#[tokio::test]
async fn challenge_not_issued_by_the_gate() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let cd = TestGate::client_data(&[0x42; 32], &SERVED_PIN);
    let (status, body) = g.assert_signed(&install, &mut key, &cd).await;
    refused(status, &body, "challenge unknown");
}
