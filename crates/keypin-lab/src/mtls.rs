//! mTLS scenarios: the server side under test. A server demands a client certificate and
//! checks it with keypin's `PinnedClientVerifier` (client CA plus a client-key allowlist); the
//! lab hands the client under test the identity to present (keypin's client takes it
//! directly, a command gets `{client_cert}` and `{client_key}`). The verdict is the usual one:
//! did the request reach the server?
//!
//! | id | the client presents | correct outcome |
//! |---|---|---|
//! | M1 | the pinned client key, certificate from the client CA | accepted (positive control: a client that cannot do mTLS fails it) |
//! | M2 | an unpinned key with a valid certificate from the same client CA | refused by the server |
//! | M3 | the pinned key in a certificate from another CA | refused (a pin never replaces chain validation) |
//!
//! Which server verifier runs is a lab option ([`MtlsServer`]): a lab started with
//! [`MtlsServer::CaOnly`] (plain rustls client-certificate validation, no pins) lets M2
//! through, so the table shows that M2 judges the server and not the client.

use std::sync::Arc;

use keypin::{
    Roots, clock::ManualClock, pin::Pin, policy::ClientIdentityRule, policy::ClientPolicy,
    verify::PinnedClientVerifier,
};
use keypin_pki::{CertSpec, Issued, issue, self_signed};
use rustls::server::danger::ClientCertVerifier;

use crate::Error;
use crate::pki::{GENUINE_ORG, LabPki};
use crate::scenario::{Endpoint, Expected, Scenario, host_of};

/// The client-certificate verifier the lab's mTLS servers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MtlsServer {
    /// keypin's `PinnedClientVerifier`: client CA, then the client-key allowlist (default).
    #[default]
    KeypinPinned,
    /// rustls' `WebPkiClientVerifier`: client CA only, no pins (a control that must fail M2).
    CaOnly,
}

fn verifier(
    kind: MtlsServer,
    client_ca: &Issued,
    pinned: &Issued,
    spare: &Issued,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls_err = |source| Error::Tls {
        scenario: "M1-M3".into(),
        source,
    };
    match kind {
        MtlsServer::KeypinPinned => {
            let policy = ClientPolicy::new(
                "lab clients",
                vec![ClientIdentityRule::new(
                    "lab-client",
                    vec![
                        Pin::from_spki_der(&pinned.spki_der()),
                        Pin::from_spki_der(&spare.spki_der()),
                    ],
                )],
            )
            .map_err(|e| Error::Policy(e.to_string()))?;
            let roots = Roots::empty()
                .with_cert(client_ca.cert.clone())
                .map_err(|e| Error::Policy(e.to_string()))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let v =
                PinnedClientVerifier::new(policy, roots, &provider, Arc::new(ManualClock::at(now)))
                    .map_err(|e| Error::Policy(e.to_string()))?;
            Ok(Arc::new(v))
        }
        MtlsServer::CaOnly => {
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates([client_ca.cert.clone()]);
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| tls_err(rustls::Error::General(e.to_string())))
        }
    }
}

/// The mTLS scenarios, with their client identities and server verifier.
pub(crate) fn scenarios(pki: &LabPki, kind: MtlsServer) -> Result<Vec<Scenario>, Error> {
    let pki_err = |what: &str| Error::pki(what.to_owned());
    let client_ca =
        self_signed(CertSpec::ca(&format!("{GENUINE_ORG} Client CA")).organization(GENUINE_ORG))
            .map_err(pki_err("the client CA"))?;
    let pinned = issue(CertSpec::client("lab-client"), &client_ca)
        .map_err(pki_err("the pinned client certificate"))?;
    let stranger = issue(CertSpec::client("lab-client"), &client_ca)
        .map_err(pki_err("the unpinned client certificate"))?;
    let rogue_ca =
        self_signed(CertSpec::ca("Other Client CA")).map_err(pki_err("the other client CA"))?;
    let forged = issue(CertSpec::client("lab-client").key(&pinned), &rogue_ca)
        .map_err(pki_err("the pinned key under another CA"))?;
    let spare = self_signed(CertSpec::ca("Lab client spare key"))
        .map_err(pki_err("the spare client key"))?;
    let verifier = verifier(kind, &client_ca, &pinned, &spare)?;

    let rows: [(&'static str, &'static str, String, Expected, Issued); 3] = [
        (
            "M1",
            "mTLS: the client presents its pinned key (certificate from the client CA)",
            "server demands a client certificate; the client gets the pinned identity".into(),
            Expected::Accept,
            pinned,
        ),
        (
            "M2",
            "mTLS: a client with an unpinned key from the right client CA must be refused",
            "server demands a client certificate; the client gets a valid, unpinned identity"
                .into(),
            Expected::Reject,
            stranger,
        ),
        (
            "M3",
            "mTLS: the pinned client key in a certificate from another CA must be refused",
            "server demands a client certificate; the client gets the pinned key under Other Client CA"
                .into(),
            Expected::Reject,
            forged,
        ),
    ];
    let mut out = Vec::new();
    for (id, description, presents, expected, identity) in rows {
        let host = host_of(id);
        let leaf = pki.genuine_leaf(&[&host])?;
        out.push(Scenario {
            id,
            description,
            presents,
            expected,
            host,
            endpoint: Endpoint::MutualTls {
                chain: vec![leaf.cert.clone(), pki.intermediate.cert.clone()],
                key: leaf.key.clone_key(),
                verifier: Arc::clone(&verifier),
            },
            client_identity: Some(identity),
        });
    }
    Ok(out)
}
