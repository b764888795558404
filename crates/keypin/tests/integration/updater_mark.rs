//! The updater's version high-water mark (issue #13): it survives a root rotation while a
//! threshold of the keys that signed the bundle at the mark stay trusted (TUF 5.3.11), it
//! survives an app release that embeds an already-rotated root, a damaged or lost state file,
//! a check that fails half-way through the rotations, and two updaters racing on one state
//! directory.

use std::sync::{Arc, Mutex};

use keypin::live::bundle::{BundleError, BundleSpec, Root, RootSpec, SigningKey};
use keypin::live::updater::{
    CheckOutcome, MARK_FILE, MarkAcrossRotation, PolicyStore, STATE_FILE, Startup, UpdateError,
    Updater, UpdaterConfig,
};
use keypin::{PinnedConfig, Policy, Roots, clock::Date, clock::ManualClock};

use crate::common::publisher::{Publisher, signing_keys};

const APP: &str = "com.example.app";
const ENV: &str = "production";
/// 2027-01-15T08:00:00Z
const NOW: u64 = 1_800_000_000;
const POLICY: &str = "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\
    \"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \
    \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n";

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// Root `version` trusting `keys` (threshold), signed by `signers`, checked against `previous`.
fn root(
    version: u64,
    expires: &str,
    keys: &[&SigningKey],
    threshold: u32,
    signers: &[&SigningKey],
    previous: Option<&[u8]>,
) -> Vec<u8> {
    let prev = previous.map(|p| walk(p, &[]));
    RootSpec {
        version,
        expires: date(expires),
        threshold,
        keys: keys.iter().map(|k| k.public_key().clone()).collect(),
    }
    .sign(signers, prev.as_ref())
    .unwrap()
}

/// The root reached from `first` through `rotations`.
fn walk(first: &[u8], rotations: &[&[u8]]) -> Root {
    let mut r = Root::from_embedded(first).unwrap();
    for next in rotations {
        r = r.rotate(next).unwrap();
    }
    r
}

fn bundle(version: u64, signers: &[&SigningKey]) -> Vec<u8> {
    BundleSpec {
        app_id: APP.into(),
        environment: ENV.into(),
        version,
        issued_unix: NOW as i64,
        expires: date("2027-06-01"),
        policy_toml: POLICY.into(),
    }
    .sign(signers)
    .unwrap()
}

struct Rig {
    site: Arc<Publisher>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Self {
        Self {
            site: Arc::new(Publisher::default()),
            clock: Arc::new(ManualClock::at(NOW)),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts an updater as an app embedding `embedded_root` does at launch.
    fn start(&self, embedded_root: &[u8]) -> (Updater, Startup) {
        self.start_from(embedded_root, self.site.clone())
    }

    /// The same, fetching from `site`.
    fn start_from(&self, embedded_root: &[u8], site: Arc<Publisher>) -> (Updater, Startup) {
        let embedded = Arc::new(Policy::from_toml_str(POLICY, "embedded").unwrap());
        let store = PolicyStore::new(embedded, |p| {
            PinnedConfig::builder(p, Roots::empty()).build()
        })
        .unwrap();
        let config = UpdaterConfig::new(APP, ENV, embedded_root, self.dir.path().to_path_buf());
        Updater::start(
            config,
            Box::new(site),
            self.clock.clone(),
            Arc::new(store),
            None,
        )
        .unwrap()
    }

    fn publish(&self, version: u64, signers: &[&SigningKey]) {
        self.site.put("bundle.json", &bundle(version, signers));
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

fn assert_rolled_back(result: Result<CheckOutcome, UpdateError>, version: u64, high_water: u64) {
    match result {
        Err(UpdateError::Refused(BundleError::RolledBack {
            version: v,
            high_water: hw,
        })) => assert_eq!((v, hw), (version, high_water)),
        other => panic!("v{version} must be refused as a rollback below {high_water}: {other:?}"),
    }
}

#[test]
fn root_renewal_then_replay_of_older_bundle_is_refused() {
    let k = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2027-03-01", &[&k[0]], 1, &[&k[0]], None);
    let (u, _) = rig.start(&root1);
    rig.publish(5, &[&k[0]]);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 5 });
    // An emergency v6 replaces v5's pins.
    rig.publish(6, &[&k[0]]);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 6 });
    // Routine renewal: same key, later expiry.
    let root2 = root(2, "2028-03-01", &[&k[0]], 1, &[&k[0]], Some(&root1));
    rig.site.put("root-2.json", &root2);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::NotModified);
    assert_eq!(u.root_version(), 2);
    assert_eq!(u.high_water(), Some(6), "a renewal keeps the mark");
    // Whoever serves the update bytes replays v5.
    rig.publish(5, &[&k[0]]);
    assert_rolled_back(u.check_now(), 5, 6);
    // And after a restart.
    drop(u);
    let (u, _) = rig.start(&root1);
    assert_rolled_back(u.check_now(), 5, 6);
}

