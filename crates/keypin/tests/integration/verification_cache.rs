//! The verification cache (issue #14 §3): a repeat handshake with exactly the same inputs is
//! answered from the cache, and a hit always gives the answer a full verification would give
//! at that moment. Time is the injected clock; the verifier is called as rustls calls it.

use std::sync::Arc;
use std::time::Duration;

use keypin::verify::cache::CacheStats;
use keypin::{
    PinnedConfig, Policy, Roots, clock::ManualClock, events::ChannelSink, events::PinEvent,
    pin::Pin, verify::PinningVerifier,
};
use keypin_pki::{CertSpec, Chain, Issued, KeyAlg, issue};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;

const HOST: &str = "api.cache.test";
const OTHER: &str = "www.cache.test";
/// A second before which every test's clock starts (the certificates are made around it).
fn start() -> u64 {
    OffsetDateTime::now_utc().unix_timestamp() as u64
}

fn chain() -> Chain {
    Chain::generate(
        "Cache",
        &[HOST, OTHER, "third.cache.test"],
        KeyAlg::EcdsaP256,
    )
    .unwrap()
}

fn pin(cert: &Issued) -> Pin {
    Pin::from_spki_der(&cert.spki_der())
}

/// A backup pin for a key kept offline (an enforcing rule needs two pins).
const BACKUP: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

/// A rule for `hosts` with `pins` and the backup pin.
fn policy(hosts: &[&str], pins: &[Pin], extra: &str) -> Policy {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let mut pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    pins.push(format!("\"{BACKUP}\""));
    let text = format!(
        "[[rule]]\nhosts = [{}]\npins = [{}]\n{extra}",
        hosts.join(", "),
        pins.join(", ")
    );
    Policy::from_toml_str(&text, "cache-policy.toml").unwrap()
}

struct Setup {
    verifier: Arc<PinningVerifier>,
    clock: Arc<ManualClock>,
    events: Option<std::sync::mpsc::Receiver<PinEvent>>,
}

fn setup(chain: &Chain, policy: Policy, ttl: Duration) -> Setup {
    let clock = Arc::new(ManualClock::at(start()));
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let (sink, events) = ChannelSink::new(64);
    let verifier = PinnedConfig::builder(policy, roots)
        .clock(clock.clone())
        .events(Arc::new(sink))
        .verification_cache_ttl(ttl)
        .verifier();
    Setup {
        verifier,
        clock,
        events: Some(events),
    }
}

impl Setup {
    fn verify(&self, served: &[CertificateDer<'_>], host: &str, staple: &[u8]) -> bool {
        let (ee, inter) = served.split_first().unwrap();
        let name = ServerName::try_from(host).unwrap();
        // rustls' own `now` is ignored: the injected clock decides.
        self.verifier
            .verify_server_cert(ee, inter, &name, staple, UnixTime::now())
            .is_ok()
    }

    fn stats(&self) -> CacheStats {
        self.verifier.verification_cache_stats().unwrap()
    }

    fn at(&self, secs: u64) -> &Self {
        self.clock.set(secs);
        self
    }

    fn events(&self) -> Vec<PinEvent> {
        self.events.as_ref().unwrap().try_iter().collect()
    }
}

fn hits_misses(s: CacheStats) -> (u64, u64) {
    (s.hits, s.misses)
}

#[test]
fn a_repeat_handshake_hits_and_another_server_name_misses() {
    let chain = chain();
    let s = setup(
        &chain,
        policy(&[HOST, OTHER], &[pin(&chain.root)], ""),
        Duration::from_secs(300),
    );
    let served = chain.served();
    assert!(s.verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (0, 1));
    assert!(s.verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 1));
    assert!(s.verify(&served, OTHER, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 2));
    assert_eq!(s.stats().entries, 2);
    // A host no rule covers is cached too (ordinary validation passed, nothing to report).
    assert!(s.verify(&served, "third.cache.test", &[]));
    assert!(s.verify(&served, "third.cache.test", &[]));
    assert_eq!(hits_misses(s.stats()), (2, 3));
}

#[test]
fn a_refusal_is_never_cached() {
    let chain = chain();
    let spare = keypin_pki::self_signed(CertSpec::ca("spare")).unwrap();
    let s = setup(
        &chain,
        policy(&[HOST], &[pin(&spare)], ""),
        Duration::from_secs(300),
    );
    let served = chain.served();
    for _ in 0..3 {
        assert!(!s.verify(&served, HOST, &[]));
    }
    assert_eq!(s.stats().entries, 0);
    assert_eq!(hits_misses(s.stats()), (0, 3));
    assert_eq!(s.events().len(), 3, "every refusal is reported");
}

