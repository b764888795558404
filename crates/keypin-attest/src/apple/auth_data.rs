//! Authenticator data (WebAuthn layout, as App Attest uses it): RP ID hash (32), flags (1),
//! counter (4, big-endian), then for an attestation the attested credential data: AAGUID (16),
//! credential id length (2, big-endian), credential id, credential public key (COSE; not read:
//! Apple's steps take the key from the credential certificate).

use super::AppleFailure;

#[derive(Debug)]
pub(crate) struct AuthData<'a> {
    pub(crate) rp_id_hash: &'a [u8],
    pub(crate) counter: u32,
}

#[derive(Debug)]
pub(crate) struct AttestedCredential<'a> {
    pub(crate) aaguid: &'a [u8],
    pub(crate) credential_id: &'a [u8],
}

const HEADER: usize = 37;

fn malformed(what: &'static str, reason: String) -> AppleFailure {
    AppleFailure::AuthDataMalformed { what, reason }
}

/// The fixed header. Flags are not judged: Apple's steps do not, and some iOS versions set
/// bits a strict reader would refuse.
pub(crate) fn parse<'a>(what: &'static str, data: &'a [u8]) -> Result<AuthData<'a>, AppleFailure> {
    if data.len() < HEADER {
        return Err(malformed(
            what,
            format!("{} bytes, shorter than the 37-byte header", data.len()),
        ));
    }
    Ok(AuthData {
        rp_id_hash: &data[..32],
        counter: u32::from_be_bytes([data[33], data[34], data[35], data[36]]),
    })
}

/// The attested credential data after the header.
pub(crate) fn attested_credential(data: &[u8]) -> Result<AttestedCredential<'_>, AppleFailure> {
    let what = "attestation";
    let rest = data.get(HEADER..).unwrap_or_default();
    if rest.len() < 18 {
        return Err(malformed(
            what,
            "no attested credential data (AAGUID and credential id)".into(),
        ));
    }
    let (aaguid, rest) = rest.split_at(16);
    let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let credential_id = rest.get(2..2 + len).ok_or_else(|| {
        malformed(
            what,
            format!("credential id length {len} runs past the end"),
        )
    })?;
    Ok(AttestedCredential {
        aaguid,
        credential_id,
    })
}
