//! OCSP stapling: real loopback handshakes where the server staples a response made for the
//! case (good, revoked, unknown, stale, delegated, unauthorised, forged, about another
//! certificate, missing), judged by the rule's `ocsp` setting and the must-staple extension;
//! and the response parser on malformed input.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use keypin::ocsp::{self, OcspError, OcspFailure, Requirement};
use keypin::{PinnedConfig, Policy, Roots, clock::ManualClock, pin::Pin, policy::OcspMode};
use keypin_pki::{
    CertSpec, Chain, Issued, KeyAlg, OcspHash, OcspResponseSpec, OcspStatus, ServerOptions,
    ServerVersions, TlsServer, issue, ocsp_error_response, self_signed,
};
use rustls_pki_types::{ServerName, UnixTime};
use time::OffsetDateTime;

const HOST: &str = "api.keypin.test";

fn now_secs() -> u64 {
    OffsetDateTime::now_utc().unix_timestamp() as u64
}

fn hours(h: i64) -> time::Duration {
    time::Duration::hours(h)
}

struct Pki {
    chain: Chain,
    /// A proper delegated responder: issued by the intermediate, id-kp-OCSPSigning.
    responder: Issued,
    /// Issued by the intermediate, but with serverAuth only.
    responder_no_eku: Issued,
    /// OCSP-signing EKU, but issued by the root, not by the leaf's issuer.
    responder_by_root: Issued,
    /// A proper responder whose certificate expired.
    responder_expired: Issued,
    /// A self-signed "responder" nobody issued.
    stranger: Issued,
    /// A leaf with the must-staple extension, on the genuine intermediate.
    must_staple_leaf: Issued,
}

fn pki() -> Pki {
    let chain = Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let int = &chain.intermediate;
    let now = OffsetDateTime::now_utc();
    Pki {
        responder: issue(CertSpec::ocsp_responder("Genuine OCSP Responder"), int).unwrap(),
        responder_no_eku: issue(CertSpec::leaf(&["ocsp.keypin.test"]), int).unwrap(),
        responder_by_root: issue(CertSpec::ocsp_responder("Root's Responder"), &chain.root)
            .unwrap(),
        responder_expired: issue(
            CertSpec::ocsp_responder("Old Responder").validity(
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            ),
            int,
        )
        .unwrap(),
        stranger: self_signed(CertSpec::ocsp_responder("Genuine OCSP Responder")).unwrap(),
        must_staple_leaf: issue(CertSpec::leaf(&[HOST]).must_staple(), int).unwrap(),
        chain,
    }
}

fn policy_text(mode: Option<&str>, pins: &[Pin], extra: &str) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    let ocsp = mode.map_or(String::new(), |m| format!("ocsp = \"{m}\"\n"));
    format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n{ocsp}{extra}",
        pins.join(", ")
    )
}

fn config_at(pki: &Pki, mode: Option<&str>, clock: Arc<ManualClock>) -> Arc<rustls::ClientConfig> {
    let pins = [
        Pin::from_spki_der(&pki.chain.intermediate.spki_der()),
        Pin::from_spki_der(&pki.chain.leaf.spki_der()),
    ];
    let policy = Policy::from_toml_str(&policy_text(mode, &pins, ""), "ocsp-policy.toml").unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(pki.chain.root.cert.clone()).unwrap();
    Arc::new(
        PinnedConfig::builder(policy, roots)
            .clock(clock)
            .build()
            .unwrap(),
    )
}

fn config(pki: &Pki, mode: Option<&str>) -> Arc<rustls::ClientConfig> {
    config_at(pki, mode, Arc::new(ManualClock::at(now_secs())))
}

fn serve(leaf: &Issued, pki: &Pki, staple: Option<Vec<u8>>, versions: ServerVersions) -> TlsServer {
    let mut opts = ServerOptions::new(
        vec![leaf.cert.clone(), pki.chain.intermediate.cert.clone()],
        leaf.key.clone_key(),
    );
    opts.ocsp = staple;
    opts.versions = versions;
    TlsServer::start(opts).unwrap()
}

