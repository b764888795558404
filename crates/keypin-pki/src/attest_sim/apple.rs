//! App Attest: a test "Apple App Attestation Root CA" (P-384) and intermediate, credential
//! certificates carrying the nonce extension 1.2.840.113635.100.8.2, attestation objects
//! `{fmt: "apple-appattest", attStmt: {x5c: [credCert, intermediate], receipt}, authData}` and
//! assertions `{signature, authenticatorData}`, as an iOS device makes them.

use ciborium::Value;
use rcgen::{CustomExtension, KeyPair};

use super::{Ca, leaf_params, p256_key, sha256, sign};
use crate::Error;
use crate::der::{TAG_OCTET_STRING, sequence, tlv};

const NONCE_OID: &[u64] = &[1, 2, 840, 113635, 100, 8, 2];

/// The App Attest environment (the AAGUID the device writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppleEnvironment {
    /// `appattestdevelop`.
    Development,
    /// `appattest` and seven zero bytes.
    Production,
}

impl AppleEnvironment {
    fn aaguid(self) -> [u8; 16] {
        match self {
            Self::Development => *b"appattestdevelop",
            Self::Production => *b"appattest\0\0\0\0\0\0\0",
        }
    }
}

/// What the credential certificate says about the nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceExtension {
    /// `SEQUENCE { [1] EXPLICIT OCTET STRING nonce }`, as Apple writes it.
    Correct,
    /// No extension at all.
    Missing,
    /// The extension holds a bare OCTET STRING instead of the sequence.
    Malformed,
}

/// The credential key the device certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKey {
    /// P-256, as App Attest uses.
    P256,
    /// P-384: not an App Attest key (for the "unusable key" failure); cannot assert.
    P384,
}

/// How to make one attestation; [`AppleAttestationSpec::genuine`] is what a real device sends.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppleAttestationSpec {
    /// `TEAMID.bundle.id`, hashed into the RP ID hash.
    pub app_id: String,
    /// The AAGUID's environment.
    pub environment: AppleEnvironment,
    /// The nonce extension.
    pub nonce: NonceExtension,
    /// The credential key type.
    pub credential_key: CredentialKey,
    /// The authenticator data's counter (0 in a genuine attestation).
    pub counter: u32,
    /// Replaces the credential id (normally the key id).
    pub credential_id: Option<Vec<u8>>,
    /// The credential certificate's validity ended yesterday.
    pub expired: bool,
}

impl AppleAttestationSpec {
    /// A genuine production attestation for `app_id`.
    pub fn genuine(app_id: &str) -> Self {
        Self {
            app_id: app_id.to_string(),
            environment: AppleEnvironment::Production,
            nonce: NonceExtension::Correct,
            credential_key: CredentialKey::P256,
            counter: 0,
            credential_id: None,
            expired: false,
        }
    }
}

/// A test App Attest CA: root and intermediate.
#[derive(Debug)]
pub struct AppleAttestCa {
    root: Ca,
    intermediate: Ca,
}

/// One simulated attestation: the object to send and the device key that will assert.
#[derive(Debug)]
pub struct AppleAttestation {
    /// The attestation object (CBOR).
    pub object: Vec<u8>,
    /// The attested key, as the device keeps it.
    pub key: SimAppleKey,
}

impl AppleAttestCa {
    /// A fresh root (P-384, like Apple's) and intermediate.
    pub fn generate() -> Result<Self, Error> {
        let root = Ca::new(
            "Test Apple App Attestation Root CA",
            &rcgen::PKCS_ECDSA_P384_SHA384,
            None,
        )?;
        let intermediate = Ca::new(
            "Test Apple App Attestation CA 1",
            &rcgen::PKCS_ECDSA_P384_SHA384,
            Some(&root),
        )?;
        Ok(Self { root, intermediate })
    }

