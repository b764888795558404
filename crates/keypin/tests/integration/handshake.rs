//! Real TLS handshakes on loopback against chains generated for each test: what a pinned
//! client accepts and refuses, and what it says and reports.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use keypin::{
    PinnedConfig, Policy, Resumption, Roots, events::ChannelSink, events::PinEvent, pin::Pin,
    policy::ReportOnlyReason, verify::PinFailure, verify::VerifyError,
};
use keypin_pki::{CertSpec, Chain, Issued, KeyAlg, ServerOptions, TlsServer, issue, self_signed};
use rustls_pki_types::{CertificateDer, ServerName};

pub(super) const HOST: &str = "api.keypin.test";

pub(super) fn pin_of(issued: &Issued) -> Pin {
    Pin::from_spki_der(&issued.spki_der())
}

/// A pin nobody has (a spare key that is not deployed).
pub(super) fn spare_pin() -> Pin {
    pin_of(&self_signed(CertSpec::ca("Spare key")).unwrap())
}

pub(super) fn policy(host: &str, pins: &[Pin], extra: &str) -> Policy {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        "[[rule]]\nhosts = [\"{host}\"]\npins = [{}]\n{extra}\n",
        pins.join(", ")
    );
    Policy::from_toml_str(&text, "test-policy.toml").unwrap()
}

pub(super) fn roots(certs: &[&Issued]) -> Roots {
    let mut r = Roots::empty();
    for c in certs {
        r.add_cert(c.cert.clone()).unwrap();
    }
    r
}

pub(super) struct Client {
    pub(super) config: Arc<rustls::ClientConfig>,
    pub(super) events: Receiver<PinEvent>,
}

pub(super) fn client(policy: Policy, roots: Roots) -> Client {
    let (sink, events) = ChannelSink::new(64);
    let config = PinnedConfig::builder(policy, roots)
        .events(Arc::new(sink))
        .build()
        .unwrap();
    Client {
        config: Arc::new(config),
        events,
    }
}

pub(super) fn serve(chain: Vec<CertificateDer<'static>>, key: &Issued) -> TlsServer {
    TlsServer::start(ServerOptions::new(chain, key.key.clone_key())).unwrap()
}

#[derive(Debug)]
pub(super) struct Outcome {
    reply: String,
    resumed: bool,
}

/// Handshake and one HTTP request. Err carries the io error (with the rustls error inside).
pub(super) fn request(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    host: &str,
) -> Result<Outcome, std::io::Error> {
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    Ok(Outcome {
        reply: String::from_utf8_lossy(&reply).into_owned(),
        resumed,
    })
}

pub(super) fn pin_failure(e: &std::io::Error) -> PinFailure {
    VerifyError::pin_failure_of_io(e)
        .unwrap_or_else(|| panic!("expected a pin failure, got {e:?}"))
        .clone()
}

fn cert_error(e: &std::io::Error) -> rustls::CertificateError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => c.clone(),
        other => panic!("expected a certificate error, got {other:?} ({e})"),
    }
}

pub(super) fn genuine(alg: KeyAlg) -> Chain {
    Chain::generate("Genuine", &[HOST], alg).unwrap()
}

#[test]
fn pin_on_leaf_intermediate_or_root_accepts() {
    for alg in [KeyAlg::EcdsaP256, KeyAlg::Rsa2048] {
        let chain = genuine(alg);
        let server = serve(chain.served(), &chain.leaf);
        for (what, pinned) in [
            ("leaf", &chain.leaf),
            ("intermediate", &chain.intermediate),
            ("root", &chain.root),
        ] {
            let c = client(
                policy(HOST, &[pin_of(pinned), spare_pin()], ""),
                roots(&[&chain.root]),
            );
            let out = request(&c.config, server.addr(), HOST)
                .unwrap_or_else(|e| panic!("{alg:?} pinned {what}: {e}"));
            assert!(out.reply.contains("200 OK"), "{what}: {}", out.reply);
            assert!(c.events.try_recv().is_err(), "no event on success");
        }
        // The server saw application data on each of the three connections.
        assert_eq!(
            server
                .connections()
                .iter()
                .filter(|l| l.app_data_seen)
                .count(),
            3
        );
    }
}

