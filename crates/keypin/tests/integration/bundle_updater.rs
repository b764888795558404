//! The updater (feature `updater`): persistence that survives crashes and corruption, every
//! refusal keeping the last good pins, root rotation with fast-forward recovery, backoff, and a
//! live switch to new pins enforced on the next real TLS connection (loopback).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keypin::live::bundle::{BundleError, BundleSpec, RootSpec, SigningKey};
use keypin::live::updater::{
    CheckOutcome, FetchError, Fetched, Fetcher, PolicySource, PolicyStore, STATE_FILE,
    STATE_TEMP_FILE, Startup, UpdateError, Updater, UpdaterConfig,
};
use keypin::{
    PinnedConfig, Policy, Roots, clock::Date, clock::ManualClock, events::ChannelSink,
    events::PinEvent, pin::Pin,
};
use keypin_pki::{CertSpec, Chain, KeyAlg, ServerOptions, TlsServer, self_signed};
use rustls_pki_types::ServerName;

use crate::common::publisher::{Publisher, signing_keys};

const APP: &str = "com.example.app";
const ENV: &str = "production";
/// 2027-01-15T08:00:00Z
const NOW: u64 = 1_800_000_000;
const HOST: &str = "api.keypin.test";

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn root_bytes(keys: &[SigningKey], threshold: u32) -> Vec<u8> {
    let refs: Vec<&SigningKey> = keys.iter().collect();
    RootSpec {
        version: 1,
        expires: date("2030-01-01"),
        threshold,
        keys: keys.iter().map(|k| k.public_key().clone()).collect(),
    }
    .sign(&refs, None)
    .unwrap()
}

fn policy_toml(host: &str, pins: &[Pin]) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[[rule]]\nhosts = [\"{host}\"]\npins = [{}]\n",
        pins.join(", ")
    )
}

fn fake_pins(seed: u8) -> Vec<Pin> {
    (0..2)
        .map(|i| Pin::parse(&format!("sha256/{}", STANDARD.encode([seed + i; 32]))).unwrap())
        .collect()
}

fn bundle(version: u64, expires: &str, policy: &str, signers: &[&SigningKey]) -> Vec<u8> {
    BundleSpec {
        app_id: APP.into(),
        environment: ENV.into(),
        version,
        issued_unix: NOW as i64,
        expires: date(expires),
        policy_toml: policy.into(),
    }
    .sign(signers)
    .unwrap()
}

struct Rig {
    root: Vec<u8>,
    fetcher: Arc<Publisher>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    tls_roots: Roots,
}

impl Rig {
    fn new(root: Vec<u8>) -> Self {
        Self {
            root,
            fetcher: Arc::new(Publisher::with_etags()),
            clock: Arc::new(ManualClock::at(NOW)),
            dir: tempfile::tempdir().unwrap(),
            tls_roots: Roots::empty(),
        }
    }

    fn embedded() -> Arc<Policy> {
        Arc::new(
            Policy::from_toml_str(
                &policy_toml("embedded.example", &fake_pins(200)),
                "embedded",
            )
            .unwrap(),
        )
    }

    /// Starts an updater (as an app does at launch) with an events channel.
    fn start(&self) -> (Updater, Startup, Receiver<PinEvent>) {
        let roots = self.tls_roots.clone();
        let store = PolicyStore::new(Self::embedded(), move |p| {
            PinnedConfig::builder(p, roots.clone()).build()
        })
        .unwrap();
        self.start_with(store, |_| {})
    }

    /// The same with a store of the caller's and a last word on the configuration.
    fn start_with(
        &self,
        store: PolicyStore,
        adjust: impl FnOnce(&mut UpdaterConfig),
    ) -> (Updater, Startup, Receiver<PinEvent>) {
        let (sink, events) = ChannelSink::new(64);
        let mut config = UpdaterConfig::new(APP, ENV, &self.root, self.dir.path().to_path_buf());
        config.retry_min = Duration::from_secs(60);
        config.retry_max = Duration::from_secs(3600);
        config.interval = Duration::from_secs(6 * 3600);
        adjust(&mut config);
        let (u, s) = Updater::start(
            config,
            Box::new(self.fetcher.clone()),
            self.clock.clone(),
            Arc::new(store),
            Some(Arc::new(sink)),
        )
        .unwrap();
        (u, s, events)
    }

