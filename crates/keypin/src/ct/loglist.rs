//! The CT log list, in the format of Chrome's `log_list.json` v3, loaded only with a valid
//! detached signature.
//!
//! Format (as published at `ct/log_list/v3/log_list.json` with `log_list.sig`):
//! `{ "version", "log_list_timestamp", "operators": [ { "name", "email", "logs": [..],
//! "tiled_logs": [..] } ] }`, each log with `description`, `log_id` (base64 SHA-256 of the
//! key), `key` (base64 DER SubjectPublicKeyInfo), `state` (one of `pending`, `qualified`,
//! `usable`, `readonly`, `retired`, `rejected`, each with a `timestamp`) and an optional
//! `temporal_interval` (`start_inclusive`, `end_exclusive`: the certificates' notAfter range
//! the log accepts). Static-CT-API logs sit under `tiled_logs` and count like the others.
//! Unknown fields are ignored, so newer lists still load.
//!
//! Loading checks, in order: (1) the detached signature over the exact file bytes
//! (RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA P-256 with SHA-256, by the key given in
//! [`LogListSigner`]); a list whose signature fails is refused; (2) the JSON; (3) for every
//! log: the key is an ECDSA P-256 or RSA key, and `log_id` equals SHA-256 of the key;
//! (4) no log id appears twice. Any failure refuses the whole list and names the place.

use core::fmt;
use std::collections::HashMap;
use std::path::Path;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use super::CtError;
use super::sct::SctSignatureAlgorithm;
use crate::clock::Date;
use crate::pin::sha256;

/// Google's CT log-list signing key (RSA-4096), the key `log_list.sig` verifies with.
const GOOGLE_LOG_LIST_KEY_PEM: &str = include_str!("google_log_list_pubkey.pem");

/// The key a log list's detached signature must verify with.
#[derive(Clone)]
pub struct LogListSigner {
    key: ParsedPublicKey,
    algorithm: &'static str,
}

impl fmt::Debug for LogListSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogListSigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl LogListSigner {
    /// Google's key for Chrome's published log list (`log_list_pubkey.pem`).
    pub fn google() -> Result<Self, CtError> {
        Self::from_pem(GOOGLE_LOG_LIST_KEY_PEM)
    }

    /// A key from a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo): RSA (PKCS#1 v1.5
    /// signatures with SHA-256, 2048 to 8192 bits) or ECDSA P-256 (SHA-256).
    pub fn from_pem(pem: &str) -> Result<Self, CtError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| CtError::BadSignerKey(format!("expected a PEM PUBLIC KEY block: {e}")))?;
        Self::from_spki_der(der.as_ref())
    }

    /// A key from DER SubjectPublicKeyInfo bytes.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CtError> {
        if let Ok(key) = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der) {
            return Ok(Self {
                key,
                algorithm: "rsa-pkcs1-sha256",
            });
        }
        ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, der)
            .map(|key| Self {
                key,
                algorithm: "ecdsa-p256-sha256",
            })
            .map_err(|e| {
                CtError::BadSignerKey(format!(
                    "not an RSA or ECDSA P-256 SubjectPublicKeyInfo: {e}"
                ))
            })
    }
}

/// A log's state in the list (Chrome's log life cycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogStateKind {
    /// Submitted for inclusion, not yet trusted: its SCTs do not count.
    Pending,
    /// Being monitored; its SCTs count.
    Qualified,
    /// Trusted; its SCTs count.
    Usable,
    /// Frozen: no new entries; its SCTs count.
    ReadOnly,
    /// No longer trusted from `since`: only SCTs issued before that count.
    Retired,
    /// Never trusted: its SCTs do not count.
    Rejected,
    /// A state this version does not know: its SCTs do not count (fail closed).
    Unknown,
}

impl fmt::Display for LogStateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Qualified => "qualified",
            Self::Usable => "usable",
            Self::ReadOnly => "readonly",
            Self::Retired => "retired",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown",
        })
    }
}

/// A log's state and when it entered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The state.
    pub kind: LogStateKind,
    /// Since when, Unix seconds.
    pub since: i64,
}

/// One CT log from the list.
#[derive(Clone)]
pub struct Log {
    /// Human-readable name, like `Google 'Xenon2026h1' log`.
    pub description: String,
    /// The operator's name.
    pub operator: String,
    /// SHA-256 of the key (checked at load).
    pub log_id: [u8; 32],
    /// The state; `None` when the list gives none (SCTs from it do not count).
    pub state: Option<LogState>,
    /// The notAfter range `[start, end)` of certificates the log accepts, Unix seconds.
    pub temporal_interval: Option<(i64, i64)>,
    /// Listed under `tiled_logs` (a static-CT-API log).
    pub tiled: bool,
    pub(crate) key: ParsedPublicKey,
    pub(crate) key_algorithm: SctSignatureAlgorithm,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("description", &self.description)
            .field("operator", &self.operator)
            .field("log_id", &super::b64(&self.log_id))
            .field("state", &self.state)
            .field("temporal_interval", &self.temporal_interval)
            .field("tiled", &self.tiled)
            .field("key_algorithm", &self.key_algorithm)
            .finish()
    }
}

