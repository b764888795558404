//! Where a signed bundle's contents may come from, one test per attack (issue #13, section 2):
//!
//! - a bundle's policy that names a **local file** as a trust anchor is refused, and the file is
//!   never opened: the files the tests point at are valid CA certificates, so a verifier that
//!   read them would accept the bundle;
//! - a **CT log list** carried without its publisher's signature is refused when the app
//!   configured a log-list signer, unless the app opted out explicitly
//!   (`CarriedLogList::AcceptBundleSignatureAlone`). Real data: Chrome's v3 log list and
//!   Google's signature over it (`tests/data/ct`, see its MANIFEST).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::live::bundle::{
    BUNDLE_FORMAT, BundleError, BundleSpec, Expectations, Root, SigningKey,
};
use keypin::{Policy, clock::Date, policy::RuleSpec};
use keypin_pki::{CertSpec, self_signed};
use rustls_pki_types::UnixTime;

use crate::common;

const APP: &str = "app";
const ENV: &str = "prod";
/// 2026-03-01T00:00:00Z: the clock of the 2026 CT set (MANIFEST, "Clock to inject").
const CLOCK_2026: u64 = 1_772_323_200;
const PIN_A: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
const PIN_B: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// A one-key root of trust, its key, and the key's PKCS#8 PEM.
fn signer() -> (Root, SigningKey, String) {
    let (root, key, pem) = common::one_key_root_with_pem();
    (Root::from_embedded(&root).unwrap(), key, pem)
}

/// Bundle v1 for this app with `policy_toml`, valid at the 2026 clock.
fn spec(policy_toml: String) -> BundleSpec {
    BundleSpec {
        app_id: APP.into(),
        environment: ENV.into(),
        version: 1,
        issued_unix: CLOCK_2026 as i64,
        expires: Date::parse("2026-03-31").unwrap(),
        policy_toml,
    }
}

/// A directory holding `ca.pem`, a valid self-signed CA certificate: what a verifier that
/// opened an anchor file would happily load.
fn dir_with_a_valid_ca_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ca = self_signed(CertSpec::ca("Local file CA")).unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).unwrap();
    (dir, path)
}

fn rule_toml(anchor: &str) -> String {
    format!(
        "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\"{PIN_A}\", \"{PIN_B}\"]\n\
         trust_anchors = [{anchor:?}]\n"
    )
}

/// Seals `body` with `key_pem` the way a signer does, without `BundleSpec`'s own checks: a
/// genuine threshold of signatures over whatever the attacker (or a careless signing tool) put
/// in the body.
fn seal(key_pem: &str, body: &serde_json::Value) -> Vec<u8> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    let b64: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let pair = Ed25519KeyPair::from_pkcs8(&STANDARD.decode(b64).unwrap()).unwrap();
    let key_id =
        keypin::live::bundle::PublicKey::from_bytes(pair.public_key().as_ref().try_into().unwrap())
            .id()
            .as_str()
            .to_string();
    let body = serde_json::to_vec(body).unwrap();
    let mut message = keypin::live::bundle::BUNDLE_CONTEXT.to_vec();
    message.push(0);
    message.extend_from_slice(&body);
    serde_json::to_vec(&serde_json::json!({
        "format": BUNDLE_FORMAT,
        "signed": STANDARD.encode(&body),
        "signatures": [{"key_id": key_id, "sig": STANDARD.encode(pair.sign(&message))}],
    }))
    .unwrap()
}

/// A bundle body (format 2 with JSON rules, or 1 with TOML text) whose one rule names
/// `anchor` as its trust anchor.
fn body_naming(anchor: &str, format_version: u32) -> serde_json::Value {
    let policy = match format_version {
        1 => serde_json::Value::String(rule_toml(anchor)),
        _ => serde_json::json!({"rules": [{
            "hosts": ["api.example.com"], "pins": [PIN_A, PIN_B], "trust_anchors": [anchor],
        }]}),
    };
    serde_json::json!({
        "type": "keypin/bundle", "format_version": format_version, "app_id": APP,
        "environment": ENV, "version": 2, "issued": "2026-03-01T00:00:00Z",
        "expires": "2026-03-31", "policy": policy,
    })
}

