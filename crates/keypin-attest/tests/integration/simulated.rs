//! The device simulator of keypin-pki (`attest_sim`): fresh attestations and assertions in the
//! wire formats verify against its test roots through the `danger` entry points, never against
//! the production roots, and the failures the real vectors cannot reach (they are signed by
//! Apple and Google) are each produced and refused with their name.

use std::time::{SystemTime, UNIX_EPOCH};

use keypin_attest::UnixTime;
use keypin_attest::android::{AndroidFailure, AndroidPolicy, AndroidRequest, Revocation};
use keypin_attest::apple::{
    AppId, AppleFailure, AssertionRequest, AttestationRequest, AttestedKey, Environment,
    P256PublicKey, verify_assertion, verify_attestation,
};
use keypin_attest::danger::{
    TestRoots, verify_android_with_test_roots, verify_attestation_with_test_roots,
};
use keypin_pki::attest_sim::{
    AndroidAttestCa, AndroidKeySpec, AppleAttestCa, AppleAttestationSpec, CredentialKey,
    NonceExtension,
};

const APP: &str = "ABCDE12345.com.example.app";
const CLIENT_DATA_HASH: &[u8] = b"sha-256 of the client data, as the app computed it";
const PACKAGE: &str = "com.example.app";
const SIGNER: [u8; 32] = [0x3f; 32];

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
}

fn apple_verify(
    ca: &AppleAttestCa,
    object: &[u8],
    key_id: &[u8],
) -> Result<AttestedKey, AppleFailure> {
    let app_id = AppId::parse(APP).unwrap();
    let request = AttestationRequest {
        app_id: &app_id,
        key_id,
        client_data_hash: CLIENT_DATA_HASH,
        environment: Environment::Production,
        now: now(),
    };
    let roots = TestRoots::from_pem(&ca.root_pem()).unwrap();
    verify_attestation_with_test_roots(object, &request, &roots)
}

#[test]
fn a_simulated_attestation_and_its_assertions_verify() {
    let ca = AppleAttestCa::generate().unwrap();
    let mut made = ca
        .attest(&AppleAttestationSpec::genuine(APP), CLIENT_DATA_HASH)
        .unwrap();
    let attested = apple_verify(&ca, &made.object, &made.key.key_id()).unwrap();
    assert_eq!(attested.key_id, made.key.key_id());
    assert_eq!(
        attested.public_key,
        P256PublicKey::from_uncompressed(made.key.public_key()).unwrap()
    );

    let app_id = AppId::parse(APP).unwrap();
    let mut previous = 0;
    for _ in 0..3 {
        let assertion = made.key.assert(b"client data hash 2").unwrap();
        let verified = verify_assertion(
            &assertion,
            &AssertionRequest {
                app_id: &app_id,
                public_key: &attested.public_key,
                client_data_hash: b"client data hash 2",
                previous_counter: previous,
            },
        )
        .unwrap();
        assert!(verified.counter > previous);
        previous = verified.counter;
    }
}

#[test]
fn a_simulated_attestation_is_refused_by_the_production_root() {
    let ca = AppleAttestCa::generate().unwrap();
    let made = ca
        .attest(&AppleAttestationSpec::genuine(APP), CLIENT_DATA_HASH)
        .unwrap();
    let app_id = AppId::parse(APP).unwrap();
    let request = AttestationRequest {
        app_id: &app_id,
        key_id: &made.key.key_id(),
        client_data_hash: CLIENT_DATA_HASH,
        environment: Environment::Production,
        now: now(),
    };
    assert_eq!(
        verify_attestation(&made.object, &request),
        Err(AppleFailure::ChainToUnknownRoot)
    );
}

type Tamper = fn(&mut AppleAttestationSpec);
type Expect = fn(&AppleFailure) -> bool;

/// The failures a genuine Apple-signed vector cannot be tampered into (changing the credential
/// certificate breaks Apple's signature first).
#[test]
fn apple_failures_beyond_the_real_vectors_are_named() {
    let table: &[(&str, Tamper, Expect)] = &[
        (
            "nonce_extension_missing",
            |s| s.nonce = NonceExtension::Missing,
            |f| matches!(f, AppleFailure::NonceExtensionMissing),
        ),
        (
            "nonce_extension_malformed",
            |s| s.nonce = NonceExtension::Malformed,
            |f| matches!(f, AppleFailure::NonceExtensionMalformed { .. }),
        ),
        (
            "credential_key_unusable",
            |s| s.credential_key = CredentialKey::P384,
            |f| matches!(f, AppleFailure::CredentialKeyUnusable { .. }),
        ),
        (
            "counter_not_zero",
            |s| s.counter = 1,
            |f| matches!(f, AppleFailure::CounterNotZero { counter: 1 }),
        ),
        (
            "credential_id_mismatch",
            |s| s.credential_id = Some(vec![7; 32]),
            |f| matches!(f, AppleFailure::CredentialIdMismatch { .. }),
        ),
    ];
    let ca = AppleAttestCa::generate().unwrap();
    for (name, tamper, expected) in table {
        let mut spec = AppleAttestationSpec::genuine(APP);
        tamper(&mut spec);
        let made = ca.attest(&spec, CLIENT_DATA_HASH).unwrap();
        let result = apple_verify(&ca, &made.object, &made.key.key_id());
        assert!(result.as_ref().is_err_and(expected), "{name}: {result:?}");
    }
}

fn android_policy() -> AndroidPolicy {
    AndroidPolicy::from_toml(&format!(
        "packages = [\"{PACKAGE}\"]\nsigning_cert_sha256 = [\"{}\"]\nmin_security_level = \"tee\"\nrequire_verified_boot = true\nmin_os_patch_level = 202401\n",
        "3f".repeat(32)
    ))
    .unwrap()
}

fn android_verify(
    ca: &AndroidAttestCa,
    spec: &AndroidKeySpec,
) -> keypin_attest::android::AndroidReport {
    let made = ca.attest(spec).unwrap();
    let policy = android_policy();
    let request = AndroidRequest {
        challenge: b"server challenge",
        policy: &policy,
        revocation: Revocation::NotChecked,
        now: now(),
    };
    let roots = TestRoots::from_pem(&ca.root_pem()).unwrap();
    verify_android_with_test_roots(made.chain_pem.as_bytes(), &request, &roots)
}

#[test]
fn a_simulated_android_attestation_verifies() {
    let ca = AndroidAttestCa::generate().unwrap();
    let report = android_verify(
        &ca,
        &AndroidKeySpec::genuine(b"server challenge", PACKAGE, SIGNER),
    );
    assert!(report.is_valid(), "{:?}", report.failures);
    let kd = report.key_description.unwrap();
    assert_eq!(kd.challenge, b"server challenge");
    assert_eq!(kd.hardware_enforced.os_patch_level, Some(202_601));
}

#[test]
fn a_leaf_not_signed_by_its_issuer_is_chain_invalid() {
    let ca = AndroidAttestCa::generate().unwrap();
    let mut spec = AndroidKeySpec::genuine(b"server challenge", PACKAGE, SIGNER);
    spec.forged_leaf_signature = true;
    let report = android_verify(&ca, &spec);
    assert!(
        matches!(report.verdict, Err(AndroidFailure::ChainInvalid { .. })),
        "{:?}",
        report.verdict
    );
}