impl Log {
    /// The algorithm of the log's key, which its SCTs must use.
    pub fn key_algorithm(&self) -> SctSignatureAlgorithm {
        self.key_algorithm
    }
}

/// A verified CT log list. Build it with [`LogList::from_signed`], or take it from a verified
/// pin bundle ([`VerifiedBundle::ct_logs`](crate::live::bundle::VerifiedBundle::ct_logs)): there is
/// no way to get one without checking a signature over its exact bytes.
#[derive(Clone, Debug)]
pub struct LogList {
    version: String,
    timestamp: Option<i64>,
    logs: HashMap<[u8; 32], Log>,
}

#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    log_list_timestamp: Option<String>,
    operators: Vec<RawOperator>,
}

#[derive(Deserialize)]
struct RawOperator {
    name: String,
    #[serde(default)]
    logs: Vec<RawLog>,
    #[serde(default)]
    tiled_logs: Vec<RawLog>,
}

#[derive(Deserialize)]
struct RawLog {
    #[serde(default)]
    description: Option<String>,
    log_id: String,
    key: String,
    #[serde(default)]
    state: Option<HashMap<String, RawState>>,
    #[serde(default)]
    temporal_interval: Option<RawInterval>,
}

#[derive(Deserialize)]
struct RawState {
    timestamp: String,
}

#[derive(Deserialize)]
struct RawInterval {
    start_inclusive: String,
    end_exclusive: String,
}

impl LogList {
    /// Verifies `signature` over `json` with `signer`, then parses and checks the list.
    /// `source` names the list in messages.
    pub fn from_signed(
        json: &[u8],
        signature: &[u8],
        signer: &LogListSigner,
        source: &str,
    ) -> Result<Self, CtError> {
        // 1. The signature over the exact bytes, before anything in them is believed.
        signer
            .key
            .verify_sig(json, signature)
            .map_err(|_| CtError::LogListSignature {
                list: source.to_string(),
                algorithm: signer.algorithm,
            })?;
        parse_unverified(json, source)
    }

    /// Parses and checks a list whose bytes something else already authenticated: a signed
    /// pin bundle carrying it (the bundle's threshold of root signatures covers the exact
    /// bytes). Not public: an app gets such a list only from a verified bundle.
    pub(crate) fn from_authenticated(json: &[u8], source: &str) -> Result<Self, CtError> {
        parse_unverified(json, source)
    }

    /// Reads `json_path` and its detached signature `sig_path`, then [`Self::from_signed`].
    pub fn from_files(
        json_path: impl AsRef<Path>,
        sig_path: impl AsRef<Path>,
        signer: &LogListSigner,
    ) -> Result<Self, CtError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| CtError::Io {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let json = read(json_path.as_ref())?;
        let sig = read(sig_path.as_ref())?;
        Self::from_signed(
            &json,
            &sig,
            signer,
            &json_path.as_ref().display().to_string(),
        )
    }

    /// The list's `version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The list's `log_list_timestamp`, Unix seconds.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The log with this id.
    pub fn log(&self, log_id: &[u8; 32]) -> Option<&Log> {
        self.logs.get(log_id)
    }

    /// Every log, in no particular order.
    pub fn logs(&self) -> impl Iterator<Item = &Log> {
        self.logs.values()
    }

    /// How many logs the list holds.
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    /// True when the list holds no log.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }
}

/// Parses a log list without checking any signature: for fuzzing and for tools that show a
/// list. The result is not a [`LogList`], so it can never reach a verifier.
pub fn parse_log_list_unverified(json: &[u8]) -> Result<usize, CtError> {
    parse_unverified(json, "(unverified)").map(|l| l.len())
}