/// Handshake and one HTTP request; the reply's status line.
fn request(config: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> Result<String, std::io::Error> {
    let name = ServerName::try_from(HOST).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    Ok(reply.lines().next().unwrap_or_default().to_owned())
}

fn ocsp_failure(e: &std::io::Error) -> OcspFailure {
    OcspFailure::of_io(e)
        .unwrap_or_else(|| panic!("expected an OCSP failure, got {e:?}"))
        .clone()
}

/// What a handshake must end in.
#[derive(Debug)]
enum Want {
    Accept,
    Refuse(fn(&OcspError) -> bool),
}

/// Every kind of staple, through real handshakes, under `ocsp = "require"` and
/// `"check-if-stapled"`: (case, staple, verdict under require).
#[test]
fn stapled_responses_are_judged() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let base = || OcspResponseSpec::new(leaf, int);
    let now = OffsetDateTime::now_utc();
    type Row<'a> = (&'a str, Vec<u8>, Want);
    let rows: Vec<Row<'_>> = vec![
        (
            "good, signed by the issuer",
            base().build().unwrap(),
            Want::Accept,
        ),
        (
            "good, SHA-256 CertID",
            base().hash(OcspHash::Sha256).build().unwrap(),
            Want::Accept,
        ),
        (
            "good, no nextUpdate, 1 h old",
            base().next_update(None).build().unwrap(),
            Want::Accept,
        ),
        (
            "good, signed by the issuer, its certificate included",
            base().signed_by(int).build().unwrap(),
            Want::Accept,
        ),
        (
            "good, signed by the issuer, responderID names the delegated responder",
            base()
                .signed_by(int)
                .responder_id(&p.responder)
                .build()
                .unwrap(),
            Want::Accept,
        ),
        (
            "good, signed by the delegated responder, responderID names the issuer",
            base()
                .signed_by(&p.responder)
                .responder_id(int)
                .build()
                .unwrap(),
            Want::Accept,
        ),
        (
            "signed by a responder without the EKU, responderID names the issuer",
            base()
                .signed_by(&p.responder_no_eku)
                .responder_id(int)
                .build()
                .unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::ResponderNotAuthorised { .. })),
        ),
        (
            "good, signed by a delegated responder",
            base().signed_by(&p.responder).build().unwrap(),
            Want::Accept,
        ),
        (
            "revoked",
            base()
                .status(OcspStatus::Revoked {
                    at: now - hours(5),
                    reason: Some(1),
                })
                .build()
                .unwrap(),
            Want::Refuse(|e| {
                matches!(
                    e,
                    OcspError::Revoked {
                        reason: Some("keyCompromise"),
                        ..
                    }
                )
            }),
        ),
        (
            "unknown",
            base().status(OcspStatus::Unknown).build().unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::Unknown)),
        ),
        (
            "stale: nextUpdate passed",
            base()
                .this_update(now - hours(48))
                .next_update(Some(now - hours(1)))
                .build()
                .unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::Stale { .. })),
        ),
        (
            "no nextUpdate and older than 24 h",
            base()
                .this_update(now - hours(25))
                .next_update(None)
                .build()
                .unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::TooOld { .. })),
        ),
        (
            "thisUpdate in the future",
            base()
                .this_update(now + hours(2))
                .next_update(Some(now + hours(50)))
                .build()
                .unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::NotYetValid { .. })),
        ),
        (
            "responder without id-kp-OCSPSigning",
            base().signed_by(&p.responder_no_eku).build().unwrap(),
            Want::Refuse(
                |e| matches!(e, OcspError::ResponderNotAuthorised { reason, .. } if reason.contains("id-kp-OCSPSigning")),
            ),
        ),
        (
            "responder issued by the root, not by the leaf's issuer",
            base().signed_by(&p.responder_by_root).build().unwrap(),
            Want::Refuse(
                |e| matches!(e, OcspError::ResponderNotAuthorised { reason, .. } if reason.contains("not issued directly")),
            ),
        ),
        (
            "expired responder certificate",
            base().signed_by(&p.responder_expired).build().unwrap(),
            Want::Refuse(
                |e| matches!(e, OcspError::ResponderNotAuthorised { reason, .. } if reason.contains("expired")),
            ),
        ),
        (
            "self-signed responder copying the genuine name",
            base().signed_by(&p.stranger).build().unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::ResponderNotAuthorised { .. })),
        ),
        (
            "signed by an unrelated key, no certificate included",
            base()
                .signed_by(&p.stranger)
                .include_signer_cert(false)
                .build()
                .unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::BadSignature { included_certs: 0 })),
        ),
        (
            "forged: signature does not verify",
            base().corrupt_signature().build().unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::BadSignature { .. })),
        ),
        (
            "about another certificate (wrong serial)",
            base().serial(&[0x42, 0x42]).build().unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::NoResponseForCertificate { responses: 1, .. })),
        ),
        (
            "about a certificate of another issuer",
            OcspResponseSpec::new(leaf, &p.chain.root).build().unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::NoResponseForCertificate { .. })),
        ),
        (
            "responder error: tryLater",
            ocsp_error_response(3).unwrap(),
            Want::Refuse(|e| matches!(e, OcspError::NotSuccessful { status: "tryLater" })),
        ),
    ];

    let require = config(&p, Some("require"));
    let if_stapled = config(&p, Some("check-if-stapled"));
    let ignore = config(&p, None);
    for (case, staple, want) in &rows {
        // TLS 1.3 and 1.2 carry the staple differently (CertificateEntry extension vs
        // CertificateStatus message); a few rows go through both.
        let versions: &[ServerVersions] = if case.starts_with("good, signed") || *case == "revoked"
        {
            &[ServerVersions::Tls13Only, ServerVersions::Tls12Only]
        } else {
            &[ServerVersions::Both]
        };
        for &v in versions {
            let server = serve(leaf, &p, Some(staple.clone()), v);
            for (mode, config) in [("require", &require), ("check-if-stapled", &if_stapled)] {
                let got = request(config, server.addr());
                match (want, got) {
                    (Want::Accept, Ok(status)) => {
                        assert_eq!(status, "HTTP/1.1 200 OK", "{case} ({mode}, {v:?})")
                    }
                    (Want::Refuse(check), Err(e)) => {
                        let f = ocsp_failure(&e);
                        assert!(check(&f.error), "{case} ({mode}, {v:?}): {f}");
                        assert_eq!(f.host, HOST);
                        let wanted = if mode == "require" {
                            OcspMode::Require
                        } else {
                            OcspMode::CheckIfStapled
                        };
                        assert_eq!(f.requirement, Requirement::Rule(wanted), "{case}");
                        assert!(f.to_string().contains("ocsp-policy.toml:1"), "{f}");
                    }
                    (want, got) => panic!("{case} ({mode}, {v:?}): wanted {want:?}, got {got:?}"),
                }
            }
            // The default (ignore) does not look at the staple at all.
            assert!(request(&ignore, server.addr()).is_ok(), "{case} (ignore)");
        }
    }
}

