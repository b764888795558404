//! Secrets instead of API keys shipped in the app: `[[secret]]` entries of gate.toml name the
//! apps (and the lowest key security level) that may receive each. A secret is released only
//! in a successful assertion's response, sealed with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) to the ephemeral X25519 key
//! inside the client data the attested key signed, so nobody in between can substitute a key;
//! the HPKE `info` names the secret and the AAD is the client data hash. Values are never
//! logged (the audit log names the secret only) and never printed by `Debug`.
//!
//! ```toml
//! [[secret]]
//! name = "maps_api_key"
//! value_env = "MAPS_API_KEY"        # or value_file = "maps.key"
//! apps = ["example"]
//! min_security_level = "tee"        # or "strongbox" (iOS's Secure Enclave counts as such)
//! ```

use hpke::{Deserializable as _, OpModeS, Serializable as _};

use crate::GateError;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// The HPKE `info` prefix; the secret's name follows.
pub const HPKE_INFO_PREFIX: &[u8] = b"keypin-gate secret ";

/// One configured secret.
pub struct Secret {
    /// Its name, as the app asks for it.
    pub name: String,
    value: Vec<u8>,
    /// The apps that may receive it.
    pub apps: Vec<String>,
    /// The lowest key security level that may receive it (1 tee, 2 strongbox or Secure
    /// Enclave).
    pub min_rank: u8,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("apps", &self.apps)
            .field("min_rank", &self.min_rank)
            .finish()
    }
}

/// The rank of a stored security level.
pub(crate) fn rank(level: &str) -> u8 {
    match level {
        "strongbox" | "secure-enclave" => 2,
        "tee" => 1,
        _ => 0,
    }
}

impl Secret {
    /// A secret named `name` holding `value`.
    pub fn new(name: String, value: Vec<u8>, apps: Vec<String>, min_rank: u8) -> Self {
        Self {
            name,
            value,
            apps,
            min_rank,
        }
    }

    /// Whether an install of `app` with a key at `level` may receive it.
    pub fn entitled(&self, app: &str, level: &str) -> bool {
        self.apps.iter().any(|a| a == app) && rank(level) >= self.min_rank.max(1)
    }

    /// Seals the value to `ephemeral_key` (a raw X25519 public key): (encapsulated key,
    /// ciphertext).
    pub fn seal(&self, ephemeral_key: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GateError> {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(ephemeral_key).map_err(|e| {
            GateError::BadRequest(format!(
                "client_data.ephemeral_key: not an X25519 public key: {e}"
            ))
        })?;
        let info = [HPKE_INFO_PREFIX, self.name.as_bytes()].concat();
        let (enc, ciphertext) =
            hpke::single_shot_seal::<Aead, Kdf, Kem>(&OpModeS::Base, &pk, &info, &self.value, aad)
                .map_err(|e| GateError::Token(format!("HPKE seal of {}: {e}", self.name)))?;
        Ok((enc.to_bytes().to_vec(), ciphertext))
    }
}

/// Opens a sealed secret with the app's ephemeral private key (for apps in Rust, tests and the
/// demo).
pub fn open(
    ephemeral_private: &[u8],
    name: &str,
    enc: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, String> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(ephemeral_private)
        .map_err(|e| format!("private key: {e}"))?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|e| format!("encapsulated key: {e}"))?;
    let info = [HPKE_INFO_PREFIX, name.as_bytes()].concat();
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        &sk,
        &enc,
        &info,
        ciphertext,
        aad,
    )
    .map_err(|e| format!("HPKE open: {e}"))
}

/// A fresh ephemeral X25519 key pair: (private, public), raw bytes.
pub fn ephemeral_keypair() -> (Vec<u8>, Vec<u8>) {
    use hpke::Kem as _;
    let (sk, pk) = Kem::gen_keypair();
    (sk.to_bytes().to_vec(), pk.to_bytes().to_vec())
}
