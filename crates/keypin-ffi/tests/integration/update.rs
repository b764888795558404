//! The updater cycle through an app-implemented fetcher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keypin_ffi::{
    BundleFetcher, FetchFailure, FetchResult, Keypin, KeypinError, UpdaterOptions, Verdict,
};

use crate::policy::Signer;
use crate::support::{BACKUP, HOST, Lab, policy_for, spki};

/// What a publisher serves, changed by the test between checks.
#[derive(Default)]
struct Published {
    files: Mutex<HashMap<String, Vec<u8>>>,
    down: Mutex<bool>,
}

impl Published {
    fn put(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(name.into(), bytes);
    }
}

impl BundleFetcher for Published {
    fn fetch(
        &self,
        name: String,
        _etag: Option<String>,
        _max_bytes: u64,
    ) -> Result<FetchResult, FetchFailure> {
        if *self.down.lock().unwrap() {
            return Err(FetchFailure::Transport {
                reason: "connection refused".into(),
            });
        }
        Ok(match self.files.lock().unwrap().get(&name) {
            Some(body) => FetchResult::Content {
                body: body.clone(),
                etag: None,
            },
            None => FetchResult::NotFound,
        })
    }
}

struct Setup {
    lab: Lab,
    signer: Signer,
    published: Arc<Published>,
}

impl Setup {
    fn new() -> Self {
        Self {
            lab: Lab::new(),
            signer: Signer::new(),
            published: Arc::new(Published::default()),
        }
    }

    /// The pins of the rogue chain (the "new server keys" of a rotation).
    fn rotated_policy(&self) -> String {
        policy_for(
            &[spki(&self.lab.rogue.intermediate.spki_der()), BACKUP.into()],
            "",
        )
    }

    fn started(&self) -> (Arc<Keypin>, keypin_ffi::UpdateDecision) {
        let keypin = self.lab.keypin("");
        let decision = keypin
            .start_updater(
                UpdaterOptions {
                    app_id: "com.example.app".into(),
                    environment: "production".into(),
                    embedded_root: self.signer.root.clone(),
                    state_dir: self.lab.dir.path().join("updater").to_str().unwrap().into(),
                },
                self.published.clone(),
            )
            .unwrap();
        (keypin, decision)
    }
}

fn matched(keypin: &Keypin, path: Vec<Vec<u8>>) -> bool {
    matches!(
        keypin.check(HOST.into(), path).unwrap(),
        Verdict::Matched { .. }
    )
}

#[test]
fn a_new_bundle_switches_the_pins_for_the_next_check() {
    let s = Setup::new();
    let (keypin, start) = s.started();
    assert_eq!(start.generation, 0);
    assert!(matched(&keypin, s.lab.genuine_path()));
    s.published
        .put("bundle.json", s.signer.bundle(2, &s.rotated_policy()));
    let d = keypin.update_now().unwrap();
    assert!(d.updated);
    assert_eq!(
        (d.bundle_version, d.generation, d.high_water),
        (Some(2), 1, Some(2))
    );
    assert!(matched(&keypin, s.lab.rogue_path()));
    assert!(!matched(&keypin, s.lab.genuine_path()));
    // The same bytes again: nothing changes.
    let again = keypin.update_now().unwrap();
    assert!(!again.updated);
    assert_eq!(again.generation, 1);
}

#[test]
fn a_rolled_back_bundle_is_refused_and_the_pins_stay() {
    let s = Setup::new();
    let (keypin, _) = s.started();
    s.published
        .put("bundle.json", s.signer.bundle(5, &s.rotated_policy()));
    keypin.update_now().unwrap();
    s.published
        .put("bundle.json", s.signer.bundle(3, &s.lab.policy("")));
    let err = keypin.update_now().unwrap_err();
    assert!(matches!(err, KeypinError::Update(_)), "{err:?}");
    assert!(err.to_string().contains("last good pins stay"), "{err}");
    assert_eq!(keypin.bundle_version(), Some(5));
    assert!(matched(&keypin, s.lab.rogue_path()));
}

#[test]
fn a_tampered_bundle_is_refused_and_the_pins_stay() {
    let s = Setup::new();
    let (keypin, _) = s.started();
    let mut bytes = s.signer.bundle(2, &s.rotated_policy());
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    s.published.put("bundle.json", bytes);
    assert!(matches!(keypin.update_now(), Err(KeypinError::Update(_))));
    assert_eq!(keypin.generation(), 0);
    assert!(matched(&keypin, s.lab.genuine_path()));
}

#[test]
fn an_unreachable_publisher_keeps_the_pins_and_says_why() {
    let s = Setup::new();
    let (keypin, _) = s.started();
    *s.published.down.lock().unwrap() = true;
    let err = keypin.update_now().unwrap_err();
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(matched(&keypin, s.lab.genuine_path()));
}

#[test]
fn the_stored_bundle_is_in_force_after_a_restart() {
    let s = Setup::new();
    {
        let (keypin, _) = s.started();
        s.published
            .put("bundle.json", s.signer.bundle(2, &s.rotated_policy()));
        keypin.update_now().unwrap();
    }
    *s.published.down.lock().unwrap() = true;
    let (keypin, start) = s.started();
    assert_eq!(start.bundle_version, Some(2));
    assert!(start.note.unwrap().contains("stored bundle v2"));
    assert!(matched(&keypin, s.lab.rogue_path()));
}

#[test]
fn update_before_start_and_a_second_start_are_refused() {
    let s = Setup::new();
    let keypin = s.lab.keypin("");
    assert!(matches!(
        keypin.update_now(),
        Err(KeypinError::InvalidInput(_))
    ));
    let options = UpdaterOptions {
        app_id: "com.example.app".into(),
        environment: "production".into(),
        embedded_root: s.signer.root.clone(),
        state_dir: s.lab.dir.path().join("u").to_str().unwrap().into(),
    };
    keypin
        .start_updater(options.clone(), s.published.clone())
        .unwrap();
    assert!(matches!(
        keypin.start_updater(options, s.published.clone()),
        Err(KeypinError::InvalidInput(_))
    ));
}
