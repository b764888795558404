//! Android Key Attestation: a test "Google" attestation root (P-384, like Google's 2025 root)
//! and intermediate, and leaves for fresh P-256 keys carrying a KeyDescription extension
//! (1.3.6.1.4.1.11129.2.1.17) as KeyMint writes it: challenge, security levels, the
//! attestationApplicationId (software-enforced, as the keystore fills it in), and the
//! hardware-enforced rootOfTrust and osPatchLevel.

use rcgen::CustomExtension;

use super::{Ca, leaf_params, p256_key, sign};
use crate::Error;
use crate::der::{TAG_OCTET_STRING, TAG_SEQUENCE, tlv, uint};

const KEY_DESCRIPTION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17];
const TAG_BOOLEAN: u8 = 0x01;
const TAG_ENUMERATED: u8 = 0x0a;
const TAG_SET: u8 = 0x31;

/// A KeyMint security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSecurityLevel {
    /// Software (0).
    Software,
    /// Trusted execution environment (1).
    Tee,
    /// StrongBox (2).
    StrongBox,
}

/// The verified boot state in the rootOfTrust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimBoot {
    /// Verified (0).
    Verified,
    /// Self-signed (1): a custom OS.
    SelfSigned,
    /// Unverified (2): an unlocked bootloader running anything.
    Unverified,
}

/// How to make one attestation; [`AndroidKeySpec::genuine`] is what a real TEE sends.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AndroidKeySpec {
    /// The server's challenge.
    pub challenge: Vec<u8>,
    /// The package name.
    pub package: String,
    /// The package version.
    pub version: u64,
    /// SHA-256 digests of the APK's signing certificates.
    pub signing_cert_sha256: Vec<[u8; 32]>,
    /// Where the attestation was made.
    pub attestation_level: SimSecurityLevel,
    /// Where the key lives.
    pub keymint_level: SimSecurityLevel,
    /// The verified boot state.
    pub boot: SimBoot,
    /// Whether the bootloader is locked.
    pub device_locked: bool,
    /// OS patch level, `YYYYMM`.
    pub os_patch_level: u32,
    /// Sign the leaf with a key that is not the intermediate's (a chain that does not verify).
    pub forged_leaf_signature: bool,
    /// The leaf's validity ended yesterday.
    pub expired: bool,
}

impl AndroidKeySpec {
    /// A genuine TEE attestation of `package` signed by `signing_cert_sha256`.
    pub fn genuine(challenge: &[u8], package: &str, signing_cert_sha256: [u8; 32]) -> Self {
        Self {
            challenge: challenge.to_vec(),
            package: package.to_string(),
            version: 1,
            signing_cert_sha256: vec![signing_cert_sha256],
            attestation_level: SimSecurityLevel::Tee,
            keymint_level: SimSecurityLevel::Tee,
            boot: SimBoot::Verified,
            device_locked: true,
            os_patch_level: 202_601,
            forged_leaf_signature: false,
            expired: false,
        }
    }
}

/// A test Google attestation CA: root and intermediate.
#[derive(Debug)]
pub struct AndroidAttestCa {
    root: Ca,
    intermediate: Ca,
}

/// One simulated attestation: the chain to send and the key that will sign.
#[derive(Debug)]
pub struct AndroidAttestation {
    /// The chain, PEM, leaf first, root last (as Android returns it).
    pub chain_pem: String,
    /// The attested key.
    pub key: SimAndroidKey,
}

impl AndroidAttestCa {
    /// A fresh root (P-384) and intermediate.
    pub fn generate() -> Result<Self, Error> {
        let root = Ca::new(
            "Test Google Key Attestation Root",
            &rcgen::PKCS_ECDSA_P384_SHA384,
            None,
        )?;
        let intermediate = Ca::new(
            "Test Google Key Attestation Intermediate",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            Some(&root),
        )?;
        Ok(Self { root, intermediate })
    }

