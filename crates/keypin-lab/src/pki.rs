//! The lab's PKI, fresh for every run: the genuine PKI with its pins, the rogue CAs, and the
//! broken certificates the scenarios serve.

use keypin::{pin::Pin, pin::PinFormat};
use keypin_pki::{CertSpec, Issued, KeyAlg, issue, self_signed};
use time::{Duration, OffsetDateTime};

use crate::Error;

/// Organization of the genuine PKI; the rogue CA of A2 copies it.
pub(crate) const GENUINE_ORG: &str = "Keypin Lab Bank";

/// Every certificate and key the scenarios need, made once per run. Keys that are slow to make
/// (RSA) are made once and shared.
#[derive(Debug)]
pub struct LabPki {
    /// Genuine root CA (in the trust store).
    pub root: Issued,
    /// Genuine issuing CA (pinned).
    pub intermediate: Issued,
    /// A second genuine issuing CA (not pinned), under the same root.
    pub intermediate2: Issued,
    /// The genuine leaf key, pinned; every genuine leaf of the lab uses it.
    pub leaf_key: Issued,
    /// The backup key: pinned, not deployed (only P1 serves it).
    pub backup: Issued,
    /// A rogue CA that is in the client's trust store (user-installed or corporate MITM CA).
    pub mitm_ca: Issued,
    /// A locally made stand-in for a known interception root (named like Superfish's), in the
    /// trust store.
    pub interception_ca: Issued,
    /// A rogue root that copies the genuine names, not trusted.
    pub untrusted_root: Issued,
    /// The rogue issuing CA under `untrusted_root`, also copying the genuine name.
    pub untrusted_intermediate: Issued,
    /// An RSA-2048 issuing CA under the genuine root, for the SHA-1 signed leaf.
    pub rsa_intermediate: Issued,
    /// An RSA-1024 key (certificate is a throwaway self-signed one), for the weak leaf.
    pub rsa1024_key: Issued,
}

impl LabPki {
    /// Makes a fresh PKI. The RSA keys are made on a second thread while the rest is made.
    pub fn generate() -> Result<Self, Error> {
        let rsa1024 = std::thread::spawn(|| {
            self_signed(CertSpec::ca("Keypin Lab RSA-1024 key holder").key_alg(KeyAlg::Rsa1024))
                .map_err(Error::pki("an RSA-1024 key"))
        });
        let root =
            self_signed(CertSpec::ca(&format!("{GENUINE_ORG} Root CA")).organization(GENUINE_ORG))
                .map_err(Error::pki("the genuine root"))?;
        let rsa_intermediate = issue(
            CertSpec::ca(&format!("{GENUINE_ORG} Legacy RSA CA"))
                .organization(GENUINE_ORG)
                .key_alg(KeyAlg::Rsa2048),
            &root,
        )
        .map_err(Error::pki("the RSA issuing CA"))?;
        let intermediate = issue(
            CertSpec::ca(&format!("{GENUINE_ORG} Issuing CA")).organization(GENUINE_ORG),
            &root,
        )
        .map_err(Error::pki("the genuine issuing CA"))?;
        let intermediate2 = issue(
            CertSpec::ca(&format!("{GENUINE_ORG} Issuing CA 2")).organization(GENUINE_ORG),
            &root,
        )
        .map_err(Error::pki("the second genuine issuing CA"))?;
        let leaf_key = issue(CertSpec::leaf(&["key-holder.lab.localhost"]), &intermediate)
            .map_err(Error::pki("the genuine leaf key"))?;
        let backup = self_signed(CertSpec::ca(&format!("{GENUINE_ORG} backup key (offline)")))
            .map_err(Error::pki("the backup key"))?;
        let mitm_ca = self_signed(
            CertSpec::ca("Corporate Inspection Proxy CA").organization("Example Corp IT"),
        )
        .map_err(Error::pki("the trusted rogue CA"))?;
        let interception_ca =
            self_signed(CertSpec::ca("Superfish, Inc.").organization("Superfish, Inc."))
                .map_err(Error::pki("the interception root stand-in"))?;
        let untrusted_root =
            self_signed(CertSpec::ca(&format!("{GENUINE_ORG} Root CA")).organization(GENUINE_ORG))
                .map_err(Error::pki("the untrusted rogue root"))?;
        let untrusted_intermediate = issue(
            CertSpec::ca(&format!("{GENUINE_ORG} Issuing CA")).organization(GENUINE_ORG),
            &untrusted_root,
        )
        .map_err(Error::pki("the untrusted rogue issuing CA"))?;
        let rsa1024_key = rsa1024.join().map_err(|_| Error::Pki {
            what: "an RSA-1024 key".into(),
            source: keypin_pki::Error::Unsupported {
                what: "the key generation thread panicked".into(),
            },
        })??;
        Ok(Self {
            root,
            intermediate,
            intermediate2,
            leaf_key,
            backup,
            mitm_ca,
            interception_ca,
            untrusted_root,
            untrusted_intermediate,
            rsa_intermediate,
            rsa1024_key,
        })
    }

    /// The pins of the lab policy: the genuine issuing CA, the genuine leaf key, the backup key.
    pub fn pins(&self) -> Vec<Pin> {
        vec![
            Pin::from_spki_der(&self.intermediate.spki_der()),
            Pin::from_spki_der(&self.leaf_key.spki_der()),
            Pin::from_spki_der(&self.backup.spki_der()),
        ]
    }

    /// The pins in one spelling, joined by `sep`.
    pub fn pins_as(&self, format: PinFormat, sep: &str) -> String {
        self.pins()
            .iter()
            .map(|p| p.to_format(format))
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// What the client under test should trust, PEM: the genuine root, the trusted rogue CA
    /// and the interception root stand-in (the device has them installed).
    pub fn trust_store_pem(&self) -> String {
        [&self.root, &self.mitm_ca, &self.interception_ca]
            .iter()
            .map(|c| c.cert_pem())
            .collect()
    }

    /// A genuine leaf for `hosts` on the pinned leaf key, issued by the pinned issuing CA.
    pub(crate) fn genuine_leaf(&self, hosts: &[&str]) -> Result<Issued, Error> {
        issue(
            CertSpec::leaf(hosts).key(&self.leaf_key),
            &self.intermediate,
        )
        .map_err(Error::pki(format!("a genuine leaf for {hosts:?}")))
    }

    /// A genuine leaf with custom validity.
    pub(crate) fn genuine_leaf_valid(
        &self,
        host: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, Error> {
        issue(
            CertSpec::leaf(&[host])
                .key(&self.leaf_key)
                .validity(not_before, not_after),
            &self.intermediate,
        )
        .map_err(Error::pki(format!("a dated leaf for {host}")))
    }
}

/// Now, minus or plus whole days.
pub(crate) fn days_from_now(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(days)
}