    /// Publishes a `bundle.json` pinning `pins` for `host`.
    fn publish(
        &self,
        version: u64,
        expires: &str,
        host: &str,
        pins: &[Pin],
        signers: &[&SigningKey],
    ) {
        let policy = policy_toml(host, pins);
        self.fetcher
            .put("bundle.json", &bundle(version, expires, &policy, signers));
    }

    fn state_path(&self) -> std::path::PathBuf {
        self.dir.path().join(STATE_FILE)
    }
}

/// One signing key and a rig whose root trusts it alone (threshold 1).
fn one_key_rig() -> (Vec<SigningKey>, Rig) {
    let k = signing_keys(1);
    let rig = Rig::new(root_bytes(&k, 1));
    (k, rig)
}

/// A one-key rig whose app installed bundle v1 (a.example, expiring `expires`) and then quit.
fn installed_v1(expires: &str) -> (Vec<SigningKey>, Rig) {
    let (k, rig) = one_key_rig();
    rig.publish(1, expires, "a.example", &fake_pins(1), &[&k[0]]);
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    drop(u);
    (k, rig)
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

fn version_in_force(u: &Updater) -> PolicySource {
    u.store().current().source()
}

#[test]
fn startup_without_state_runs_embedded() {
    let (_, rig) = one_key_rig();
    let (u, startup, events) = rig.start();
    assert_eq!(startup, Startup::Embedded { reason: None });
    assert_eq!(version_in_force(&u), PolicySource::Embedded);
    assert!(failures(&events).is_empty());
}

#[test]
fn update_persists_and_survives_restart() {
    let (k, rig) = one_key_rig();
    rig.publish(3, "2027-02-15", "a.example", &fake_pins(1), &[&k[0]]);
    let (u, _, events) = rig.start();
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 3 });
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 3 });
    assert!(
        events
            .try_iter()
            .any(|e| matches!(e, PinEvent::PinsUpdated { version: 3, .. }))
    );
    assert!(!rig.dir.path().join(STATE_TEMP_FILE).exists());
    drop(u);
    let (u, startup, _) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 3 });
    assert_eq!(u.high_water(), Some(3));
    assert!(u.store().current().policy().rule_for("a.example").is_some());
}

#[test]
fn not_modified_costs_one_conditional_request() {
    let (k, rig) = one_key_rig();
    rig.publish(1, "2027-02-15", "a.example", &fake_pins(1), &[&k[0]]);
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    let generation = u.store().current().number();
    assert_eq!(u.check_now().unwrap(), CheckOutcome::NotModified);
    let sent = rig.fetcher.requests_for("bundle.json");
    assert_eq!(sent.len(), 2);
    assert!(sent[0].is_none() && sent[1].is_some(), "{sent:?}");
    assert_eq!(u.store().current().number(), generation);
}

#[test]
fn rollback_older_valid_bundle_replayed_keeps_last_good() {
    let (k, rig) = one_key_rig();
    let old = bundle(
        1,
        "2027-02-15",
        &policy_toml("old.example", &fake_pins(1)),
        &[&k[0]],
    );
    rig.publish(2, "2027-02-15", "new.example", &fake_pins(3), &[&k[0]]);
    let (u, _, events) = rig.start();
    u.check_now().unwrap();
    rig.fetcher.put("bundle.json", &old);
    let (result, _) = u.run_once();
    assert!(
        matches!(
            result,
            Err(UpdateError::Refused(BundleError::RolledBack {
                version: 1,
                high_water: 2
            }))
        ),
        "{result:?}"
    );
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 2 });
    let reasons = failures(&events);
    assert!(
        reasons.iter().any(|r| r.contains("rolled back")),
        "{reasons:?}"
    );
}