#[test]
fn backup_pin_alone_accepts() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    // The primary pin is a retired key; only the backup is on the chain.
    let c = client(
        policy(HOST, &[spare_pin(), pin_of(&chain.intermediate)], ""),
        roots(&[&chain.root]),
    );
    request(&c.config, server.addr(), HOST).unwrap();
}

#[test]
fn certificate_pin_accepts() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let cert_pin = Pin::from_cert_der(chain.leaf.cert.as_ref());
    let c = client(
        policy(HOST, &[cert_pin, spare_pin()], ""),
        roots(&[&chain.root]),
    );
    request(&c.config, server.addr(), HOST).unwrap();
}

#[test]
fn trusted_rogue_ca_is_refused_with_diagnostics() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let rogue_root = self_signed(CertSpec::ca("Rogue Inspection CA")).unwrap();
    let forged = issue(CertSpec::leaf(&[HOST]), &rogue_root).unwrap();
    let server = serve(vec![forged.cert.clone()], &forged);
    let expected = [pin_of(&chain.intermediate), spare_pin()];
    let c = client(
        policy(HOST, &expected, ""),
        roots(&[&chain.root, &rogue_root]),
    );

    let err = request(&c.config, server.addr(), HOST).unwrap_err();
    let failure = pin_failure(&err);
    assert_eq!(failure.host, HOST);
    assert_eq!(failure.expected, expected);
    let path = &failure.paths[0];
    assert_eq!(path.len(), 2, "leaf and the rogue anchor");
    assert_eq!(path[0].spki_pin, pin_of(&forged));
    assert_eq!(path[1].spki_pin, pin_of(&rogue_root));
    let msg = failure.to_string();
    for needle in [
        HOST,
        "connection refused",
        "CN=Rogue Inspection CA",
        &pin_of(&forged).to_string(),
        &expected[0].to_string(),
        &expected[1].to_string(),
        "test-policy.toml:1",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
    }
    // The hook heard about it, and the attacker got no application data.
    assert!(matches!(c.events.try_recv(), Ok(PinEvent::Refused { .. })));
    assert!(server.connections().iter().all(|l| !l.app_data_seen));
}

#[test]
fn pin_stuffing_off_the_verified_path_is_refused() {
    // CVE-2016-2402: a rogue chain with the genuine pinned intermediate appended.
    let chain = genuine(KeyAlg::EcdsaP256);
    let rogue_root = self_signed(CertSpec::ca("Rogue CA")).unwrap();
    let forged = issue(CertSpec::leaf(&[HOST]), &rogue_root).unwrap();
    let stuffed = vec![
        forged.cert.clone(),
        chain.intermediate.cert.clone(),
        chain.root.cert.clone(),
    ];
    let server = serve(stuffed, &forged);
    let c = client(
        policy(
            HOST,
            &[pin_of(&chain.intermediate), pin_of(&chain.root)],
            "",
        ),
        roots(&[&chain.root, &rogue_root]),
    );
    let err = request(&c.config, server.addr(), HOST).unwrap_err();
    let failure = pin_failure(&err);
    // The diagnostic shows the verified path, which does not contain the stuffed certificate.
    assert!(
        failure
            .paths
            .iter()
            .flatten()
            .all(|e| e.spki_pin != pin_of(&chain.intermediate))
    );
}

/// One issuing CA key certified by two roots (a cross-sign), and a leaf it issued for `HOST`.
pub(super) struct CrossSigned {
    pub(super) root_a: Issued,
    pub(super) root_b: Issued,
    pub(super) inter_a: Issued,
    pub(super) inter_b: Issued,
    pub(super) leaf: Issued,
}

