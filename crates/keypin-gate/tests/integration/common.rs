//! A gate on 127.0.0.1 trusting freshly generated test roots, and simulated apps.

use std::sync::Arc;

use base64::Engine as _;
use keypin_gate::GateConfig;
use keypin_gate::client_data;
use keypin_gate::server::Gate;
use keypin_gate::store::Store;
use keypin_pki::attest_sim::{
    AndroidAttestCa, AndroidKeySpec, AppleAttestCa, AppleAttestationSpec, SimAndroidKey,
    SimAppleKey,
};
use serde_json::{Value, json};

pub(crate) const IOS_APP: &str = "ABCDE12345.com.example.app";
pub(crate) const PACKAGE: &str = "com.example.app";
pub(crate) const SIGNER: [u8; 32] = [0x3f; 32];
pub(crate) const SERVED_PIN: [u8; 32] = [0x51; 32];
pub(crate) const AUDIENCE: &str = "https://api.example.com";
/// The content of `secret.txt` in every test gate's directory.
pub(crate) const SECRET_VALUE: &[u8] = b"sk_live_maps_0123456789";

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) struct TestGate {
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) apple: AppleAttestCa,
    pub(crate) android: AndroidAttestCa,
    pub(crate) gate: Arc<Gate>,
    _dir: tempfile::TempDir,
}

/// A plain-HTTP client for the gate. In the workspace's test build reqwest also carries
/// keypin's `rustls-no-provider` feature (features unify), and then it needs a process-wide
/// provider even for plain HTTP: aws-lc-rs, the only one.
pub(crate) fn http_client() -> reqwest::Client {
    let _already = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// Extra gate.toml lines (top level) go in `extra`.
pub(crate) async fn start(extra: &str, ios_environment: &str) -> TestGate {
    start_trusting(extra, ios_environment, true).await
}

/// As [`start`]; `danger_test_roots` false leaves the production roots in place.
pub(crate) async fn start_trusting(
    extra: &str,
    ios_environment: &str,
    danger_test_roots: bool,
) -> TestGate {
    start_full(extra, ios_environment, danger_test_roots, None, &[]).await
}

/// As [`start_trusting`], with a given Android CA and extra files in the gate's directory.
pub(crate) async fn start_full(
    extra: &str,
    ios_environment: &str,
    danger_test_roots: bool,
    android: Option<AndroidAttestCa>,
    files: &[(&str, &str)],
) -> TestGate {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let apple = AppleAttestCa::generate().unwrap();
    let android = android.unwrap_or_else(|| AndroidAttestCa::generate().unwrap());
    std::fs::write(dir.path().join("secret.txt"), SECRET_VALUE).unwrap();
    std::fs::write(
        dir.path().join("test-roots.pem"),
        apple.root_pem() + &android.root_pem(),
    )
    .unwrap();
    let toml = format!(
        r#"audience = "{AUDIENCE}"
{pin}
rate_limit_per_sec = 10000
{danger}
{extra}
[[app]]
name = "example"
ios_app_id = "{IOS_APP}"
ios_environment = "{ios_environment}"
android_package = "{PACKAGE}"
android_signing_cert_sha256 = ["{signer}"]
android_min_security_level = "tee"
android_require_verified_boot = true
"#,
        pin = if extra.contains("served_spki_sha256") {
            String::new()
        } else {
            format!(
                "served_spki_sha256 = [\"{}\"]",
                base64::engine::general_purpose::STANDARD.encode(SERVED_PIN)
            )
        },
        signer = "3f".repeat(32),
        danger = if danger_test_roots {
            "danger_trust_test_attestation_roots = \"test-roots.pem\""
        } else {
            ""
        },
    );
    let config = GateConfig::from_toml(&toml, dir.path()).unwrap();
    let store = Store::open(&dir.path().join("gate.db")).unwrap();
    let gate = Gate::new(config, store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(keypin_gate::server::serve(listener, Arc::clone(&gate)));
    TestGate {
        url,
        http: http_client(),
        apple,
        android,
        gate,
        _dir: dir,
    }
}

impl TestGate {
    /// The gate's directory (gate.toml's relative files).
    pub(crate) fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn challenge(&self) -> Vec<u8> {
        let (status, body) = self.post("/v1/challenge", json!({"app": "example"})).await;
        assert_eq!(status, 200, "{body}");
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body["challenge"].as_str().unwrap())
            .unwrap()
    }

    /// Registers an iOS device made with `spec`; returns the response and the device key.
    pub(crate) async fn register_ios(
        &self,
        spec: &AppleAttestationSpec,
    ) -> ((u16, Value), SimAppleKey) {
        let challenge = self.challenge().await;
        let made = self
            .apple
            .attest(spec, &keypin_gate::sha256(&[&challenge]))
            .unwrap();
        let body = json!({
            "app": "example", "platform": "ios", "challenge": b64(&challenge),
            "key_id": b64(&made.key.key_id()), "attestation": b64(&made.object),
        });
        (self.post("/v1/register", body).await, made.key)
    }

    pub(crate) async fn genuine_ios(&self) -> (String, SimAppleKey) {
        let ((status, body), key) = self
            .register_ios(&AppleAttestationSpec::genuine(IOS_APP))
            .await;
        assert_eq!(status, 200, "{body}");
        (body["install_id"].as_str().unwrap().to_string(), key)
    }

    /// Registers an Android device made with `tamper` applied to the genuine spec.
    pub(crate) async fn register_android(
        &self,
        tamper: impl FnOnce(&mut AndroidKeySpec),
    ) -> ((u16, Value), SimAndroidKey) {
        let challenge = self.challenge().await;
        let mut spec = AndroidKeySpec::genuine(&challenge, PACKAGE, SIGNER);
        tamper(&mut spec);
        let made = self.android.attest(&spec).unwrap();
        let body = json!({
            "app": "example", "platform": "android", "challenge": b64(&challenge),
            "chain_pem": made.chain_pem,
        });
        (self.post("/v1/register", body).await, made.key)
    }

    /// Client data for `POST /v1/orders {}` seen over a channel presenting `pin`.
    pub(crate) fn client_data(challenge: &[u8], pin: &[u8; 32]) -> Vec<u8> {
        client_data::build(challenge, "POST", "/v1/orders", b"{}", Some(pin))
    }

    /// An iOS assertion over `cd`, sent; returns (status, body).
    pub(crate) async fn assert_signed(
        &self,
        install: &str,
        key: &mut SimAppleKey,
        cd: &[u8],
    ) -> (u16, Value) {
        let assertion = key.assert(&keypin_gate::sha256(&[cd])).unwrap();
        self.post("/v1/assert", ios_assert_body(install, cd, &assertion))
            .await
    }

    /// An iOS assertion request over fresh client data; returns (status, body).
    pub(crate) async fn assert_ios(&self, install: &str, key: &mut SimAppleKey) -> (u16, Value) {
        let cd = Self::client_data(&self.challenge().await, &SERVED_PIN);
        self.assert_signed(install, key, &cd).await
    }
}

pub(crate) fn ios_assert_body(install: &str, cd: &[u8], assertion: &[u8]) -> Value {
    json!({"install_id": install, "client_data": b64(cd), "assertion": b64(assertion)})
}

pub(crate) fn android_assert_body(install: &str, cd: &[u8], signature: &[u8]) -> Value {
    json!({"install_id": install, "client_data": b64(cd), "signature": b64(signature)})
}

pub(crate) async fn jwks(g: &TestGate) -> keypin_gate::Jwks {
    g.http
        .get(format!("{}/.well-known/jwks.json", g.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_string()
}
