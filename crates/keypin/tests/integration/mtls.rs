//! mTLS on loopback: keypin's client presents its identity, keypin's `PinnedClientVerifier`
//! on the server validates the client chain and pins the client's key.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use keypin::{
    Error, PinnedConfig, Policy, Resumption, Roots, clock::Date, clock::ManualClock,
    identity::ClientIdentity, pin::Pin, policy::ClientIdentityRule, policy::ClientOnExpiry,
    policy::ClientPolicy, verify::ClientVerifyError, verify::PinnedClientVerifier,
};
use keypin_pki::{CertSpec, Chain, ConnectionLog, Issued, KeyAlg, TlsServer, issue, self_signed};
use rustls_pki_types::{PrivateKeyDer, ServerName, UnixTime};

const HOST: &str = "mtls.keypin.test";

fn pin_of(issued: &Issued) -> Pin {
    Pin::from_spki_der(&issued.spki_der())
}

/// The client CA and two clients: `pinned` is on the allowlist, `stranger` is not.
struct ClientPki {
    ca: Issued,
    pinned: Issued,
    stranger: Issued,
}

fn client_pki() -> ClientPki {
    let ca = self_signed(CertSpec::ca("Keypin Test Client CA")).unwrap();
    let pinned = issue(CertSpec::client("billing-service"), &ca).unwrap();
    let stranger = issue(CertSpec::client("billing-service"), &ca).unwrap();
    ClientPki {
        ca,
        pinned,
        stranger,
    }
}

fn identity(client: &Issued, ca: &Issued) -> ClientIdentity {
    ClientIdentity::new(
        vec![client.cert.clone(), ca.cert.clone()],
        client.key.clone_key(),
        "test identity",
    )
    .unwrap()
}

fn allowlist(rule: ClientIdentityRule) -> ClientPolicy {
    let spare = pin_of(&self_signed(CertSpec::ca("spare")).unwrap());
    ClientPolicy::new(
        "clients.toml",
        vec![rule, ClientIdentityRule::new("reporting", vec![spare])],
    )
    .unwrap()
}

fn verifier(policy: ClientPolicy, ca: &Issued, clock: Arc<ManualClock>) -> PinnedClientVerifier {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    PinnedClientVerifier::new(
        policy,
        Roots::empty().with_cert(ca.cert.clone()).unwrap(),
        &provider,
        clock,
    )
    .unwrap()
}

fn now_secs() -> u64 {
    UnixTime::now().as_secs()
}

fn mtls_server(chain: &Chain, verifier: PinnedClientVerifier) -> TlsServer {
    let mut opts = chain.server_options();
    opts.client_verifier = Some(Arc::new(verifier));
    TlsServer::start(opts).unwrap()
}

/// A pinned client config for `chain`'s server, with `identity` (or none).
fn client_config(chain: &Chain, identity: Option<ClientIdentity>) -> Arc<rustls::ClientConfig> {
    client_config_with(chain, identity, Resumption::PerConfig)
}

fn client_config_with(
    chain: &Chain,
    identity: Option<ClientIdentity>,
    resumption: Resumption,
) -> Arc<rustls::ClientConfig> {
    let policy = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\n",
            pin_of(&chain.intermediate),
            pin_of(&chain.leaf)
        ),
        "server-pins.toml",
    )
    .unwrap();
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let mut builder = PinnedConfig::builder(policy, roots).resumption(resumption);
    if let Some(identity) = identity {
        builder = builder.client_identity(identity);
    }
    Arc::new(builder.build().unwrap())
}

