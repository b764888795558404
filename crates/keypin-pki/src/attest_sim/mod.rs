//! A device simulator for app attestation tests and demos: test-only Apple-format and
//! Google-format attestation roots that produce fresh attestations and assertions in the exact
//! wire formats a server verifies (App Attest CBOR objects; Android Key Attestation chains with
//! a KeyDescription extension), plus knobs for each way a real one can be wrong.
//!
//! The roots are generated per run and are nobody's: a verifier trusts them only when told to
//! explicitly (keypin-attest's `danger` module).

mod android;
mod apple;

pub use android::{
    AndroidAttestCa, AndroidAttestation, AndroidKeySpec, SimAndroidKey, SimBoot, SimSecurityLevel,
};
pub use apple::{
    AppleAttestCa, AppleAttestation, AppleAttestationSpec, AppleEnvironment, CredentialKey,
    NonceExtension, SimAppleKey,
};

use crate::Error;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

/// A CA certificate with its key, for signing what comes below it.
#[derive(Debug)]
pub(crate) struct Ca {
    pub(crate) key: KeyPair,
    pub(crate) params: CertificateParams,
    pub(crate) der: Vec<u8>,
}

impl Ca {
    /// A self-signed root (`issuer` None) or an intermediate signed by `issuer`.
    pub(crate) fn new(
        common_name: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        issuer: Option<&Ca>,
    ) -> Result<Self, Error> {
        let key = KeyPair::generate_for(alg).map_err(Error::rcgen("attestation CA key"))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let cert = match issuer {
            None => params.self_signed(&key),
            Some(ca) => params.signed_by(&key, &rcgen::Issuer::from_params(&ca.params, &ca.key)),
        }
        .map_err(Error::rcgen(format!("signing {common_name}")))?;
        Ok(Self {
            der: cert.der().to_vec(),
            key,
            params,
        })
    }

    pub(crate) fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }
}

/// A leaf certificate's parameters: short validity like a device's (or one that ended
/// yesterday), no CA.
pub(crate) fn leaf_params(common_name: &str, expired: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    let now = OffsetDateTime::now_utc();
    (params.not_before, params.not_after) = if expired {
        (now - Duration::days(30), now - Duration::days(1))
    } else {
        (now - Duration::hours(1), now + Duration::days(30))
    };
    params
}

/// A fresh P-256 key able to sign (ECDSA, ASN.1 DER, SHA-256) and to be put in a certificate.
pub(crate) fn p256_key() -> Result<(aws_lc_rs::signature::EcdsaKeyPair, KeyPair), Error> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let signer = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| Error::crypto("generating a P-256 device key"))?;
    let pkcs8 = signer
        .to_pkcs8v1()
        .map_err(|_| Error::crypto("exporting a P-256 device key"))?;
    let rcgen_key = KeyPair::try_from(pkcs8.as_ref()).map_err(Error::rcgen("device key"))?;
    Ok((signer, rcgen_key))
}

/// ECDSA P-256 SHA-256 (ASN.1 DER) over `message`.
pub(crate) fn sign(
    key: &aws_lc_rs::signature::EcdsaKeyPair,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    key.sign(&aws_lc_rs::rand::SystemRandom::new(), message)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| Error::crypto("signing with a device key"))
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