pub(super) fn cross_signed() -> CrossSigned {
    let root_a = self_signed(CertSpec::ca("Root A")).unwrap();
    let root_b = self_signed(CertSpec::ca("Root B")).unwrap();
    let inter_a = issue(CertSpec::ca("Shared Issuing CA"), &root_a).unwrap();
    let inter_b = issue(CertSpec::reissue(&inter_a), &root_b).unwrap();
    let leaf = issue(CertSpec::leaf(&[HOST]), &inter_a).unwrap();
    CrossSigned {
        root_a,
        root_b,
        inter_a,
        inter_b,
        leaf,
    }
}

#[test]
fn cross_signed_path_carrying_the_pin_is_found() {
    // The issuing CA's key is certified twice: by root A and by root B (cross-sign).
    // Only root B is pinned; the server sends the A-signed intermediate first.
    let CrossSigned {
        root_a,
        root_b,
        inter_a,
        inter_b,
        leaf,
    } = cross_signed();
    assert_eq!(inter_a.spki_der(), inter_b.spki_der());
    let pins = [pin_of(&root_b), spare_pin()];

    let both = serve(
        vec![
            leaf.cert.clone(),
            inter_a.cert.clone(),
            inter_b.cert.clone(),
        ],
        &leaf,
    );
    let c = client(policy(HOST, &pins, ""), roots(&[&root_a, &root_b]));
    request(&c.config, both.addr(), HOST).expect("the B path carries the pin");

    // Without the B-signed intermediate, the only valid path (via A) has no pin.
    let only_a = serve(vec![leaf.cert.clone(), inter_a.cert.clone()], &leaf);
    let c = client(policy(HOST, &pins, ""), roots(&[&root_a, &root_b]));
    let err = request(&c.config, only_a.addr(), HOST).unwrap_err();
    assert_eq!(pin_failure(&err).paths[0][2].subject, "CN=Root A");
}

#[test]
fn expired_pin_set_reports_loudly_instead_of_enforcing() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let rogue_root = self_signed(CertSpec::ca("Rogue CA")).unwrap();
    let forged = issue(CertSpec::leaf(&[HOST]), &rogue_root).unwrap();
    let server = serve(vec![forged.cert.clone()], &forged);
    let pins = [pin_of(&chain.intermediate), spare_pin()];

    // Default on_expiry: report-only, with a loud event on every connection.
    let c = client(
        policy(HOST, &pins, "expires = \"2020-01-01\""),
        roots(&[&chain.root, &rogue_root]),
    );
    request(&c.config, server.addr(), HOST).expect("expired pins only report");
    let events: Vec<PinEvent> = c.events.try_iter().collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PinEvent::PinsExpired { expires, .. } if expires == "2020-01-01")),
        "{events:?}"
    );
    let mismatch = events
        .iter()
        .find_map(|e| match e {
            PinEvent::ReportOnlyMismatch { reason, failure } => Some((reason, failure)),
            _ => None,
        })
        .expect("a report-only mismatch event");
    assert!(matches!(mismatch.0, ReportOnlyReason::Expired { .. }));
    assert!(mismatch.1.to_string().contains("EXPIRED after 2020-01-01"));

    // on_expiry = "enforce" keeps refusing.
    let c = client(
        policy(
            HOST,
            &pins,
            "expires = \"2020-01-01\"\non_expiry = \"enforce\"",
        ),
        roots(&[&chain.root, &rogue_root]),
    );
    pin_failure(&request(&c.config, server.addr(), HOST).unwrap_err());
}

#[test]
fn report_only_rule_lets_mismatch_through_and_reports() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let rogue_root = self_signed(CertSpec::ca("Rogue CA")).unwrap();
    let forged = issue(CertSpec::leaf(&[HOST]), &rogue_root).unwrap();
    let server = serve(vec![forged.cert.clone()], &forged);
    let c = client(
        policy(
            HOST,
            &[pin_of(&chain.intermediate)],
            "mode = \"report-only\"",
        ),
        roots(&[&chain.root, &rogue_root]),
    );
    request(&c.config, server.addr(), HOST).unwrap();
    assert!(matches!(
        c.events.try_recv(),
        Ok(PinEvent::ReportOnlyMismatch {
            reason: ReportOnlyReason::Configured,
            ..
        })
    ));
}

