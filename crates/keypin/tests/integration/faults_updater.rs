//! Fault injection on the updater's storage (feature `updater`): write failures (no space left,
//! a read-only directory, a file where the directory should be), torn and corrupted state at
//! start-up, leftover temp files. Whatever breaks, the client keeps enforcing the last good or
//! the embedded pins: every test ends with real loopback handshakes in which a forged chain
//! (issued for the pinned host by a rogue CA the client trusts, the "user-installed CA"
//! attack) is refused and the genuine server still accepted. Failures are reported through a
//! `PinEvent::UpdateFailed`.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use keypin::live::bundle::{BundleSpec, SigningKey};
use keypin::live::updater::{
    CheckOutcome, PolicySource, PolicyStore, STATE_FILE, STATE_TEMP_FILE, Startup, UpdateError,
    Updater, UpdaterConfig,
};
use keypin::{
    PinnedConfig, Policy, Roots, clock::Date, clock::ManualClock, events::ChannelSink,
    events::PinEvent, pin::Pin,
};
use keypin_pki::{CertSpec, Chain, KeyAlg, ServerOptions, TlsServer, self_signed};
use rustls_pki_types::ServerName;

use crate::common;
use crate::common::publisher::Publisher;

const APP: &str = "com.example.app";
const ENV: &str = "production";
/// 2027-01-15T08:00:00Z: the updater's clock (bundle expiry); TLS uses the system clock.
const NOW: u64 = 1_800_000_000;
const HOST: &str = "api.keypin.test";

/// Two loopback servers for one host name: the genuine one, and a forgery whose chain comes
/// from a rogue root the client also trusts. Only the pins tell them apart.
struct World {
    genuine: Chain,
    genuine_server: TlsServer,
    forged_server: TlsServer,
    roots: Roots,
}

impl World {
    fn new() -> Self {
        let genuine = Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let rogue = Chain::generate("Rogue", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let serve = |c: &Chain| {
            TlsServer::start(ServerOptions::new(c.served(), c.leaf.key.clone_key())).unwrap()
        };
        let mut roots = Roots::empty();
        roots.add_cert(genuine.root.cert.clone()).unwrap();
        roots.add_cert(rogue.root.cert.clone()).unwrap();
        Self {
            genuine_server: serve(&genuine),
            forged_server: serve(&rogue),
            genuine,
            roots,
        }
    }

    fn pin_of(&self, which: &str) -> Pin {
        let c = &self.genuine;
        Pin::from_spki_der(&match which {
            "root" => c.root.spki_der(),
            "intermediate" => c.intermediate.spki_der(),
            _ => c.leaf.spki_der(),
        })
    }

    /// Asserts that the config in force refuses the forged chain with a pin failure and
    /// accepts the genuine server: the client is pinned, not merely running.
    fn assert_pinned(&self, store: &PolicyStore) {
        let config = store.client_config();
        let forged = handshake(&config, self.forged_server.addr()).unwrap_err();
        assert!(
            keypin::verify::VerifyError::pin_failure_of_io(&forged).is_some(),
            "the forged chain must fail on the pins, got: {forged:?}"
        );
        handshake(&config, self.genuine_server.addr())
            .unwrap_or_else(|e| panic!("the genuine server must still be accepted: {e:?}"));
    }
}

fn handshake(config: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> std::io::Result<()> {
    let name = ServerName::try_from(HOST.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let _ = sock.flush();
    Ok(())
}

fn spare() -> Pin {
    Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der())
}

fn policy_toml(pins: &[Pin]) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n",
        pins.join(", ")
    )
}

/// An app with an embedded policy pinning the genuine root, a signing key, a fetcher and a
/// state directory.
struct Rig {
    world: World,
    key: SigningKey,
    root: Vec<u8>,
    fetcher: Arc<Publisher>,
    dir: tempfile::TempDir,
    spare: Pin,
}