    /// The root, PEM: what a verifier told to trust test roots trusts.
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// An attestation of a fresh key over `client_data_hash` (taken as given, any length).
    pub fn attest(
        &self,
        spec: &AppleAttestationSpec,
        client_data_hash: &[u8],
    ) -> Result<AppleAttestation, Error> {
        let (signer, cert_key) = match spec.credential_key {
            CredentialKey::P256 => {
                let (signer, key) = p256_key()?;
                (Some(signer), key)
            }
            CredentialKey::P384 => (
                None,
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
                    .map_err(Error::rcgen("P-384 credential key"))?,
            ),
        };
        let point = cert_key.public_key_raw().to_vec();
        let key_id = sha256(&[&point]);
        let credential_id = spec.credential_id.clone().unwrap_or(key_id.to_vec());
        let rp_id_hash = sha256(&[spec.app_id.as_bytes()]);
        let auth_data = attestation_auth_data(
            &rp_id_hash,
            spec.counter,
            spec.environment,
            &credential_id,
            &point,
        );
        let nonce = sha256(&[&auth_data, client_data_hash]);
        let cred_cert = self.credential_certificate(&cert_key, &nonce, spec, &key_id)?;
        let object = Value::Map(vec![
            (text("fmt"), text("apple-appattest")),
            (
                text("attStmt"),
                Value::Map(vec![
                    (
                        text("x5c"),
                        Value::Array(vec![
                            Value::Bytes(cred_cert),
                            Value::Bytes(self.intermediate.der.clone()),
                        ]),
                    ),
                    (text("receipt"), Value::Bytes(b"simulated receipt".to_vec())),
                ]),
            ),
            (text("authData"), Value::Bytes(auth_data)),
        ]);
        Ok(AppleAttestation {
            object: cbor(&object)?,
            key: SimAppleKey {
                signer,
                point,
                key_id,
                rp_id_hash,
                counter: 0,
            },
        })
    }

    fn credential_certificate(
        &self,
        key: &KeyPair,
        nonce: &[u8; 32],
        spec: &AppleAttestationSpec,
        key_id: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        let mut params = leaf_params(&super::hex(key_id), spec.expired);
        let octets = tlv(TAG_OCTET_STRING, nonce);
        let content = match spec.nonce {
            NonceExtension::Correct => Some(sequence(&[&tlv(0xa1, &octets)])),
            NonceExtension::Malformed => Some(octets),
            NonceExtension::Missing => None,
        };
        if let Some(content) = content {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(NONCE_OID, content));
        }
        let issuer = rcgen::Issuer::from_params(&self.intermediate.params, &self.intermediate.key);
        let cert = params
            .signed_by(key, &issuer)
            .map_err(Error::rcgen("signing the credential certificate"))?;
        Ok(cert.der().to_vec())
    }
}

/// The device side of an attested key: makes assertions with a counter that rises.
#[derive(Debug)]
pub struct SimAppleKey {
    signer: Option<aws_lc_rs::signature::EcdsaKeyPair>,
    point: Vec<u8>,
    key_id: [u8; 32],
    rp_id_hash: [u8; 32],
    counter: u32,
}

impl SimAppleKey {
    /// The key id the app sends with the attestation (SHA-256 of the public key).
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// The public key, an uncompressed point.
    pub fn public_key(&self) -> &[u8] {
        &self.point
    }

    /// The counter of the last assertion made (0 before the first).
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The next assertion over `client_data_hash`, the counter one higher.
    pub fn assert(&mut self, client_data_hash: &[u8]) -> Result<Vec<u8>, Error> {
        self.counter += 1;
        self.assert_with_counter(self.counter, client_data_hash)
    }

    /// An assertion with the counter given (a rolled-back device writes a lower one).
    pub fn assert_with_counter(
        &self,
        counter: u32,
        client_data_hash: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let signer = self.signer.as_ref().ok_or_else(|| Error::Unsupported {
            what: "a P-384 credential key cannot make App Attest assertions".into(),
        })?;
        let mut auth_data = self.rp_id_hash.to_vec();
        auth_data.push(0x40);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let nonce = sha256(&[&auth_data, client_data_hash]);
        let signature = sign(signer, &nonce)?;
        cbor(&Value::Map(vec![
            (text("signature"), Value::Bytes(signature)),
            (text("authenticatorData"), Value::Bytes(auth_data)),
        ]))
    }
}

/// RP ID hash, flags (AT), counter, AAGUID, credential id length and id, COSE key.
fn attestation_auth_data(
    rp_id_hash: &[u8; 32],
    counter: u32,
    environment: AppleEnvironment,
    credential_id: &[u8],
    point: &[u8],
) -> Vec<u8> {
    let mut out = rp_id_hash.to_vec();
    out.push(0x40);
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(&environment.aaguid());
    out.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
    out.extend_from_slice(credential_id);
    let half = (point.len() - 1) / 2;
    let cose = Value::Map(vec![
        (Value::from(1), Value::from(2)),
        (Value::from(3), Value::from(-7)),
        (Value::from(-1), Value::from(1)),
        (Value::from(-2), Value::Bytes(point[1..1 + half].to_vec())),
        (Value::from(-3), Value::Bytes(point[1 + half..].to_vec())),
    ]);
    // Serialising a map of integers and bytes into a Vec cannot fail.
    let mut buf = Vec::new();
    let _ = ciborium::into_writer(&cose, &mut buf);
    out.extend_from_slice(&buf);
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn cbor(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| Error::Unsupported {
        what: format!("CBOR encoding: {e}"),
    })?;
    Ok(out)
}
