//! keypin-gate: the server side of app attestation. An app instance proves once that its key
//! lives in a genuine device's secure hardware and belongs to the genuine app (Apple App
//! Attest, Android Key Attestation, judged by [`keypin_attest`]); afterwards each assertion,
//! signed with that key over client data naming a fresh challenge, the request and the TLS
//! channel the app saw, buys a short-lived ES256 token that API backends verify
//! ([`verify_token`]) without calling the gate.
//!
//! Routes ([`server::router`]; JSON in and out, binary fields base64url without padding):
//!
//! - `POST /v1/challenge {app}` → `{challenge, expires_at}`: 32 random bytes, single use.
//! - `POST /v1/register {app, platform: "ios", challenge, key_id, attestation}`: App Attest,
//!   the client data hash being SHA-256 of the challenge; or `{app, platform: "android",
//!   challenge, chain_pem}`: Key Attestation with the challenge as attestation challenge.
//!   → `{install_id}`.
//! - `POST /v1/assert {install_id, client_data, assertion | signature}`: the client data
//!   ([`client_data`]) signed by App Attest (client data hash = SHA-256 of its bytes) or by the
//!   attested Android key (ECDSA P-256, SHA-256, DER). → `{token, expires_at, secrets}`.
//! - `GET /.well-known/jwks.json`: the token keys.
//!
//! State lives in SQLite ([`store::Store`]); a challenge's use and a key's counter update are
//! one transaction. [`server::serve`] is plain HTTP (behind the API's TLS terminator: the SPKI
//! binding); [`server::serve_tls`] terminates TLS itself (the tls-exporter binding).
//!
//! What it does not stop: an attacker who controls a genuine device and hooks the code that
//! fills in the client data can lie about the channel; a genuine app's token, once issued, is
//! a bearer token for its lifetime; App Attest and Key Attestation vouch for the key and the
//! app's identity, not for the app's behaviour at run time.

#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

pub mod client_data;
pub mod config;
mod error;
pub mod report;
pub mod revocation;
pub mod secrets;
pub mod server;
pub mod store;
pub mod token;

pub use config::GateConfig;
pub use error::GateError;
pub use token::{Claims, Jwks, verify_token};

pub use keypin_attest::sha256;

pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn from_b64url(field: &str, text: &str) -> Result<Vec<u8>, GateError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| GateError::BadRequest(format!("{field}: not base64url: {e}")))
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
