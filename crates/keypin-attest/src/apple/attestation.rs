//! Attestation objects, verified in the order of Apple's "Validating apps that connect to
//! your server", "Verify the attestation", steps 1–9. Each step is numbered as in that list.

use std::sync::OnceLock;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::auth_data;
use super::{APPLE_APP_ATTESTATION_ROOT_CA_PEM, AppId, AppleFailure, Environment, P256PublicKey};
use crate::chain::{self, ChainError, rfc3339};
use crate::{der, hex, sha256};

/// The credential certificate extension holding the nonce.
const NONCE_OID: &str = "1.2.840.113635.100.8.2";
const FORMAT: &str = "apple-appattest";

/// What the server expects of an attestation.
#[derive(Debug, Clone, Copy)]
pub struct AttestationRequest<'a> {
    /// The App ID (`TEAMID.bundle.id`) the key must be bound to.
    pub app_id: &'a AppId,
    /// The key id the app sent with the attestation (32 bytes, SHA-256 of the key).
    pub key_id: &'a [u8],
    /// The client data hash the app passed to `attestKey`, exactly as given (any length).
    pub client_data_hash: &'a [u8],
    /// The environment the attestation must come from.
    pub environment: Environment,
    /// The time to verify the certificates at.
    pub now: UnixTime,
}

/// A verified attestation: what the server stores for later assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedKey {
    /// The key id (SHA-256 of the public key).
    pub key_id: [u8; 32],
    /// The attested public key.
    pub public_key: P256PublicKey,
    /// The counter to compare the first assertion against (always 0).
    pub counter: u32,
    /// The environment the AAGUID named.
    pub environment: Environment,
    /// The App Attest receipt (for Apple's fraud-metric service), as sent.
    pub receipt: Vec<u8>,
}

fn apple_root() -> &'static [TrustAnchor<'static>] {
    static ROOT: OnceLock<Vec<TrustAnchor<'static>>> = OnceLock::new();
    ROOT.get_or_init(|| chain::anchors_from_pem(&[APPLE_APP_ATTESTATION_ROOT_CA_PEM]))
}

pub(crate) fn chain_failure(e: ChainError, now: UnixTime) -> AppleFailure {
    match e {
        ChainError::UnknownRoot => AppleFailure::ChainToUnknownRoot,
        ChainError::Expired { not_after } => AppleFailure::CertificateExpired {
            not_after: rfc3339(not_after),
            now: rfc3339(now),
        },
        ChainError::NotYetValid { not_before } => AppleFailure::CertificateNotYetValid {
            not_before: rfc3339(not_before),
            now: rfc3339(now),
        },
        ChainError::Invalid(reason) => AppleFailure::ChainInvalid { reason },
    }
}

/// Verifies an App Attest attestation object (raw CBOR) against `request`, trusting the Apple
/// App Attestation Root CA only.
pub fn verify_attestation(
    attestation_object: &[u8],
    request: &AttestationRequest<'_>,
) -> Result<AttestedKey, AppleFailure> {
    verify_attestation_to(attestation_object, request, apple_root())
}

