//! Signed bundles and roots: parse and verify with a fixed root.
//!
//! The first input byte picks a mode:
//! - 0: the rest is a bundle verified against the fixed root; it can only verify if it is the
//!   fixed bundle's signed body (the envelope around it is unsigned layout), so its content
//!   must be that one's.
//!   The same bytes are also read as a root (`Root::from_embedded`, `Root::rotate`).
//! - 1: the rest is a list of (offset, byte) changes applied to the fixed signed bundle; a
//!   changed bundle never verifies, unless every change only swapped JSON whitespace of the
//!   envelope (which the signature does not cover), and then its content is the original's.
//! - 2: the rest is a bundle *body* signed with the fixed key, to reach the checks that run
//!   after the signatures (JSON body, app, dates, the embedded policy).
//! - 3: the rest is a root *body* signed with the fixed key: a root that loads has a threshold
//!   between 1 and its key count and lists the fixed key (the only signer).
#![no_main]

use keypin::Policy;
use keypin::live::bundle::{
    BUNDLE_FORMAT, Expectations, ROOT_CONTEXT, ROOT_FORMAT, Root, VerifiedBundle, danger,
};
use keypin_fuzz::{
    APP_ID, BUNDLE_POLICY, BUNDLE_SIG_CONTEXT, ENVIRONMENT, fixture, is_json_ws, now,
    seal_with_fixed_key, shape,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let expect = Expectations::new(APP_ID, ENVIRONMENT);
    match mode % 4 {
        0 => {
            if let Ok(v) = fx.root.verify_bundle(rest, &expect, now()) {
                // Only the fixed key signs, and it signed one bundle body: whatever verifies
                // (extra unknown-key signatures or another JSON layout included) carries it.
                assert_is_fixed_bundle(&v);
                assert_eq!(v.bytes(), rest);
            }
            let _ = danger::unverified_version(rest);
            if let Ok(root) = Root::from_embedded(rest) {
                assert_eq!(root.to_bytes(), rest);
            }
            if let Ok(next) = fx.root.rotate(rest) {
                assert_eq!(next.version(), 2, "rotation from v1 must land on v2");
            }
        }
        1 => {
            let mut bundle = fx.bundle.clone();
            for change in rest.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([change[0], change[1]])) % bundle.len();
                bundle[at] = change[2];
            }
            let changed_only_ws = fx
                .bundle
                .iter()
                .zip(&bundle)
                .all(|(a, b)| a == b || (is_json_ws(*a) && is_json_ws(*b)));
            match fx.root.verify_bundle(&bundle, &expect, now()) {
                Ok(v) => {
                    assert!(changed_only_ws, "a changed bundle verified");
                    assert_is_fixed_bundle(&v);
                }
                Err(e) => assert!(
                    !changed_only_ws,
                    "a whitespace-only change to the envelope was refused: {e}"
                ),
            }
        }
        2 => {
            let sealed = seal_with_fixed_key(BUNDLE_FORMAT, BUNDLE_SIG_CONTEXT, rest);
            let any = Expectations::inspect_any_app();
            if let Ok(v) = fx.root.verify_bundle(&sealed, &any, now()) {
                // The verified fields are the body's, and the policy is what its text parses to.
                let body: serde_json::Value = serde_json::from_slice(rest)
                    .unwrap_or_else(|e| panic!("verified a non-JSON body: {e}"));
                assert_eq!(body["app_id"].as_str(), Some(v.app_id()));
                assert_eq!(body["environment"].as_str(), Some(v.environment()));
                assert_eq!(body["version"].as_u64(), Some(v.version()));
                let text = body["policy"].as_str().unwrap_or_default();
                let direct = Policy::from_toml_str(text, "direct")
                    .unwrap_or_else(|e| panic!("verified bundle's policy does not parse: {e}"));
                assert_eq!(shape(v.policy()), shape(&direct));
                assert_eq!(v.bytes(), &sealed[..]);
            }
        }
        _ => {
            let sealed = seal_with_fixed_key(ROOT_FORMAT, ROOT_CONTEXT, rest);
            if let Ok(root) = Root::from_embedded(&sealed) {
                let t = root.threshold() as usize;
                assert!(
                    t >= 1 && t <= root.keys().len(),
                    "threshold {t} of {}",
                    root.keys().len()
                );
                assert!(root.keys().contains(fx.key.public_key()));
                let mut ids: Vec<_> = root.keys().iter().map(|k| k.id().clone()).collect();
                ids.sort();
                ids.dedup();
                assert_eq!(
                    ids.len(),
                    root.keys().len(),
                    "duplicate keys in a loaded root"
                );
            }
        }
    }
});

fn assert_is_fixed_bundle(v: &VerifiedBundle) {
    assert_eq!(v.app_id(), APP_ID);
    assert_eq!(v.environment(), ENVIRONMENT);
    assert_eq!(v.version(), 7);
    let original = Policy::from_toml_str(BUNDLE_POLICY, "original").ok();
    assert_eq!(Some(shape(v.policy())), original.as_ref().map(shape));
}
