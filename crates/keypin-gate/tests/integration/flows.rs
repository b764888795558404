//! The genuine paths: register, assert, token, JWKS, verify_token.

use keypin_gate::verify_token;

use crate::common::*;

#[tokio::test]
async fn a_genuine_ios_app_gets_tokens_that_verify() {
    let g = start("", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let set = jwks(&g).await;
    for _ in 0..3 {
        let (status, body) = g.assert_ios(&install, &mut key).await;
        assert_eq!(status, 200, "{body}");
        let claims = verify_token(body["token"].as_str().unwrap(), &set, AUDIENCE).unwrap();
        assert_eq!(claims.sub, install);
        assert_eq!(
            (claims.platform.as_str(), claims.security_level.as_str()),
            ("ios", "secure-enclave")
        );
        assert_eq!(
            (claims.htm.as_str(), claims.htu.as_str()),
            ("POST", "/v1/orders")
        );
        assert!(claims.exp > claims.iat);
    }
    let counters = g.gate.store.counters().unwrap();
    assert_eq!(counters, vec![(install, 3)]);
}

#[tokio::test]
async fn a_genuine_android_app_gets_a_token() {
    let g = start("", "production").await;
    let ((status, body), key) = g.register_android(|_| {}).await;
    assert_eq!(status, 200, "{body}");
    let install = body["install_id"].as_str().unwrap();
    let cd = TestGate::client_data(&g.challenge().await, &SERVED_PIN);
    let (status, body) = g
        .post(
            "/v1/assert",
            android_assert_body(install, &cd, &key.sign(&cd).unwrap()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let claims = verify_token(body["token"].as_str().unwrap(), &jwks(&g).await, AUDIENCE).unwrap();
    assert_eq!(
        (claims.platform.as_str(), claims.security_level.as_str()),
        ("android", "tee")
    );
}

#[tokio::test]
async fn oversized_and_malformed_bodies_get_clear_4xx_reasons() {
    let g = start("", "production").await;
    let big = "x".repeat(2048);
    let (status, body) = g
        .post("/v1/challenge", serde_json::json!({"app": big}))
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(error_of(&body).contains("1024 bytes"), "{body}");
    let (status, body) = g
        .post("/v1/challenge", serde_json::json!({"app": "other"}))
        .await;
    assert_eq!(status, 404);
    assert!(error_of(&body).contains("not in gate.toml"), "{body}");
    let (status, body) = g
        .post("/v1/assert", serde_json::json!({"install_id": 1}))
        .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("/v1/assert"), "{body}");
}

#[tokio::test]
async fn signing_keys_rotate_and_old_tokens_still_verify() {
    let g = start("key_rotation_secs = 1", "production").await;
    let (install, mut key) = g.genuine_ios().await;
    let (_, first) = g.assert_ios(&install, &mut key).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, second) = g.assert_ios(&install, &mut key).await;
    let kid = |body: &serde_json::Value| jsonwebtoken_kid(body["token"].as_str().unwrap());
    assert_ne!(kid(&first), kid(&second), "the key did not rotate");
    let set = jwks(&g).await;
    assert!(set.keys.len() >= 2, "{set:?}");
    for body in [&first, &second] {
        verify_token(body["token"].as_str().unwrap(), &set, AUDIENCE).unwrap();
    }
}

/// The `kid` of a JWT's header.
fn jsonwebtoken_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    json["kid"].as_str().unwrap().to_string()
}