    /// The root, PEM.
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// An attestation of a fresh P-256 key as `spec` says.
    pub fn attest(&self, spec: &AndroidKeySpec) -> Result<AndroidAttestation, Error> {
        let (signer, cert_key) = p256_key()?;
        let mut params = leaf_params("Android Keystore Key", spec.expired);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                KEY_DESCRIPTION_OID,
                key_description(spec),
            ));
        let forger;
        let issuer_key = if spec.forged_leaf_signature {
            forger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(Error::rcgen("forger key"))?;
            &forger
        } else {
            &self.intermediate.key
        };
        let issuer = rcgen::Issuer::from_params(&self.intermediate.params, issuer_key);
        let leaf = params
            .signed_by(&cert_key, &issuer)
            .map_err(Error::rcgen("signing the attestation leaf"))?;
        let chain_pem = [leaf.pem(), self.intermediate.pem(), self.root.pem()].concat();
        Ok(AndroidAttestation {
            chain_pem,
            key: SimAndroidKey {
                spki: rcgen::PublicKeyData::subject_public_key_info(&cert_key),
                signer,
            },
        })
    }
}

/// The device side of an attested Android key.
#[derive(Debug)]
pub struct SimAndroidKey {
    signer: aws_lc_rs::signature::EcdsaKeyPair,
    spki: Vec<u8>,
}

impl SimAndroidKey {
    /// ECDSA P-256 SHA-256 (ASN.1 DER) over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        sign(&self.signer, message)
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
}

fn level(l: SimSecurityLevel) -> Vec<u8> {
    tlv(
        TAG_ENUMERATED,
        &[match l {
            SimSecurityLevel::Software => 0,
            SimSecurityLevel::Tee => 1,
            SimSecurityLevel::StrongBox => 2,
        }],
    )
}

/// `[tag] EXPLICIT inner`, context-specific and constructed, in high-tag form above 30.
fn explicit(tag: u32, inner: &[u8]) -> Vec<u8> {
    let mut out = if tag < 31 {
        vec![0xa0 | tag as u8]
    } else {
        let mut groups = vec![(tag & 0x7f) as u8];
        let mut t = tag >> 7;
        while t > 0 {
            groups.push(0x80 | (t & 0x7f) as u8);
            t >>= 7;
        }
        groups.push(0xbf);
        groups.reverse();
        groups
    };
    // The length and content as `tlv` writes them, after its one-byte tag.
    out.extend_from_slice(&tlv(0, inner)[1..]);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

/// The KeyDescription SEQUENCE (attestation version 300, KeyMint 300).
fn key_description(spec: &AndroidKeySpec) -> Vec<u8> {
    let package_info = seq(&[
        tlv(TAG_OCTET_STRING, spec.package.as_bytes()),
        uint(&spec.version.to_be_bytes()),
    ]);
    let digests: Vec<u8> = spec
        .signing_cert_sha256
        .iter()
        .flat_map(|d| tlv(TAG_OCTET_STRING, d))
        .collect();
    let application_id = seq(&[tlv(TAG_SET, &package_info), tlv(TAG_SET, &digests)]);
    let software = seq(&[explicit(709, &tlv(TAG_OCTET_STRING, &application_id))]);
    let root_of_trust = seq(&[
        tlv(TAG_OCTET_STRING, &[0x5a; 32]),
        tlv(TAG_BOOLEAN, &[if spec.device_locked { 0xff } else { 0 }]),
        tlv(
            TAG_ENUMERATED,
            &[match spec.boot {
                SimBoot::Verified => 0,
                SimBoot::SelfSigned => 1,
                SimBoot::Unverified => 2,
            }],
        ),
        tlv(TAG_OCTET_STRING, &[0x11; 32]),
    ]);
    let hardware = seq(&[
        explicit(704, &root_of_trust),
        explicit(706, &uint(&spec.os_patch_level.to_be_bytes())),
    ]);
    seq(&[
        uint(&300u32.to_be_bytes()),
        level(spec.attestation_level),
        uint(&300u32.to_be_bytes()),
        level(spec.keymint_level),
        tlv(TAG_OCTET_STRING, &spec.challenge),
        tlv(TAG_OCTET_STRING, &[]),
        software,
        hardware,
    ])
}