/// A chain whose path carries a key of `bad_pins` is never cached as accepted, even though a
/// good pin is on the same path: enforcing, every handshake is refused; report-only, every
/// handshake is reported. (mode line, accepted)
#[test]
fn a_chain_with_a_bad_key_is_never_cached_as_accepted() {
    let chain = chain();
    let bad = format!("bad_pins = [\"{}\"]\n", pin(&chain.root));
    for (mode, accepted) in [("", false), ("mode = \"report-only\"\n", true)] {
        let s = setup(
            &chain,
            policy(&[HOST], &[pin(&chain.leaf)], &format!("{mode}{bad}")),
            Duration::from_secs(300),
        );
        let served = chain.served();
        for _ in 0..3 {
            assert_eq!(s.verify(&served, HOST, &[]), accepted, "{mode}");
        }
        assert_eq!(s.stats().entries, 0, "{mode}");
        assert_eq!(hits_misses(s.stats()), (0, 3), "{mode}");
        let events = s.events();
        assert_eq!(events.len(), 3, "every handshake decides again: {events:?}");
    }
}

#[test]
fn a_report_only_mismatch_is_reported_on_every_handshake_never_cached() {
    let chain = chain();
    let spare = keypin_pki::self_signed(CertSpec::ca("spare")).unwrap();
    let s = setup(
        &chain,
        policy(&[HOST], &[pin(&spare)], "mode = \"report-only\"\n"),
        Duration::from_secs(300),
    );
    let served = chain.served();
    for _ in 0..3 {
        assert!(s.verify(&served, HOST, &[]));
    }
    assert_eq!(s.stats().entries, 0);
    let reports = s.events();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(
        reports
            .iter()
            .all(|e| matches!(e, PinEvent::ReportOnlyMismatch { .. }))
    );
}

#[test]
fn a_different_chain_never_hits() {
    let chain = chain();
    // The pin is on the genuine leaf's key: another leaf from the same CA must be refused,
    // even right after the genuine chain was cached.
    let s = setup(
        &chain,
        policy(&[HOST], &[pin(&chain.leaf)], ""),
        Duration::from_secs(300),
    );
    let other_leaf = issue(CertSpec::leaf(&[HOST]), &chain.intermediate).unwrap();
    let genuine = chain.served();
    let impostor = vec![other_leaf.cert.clone(), chain.intermediate.cert.clone()];
    assert!(s.verify(&genuine, HOST, &[]));
    assert!(s.verify(&genuine, HOST, &[]));
    assert!(!s.verify(&impostor, HOST, &[]));
    // The same leaf with another intermediate list is another key: a miss, verified in full.
    let leaf_only = vec![chain.leaf.cert.clone()];
    assert!(
        !s.verify(&leaf_only, HOST, &[]),
        "no path without the intermediate"
    );
    assert_eq!(hits_misses(s.stats()), (1, 3));
}

#[test]
fn an_entry_ends_at_a_path_certificate_not_after() {
    let chain = chain();
    let now = OffsetDateTime::now_utc();
    let t = now.unix_timestamp() as u64;
    // (which certificate expires soon, how it is made)
    let short_leaf = issue(
        CertSpec::leaf(&[HOST]).validity(
            now - time::Duration::days(1),
            now + time::Duration::hours(1),
        ),
        &chain.intermediate,
    )
    .unwrap();
    let short_int = issue(
        CertSpec::ca("Short Issuing CA").validity(
            now - time::Duration::days(1),
            now + time::Duration::hours(1),
        ),
        &chain.root,
    )
    .unwrap();
    let leaf_on_short_int = issue(CertSpec::leaf(&[HOST]), &short_int).unwrap();
    let rows: Vec<(&str, Vec<CertificateDer<'static>>)> = vec![
        (
            "leaf",
            vec![short_leaf.cert.clone(), chain.intermediate.cert.clone()],
        ),
        (
            "intermediate",
            vec![leaf_on_short_int.cert.clone(), short_int.cert.clone()],
        ),
    ];
    for (which, served) in rows {
        let s = setup(
            &chain,
            policy(&[HOST], &[pin(&chain.root)], ""),
            Duration::from_secs(7200),
        );
        let not_after = t + 3600;
        assert!(s.at(t).verify(&served, HOST, &[]), "{which}");
        assert!(s.at(not_after - 1).verify(&served, HOST, &[]), "{which}");
        assert_eq!(
            hits_misses(s.stats()),
            (1, 1),
            "{which}: a hit before notAfter"
        );
        assert!(
            !s.at(not_after + 1).verify(&served, HOST, &[]),
            "{which}: expired, refused by a full verification"
        );
        assert_eq!(hits_misses(s.stats()), (1, 2), "{which}");
    }
}