/// [`verify_attestation`] with the trust anchors given (the Apple root, or the test roots of
/// [`crate::danger`]).
pub(crate) fn verify_attestation_to(
    attestation_object: &[u8],
    request: &AttestationRequest<'_>,
    anchors: &[TrustAnchor<'_>],
) -> Result<AttestedKey, AppleFailure> {
    // Decoding, bounded: the object is {fmt, attStmt: {x5c, receipt}, authData}.
    let object = decode(attestation_object)?;
    let header = auth_data::parse("attestation", &object.auth_data)?;
    let credential = auth_data::attested_credential(&object.auth_data)?;

    // 1. Verify that the x5c array contains the intermediate and leaf certificates for App
    //    Attest, starting from the credential certificate (credCert), and verify them with
    //    Apple's App Attest root certificate.
    let certs: Vec<CertificateDer<'_>> = object
        .x5c
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let (cred_cert_der, intermediates) = certs.split_first().ok_or(AppleFailure::ChainInvalid {
        reason: "x5c is empty".into(),
    })?;
    chain::verify(cred_cert_der, intermediates, anchors, request.now)
        .map_err(|e| chain_failure(e, request.now))?;
    let (_, cred_cert) = X509Certificate::from_der(cred_cert_der.as_ref()).map_err(|e| {
        AppleFailure::ChainInvalid {
            reason: format!("credential certificate: {e}"),
        }
    })?;

    // 2. clientDataHash is the server's challenge as hashed by the app: taken as given and
    //    appended to the authenticator data.
    // 3. nonce = SHA-256(authData ‖ clientDataHash).
    let nonce = sha256(&[&object.auth_data, request.client_data_hash]);

    // 4. The credCert extension 1.2.840.113635.100.8.2 is a DER SEQUENCE holding one OCTET
    //    STRING; it must equal nonce.
    let certified = certified_nonce(&cred_cert)?;
    if certified != nonce {
        return Err(AppleFailure::NonceMismatch {
            computed: hex(&nonce),
            certified: hex(&certified),
        });
    }

    // 5. SHA-256 of credCert's public key (the uncompressed point) must be the key id the app
    //    sent.
    let public_key = super::p256_from_spki(cred_cert.public_key())
        .map_err(|reason| AppleFailure::CredentialKeyUnusable { reason })?;
    let key_id = public_key.key_id();
    if key_id.as_slice() != request.key_id {
        return Err(AppleFailure::KeyIdMismatch {
            expected: hex(request.key_id),
            computed: hex(&key_id),
        });
    }

    // 6. SHA-256 of the App ID must be the authenticator data's RP ID hash.
    if sha256(&[request.app_id.as_str().as_bytes()]).as_slice() != header.rp_id_hash {
        return Err(AppleFailure::RpIdMismatch {
            app_id: request.app_id.to_string(),
        });
    }

    // 7. The counter must be 0.
    if header.counter != 0 {
        return Err(AppleFailure::CounterNotZero {
            counter: header.counter,
        });
    }

    // 8. The AAGUID must be `appattestdevelop` (development) or `appattest` and seven zero
    //    bytes (production), as the server expects.
    check_environment(credential.aaguid, request.environment)?;

    // 9. The credential id must be the key id.
    if credential.credential_id != key_id.as_slice() {
        return Err(AppleFailure::CredentialIdMismatch {
            found: hex(credential.credential_id),
        });
    }

    Ok(AttestedKey {
        key_id,
        public_key,
        counter: 0,
        environment: request.environment,
        receipt: object.receipt,
    })
}

fn decode(attestation_object: &[u8]) -> Result<crate::cbor::AttestationObject, AppleFailure> {
    let object = crate::cbor::decode_attestation_object(attestation_object)
        .map_err(AppleFailure::AttestationUnreadable)?;
    if object.fmt != FORMAT {
        return Err(AppleFailure::WrongFormat { fmt: object.fmt });
    }
    Ok(object)
}

/// Step 8.
fn check_environment(aaguid: &[u8], expected: Environment) -> Result<(), AppleFailure> {
    if aaguid == expected.aaguid() {
        return Ok(());
    }
    let found = Environment::from_aaguid(aaguid).map_or_else(|| hex(aaguid), |e| e.to_string());
    Err(AppleFailure::EnvironmentMismatch { expected, found })
}

/// Step 4's extension: `SEQUENCE { [1] EXPLICIT OCTET STRING }`, the octets being the nonce.
fn certified_nonce(cert: &X509Certificate<'_>) -> Result<Vec<u8>, AppleFailure> {
    let mut found = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == NONCE_OID);
    let ext = found.next().ok_or(AppleFailure::NonceExtensionMissing)?;
    let malformed = |reason: String| AppleFailure::NonceExtensionMalformed { reason };
    if found.next().is_some() {
        return Err(malformed("the extension appears twice".into()));
    }
    let outer = der::one(ext.value).map_err(malformed)?;
    let items = outer.sequence("nonce extension").map_err(malformed)?;
    let [tagged] = items.as_slice() else {
        return Err(malformed(format!("{} elements, expected one", items.len())));
    };
    let nonce = tagged
        .explicit(1, "nonce")
        .and_then(|e| e.octets("nonce"))
        .map_err(malformed)?;
    Ok(nonce.to_vec())
}