#[test]
fn messages_say_what_was_wrong_and_when() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let at = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(); // 2026-05-28T20:26:40Z
    let config = config(&p, Some("require"));
    let revoked = OcspResponseSpec::new(leaf, int)
        .status(OcspStatus::Revoked { at, reason: None })
        .build()
        .unwrap();
    let server = serve(leaf, &p, Some(revoked), ServerVersions::Both);
    let text = ocsp_failure(&request(&config, server.addr()).unwrap_err()).to_string();
    assert!(
        text.contains("OCSP check failed for api.keypin.test: the certificate was REVOKED at 2026-05-28T20:26:40Z"),
        "{text}"
    );
    assert!(text.contains("ocsp = \"require\""), "{text}");

    let next_update = OffsetDateTime::now_utc() - hours(3);
    let stale = OcspResponseSpec::new(leaf, int)
        .this_update(next_update - hours(24))
        .next_update(Some(next_update))
        .build()
        .unwrap();
    let server = serve(leaf, &p, Some(stale), ServerVersions::Both);
    let text = ocsp_failure(&request(&config, server.addr()).unwrap_err()).to_string();
    let since = next_update.replace_nanosecond(0).unwrap();
    let since = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        since.year(),
        since.month() as u8,
        since.day(),
        since.hour(),
        since.minute(),
        since.second()
    );
    assert!(text.contains(&format!("stale since {since}")), "{text}");
    assert!(text.contains("refresh its stapled response"), "{text}");

    let impostor = OcspResponseSpec::new(leaf, int)
        .signed_by(&p.responder_no_eku)
        .build()
        .unwrap();
    let server = serve(leaf, &p, Some(impostor), ServerVersions::Both);
    let text = ocsp_failure(&request(&config, server.addr()).unwrap_err()).to_string();
    assert!(
        text.contains("signed by CN=ocsp.keypin.test, which is not authorised"),
        "{text}"
    );
}

