//! `require_sct` in the verifier: leaves with embedded SCTs from test logs, a log list signed
//! with a test key, real TLS handshakes on loopback, and the policy field's validation.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keypin::ct::{CtFailure, LogList, LogListSigner};
use keypin::{
    PinnedConfig, Policy, Roots, events::ChannelSink, events::PinEvent, pin::Pin,
    verify::VerifyError,
};
use keypin_pki::{
    CertSpec, Chain, Issued, KeyAlg, SctSpec, ServerOptions, TestLog, TlsServer, issue_with_scts,
    log_list_json,
};
use rustls_pki_types::{ServerName, UnixTime};

const HOST: &str = "ct.keypin.test";

struct Setup {
    chain: Chain,
    logs: [TestLog; 3],
    unlisted: TestLog,
    list: LogList,
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn setup() -> Setup {
    let chain = Chain::generate("CT Test", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let logs = [
        TestLog::generate("Test 'Alpha' log", "Operator A").unwrap(),
        TestLog::generate("Test 'Beta' log", "Operator B").unwrap(),
        TestLog::generate("Test 'Gamma' log", "Operator A").unwrap(),
    ];
    let unlisted = TestLog::generate("Unlisted log", "Operator X").unwrap();
    let signer = TestLog::generate("log list signer", "").unwrap();
    let entry = |l: &TestLog| l.list_entry_json("2020-01-01T00:00:00Z", None);
    let json = log_list_json(
        "1.0",
        "2026-01-01T00:00:00Z",
        &[
            ("Operator A", vec![entry(&logs[0]), entry(&logs[2])]),
            ("Operator B", vec![entry(&logs[1])]),
        ],
    );
    let sig = signer.sign(json.as_bytes()).unwrap();
    let key = LogListSigner::from_pem(&signer.public_key_pem()).unwrap();
    let list = LogList::from_signed(json.as_bytes(), &sig, &key, "test list").unwrap();
    Setup {
        chain,
        logs,
        unlisted,
        list,
    }
}

/// SCT specs an hour old, `(log, corrupt signature)`.
fn sct_specs<'a>(scts: &[(&'a TestLog, bool)]) -> Vec<SctSpec<'a>> {
    let t = now_ms() - 3_600_000;
    scts.iter()
        .map(|(log, corrupt)| SctSpec {
            log,
            timestamp_ms: t,
            corrupt_signature: *corrupt,
        })
        .collect()
}

fn leaf(s: &Setup, scts: &[(&TestLog, bool)]) -> Issued {
    leaf_living(s, scts, 90)
}

/// A leaf valid from yesterday for `days` days, with these SCTs embedded.
fn leaf_living(s: &Setup, scts: &[(&TestLog, bool)], days: i64) -> Issued {
    let now = time::OffsetDateTime::now_utc();
    issue_with_scts(
        CertSpec::leaf(&[HOST]).key(&s.chain.leaf).validity(
            now - time::Duration::days(1),
            now + time::Duration::days(days),
        ),
        &s.chain.intermediate,
        &sct_specs(scts),
    )
    .unwrap()
}

/// A rule pinning the issuing CA (so pins always match: these tests are about CT).
fn policy(require: &str, pinned: &Issued) -> Policy {
    let text = format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\nrequire_sct = {require}\n",
        Pin::from_spki_der(&pinned.spki_der()),
        Pin::from_spki_der(b"spare key, not deployed"),
    );
    Policy::from_toml_str(&text, "ct-policy.toml").unwrap()
}

fn verify(s: &Setup, leaf: &Issued, require: &str, with_list: bool) -> Result<(), VerifyError> {
    let mut roots = Roots::empty();
    roots.add_cert(s.chain.root.cert.clone()).unwrap();
    let mut b = PinnedConfig::builder(policy(require, &s.chain.intermediate), roots);
    if with_list {
        b = b.ct_logs(s.list.clone());
    }
    let v = b.verifier();
    let now = UnixTime::now();
    v.verify_chain(
        &leaf.cert,
        std::slice::from_ref(&s.chain.intermediate.cert),
        &ServerName::try_from(HOST).unwrap(),
        now,
    )
    .map(|_| ())
}