#[test]
fn an_entry_ends_when_the_rule_expires() {
    let chain = chain();
    // The rule expires at the end of the day the clock starts on.
    let day = keypin::clock::Date::of_secs(start() as i64);
    let end_of_day = (day.start_secs() + 86_400) as u64;
    let s = setup(
        &chain,
        policy(
            &[HOST],
            &[pin(&chain.root)],
            &format!("expires = \"{day}\"\n"),
        ),
        Duration::from_secs(48 * 3600),
    );
    let served = chain.served();
    assert!(s.at(end_of_day - 10).verify(&served, HOST, &[]));
    assert!(s.at(end_of_day - 1).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 1));
    assert!(s.events().is_empty());
    // The next day the pins have expired: a full verification notes it, every time.
    for _ in 0..2 {
        assert!(s.at(end_of_day).verify(&served, HOST, &[]));
    }
    assert_eq!(hits_misses(s.stats()), (1, 3));
    let notes = s.events();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|e| matches!(e, PinEvent::PinsExpired { .. }))
    );
}

#[test]
fn another_rule_expiring_ends_entries_early_and_never_swallows_a_note() {
    let chain = chain();
    let day = keypin::clock::Date::of_secs(start() as i64);
    let end_of_day = (day.start_secs() + 86_400) as u64;
    let later = keypin::clock::Date::of_secs(end_of_day as i64 + 9 * 86_400);
    // HOST's rule runs 10 days; OTHER's expires today.
    let text = format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{BACKUP}\"]\nexpires = \"{later}\"\n\
         [[rule]]\nhosts = [\"{OTHER}\"]\npins = [\"{}\", \"{BACKUP}\"]\nexpires = \"{day}\"\n",
        pin(&chain.root),
        pin(&chain.root)
    );
    let s = setup(
        &chain,
        Policy::from_toml_str(&text, "two-rules.toml").unwrap(),
        Duration::from_secs(48 * 3600),
    );
    let served = chain.served();
    assert!(s.at(end_of_day - 10).verify(&served, HOST, &[]));
    assert!(s.at(end_of_day - 1).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 1));
    // OTHER's rule expired: HOST's entry ended with it (a miss), and is made again until
    // HOST's own rule expires; OTHER's handshakes note the expiry every time.
    assert!(s.at(end_of_day).verify(&served, HOST, &[]));
    assert!(s.at(end_of_day + 3600).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (2, 2));
    assert!(s.events().is_empty());
    assert!(s.verify(&served, OTHER, &[]));
    assert!(s.verify(&served, OTHER, &[]));
    assert_eq!(s.events().len(), 2);
    assert_eq!(hits_misses(s.stats()), (2, 4));
}

#[test]
fn an_entry_ends_after_the_ttl() {
    let chain = chain();
    let s = setup(
        &chain,
        policy(&[HOST], &[pin(&chain.root)], ""),
        Duration::from_secs(60),
    );
    let served = chain.served();
    let t = start();
    assert!(s.at(t).verify(&served, HOST, &[]));
    assert!(s.at(t + 59).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 1));
    assert!(s.at(t + 60).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 2), "verified in full again");
    // A clock that goes back before the entry was made misses.
    assert!(s.at(t + 30).verify(&served, HOST, &[]));
    assert_eq!(hits_misses(s.stats()), (1, 3));
}

#[test]
fn a_zero_ttl_or_capacity_turns_the_cache_off() {
    let chain = chain();
    let p = || policy(&[HOST], &[pin(&chain.root)], "");
    let s = setup(&chain, p(), Duration::ZERO);
    assert!(s.verify(&chain.served(), HOST, &[]));
    assert!(s.verifier.verification_cache_stats().is_none());
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let off = PinnedConfig::builder(p(), roots)
        .verification_cache_capacity(0)
        .verifier();
    assert!(off.verification_cache_stats().is_none());
}