#[test]
fn freeze_expired_bundle_refused_and_last_good_kept() {
    let (k, rig) = one_key_rig();
    rig.publish(1, "2027-01-20", "a.example", &fake_pins(1), &[&k[0]]);
    let (u, _, events) = rig.start();
    u.check_now().unwrap();
    // Weeks later the channel still serves v1 and then an expired v2 (a frozen mirror).
    rig.clock.set(NOW + 30 * 86_400);
    rig.publish(2, "2027-01-25", "b.example", &fake_pins(5), &[&k[0]]);
    let (result, _) = u.run_once();
    assert!(
        matches!(
            result,
            Err(UpdateError::Refused(BundleError::Expired { .. }))
        ),
        "{result:?}"
    );
    // The expired v1 pins stay in force (never a downgrade), and that is reported.
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 1 });
    let reasons = failures(&events);
    assert!(reasons.iter().any(|r| r.contains("expired")), "{reasons:?}");
    // And after a restart, too.
    drop(u);
    let (u, startup, events) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 1 });
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 1 });
    assert!(
        failures(&events)
            .iter()
            .any(|r| r.contains("stay enforced"))
    );
}

#[test]
fn clock_set_back() {
    let (k, rig) = installed_v1("2027-01-20");
    // The clock is set back a day (to make an expired bundle look fresh) and the app restarts.
    rig.clock.set(NOW - 86_400);
    rig.publish(2, "2027-01-14", "b.example", &fake_pins(5), &[&k[0]]);
    let (u, _, _) = rig.start();
    let err = u.check_now().unwrap_err();
    assert!(
        matches!(err, UpdateError::Refused(BundleError::ClockBehind { .. })),
        "{err:?}"
    );
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 1 });
}

#[test]
fn oversized_response() {
    let (_, rig) = one_key_rig();
    rig.fetcher.put("bundle.json", &vec![b' '; 2 * 1024 * 1024]);
    let (u, _, _) = rig.start();
    assert!(matches!(
        u.check_now(),
        Err(UpdateError::Fetch(FetchError::TooLarge { .. }))
    ));
    assert_eq!(version_in_force(&u), PolicySource::Embedded);
}

#[test]
fn crash_between_write_and_rename_leaves_temp_file() {
    let (_, rig) = installed_v1("2027-02-15");
    // A crash while writing v2: the temp file is half written, the rename never happened.
    std::fs::write(
        rig.dir.path().join(STATE_TEMP_FILE),
        b"{\"format\":1,\"roots\":[],\"bund",
    )
    .unwrap();
    let (u, startup, events) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 1 });
    assert_eq!(version_in_force(&u), PolicySource::Bundle { version: 1 });
    assert!(failures(&events).is_empty());
    assert!(
        !rig.dir.path().join(STATE_TEMP_FILE).exists(),
        "the leftover is cleaned up"
    );
}

#[test]
fn truncated_stored_file_falls_back_to_embedded() {
    let (_, rig) = installed_v1("2027-02-15");
    let bytes = std::fs::read(rig.state_path()).unwrap();
    std::fs::write(rig.state_path(), &bytes[..bytes.len() / 2]).unwrap();
    let (u, startup, events) = rig.start();
    assert!(
        matches!(&startup, Startup::Embedded { reason: Some(r) } if r.contains("truncated")),
        "{startup:?}"
    );
    assert_eq!(version_in_force(&u), PolicySource::Embedded);
    assert!(
        failures(&events)
            .iter()
            .any(|r| r.contains("embedded policy"))
    );
    // The next check repairs it.
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 1 });
}

#[test]
fn corrupted_stored_bundle_that_no_longer_verifies_is_ignored() {
    let (_, rig) = installed_v1("2027-02-15");
    // Edit the stored bundle's pins (the state file itself still parses).
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rig.state_path()).unwrap()).unwrap();
    let mut env: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(state["bundle"].as_str().unwrap()).unwrap())
            .unwrap();
    let body =
        String::from_utf8(STANDARD.decode(env["signed"].as_str().unwrap()).unwrap()).unwrap();
    env["signed"] = STANDARD
        .encode(body.replace("a.example", "evil.example"))
        .into();
    state["bundle"] = STANDARD.encode(serde_json::to_vec(&env).unwrap()).into();
    std::fs::write(rig.state_path(), serde_json::to_vec(&state).unwrap()).unwrap();
    let (u, startup, _) = rig.start();
    assert!(
        matches!(&startup, Startup::Embedded { reason: Some(r) } if r.contains("no longer verifies")),
        "{startup:?}"
    );
    assert_eq!(version_in_force(&u), PolicySource::Embedded);
    // The high-water mark survives: the tampered state did not reset rollback protection.
    assert_eq!(u.high_water(), Some(1));
}