fn parse_unverified(json: &[u8], source: &str) -> Result<LogList, CtError> {
    let bad = |place: String, message: String| CtError::BadLogList {
        list: source.to_string(),
        place,
        message,
    };
    let raw: RawList = serde_json::from_slice(json).map_err(|e| {
        bad(
            format!("line {}, column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    let timestamp = match raw.log_list_timestamp.as_deref().map(parse_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return Err(bad("log_list_timestamp".into(), e)),
    };
    let mut logs: HashMap<[u8; 32], Log> = HashMap::new();
    for (i, op) in raw.operators.into_iter().enumerate() {
        let groups = [
            ("logs", op.logs, false),
            ("tiled_logs", op.tiled_logs, true),
        ];
        for (group, list, tiled) in groups {
            for (j, raw_log) in list.into_iter().enumerate() {
                let place = format!("operators[{i}].{group}[{j}]");
                let log = parse_log(raw_log, &op.name, tiled).map_err(|m| bad(place.clone(), m))?;
                if let Some(other) = logs.get(&log.log_id) {
                    return Err(bad(
                        place,
                        format!("log id listed twice (also for {:?})", other.description),
                    ));
                }
                logs.insert(log.log_id, log);
            }
        }
    }
    Ok(LogList {
        version: raw.version.unwrap_or_default(),
        timestamp,
        logs,
    })
}

fn parse_log(raw: RawLog, operator: &str, tiled: bool) -> Result<Log, String> {
    let key_der = STANDARD
        .decode(raw.key.trim())
        .map_err(|e| format!("key: not base64: {e}"))?;
    let (key, key_algorithm) =
        match ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &key_der) {
            Ok(k) => (k, SctSignatureAlgorithm::EcdsaP256Sha256),
            Err(_) => ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &key_der)
                .map(|k| (k, SctSignatureAlgorithm::RsaPkcs1Sha256))
                .map_err(|_| "key: not an ECDSA P-256 or RSA SubjectPublicKeyInfo".to_string())?,
        };
    let log_id = sha256(&[&key_der]);
    let claimed = STANDARD
        .decode(raw.log_id.trim())
        .map_err(|e| format!("log_id: not base64: {e}"))?;
    if claimed != log_id {
        return Err(format!(
            "log_id {} is not the SHA-256 of the key ({})",
            raw.log_id,
            super::b64(&log_id)
        ));
    }
    let state = match raw.state {
        None => None,
        Some(map) => {
            let mut it = map.into_iter();
            let (Some((name, st)), None) = (it.next(), it.next()) else {
                return Err("state: must name exactly one state".into());
            };
            let kind = match name.as_str() {
                "pending" => LogStateKind::Pending,
                "qualified" => LogStateKind::Qualified,
                "usable" => LogStateKind::Usable,
                "readonly" => LogStateKind::ReadOnly,
                "retired" => LogStateKind::Retired,
                "rejected" => LogStateKind::Rejected,
                _ => LogStateKind::Unknown,
            };
            let since =
                parse_rfc3339(&st.timestamp).map_err(|e| format!("state.{name}.timestamp: {e}"))?;
            Some(LogState { kind, since })
        }
    };
    let temporal_interval = match raw.temporal_interval {
        None => None,
        Some(t) => {
            let start = parse_rfc3339(&t.start_inclusive)
                .map_err(|e| format!("temporal_interval.start_inclusive: {e}"))?;
            let end = parse_rfc3339(&t.end_exclusive)
                .map_err(|e| format!("temporal_interval.end_exclusive: {e}"))?;
            if end <= start {
                return Err("temporal_interval: end_exclusive is not after start_inclusive".into());
            }
            Some((start, end))
        }
    };
    Ok(Log {
        description: raw
            .description
            .unwrap_or_else(|| format!("log {}", super::b64(&log_id))),
        operator: operator.to_string(),
        log_id,
        state,
        temporal_interval,
        tiled,
        key,
        key_algorithm,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only, as the log list writes it) to Unix
/// seconds; a fraction is dropped.
pub(crate) fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let err = || format!("{s:?} is not a UTC time like 2026-01-02T12:57:01Z");
    let (date, rest) = s.split_at_checked(10).ok_or_else(err)?;
    let date = Date::parse(date).map_err(|_| err())?;
    let rest = rest.strip_prefix('T').ok_or_else(err)?;
    let rest = rest.strip_suffix('Z').ok_or_else(err)?;
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let parts: Vec<&str> = hms.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return Err(err());
    };
    let num = |t: &str, max: i64| {
        if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<i64>().ok().filter(|v| *v <= max)
    };
    let (Some(h), Some(m), Some(sec)) = (num(h, 23), num(m, 59), num(sec, 60)) else {
        return Err(err());
    };
    Ok(date.start_secs() + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let rows: &[(&str, Option<i64>)] = &[
            ("2026-01-02T12:57:01Z", Some(1_767_358_621)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-01-02T12:57:01.250Z", Some(1_767_358_621)),
            ("2026-01-02T12:57:01+01:00", None),
            ("2026-01-02 12:57:01Z", None),
            ("2026-01-02T24:00:00Z", None),
            ("2026-02-30T00:00:00Z", None),
            ("2026-01-02T12:57Z", None),
            ("2026-01-02T12:57:01.Z", None),
            ("", None),
            ("2026-01-02T1é:57:01Z", None),
        ];
        for (text, want) in rows {
            assert_eq!(parse_rfc3339(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn unverified_parse_names_the_place_of_a_problem() {
        let rows: &[(&str, &str)] = &[
            ("{", "line 1, column 1"),
            (
                r#"{"operators": [{"name": "A", "logs": [{"log_id": "x", "key": "!!"}]}]}"#,
                "operators[0].logs[0]: key: not base64",
            ),
            (
                r#"{"operators": [{"name": "A", "tiled_logs": [{"log_id": "x", "key": "AAAA"}]}]}"#,
                "operators[0].tiled_logs[0]: key: not an ECDSA P-256 or RSA",
            ),
            (
                r#"{"log_list_timestamp": "yesterday", "operators": []}"#,
                "log_list_timestamp",
            ),
        ];
        for (json, words) in rows {
            let e = parse_log_list_unverified(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{json}: {e}");
        }
        assert_eq!(
            parse_log_list_unverified(br#"{"operators": []}"#).unwrap(),
            0
        );
    }
}
