//! Helpers shared by keypin's integration tests and benches (`mod common;`).
#![allow(dead_code, clippy::unwrap_used)]

#[cfg(feature = "updater")]
pub mod publisher;

use keypin::clock::Date;
use keypin::live::bundle::{RootSpec, SigningKey};

/// A fresh Ed25519 key and the signed root of trust (version 1, 1-of-1, expiring 2030) that
/// trusts only it.
pub fn one_key_root() -> (Vec<u8>, SigningKey) {
    let (root, key, _) = one_key_root_with_pem();
    (root, key)
}

/// The same, with the key's PKCS#8 PEM too (to sign hand-made bodies).
pub fn one_key_root_with_pem() -> (Vec<u8>, SigningKey, String) {
    let (key, pem) = SigningKey::generate().unwrap();
    let root = RootSpec {
        version: 1,
        expires: Date::parse("2030-01-01").unwrap(),
        threshold: 1,
        keys: vec![key.public_key().clone()],
    }
    .sign(&[&key], None)
    .unwrap();
    (root, key, pem)
}