#[test]
fn report_only_still_requires_a_valid_chain() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let untrusted = self_signed(CertSpec::ca("Untrusted CA")).unwrap();
    let forged = issue(CertSpec::leaf(&[HOST]), &untrusted).unwrap();
    let server = serve(vec![forged.cert.clone()], &forged);
    let c = client(
        policy(
            HOST,
            &[pin_of(&chain.intermediate)],
            "mode = \"report-only\"",
        ),
        roots(&[&chain.root]),
    );
    let err = request(&c.config, server.addr(), HOST).unwrap_err();
    assert_eq!(cert_error(&err), rustls::CertificateError::UnknownIssuer);
}

#[test]
fn host_without_rule_gets_plain_validation() {
    let chain = Chain::generate("Other", &["other.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let server = serve(chain.served(), &chain.leaf);
    // The policy pins only HOST, to a key this server does not have.
    let c = client(
        policy(HOST, &[spare_pin(), spare_pin()], ""),
        roots(&[&chain.root]),
    );
    request(&c.config, server.addr(), "other.keypin.test").expect("unpinned host, valid chain");
    // ... but plain validation still applies to it.
    let c = client(policy(HOST, &[spare_pin(), spare_pin()], ""), roots(&[]));
    let err = request(&c.config, server.addr(), "other.keypin.test").unwrap_err();
    assert_eq!(cert_error(&err), rustls::CertificateError::UnknownIssuer);
}

/// The genuine leaf key in a certificate that must not pass: a pin never replaces the name
/// check or the validity dates.
#[test]
fn pinned_key_in_a_bad_leaf_is_refused() {
    use rustls::CertificateError as E;
    let chain = genuine(KeyAlg::EcdsaP256);
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    type Check = fn(&E) -> bool;
    let rows: [(&str, CertSpec, Check); 3] = [
        (
            "issued for another host",
            CertSpec::leaf(&["evil.keypin.test"]),
            |e| matches!(e, E::NotValidForNameContext { .. }),
        ),
        (
            "expired",
            CertSpec::leaf(&[HOST]).validity(now - 30 * day, now - day),
            |e| matches!(e, E::ExpiredContext { .. }),
        ),
        (
            "not yet valid",
            CertSpec::leaf(&[HOST]).validity(now + day, now + 30 * day),
            |e| matches!(e, E::NotValidYetContext { .. }),
        ),
    ];
    for (what, spec, expected) in rows {
        let bad = issue(spec.key(&chain.leaf), &chain.intermediate).unwrap();
        let server = serve(
            vec![bad.cert.clone(), chain.intermediate.cert.clone()],
            &bad,
        );
        let c = client(
            policy(HOST, &[pin_of(&chain.leaf), spare_pin()], ""),
            roots(&[&chain.root]),
        );
        let err = request(&c.config, server.addr(), HOST).unwrap_err();
        let got = cert_error(&err);
        assert!(expected(&got), "{what}: {got:?}");
    }
}

#[test]
fn rule_trust_anchors_serve_a_private_pki() {
    let private = Chain::generate("Private", &[HOST], KeyAlg::EcdsaP384).unwrap();
    let server = serve(private.served(), &private.leaf);
    let extra = format!("trust_anchors = ['''{}''']", private.root.cert_pem());
    let c = client(
        policy(HOST, &[pin_of(&private.root), spare_pin()], &extra),
        Roots::empty(),
    );
    request(&c.config, server.addr(), HOST).expect("the rule's own anchor validates the chain");
    // Certificate pins match the rule's anchor too.
    let cert_pin = Pin::from_cert_der(private.root.cert.as_ref());
    let c = client(
        policy(HOST, &[cert_pin, spare_pin()], &extra),
        Roots::empty(),
    );
    request(&c.config, server.addr(), HOST).expect("certificate pin on the anchor");
}

#[test]
fn ip_address_rules() {
    let leaf_spec = CertSpec::leaf(&[]).ip_sans(&["127.0.0.1".parse().unwrap()]);
    let root = self_signed(CertSpec::ca("IP Root")).unwrap();
    let leaf = issue(leaf_spec, &root).unwrap();
    let server = serve(vec![leaf.cert.clone()], &leaf);
    let c = client(
        policy("127.0.0.1", &[pin_of(&leaf), spare_pin()], ""),
        roots(&[&root]),
    );
    request(&c.config, server.addr(), "127.0.0.1").unwrap();
    let c = client(
        policy("127.0.0.1", &[spare_pin(), pin_of(&root)], ""),
        roots(&[&root]),
    );
    request(&c.config, server.addr(), "127.0.0.1").unwrap();
    let c = client(
        policy("127.0.0.1", &[spare_pin(), spare_pin()], ""),
        roots(&[&root]),
    );
    pin_failure(&request(&c.config, server.addr(), "127.0.0.1").unwrap_err());
}

/// A connection named by the IPv4-mapped IPv6 spelling of a pinned IPv4 address is the same
/// host: the rule is enforced, whichever side uses which spelling.
#[test]
fn ipv4_mapped_ipv6_name_does_not_escape_an_ipv4_rule() {
    let sans = [
        "127.0.0.1".parse().unwrap(),
        "::ffff:127.0.0.1".parse().unwrap(),
    ];
    let root = self_signed(CertSpec::ca("IP Root")).unwrap();
    let leaf = issue(CertSpec::leaf(&[]).ip_sans(&sans), &root).unwrap();
    let server = serve(vec![leaf.cert.clone()], &leaf);
    // (rule pattern, connection name)
    let rows = [
        ("127.0.0.1", "::ffff:127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
    ];
    for (pattern, name) in rows {
        let wrong = client(
            policy(pattern, &[spare_pin(), spare_pin()], ""),
            roots(&[&root]),
        );
        let err = request(&wrong.config, server.addr(), name)
            .map(|o| o.reply)
            .expect_err(&format!("rule {pattern} must be enforced for {name}"));
        pin_failure(&err);
        let right = client(
            policy(pattern, &[pin_of(&leaf), spare_pin()], ""),
            roots(&[&root]),
        );
        request(&right.config, server.addr(), name).unwrap();
    }
}

#[test]
fn a_new_policy_never_resumes_a_session_verified_under_the_old_one() {
    let chain = genuine(KeyAlg::EcdsaP256);
    let server = serve(chain.served(), &chain.leaf);
    let good = client(
        policy(HOST, &[pin_of(&chain.intermediate), spare_pin()], ""),
        roots(&[&chain.root]),
    );
    let first = request(&good.config, server.addr(), HOST).unwrap();
    assert!(!first.resumed);
    let second = request(&good.config, server.addr(), HOST).unwrap();
    assert!(second.resumed, "same config, same policy: resumption works");

    // New pins that the server no longer satisfies: a new config, a fresh session cache.
    let rotated = client(
        policy(HOST, &[spare_pin(), spare_pin()], ""),
        roots(&[&chain.root]),
    );
    let err = request(&rotated.config, server.addr(), HOST).unwrap_err();
    pin_failure(&err);

    // Resumption can be switched off entirely.
    let (sink, _rx) = ChannelSink::new(1);
    let config = Arc::new(
        PinnedConfig::builder(
            policy(HOST, &[pin_of(&chain.intermediate), spare_pin()], ""),
            roots(&[&chain.root]),
        )
        .events(Arc::new(sink))
        .resumption(Resumption::Disabled)
        .build()
        .unwrap(),
    );
    request(&config, server.addr(), HOST).unwrap();
    assert!(!request(&config, server.addr(), HOST).unwrap().resumed);
}
