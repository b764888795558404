//! The signed envelope shared by roots and bundles, and the one threshold check.
//!
//! ```json
//! { "format": "keypin-bundle/1",
//!   "signed": "<base64 of the exact body bytes>",
//!   "signatures": [ { "key_id": "<hex sha-256 of the public key>", "sig": "<base64>" } ] }
//! ```
//!
//! Each signature is Ed25519 over `context || 0x00 || body bytes`, where the context is
//! [`BUNDLE_CONTEXT`](super::BUNDLE_CONTEXT) or [`ROOT_CONTEXT`](super::ROOT_CONTEXT), so a
//! root signature can never be replayed as a bundle signature or the other way round.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::keys::{KeyId, PublicKey, SigningKey};
use super::{BundleError, Signer};

/// At most this many signatures are looked at; more is refused before any is checked.
pub(crate) const MAX_SIGNATURES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Envelope {
    pub format: String,
    pub signed: String,
    pub signatures: Vec<SignatureEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignatureEntry {
    pub key_id: String,
    pub sig: String,
}

/// An envelope taken apart: the exact signed bytes and the signatures.
#[derive(Debug)]
pub(crate) struct Opened {
    pub body: Vec<u8>,
    pub signatures: Vec<SignatureEntry>,
}

/// Refuses oversized input, then parses the envelope (the body stays opaque bytes).
pub(crate) fn open(
    bytes: &[u8],
    what: &'static str,
    format: &str,
    max: usize,
) -> Result<Opened, BundleError> {
    if bytes.len() > max {
        return Err(BundleError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if env.format != format {
        return Err(BundleError::UnsupportedFormat {
            what,
            found: env.format,
            expected: format.to_string(),
        });
    }
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(BundleError::Malformed {
            what,
            reason: format!(
                "{} signatures; at most {MAX_SIGNATURES} are accepted",
                env.signatures.len()
            ),
        });
    }
    let body = STANDARD
        .decode(&env.signed)
        .map_err(|e| BundleError::Malformed {
            what,
            reason: format!("\"signed\" is not valid base64: {e}"),
        })?;
    Ok(Opened {
        body,
        signatures: env.signatures,
    })
}

/// Serialises an envelope around `body`, signed by each of `keys`.
pub(crate) fn seal(
    format: &str,
    context: &[u8],
    body: &[u8],
    keys: &[&SigningKey],
) -> Result<Vec<u8>, BundleError> {
    let message = message(context, body);
    let env = Envelope {
        format: format.to_string(),
        signed: STANDARD.encode(body),
        signatures: keys
            .iter()
            .map(|k| SignatureEntry {
                key_id: k.public_key().id().to_string(),
                sig: STANDARD.encode(k.sign(&message)),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&env).map_err(|e| BundleError::Malformed {
        what: "envelope",
        reason: e.to_string(),
    })?;
    out.push(b'\n');
    Ok(out)
}

pub(crate) fn message(context: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 1 + body.len());
    m.extend_from_slice(context);
    m.push(0);
    m.extend_from_slice(body);
    m
}

/// Whether `signers` (key ids, repeats allowed) include at least `threshold` distinct keys of
/// `keys`. The one place a threshold is counted: the signature check below and the rule that
/// keeps the version mark across a root rotation (`Root::accepts_signers`) both call it.
pub(crate) fn meets_threshold<'a>(
    signers: impl IntoIterator<Item = &'a KeyId>,
    keys: &[PublicKey],
    threshold: u32,
) -> bool {
    let trusted: BTreeSet<&KeyId> = signers
        .into_iter()
        .filter(|id| keys.iter().any(|k| k.id() == *id))
        .collect();
    trusted.len() >= threshold as usize
}

/// The threshold check, written once for roots and bundles: counts the distinct keys of
/// `keys` with a valid signature over `context || 0 || body`. A key counts once however many
/// times it signed; signatures by keys not in `keys` count for nothing. Returns the ids of the
/// keys whose signatures verified.
pub(crate) fn check_threshold(
    context: &[u8],
    body: &[u8],
    signatures: &[SignatureEntry],
    keys: &[PublicKey],
    threshold: u32,
    signer: Signer,
) -> Result<Vec<KeyId>, BundleError> {
    let message = message(context, body);
    let mut valid: BTreeSet<KeyId> = BTreeSet::new();
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    let mut duplicates = 0usize;
    for entry in signatures {
        let Some(key) = keys.iter().find(|k| k.id().as_str() == entry.key_id) else {
            unknown.push(entry.key_id.clone());
            continue;
        };
        if valid.contains(key.id()) {
            duplicates += 1;
            continue;
        }
        let ok = STANDARD
            .decode(&entry.sig)
            .is_ok_and(|sig| key.verifies(&message, &sig));
        if ok {
            valid.insert(key.id().clone());
        } else {
            bad.push(entry.key_id.clone());
        }
    }
    if meets_threshold(&valid, keys, threshold) {
        return Ok(valid.into_iter().collect());
    }
    Err(BundleError::ThresholdNotMet {
        signer,
        valid: valid.len(),
        required: threshold,
        bad,
        unknown,
        duplicates,
    })
}
