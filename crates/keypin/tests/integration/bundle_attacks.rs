//! Every threat in `reference/bundles.md`, one test each, named after the attack (as tough
//! names its fixtures). Keys, roots and bundles are made fresh by each test.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::clock::Date;
use keypin::live::bundle::{
    BundleError, BundleSpec, Expectations, Root, RootSpec, Signer, SigningKey,
};
use rustls_pki_types::UnixTime;

const APP: &str = "com.example.app";
const ENV: &str = "production";
/// 2027-01-15T08:00:00Z
const NOW: u64 = 1_800_000_000;

fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

fn keys(n: usize) -> Vec<SigningKey> {
    (0..n).map(|_| SigningKey::generate().unwrap().0).collect()
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn root_of(keys: &[SigningKey], threshold: u32) -> Root {
    let spec = RootSpec {
        version: 1,
        expires: date("2030-01-01"),
        threshold,
        keys: keys.iter().map(|k| k.public_key().clone()).collect(),
    };
    let refs: Vec<&SigningKey> = keys.iter().collect();
    Root::from_embedded(&spec.sign(&refs, None).unwrap()).unwrap()
}

fn policy(pin_byte: u8) -> String {
    let pin = STANDARD.encode([pin_byte; 32]);
    let backup = STANDARD.encode([pin_byte.wrapping_add(1); 32]);
    format!(
        "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\"sha256/{pin}\", \"sha256/{backup}\"]\n"
    )
}

fn spec(version: u64) -> BundleSpec {
    BundleSpec {
        app_id: APP.into(),
        environment: ENV.into(),
        version,
        issued_unix: NOW as i64,
        expires: date("2027-02-15"),
        policy_toml: policy(1),
    }
}

fn sign(spec: &BundleSpec, keys: &[&SigningKey]) -> Vec<u8> {
    spec.sign(keys).unwrap()
}

fn expect() -> Expectations {
    Expectations::new(APP, ENV)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn to_bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// One key and a root that trusts it alone (threshold 1).
fn one_key_root() -> (Vec<SigningKey>, Root) {
    let k = keys(1);
    let root = root_of(&k, 1);
    (k, root)
}

/// Verifies `bytes` against `root` now, with the default expectations, and returns the refusal.
fn refused_now(root: &Root, bytes: &[u8]) -> BundleError {
    root.verify_bundle(bytes, &expect(), at(NOW)).unwrap_err()
}

#[track_caller]
fn assert_no_valid_signature(err: &BundleError) {
    assert!(
        matches!(err, BundleError::ThresholdNotMet { valid: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn valid_bundle_is_accepted() {
    let k = keys(3);
    let root = root_of(&k, 2);
    let b = sign(&spec(7), &[&k[0], &k[2]]);
    let v = root
        .verify_bundle(&b, &expect().high_water(6), at(NOW))
        .unwrap();
    assert_eq!(v.version(), 7);
    assert_eq!(v.app_id(), APP);
    assert_eq!(v.policy().rules().len(), 1);
    assert_eq!(v.bytes(), &b[..]);
}

#[test]
fn forged_signature() {
    let (k, root) = one_key_root();
    let mut env = json(&sign(&spec(1), &[&k[0]]));
    // Flip one bit of the signature.
    let sig = env["signatures"][0]["sig"].as_str().unwrap();
    let mut raw = STANDARD.decode(sig).unwrap();
    raw[0] ^= 1;
    env["signatures"][0]["sig"] = STANDARD.encode(raw).into();
    let err = refused_now(&root, &to_bytes(&env));
    match &err {
        BundleError::ThresholdNotMet { valid: 0, bad, .. } => assert_eq!(bad.len(), 1),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("bad signature"), "{err}");
}

#[test]
fn forged_body_under_genuine_signature() {
    let (k, root) = one_key_root();
    let mut env = json(&sign(&spec(1), &[&k[0]]));
    let body = STANDARD.decode(env["signed"].as_str().unwrap()).unwrap();
    let body = String::from_utf8(body)
        .unwrap()
        .replace("\"version\":1", "\"version\":9");
    env["signed"] = STANDARD.encode(body).into();
    let err = refused_now(&root, &to_bytes(&env));
    assert_no_valid_signature(&err);
}

#[test]
fn unknown_key() {
    let k = keys(1);
    let stranger = keys(1);
    let root = root_of(&k, 1);
    let b = sign(&spec(1), &[&stranger[0]]);
    let err = refused_now(&root, &b);
    match &err {
        BundleError::ThresholdNotMet {
            valid: 0, unknown, ..
        } => {
            assert_eq!(unknown, &[stranger[0].public_key().id().to_string()])
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("unknown key"), "{err}");
}

#[test]
fn duplicate_signatures_counted_once() {
    let k = keys(3);
    let root = root_of(&k, 2);
    // One key signs three times: still one key.
    let b = sign(&spec(1), &[&k[0], &k[0], &k[0]]);
    let err = refused_now(&root, &b);
    match &err {
        BundleError::ThresholdNotMet {
            valid: 1,
            required: 2,
            duplicates: 2,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("a key counts once"), "{err}");
}

#[test]
fn under_threshold() {
    let k = keys(3);
    let root = root_of(&k, 3);
    let b = sign(&spec(1), &[&k[0], &k[1]]);
    let err = refused_now(&root, &b);
    assert!(
        matches!(
            err,
            BundleError::ThresholdNotMet {
                valid: 2,
                required: 3,
                signer: Signer::Bundle { root_version: 1 },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn root_signature_replayed_as_bundle_signature() {
    // Context prefixes differ: a signature over the same bytes in the root context is no
    // bundle signature. Build a root-context signature by sealing a root, then graft it.
    let (k, root) = one_key_root();
    let root_env = json(root.to_bytes());
    let mut env = json(&sign(&spec(1), &[&k[0]]));
    env["signed"] = root_env["signed"].clone();
    env["signatures"] = root_env["signatures"].clone();
    let err = refused_now(&root, &to_bytes(&env));
    assert_no_valid_signature(&err);
}

#[test]
fn rollback_older_valid_bundle_replayed() {
    let (k, root) = one_key_root();
    let old = sign(&spec(4), &[&k[0]]);
    let err = root
        .verify_bundle(&old, &expect().high_water(5), at(NOW))
        .unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::RolledBack {
                version: 4,
                high_water: 5
            }
        ),
        "{err:?}"
    );
    // The same version again is a replay too.
    let same = sign(&spec(5), &[&k[0]]);
    assert!(matches!(
        root.verify_bundle(&same, &expect().high_water(5), at(NOW)),
        Err(BundleError::RolledBack { .. })
    ));
}

#[test]
fn freeze_expired_bundle() {
    let (k, root) = one_key_root();
    let b = sign(&spec(1), &[&k[0]]);
    // Valid through the whole of 2027-02-15, refused from 2027-02-16T00:00:00Z.
    let last_second = date("2027-02-16").start_secs() as u64 - 1;
    assert!(root.verify_bundle(&b, &expect(), at(last_second)).is_ok());
    let err = root
        .verify_bundle(&b, &expect(), at(last_second + 1))
        .unwrap_err();
    assert!(matches!(err, BundleError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("2027-02-15"), "{err}");
}

#[test]
fn freeze_expired_root() {
    let k = keys(1);
    let spec_root = RootSpec {
        version: 1,
        expires: date("2027-01-01"),
        threshold: 1,
        keys: vec![k[0].public_key().clone()],
    };
    let root = Root::from_embedded(&spec_root.sign(&[&k[0]], None).unwrap()).unwrap();
    let b = sign(&spec(1), &[&k[0]]);
    let err = refused_now(&root, &b);
    assert!(
        matches!(err, BundleError::RootExpired { version: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn mix_and_match_body_of_one_signatures_of_another() {
    let (k, root) = one_key_root();
    let a = json(&sign(&spec(1), &[&k[0]]));
    let mut other = spec(2);
    other.policy_toml = policy(9);
    let mut b = json(&sign(&other, &[&k[0]]));
    b["signatures"] = a["signatures"].clone();
    let err = refused_now(&root, &to_bytes(&b));
    assert_no_valid_signature(&err);
}

#[test]
fn wrong_app_id() {
    let (k, root) = one_key_root();
    let mut s = spec(1);
    s.app_id = "com.other.app".into();
    let err = refused_now(&root, &sign(&s, &[&k[0]]));
    assert!(matches!(err, BundleError::WrongApp { .. }), "{err:?}");
}

#[test]
fn wrong_environment() {
    let (k, root) = one_key_root();
    let mut s = spec(1);
    s.environment = "staging".into();
    let err = refused_now(&root, &sign(&s, &[&k[0]]));
    assert!(
        matches!(err, BundleError::WrongEnvironment { .. }),
        "{err:?}"
    );
}

#[test]
fn oversized_response() {
    let (k, root) = one_key_root();
    let b = sign(&spec(1), &[&k[0]]);
    let err = root
        .verify_bundle(&b, &expect().max_bytes(b.len() - 1), at(NOW))
        .unwrap_err();
    assert!(matches!(err, BundleError::TooLarge { .. }), "{err:?}");
    // Endless garbage is refused by size, not by a parse error.
    let endless = vec![b'['; 2 * 1024 * 1024];
    assert!(matches!(
        root.verify_bundle(&endless, &expect(), at(NOW)),
        Err(BundleError::TooLarge { .. })
    ));
}

#[test]
fn clock_set_back() {
    let (k, root) = one_key_root();
    let b = sign(&spec(1), &[&k[0]]);
    let err = root
        .verify_bundle(&b, &expect().latest_seen(at(NOW + 3600)), at(NOW))
        .unwrap_err();
    assert!(matches!(err, BundleError::ClockBehind { .. }), "{err:?}");
    assert!(err.to_string().contains("clock set back"), "{err}");
}

#[test]
fn invalid_policy_is_refused_by_signer_and_verifier() {
    let k = keys(1);
    let mut s = spec(1);
    s.policy_toml = "[[rule]]\nhosts = [\"*.com\"]\npins = []\n".into();
    assert!(matches!(
        s.sign(&[&k[0]]),
        Err(BundleError::InvalidPolicy(_))
    ));
}

fn rotation(old: &[SigningKey], new: &[SigningKey], new_threshold: u32) -> RootSpec {
    let _ = old;
    RootSpec {
        version: 2,
        expires: date("2031-01-01"),
        threshold: new_threshold,
        keys: new.iter().map(|k| k.public_key().clone()).collect(),
    }
}

#[test]
fn root_rotation_accepted() {
    let old = keys(3);
    let new = keys(2);
    let root1 = root_of(&old, 2);
    let bytes = {
        let spec = rotation(&old, &new, 2);
        let signers = [&old[0], &old[2], &new[0], &new[1]];
        spec.sign(&signers, Some(&root1)).unwrap()
    };
    let root2 = root1.rotate(&bytes).unwrap();
    assert_eq!(root2.version(), 2);
    // Bundles now need the new keys; the old ones no longer count.
    let b = sign(&spec(1), &[&new[0], &new[1]]);
    assert!(root2.verify_bundle(&b, &expect(), at(NOW)).is_ok());
    let old_signed = sign(&spec(1), &[&old[0], &old[1]]);
    assert!(matches!(
        root2.verify_bundle(&old_signed, &expect(), at(NOW)),
        Err(BundleError::ThresholdNotMet { .. })
    ));
}

#[test]
fn root_rotation_refused_without_old_threshold() {
    // A thief with one old key and keys of their own cannot mint the next root.
    let old = keys(3);
    let thief = keys(2);
    let root1 = root_of(&old, 2);
    let spec = rotation(&old, &thief, 2);
    let forged = spec.sign(&[&old[0], &thief[0], &thief[1]], None);
    // `sign(.., None)` only checks self-signatures, so the document is well-formed...
    let forged = forged.unwrap();
    // ...but the client walking from root 1 refuses it.
    let err = root1.rotate(&forged).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::ThresholdNotMet {
                signer: Signer::Root { version: 1 },
                valid: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn root_rotation_refused_without_new_threshold() {
    let old = keys(2);
    let new = keys(2);
    let root1 = root_of(&old, 2);
    let spec = rotation(&old, &new, 2);
    let err = spec
        .sign(&[&old[0], &old[1], &new[0]], Some(&root1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::ThresholdNotMet {
                signer: Signer::Root { version: 2 },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn root_rotation_refused_when_skipping_a_version() {
    let old = keys(1);
    let new = keys(1);
    let root1 = root_of(&old, 1);
    let mut spec = rotation(&old, &new, 1);
    spec.version = 3;
    let bytes = spec.sign(&[&old[0], &new[0]], None).unwrap();
    assert!(matches!(
        root1.rotate(&bytes),
        Err(BundleError::RootVersion {
            current: 1,
            found: 3
        })
    ));
}

#[test]
fn embedded_root_must_carry_its_own_threshold() {
    let k = keys(2);
    let spec = RootSpec {
        version: 1,
        expires: date("2030-01-01"),
        threshold: 2,
        keys: k.iter().map(|k| k.public_key().clone()).collect(),
    };
    assert!(matches!(
        spec.sign(&[&k[0]], None),
        Err(BundleError::ThresholdNotMet { .. })
    ));
    let zero = RootSpec {
        threshold: 0,
        ..spec
    };
    assert!(matches!(
        zero.sign(&[&k[0], &k[1]], None),
        Err(BundleError::Malformed { .. })
    ));
}

#[test]
fn key_round_trips_through_text() {
    let (key, pem) = SigningKey::generate().unwrap();
    let again = SigningKey::from_pem(&pem).unwrap();
    assert_eq!(key.public_key(), again.public_key());
    let public = keypin::live::bundle::PublicKey::parse(&key.public_key().to_string()).unwrap();
    assert_eq!(&public, key.public_key());
    assert_eq!(public.id().as_str().len(), 64);
}

#[test]
fn any_single_bit_flip_is_refused() {
    // Tampering anywhere (envelope, body, signatures) is refused, and never panics.
    let (k, root) = one_key_root();
    let b = sign(&spec(1), &[&k[0]]);
    assert!(root.verify_bundle(&b, &expect(), at(NOW)).is_ok());
    for i in 0..b.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut t = b.clone();
            t[i] ^= bit;
            assert!(
                root.verify_bundle(&t, &expect(), at(NOW)).is_err(),
                "flipping bit {bit:#x} of byte {i} went unnoticed"
            );
        }
    }
}

/// A bundle made before bundles could carry a CT log list (tests/data/bundle, written by
/// `BundleSpec::sign` as it was, with a test-only key): it still verifies, carries no list, and
/// signing the same spec today gives the same bytes (the new field is left out when absent).
#[test]
fn bundle_made_before_the_ct_field_still_verifies_and_is_byte_identical() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bundle");
    let read = |name: &str| std::fs::read(data.join(name)).unwrap();
    let root = Root::from_embedded(&read("root-v1.json")).unwrap();
    let old = read("bundle-v3-before-ct-field.json");
    let v = root
        .verify_bundle(&old, &expect().high_water(2), at(NOW + 60))
        .unwrap();
    assert_eq!(v.version(), 3);
    assert_eq!(v.policy().rules().len(), 1);
    #[cfg(feature = "ct")]
    assert!(v.ct_logs().is_none());
    let body = String::from_utf8(
        STANDARD
            .decode(json(&old)["signed"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!body.contains("ct_log_list"), "{body}");

    let pem = String::from_utf8(read("test-only-signing-key.pem")).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let again = BundleSpec {
        app_id: APP.into(),
        environment: ENV.into(),
        version: 3,
        issued_unix: NOW as i64,
        expires: date("2098-12-31"),
        policy_toml: "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n".into(),
    }
    .sign(&[&key])
    .unwrap();
    assert_eq!(
        again, old,
        "a bundle without a CT log list is signed as before"
    );
}
