//! Assertions, verified in the order of Apple's "Validating apps that connect to your server",
//! "Verify the assertion", steps 1–6. Steps 1 and 6 concern the client data, whose format is
//! the app's: the caller hashes it (step 1) and checks the challenge inside it (step 6).

use super::auth_data;
use super::{AppId, AppleFailure, P256PublicKey};
use crate::sha256;

/// What the server knows when an assertion arrives.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRequest<'a> {
    /// The App ID the key was attested for.
    pub app_id: &'a AppId,
    /// The public key stored from the attestation.
    pub public_key: &'a P256PublicKey,
    /// The client data hash the app passed to `generateAssertion`, as given (any length).
    pub client_data_hash: &'a [u8],
    /// The counter stored from the previous assertion (0 after the attestation).
    pub previous_counter: u32,
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's counter: store it for the next assertion.
    pub counter: u32,
}

/// Verifies an App Attest assertion (raw CBOR `{signature, authenticatorData}`).
pub fn verify_assertion(
    assertion: &[u8],
    request: &AssertionRequest<'_>,
) -> Result<VerifiedAssertion, AppleFailure> {
    let object =
        crate::cbor::decode_assertion(assertion).map_err(AppleFailure::AssertionUnreadable)?;
    let header = auth_data::parse("assertion", &object.authenticator_data)?;

    // 1. clientDataHash: given by the caller, as the app computed it.
    // 2. nonce = SHA-256(authenticatorData ‖ clientDataHash).
    let nonce = sha256(&[&object.authenticator_data, request.client_data_hash]);

    // 3. The signature (ECDSA P-256, ASN.1 DER, SHA-256) must verify over nonce with the
    //    stored public key.
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
    UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_ASN1,
        request.public_key.as_uncompressed(),
    )
    .verify(&nonce, &object.signature)
    .map_err(|_| AppleFailure::SignatureInvalid)?;

    // 4. SHA-256 of the App ID must be the RP ID hash.
    if sha256(&[request.app_id.as_str().as_bytes()]).as_slice() != header.rp_id_hash {
        return Err(AppleFailure::RpIdMismatch {
            app_id: request.app_id.to_string(),
        });
    }

    // 5. The counter must be above the stored one.
    if header.counter <= request.previous_counter {
        return Err(AppleFailure::CounterNotIncreasing {
            previous: request.previous_counter,
            found: header.counter,
        });
    }

    // 6. The challenge inside the client data: the caller's (it owns the client data format).
    Ok(VerifiedAssertion {
        counter: header.counter,
    })
}