#[track_caller]
fn assert_file_anchor_refusal(err: &BundleError) {
    let text = err.to_string();
    assert!(matches!(err, BundleError::InvalidPolicy(_)), "{err:?}");
    assert!(text.contains("rule[0].trust_anchors[0]"), "{text}");
    assert!(text.contains("inline PEM"), "{text}");
}

#[test]
fn signed_bundle_naming_a_local_anchor_file_is_refused_without_opening_it() {
    let (root, _, key_pem) = signer();
    let (_dir, ca_file) = dir_with_a_valid_ca_file();
    let ca_file = ca_file.display().to_string();
    for anchor in [
        ca_file.as_str(),
        "/etc/ssl/certs/ca-certificates.crt",
        "ca.pem",
    ] {
        for format_version in [2, 1] {
            let bytes = seal(&key_pem, &body_naming(anchor, format_version));
            let err = root
                .verify_bundle(&bytes, &Expectations::new(APP, ENV), at(CLOCK_2026))
                .unwrap_err();
            assert_file_anchor_refusal(&err);
        }
    }
}

#[test]
fn signed_bundle_with_an_inline_pem_anchor_is_accepted() {
    let (root, _, key_pem) = signer();
    let ca = self_signed(CertSpec::ca("Inline CA")).unwrap();
    for format_version in [2, 1] {
        let bytes = seal(&key_pem, &body_naming(&ca.cert_pem(), format_version));
        let v = root
            .verify_bundle(&bytes, &Expectations::new(APP, ENV), at(CLOCK_2026))
            .unwrap();
        assert_eq!(v.policy().rules()[0].extra_anchors().len(), 1);
    }
}

#[cfg(feature = "updater")]
#[test]
fn updater_never_installs_a_bundle_naming_a_local_anchor_file() {
    use keypin::live::updater::{PolicySource, STATE_FILE, UpdateError};
    let (root, _, key_pem) = signer();
    let (dir, ca_file) = dir_with_a_valid_ca_file();
    let bytes = seal(&key_pem, &body_naming(&ca_file.display().to_string(), 2));
    let u = updater::start(&root, dir.path(), bytes, |_| {});
    let err = u.check_now().unwrap_err();
    assert!(
        matches!(&err, UpdateError::Refused(e) if e.to_string().contains("rule[0].trust_anchors[0]")),
        "{err}"
    );
    assert_eq!(u.store().current().source(), PolicySource::Embedded);
    assert!(!dir.path().join(STATE_FILE).exists());
}

#[test]
fn policy_from_toml_str_refuses_an_anchor_file_without_opening_it() {
    let (_dir, ca_file) = dir_with_a_valid_ca_file();
    let text = rule_toml(&ca_file.display().to_string());
    let err = Policy::from_toml_str(&text, "embedded.toml").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("embedded.toml:4:") && msg.contains("rule[0].trust_anchors[0]"),
        "{msg}"
    );
    assert!(msg.contains("inline PEM"), "{msg}");
    assert!(msg.contains("hint:"), "{msg}");
}

#[test]
fn policy_from_rules_refuses_an_anchor_file_from_a_bundle_payload() {
    let (_dir, ca_file) = dir_with_a_valid_ca_file();
    let spec: RuleSpec = serde_json::from_value(serde_json::json!({
        "hosts": ["api.example.com"], "pins": [PIN_A, PIN_B],
        "trust_anchors": [ca_file.display().to_string()],
    }))
    .unwrap();
    let err = Policy::from_rules("bundle", vec![spec]).unwrap_err();
    assert!(
        err.to_string().contains("rule[0].trust_anchors[0]"),
        "{err}"
    );
}

#[test]
fn policy_from_file_still_reads_anchor_files_relative_to_the_policy() {
    let (dir, _) = dir_with_a_valid_ca_file();
    let policy_path = dir.path().join("policy.toml");
    std::fs::write(&policy_path, rule_toml("ca.pem")).unwrap();
    // From another working directory: the anchor is found next to the policy file.
    let policy = Policy::from_file(&policy_path).unwrap();
    assert_eq!(policy.rules()[0].extra_anchors().len(), 1);
    // A missing file still says which file.
    std::fs::write(&policy_path, rule_toml("missing.pem")).unwrap();
    let err = Policy::from_file(&policy_path).unwrap_err().to_string();
    assert!(
        err.contains("missing.pem") && err.contains("rule[0].trust_anchors[0]"),
        "{err}"
    );
}

