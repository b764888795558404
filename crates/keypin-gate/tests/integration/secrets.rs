//! Secrets: released only in an assertion response, sealed with HPKE to the ephemeral key in
//! the signed client data, only to the apps and security levels gate.toml names.

use keypin_gate::secrets::{ephemeral_keypair, open};
use serde_json::Value;

use crate::common::*;

const OTHER_APP: &str = r#"
[[app]]
name = "other"
ios_app_id = "OTHER12345.com.example.other"
"#;

fn secret(apps: &str, level: &str) -> String {
    format!(
        "{OTHER_APP}\n[[secret]]\nname = \"maps\"\nvalue_file = \"secret.txt\"\napps = [{apps}]\nmin_security_level = \"{level}\"\n"
    )
}

/// Registers (iOS or Android), asserts with a fresh ephemeral key; returns the response and
/// what the app can open of each sealed secret.
async fn assert_with_ephemeral_key(
    g: &TestGate,
    android: bool,
) -> (u16, Value, Vec<(String, Vec<u8>)>) {
    let (sk, pk) = ephemeral_keypair();
    let challenge;
    let cd;
    let (status, body) = if android {
        let ((_, reg), key) = g.register_android(|_| {}).await;
        challenge = g.challenge().await;
        cd = maps_client_data(&challenge, &pk);
        g.post(
            "/v1/assert",
            android_assert_body(
                reg["install_id"].as_str().unwrap(),
                &cd,
                &key.sign(&cd).unwrap(),
            ),
        )
        .await
    } else {
        let (install, mut key) = g.genuine_ios().await;
        challenge = g.challenge().await;
        cd = maps_client_data(&challenge, &pk);
        let a = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
        g.post("/v1/assert", ios_assert_body(&install, &cd, &a))
            .await
    };
    let aad = keypin_gate::sha256(&[&cd]);
    let opened = body["secrets"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| {
                    let name = s["name"].as_str().unwrap().to_string();
                    let enc = unb64(s["enc"].as_str().unwrap());
                    let ct = unb64(s["ciphertext"].as_str().unwrap());
                    let value = open(&sk, &name, &enc, &ct, &aad).unwrap();
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default();
    (status, body, opened)
}

/// Client data for `GET /v1/maps` carrying `ephemeral_key`.
fn maps_client_data(challenge: &[u8], ephemeral_key: &[u8]) -> Vec<u8> {
    keypin_gate::client_data::build_full(
        challenge,
        "GET",
        "/v1/maps",
        b"",
        Some(&SERVED_PIN),
        None,
        Some(ephemeral_key),
    )
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn an_entitled_app_receives_its_secret_sealed_to_its_ephemeral_key() {
    let g = start(&secret("\"example\"", "tee"), "production").await;
    for android in [false, true] {
        let (status, body, opened) = assert_with_ephemeral_key(&g, android).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(opened, vec![("maps".to_string(), SECRET_VALUE.to_vec())]);
        assert!(!body.to_string().contains("sk_live"), "{body}");
    }
    let log = g.gate.store.audit_log().unwrap();
    assert!(
        log.iter()
            .any(|(e, _, d)| e == "secret released" && d == "maps")
    );
    assert!(
        !format!("{log:?}").contains("sk_live"),
        "the value reached the audit log"
    );
}

#[tokio::test]
async fn secret_requested_by_an_app_not_entitled() {
    let g = start(&secret("\"other\"", "tee"), "production").await;
    let (status, body, opened) = assert_with_ephemeral_key(&g, false).await;
    assert_eq!(status, 200, "{body}");
    assert!(opened.is_empty(), "{body}");
}

#[tokio::test]
async fn secret_requiring_strongbox_withheld_from_a_tee_key() {
    let g = start(&secret("\"example\"", "strongbox"), "production").await;
    let (_, body, opened) = assert_with_ephemeral_key(&g, true).await;
    assert!(opened.is_empty(), "{body}");
    // The Secure Enclave ranks with StrongBox.
    let (_, body, opened) = assert_with_ephemeral_key(&g, false).await;
    assert_eq!(opened.len(), 1, "{body}");
}

#[tokio::test]
async fn substituted_ephemeral_key() {
    // Someone in between swaps the ephemeral key for their own: the client data no longer
    // matches what the attested key signed.
    let g = start(&secret("\"example\"", "tee"), "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let challenge = g.challenge().await;
    let (_, apps_key) = ephemeral_keypair();
    let (_, attackers_key) = ephemeral_keypair();
    let signed = maps_client_data(&challenge, &apps_key);
    let assertion = key.assert(&keypin_gate::sha256(&[&signed])).unwrap();
    let swapped = maps_client_data(&challenge, &attackers_key);
    let (status, body) = g
        .post(
            "/v1/assert",
            ios_assert_body(&install, &swapped, &assertion),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        error_of(&body).contains("signature does not verify"),
        "{body}"
    );
    assert!(body.get("secrets").is_none());
}
