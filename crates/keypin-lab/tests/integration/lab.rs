//! The lab judges keypin's own client, and catches the classic pinning mistakes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keypin::pin::Pin;
use keypin_lab::{Attempt, Client, Error, Lab, Outcome, Report, RunOptions, Target, https_get};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls client with a given verifier (or plain webpki validation).
struct RustlsClient {
    name: &'static str,
    config: Arc<rustls::ClientConfig>,
}

impl Client for RustlsClient {
    fn name(&self) -> String {
        self.name.into()
    }
    fn attempt(&self, target: &Target<'_>, timeout: Duration) -> Result<Attempt, Error> {
        let r = https_get(&self.config, &target.scenario.host, target.addr, timeout);
        Ok(Attempt {
            succeeded: r.is_ok(),
            status: r.unwrap_or_else(|e| e),
            reported_expiry: false,
        })
    }
}

fn naive(lab: &Lab) -> RustlsClient {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(lab.root_store())
        .with_no_client_auth();
    RustlsClient {
        name: "naive rustls, no pins",
        config: Arc::new(config),
    }
}

/// Validates with webpki, then matches pins against the certificates the server *sent*
/// (the OkHttp CVE-2016-2402 mistake).
#[derive(Debug)]
struct ServedListPins {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<Pin>,
}

impl ServerCertVerifier for ServedListPins {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        let served = std::iter::once(end_entity).chain(intermediates);
        for cert in served {
            if let Ok(pin) = Pin::spki_of_cert(cert)
                && self.pins.contains(&pin)
            {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(rustls::Error::General("no pin in the served chain".into()))
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn served_list(lab: &Lab) -> RustlsClient {
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(lab.root_store()), provider())
        .build()
        .unwrap();
    let verifier = ServedListPins {
        inner,
        pins: lab.pki().pins(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    RustlsClient {
        name: "pins matched on the served list",
        config: Arc::new(config),
    }
}

/// Refuses everything without connecting.
struct RefuseAll;
impl Client for RefuseAll {
    fn name(&self) -> String {
        "refuses everything".into()
    }
    fn attempt(&self, _: &Target<'_>, _: Duration) -> Result<Attempt, Error> {
        Ok(Attempt {
            status: "refused".into(),
            succeeded: false,
            reported_expiry: false,
        })
    }
}

/// Falls for everything a lab can offer below TLS: on a failed TLS attempt it retries with a
/// TLS 1.0-only ClientHello and then in cleartext; it follows redirects, also to `http://`.
struct Downgrader {
    inner: RustlsClient,
}

/// A minimal ClientHello offering only TLS 1.0 (no supported_versions extension).
fn tls10_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]);
    let mut hs = vec![0x01, 0x00, 0x00, u8::try_from(body.len()).unwrap()];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, u8::try_from(hs.len()).unwrap()];
    record.extend_from_slice(&hs);
    record
}

fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let Ok(mut sock) = std::net::TcpStream::connect(addr) else {
        return Vec::new();
    };
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = sock.write_all(bytes);
    let mut reply = Vec::new();
    let _ = sock.read_to_end(&mut reply);
    reply
}

/// One HTTPS GET; returns the whole response.
fn fetch(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    addr: std::net::SocketAddr,
) -> Result<String, String> {
    use std::io::{Read, Write};
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Err(e) if reply.is_empty() => Err(e.to_string()),
        _ => Ok(String::from_utf8_lossy(&reply).into_owned()),
    }
}

impl Client for Downgrader {
    fn name(&self) -> String {
        "downgrading, redirect-following client".into()
    }
    fn attempt(&self, target: &Target<'_>, _timeout: Duration) -> Result<Attempt, Error> {
        let host = &target.scenario.host;
        let get = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        match fetch(&self.inner.config, host, target.addr) {
            Ok(reply) => {
                // Follow a redirect wherever it points, http:// included.
                let location = reply
                    .lines()
                    .find_map(|l| l.strip_prefix("Location: http://"))
                    .and_then(|rest| rest.split(['/', ':']).nth(1))
                    .and_then(|port| port.parse::<u16>().ok());
                if let Some(port) = location {
                    let addr = std::net::SocketAddr::new(target.addr.ip(), port);
                    raw_exchange(addr, get.as_bytes());
                }
                Ok(Attempt {
                    status: reply.lines().next().unwrap_or("").to_owned(),
                    succeeded: true,
                    reported_expiry: false,
                })
            }
            Err(e) => {
                // Retry with TLS 1.0 only, then without TLS.
                raw_exchange(target.addr, &tls10_client_hello());
                raw_exchange(target.addr, get.as_bytes());
                Ok(Attempt {
                    status: e,
                    succeeded: false,
                    reported_expiry: false,
                })
            }
        }
    }
}

fn outcome(report: &Report, id: &str) -> Outcome {
    report
        .verdicts
        .iter()
        .find(|v| v.id == id)
        .unwrap_or_else(|| panic!("no row {id}"))
        .outcome
}