/// A handshake with `server` and one HTTP request; the whole reply.
fn request(config: &Arc<rustls::ClientConfig>, server: &TlsServer) -> std::io::Result<String> {
    let conn = rustls::ClientConnection::new(Arc::clone(config), HOST.try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .and_then(|()| {
            let mut reply = String::new();
            tls.read_to_string(&mut reply).map(|_| reply)
        })
}

fn ct_failure(r: Result<(), VerifyError>) -> CtFailure {
    match r {
        Err(VerifyError::Ct(f)) => *f,
        other => panic!("expected a CT failure, got {other:?}"),
    }
}

#[test]
fn sct_requirements_are_counted_per_distinct_log_and_operator() {
    let s = setup();
    let [a, b, g] = &s.logs;
    // (SCTs embedded, requirement, accepted?)
    type Row<'a> = (Vec<(&'a TestLog, bool)>, &'a str, bool);
    let rows: Vec<Row<'_>> = vec![
        (vec![(a, false), (b, false)], "2", true),
        (vec![(a, false), (b, false)], "\"chrome\"", true),
        (vec![(a, false), (b, false)], "3", false),
        (vec![(a, false)], "1", true),
        (vec![(a, false)], "2", false),
        // Same log twice counts once.
        (vec![(a, false), (a, false)], "2", false),
        // Two logs, one operator: enough for a count, not for the Chrome-like policy.
        (vec![(a, false), (g, false)], "2", true),
        (vec![(a, false), (g, false)], "\"chrome\"", false),
        (vec![(a, false), (b, true)], "2", false),
        (vec![(a, false), (&s.unlisted, false)], "2", false),
        (vec![], "1", false),
    ];
    for (scts, req, ok) in rows {
        let leaf = leaf(&s, &scts);
        let r = verify(&s, &leaf, req, true);
        assert_eq!(
            r.is_ok(),
            ok,
            "require_sct = {req}, {} SCTs: {r:?}",
            scts.len()
        );
    }
}

#[test]
fn failures_name_each_sct_and_why() {
    let s = setup();
    let [a, b, _] = &s.logs;
    let leaf1 = leaf(&s, &[(a, false), (b, true), (&s.unlisted, false)]);
    let f = ct_failure(verify(&s, &leaf1, "2", true));
    let msg = f.to_string();
    assert_eq!(f.checks.len(), 3, "{msg}");
    assert!(
        msg.contains("Test 'Alpha' log (Operator A)") && msg.contains(": valid"),
        "{msg}"
    );
    assert!(msg.contains("Test 'Beta' log (Operator B)"), "{msg}");
    assert!(msg.contains("bad signature"), "{msg}");
    assert!(msg.contains("unknown log"), "{msg}");
    assert!(msg.contains("ct-policy.toml:1"), "{msg}");
    assert!(msg.contains("found 1"), "{msg}");

    let plain = leaf(&s, &[]);
    let msg = ct_failure(verify(&s, &plain, "1", true)).to_string();
    assert!(msg.contains("carries no embedded SCT"), "{msg}");

    // No log list configured: refused (fail closed), and says so.
    let good = leaf(&s, &[(a, false), (b, false)]);
    let msg = ct_failure(verify(&s, &good, "2", false)).to_string();
    assert!(msg.contains("no CT log list is configured"), "{msg}");
}

#[test]
fn handshake_accepts_logged_leaf_and_refuses_unlogged_one() {
    let s = setup();
    let [a, b, _] = &s.logs;
    let mut roots = Roots::empty();
    roots.add_cert(s.chain.root.cert.clone()).unwrap();
    let (sink, events) = ChannelSink::new(8);
    let config = Arc::new(
        PinnedConfig::builder(policy("\"chrome\"", &s.chain.intermediate), roots)
            .ct_logs(s.list.clone())
            .events(Arc::new(sink))
            .build()
            .unwrap(),
    );
    for (scts, ok) in [
        (vec![(a, false), (b, false)], true),
        (vec![(a, false)], false),
    ] {
        let leaf = leaf(&s, &scts);
        let server = TlsServer::start(ServerOptions::new(
            vec![leaf.cert.clone(), s.chain.intermediate.cert.clone()],
            leaf.key.clone_key(),
        ))
        .unwrap();
        match (request(&config, &server), ok) {
            (Ok(reply), true) => {
                assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
                assert!(
                    events.try_recv().is_err(),
                    "no event for an accepted connection"
                );
            }
            (Err(e), false) => {
                let inner = e
                    .get_ref()
                    .unwrap()
                    .downcast_ref::<rustls::Error>()
                    .unwrap();
                let f = VerifyError::ct_failure_of(inner).unwrap();
                assert!(f.reason.contains("found 1"), "{f}");
                // The refusal is reported as an event too.
                let reported = events.try_iter().any(
                    |e| matches!(e, PinEvent::CtRefused { failure } if failure.checks.len() == 1),
                );
                assert!(reported);
            }
            (r, _) => panic!("{} SCTs: {r:?}", scts.len()),
        }
    }
}