#[test]
fn signer_refuses_a_policy_naming_an_anchor_file_and_says_to_inline_it() {
    let (_, key, _) = signer();
    let (_dir, ca_file) = dir_with_a_valid_ca_file();
    let err = spec(rule_toml(&ca_file.display().to_string()))
        .sign(&[&key])
        .unwrap_err();
    assert_file_anchor_refusal(&err);
    assert!(
        err.to_string().contains("-----BEGIN CERTIFICATE-----"),
        "{err}"
    );
}

#[cfg(feature = "ct")]
mod carried_ct_log_list {
    use super::*;
    use keypin::ct::LogListSigner;
    use keypin::live::bundle::CarriedLogList;

    fn data(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/ct")
            .join(name);
        std::fs::read(path).unwrap()
    }

    /// A bundle carrying Chrome's 2026-01-02 list, with `sig` as its publisher's signature.
    fn bundle_with_list(sig: Option<&str>) -> (Root, Vec<u8>) {
        let (root, key, _) = signer();
        let bytes = spec(String::new())
            .sign_with_ct_log_list(
                &[&key],
                &data("chrome_log_list_v3_2026-01-02.json"),
                sig.map(data).as_deref(),
            )
            .unwrap();
        (root, bytes)
    }

    fn google_signer() -> Expectations {
        Expectations::new(APP, ENV).ct_log_list_signer(LogListSigner::google().unwrap())
    }

    const GOOD_SIG: Option<&str> = Some("chrome_log_list_v3_2026-01-02.json.sig");
    /// Google's genuine signature, over the other list.
    const WRONG_SIG: Option<&str> = Some("chrome_log_list_v3_2022-09-20.json.sig");

