//! The proxy's scenarios, and the chains it mints for them on the fly: for the exact host the
//! client asked for, one P-256 leaf per (host, scenario), made once and cached.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use keypin_pki::{CertSpec, Issued, issue, self_signed};
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use crate::Error;
use crate::pki::{GENUINE_ORG, LabPki, days_from_now};
use crate::scenario::Expected;

/// The name every "certificate for another host" names (A4).
const WRONG_HOST: &str = "wrong-host.keypin.invalid";

/// What the proxy does with one tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ProxyScenario {
    /// Pass-through to the real upstream: the positive control.
    P0,
    /// A leaf from the rogue CA the device trusts (user-installed or corporate MITM CA).
    A3,
    /// A self-signed leaf for the host.
    A1,
    /// A chain from a rogue root that copies the genuine names but is not trusted.
    A2,
    /// A certificate from the trusted rogue CA for another host name.
    A4,
    /// An expired leaf from the trusted rogue CA.
    A6,
    /// Pin stuffing: the trusted rogue chain, with the upstream's genuine certificates
    /// appended off the path.
    A7,
    /// A SHA-1 signed leaf (under the lab's RSA CA).
    A9Sha1,
    /// An RSA-1024 leaf (under the lab's issuing CA).
    A9Rsa1024,
    /// A server that only speaks TLS 1.0.
    A14,
}

impl ProxyScenario {
    /// Every scenario, in the order `--cycle` walks them for each host.
    pub const ALL: [ProxyScenario; 10] = [
        Self::P0,
        Self::A3,
        Self::A1,
        Self::A2,
        Self::A4,
        Self::A6,
        Self::A7,
        Self::A9Sha1,
        Self::A9Rsa1024,
        Self::A14,
    ];

    /// The id, as in the lab's scenario table.
    pub fn id(self) -> &'static str {
        match self {
            Self::P0 => "P0",
            Self::A3 => "A3",
            Self::A1 => "A1",
            Self::A2 => "A2",
            Self::A4 => "A4",
            Self::A6 => "A6",
            Self::A7 => "A7",
            Self::A9Sha1 => "A9-sha1",
            Self::A9Rsa1024 => "A9-rsa1024",
            Self::A14 => "A14-tls1.0",
        }
    }

    /// The scenario with this id (case-insensitive; `A9` and `A14` name their first variant).
    pub fn parse(id: &str) -> Option<Self> {
        let id = id.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|s| s.id().to_ascii_uppercase() == id)
            .or(match id.as_str() {
                "A9" => Some(Self::A9Sha1),
                "A14" => Some(Self::A14),
                _ => None,
            })
    }

    /// What a client that pins correctly does.
    pub fn expected(self) -> Expected {
        match self {
            Self::P0 => Expected::Accept,
            _ => Expected::Reject,
        }
    }

    /// One line: what the proxy presents.
    pub fn description(self) -> &'static str {
        match self {
            Self::P0 => "pass-through to the real server (positive control)",
            Self::A3 => "leaf from the user-installed rogue CA",
            Self::A1 => "self-signed leaf",
            Self::A2 => "rogue chain copying the genuine names, untrusted root",
            Self::A4 => "certificate for another host, from the user-installed CA",
            Self::A6 => "expired leaf from the user-installed CA",
            Self::A7 => "pin stuffing: rogue chain plus the genuine certificates off-path",
            Self::A9Sha1 => "SHA-1 signed leaf",
            Self::A9Rsa1024 => "RSA-1024 leaf",
            Self::A14 => "server speaks only TLS 1.0",
        }
    }

    /// What a wrong verdict means, said plainly.
    pub fn finding(self) -> &'static str {
        match self {
            Self::P0 => {
                "refused the real server: the positive control failed (wrong pins, or the client \
                 refuses everything, so the other rows prove nothing)"
            }
            Self::A3 => "accepted a forged chain from a user-installed CA: no pinning",
            Self::A1 => "accepted a self-signed certificate: no certificate validation",
            Self::A2 => "accepted a chain from an untrusted root: no certificate validation",
            Self::A4 => "accepted a certificate for another host: no hostname check",
            Self::A6 => "accepted an expired certificate: no validity check",
            Self::A7 => {
                "accepted a stuffed chain: pins are matched on the certificates the server sent, \
                 not on the verified path"
            }
            Self::A9Sha1 => "accepted a SHA-1 signature",
            Self::A9Rsa1024 => "accepted an RSA-1024 key",
            Self::A14 => "fell back to TLS 1.0",
        }
    }
}

/// Makes and remembers the forged server configurations.
#[derive(Debug)]
pub(crate) struct Minter {
    pki: Arc<LabPki>,
    configs: Mutex<HashMap<(String, ProxyScenario), Arc<ServerConfig>>>,
    /// The upstream's own certificates per host, for pin stuffing (A7).
    genuine: Mutex<HashMap<String, Vec<CertificateDer<'static>>>>,
}

impl Minter {
    pub(crate) fn new(pki: Arc<LabPki>) -> Self {
        Self {
            pki,
            configs: Mutex::default(),
            genuine: Mutex::default(),
        }
    }