fn rotate(
    old: &[SigningKey],
    new: &[SigningKey],
    threshold: u32,
    signers: &[&SigningKey],
) -> Vec<u8> {
    let _ = old;
    RootSpec {
        version: 2,
        expires: date("2031-01-01"),
        threshold,
        keys: new.iter().map(|k| k.public_key().clone()).collect(),
    }
    .sign(signers, None)
    .unwrap()
}

#[test]
fn fast_forward_reset_on_rotation() {
    // A stolen key (threshold 1) got version 1,000,000 signed and installed everywhere.
    let old = signing_keys(1);
    let rig = Rig::new(root_bytes(&old, 1));
    rig.publish(
        1_000_000,
        "2027-02-15",
        "evil.example",
        &fake_pins(9),
        &[&old[0]],
    );
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    assert_eq!(u.high_water(), Some(1_000_000));
    // The team rotates the root to new keys and ships an ordinary v2.
    let new = signing_keys(2);
    rig.fetcher.put(
        "root-2.json",
        &rotate(&old, &new, 2, &[&old[0], &new[0], &new[1]]),
    );
    rig.publish(
        2,
        "2027-02-15",
        "good.example",
        &fake_pins(1),
        &[&new[0], &new[1]],
    );
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
    assert_eq!(u.root_version(), 2);
    assert_eq!(u.high_water(), Some(2));
    // The old key alone no longer signs anything.
    rig.publish(3, "2027-02-15", "evil.example", &fake_pins(9), &[&old[0]]);
    assert!(matches!(
        u.check_now(),
        Err(UpdateError::Refused(BundleError::ThresholdNotMet { .. }))
    ));
    // A restart walks the stored rotation.
    drop(u);
    let (u, startup, _) = rig.start();
    assert_eq!(startup, Startup::StoredBundle { version: 2 });
    assert_eq!(u.root_version(), 2);
}

#[test]
fn root_rotation_refused_without_old_threshold() {
    let old = signing_keys(2);
    let rig = Rig::new(root_bytes(&old, 2));
    let thief = signing_keys(1);
    rig.fetcher.put(
        "root-2.json",
        &rotate(&old, &thief, 1, &[&old[0], &thief[0]]),
    );
    rig.publish(1, "2027-02-15", "evil.example", &fake_pins(9), &[&thief[0]]);
    let (u, _, _) = rig.start();
    let err = u.check_now().unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Refused(BundleError::ThresholdNotMet { .. })
        ),
        "{err:?}"
    );
    assert_eq!(u.root_version(), 1);
    assert_eq!(version_in_force(&u), PolicySource::Embedded);
}

#[test]
fn backoff_grows_with_failures_and_checks_come_sooner_near_expiry() {
    let (k, rig) = one_key_rig();
    let (u, _, _) = rig.start();
    let within = |d: Duration, base: u64| {
        let (lo, hi) = (base as f64 * 0.74, base as f64 * 1.26);
        (lo..=hi).contains(&d.as_secs_f64())
    };
    assert!(within(u.next_delay(), 6 * 3600));
    let mut delays = Vec::new();
    for _ in 0..4 {
        let (r, d) = u.run_once(); // nothing is published: NoBundle
        assert!(matches!(r, Err(UpdateError::NoBundle(_))));
        delays.push(d);
    }
    for (d, base) in delays.iter().zip([60, 120, 240, 480]) {
        assert!(within(*d, base), "{d:?} vs {base}");
    }
    // Near expiry (8 hours left, under two intervals): checks every quarter of the time left.
    rig.clock.set(NOW + 8 * 3600);
    rig.publish(1, "2027-01-15", "a.example", &fake_pins(1), &[&k[0]]);
    let (r, d) = u.run_once();
    assert!(r.is_ok());
    let left = Date::parse("2027-01-16").unwrap().start_secs() as u64 - (NOW + 8 * 3600);
    assert_eq!(left, 8 * 3600);
    assert!(within(d, left / 4), "{d:?}");
}