/// Mark at v1,000,000 under root 1 (keys `old`, signed by `signed_by`), then a rotation to
/// root 2 (keys `new_keys`, `threshold`): is the mark kept?
#[test]
fn the_mark_survives_a_rotation_only_while_its_signers_stay_trusted() {
    // (what, root-1 threshold, signers of the mark (indexes into keys), root-2 keys, threshold, kept)
    type Row = (
        &'static str,
        u32,
        &'static [usize],
        &'static [usize],
        u32,
        bool,
    );
    let rows: &[Row] = &[
        ("renewal, same keys", 1, &[0], &[0, 1], 1, true),
        ("2-of-3, unused key dropped", 2, &[0, 1], &[0, 1], 2, true),
        ("signer kept, other key dropped", 1, &[1], &[1, 3], 1, true),
        ("stolen key dropped", 1, &[0], &[1, 3], 1, false),
        (
            "threshold raised above the signers",
            1,
            &[0],
            &[0, 1],
            2,
            false,
        ),
        (
            "one of two signers dropped, 2-of-2",
            2,
            &[0, 1],
            &[1, 3],
            2,
            false,
        ),
        ("every key replaced", 1, &[0], &[2, 3], 1, false),
    ];
    for &(what, t1, signed_by, new_keys, t2, kept) in rows {
        let k = signing_keys(4);
        let rig = Rig::new();
        let root1 = root(
            1,
            "2030-01-01",
            &[&k[0], &k[1], &k[2]],
            t1,
            &[&k[0], &k[1], &k[2]],
            None,
        );
        let (u, _) = rig.start(&root1);
        let signers: Vec<&SigningKey> = signed_by.iter().map(|&i| &k[i]).collect();
        rig.publish(1_000_000, &signers);
        assert_eq!(
            u.check_now().unwrap(),
            CheckOutcome::Updated { version: 1_000_000 },
            "{what}"
        );
        let keys2: Vec<&SigningKey> = new_keys.iter().map(|&i| &k[i]).collect();
        let all: Vec<&SigningKey> = k.iter().collect();
        rig.site.put(
            "root-2.json",
            &root(2, "2031-01-01", &keys2, t2, &all, Some(&root1)),
        );
        // Root 2's keys sign an ordinary v2.
        let v2_signers: Vec<&SigningKey> = keys2.iter().take(t2 as usize).copied().collect();
        rig.publish(2, &v2_signers);
        let report = u.check();
        assert_eq!((report.root_before, report.root_after), (1, 2), "{what}");
        let walked: Vec<_> = report
            .rotations
            .iter()
            .map(|r| (r.from, r.to, r.mark))
            .collect();
        let mark = if kept {
            MarkAcrossRotation::Kept
        } else {
            MarkAcrossRotation::Reset
        };
        assert_eq!(walked, [(1, 2, mark)], "{what}");
        assert_eq!(report.high_water_before, Some(1_000_000), "{what}");
        assert_eq!(
            report.high_water_after,
            Some(if kept { 1_000_000 } else { 2 }),
            "{what}"
        );
        let result = report.result;
        assert_eq!(u.root_version(), 2, "{what}");
        if kept {
            assert_rolled_back(result, 2, 1_000_000);
            assert_eq!(u.high_water(), Some(1_000_000), "{what}");
        } else {
            // Fast-forward recovery: the version the dropped keys signed stops mattering.
            assert_eq!(
                result.unwrap(),
                CheckOutcome::Updated { version: 2 },
                "{what}"
            );
            assert_eq!(u.high_water(), Some(2), "{what}");
        }
        // A restart agrees.
        drop(u);
        let (u, _) = rig.start(&root1);
        assert_eq!(
            u.high_water(),
            Some(if kept { 1_000_000 } else { 2 }),
            "{what}"
        );
    }
}

#[test]
fn app_release_embedding_the_rotated_root_keeps_the_mark_and_refuses_replay() {
    let k = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2027-03-01", &[&k[0]], 1, &[&k[0]], None);
    let root2 = root(2, "2028-03-01", &[&k[0]], 1, &[&k[0]], Some(&root1));
    rig.site.put("root-2.json", &root2);
    let (u, _) = rig.start(&root1);
    rig.publish(5, &[&k[0]]);
    u.check_now().unwrap();
    rig.publish(6, &[&k[0]]);
    u.check_now().unwrap();
    assert_eq!((u.root_version(), u.high_water()), (2, Some(6)));
    drop(u);
    // The next app release embeds root 2, which the state already walked to.
    let (u, startup) = rig.start(&root2);
    assert_eq!(startup, Startup::StoredBundle { version: 6 });
    assert_eq!((u.root_version(), u.high_water()), (2, Some(6)));
    rig.publish(5, &[&k[0]]);
    assert_rolled_back(u.check_now(), 5, 6);
}