#[test]
fn missing_staple_and_must_staple() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let ms = &p.must_staple_leaf;
    assert!(ocsp::is_must_staple(&ms.cert).unwrap());
    assert!(!ocsp::is_must_staple(&leaf.cert).unwrap());
    assert!(!ocsp::is_must_staple(&p.responder.cert).unwrap());

    let good_ms = OcspResponseSpec::new(ms, int).build().unwrap();
    let revoked_ms = OcspResponseSpec::new(ms, int)
        .status(OcspStatus::Revoked {
            at: OffsetDateTime::now_utc() - hours(1),
            reason: None,
        })
        .build()
        .unwrap();
    // (case, leaf, staple, rule mode, accepted?, requirement of the failure)
    type Row<'a> = (
        &'a str,
        &'a Issued,
        Option<Vec<u8>>,
        Option<&'a str>,
        Option<Requirement>,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "no staple, require",
            leaf,
            None,
            Some("require"),
            Some(Requirement::Rule(OcspMode::Require)),
        ),
        (
            "no staple, check-if-stapled",
            leaf,
            None,
            Some("check-if-stapled"),
            None,
        ),
        ("no staple, ignore", leaf, None, None, None),
        (
            "must-staple, no staple, ignore",
            ms,
            None,
            None,
            Some(Requirement::MustStaple),
        ),
        (
            "must-staple, no staple, check-if-stapled",
            ms,
            None,
            Some("check-if-stapled"),
            Some(Requirement::MustStaple),
        ),
        (
            "must-staple, good staple, ignore",
            ms,
            Some(good_ms),
            None,
            None,
        ),
        (
            "must-staple, revoked staple, ignore",
            ms,
            Some(revoked_ms),
            Some("ignore"),
            Some(Requirement::MustStaple),
        ),
    ];
    for (case, leaf, staple, mode, refused) in rows {
        let server = serve(leaf, &p, staple, ServerVersions::Both);
        let got = request(&config(&p, mode), server.addr());
        match (refused, got) {
            (None, Ok(status)) => assert_eq!(status, "HTTP/1.1 200 OK", "{case}"),
            (Some(req), Err(e)) => {
                let f = ocsp_failure(&e);
                assert_eq!(f.requirement, req, "{case}: {f}");
                if case.contains("no staple") {
                    assert_eq!(f.error, OcspError::NoStaple, "{case}");
                    assert!(f.to_string().contains("stapled no OCSP response"), "{f}");
                }
                if req == Requirement::MustStaple {
                    assert!(f.to_string().contains("must-staple"), "{f}");
                }
            }
            (want, got) => panic!("{case}: wanted refusal {want:?}, got {got:?}"),
        }
    }
}