impl Rig {
    fn new() -> Self {
        let (root, key) = common::one_key_root();
        Self {
            world: World::new(),
            key,
            root,
            fetcher: Arc::new(Publisher::default()),
            dir: tempfile::tempdir().unwrap(),
            spare: spare(),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir().join(STATE_FILE)
    }

    /// Publishes bundle `version` pinning the genuine chain's `which` certificate (+ a spare).
    fn publish(&self, version: u64, which: &str) {
        let body = BundleSpec {
            app_id: APP.into(),
            environment: ENV.into(),
            version,
            issued_unix: NOW as i64,
            expires: Date::parse("2027-03-01").unwrap(),
            policy_toml: policy_toml(&[self.world.pin_of(which), self.spare]),
        }
        .sign(&[&self.key])
        .unwrap();
        self.fetcher.put("bundle.json", &body);
    }

    fn start(&self) -> (Updater, Startup, Receiver<PinEvent>) {
        let embedded = Arc::new(
            Policy::from_toml_str(
                &policy_toml(&[self.world.pin_of("root"), self.spare]),
                "embedded",
            )
            .unwrap(),
        );
        let roots = self.world.roots.clone();
        let store = PolicyStore::new(embedded, move |p| {
            PinnedConfig::builder(p, roots.clone()).build()
        })
        .unwrap();
        let (sink, events) = ChannelSink::new(64);
        let config = UpdaterConfig::new(APP, ENV, &self.root, self.state_dir());
        let (u, s) = Updater::start(
            config,
            Box::new(self.fetcher.clone()),
            Arc::new(ManualClock::at(NOW)),
            Arc::new(store),
            Some(Arc::new(sink)),
        )
        .unwrap();
        (u, s, events)
    }

    /// The app installed bundle v1 (pinning the genuine leaf) in an earlier run; this run
    /// started on it, and v2 (pinning the intermediate) is now published.
    fn running_on_v1_with_v2_published(&self) -> (Updater, Receiver<PinEvent>) {
        self.publish(1, "leaf");
        let (u, _, _) = self.start();
        assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 1 });
        drop(u);
        let (u, startup, events) = self.start();
        assert_eq!(startup, Startup::StoredBundle { version: 1 });
        self.publish(2, "intermediate");
        (u, events)
    }
}