#[test]
fn the_cache_holds_at_most_its_capacity() {
    let chain = chain();
    let clock = Arc::new(ManualClock::at(start()));
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let verifier = PinnedConfig::builder(policy(&[HOST], &[pin(&chain.root)], ""), roots)
        .clock(clock)
        .verification_cache_capacity(2)
        .verifier();
    let served = chain.served();
    let (ee, inter) = served.split_first().unwrap();
    for host in [HOST, OTHER, "third.cache.test", HOST] {
        let name = ServerName::try_from(host).unwrap();
        verifier
            .verify_server_cert(ee, inter, &name, &[], UnixTime::now())
            .unwrap();
        assert!(verifier.verification_cache_stats().unwrap().entries <= 2);
    }
    // HOST was the oldest when the third came in: its second handshake was a miss.
    let stats = verifier.verification_cache_stats().unwrap();
    assert_eq!(hits_misses(stats), (0, 4));
}

#[cfg(feature = "ocsp")]
mod staples {
    use super::*;
    use keypin_pki::{OcspResponseSpec, OcspStatus};

    fn staple(chain: &Chain, status: OcspStatus, next_update: OffsetDateTime) -> Vec<u8> {
        OcspResponseSpec::new(&chain.leaf, &chain.intermediate)
            .status(status)
            .next_update(Some(next_update))
            .build()
            .unwrap()
    }

    #[test]
    fn an_entry_ends_at_the_staple_next_update() {
        let chain = chain();
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp() as u64;
        let good = staple(&chain, OcspStatus::Good, now + time::Duration::hours(1));
        let s = setup(
            &chain,
            policy(&[HOST], &[pin(&chain.root)], "ocsp = \"require\"\n"),
            Duration::from_secs(7200),
        );
        let served = chain.served();
        assert!(s.at(t).verify(&served, HOST, &good));
        assert!(s.at(t + 3599).verify(&served, HOST, &good));
        assert_eq!(hits_misses(s.stats()), (1, 1));
        assert!(
            !s.at(t + 3600).verify(&served, HOST, &good),
            "stale at nextUpdate: refused by a full verification"
        );
        assert_eq!(hits_misses(s.stats()), (1, 2));
    }

    #[test]
    fn a_different_staple_never_hits() {
        let chain = chain();
        let now = OffsetDateTime::now_utc();
        let next = now + time::Duration::days(2);
        let good = staple(&chain, OcspStatus::Good, next);
        let revoked = staple(
            &chain,
            OcspStatus::Revoked {
                at: now - time::Duration::hours(2),
                reason: None,
            },
            next,
        );
        let s = setup(
            &chain,
            policy(&[HOST], &[pin(&chain.root)], "ocsp = \"require\"\n"),
            Duration::from_secs(300),
        );
        let served = chain.served();
        assert!(s.verify(&served, HOST, &good));
        assert!(s.verify(&served, HOST, &good));
        assert!(
            !s.verify(&served, HOST, &revoked),
            "revoked, right after a hit"
        );
        assert!(
            !s.verify(&served, HOST, &[]),
            "no staple under ocsp = require"
        );
        assert_eq!(hits_misses(s.stats()), (1, 3));
    }
}

#[cfg(feature = "updater")]
mod generations {
    use super::*;
    use keypin::live::updater::{PolicySource, PolicyStore};
    use keypin_pki::TlsServer;

    fn handshake(config: &Arc<rustls::ClientConfig>, server: &TlsServer) -> bool {
        let name = ServerName::try_from(HOST).unwrap();
        let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut sock = std::net::TcpStream::connect(server.addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return false;
            }
        }
        true
    }

    #[test]
    fn a_new_policy_generation_never_hits_an_old_entry() {
        let chain = chain();
        let spare = keypin_pki::self_signed(CertSpec::ca("spare")).unwrap();
        let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
        let clock = Arc::new(ManualClock::at(start()));
        let store = PolicyStore::new(
            Arc::new(policy(&[HOST], &[pin(&chain.root)], "")),
            move |p| {
                PinnedConfig::builder(p, roots.clone())
                    .clock(clock.clone())
                    .resumption(keypin::Resumption::Disabled)
                    .build()
            },
        )
        .unwrap();
        let server = TlsServer::start(chain.server_options()).unwrap();
        let first = store.client_config();
        assert!(handshake(&first, &server));
        assert!(
            handshake(&first, &server),
            "answered from generation 0's cache"
        );
        // Generation 1 pins only a key the server does not have: the same chain, the same
        // name, moments later, must be refused (an entry of generation 0 never answers).
        store
            .install(
                Arc::new(policy(&[HOST], &[pin(&spare)], "")),
                PolicySource::Bundle { version: 2 },
            )
            .unwrap();
        assert!(!handshake(&store.client_config(), &server));
        // Generation 0's config, still held by connections made before, keeps its answer.
        assert!(handshake(&first, &server));
    }
}
