//! Verifying the real iOS 14.4 App Attest attestation (issue #16 target: < 5 ms), with the
//! baseline in the same run: one bare ECDSA P-256 signature verification (aws-lc-rs), the
//! unit of cost the attestation is made of (the chain has one P-384 and one P-256 signature
//! to check, plus the CBOR and certificate parsing). Also the assertion (one P-256
//! verification and two SHA-256).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use keypin_attest::UnixTime;
use keypin_attest::apple::{
    AppId, AssertionRequest, AttestationRequest, Environment, verify_assertion, verify_attestation,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn bench(c: &mut Criterion) {
    let attestation = data("ios-14.4-attestation.cbor");
    let assertion = data("ios-14.4-assertion.cbor");
    let app_id = AppId::parse("6MURL8TA57.de.vincent-haupert.apple-appattest-poc").unwrap();
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"wurzelpfropf");
    let key_id = base64_key_id();
    let request = AttestationRequest {
        app_id: &app_id,
        key_id: &key_id,
        client_data_hash: hash.as_ref(),
        environment: Environment::Development,
        now: UnixTime::since_unix_epoch(Duration::from_secs(1_611_404_013)),
    };
    let key = verify_attestation(&attestation, &request).unwrap();

    let mut g = c.benchmark_group("app_attest");
    g.bench_function("verify_attestation (real iOS 14.4)", |b| {
        b.iter(|| verify_attestation(black_box(&attestation), &request).unwrap())
    });
    let assert_request = AssertionRequest {
        app_id: &app_id,
        public_key: &key.public_key,
        client_data_hash: hash.as_ref(),
        previous_counter: 0,
    };
    g.bench_function("verify_assertion (real iOS 14.4)", |b| {
        b.iter(|| verify_assertion(black_box(&assertion), &assert_request).unwrap())
    });

    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let message = [7u8; 32];
    let sig = pair.sign(&rng, &message).unwrap();
    let public =
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref().to_vec());
    g.bench_function("baseline: bare ECDSA P-256 verify", |b| {
        b.iter(|| {
            public
                .verify(black_box(&message), black_box(sig.as_ref()))
                .unwrap()
        })
    });
    g.finish();
}

fn base64_key_id() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("YmbJO4x5nEHUvncp9zdWuVZjNBEMgJn3cdSToAXQe3M=")
        .unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