/// Freshness is judged by the injected clock, not the system's.
#[test]
fn freshness_follows_the_injected_clock() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let this_update = OffsetDateTime::now_utc() - hours(1);
    let next_update = this_update + hours(24);
    let staple = OcspResponseSpec::new(leaf, int)
        .this_update(this_update)
        .next_update(Some(next_update))
        .build()
        .unwrap();
    let server = serve(leaf, &p, Some(staple), ServerVersions::Both);
    let tu = this_update.unix_timestamp() as u64;
    let nu = next_update.unix_timestamp() as u64;
    // (clock, accepted?)
    let rows: &[(u64, bool)] = &[
        (tu, true),
        (tu - ocsp::CLOCK_SKEW_SECS, true),
        (tu - ocsp::CLOCK_SKEW_SECS - 1, false),
        (nu - 1, true),
        (nu, false),
        (nu + 86_400, false),
    ];
    for &(at, ok) in rows {
        let clock = Arc::new(ManualClock::at(at));
        let got = request(&config_at(&p, Some("require"), clock), server.addr());
        assert_eq!(
            got.is_ok(),
            ok,
            "clock at {at} (thisUpdate {tu}, nextUpdate {nu}): {got:?}"
        );
        if let Err(e) = got {
            let f = ocsp_failure(&e);
            assert!(
                matches!(
                    f.error,
                    OcspError::Stale { .. } | OcspError::NotYetValid { .. }
                ),
                "{f}"
            );
        }
    }
}

/// The issuer may be the trust anchor itself (a leaf issued by the root), known only as a key.
#[test]
fn issuer_that_is_the_trust_anchor() {
    let root = self_signed(CertSpec::ca("Direct Root")).unwrap();
    let leaf = issue(CertSpec::leaf(&[HOST]), &root).unwrap();
    let responder = issue(CertSpec::ocsp_responder("Direct Root Responder"), &root).unwrap();
    let pins = [
        Pin::from_spki_der(&root.spki_der()),
        Pin::from_spki_der(&leaf.spki_der()),
    ];
    let policy =
        Policy::from_toml_str(&policy_text(Some("require"), &pins, ""), "direct.toml").unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(root.cert.clone()).unwrap();
    let config = Arc::new(PinnedConfig::builder(policy, roots).build().unwrap());
    for (case, staple, ok) in [
        (
            "by the root",
            OcspResponseSpec::new(&leaf, &root).build().unwrap(),
            true,
        ),
        (
            "by the root's responder",
            OcspResponseSpec::new(&leaf, &root)
                .signed_by(&responder)
                .build()
                .unwrap(),
            true,
        ),
        (
            "revoked",
            OcspResponseSpec::new(&leaf, &root)
                .status(OcspStatus::Revoked {
                    at: OffsetDateTime::now_utc(),
                    reason: Some(4),
                })
                .build()
                .unwrap(),
            false,
        ),
    ] {
        let mut opts = ServerOptions::new(vec![leaf.cert.clone()], leaf.key.clone_key());
        opts.ocsp = Some(staple);
        let server = TlsServer::start(opts).unwrap();
        let got = request(&config, server.addr());
        assert_eq!(got.is_ok(), ok, "{case}: {got:?}");
    }
}

/// A pin mismatch in a report-only rule lets the connection go on; a revoked certificate does
/// not.
#[test]
fn report_only_pins_do_not_soften_revocation() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let spare = Pin::from_spki_der(&p.stranger.spki_der());
    let text = policy_text(
        Some("check-if-stapled"),
        &[spare],
        "mode = \"report-only\"\n",
    );
    let policy = Policy::from_toml_str(&text, "ro.toml").unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(p.chain.root.cert.clone()).unwrap();
    let (sink, events) = keypin::events::ChannelSink::new(8);
    let config = Arc::new(
        PinnedConfig::builder(policy, roots)
            .events(Arc::new(sink))
            .build()
            .unwrap(),
    );

    let good = serve(
        leaf,
        &p,
        Some(OcspResponseSpec::new(leaf, int).build().unwrap()),
        ServerVersions::Both,
    );
    assert!(request(&config, good.addr()).is_ok());
    let revoked = OcspResponseSpec::new(leaf, int)
        .status(OcspStatus::Revoked {
            at: OffsetDateTime::now_utc(),
            reason: None,
        })
        .build()
        .unwrap();
    let revoked = serve(leaf, &p, Some(revoked), ServerVersions::Both);
    let f = ocsp_failure(&request(&config, revoked.addr()).unwrap_err());
    assert!(matches!(f.error, OcspError::Revoked { .. }), "{f}");

    // The first connection reported its pin mismatch and went on; the second one's refusal
    // is an event too.
    let seen: Vec<keypin::events::PinEvent> = events.try_iter().collect();
    assert!(
        matches!(seen.as_slice(), [
            keypin::events::PinEvent::ReportOnlyMismatch { .. },
            keypin::events::PinEvent::OcspRefused { failure },
        ] if matches!(failure.error, OcspError::Revoked { .. })),
        "{seen:?}"
    );
}

