//! The scenario table (`shared/reference/lab-scenarios.md`): what each server presents and
//! what a client that pins correctly must do.

use keypin_pki::{CertSpec, Issued, issue, self_signed};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

use crate::Error;
use crate::pki::{GENUINE_ORG, LabPki, days_from_now};

/// The DNS suffix of every scenario host. `*.localhost` resolves to loopback in curl and
/// most resolvers; `{resolve}` covers the others.
pub const HOST_SUFFIX: &str = "lab.localhost";

/// The host name every "certificate for another host" names.
pub const OTHER_HOST: &str = "other.lab.localhost";

/// What a client that pins correctly does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// Send its request (positive control).
    Accept,
    /// Refuse before sending anything.
    Reject,
    /// Go on, but report that its pins expired (pins must never stop silently). Only a client
    /// whose reports the lab can see (keypin's own) can be judged on this.
    AcceptAndReport,
}

impl Expected {
    /// `accept`, `reject` or `accept+report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Accept => "accept",
            Expected::Reject => "reject",
            Expected::AcceptAndReport => "accept+report",
        }
    }
}

/// How a scenario's endpoint behaves.
#[derive(Debug)]
pub(crate) enum Endpoint {
    /// A TLS 1.2/1.3 server presenting `chain`. With `redirect_to_http`, it answers every
    /// request with a redirect to `http://` on the same host (SSL stripping), and a cleartext
    /// listener on a second port takes the bait.
    Tls {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        redirect_to_http: bool,
        /// A DER OCSP response stapled for clients that ask (status_request).
        ocsp: Option<Vec<u8>>,
    },
    /// Answers a ClientHello with a TLS 1.0 ServerHello; a client that then offers TLS 1.0/1.1
    /// (or cleartext) fell back.
    OldTls,
    /// Speaks cleartext HTTP on the https port (TLS dropped).
    DropTls,
    /// A TLS server presenting `chain` that demands a client certificate and checks it with
    /// `verifier` (the mTLS scenarios, `mtls.rs`).
    MutualTls {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        verifier: std::sync::Arc<dyn rustls::server::danger::ClientCertVerifier>,
    },
}

/// One attack or control scenario.
#[derive(Debug)]
pub struct Scenario {
    /// Id from the reference table, with a suffix where one row has several variants.
    pub id: &'static str,
    /// One line: the attack.
    pub description: &'static str,
    /// What the server presents.
    pub presents: String,
    /// The correct verdict.
    pub expected: Expected,
    /// The host name to use (SNI, URL).
    pub host: String,
    pub(crate) endpoint: Endpoint,
    /// For mTLS scenarios: the client certificate and key the client under test presents.
    pub client_identity: Option<Issued>,
}

pub(crate) fn host_of(id: &str) -> String {
    let label: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{label}.{HOST_SUFFIX}")
}

pub(crate) fn tls(chain: &[&Issued], key: &Issued) -> Endpoint {
    Endpoint::Tls {
        chain: chain.iter().map(|c| c.cert.clone()).collect(),
        key: key.key.clone_key(),
        redirect_to_http: false,
        ocsp: None,
    }
}

/// Every scenario, in table order, with its certificates made from `pki`, and the mTLS
/// scenarios served with the default (keypin) client verifier.
pub fn all(pki: &LabPki) -> Result<Vec<Scenario>, Error> {
    all_with(pki, crate::mtls::MtlsServer::default())
}