#[test]
fn damaged_state_file_never_lowers_the_mark() {
    let k = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2030-01-01", &[&k[0]], 1, &[&k[0]], None);
    let (u, _) = rig.start(&root1);
    rig.publish(5, &[&k[0]]);
    u.check_now().unwrap();
    rig.publish(6, &[&k[0]]);
    u.check_now().unwrap();
    drop(u);
    let good: Vec<(&str, Vec<u8>)> = [STATE_FILE, MARK_FILE]
        .into_iter()
        .filter_map(|f| Some((f, std::fs::read(rig.file(f)).ok()?)))
        .collect();
    for (damaged, bytes) in &good {
        let damages: [(&str, Vec<u8>); 3] = [
            ("truncated", bytes[..bytes.len() / 2].to_vec()),
            ("garbage", b"\x00\xffnot json at all".to_vec()),
            ("empty", Vec::new()),
        ];
        for (how, broken) in damages {
            for (f, b) in &good {
                std::fs::write(rig.file(f), b).unwrap();
            }
            std::fs::write(rig.file(damaged), &broken).unwrap();
            let (u, _) = rig.start(&root1);
            assert_eq!(u.high_water(), Some(6), "{damaged} {how}");
            rig.publish(5, &[&k[0]]);
            assert_rolled_back(u.check_now(), 5, 6);
            // The exact bundle at the mark may be fetched again to repair the state.
            rig.publish(6, &[&k[0]]);
            assert!(u.check_now().is_ok(), "{damaged} {how}");
            assert_eq!(u.high_water(), Some(6), "{damaged} {how}");
        }
    }
    assert_eq!(good.len(), 2, "both copies of the mark were written");
}

#[test]
fn lost_state_file_does_not_bring_back_a_retired_key() {
    let old = signing_keys(1);
    let new = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2030-01-01", &[&old[0]], 1, &[&old[0]], None);
    let root2 = root(
        2,
        "2031-01-01",
        &[&new[0]],
        1,
        &[&old[0], &new[0]],
        Some(&root1),
    );
    rig.site.put("root-2.json", &root2);
    rig.publish(2, &[&new[0]]);
    let (u, _) = rig.start(&root1);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
    assert_eq!(u.root_version(), 2);
    drop(u);
    // The main state file is lost; whoever serves the updates hides root 2 and signs with the
    // retired key.
    std::fs::remove_file(rig.file(STATE_FILE)).unwrap();
    rig.site.remove("root-2.json");
    rig.publish(100, &[&old[0]]);
    let (u, _) = rig.start(&root1);
    assert_eq!(u.root_version(), 2, "the rotation is kept with the mark");
    let err = u.check_now().unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Refused(BundleError::ThresholdNotMet { .. })
        ),
        "{err:?}"
    );
    assert_eq!(u.high_water(), Some(2));
}

#[test]
fn malformed_root_after_a_valid_rotation_leaves_memory_and_disk_in_step() {
    let k = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2030-01-01", &[&k[0]], 1, &[&k[0]], None);
    let (u, _) = rig.start(&root1);
    rig.publish(5, &[&k[0]]);
    u.check_now().unwrap();
    rig.site.put(
        "root-2.json",
        &root(2, "2031-01-01", &[&k[0]], 1, &[&k[0]], Some(&root1)),
    );
    rig.site.put("root-3.json", b"{ not a root");
    let err = u.check_now().unwrap_err();
    assert!(
        matches!(err, UpdateError::Refused(BundleError::Malformed { .. })),
        "{err:?}"
    );
    let in_memory = (u.root_version(), u.high_water());
    drop(u);
    let (restarted, _) = rig.start(&root1);
    assert_eq!(
        in_memory,
        (restarted.root_version(), restarted.high_water()),
        "what the updater holds in memory must be what it persisted"
    );
    assert_eq!(
        in_memory,
        (2, Some(5)),
        "the renewal to root 2 keeps the mark"
    );
}

/// The mark as the mark file holds it (0 when none).
fn mark_on_disk(rig: &Rig) -> u64 {
    let Ok(bytes) = std::fs::read(rig.file(MARK_FILE)) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["mark"]["high_water"].as_u64().unwrap_or(0)
}