// A live switch on a real TLS connection.

fn request(config: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> Result<String, std::io::Error> {
    let name = ServerName::try_from(HOST.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn start_server(chain: &Chain) -> TlsServer {
    TlsServer::start(ServerOptions::new(
        chain.served(),
        chain.leaf.key.clone_key(),
    ))
    .unwrap()
}

#[test]
fn live_switch_to_new_pins_next_connection_enforces_new_set() {
    let chain = Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = start_server(&chain);
    let leaf_pin = Pin::from_spki_der(&chain.leaf.spki_der());
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());

    let k = signing_keys(1);
    let mut rig = Rig::new(root_bytes(&k, 1));
    let mut tls_roots = Roots::empty();
    tls_roots.add_cert(chain.root.cert.clone()).unwrap();
    rig.tls_roots = tls_roots;

    // v1 pins the server's key: connections succeed.
    rig.publish(1, "2027-02-15", HOST, &[leaf_pin, spare], &[&k[0]]);
    let (u, _, _) = rig.start();
    u.check_now().unwrap();
    let before = u.store().client_config();
    let reply = request(&before, server.addr()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // v2 pins only a spare key (the server's key is "compromised"): the next connection is
    // refused, with the new generation's fresh config (no resumption under old pins).
    rig.publish(2, "2027-02-15", HOST, &[spare, fake_pins(7)[0]], &[&k[0]]);
    assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
    let after = u.store().client_config();
    assert!(!Arc::ptr_eq(&before, &after));
    let err = request(&after, server.addr()).unwrap_err();
    assert!(
        keypin::verify::VerifyError::pin_failure_of_io(&err).is_some(),
        "{err:?}"
    );
}

#[test]
fn https_fetcher_goes_through_the_pinned_client() {
    use keypin::live::updater::HttpsFetcher;
    let chain = Chain::generate("Update host", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = start_server(&chain);
    let leaf = Pin::from_spki_der(&chain.leaf.spki_der());
    let spare = Pin::from_spki_der(&self_signed(CertSpec::ca("Spare")).unwrap().spki_der());
    let store_pinning = |pins: &[Pin]| {
        let mut roots = Roots::empty();
        roots.add_cert(chain.root.cert.clone()).unwrap();
        let policy = Arc::new(Policy::from_toml_str(&policy_toml(HOST, pins), "embedded").unwrap());
        Arc::new(
            PolicyStore::new(policy, move |p| {
                PinnedConfig::builder(p, roots.clone()).build()
            })
            .unwrap(),
        )
    };
    // The URL names the pinned host; the connection goes to the loopback server.
    let url = format!("https://{HOST}:{}/", server.port());
    let pinned = HttpsFetcher::new(&url, store_pinning(&[leaf, spare]))
        .unwrap()
        .connect_to(server.addr());
    let wrong = HttpsFetcher::new(&url, store_pinning(&[spare, fake_pins(7)[0]]))
        .unwrap()
        .connect_to(server.addr());
    match pinned.fetch("bundle.json", None, 1024).unwrap() {
        Fetched::Content { body, .. } => assert_eq!(body, keypin_pki::RESPONSE_BODY.as_bytes()),
        other => panic!("{other:?}"),
    }
    let err = wrong.fetch("bundle.json", None, 1024).unwrap_err();
    assert!(err.to_string().contains(HOST), "{err}");
}

/// A CT log list carried in the bundle (feature `ct`): the updater puts it in force with the
/// pins, and new connections are judged with it; a later bundle without one puts the app's own
/// list back; the stored bundle brings its list back at start-up.
#[cfg(feature = "ct")]
mod ct_log_list_in_bundles {
    use super::*;
    use keypin::ct::{LogList, LogListSigner};
    use keypin::verify::VerifyError;
    use keypin_pki::{SctSpec, TestLog, issue_with_scts, log_list_json};

    struct CtRig {
        rig: Rig,
        key: SigningKey,
        signer: TestLog,
        logs: [TestLog; 2],
        app_logs: Arc<LogList>,
        server: TlsServer,
        policy: String,
    }

    impl CtRig {
        /// A TLS server whose leaf carries SCTs from two test logs (Alpha, Beta); a rule that
        /// requires 2 SCTs; the app's own log list knows only Alpha.
        fn new() -> Self {
            let chain = Chain::generate("CT updater", &[HOST], KeyAlg::EcdsaP256).unwrap();
            let logs = [
                TestLog::generate("Test 'Alpha' log", "Operator A").unwrap(),
                TestLog::generate("Test 'Beta' log", "Operator B").unwrap(),
            ];
            let now = time::OffsetDateTime::now_utc();
            let sct_time = u64::try_from((now.unix_timestamp() - 3600) * 1000).unwrap();
            let scts: Vec<SctSpec<'_>> = logs
                .iter()
                .map(|log| SctSpec {
                    log,
                    timestamp_ms: sct_time,
                    corrupt_signature: false,
                })
                .collect();
            let leaf = issue_with_scts(
                CertSpec::leaf(&[HOST]).key(&chain.leaf).validity(
                    now - time::Duration::days(1),
                    now + time::Duration::days(90),
                ),
                &chain.intermediate,
                &scts,
            )
            .unwrap();
            let server = TlsServer::start(ServerOptions::new(
                vec![leaf.cert.clone(), chain.intermediate.cert.clone()],
                leaf.key.clone_key(),
            ))
            .unwrap();
            let k = signing_keys(1);
            let mut rig = Rig::new(root_bytes(&k, 1));
            let mut tls_roots = Roots::empty();
            tls_roots.add_cert(chain.root.cert.clone()).unwrap();
            rig.tls_roots = tls_roots;
            let pins = [
                Pin::from_spki_der(&chain.intermediate.spki_der()),
                fake_pins(9)[0],
            ];
            let signer = TestLog::generate("log list signer", "").unwrap();
            let (json, sig) = list_json(&signer, &logs[..1]);
            let app_logs = Arc::new(
                LogList::from_signed(json.as_bytes(), &sig, &list_signer(&signer), "app list")
                    .unwrap(),
            );
            Self {
                rig,
                key: k.into_iter().next().unwrap(),
                signer,
                logs,
                app_logs,
                server,
                policy: format!("{}require_sct = 2\n", policy_toml(HOST, &pins)),
            }
        }

        /// Starts the updater on a store that hands the list in force to each config.
        fn start(&self) -> (Updater, Startup) {
            let roots = self.rig.tls_roots.clone();
            let store = PolicyStore::with_ct_logs(
                Rig::embedded(),
                Some(self.app_logs.clone()),
                move |policy, logs| {
                    let mut b = PinnedConfig::builder(policy, roots.clone());
                    if let Some(logs) = logs {
                        b = b.ct_logs(logs);
                    }
                    b.build()
                },
            )
            .unwrap();
            let signer = Arc::new(list_signer(&self.signer));
            let (u, s, _) = self
                .rig
                .start_with(store, |c| c.ct_log_list_signer = Some(signer));
            (u, s)
        }

        /// Bundle `version` with the CT rule.
        fn spec(&self, version: u64) -> BundleSpec {
            BundleSpec {
                app_id: APP.into(),
                environment: ENV.into(),
                version,
                issued_unix: NOW as i64,
                expires: date("2027-02-15"),
                policy_toml: self.policy.clone(),
            }
        }

        /// Publishes bundle `version`, carrying a list of Alpha and Beta when `with_list`.
        fn publish(&self, version: u64, with_list: bool) {
            let spec = self.spec(version);
            let bytes = if with_list {
                let (json, sig) = list_json(&self.signer, &self.logs);
                spec.sign_with_ct_log_list(&[&self.key], json.as_bytes(), Some(&sig))
            } else {
                spec.sign(&[&self.key])
            };
            self.rig.fetcher.put("bundle.json", &bytes.unwrap());
        }

        /// A new connection with the config in force: `Ok` or the CT refusal's reason.
        fn connect(&self, u: &Updater) -> Result<(), String> {
            match request(&u.store().client_config(), self.server.addr()) {
                Ok(reply) => {
                    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
                    Ok(())
                }
                Err(e) => {
                    let inner = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<rustls::Error>())
                        .unwrap_or_else(|| panic!("not a TLS refusal: {e:?}"));
                    let f = VerifyError::ct_failure_of(inner)
                        .unwrap_or_else(|| panic!("not a CT refusal: {inner:?}"));
                    Err(f.reason.clone())
                }
            }
        }

        /// The number of logs in the list in force.
        fn logs_in_force(u: &Updater) -> Option<usize> {
            u.store().current().ct_logs().map(|l| l.len())
        }
    }

    fn list_signer(signer: &TestLog) -> LogListSigner {
        LogListSigner::from_pem(&signer.public_key_pem()).unwrap()
    }

    /// A v3 log list of `logs` and `signer`'s detached signature over it.
    fn list_json(signer: &TestLog, logs: &[TestLog]) -> (String, Vec<u8>) {
        let entries = logs
            .iter()
            .map(|l| l.list_entry_json("2020-01-01T00:00:00Z", None))
            .collect();
        let json = log_list_json("1", "2026-01-01T00:00:00Z", &[("Ops", entries)]);
        let sig = signer.sign(json.as_bytes()).unwrap();
        (json, sig)
    }

    #[test]
    fn switching_to_a_bundle_with_a_log_list_changes_ct_verdicts_for_new_connections() {
        let ct = CtRig::new();
        let (u, _) = ct.start();

        // v1 without a list: the app's list knows one of the two logs; refused.
        ct.publish(1, false);
        assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 1 });
        assert!(Arc::ptr_eq(
            u.store().current().ct_logs().unwrap(),
            &ct.app_logs
        ));
        let reason = ct.connect(&u).unwrap_err();
        assert!(reason.contains("found 1"), "{reason}");

        // v2 carries a list with both logs: the next connection is accepted.
        ct.publish(2, true);
        assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 2 });
        assert_eq!(CtRig::logs_in_force(&u), Some(2));
        ct.connect(&u).unwrap();

        // A restart: the stored bundle comes back with its list.
        drop(u);
        let (u, startup) = ct.start();
        assert_eq!(startup, Startup::StoredBundle { version: 2 });
        assert_eq!(CtRig::logs_in_force(&u), Some(2));
        ct.connect(&u).unwrap();

        // v3 without a list: the app's own list again, and refused again.
        ct.publish(3, false);
        assert_eq!(u.check_now().unwrap(), CheckOutcome::Updated { version: 3 });
        assert!(Arc::ptr_eq(
            u.store().current().ct_logs().unwrap(),
            &ct.app_logs
        ));
        let reason = ct.connect(&u).unwrap_err();
        assert!(reason.contains("found 1"), "{reason}");
    }

    #[test]
    fn a_carried_list_whose_signature_fails_is_refused_and_never_stored() {
        let ct = CtRig::new();
        let (u, _) = ct.start();
        // The list signed by another key than the one the app trusts for lists.
        let stranger = TestLog::generate("stranger", "").unwrap();
        let (json, sig) = list_json(&stranger, &ct.logs);
        let bytes = ct
            .spec(1)
            .sign_with_ct_log_list(&[&ct.key], json.as_bytes(), Some(&sig))
            .unwrap();
        ct.rig.fetcher.put("bundle.json", &bytes);
        let err = u.check_now().unwrap_err();
        assert!(
            matches!(err, UpdateError::Refused(BundleError::CtLogList { .. })),
            "{err}"
        );
        assert_eq!(version_in_force(&u), PolicySource::Embedded);
        assert!(!ct.rig.state_path().exists());
    }

    #[test]
    fn a_store_that_cannot_take_the_list_refuses_the_bundle_before_storing_it() {
        let ct = CtRig::new();
        // PolicyStore::new: its factory never sees a log list.
        let (u, _, _) = ct.rig.start();
        ct.publish(1, true);
        let err = u.check_now().unwrap_err();
        assert!(
            err.to_string().contains("PolicyStore::with_ct_logs"),
            "{err}"
        );
        assert_eq!(version_in_force(&u), PolicySource::Embedded);
        assert!(!ct.rig.state_path().exists());
    }
}