fn failures(events: &Receiver<PinEvent>) -> Vec<String> {
    events
        .try_iter()
        .filter_map(|e| match e {
            PinEvent::UpdateFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

fn source(u: &Updater) -> PolicySource {
    u.store().current().source()
}

/// A check whose write fails: the error is a storage error, an event says so, v1 stays in
/// force and pinned, and the state on disk still holds v1.
fn assert_write_failure_keeps_v1(rig: &Rig, u: &Updater, events: &Receiver<PinEvent>) -> String {
    let (result, _) = u.run_once();
    let err = match result {
        Err(e @ UpdateError::Storage { .. }) => e.to_string(),
        other => panic!("expected a storage error, got {other:?}"),
    };
    assert_eq!(source(u), PolicySource::Bundle { version: 1 });
    let reported = failures(events);
    assert!(
        reported
            .iter()
            .any(|r| r.contains("cannot write the updater state")),
        "{reported:?}"
    );
    rig.world.assert_pinned(u.store());
    err
}

#[cfg(target_os = "linux")]
#[test]
fn no_space_left_on_write_keeps_last_good() {
    let rig = Rig::new();
    let (u, events) = rig.running_on_v1_with_v2_published();
    // The temp file every write goes through now leads to /dev/full: each write gets ENOSPC,
    // exactly as on a full disk.
    std::os::unix::fs::symlink("/dev/full", rig.state_dir().join(STATE_TEMP_FILE)).unwrap();
    let before = std::fs::read(rig.state_file()).unwrap();
    let err = assert_write_failure_keeps_v1(&rig, &u, &events);
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(std::fs::read(rig.state_file()).unwrap(), before);

    // Space again: the next check installs v2, and a restart comes back on v2.
    std::fs::remove_file(rig.state_dir().join(STATE_TEMP_FILE)).unwrap();
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
    drop(u);
    let (u, startup, _) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 2 });
    rig.world.assert_pinned(u.store());
}

/// Makes `dir` refuse new files with the strongest real mechanism available: permission bits
/// (enough for an ordinary user), else the immutable attribute (`chattr +i`, which stops root
/// too). Returns the mechanism used, or `None` when neither stops a write here.
#[cfg(target_os = "linux")]
fn make_read_only(dir: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt as _;
    let writable = || {
        let probe = dir.join("probe");
        let ok = std::fs::write(&probe, b"x").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if !writable() {
        return Some("permission bits 0555");
    }
    let chattr = std::process::Command::new("chattr")
        .arg("+i")
        .arg(dir)
        .status();
    if chattr.is_ok_and(|s| s.success()) && !writable() {
        return Some("immutable attribute (chattr +i)");
    }
    None
}

#[cfg(target_os = "linux")]
fn undo_read_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(dir)
        .status();
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}

#[cfg(target_os = "linux")]
#[test]
fn read_only_state_dir_keeps_last_good() {
    let rig = Rig::new();
    let (u, events) = rig.running_on_v1_with_v2_published();
    // Undone even if an assertion fails, so the temp dir can be removed.
    struct Undo(PathBuf);
    impl Drop for Undo {
        fn drop(&mut self) {
            undo_read_only(&self.0);
        }
    }
    let undo = Undo(rig.state_dir());
    let Some(how) = make_read_only(&rig.state_dir()) else {
        // Neither mechanism works here (e.g. root on a filesystem without attributes): the
        // same refusal is exercised by `state_dir_replaced_by_a_file_keeps_last_good`.
        eprintln!("no way to make a directory read-only here; covered by the ENOTDIR test");
        return;
    };
    eprintln!("read-only state directory via {how}");
    let err = assert_write_failure_keeps_v1(&rig, &u, &events);
    drop(undo);
    assert!(
        err.contains("Permission denied") || err.contains("Operation not permitted"),
        "{err}"
    );
    // A restart while the directory was read-only still comes back on v1 (the failed write
    // left nothing behind), and once writable the update goes through.
    drop(u);
    let (u, startup, _) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 1 });
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
    rig.world.assert_pinned(u.store());
}

#[test]
fn state_dir_replaced_by_a_file_keeps_last_good() {
    let rig = Rig::new();
    let (u, events) = rig.running_on_v1_with_v2_published();
    // Something replaced the state directory with a regular file (a misconfigured path, a
    // cleanup script): every write fails with "Not a directory".
    let dir = rig.state_dir();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let err = assert_write_failure_keeps_v1(&rig, &u, &events);
    assert!(
        err.contains(&dir.display().to_string()),
        "names the path: {err}"
    );

    // A restart with the path still a file: nothing readable, so the embedded pins, reported.
    drop(u);
    let (u, startup, events) = rig.start();
    assert!(matches!(startup, Startup::Embedded { .. }), "{startup:?}");
    assert_eq!(source(&u), PolicySource::Embedded);
    rig.world.assert_pinned(u.store());
    let (result, _) = u.run_once();
    assert!(
        matches!(result, Err(UpdateError::Storage { .. })),
        "{result:?}"
    );
    assert!(!failures(&events).is_empty());
    assert_eq!(source(&u), PolicySource::Embedded);
}

#[test]
fn temp_path_taken_by_a_directory_keeps_last_good() {
    let rig = Rig::new();
    let (u, events) = rig.running_on_v1_with_v2_published();
    // The temp file cannot be created (EISDIR), the case of any open() failure.
    std::fs::create_dir(rig.state_dir().join(STATE_TEMP_FILE)).unwrap();
    assert_write_failure_keeps_v1(&rig, &u, &events);
}