/// [`all`], with the client verifier of the mTLS servers chosen.
pub fn all_with(pki: &LabPki, mtls: crate::mtls::MtlsServer) -> Result<Vec<Scenario>, Error> {
    let mut out = Vec::new();
    let mut add = |id: &'static str,
                   description: &'static str,
                   presents: String,
                   expected: Expected,
                   endpoint: Endpoint| {
        out.push(Scenario {
            id,
            description,
            presents,
            expected,
            host: host_of(id),
            endpoint,
            client_identity: None,
        });
    };
    let pki_err = |what: &str| Error::pki(what.to_owned());
    let int = &pki.intermediate;

    let h = host_of("P0");
    let leaf = pki.genuine_leaf(&[&h])?;
    add(
        "P0",
        "genuine chain, pinned keys on the verified path",
        format!("{h} <- {GENUINE_ORG} Issuing CA (pinned) <- Root"),
        Expected::Accept,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("P1");
    let leaf = issue(CertSpec::leaf(&[&h]).key(&pki.backup), &pki.intermediate2)
        .map_err(pki_err("the P1 leaf"))?;
    add(
        "P1",
        "genuine chain whose only pinned key is the backup pin",
        format!("{h} (backup key) <- {GENUINE_ORG} Issuing CA 2 (not pinned) <- Root"),
        Expected::Accept,
        tls(&[&leaf, &pki.intermediate2], &leaf),
    );

    let h = host_of("P2");
    let leaf = issue(
        CertSpec::leaf(&[&h]).key(&pki.leaf_key).common_name(None),
        int,
    )
    .map_err(pki_err("the P2 leaf"))?;
    add(
        "P2",
        "genuine chain sent in reversed order, SAN-only leaf without CN",
        "leaf (no CN), then root, then issuing CA".to_owned(),
        Expected::Accept,
        tls(&[&leaf, &pki.root, int], &leaf),
    );

    let h = host_of("A1");
    let leaf = self_signed(CertSpec::leaf(&[&h])).map_err(pki_err("the A1 leaf"))?;
    add(
        "A1",
        "self-signed leaf for the target name",
        format!("{h} (self-signed)"),
        Expected::Reject,
        tls(&[&leaf], &leaf),
    );

    let h = host_of("A2");
    let leaf = issue(
        CertSpec::leaf(&[&h]).organization(GENUINE_ORG),
        &pki.untrusted_intermediate,
    )
    .map_err(pki_err("the A2 leaf"))?;
    add(
        "A2",
        "rogue CA copying the genuine names, not trusted",
        format!("{h} <- rogue '{GENUINE_ORG} Issuing CA' <- rogue '{GENUINE_ORG} Root CA'"),
        Expected::Reject,
        tls(&[&leaf, &pki.untrusted_intermediate], &leaf),
    );

    let h = host_of("A3");
    let leaf = issue(CertSpec::leaf(&[&h]), &pki.mitm_ca).map_err(pki_err("the A3 leaf"))?;
    add(
        "A3",
        "rogue CA that IS in the trust store (user-installed / corporate MITM CA)",
        format!("{h} <- Corporate Inspection Proxy CA (trusted, not pinned)"),
        Expected::Reject,
        tls(&[&leaf, &pki.mitm_ca], &leaf),
    );

    let h = host_of("A4");
    let leaf = issue(CertSpec::leaf(&[OTHER_HOST]), int).map_err(pki_err("the A4 leaf"))?;
    add(
        "A4",
        "valid genuine certificate for another host",
        format!("{OTHER_HOST} <- {GENUINE_ORG} Issuing CA (pinned); asked for {h}"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A5");
    let leaf = pki.genuine_leaf(&[OTHER_HOST])?;
    add(
        "A5",
        "pinned leaf key in a certificate for another host name",
        format!("{OTHER_HOST} (pinned leaf key) <- Issuing CA (pinned); asked for {h}"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A6-expired");
    let leaf = pki.genuine_leaf_valid(&h, days_from_now(-60), days_from_now(-30))?;
    add(
        "A6-expired",
        "expired leaf carrying the pinned key",
        format!("{h} (pinned key) expired 30 days ago <- Issuing CA"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A6-not-yet-valid");
    let leaf = pki.genuine_leaf_valid(&h, days_from_now(30), days_from_now(400))?;
    add(
        "A6-not-yet-valid",
        "not-yet-valid leaf carrying the pinned key",
        format!("{h} (pinned key) valid from 30 days ahead <- Issuing CA"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A7");
    let leaf = issue(CertSpec::leaf(&[&h]), &pki.mitm_ca).map_err(pki_err("the A7 leaf"))?;
    add(
        "A7",
        "pin stuffing: trusted rogue chain plus the pinned genuine CA appended off-path",
        format!("{h} <- Corporate Inspection Proxy CA, then {GENUINE_ORG} Issuing CA (unused)"),
        Expected::Reject,
        tls(&[&leaf, &pki.mitm_ca, int], &leaf),
    );

    let h = host_of("A8");
    let leaf = pki.genuine_leaf(&[&h])?;
    add(
        "A8",
        "incomplete chain: the issuing CA is missing",
        format!("{h} (pinned key) alone"),
        Expected::Reject,
        tls(&[&leaf], &leaf),
    );

    let h = host_of("A9-sha1");
    let leaf = issue(
        CertSpec::leaf(&[&h]).key(&pki.leaf_key).sha1_signature(),
        &pki.rsa_intermediate,
    )
    .map_err(pki_err("the SHA-1 signed leaf"))?;
    add(
        "A9-sha1",
        "SHA-1 signed leaf (pinned key)",
        format!("{h} signed sha1WithRSA <- {GENUINE_ORG} Legacy RSA CA <- Root"),
        Expected::Reject,
        tls(&[&leaf, &pki.rsa_intermediate], &leaf),
    );

    let h = host_of("A9-rsa1024");
    let leaf = issue(CertSpec::leaf(&[&h]).key(&pki.rsa1024_key), int)
        .map_err(pki_err("the RSA-1024 leaf"))?;
    add(
        "A9-rsa1024",
        "RSA-1024 leaf under the pinned genuine CA",
        format!("{h} (RSA-1024) <- Issuing CA (pinned)"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A10");
    let leaf =
        issue(CertSpec::leaf(&[&h]), &pki.interception_ca).map_err(pki_err("the A10 leaf"))?;
    add(
        "A10",
        "chain from a known interception root (local stand-in) in the trust store",
        format!("{h} <- 'Superfish, Inc.' (trusted stand-in)"),
        Expected::Reject,
        tls(&[&leaf, &pki.interception_ca], &leaf),
    );

    add(
        "A14-tls1.0",
        "server only speaks TLS 1.0: no fallback to an old version",
        "a TLS 1.0 ServerHello to any ClientHello".to_owned(),
        Expected::Reject,
        Endpoint::OldTls,
    );

    add(
        "A14-cleartext",
        "TLS dropped: server answers in cleartext HTTP; no fallback to cleartext",
        "cleartext HTTP on the https port".to_owned(),
        Expected::Reject,
        Endpoint::DropTls,
    );

    let h = host_of("A15");
    let leaf = pki.genuine_leaf(&[&h])?;
    add(
        "A15",
        "SSL stripping: genuine https endpoint redirects to http:// on the same host",
        format!("genuine chain; 301 to http://{h}:<port>/"),
        Expected::Reject,
        Endpoint::Tls {
            chain: vec![leaf.cert.clone(), int.cert.clone()],
            key: leaf.key.clone_key(),
            redirect_to_http: true,
            ocsp: None,
        },
    );

    let h = host_of("A16");
    let leaf = issue(CertSpec::leaf(&[&h]).key(&pki.leaf_key).no_san(), int)
        .map_err(pki_err("the CN-only leaf"))?;
    add(
        "A16",
        "leaf with only a CN and no subjectAltName",
        format!("CN={h}, no SAN (pinned key) <- Issuing CA"),
        Expected::Reject,
        tls(&[&leaf, int], &leaf),
    );

    let h = host_of("A18");
    let leaf = issue(CertSpec::leaf(&[&h]), &pki.mitm_ca).map_err(pki_err("the A18 leaf"))?;
    add(
        "A18",
        "the client's pin set for this host has expired; a trusted rogue chain is served",
        format!("{h} <- Corporate Inspection Proxy CA; policy pins expired"),
        Expected::AcceptAndReport,
        tls(&[&leaf, &pki.mitm_ca], &leaf),
    );

    out.extend(crate::scenario_ocsp::scenarios(pki)?);
    out.extend(crate::mtls::scenarios(pki, mtls)?);
    Ok(out)
}
