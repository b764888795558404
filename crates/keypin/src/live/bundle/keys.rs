//! Ed25519 signing keys and public keys, with their text forms and key ids.

use core::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::BundleError;

/// The prefix of a public key's text form: `ed25519:<base64 of the 32 key bytes>`.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";

const PEM_LABEL: &str = "PRIVATE KEY";

/// An Ed25519 public key that may sign roots or bundles.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    bytes: [u8; 32],
    id: KeyId,
}

/// A key's id: the lowercase hex SHA-256 of its 32 public-key bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyId(String);

impl KeyId {
    /// Parses an id written as text: exactly 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let ok = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(BundleError::Key {
                reason: format!("a key id is 64 lowercase hex digits, not {text:?}"),
            });
        }
        Ok(Self(text.to_string()))
    }

    /// The id as text (64 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PublicKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let id = KeyId(hex(digest.as_ref()));
        Self { bytes, id }
    }

    /// Parses the text form `ed25519:<base64>` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let text = text.trim();
        let b64 = text
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or_else(|| BundleError::Key {
                reason: format!("a public key must start with {PUBLIC_KEY_PREFIX:?}"),
            })?;
        let raw = STANDARD.decode(b64).map_err(|e| BundleError::Key {
            reason: format!("the public key is not valid base64: {e}"),
        })?;
        let bytes: [u8; 32] = raw.try_into().map_err(|raw: Vec<u8>| BundleError::Key {
            reason: format!("an Ed25519 public key has 32 bytes, this one {}", raw.len()),
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whether `signature` is this key's signature over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.bytes)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", STANDARD.encode(self.bytes))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self}, id {})", self.id)
    }
}

/// An Ed25519 private key that signs roots or bundles.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(id {})", self.public.id)
    }
}

impl SigningKey {
    /// A fresh key from the system's secure random source. Returns the key and its PKCS#8
    /// PEM form (to store, mode 0600).
    pub fn generate() -> Result<(Self, String), BundleError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| BundleError::Key {
                reason: format!("cannot generate an Ed25519 key: {e}"),
            })?;
        let pem = to_pem(doc.as_ref());
        Ok((Self::from_pkcs8_der(doc.as_ref())?, pem))
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, BundleError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der))
            .map_err(|e| BundleError::Key {
                reason: format!("not an Ed25519 PKCS#8 private key: {e}"),
            })?;
        let bytes: [u8; 32] =
            pair.public_key()
                .as_ref()
                .try_into()
                .map_err(|_| BundleError::Key {
                    reason: "the Ed25519 public key does not have 32 bytes".into(),
                })?;
        Ok(Self {
            pair,
            public: PublicKey::from_bytes(bytes),
        })
    }

    /// A key from a PEM `PRIVATE KEY` block (PKCS#8), as [`SigningKey::generate`] writes it.
    pub fn from_pem(text: &str) -> Result<Self, BundleError> {
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != format!("-----BEGIN {PEM_LABEL}-----"))
            .skip(1)
            .take_while(|l| *l != format!("-----END {PEM_LABEL}-----"))
            .collect();
        if body.is_empty() {
            return Err(BundleError::Key {
                reason: format!("no -----BEGIN {PEM_LABEL}----- block found"),
            });
        }
        let der = STANDARD.decode(body).map_err(|e| BundleError::Key {
            reason: format!("the PEM block is not valid base64: {e}"),
        })?;
        Self::from_pkcs8_der(&der)
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` (already carrying its context prefix).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {PEM_LABEL}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_id_parse_takes_exactly_what_id_writes() {
        let key = PublicKey::from_bytes([7; 32]);
        let id = key.id().as_str();
        assert_eq!(KeyId::parse(id).unwrap(), *key.id());
        let rows = [
            ("", "empty"),
            (&id[..63], "one digit short"),
            (&format!("{id}0"), "one digit long"),
            (&id.to_uppercase(), "uppercase"),
            (&format!("{}g", &id[..63]), "not hex"),
            (&format!(" {}", &id[1..]), "a space"),
        ];
        for (text, what) in rows {
            assert!(KeyId::parse(text).is_err(), "{what}: {text:?}");
        }
    }
}