#[test]
fn keypin_passes_and_mistakes_are_caught() {
    let t0 = Instant::now();
    let lab = Lab::start_loopback().unwrap();
    eprintln!("lab up in {:?}", t0.elapsed());
    let opts = RunOptions::default();

    // keypin's own client: every verdict correct, nothing skipped.
    let report = lab.run(&lab.keypin_client().unwrap(), &opts).unwrap();
    eprint!("{}", report.table());
    assert!(report.all_as_expected(), "{}", report.table());
    assert_eq!(report.count(Outcome::Skip), 0);
    assert_eq!(report.verdicts.len(), lab.scenarios().len());
    for id in [
        "P0",
        "P1",
        "P2",
        "A1",
        "A2",
        "A3",
        "A4",
        "A5",
        "A6-expired",
        "A7",
        "A8",
        "A9-sha1",
        "A9-rsa1024",
        "A10",
        "A14-tls1.0",
        "A14-cleartext",
        "A15",
        "A16",
        "A18",
        "CT1-no-sct",
        "CT2-unknown-log",
        "CT3-bad-signature",
        "CT4-valid",
        "CT5-ocsp-sct",
        "CT6-ocsp-sct-bad-signature",
        "CT7-ocsp-sct-forged-staple",
        "OCSP-good",
        "OCSP-revoked",
        "OCSP-stale",
        "OCSP-wrong-signer",
        "OCSP-must-staple",
        "M1",
        "M2",
        "M3",
    ] {
        assert_eq!(outcome(&report, id), Outcome::Pass, "{id}");
    }
    // ... and it refused each OCSP attack for the right reason.
    for (id, reason) in [
        ("OCSP-revoked", "Revoked"),
        ("OCSP-stale", "Stale"),
        ("OCSP-wrong-signer", "ResponderNotAuthorised"),
        ("OCSP-must-staple", "NoStaple"),
    ] {
        let row = report.verdicts.iter().find(|v| v.id == id).unwrap();
        assert!(
            row.client_status.contains(reason),
            "{id}: {}",
            row.client_status
        );
    }

    // The naive client trusts the user-installed CA: caught on A3 (and A7, A10).
    let report = lab.run(&naive(&lab), &opts).unwrap();
    eprint!("{}", report.table());
    assert_eq!(outcome(&report, "A3"), Outcome::Fail);
    assert_eq!(outcome(&report, "P0"), Outcome::Pass);
    assert_eq!(outcome(&report, "A18"), Outcome::Skip);
    // It checks no Certificate Transparency: every CT attack gets through.
    for id in [
        "CT1-no-sct",
        "CT2-unknown-log",
        "CT3-bad-signature",
        "CT6-ocsp-sct-bad-signature",
        "CT7-ocsp-sct-forged-staple",
    ] {
        assert_eq!(outcome(&report, id), Outcome::Fail, "{id}");
    }
    assert_eq!(outcome(&report, "CT4-valid"), Outcome::Pass);
    assert_eq!(outcome(&report, "CT5-ocsp-sct"), Outcome::Pass);
    // It cannot do mTLS: the positive control M1 catches that; the server refuses M2 anyway.
    assert_eq!(outcome(&report, "M1"), Outcome::Fail);
    assert_eq!(outcome(&report, "M2"), Outcome::Pass);
    assert!(!report.all_as_expected());
    // It never looks at stapled OCSP responses: caught on every OCSP attack.
    assert_eq!(outcome(&report, "OCSP-good"), Outcome::Pass);
    for id in [
        "OCSP-revoked",
        "OCSP-stale",
        "OCSP-wrong-signer",
        "OCSP-must-staple",
    ] {
        assert_eq!(outcome(&report, id), Outcome::Fail, "{id}");
    }

    // Pins matched against the served list: A3 is refused, but pin stuffing gets through.
    let report = lab.run(&served_list(&lab), &opts).unwrap();
    eprint!("{}", report.table());
    assert_eq!(outcome(&report, "A3"), Outcome::Pass);
    assert_eq!(outcome(&report, "A7"), Outcome::Fail);

    // Falling back to TLS 1.0 or cleartext, or following a redirect to http://, is caught.
    let report = lab.run(&Downgrader { inner: naive(&lab) }, &opts).unwrap();
    eprint!("{}", report.table());
    for id in ["A14-tls1.0", "A14-cleartext", "A15"] {
        assert_eq!(outcome(&report, id), Outcome::Fail, "{id}");
    }
    assert_eq!(outcome(&report, "P0"), Outcome::Pass);
    assert_eq!(outcome(&report, "A1"), Outcome::Pass);

    // Refusing everything fails the positive controls.
    let report = lab.run(&RefuseAll, &opts).unwrap();
    for id in ["P0", "P1", "P2", "CT4-valid", "CT5-ocsp-sct"] {
        assert_eq!(outcome(&report, id), Outcome::Fail, "{id}");
    }
    assert!(!report.all_as_expected());
}

/// The mTLS scenarios judge the server side: with a server that only checks the client CA
/// (no client-key pins), keypin's client gets M2 through, and the lab says FAIL.
#[test]
fn mtls_scenarios_catch_a_server_that_does_not_pin_client_keys() {
    let lab = Lab::start_with(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        None,
        keypin_lab::MtlsServer::CaOnly,
    )
    .unwrap();
    let opts = RunOptions {
        only: vec!["M1".into(), "M2".into(), "M3".into()],
        ..RunOptions::default()
    };
    let report = lab.run(&lab.keypin_client().unwrap(), &opts).unwrap();
    eprint!("{}", report.table());
    assert_eq!(report.verdicts.len(), 3);
    assert_eq!(outcome(&report, "M1"), Outcome::Pass);
    assert_eq!(outcome(&report, "M2"), Outcome::Fail);
    assert_eq!(outcome(&report, "M3"), Outcome::Pass);
}
