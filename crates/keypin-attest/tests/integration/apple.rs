//! App Attest: the iOS 14.4 attestation and assertion of `tests/data/` verify; each tampered
//! copy is refused with the failure named after what was tampered with.

use keypin_attest::apple::{
    AppId, AppleFailure, AssertionRequest, AttestationRequest, Environment, P256PublicKey,
    verify_assertion, verify_attestation,
};

use crate::common::{at, b64, data};

const APP_ID: &str = "6MURL8TA57.de.vincent-haupert.apple-appattest-poc";
const KEY_ID: &str = "YmbJO4x5nEHUvncp9zdWuVZjNBEMgJn3cdSToAXQe3M=";
/// SHA-256 of the client data `wurzelpfropf`.
const CLIENT_DATA_HASH: &str = "i+ZcylFa0JfJU5Z9GNY12G3XihQu09B3UmvtEca+xns=";
/// 2021-01-23T12:13:33Z, the vector's own timestamp.
const VECTOR_TIME: u64 = 1_611_404_013;
/// 2021-01-25T12:13:35Z: the credential certificate's notAfter.
const LEAF_NOT_AFTER: u64 = 1_611_576_815;
/// Length of the vector's authData (checked by `auth_data_offset_is_where_the_test_thinks`).
const AUTH_DATA_LEN: usize = 164;

fn attestation() -> Vec<u8> {
    data("ios-14.4-attestation.cbor")
}

/// Where the authData byte string's content starts in the object: it is the last field.
fn auth_data_at(object: &[u8]) -> usize {
    object.len() - AUTH_DATA_LEN
}

struct Case {
    object: Vec<u8>,
    app_id: &'static str,
    key_id: Vec<u8>,
    client_data_hash: Vec<u8>,
    environment: Environment,
    now: u64,
}

fn genuine() -> Case {
    Case {
        object: attestation(),
        app_id: APP_ID,
        key_id: b64(KEY_ID),
        client_data_hash: b64(CLIENT_DATA_HASH),
        environment: Environment::Development,
        now: VECTOR_TIME,
    }
}

fn run(case: &Case) -> Result<keypin_attest::apple::AttestedKey, AppleFailure> {
    let app_id = AppId::parse(case.app_id).unwrap();
    verify_attestation(
        &case.object,
        &AttestationRequest {
            app_id: &app_id,
            key_id: &case.key_id,
            client_data_hash: &case.client_data_hash,
            environment: case.environment,
            now: at(case.now),
        },
    )
}

#[test]
fn real_ios_attestation_verifies() {
    let key = run(&genuine()).unwrap();
    assert_eq!(key.key_id.as_slice(), b64(KEY_ID));
    assert_eq!(key.counter, 0);
    assert_eq!(key.environment, Environment::Development);
    assert!(!key.receipt.is_empty());
    let spki = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiMA0oZCqfbxaBhUBxlQoA5QlghmLPxzFRnPKO5rSC0FSgmelT1/boEafr7RrtpkKOWvwT5SknUMgyBx6skCjmA==";
    assert_eq!(
        key.public_key,
        P256PublicKey::from_spki_der(&b64(spki)).unwrap()
    );
}

#[test]
fn auth_data_offset_is_where_the_test_thinks() {
    // The tampering below flips bytes of authData; make sure that is what it flips.
    let object = attestation();
    let start = auth_data_at(&object);
    let rp_id_hash = keypin_attest::__fuzz::decode_attestation_object(&object)
        .unwrap()
        .auth_data;
    assert_eq!(rp_id_hash.len(), AUTH_DATA_LEN);
    assert_eq!(&object[start..], rp_id_hash.as_slice());
}

type Tamper = fn(&mut Case);