/// Handshake plus one request; returns the reply's first line, or the client's error.
fn get(config: &Arc<rustls::ClientConfig>, server: &TlsServer) -> Result<String, String> {
    let name = ServerName::try_from(HOST).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut sock = TcpStream::connect(server.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => Ok(String::from_utf8_lossy(&reply)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn server_row(server: &TlsServer) -> ConnectionLog {
    server
        .wait_for_connections(1, Duration::from_secs(5))
        .into_iter()
        .next()
        .unwrap()
}

struct Setup {
    chain: Chain,
    pki: ClientPki,
}

fn setup() -> Setup {
    Setup {
        chain: Chain::generate("Server", &[HOST], KeyAlg::EcdsaP256).unwrap(),
        pki: client_pki(),
    }
}

fn pinned_rule(pki: &ClientPki) -> ClientIdentityRule {
    ClientIdentityRule::new("billing-service", vec![pin_of(&pki.pinned)])
}

#[test]
fn pinned_client_is_accepted() {
    let s = setup();
    let clock = Arc::new(ManualClock::at(now_secs()));
    let server = mtls_server(
        &s.chain,
        verifier(allowlist(pinned_rule(&s.pki)), &s.pki.ca, clock),
    );
    let reply = get(
        &client_config(&s.chain, Some(identity(&s.pki.pinned, &s.pki.ca))),
        &server,
    );
    assert_eq!(reply.as_deref(), Ok("HTTP/1.1 200 OK"));
    let row = server_row(&server);
    assert!(row.handshake_completed && row.app_data_seen, "{row:?}");
    assert_eq!(row.alert_or_error, None);
}

#[test]
fn unpinned_key_from_the_right_ca_is_refused_with_diagnostics() {
    let s = setup();
    let clock = Arc::new(ManualClock::at(now_secs()));
    let server = mtls_server(
        &s.chain,
        verifier(allowlist(pinned_rule(&s.pki)), &s.pki.ca, clock),
    );
    let reply = get(
        &client_config(&s.chain, Some(identity(&s.pki.stranger, &s.pki.ca))),
        &server,
    );
    assert!(reply.is_err(), "{reply:?}");
    let row = server_row(&server);
    assert!(!row.app_data_seen, "{row:?}");
    let said = row.alert_or_error.unwrap();
    assert!(said.contains("no key on it is pinned"), "{said}");
    assert!(
        said.contains(&pin_of(&s.pki.stranger).to_string()),
        "{said}"
    );
    assert!(said.contains(&pin_of(&s.pki.pinned).to_string()), "{said}");
    assert!(said.contains("billing-service"), "{said}");

    // The same verdict without a handshake, as a typed failure, and as a pin event.
    let (sink, events) = keypin::events::ChannelSink::new(8);
    let v = verifier(
        allowlist(pinned_rule(&s.pki)),
        &s.pki.ca,
        Arc::new(ManualClock::at(now_secs())),
    )
    .with_events(Arc::new(sink));
    match v.verify_client_chain(&s.pki.stranger.cert, &[], UnixTime::now()) {
        Err(ClientVerifyError::PinMismatch(f)) => {
            assert_eq!(f.presented_key(), Some(pin_of(&s.pki.stranger)));
            assert_eq!(f.expected.len(), 2);
            assert_eq!(f.paths[0].len(), 2, "leaf and anchor: {f}");
            assert!(f.expired_identity.is_none());
        }
        other => panic!("{other:?}"),
    }
    match events.try_recv() {
        Ok(keypin::events::PinEvent::ClientRefused { failure }) => {
            assert_eq!(failure.presented_key(), Some(pin_of(&s.pki.stranger)));
        }
        other => panic!("{other:?}"),
    }
    let m = v
        .verify_client_chain(&s.pki.pinned.cert, &[], UnixTime::now())
        .unwrap();
    assert_eq!(m.identity, "billing-service");
    assert!(!m.expired);
    assert!(
        events.try_recv().is_err(),
        "no event for an accepted client"
    );
}

#[test]
fn client_from_another_ca_is_refused() {
    let s = setup();
    // A rogue CA copying the real CA's name (so the signature check catches it), and one
    // with a name of its own (no issuer found); each issues a certificate for the *pinned*
    // key: a pin never replaces chain validation.
    for (rogue_name, error) in [
        ("Keypin Test Client CA", "BadSignature"),
        ("Other Client CA", "UnknownIssuer"),
    ] {
        let rogue_ca = self_signed(CertSpec::ca(rogue_name)).unwrap();
        let forged = issue(
            CertSpec::client("billing-service").key(&s.pki.pinned),
            &rogue_ca,
        )
        .unwrap();
        let clock = Arc::new(ManualClock::at(now_secs()));
        let server = mtls_server(
            &s.chain,
            verifier(allowlist(pinned_rule(&s.pki)), &s.pki.ca, clock),
        );
        let reply = get(
            &client_config(&s.chain, Some(identity(&forged, &rogue_ca))),
            &server,
        );
        assert!(reply.is_err(), "{reply:?}");
        let row = server_row(&server);
        assert!(!row.app_data_seen, "{row:?}");
        let said = row.alert_or_error.unwrap();
        assert!(said.contains(error), "{rogue_name}: {said}");
    }
}

#[test]
fn server_certificate_is_not_a_client_certificate() {
    // A certificate from the right CA with only the serverAuth usage, on a pinned key.
    let s = setup();
    let server_cert = issue(CertSpec::leaf(&["billing.keypin.test"]), &s.pki.ca).unwrap();
    let rule = ClientIdentityRule::new("billing-service", vec![pin_of(&server_cert)]);
    let v = verifier(
        allowlist(rule),
        &s.pki.ca,
        Arc::new(ManualClock::at(now_secs())),
    );
    let e = v
        .verify_client_chain(&server_cert.cert, &[], UnixTime::now())
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ClientVerifyError::Certificate(rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose
            ))
        ),
        "{e:?}"
    );
}

