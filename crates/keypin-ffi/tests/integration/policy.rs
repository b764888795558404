//! Policies from TOML text and from signed bundles.

use keypin::clock::Date;
use keypin::live::bundle::{BundleSpec, RootSpec, SigningKey};
use keypin_ffi::{Keypin, KeypinError, Verdict};

use crate::support::{HOST, Lab};

pub struct Signer {
    pub key: SigningKey,
    pub root: Vec<u8>,
}

impl Signer {
    pub fn new() -> Self {
        let (key, _) = SigningKey::generate().unwrap();
        let root = RootSpec {
            version: 1,
            expires: Date::parse("2099-12-31").unwrap(),
            threshold: 1,
            keys: vec![key.public_key().clone()],
        }
        .sign(&[&key], None)
        .unwrap();
        Self { key, root }
    }

    pub fn bundle(&self, version: u64, policy_toml: &str) -> Vec<u8> {
        BundleSpec {
            app_id: "com.example.app".into(),
            environment: "production".into(),
            version,
            issued_unix: 1_700_000_000,
            expires: Date::parse("2099-12-31").unwrap(),
            policy_toml: policy_toml.into(),
        }
        .sign(&[&self.key])
        .unwrap()
    }
}

#[test]
fn an_invalid_policy_error_names_the_source_and_line() {
    let lab = Lab::new();
    let err = Keypin::from_toml(
        "[[rule]]\nhosts = [\"a.example\"]\npins = [\"sha256/nope\"]\n".into(),
        "app.toml".into(),
        lab.options(),
    )
    .unwrap_err();
    assert!(matches!(err, KeypinError::Policy(_)));
    let text = err.to_string();
    assert!(text.contains("app.toml") && text.contains('3'), "{text}");
}

#[test]
fn a_policy_from_a_verified_bundle_is_in_force() {
    let lab = Lab::new();
    let signer = Signer::new();
    let bundle = signer.bundle(4, &lab.policy(""));
    let keypin = Keypin::from_bundle(
        bundle,
        signer.root.clone(),
        "com.example.app".into(),
        "production".into(),
        lab.options(),
    )
    .unwrap();
    assert!(matches!(
        keypin.check(HOST.into(), lab.genuine_path()).unwrap(),
        Verdict::Matched { .. }
    ));
}

#[test]
fn a_tampered_bundle_is_refused() {
    let lab = Lab::new();
    let signer = Signer::new();
    let mut bundle = signer.bundle(4, &lab.policy(""));
    let at = bundle.len() / 2;
    bundle[at] ^= 0x01;
    let err = Keypin::from_bundle(
        bundle,
        signer.root.clone(),
        "com.example.app".into(),
        "production".into(),
        lab.options(),
    )
    .unwrap_err();
    assert!(matches!(err, KeypinError::Bundle(_)), "{err:?}");
}

#[test]
fn a_bundle_for_another_app_is_refused() {
    let lab = Lab::new();
    let signer = Signer::new();
    let err = Keypin::from_bundle(
        signer.bundle(4, &lab.policy("")),
        signer.root.clone(),
        "com.other.app".into(),
        "production".into(),
        lab.options(),
    )
    .unwrap_err();
    assert!(matches!(err, KeypinError::Bundle(_)), "{err:?}");
    assert!(err.to_string().contains("com.other.app") || err.to_string().contains("app"));
}