/// Every way the stored state can be broken at start-up: the app runs on the embedded pins,
/// says why, stays pinned, and the next check repairs the state.
#[test]
fn corrupted_store_at_startup_runs_embedded_and_pinned() {
    let rig = Rig::new();
    rig.publish(1, "leaf");
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    drop(u);
    let good = std::fs::read(rig.state_file()).unwrap();
    let mut flipped = good.clone();
    // Flip a byte inside the stored bundle's base64 (the file still parses as JSON).
    let at = good.windows(9).position(|w| w == b"\"bundle\":").unwrap() + 40;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };

    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file (torn before the first byte)", Vec::new(), "corrupted or truncated"),
        ("one byte", good[..1].to_vec(), "corrupted or truncated"),
        ("torn in the middle", good[..good.len() / 2].to_vec(), "corrupted or truncated"),
        ("last byte missing", good[..good.len() - 1].to_vec(), "corrupted or truncated"),
        ("garbage", vec![0xff; 4096], "corrupted or truncated"),
        ("zeroes (a filesystem hole)", vec![0; good.len()], "corrupted or truncated"),
        (
            "valid JSON of another shape",
            b"{\"format\":1,\"roots\":[],\"unknown\":true}".to_vec(),
            "corrupted or truncated",
        ),
        ("a newer state format", b"{\"format\":9,\"roots\":[],\"high_water\":null,\"latest_seen\":0,\"etag\":null,\"bundle\":null}".to_vec(), "state format 9"),
        ("one bit of the bundle flipped", flipped, "stored"),
    ];
    for (what, bytes, expect) in rows {
        std::fs::write(rig.state_file(), &bytes).unwrap();
        let (u, startup, events) = rig.start();
        match &startup {
            Startup::Embedded { reason: Some(r) } => {
                assert!(r.contains(expect), "{what}: {r}");
            }
            other => panic!("{what}: expected the embedded policy, got {other:?}"),
        }
        assert_eq!(source(&u), PolicySource::Embedded, "{what}");
        let reported = failures(&events);
        assert!(
            reported.iter().any(|r| r.contains("embedded policy")),
            "{what}: {reported:?}"
        );
        rig.world.assert_pinned(u.store());
        if expect == "stored" {
            // The state's counters survived, so rollback protection holds: the same v1 is
            // not taken again, the next *newer* bundle repairs the state.
            assert_eq!(u.high_water(), Some(1), "{what}");
            rig.publish(2, "intermediate");
            assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
        } else {
            // The state was unreadable as a whole: the next check repairs it with v1.
            assert_eq!(
                u.check_now().unwrap(),
                CheckOutcome::Updated { version: 1 },
                "{what}"
            );
            assert_eq!(std::fs::read(rig.state_file()).unwrap(), good, "{what}");
        }
        rig.world.assert_pinned(u.store());
    }
}

#[test]
fn state_file_unreadable_runs_embedded_and_pinned() {
    let rig = Rig::new();
    std::fs::create_dir_all(rig.state_file()).unwrap();
    let (u, startup, events) = rig.start();
    assert!(
        matches!(&startup, Startup::Embedded { reason: Some(r) } if r.contains("cannot read")),
        "{startup:?}"
    );
    assert!(!failures(&events).is_empty());
    rig.world.assert_pinned(u.store());
}

#[test]
fn leftover_temp_file_with_a_complete_newer_state_is_not_trusted() {
    let rig = Rig::new();
    rig.publish(1, "leaf");
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    drop(u);
    // A crash after writing the temp file and before the rename, the temp holding a complete
    // state of another install: it never became the state, so it is ignored and removed.
    let temp = rig.state_dir().join(STATE_TEMP_FILE);
    std::fs::write(&temp, b"{\"format\":1,\"roots\":[],\"high_water\":99,\"latest_seen\":0,\"etag\":null,\"bundle\":null}").unwrap();
    let (u, startup, events) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 1 });
    assert_eq!(u.high_water(), Some(1));
    assert!(failures(&events).is_empty());
    assert!(!temp.exists());
    rig.world.assert_pinned(u.store());
}