/// `verify_chain_stapled` makes the handshake's check without a handshake; `verify_chain`
/// makes none.
#[test]
fn verify_chain_stapled_matches_the_handshake() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let pins = [
        Pin::from_spki_der(&int.spki_der()),
        Pin::from_spki_der(&leaf.spki_der()),
    ];
    let policy = Policy::from_toml_str(&policy_text(Some("require"), &pins, ""), "t").unwrap();
    let mut roots = Roots::empty();
    roots.add_cert(p.chain.root.cert.clone()).unwrap();
    let verifier = PinnedConfig::builder(policy, roots).verifier();
    let name = ServerName::try_from(HOST).unwrap();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_secs()));
    let chain = [int.cert.clone()];
    let good = OcspResponseSpec::new(leaf, int).build().unwrap();
    let unknown = OcspResponseSpec::new(leaf, int)
        .status(OcspStatus::Unknown)
        .build()
        .unwrap();
    assert!(
        verifier
            .verify_chain_stapled(&leaf.cert, &chain, &name, &good, now)
            .is_ok()
    );
    let e = verifier
        .verify_chain_stapled(&leaf.cert, &chain, &name, &unknown, now)
        .unwrap_err();
    assert!(e.to_string().contains("status is unknown"), "{e}");
    let e = verifier
        .verify_chain_stapled(&leaf.cert, &chain, &name, &[], now)
        .unwrap_err();
    assert!(e.to_string().contains("stapled no OCSP response"), "{e}");
    assert!(
        verifier
            .verify_chain(&leaf.cert, &chain, &name, now)
            .is_ok()
    );
}

#[test]
fn policy_field_is_validated_with_line_and_column() {
    let pins = [
        Pin::from_spki_der(&self_signed(CertSpec::ca("a")).unwrap().spki_der()),
        Pin::from_spki_der(&self_signed(CertSpec::ca("b")).unwrap().spki_der()),
    ];
    // (value, accepted mode or None for an error)
    let rows = [
        ("ignore", Some(OcspMode::Ignore)),
        ("check-if-stapled", Some(OcspMode::CheckIfStapled)),
        ("require", Some(OcspMode::Require)),
        ("required", None),
        ("Require", None),
        ("", None),
    ];
    for (value, want) in rows {
        let text = policy_text(Some(value), &pins, "");
        match (Policy::from_toml_str(&text, "p.toml"), want) {
            (Ok(policy), Some(mode)) => {
                assert_eq!(policy.rule_for(HOST).unwrap().ocsp(), mode, "{value}")
            }
            (Err(e), None) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("p.toml:4:8: rule[0].ocsp: unknown ocsp"),
                    "{msg}"
                );
                assert!(msg.contains("check-if-stapled"), "{msg}");
            }
            (got, _) => panic!("{value}: {got:?}"),
        }
    }
    let text = policy_text(None, &pins, "");
    let policy = Policy::from_toml_str(&text, "p.toml").unwrap();
    assert_eq!(policy.rule_for(HOST).unwrap().ocsp(), OcspMode::Ignore);
    let e = Policy::from_toml_str(&format!("{text}ocsp = 1\n"), "p.toml").unwrap_err();
    assert!(e.to_string().contains("p.toml:4"), "{e}");
}