#[test]
fn two_updaters_racing_on_one_state_dir_never_tear_or_lower_the_mark() {
    const VERSIONS: u64 = 40;
    let k = signing_keys(1);
    let rig = Arc::new(Rig::new());
    let root1 = root(1, "2030-01-01", &[&k[0]], 1, &[&k[0]], None);
    let bundles: Arc<Vec<Vec<u8>>> =
        Arc::new((1..=VERSIONS).map(|v| bundle(v, &[&k[0]])).collect());
    let next = Arc::new(Mutex::new(0usize));
    let installed = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (rig, root1, bundles, next, installed) = (
                rig.clone(),
                root1.clone(),
                bundles.clone(),
                next.clone(),
                installed.clone(),
            );
            std::thread::spawn(move || {
                // Each process fetches from its own CDN edge, which may lag behind the other's.
                let site = Arc::new(Publisher::default());
                let (u, _) = rig.start_from(&root1, site.clone());
                loop {
                    {
                        let mut n = next.lock().unwrap();
                        if *n == bundles.len() {
                            break;
                        }
                        site.put("bundle.json", &bundles[*n]);
                        *n += 1;
                    }
                    let result = u.check_now();
                    // Whatever either process installed before is never lowered on disk.
                    let mut i = installed.lock().unwrap();
                    let on_disk = mark_on_disk(&rig);
                    assert!(
                        on_disk >= *i,
                        "the mark on disk fell to {on_disk} below {i}"
                    );
                    match result {
                        Ok(CheckOutcome::Updated { version }) => *i = (*i).max(version),
                        Ok(_) | Err(UpdateError::Refused(BundleError::RolledBack { .. })) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let max = *installed.lock().unwrap();
    assert!(max > 0);
    for f in [STATE_FILE, MARK_FILE] {
        let bytes = std::fs::read(rig.file(f)).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .unwrap_or_else(|e| panic!("{f} is torn: {e}"));
    }
    let (u, startup) = rig.start(&root1);
    assert_eq!(
        u.high_water(),
        Some(max),
        "the mark is the highest version installed"
    );
    assert_eq!(startup, Startup::StoredBundle { version: max });
}

#[test]
fn a_format_1_state_file_is_still_read_and_its_mark_survives_a_renewal() {
    let k = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2030-01-01", &[&k[0]], 1, &[&k[0]], None);
    let (u, _) = rig.start(&root1);
    rig.publish(5, &[&k[0]]);
    u.check_now().unwrap();
    drop(u);
    // What keypin wrote before format 2: no mark_* fields, no mark file.
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rig.file(STATE_FILE)).unwrap()).unwrap();
    let obj = state.as_object_mut().unwrap();
    for field in ["mark_root", "mark_signers", "mark_digest"] {
        obj.remove(field);
    }
    obj.insert("format".into(), 1.into());
    std::fs::write(rig.file(STATE_FILE), serde_json::to_vec(&state).unwrap()).unwrap();
    std::fs::remove_file(rig.file(MARK_FILE)).unwrap();

    let (u, startup) = rig.start(&root1);
    assert_eq!(startup, Startup::StoredBundle { version: 5 });
    assert_eq!(u.high_water(), Some(5));
    // The signers at the mark were learnt from the stored bundle: a renewal keeps the mark.
    rig.site.put(
        "root-2.json",
        &root(2, "2031-01-01", &[&k[0]], 1, &[&k[0]], Some(&root1)),
    );
    rig.publish(4, &[&k[0]]);
    assert_rolled_back(u.check_now(), 4, 5);
    assert_eq!(u.root_version(), 2);
}

#[test]
fn app_release_embedding_a_root_without_the_stolen_key_resets_a_fast_forwarded_mark() {
    let old = signing_keys(1);
    let new = signing_keys(1);
    let rig = Rig::new();
    let root1 = root(1, "2030-01-01", &[&old[0]], 1, &[&old[0]], None);
    let (u, _) = rig.start(&root1);
    // A stolen key got a huge version installed.
    rig.publish(1_000_000, &[&old[0]]);
    u.check_now().unwrap();
    drop(u);
    // The next app release embeds root 2, which dropped that key.
    let root2 = root(
        2,
        "2031-01-01",
        &[&new[0]],
        1,
        &[&old[0], &new[0]],
        Some(&root1),
    );
    let (u, startup) = rig.start(&root2);
    assert!(
        matches!(startup, Startup::Embedded { reason: Some(_) }),
        "{startup:?}"
    );
    assert_eq!((u.root_version(), u.high_water()), (2, None));
    rig.publish(2, &[&new[0]]);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
}