#[test]
fn require_sct_is_validated_with_line_and_column() {
    let base = "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n";
    for (value, ok) in [
        ("2", true),
        ("10", true),
        ("\"chrome\"", true),
        ("\"default\"", true),
        ("0", false),
        ("11", false),
        ("-1", false),
        ("\"two\"", false),
        ("true", false),
    ] {
        let text = format!("{base}require_sct = {value}\n");
        match Policy::from_toml_str(&text, "p.toml") {
            Ok(p) => assert!(ok && p.rule_for("a.example.com").unwrap().require_sct().is_some()),
            Err(e) => {
                assert!(!ok, "{value}: {e}");
                let msg = e.to_string();
                assert!(msg.contains("p.toml:4:15: rule[0].require_sct"), "{msg}");
                assert!(msg.contains("hint:"), "{msg}");
            }
        }
    }
}

#[test]
fn a_log_list_with_a_wrong_log_id_or_signature_is_refused() {
    let s = setup();
    let signer = TestLog::generate("signer", "").unwrap();
    let key = LogListSigner::from_pem(&signer.public_key_pem()).unwrap();
    let entry = s.logs[0].list_entry_json("2020-01-01T00:00:00Z", None);
    let other_id = s.logs[1].list_entry_json("2020-01-01T00:00:00Z", None);
    // Swap in another log's id: the id is no longer the key's hash.
    let id_of = |e: &str| {
        e.split("\"log_id\": \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let forged = entry.replace(&id_of(&entry), &id_of(&other_id));
    let json = log_list_json("1", "2026-01-01T00:00:00Z", &[("Op", vec![forged])]);
    let sig = signer.sign(json.as_bytes()).unwrap();
    let e = LogList::from_signed(json.as_bytes(), &sig, &key, "forged.json").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("operators[0].logs[0]") && msg.contains("not the SHA-256 of the key"),
        "{msg}"
    );
    // Signed by someone else.
    let json = log_list_json("1", "2026-01-01T00:00:00Z", &[("Op", vec![entry])]);
    let sig = s.unlisted.sign(json.as_bytes()).unwrap();
    assert!(LogList::from_signed(json.as_bytes(), &sig, &key, "x").is_err());
    let sig = signer.sign(json.as_bytes()).unwrap();
    assert_eq!(
        LogList::from_signed(json.as_bytes(), &sig, &key, "x")
            .unwrap()
            .len(),
        1
    );
}

/// Log states and temporal intervals, one SCT per case, verdict per SCT.
#[test]
fn log_state_and_interval_decide_whether_an_sct_counts() {
    use keypin::ct::{LogStateKind, SctStatus, verify_embedded_scts};
    let chain = Chain::generate("CT States", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let signer = TestLog::generate("signer", "").unwrap();
    let fmt = |t: time::OffsetDateTime| {
        t.replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let since = fmt(now - time::Duration::days(400));
    let recent = fmt(now - day);
    let set_state = |entry: String, state: &str, at: &str| {
        entry.replace(
            &format!("{{ \"usable\": {{ \"timestamp\": \"{since}\" }} }}"),
            &format!("{{ \"{state}\": {{ \"timestamp\": \"{at}\" }} }}"),
        )
    };
    let (a0, a1) = (
        fmt(now - time::Duration::days(30)),
        fmt(now + time::Duration::days(30)),
    );
    // (log, list entry, expected verdict of its SCT, issued an hour ago)
    let logs: Vec<TestLog> = (0..7)
        .map(|i| TestLog::generate(&format!("log {i}"), "Op").unwrap())
        .collect();
    let rows: Vec<(&TestLog, String, SctStatus)> = vec![
        (
            &logs[0],
            logs[0].list_entry_json(&since, None),
            SctStatus::Valid,
        ),
        (
            &logs[1],
            set_state(logs[1].list_entry_json(&since, None), "qualified", &since),
            SctStatus::Valid,
        ),
        (
            &logs[2],
            set_state(logs[2].list_entry_json(&since, None), "pending", &since),
            SctStatus::LogNotTrusted(LogStateKind::Pending),
        ),
        (
            &logs[3],
            set_state(logs[3].list_entry_json(&since, None), "rejected", &since),
            SctStatus::LogNotTrusted(LogStateKind::Rejected),
        ),
        // Retired yesterday: an SCT from an hour ago was issued after it retired.
        (
            &logs[4],
            set_state(logs[4].list_entry_json(&since, None), "retired", &recent),
            SctStatus::AfterLogEnded(keypin::ct::LogState {
                kind: LogStateKind::Retired,
                since: (now - day).unix_timestamp(),
            }),
        ),
        // The leaf's notAfter (in 90 days) is past this log's interval.
        (
            &logs[5],
            logs[5].list_entry_json(&since, Some((&a0, &a1))),
            SctStatus::OutsideTemporalInterval {
                start: (now - time::Duration::days(30)).unix_timestamp(),
                end: (now + time::Duration::days(30)).unix_timestamp(),
            },
        ),
        (
            &logs[6],
            set_state(
                logs[6].list_entry_json(&since, None),
                "frozen-solid",
                &since,
            ),
            SctStatus::LogNotTrusted(LogStateKind::Unknown),
        ),
    ];
    let json = log_list_json(
        "1",
        &since,
        &[("Op", rows.iter().map(|(_, e, _)| e.clone()).collect())],
    );
    let key = LogListSigner::from_pem(&signer.public_key_pem()).unwrap();
    let sig = signer.sign(json.as_bytes()).unwrap();
    let list = LogList::from_signed(json.as_bytes(), &sig, &key, "states").unwrap();
    let s = Setup {
        chain,
        logs: [
            TestLog::generate("x", "x").unwrap(),
            TestLog::generate("y", "y").unwrap(),
            TestLog::generate("z", "z").unwrap(),
        ],
        unlisted: TestLog::generate("u", "u").unwrap(),
        list,
    };
    let scts: Vec<(&TestLog, bool)> = rows.iter().map(|(l, _, _)| (*l, false)).collect();
    let leaf = leaf(&s, &scts);
    let got = verify_embedded_scts(
        &leaf.cert,
        &s.chain.intermediate.spki_der(),
        &s.list,
        UnixTime::now(),
    )
    .unwrap();
    let round = |st: &SctStatus| match st {
        // The leaf's dates are whole seconds; compare intervals to the day.
        SctStatus::OutsideTemporalInterval { start, end } => (start / 86_400, end / 86_400),
        SctStatus::AfterLogEnded(st) => (st.since / 86_400, 0),
        _ => (0, 0),
    };
    for ((_, _, want), c) in rows.iter().zip(&got.checks) {
        assert_eq!(
            std::mem::discriminant(&c.status),
            std::mem::discriminant(want),
            "{c}"
        );
        assert_eq!(round(&c.status), round(want), "{c}");
        if let SctStatus::LogNotTrusted(k) = want {
            assert_eq!(c.status, SctStatus::LogNotTrusted(*k), "{c}");
        }
    }
    assert_eq!(got.checks.len(), rows.len());
}

/// A signed bundle carries rules as `RuleSpec` JSON: `require_sct` survives the trip.
#[test]
fn require_sct_travels_in_bundle_rules() {
    use keypin::{policy::RuleSpec, policy::SctRequirement};
    let text = "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\nrequire_sct = 2\n\n[[rule]]\nhosts = [\"b.example.com\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n";
    let specs = Policy::rule_specs_from_toml(text, "p.toml").unwrap();
    let json = serde_json::to_string(&specs).unwrap();
    assert_eq!(json.matches("require_sct").count(), 1, "{json}");
    let back: Vec<RuleSpec> = serde_json::from_str(&json).unwrap();
    let policy = Policy::from_rules("bundle", back).unwrap();
    let req = |h: &str| policy.rule_for(h).unwrap().require_sct();
    assert_eq!(req("a.example.com"), Some(SctRequirement::AtLeast(2)));
    assert_eq!(req("b.example.com"), None);
    let bad: Vec<RuleSpec> = serde_json::from_str(&json.replace("\"2\"", "\"none\"")).unwrap();
    let e = Policy::from_rules("bundle", bad).unwrap_err().to_string();
    assert!(e.contains("rule[0].require_sct"), "{e}");
}

/// SCTs in a stapled OCSP response (RFC 6962 §3.3, x509 entries), judged in real handshakes.
mod stapled {
    use super::*;
    use keypin_pki::OcspResponseSpec;

    /// Without the `ocsp` feature a staple cannot be validated: its SCTs never count.
    #[cfg(not(feature = "ocsp"))]
    #[test]
    fn without_ocsp_stapled_scts_never_count() {
        let s = setup();
        let [a, b, _] = &s.logs;
        let bare = leaf(&s, &[]);
        let policy = policy("2", &s.chain.intermediate);
        let mut roots = Roots::empty();
        roots.add_cert(s.chain.root.cert.clone()).unwrap();
        let config = Arc::new(
            PinnedConfig::builder(policy, roots)
                .ct_logs(s.list.clone())
                .build()
                .unwrap(),
        );
        let f = ct_refusal(connect(
            &config,
            &s,
            &bare,
            staple(&s, &bare, &[(a, false), (b, false)]),
        ));
        assert!(f.reason.contains("found 0"), "{f}");
        assert!(f.staple_note.unwrap_or_default().contains("feature `ocsp`"));
    }

    /// `require_sct` with an `ocsp` mode.
    #[cfg(feature = "ocsp")]
    fn config(s: &Setup, require: &str, mode: &str) -> Arc<rustls::ClientConfig> {
        let mut roots = Roots::empty();
        roots.add_cert(s.chain.root.cert.clone()).unwrap();
        let policy = policy(
            &format!("{require}\nocsp = \"{mode}\""),
            &s.chain.intermediate,
        );
        Arc::new(
            PinnedConfig::builder(policy, roots)
                .ct_logs(s.list.clone())
                .build()
                .unwrap(),
        )
    }

    /// A handshake and a request against a server stapling `staple`.
    fn connect(
        config: &Arc<rustls::ClientConfig>,
        s: &Setup,
        leaf: &Issued,
        staple: Vec<u8>,
    ) -> Result<(), rustls::Error> {
        let mut opts = ServerOptions::new(
            vec![leaf.cert.clone(), s.chain.intermediate.cert.clone()],
            leaf.key.clone_key(),
        );
        opts.ocsp = Some(staple);
        let server = TlsServer::start(opts).unwrap();
        match request(config, &server) {
            Ok(reply) => {
                assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
                Ok(())
            }
            Err(e) => Err(e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .cloned()
                .unwrap_or_else(|| panic!("not a TLS error: {e}"))),
        }
    }

    fn ct_refusal(r: Result<(), rustls::Error>) -> CtFailure {
        match r {
            Err(e) => VerifyError::ct_failure_of(&e)
                .unwrap_or_else(|| panic!("not a CT refusal: {e}"))
                .clone(),
            Ok(()) => panic!("accepted"),
        }
    }

    /// A good staple for `leaf` carrying x509-entry SCTs from these logs.
    fn staple(s: &Setup, leaf: &Issued, scts: &[(&TestLog, bool)]) -> Vec<u8> {
        OcspResponseSpec::new(leaf, &s.chain.intermediate)
            .scts(&sct_specs(scts))
            .build()
            .unwrap()
    }

    #[cfg(feature = "ocsp")]
    #[test]
    fn scts_in_a_validated_staple_count() {
        let s = setup();
        let [a, b, g] = &s.logs;
        let bare = leaf(&s, &[]);
        let long_lived = leaf_living(&s, &[(a, false)], 400);
        let one_embedded = leaf(&s, &[(a, false)]);
        let (chrome, ign, cis) = ("\"chrome\"", "ignore", "check-if-stapled");
        let (ok, one) = (None, Some("found 1"));
        // (leaf, SCTs in the staple, require_sct, ocsp mode, words when refused; None: accepted)
        type Row<'a> = (
            &'a Issued,
            Vec<(&'a TestLog, bool)>,
            &'a str,
            &'a str,
            Option<&'a str>,
        );
        let rows: Vec<Row<'_>> = vec![
            // Only in the staple, 2 distinct logs: enough, whatever the OCSP mode (with
            // "ignore" the staple is validated for its SCTs only).
            (&bare, vec![(a, false), (b, false)], "2", ign, ok),
            (&bare, vec![(a, false), (b, false)], "2", cis, ok),
            (&bare, vec![(a, false), (b, false)], "2", "require", ok),
            (&bare, vec![(a, false), (b, false)], chrome, ign, ok),
            // A bad signature or an unknown log does not count.
            (&bare, vec![(a, false), (b, true)], "2", cis, one),
            (&bare, vec![(a, false), (&s.unlisted, false)], "2", ign, one),
            // One embedded and one stapled, distinct logs: 2.
            (&one_embedded, vec![(b, false)], "2", ign, ok),
            (&one_embedded, vec![(b, false)], chrome, cis, ok),
            // The same log by both routes counts once.
            (&one_embedded, vec![(a, false)], "2", ign, one),
            // Two logs of one operator: a count, not Chrome's policy.
            (&one_embedded, vec![(g, false)], "2", ign, ok),
            (
                &one_embedded,
                vec![(g, false)],
                chrome,
                ign,
                Some("operators"),
            ),
            // Chrome: a leaf living > 180 days needs 3 embedded SCTs, but with a valid SCT
            // delivered by OCSP 2 logs of 2 operators are enough.
            (&long_lived, vec![], chrome, ign, one),
            (&long_lived, vec![(b, false)], chrome, ign, ok),
        ];
        for (leaf, scts, require, mode, refused) in rows {
            let config = config(&s, require, mode);
            let staple = if scts.is_empty() {
                OcspResponseSpec::new(leaf, &s.chain.intermediate)
                    .build()
                    .unwrap()
            } else {
                staple(&s, leaf, &scts)
            };
            let r = connect(&config, &s, leaf, staple);
            let what = format!("{} stapled SCTs, {require}, {mode}", scts.len());
            match refused {
                None => assert!(r.is_ok(), "{what}: {r:?}"),
                Some(words) => {
                    let f = ct_refusal(r);
                    assert!(f.reason.contains(words), "{what}: {f}");
                    assert!(f.staple_note.is_none(), "{what}: {f}");
                }
            }
        }
    }

    #[cfg(feature = "ocsp")]
    #[test]
    fn scts_of_a_staple_that_fails_validation_never_count() {
        let s = setup();
        let [a, b, _] = &s.logs;
        let bare = leaf(&s, &[]);
        let specs = sct_specs(&[(a, false), (b, false)]);
        let other = Chain::generate("Other CA", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let base = || OcspResponseSpec::new(&bare, &s.chain.intermediate).scts(&specs);
        // (staple, words of the note)
        let rows: Vec<(Vec<u8>, &str)> = vec![
            (base().corrupt_signature().build().unwrap(), "signature"),
            (base().signed_by(&other.intermediate).build().unwrap(), ""),
            (
                base()
                    .this_update(now - time::Duration::days(10))
                    .next_update(Some(now - time::Duration::days(1)))
                    .build()
                    .unwrap(),
                "stale",
            ),
            (base().serial(&[1, 2, 3]).build().unwrap(), ""),
        ];
        let (ignoring, checking) = (
            config(&s, "2", "ignore"),
            config(&s, "2", "check-if-stapled"),
        );
        for (i, (staple, words)) in rows.into_iter().enumerate() {
            // The rule ignores OCSP: the staple is not refused for itself, but its SCTs
            // do not count.
            let f = ct_refusal(connect(&ignoring, &s, &bare, staple.clone()));
            assert!(f.reason.contains("found 0"), "row {i}: {f}");
            let note = f.staple_note.clone().unwrap_or_default();
            assert!(!note.is_empty() && note.contains(words), "row {i}: {f}");
            assert!(f.to_string().contains("not counted"), "row {i}: {f}");
            // The rule checks OCSP: CT is judged first (still without these SCTs).
            let e = connect(&checking, &s, &bare, staple).unwrap_err();
            let f = VerifyError::ct_failure_of(&e).unwrap();
            assert!(f.reason.contains("found 0"), "row {i}: {f}");
        }
        // Enough embedded SCTs: a forged staple is ignored by a rule that ignores OCSP, and
        // refuses a rule that checks it, for OCSP's reason.
        let logged = leaf(&s, &[(a, false), (b, false)]);
        let forged = OcspResponseSpec::new(&logged, &s.chain.intermediate)
            .scts(&specs)
            .corrupt_signature()
            .build()
            .unwrap();
        connect(&ignoring, &s, &logged, forged.clone()).unwrap();
        let e = connect(&checking, &s, &logged, forged).unwrap_err();
        assert!(keypin::ocsp::OcspFailure::of(&e).is_some(), "{e}");
    }

    #[cfg(feature = "ocsp")]
    #[test]
    fn entry_types_are_not_confusable_and_malformed_lists_refuse() {
        let s = setup();
        let [a, b, _] = &s.logs;
        // The leaf's own embedded (precert-entry) SCT list, put in its staple: each SCT
        // there is checked over an x509 entry and fails.
        let embedded = leaf(&s, &[(a, false), (b, false)]);
        let list = keypin::ct::precert_parts(embedded.cert.as_ref())
            .unwrap()
            .sct_list
            .unwrap();
        let staple = OcspResponseSpec::new(&embedded, &s.chain.intermediate)
            .sct_list_bytes(list)
            .build()
            .unwrap();
        let f = ct_refusal(connect(&config(&s, "3", "ignore"), &s, &embedded, staple));
        assert!(f.reason.contains("found 2"), "{f}");
        let stapled: Vec<_> = f
            .checks
            .iter()
            .filter(|c| c.source == keypin::ct::SctSource::OcspStaple)
            .collect();
        assert_eq!(stapled.len(), 2, "{f}");
        assert!(
            stapled
                .iter()
                .all(|c| c.status == keypin::ct::SctStatus::BadSignature),
            "{f}"
        );

        // An x509-entry SCT over a *different* certificate does not count either.
        let bare = leaf(&s, &[]);
        let spec = sct_specs(&[(a, false)]);
        let wrong = keypin_pki::x509_entry_sct(&spec[0], embedded.cert.as_ref()).unwrap();
        let staple = OcspResponseSpec::new(&bare, &s.chain.intermediate)
            .sct_list_bytes(keypin_pki::sct_list(&[wrong]).unwrap())
            .build()
            .unwrap();
        let f = ct_refusal(connect(&config(&s, "1", "ignore"), &s, &bare, staple));
        assert_eq!(
            f.checks[0].status,
            keypin::ct::SctStatus::BadSignature,
            "{f}"
        );

        // A malformed SCT list in a validated staple refuses a rule requiring SCTs (never
        // fails open), and does not disturb a rule that only checks OCSP.
        let one_sct = config(&s, "1", "ignore");
        for garbage in [vec![0, 0], vec![0, 5, 1], vec![]] {
            let staple = OcspResponseSpec::new(&bare, &s.chain.intermediate)
                .sct_list_bytes(garbage.clone())
                .build()
                .unwrap();
            let f = ct_refusal(connect(&one_sct, &s, &bare, staple.clone()));
            assert!(f.reason.contains("malformed SCT list"), "{garbage:?}: {f}");
            let mut roots = Roots::empty();
            roots.add_cert(s.chain.root.cert.clone()).unwrap();
            let text = format!(
                "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\nocsp = \"require\"\n",
                Pin::from_spki_der(&s.chain.intermediate.spki_der()),
                Pin::from_spki_der(b"spare"),
            );
            let ocsp_only = Arc::new(
                PinnedConfig::builder(Policy::from_toml_str(&text, "p.toml").unwrap(), roots)
                    .build()
                    .unwrap(),
            );
            connect(&ocsp_only, &s, &bare, staple).unwrap();
        }
    }
}