    /// Whether the real server's certificates for `host` are still to be fetched.
    pub(crate) fn wants_genuine(&self, host: &str) -> bool {
        !self
            .genuine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(host)
    }

    /// Remembers the certificates `host`'s real server sends (appended in A7; empty when it
    /// could not be reached: the lab's pinned issuing CA is appended instead).
    pub(crate) fn set_genuine(&self, host: &str, certs: Vec<CertificateDer<'static>>) {
        self.genuine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_owned(), certs);
    }

    /// The server configuration presenting `scenario`'s chain for `host` (`None` for the
    /// scenarios that present no chain: P0 and A14).
    pub(crate) fn config(
        &self,
        host: &str,
        scenario: ProxyScenario,
    ) -> Result<Option<Arc<ServerConfig>>, Error> {
        if matches!(scenario, ProxyScenario::P0 | ProxyScenario::A14) {
            return Ok(None);
        }
        let key = (host.to_owned(), scenario);
        if let Some(c) = self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Some(Arc::clone(c)));
        }
        // Minted outside the lock: two first connections may both mint; one wins.
        let config = Arc::new(self.mint(host, scenario)?);
        self.configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Arc::clone(&config));
        Ok(Some(config))
    }

    fn mint(&self, host: &str, scenario: ProxyScenario) -> Result<ServerConfig, Error> {
        let pki = &self.pki;
        let err = |what: &str| Error::pki(format!("the {} leaf for {host}", what));
        let for_host = |spec: CertSpec| match host.parse::<IpAddr>() {
            Ok(ip) => spec.ip_sans(&[ip]),
            Err(_) => spec,
        };
        let leaf_spec = || {
            for_host(if host.parse::<IpAddr>().is_ok() {
                CertSpec::leaf(&[])
            } else {
                CertSpec::leaf(&[host])
            })
        };
        let id = scenario.id();
        let (leaf, chain): (Issued, Vec<CertificateDer<'static>>) = match scenario {
            ProxyScenario::A3 => {
                let leaf = issue(leaf_spec(), &pki.mitm_ca).map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.mitm_ca.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A1 => {
                let leaf = self_signed(leaf_spec()).map_err(err(id))?;
                let chain = vec![leaf.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A2 => {
                let leaf = issue(
                    leaf_spec().organization(GENUINE_ORG),
                    &pki.untrusted_intermediate,
                )
                .map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.untrusted_intermediate.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A4 => {
                let leaf = issue(CertSpec::leaf(&[WRONG_HOST]), &pki.mitm_ca).map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.mitm_ca.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A6 => {
                let leaf = issue(
                    leaf_spec().validity(days_from_now(-60), days_from_now(-30)),
                    &pki.mitm_ca,
                )
                .map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.mitm_ca.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A7 => {
                let leaf = issue(leaf_spec(), &pki.mitm_ca).map_err(err(id))?;
                let mut chain = vec![leaf.cert.clone(), pki.mitm_ca.cert.clone()];
                let genuine = self
                    .genuine
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(host)
                    .filter(|certs| !certs.is_empty())
                    .cloned();
                // The real server's certificates when it could be reached, else the lab's
                // pinned issuing CA: either way, pinned keys off the verified path.
                chain.extend(genuine.unwrap_or_else(|| vec![pki.intermediate.cert.clone()]));
                (leaf, chain)
            }
            ProxyScenario::A9Sha1 => {
                let leaf = issue(
                    leaf_spec().key(&pki.leaf_key).sha1_signature(),
                    &pki.rsa_intermediate,
                )
                .map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.rsa_intermediate.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::A9Rsa1024 => {
                let leaf =
                    issue(leaf_spec().key(&pki.rsa1024_key), &pki.intermediate).map_err(err(id))?;
                let chain = vec![leaf.cert.clone(), pki.intermediate.cert.clone()];
                (leaf, chain)
            }
            ProxyScenario::P0 | ProxyScenario::A14 => {
                return Err(Error::Policy(format!("{id} presents no chain")));
            }
        };
        server_config(id, chain, &leaf)
    }
}

/// A TLS 1.2/1.3 server configuration presenting `chain` as given.
fn server_config(
    id: &str,
    chain: Vec<CertificateDer<'static>>,
    leaf: &Issued,
) -> Result<ServerConfig, Error> {
    let signing = keypin_pki::signing_key(leaf.key.clone_key())
        .map_err(Error::pki(format!("the signing key of scenario {id}")))?;
    let certified = CertifiedKey::new(chain, signing);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Tls {
            scenario: id.to_owned(),
            source,
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // Every tunnel is a fresh forged handshake: no resumption of an earlier one.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_aliases_parse() {
        for s in ProxyScenario::ALL {
            assert_eq!(ProxyScenario::parse(s.id()), Some(s));
            assert_eq!(ProxyScenario::parse(&s.id().to_lowercase()), Some(s));
        }
        assert_eq!(ProxyScenario::parse("a9"), Some(ProxyScenario::A9Sha1));
        assert_eq!(ProxyScenario::parse("A14"), Some(ProxyScenario::A14));
        assert_eq!(ProxyScenario::parse("A5"), None);
    }
}