#[test]
fn no_client_certificate_is_refused() {
    let s = setup();
    let clock = Arc::new(ManualClock::at(now_secs()));
    let server = mtls_server(
        &s.chain,
        verifier(allowlist(pinned_rule(&s.pki)), &s.pki.ca, clock),
    );
    let reply = get(&client_config(&s.chain, None), &server);
    assert!(reply.is_err(), "{reply:?}");
    let row = server_row(&server);
    assert!(!row.app_data_seen, "{row:?}");
    let said = row.alert_or_error.unwrap();
    assert!(
        said.contains("NoCertificatesPresented") || said.contains("certificate"),
        "{said}"
    );
}

#[test]
fn expired_allowlist_refuses_by_default_and_says_so() {
    let s = setup();
    // Today is the last day of the pins (the certificates are valid for a year).
    let expires = Date::of_secs(now_secs() as i64);
    let last_second = (expires.start_secs() + 86_399) as u64;
    let clock = Arc::new(ManualClock::at(last_second));
    let rule = pinned_rule(&s.pki).expires(expires);
    let server = mtls_server(
        &s.chain,
        verifier(allowlist(rule.clone()), &s.pki.ca, Arc::clone(&clock)),
    );
    // Full handshakes: rustls does not verify the client again on a resumed session (see
    // the client_verifier module docs).
    let config = client_config_with(
        &s.chain,
        Some(identity(&s.pki.pinned, &s.pki.ca)),
        Resumption::Disabled,
    );

    // Through the whole expiry date: accepted.
    assert_eq!(get(&config, &server).as_deref(), Ok("HTTP/1.1 200 OK"));
    // The day after: refused, and the refusal names the expired identity.
    clock.set(last_second + 1);
    assert!(get(&config, &server).is_err());
    let rows = server.wait_for_connections(2, Duration::from_secs(5));
    let said = rows[1].alert_or_error.clone().unwrap();
    assert!(
        said.contains(&format!(
            "\"billing-service\", whose pins EXPIRED after {expires}"
        )),
        "{said}"
    );
    assert!(!rows[1].app_data_seen);

    // With on_expiry = accept-and-report the pinned key is still accepted (and flagged), but
    // an unpinned key still is not.
    let (sink, events) = keypin::events::ChannelSink::new(8);
    let v = verifier(
        allowlist(rule.on_expiry(ClientOnExpiry::AcceptAndReport)),
        &s.pki.ca,
        Arc::new(ManualClock::at(last_second + 1)),
    )
    .with_events(Arc::new(sink));
    let at = UnixTime::since_unix_epoch(Duration::from_secs(last_second + 1));
    let m = v.verify_client_chain(&s.pki.pinned.cert, &[], at).unwrap();
    assert!(m.expired);
    // Never silent: every such acceptance is reported.
    match events.try_recv() {
        Ok(keypin::events::PinEvent::ClientPinsExpired {
            identity,
            expires: e,
            ..
        }) => {
            assert_eq!(identity, "billing-service");
            assert_eq!(e, expires.to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        v.verify_client_chain(&s.pki.stranger.cert, &[], at)
            .is_err()
    );
}

#[test]
fn client_ca_pin_admits_every_client_of_that_ca_on_the_path() {
    let s = setup();
    let intermediate = issue(CertSpec::ca("Keypin Test Client Issuing CA"), &s.pki.ca).unwrap();
    let client = issue(CertSpec::client("batch-job"), &intermediate).unwrap();
    let rule = ClientIdentityRule::new("batch-jobs", vec![pin_of(&intermediate)]);
    let v = verifier(
        allowlist(rule),
        &s.pki.ca,
        Arc::new(ManualClock::at(now_secs())),
    );
    let m = v
        .verify_client_chain(
            &client.cert,
            std::slice::from_ref(&intermediate.cert),
            UnixTime::now(),
        )
        .unwrap();
    assert_eq!(m.identity, "batch-jobs");
    // The pinned intermediate merely sent along, off the verified path, does not count.
    let direct = issue(CertSpec::client("batch-job"), &s.pki.ca).unwrap();
    assert!(
        v.verify_client_chain(
            &direct.cert,
            std::slice::from_ref(&intermediate.cert),
            UnixTime::now()
        )
        .is_err()
    );
}

/// (policy text, words expected in the error)
#[test]
fn client_policy_refusals_name_line_and_fix() {
    let p1 = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
    let rows = [
        ("".to_string(), "lists no identity"),
        (
            format!(
                "[[client]]\nname = \"a\"\npins = [\"{p1}\"]\n[[client]]\nname = \"a\"\npins = []\n"
            ),
            "clients.toml:4: client[1].name: the name \"a\" is also used by client[0]",
        ),
        (
            format!(
                "[[client]]\nname = \"a\"\npins = [\"{p1}\"]\n[[client]]\nname = \"b\"\npins = [\"{p1}\"]\n"
            ),
            "would be ambiguous",
        ),
        (
            "[[client]]\nname = \"a\"\npins = [\"sha256/nope\"]\n".to_string(),
            "clients.toml:3: client[0].pins[0]: invalid pin",
        ),
        (
            format!("[[client]]\nname = \"a\"\npins = [\"{p1}\"]\nexpires = \"30/06/2027\"\n"),
            "clients.toml:4: client[0].expires",
        ),
        (
            format!("[[client]]\nname = \"a\"\npins = [\"{p1}\"]\non_expiry = \"ignore\"\n"),
            "unknown on_expiry \"ignore\"",
        ),
        (
            format!("[[client]]\nname = \"a\"\npins = [\"{p1}\"]\ncolour = 1\n"),
            "unknown field `colour`",
        ),
    ];
    for (text, words) in rows {
        let e = ClientPolicy::from_toml_str(&text, "clients.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(words), "{text}\n---\n{msg}");
        assert!(msg.contains("hint:"), "{msg}");
    }
    let ok = ClientPolicy::from_toml_str(
        &format!("[[client]]\nname = \"a\"\npins = [\"{p1}\"]\nexpires = \"2030-01-01\"\non_expiry = \"accept-and-report\"\n"),
        "clients.toml",
    )
    .unwrap();
    assert_eq!(
        ok.identities()[0].on_expiry_setting(),
        ClientOnExpiry::AcceptAndReport
    );
}

#[test]
fn verifier_without_roots_is_refused() {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let policy = allowlist(ClientIdentityRule::new(
        "a",
        vec![pin_of(&client_pki().pinned)],
    ));
    let e = PinnedClientVerifier::new(
        policy,
        Roots::empty(),
        &provider,
        Arc::new(ManualClock::at(0)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no CA roots"), "{e}");
}

// --- Loading identities -------------------------------------------------------------------

/// The inner key of a PKCS#8 document (PKCS#1 for RSA, SEC1 for EC), with a curve parameter
/// added to a SEC1 key that lacks one.
fn unwrap_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    fn tlv(d: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = d[0];
        let (len, hdr) = if d[1] < 0x80 {
            (d[1] as usize, 2)
        } else {
            let n = (d[1] & 0x7f) as usize;
            let mut l = 0usize;
            for b in &d[2..2 + n] {
                l = (l << 8) | *b as usize;
            }
            (l, 2 + n)
        };
        (tag, &d[hdr..hdr + len], &d[hdr + len..])
    }
    let (_, body, _) = tlv(pkcs8);
    let (_, _, rest) = tlv(body); // version
    let (_, alg, rest) = tlv(rest); // AlgorithmIdentifier
    let (_, inner, _) = tlv(rest); // privateKey OCTET STRING
    let (_, _, params) = tlv(alg); // algorithm OID; params follow
    let (seq_tag, ec_body, _) = tlv(inner);
    let (_, _, after_version) = tlv(ec_body);
    if params.first() == Some(&0x06) && seq_tag == 0x30 {
        // EC: ECPrivateKey { version, privateKey, [0] parameters?, [1] publicKey? }
        let (_, _, after_key) = tlv(after_version);
        if after_key.first() != Some(&0xa0) {
            let key_len = ec_body.len() - after_key.len();
            let mut body = ec_body[..key_len].to_vec();
            body.push(0xa0);
            body.push(params.len() as u8);
            body.extend_from_slice(params);
            body.extend_from_slice(after_key);
            let mut out = vec![0x30];
            if body.len() < 0x80 {
                out.push(body.len() as u8);
            } else {
                out.extend_from_slice(&[0x81, body.len() as u8]);
            }
            out.extend_from_slice(&body);
            return out;
        }
    }
    inner.to_vec()
}

fn pem(tag: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {tag}-----\n{}\n-----END {tag}-----\n",
        lines.join("\n")
    )
}

fn pkcs8_of(issued: &Issued) -> Vec<u8> {
    match &issued.key {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn identities_load_from_pem_and_der_in_every_key_format() {
    let dir = tempfile::tempdir().unwrap();
    let ca = self_signed(CertSpec::ca("Loader CA")).unwrap();
    let ec = issue(CertSpec::client("ec-client"), &ca).unwrap();
    let rsa = issue(CertSpec::client("rsa-client").key_alg(KeyAlg::Rsa2048), &ca).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let chain_pem = format!("{}{}", ec.cert_pem(), ca.cert_pem());
    let cases: Vec<(&str, std::path::PathBuf, std::path::PathBuf, &Issued, usize)> = vec![
        (
            "PEM chain + PKCS#8 PEM",
            write("ec.crt", chain_pem.as_bytes()),
            write("ec.key", ec.key_pem().as_bytes()),
            &ec,
            2,
        ),
        (
            "DER cert + PKCS#8 DER",
            write("ec.der", ec.cert.as_ref()),
            write("ec.p8", &pkcs8_of(&ec)),
            &ec,
            1,
        ),
        (
            "SEC1 PEM",
            write("ec2.crt", ec.cert_pem().as_bytes()),
            write(
                "ec.sec1.pem",
                pem("EC PRIVATE KEY", &unwrap_pkcs8(&pkcs8_of(&ec))).as_bytes(),
            ),
            &ec,
            1,
        ),
        (
            "SEC1 DER",
            write("ec3.crt", ec.cert_pem().as_bytes()),
            write("ec.sec1.der", &unwrap_pkcs8(&pkcs8_of(&ec))),
            &ec,
            1,
        ),
        (
            "PKCS#1 PEM",
            write("rsa.crt", rsa.cert_pem().as_bytes()),
            write(
                "rsa.pkcs1.pem",
                pem("RSA PRIVATE KEY", &unwrap_pkcs8(&pkcs8_of(&rsa))).as_bytes(),
            ),
            &rsa,
            1,
        ),
        (
            "PKCS#1 DER",
            write("rsa.der", rsa.cert.as_ref()),
            write("rsa.pkcs1.der", &unwrap_pkcs8(&pkcs8_of(&rsa))),
            &rsa,
            1,
        ),
    ];
    for (what, cert, key, issued, n) in cases {
        let id = ClientIdentity::from_files(&cert, &key).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(id.chain().len(), n, "{what}");
        assert_eq!(id.spki_pin().unwrap(), pin_of(issued), "{what}");
    }
    // One file holding both.
    let both = write(
        "both.pem",
        format!("{}{}", ec.cert_pem(), ec.key_pem()).as_bytes(),
    );
    assert_eq!(
        ClientIdentity::from_files(&both, &both)
            .unwrap()
            .spki_pin()
            .unwrap(),
        pin_of(&ec)
    );
}

#[test]
fn bad_identity_files_are_refused_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = self_signed(CertSpec::ca("Loader CA")).unwrap();
    let a = issue(CertSpec::client("a"), &ca).unwrap();
    let b = issue(CertSpec::client("b"), &ca).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let a_crt = write("a.crt", a.cert_pem().as_bytes());
    let a_key = write("a.key", a.key_pem().as_bytes());
    let b_key = write("b.key", b.key_pem().as_bytes());
    let rows: Vec<(std::path::PathBuf, std::path::PathBuf, &str)> = vec![
        (a_crt.clone(), b_key.clone(), "the private key does not match the certificate"),
        (a_key.clone(), a_key.clone(), "no CERTIFICATE block in the file (found only: PrivateKey)"),
        (a_crt.clone(), a_crt.clone(), "no private key in the file"),
        (write("junk.crt", b"hello"), a_key.clone(), "neither PEM"),
        (a_crt.clone(), write("junk.key", b"\x30\x03\x02\x01\x05"), "not a PEM file and not a DER private key"),
        (
            write("enc.crt", a.cert_pem().as_bytes()),
            write("enc.key", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
            "decrypt it first",
        ),
        (
            write("cut.crt", a.cert_pem().lines().take(3).collect::<Vec<_>>().join("\n").as_bytes()),
            a_key.clone(),
            "invalid PEM",
        ),
        (dir.path().join("missing.crt"), a_key.clone(), "cannot read"),
    ];
    for (cert, key, words) in rows {
        let e = ClientIdentity::from_files(&cert, &key).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(words), "{}: {msg}", cert.display());
        let file = cert.file_name().unwrap().to_str().unwrap();
        let key_file = key.file_name().unwrap().to_str().unwrap();
        assert!(msg.contains(file) || msg.contains(key_file), "{msg}");
        if words.contains("does not match") {
            assert!(matches!(e, Error::Identity(_)));
        }
    }
    // A chain with the CA first (leaf not first) is caught as a mismatch too.
    let e = ClientIdentity::new(
        vec![ca.cert.clone(), a.cert.clone()],
        a.key.clone_key(),
        "wrong-order.pem",
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong-order.pem"), "{e}");
}