    #[test]
    fn carried_log_list_without_its_publishers_signature_is_refused_by_default() {
        let (root, bytes) = bundle_with_list(None);
        let err = root
            .verify_bundle(&bytes, &google_signer(), at(CLOCK_2026))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BundleError::CtLogList { .. }), "{err:?}");
        assert!(text.contains("bundle app/prod v1"), "{text}");
        assert!(text.contains("no ct_log_list_sig"), "{text}");
        assert!(text.contains("AcceptBundleSignatureAlone"), "{text}");
    }

    #[test]
    fn carried_log_list_with_a_signature_over_another_list_is_refused() {
        let (root, bytes) = bundle_with_list(WRONG_SIG);
        let err = root
            .verify_bundle(&bytes, &google_signer(), at(CLOCK_2026))
            .unwrap_err();
        assert!(
            matches!(err, BundleError::CtLogList { .. })
                && err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }

    #[test]
    fn carried_log_list_signed_by_the_apps_list_signer_is_accepted() {
        let (root, bytes) = bundle_with_list(GOOD_SIG);
        let v = root
            .verify_bundle(&bytes, &google_signer(), at(CLOCK_2026))
            .unwrap();
        assert_eq!(v.ct_logs().unwrap().version(), "80.14");
    }

    #[test]
    fn only_the_explicit_opt_out_accepts_an_unsigned_list_on_the_bundle_signature_alone() {
        let opt_out =
            google_signer().carried_ct_log_list(CarriedLogList::AcceptBundleSignatureAlone);
        let (root, bytes) = bundle_with_list(None);
        let v = root
            .verify_bundle(&bytes, &opt_out, at(CLOCK_2026))
            .unwrap();
        assert_eq!(v.ct_logs().unwrap().version(), "80.14");
        // A carried signature is still checked: the opt-out is about a missing one only.
        let (root, bytes) = bundle_with_list(WRONG_SIG);
        let err = root
            .verify_bundle(&bytes, &opt_out, at(CLOCK_2026))
            .unwrap_err();
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
        // Asking for the default explicitly is the default.
        let (root, bytes) = bundle_with_list(None);
        let strict = google_signer().carried_ct_log_list(CarriedLogList::RequireSignerSignature);
        assert!(root.verify_bundle(&bytes, &strict, at(CLOCK_2026)).is_err());
        assert_eq!(
            CarriedLogList::default(),
            CarriedLogList::RequireSignerSignature
        );
    }

    #[test]
    fn without_a_configured_list_signer_the_bundle_signatures_authenticate_the_list() {
        let (root, bytes) = bundle_with_list(None);
        let v = root
            .verify_bundle(&bytes, &Expectations::new(APP, ENV), at(CLOCK_2026))
            .unwrap();
        assert!(v.ct_logs().is_some());
    }

    #[cfg(feature = "updater")]
    #[test]
    fn updater_with_a_list_signer_refuses_a_bundle_carrying_an_unsigned_list() {
        use keypin::live::updater::{PolicySource, STATE_FILE, UpdateError};
        let (root, bytes) = bundle_with_list(None);
        let dir = tempfile::tempdir().unwrap();
        let u = updater::start(&root, dir.path(), bytes.clone(), |c| {
            c.ct_log_list_signer = Some(std::sync::Arc::new(LogListSigner::google().unwrap()));
        });
        let err = u.check_now().unwrap_err();
        assert!(
            matches!(&err, UpdateError::Refused(BundleError::CtLogList { .. })),
            "{err}"
        );
        assert_eq!(u.store().current().source(), PolicySource::Embedded);
        assert!(!dir.path().join(STATE_FILE).exists());

        // The same bundle, with the opt-out named in the app's configuration.
        let dir = tempfile::tempdir().unwrap();
        let u = updater::start(&root, dir.path(), bytes, |c| {
            c.ct_log_list_signer = Some(std::sync::Arc::new(LogListSigner::google().unwrap()));
            c.carried_ct_log_list = CarriedLogList::AcceptBundleSignatureAlone;
        });
        assert_eq!(
            u.check_now().unwrap(),
            keypin::live::updater::CheckOutcome::Updated { version: 1 }
        );
        assert!(u.store().current().ct_logs().is_some());
    }
}

/// An updater at the 2026 clock that fetches `bundle` as `bundle.json` (and no rotated root).
#[cfg(feature = "updater")]
mod updater {
    use std::path::Path;
    use std::sync::Arc;

    use keypin::live::bundle::Root;
    use keypin::live::updater::{
        FetchError, Fetched, Fetcher, PolicyStore, Updater, UpdaterConfig,
    };
    use keypin::{PinnedConfig, Policy, Roots, clock::ManualClock};

    #[derive(Debug)]
    struct OneBundle(Vec<u8>);

    impl Fetcher for OneBundle {
        fn fetch(&self, name: &str, _: Option<&str>, _: usize) -> Result<Fetched, FetchError> {
            Ok(match name {
                "bundle.json" => Fetched::Content {
                    body: self.0.clone(),
                    etag: None,
                },
                _ => Fetched::NotFound,
            })
        }
    }

    pub(super) fn start(
        root: &Root,
        state_dir: &Path,
        bundle: Vec<u8>,
        adjust: impl FnOnce(&mut UpdaterConfig),
    ) -> Updater {
        #[cfg(feature = "ct")]
        let store = PolicyStore::with_ct_logs(Arc::new(Policy::empty()), None, |p, logs| {
            let mut b = PinnedConfig::builder(p, Roots::empty());
            if let Some(logs) = logs {
                b = b.ct_logs(logs);
            }
            b.build()
        });
        #[cfg(not(feature = "ct"))]
        let store = PolicyStore::new(Arc::new(Policy::empty()), |p| {
            PinnedConfig::builder(p, Roots::empty()).build()
        });
        let mut config =
            UpdaterConfig::new(super::APP, super::ENV, root.to_bytes(), state_dir.into());
        adjust(&mut config);
        Updater::start(
            config,
            Box::new(OneBundle(bundle)),
            Arc::new(ManualClock::at(super::CLOCK_2026)),
            Arc::new(store.unwrap()),
            None,
        )
        .unwrap()
        .0
    }
}