#[test]
fn tampered_attestations_are_refused_with_the_named_failure() {
    #[allow(clippy::type_complexity)]
    let table: &[(&str, Tamper, fn(&AppleFailure) -> bool)] = &[
        (
            "one_byte_of_auth_data_flipped",
            |c| {
                let i = auth_data_at(&c.object) + 40;
                c.object[i] ^= 1
            },
            |f| matches!(f, AppleFailure::NonceMismatch { .. }),
        ),
        (
            "rp_id_hash_byte_flipped",
            |c| {
                let i = auth_data_at(&c.object);
                c.object[i] ^= 0x80
            },
            |f| matches!(f, AppleFailure::NonceMismatch { .. }),
        ),
        (
            "attestation_for_another_bundle",
            |c| c.app_id = "6MURL8TA57.com.attacker.repackaged",
            |f| matches!(f, AppleFailure::RpIdMismatch { .. }),
        ),
        (
            "attestation_for_another_team",
            |c| c.app_id = "ABCDE12345.de.vincent-haupert.apple-appattest-poc",
            |f| matches!(f, AppleFailure::RpIdMismatch { .. }),
        ),
        (
            "another_client_data_hash",
            |c| c.client_data_hash[0] ^= 1,
            |f| matches!(f, AppleFailure::NonceMismatch { .. }),
        ),
        (
            "client_data_hash_rehashed",
            |c| c.client_data_hash = rehashed(&c.client_data_hash),
            |f| matches!(f, AppleFailure::NonceMismatch { .. }),
        ),
        (
            "development_attestation_in_production",
            |c| c.environment = Environment::Production,
            |f| matches!(f, AppleFailure::EnvironmentMismatch { expected: Environment::Production, found } if found == "development"),
        ),
        (
            "wrong_key_id",
            |c| c.key_id[31] ^= 1,
            |f| matches!(f, AppleFailure::KeyIdMismatch { .. }),
        ),
        (
            "time_after_leaf_expiry",
            |c| c.now = LEAF_NOT_AFTER + 1,
            |f| matches!(f, AppleFailure::CertificateExpired { .. }),
        ),
        (
            "time_before_leaf_issued",
            |c| c.now = VECTOR_TIME - 2 * 86_400,
            |f| matches!(f, AppleFailure::CertificateNotYetValid { .. }),
        ),
        (
            "intermediate_dropped",
            |c| c.object = drop_intermediate(&c.object),
            |f| matches!(f, AppleFailure::ChainToUnknownRoot),
        ),
        (
            "credential_certificate_signature_byte_flipped",
            |c| {
                let i = find(&c.object, &[0x30, 0x65, 0x02, 0x30]) + 10;
                c.object[i] ^= 1
            },
            |f| matches!(f, AppleFailure::ChainInvalid { .. }),
        ),
        (
            "another_format",
            |c| {
                let i = find(&c.object, b"apple-appattest");
                c.object[i] = b'b'
            },
            |f| matches!(f, AppleFailure::WrongFormat { .. }),
        ),
        (
            "truncated_object",
            |c| c.object.truncate(c.object.len() - 1),
            |f| matches!(f, AppleFailure::AttestationUnreadable(_)),
        ),
        (
            "trailing_bytes",
            |c| c.object.push(0),
            |f| matches!(f, AppleFailure::AttestationUnreadable(_)),
        ),
        (
            "oversized_object",
            |c| {
                c.object
                    .resize(keypin_attest::apple::MAX_ATTESTATION_BYTES + 1, 0)
            },
            |f| matches!(f, AppleFailure::AttestationUnreadable(_)),
        ),
    ];
    for (name, tamper, expected) in table {
        let mut case = genuine();
        tamper(&mut case);
        let got = run(&case);
        match &got {
            Err(f) if expected(f) => {}
            other => panic!("{name}: expected the named failure, got {other:?}"),
        }
        // Every refusal explains itself.
        assert!(!got.unwrap_err().to_string().is_empty(), "{name}");
    }
}

/// SHA-256 of the hash again: what a server that re-hashes the given hash would present.
fn rehashed(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// Re-encodes the object with only the credential certificate in x5c.
fn drop_intermediate(object: &[u8]) -> Vec<u8> {
    let mut value: ciborium::value::Value = ciborium::de::from_reader(object).unwrap();
    let ciborium::value::Value::Map(top) = &mut value else {
        panic!()
    };
    for (k, v) in top.iter_mut() {
        if k.as_text() == Some("attStmt") {
            let ciborium::value::Value::Map(stmt) = v else {
                panic!()
            };
            for (k, v) in stmt.iter_mut() {
                if k.as_text() == Some("x5c") {
                    let ciborium::value::Value::Array(certs) = v else {
                        panic!()
                    };
                    certs.truncate(1);
                }
            }
        }
    }
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).unwrap();
    out
}

const ASSERTION_CLIENT_DATA_HASH: &str = CLIENT_DATA_HASH;

fn stored_key() -> P256PublicKey {
    run(&genuine()).unwrap().public_key
}

fn assert_with(
    assertion: &[u8],
    key: &P256PublicKey,
    app_id: &str,
    hash: &[u8],
    previous: u32,
) -> Result<u32, AppleFailure> {
    let app_id = AppId::parse(app_id).unwrap();
    verify_assertion(
        assertion,
        &AssertionRequest {
            app_id: &app_id,
            public_key: key,
            client_data_hash: hash,
            previous_counter: previous,
        },
    )
    .map(|v| v.counter)
}