/// The parser on malformed input: every prefix, every single-bit flip, and hand-made
/// structures. Nothing panics, nothing malformed verifies.
#[test]
fn parser_refuses_malformed_input() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let good = OcspResponseSpec::new(leaf, int).build().unwrap();
    let delegated = OcspResponseSpec::new(leaf, int)
        .signed_by(&p.responder)
        .build()
        .unwrap();
    let issuer = ocsp::Issuer::from_cert(&int.cert).unwrap();
    let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_secs()));
    let check = |der: &[u8]| ocsp::check_staple(der, &leaf.cert, &issuer, now, &algs);
    assert_eq!(check(&good), Ok(()));
    assert_eq!(check(&delegated), Ok(()));
    let parsed = ocsp::parse_response(&good).unwrap();
    assert_eq!(parsed.responses().len(), 1);
    assert!(parsed.certs().is_empty());
    assert_eq!(ocsp::parse_response(&delegated).unwrap().certs().len(), 1);

    for der in [&good, &delegated] {
        for len in 0..der.len() {
            assert!(
                ocsp::parse_response(&der[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(matches!(
            ocsp::parse_response(&trailing),
            Err(OcspError::Malformed {
                part: "OCSPResponse",
                ..
            })
        ));
    }
    // A flipped bit anywhere in an issuer-signed response: refused (as malformed, as
    // another status, or because the signature no longer verifies), never accepted.
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            assert!(check(&bad).is_err(), "byte {i} ^ {bit:#x} accepted");
        }
    }

    // Hand-made structures: (bytes, what the error must be)
    type Expect = fn(&OcspError) -> bool;
    let rows: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty", vec![], |e| {
            matches!(e, OcspError::Malformed { .. })
        }),
        ("not DER", b"hello".to_vec(), |e| {
            matches!(e, OcspError::Malformed { .. })
        }),
        (
            "successful without responseBytes",
            vec![0x30, 0x03, 0x0a, 0x01, 0x00],
            |e| {
                matches!(
                    e,
                    OcspError::Malformed {
                        part: "responseBytes",
                        ..
                    }
                )
            },
        ),
        (
            "unknown status 4",
            vec![0x30, 0x03, 0x0a, 0x01, 0x04],
            |e| matches!(e, OcspError::Malformed { .. }),
        ),
        ("unauthorized", vec![0x30, 0x03, 0x0a, 0x01, 0x06], |e| {
            matches!(
                e,
                OcspError::NotSuccessful {
                    status: "unauthorized"
                }
            )
        }),
        (
            "another response type",
            // responseBytes with type 1.2.840.113549 and an empty OCTET STRING
            vec![
                0x30, 0x12, 0x0a, 0x01, 0x00, 0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x06, 0x2a, 0x86, 0x48,
                0x86, 0xf7, 0x0d, 0x04, 0x01, 0x00,
            ],
            |e| matches!(e, OcspError::UnsupportedResponseType { oid } if oid == "1.2.840.113549"),
        ),
        (
            "basic type, garbage inside",
            vec![
                0x30, 0x16, 0x0a, 0x01, 0x00, 0xa0, 0x11, 0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01,
                0x05, 0x05, 0x07, 0x30, 0x01, 0x01, 0x04, 0x02, 0x30, 0x00,
            ],
            |e| {
                matches!(
                    e,
                    OcspError::Malformed {
                        part: "BasicOCSPResponse",
                        ..
                    }
                )
            },
        ),
        ("too large", vec![0u8; ocsp::MAX_RESPONSE_LEN + 1], |e| {
            matches!(e, OcspError::Malformed { .. })
        }),
    ];
    for (case, der, expect) in rows {
        let e = ocsp::parse_response(&der).unwrap_err();
        assert!(expect(&e), "{case}: {e}");
        assert!(check(&der).is_err(), "{case}");
    }
}

