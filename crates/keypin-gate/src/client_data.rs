//! The client data an app signs with its attested key for `POST /v1/assert` (JSON, UTF-8, at
//! most [`MAX_CLIENT_DATA_BYTES`]); the App Attest client data hash is SHA-256 of its bytes
//! exactly as sent.
//!
//! ```json
//! {"challenge": "b64url", "method": "POST", "path": "/v1/orders", "body_sha256": "b64url",
//!  "channel": {"server_spki_sha256": "b64url", "tls_exporter": "b64url"},
//!  "ephemeral_key": "b64url",
//!  "runtime_findings": [{"id": "SH001", "severity": "high", "evidence": "TracerPid: 4242"}]}
//! ```
//!
//! `channel` is what the app saw of its TLS connection: the SHA-256 of the server key's SPKI
//! (and, where the gate terminates TLS itself, the RFC 9266 `tls-exporter` value).
//!
//! `runtime_findings` (optional) is what the app's runtime integrity checks saw (keypin-shield's
//! findings through `keypin::runtime::RuntimeFinding`, the same form as a pin-failure report's
//! `runtime-findings`): at most 16, each an id of at most 16 bytes, `low`/`medium`/`high`, and
//! evidence of at most 256 bytes; absent or `[]` when nothing was seen. The gate's
//! `on_runtime_findings` policy acts on them ([`crate::config::RuntimePolicy`]). They are
//! signed with the attested key, so nobody between the app and the gate can add or remove
//! them, but a hooked app signs whatever it is made to: their absence proves nothing.

use keypin::runtime::{MAX_EVIDENCE, MAX_FINDINGS, MAX_ID, RuntimeFinding};
use serde::Deserialize;

use crate::{GateError, from_b64url};

/// The largest client data accepted.
pub const MAX_CLIENT_DATA_BYTES: usize = 4096;

/// Parsed client data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// The challenge the gate issued.
    pub challenge: Vec<u8>,
    /// The API request the token is for: method.
    pub method: String,
    /// The API request's path.
    pub path: String,
    /// SHA-256 of the API request's body.
    pub body_sha256: [u8; 32],
    /// SHA-256 of the SPKI the app's TLS connection presented, if sent.
    pub server_spki_sha256: Option<[u8; 32]>,
    /// The RFC 9266 tls-exporter value of the app's connection, if sent.
    pub tls_exporter: Option<Vec<u8>>,
    /// An ephemeral public key for secrets, if sent.
    pub ephemeral_key: Option<Vec<u8>>,
    /// The app's runtime integrity findings (empty when none were sent).
    pub runtime_findings: Vec<RuntimeFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    challenge: String,
    method: String,
    path: String,
    body_sha256: String,
    #[serde(default)]
    channel: RawChannel,
    ephemeral_key: Option<String>,
    #[serde(default)]
    runtime_findings: Vec<RuntimeFinding>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    server_spki_sha256: Option<String>,
    tls_exporter: Option<String>,
}

fn digest(field: &str, text: &str) -> Result<[u8; 32], GateError> {
    <[u8; 32]>::try_from(from_b64url(field, text)?)
        .map_err(|v| GateError::BadRequest(format!("{field}: {} bytes, not 32", v.len())))
}

impl ClientData {
    /// Parses client data bytes (bounded first).
    pub fn parse(bytes: &[u8]) -> Result<Self, GateError> {
        if bytes.len() > MAX_CLIENT_DATA_BYTES {
            return Err(GateError::BadRequest(format!(
                "client_data: {} bytes, over the {MAX_CLIENT_DATA_BYTES}-byte bound",
                bytes.len()
            )));
        }
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| GateError::BadRequest(format!("client_data: {e}")))?;
        if raw.runtime_findings.len() > MAX_FINDINGS
            || raw
                .runtime_findings
                .iter()
                .any(|f| f.id.len() > MAX_ID || f.evidence.len() > MAX_EVIDENCE)
        {
            return Err(GateError::BadRequest(format!(
                "client_data.runtime_findings: at most {MAX_FINDINGS} findings, ids of at most \
                 {MAX_ID} bytes and evidence of at most {MAX_EVIDENCE}"
            )));
        }
        if raw.method.len() > 16 || raw.path.len() > 1024 || !raw.path.starts_with('/') {
            return Err(GateError::BadRequest(
                "client_data: method over 16 bytes, or path not /… of at most 1024 bytes".into(),
            ));
        }
        Ok(Self {
            challenge: from_b64url("client_data.challenge", &raw.challenge)?,
            method: raw.method,
            path: raw.path,
            body_sha256: digest("client_data.body_sha256", &raw.body_sha256)?,
            server_spki_sha256: raw
                .channel
                .server_spki_sha256
                .map(|s| digest("client_data.channel.server_spki_sha256", &s))
                .transpose()?,
            tls_exporter: raw
                .channel
                .tls_exporter
                .map(|s| from_b64url("client_data.channel.tls_exporter", &s))
                .transpose()?,
            ephemeral_key: raw
                .ephemeral_key
                .map(|s| from_b64url("client_data.ephemeral_key", &s))
                .transpose()?,
            runtime_findings: raw.runtime_findings,
        })
    }
}

/// `client_data` (as [`build`] or [`build_full`] made it) with the app's runtime integrity
/// findings added (kept within [`keypin::runtime::bounded`]'s limits).
pub fn with_runtime_findings(client_data: &[u8], findings: &[RuntimeFinding]) -> Vec<u8> {
    let mut data: serde_json::Value =
        serde_json::from_slice(client_data).unwrap_or_else(|_| serde_json::json!({}));
    data["runtime_findings"] =
        serde_json::to_value(keypin::runtime::bounded(findings.iter().cloned()))
            .unwrap_or_default();
    data.to_string().into_bytes()
}

/// Builds client data JSON (for apps written in Rust, tests and the demo) with the SPKI pin
/// of the server key the app saw, if given.
pub fn build(
    challenge: &[u8],
    method: &str,
    path: &str,
    body: &[u8],
    server_spki_sha256: Option<&[u8; 32]>,
) -> Vec<u8> {
    build_full(
        challenge,
        method,
        path,
        body,
        server_spki_sha256,
        None,
        None,
    )
}

/// As [`build`], with the connection's `tls-exporter` value (see `keypin::channel_binding`
/// for the client's side) and an ephemeral X25519 public key to seal secrets to, if given.
pub fn build_full(
    challenge: &[u8],
    method: &str,
    path: &str,
    body: &[u8],
    server_spki_sha256: Option<&[u8; 32]>,
    tls_exporter: Option<&[u8; 32]>,
    ephemeral_key: Option<&[u8]>,
) -> Vec<u8> {
    let mut channel = serde_json::Map::new();
    if let Some(value) = tls_exporter {
        channel.insert("tls_exporter".into(), crate::b64url(value).into());
    }
    if let Some(pin) = server_spki_sha256 {
        channel.insert("server_spki_sha256".into(), crate::b64url(pin).into());
    }
    let mut data = serde_json::json!({
        "challenge": crate::b64url(challenge),
        "method": method,
        "path": path,
        "body_sha256": crate::b64url(&crate::sha256(&[body])),
        "channel": channel,
    });
    if let Some(key) = ephemeral_key {
        data["ephemeral_key"] = crate::b64url(key).into();
    }
    data.to_string().into_bytes()
}