#[test]
fn real_ios_assertion_verifies_with_the_attested_key() {
    let hash = b64(ASSERTION_CLIENT_DATA_HASH);
    let counter = assert_with(
        &data("ios-14.4-assertion.cbor"),
        &stored_key(),
        APP_ID,
        &hash,
        0,
    )
    .unwrap();
    assert_eq!(counter, 1);
}

#[test]
fn tampered_assertions_are_refused_with_the_named_failure() {
    let genuine = data("ios-14.4-assertion.cbor");
    let hash = b64(ASSERTION_CLIENT_DATA_HASH);
    let key = stored_key();
    let other_key = P256PublicKey::from_uncompressed(&other_p256_point()).unwrap();
    let mut flipped = genuine.clone();
    let last = flipped.len() - 1; // the counter's low byte, end of authenticatorData
    flipped[last] ^= 1;
    let mut other_hash = hash.clone();
    other_hash[0] ^= 1;
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        Vec<u8>,
        &P256PublicKey,
        &str,
        Vec<u8>,
        u32,
        fn(&AppleFailure) -> bool,
    )> = vec![
        (
            "replayed_assertion_counter_not_above_stored",
            genuine.clone(),
            &key,
            APP_ID,
            hash.clone(),
            1,
            |f| {
                matches!(
                    f,
                    AppleFailure::CounterNotIncreasing {
                        previous: 1,
                        found: 1
                    }
                )
            },
        ),
        (
            "counter_rollback",
            genuine.clone(),
            &key,
            APP_ID,
            hash.clone(),
            7,
            |f| matches!(f, AppleFailure::CounterNotIncreasing { .. }),
        ),
        (
            "assertion_signed_by_another_key",
            genuine.clone(),
            &other_key,
            APP_ID,
            hash.clone(),
            0,
            |f| matches!(f, AppleFailure::SignatureInvalid),
        ),
        (
            "another_client_data_hash",
            genuine.clone(),
            &key,
            APP_ID,
            other_hash,
            0,
            |f| matches!(f, AppleFailure::SignatureInvalid),
        ),
        (
            "authenticator_data_byte_flipped",
            flipped,
            &key,
            APP_ID,
            hash.clone(),
            0,
            |f| matches!(f, AppleFailure::SignatureInvalid),
        ),
        (
            "assertion_for_another_app",
            genuine.clone(),
            &key,
            "6MURL8TA57.com.attacker.repackaged",
            hash.clone(),
            0,
            |f| matches!(f, AppleFailure::RpIdMismatch { .. }),
        ),
        (
            "not_cbor",
            b"{\"signature\":1}".to_vec(),
            &key,
            APP_ID,
            hash.clone(),
            0,
            |f| matches!(f, AppleFailure::AssertionUnreadable(_)),
        ),
        (
            "authenticator_data_shorter_than_its_header",
            short_assertion(),
            &key,
            APP_ID,
            hash.clone(),
            0,
            |f| {
                matches!(
                    f,
                    AppleFailure::AuthDataMalformed {
                        what: "assertion",
                        ..
                    }
                )
            },
        ),
    ];
    for (name, assertion, key, app_id, hash, previous, expected) in table {
        match assert_with(&assertion, key, app_id, &hash, previous) {
            Err(f) if expected(&f) => {}
            other => panic!("{name}: expected the named failure, got {other:?}"),
        }
    }
}

/// A valid P-256 point that is not the attested key: the Apple vector's key with its
/// coordinates taken from another real key (the P-256 generator).
fn other_p256_point() -> Vec<u8> {
    let gx = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
    let gy = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    let mut p = vec![4u8];
    for h in [gx, gy] {
        p.extend((0..32).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()));
    }
    p
}

#[test]
fn app_ids_are_parsed_strictly() {
    for (text, ok) in [
        (APP_ID, true),
        ("6MURL8TA57", false),
        ("6murl8ta57.de.example", false),
        ("6MURL8TA5.de.example", false),
        ("6MURL8TA57.", false),
        ("6MURL8TA57.de example", false),
    ] {
        assert_eq!(AppId::parse(text).is_ok(), ok, "{text}");
    }
}

/// `{signature, authenticatorData}` with 10 bytes of authenticator data.
fn short_assertion() -> Vec<u8> {
    use ciborium::value::Value;
    let value = Value::Map(vec![
        (
            Value::Text("signature".into()),
            Value::Bytes(vec![0x30; 70]),
        ),
        (
            Value::Text("authenticatorData".into()),
            Value::Bytes(vec![0; 10]),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).unwrap();
    out
}