/// Runs `openssl` in `dir`; stdout and stderr together.
fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` command is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed: {text}");
    text
}

/// An independent peer both ways: responses made by OpenSSL's responder are judged right by
/// keypin over a real handshake, and OpenSSL verifies the responses keypin-pki makes.
#[test]
fn interop_with_openssl_responses() {
    let p = pki();
    let (leaf, int) = (&p.chain.leaf, &p.chain.intermediate);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    write("leaf.pem", leaf.cert_pem().as_bytes());
    write("int.pem", int.cert_pem().as_bytes());
    write("int.key", int.key_pem().as_bytes());
    write("root.pem", p.chain.root.cert_pem().as_bytes());
    write("responder.pem", p.responder.cert_pem().as_bytes());
    write("responder.key", p.responder.key_pem().as_bytes());

    // OpenSSL's responder, from an index file (good, then revoked), signed by the issuer and
    // by the delegated responder; keypin judges each over a handshake.
    let serial = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").to_owned();
    let expiry = "351231235959Z";
    let revoked_at = (OffsetDateTime::now_utc() - hours(30))
        .format(time::macros::format_description!(
            "[year repr:last_two][month][day][hour][minute][second]Z"
        ))
        .unwrap();
    openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "int.pem",
            "-cert",
            "leaf.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let config = config(&p, Some("require"));
    for (case, index_line, signer, key, ok) in [
        (
            "good, by the issuer",
            format!("V\t{expiry}\t\t{serial}\tunknown\t/CN={HOST}\n"),
            "int.pem",
            "int.key",
            true,
        ),
        (
            "good, by the delegated responder",
            format!("V\t{expiry}\t\t{serial}\tunknown\t/CN={HOST}\n"),
            "responder.pem",
            "responder.key",
            true,
        ),
        (
            "revoked, by the issuer",
            format!("R\t{expiry}\t{revoked_at},keyCompromise\t{serial}\tunknown\t/CN={HOST}\n"),
            "int.pem",
            "int.key",
            false,
        ),
    ] {
        write("index.txt", index_line.as_bytes());
        openssl(
            d,
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "int.pem",
                "-rsigner",
                signer,
                "-rkey",
                key,
                "-reqin",
                "req.der",
                "-respout",
                "resp.der",
                "-ndays",
                "2",
            ],
        );
        let staple = std::fs::read(d.join("resp.der")).unwrap();
        let server = serve(leaf, &p, Some(staple), ServerVersions::Both);
        match request(&config, server.addr()) {
            Ok(status) => assert!(ok, "{case}: accepted ({status})"),
            Err(e) => {
                let f = ocsp_failure(&e);
                assert!(!ok, "{case}: refused: {f}");
                assert!(
                    matches!(
                        f.error,
                        OcspError::Revoked {
                            reason: Some("keyCompromise"),
                            ..
                        }
                    ),
                    "{case}: {f}"
                );
            }
        }
    }

    // keypin-pki's must-staple leaf, as OpenSSL reads it.
    write("must-staple.pem", p.must_staple_leaf.cert_pem().as_bytes());
    let text = openssl(d, &["x509", "-in", "must-staple.pem", "-noout", "-text"]);
    assert!(text.contains("TLS Feature"), "{text}");
    assert!(text.contains("status_request"), "{text}");

    // keypin-pki's responses, verified by OpenSSL.
    let now = OffsetDateTime::now_utc();
    for (case, der, want) in [
        (
            "good",
            OcspResponseSpec::new(leaf, int).build().unwrap(),
            "leaf.pem: good",
        ),
        (
            "good, SHA-256 CertID, delegated",
            OcspResponseSpec::new(leaf, int)
                .hash(OcspHash::Sha256)
                .signed_by(&p.responder)
                .build()
                .unwrap(),
            "leaf.pem: good",
        ),
        (
            "revoked",
            OcspResponseSpec::new(leaf, int)
                .status(OcspStatus::Revoked {
                    at: now - hours(2),
                    reason: Some(1),
                })
                .build()
                .unwrap(),
            "leaf.pem: revoked",
        ),
        (
            "unknown",
            OcspResponseSpec::new(leaf, int)
                .status(OcspStatus::Unknown)
                .build()
                .unwrap(),
            "leaf.pem: unknown",
        ),
    ] {
        write("pki-resp.der", &der);
        let hash = if case.contains("SHA-256") {
            "-sha256"
        } else {
            "-sha1"
        };
        let text = openssl(
            d,
            &[
                "ocsp",
                "-respin",
                "pki-resp.der",
                "-issuer",
                "int.pem",
                hash,
                "-cert",
                "leaf.pem",
                "-CAfile",
                "root.pem",
                "-verify_other",
                "int.pem",
                "-no_nonce",
            ],
        );
        assert!(text.contains("Response verify OK"), "{case}: {text}");
        assert!(text.contains(want), "{case}: {text}");
    }
}
