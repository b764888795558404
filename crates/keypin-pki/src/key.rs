//! Key algorithms and the key pairs behind issued certificates.

use std::fmt;

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::Error;
use crate::rsa_legacy::{Pkcs1Hash, RsaPrivateKey};

/// The key type of a certificate's subject key.
///
/// The signature algorithm a key signs with follows from it: ECDSA P-256 with SHA-256, P-384
/// with SHA-384, P-521 with SHA-512, Ed25519, and RSA PKCS#1 v1.5 with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// ECDSA on NIST P-256 (the default).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus (slow to generate: seconds, not milliseconds).
    Rsa4096,
    /// RSA, 1024-bit modulus: too weak for webpki and aws-lc-rs, which reject it. Made by this
    /// crate's own (test-only) RSA code, so a test can check that such a key is refused.
    Rsa1024,
}

impl KeyAlg {
    /// Every algorithm, in declaration order.
    pub const ALL: [KeyAlg; 8] = [
        KeyAlg::EcdsaP256,
        KeyAlg::EcdsaP384,
        KeyAlg::EcdsaP521,
        KeyAlg::Ed25519,
        KeyAlg::Rsa2048,
        KeyAlg::Rsa3072,
        KeyAlg::Rsa4096,
        KeyAlg::Rsa1024,
    ];

    /// True for the RSA sizes.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlg::Rsa1024 | KeyAlg::Rsa2048 | KeyAlg::Rsa3072 | KeyAlg::Rsa4096
        )
    }

    /// A short lowercase name, e.g. `ecdsa-p256` or `rsa2048`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::EcdsaP256 => "ecdsa-p256",
            KeyAlg::EcdsaP384 => "ecdsa-p384",
            KeyAlg::EcdsaP521 => "ecdsa-p521",
            KeyAlg::Ed25519 => "ed25519",
            KeyAlg::Rsa2048 => "rsa2048",
            KeyAlg::Rsa3072 => "rsa3072",
            KeyAlg::Rsa4096 => "rsa4096",
            KeyAlg::Rsa1024 => "rsa1024",
        }
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key pair that can sign certificates: rcgen's own, or a legacy RSA key rcgen cannot make.
#[derive(Debug)]
pub(crate) enum KeyMaterial {
    Rcgen(rcgen::KeyPair),
    LegacyRsa(std::sync::Arc<RsaPrivateKey>),
}

impl KeyMaterial {
    pub(crate) fn generate(alg: KeyAlg) -> Result<Self, Error> {
        let context = || format!("generating a {alg} key");
        let generated = match alg {
            KeyAlg::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyAlg::EcdsaP384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyAlg::EcdsaP521 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
            KeyAlg::Ed25519 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
            KeyAlg::Rsa2048 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            KeyAlg::Rsa3072 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            }
            KeyAlg::Rsa4096 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
            KeyAlg::Rsa1024 => {
                return Ok(KeyMaterial::LegacyRsa(std::sync::Arc::new(
                    RsaPrivateKey::generate(1024)?,
                )));
            }
        };
        generated
            .map(KeyMaterial::Rcgen)
            .map_err(Error::rcgen(context()))
    }

    /// The private key as PKCS#8 DER.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        match self {
            KeyMaterial::Rcgen(kp) => kp.serialized_der(),
            KeyMaterial::LegacyRsa(k) => k.pkcs8_der(),
        }
    }

    /// An RSA view of the key for SHA-1 signing, if it is an RSA key.
    pub(crate) fn legacy_rsa(&self) -> Result<std::sync::Arc<RsaPrivateKey>, Error> {
        match self {
            KeyMaterial::LegacyRsa(k) => Ok(std::sync::Arc::clone(k)),
            KeyMaterial::Rcgen(kp) if kp.algorithm() == &rcgen::PKCS_RSA_SHA256 => Ok(
                std::sync::Arc::new(RsaPrivateKey::from_pkcs8(kp.serialized_der())?),
            ),
            KeyMaterial::Rcgen(_) => Err(Error::Unsupported {
                what: "SHA-1 signatures from a non-RSA issuer key (only RSA issuers can sign \
                       with SHA-1 here)"
                    .to_owned(),
            }),
        }
    }
}

impl PublicKeyData for KeyMaterial {
    fn der_bytes(&self) -> &[u8] {
        match self {
            KeyMaterial::Rcgen(kp) => kp.der_bytes(),
            KeyMaterial::LegacyRsa(k) => k.public_key_der(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            KeyMaterial::Rcgen(kp) => kp.algorithm(),
            KeyMaterial::LegacyRsa(_) => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl SigningKey for KeyMaterial {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            KeyMaterial::Rcgen(kp) => kp.sign(msg),
            KeyMaterial::LegacyRsa(k) => k
                .sign_pkcs1(Pkcs1Hash::Sha256, msg)
                .map_err(|_| rcgen::Error::RingUnspecified),
        }
    }
}
