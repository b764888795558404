//! The usual three-level chain: root CA, issuing CA, leaf.

use rustls_pki_types::CertificateDer;

use crate::Error;
use crate::cert::{CertSpec, Issued, issue, self_signed};
use crate::key::KeyAlg;
use crate::server::ServerOptions;

/// A ready 3-level chain: root CA -> intermediate CA -> leaf.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The self-signed root CA, `"<name> Root CA"`.
    pub root: Issued,
    /// The intermediate CA, `"<name> Issuing CA"`, signed by the root.
    pub intermediate: Issued,
    /// The server certificate, signed by the intermediate.
    pub leaf: Issued,
}

impl Chain {
    /// Root `"<name> Root CA"`, intermediate `"<name> Issuing CA"`, and a leaf for
    /// `dns_names`, all with key type `alg` and organization `name`.
    pub fn generate(name: &str, dns_names: &[&str], alg: KeyAlg) -> Result<Chain, Error> {
        let root = self_signed(
            CertSpec::ca(&format!("{name} Root CA"))
                .organization(name)
                .key_alg(alg),
        )?;
        let intermediate = issue(
            CertSpec::ca(&format!("{name} Issuing CA"))
                .organization(name)
                .key_alg(alg),
            &root,
        )?;
        let leaf = issue(
            CertSpec::leaf(dns_names).organization(name).key_alg(alg),
            &intermediate,
        )?;
        Ok(Chain {
            root,
            intermediate,
            leaf,
        })
    }

    /// Leaf and intermediate, as a server sends them (leaf first).
    pub fn served(&self) -> Vec<CertificateDer<'static>> {
        vec![self.leaf.cert.clone(), self.intermediate.cert.clone()]
    }

    /// A root store holding just this chain's root.
    ///
    /// A root webpki cannot parse is left out (the store is then empty and every
    /// handshake fails), which never happens for roots this crate makes.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates([self.root.cert.clone()]);
        store
    }

    /// Server options that serve this chain ([`Chain::served`]) with the leaf's key.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions::new(self.served(), self.leaf.key.clone_key())
    }
}
