//! Certificate Transparency (feature `ct`): the SCTs embedded in a leaf, verified against a
//! signed log list, counted against a rule's `require_sct`.
//!
//! For each SCT in the leaf's extension 1.3.6.1.4.1.11129.2.4.2 (RFC 6962 §3.3):
//! 1. find its log in the [`LogList`] by log id (unknown log: not counted);
//! 2. the SCT's signature algorithm must be the log key's (§2.1.4: ECDSA P-256 or RSA, SHA-256);
//! 3. rebuild the signed structure (§3.2): version, signature type, timestamp, entry type
//!    `precert_entry`, SHA-256 of the issuer's SubjectPublicKeyInfo (the issuer on the
//!    *verified* path), the precertificate TBS ([`precert_parts`]: the leaf's TBSCertificate
//!    without the SCT-list extension), and the SCT's extensions bytes as they are;
//! 4. verify the signature with the log's key;
//! 5. the timestamp must not be after now (the injected clock);
//! 6. the log must be trusted: `qualified` or `usable`; `readonly` or `retired` only for SCTs
//!    issued before the log froze or retired; `pending`, `rejected`, an unknown state or no
//!    state do not count;
//! 7. if the log has a temporal interval, the leaf's notAfter must fall in it.
//!
//! Then the rule's [`SctRequirement`] counts the valid SCTs (see there). Nothing here fails
//! open: a malformed certificate or SCT list refuses, and a rule that requires SCTs refuses
//! when no log list is configured.
//!
//! ```
//! use keypin::ct::{LogList, LogListSigner};
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ct");
//! # let (list, sig) = (format!("{dir}/chrome_log_list_v3_2026-01-02.json"),
//! #                   format!("{dir}/chrome_log_list_v3_2026-01-02.json.sig"));
//! // Chrome's log list and its detached signature, checked with Google's key.
//! let logs = LogList::from_files(&list, &sig, &LogListSigner::google()?)?;
//! let policy = Policy::from_toml_str(r#"
//!     [[rule]]
//!     hosts = ["api.example.com"]
//!     pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
//!             "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
//!     require_sct = "chrome"
//! "#, "embedded policy")?;
//! let config = PinnedConfig::builder(policy, Roots::webpki()).ct_logs(logs).build()?;
//! # let _ = config;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Policy
//!
//! A rule opts in with `require_sct` (see [`SctRequirement`]): `require_sct = N` asks for valid
//! SCTs from N distinct logs; `require_sct = "chrome"` (alias `"default"`) follows Chrome's CT
//! policy for embedded SCTs: 2 distinct logs for a leaf valid 180 days or less, 3 otherwise,
//! from at least 2 distinct operators, at least one of them from a log still qualified or
//! usable now. The check runs after the path validated, the pins matched and the hostname
//! checked, and refuses whatever the rule's mode (report-only is about pins). Configure the
//! log list with `PinnedConfigBuilder::ct_logs`; without one, every rule with `require_sct`
//! refuses its connections and says why.
//!
//! # Where a log list comes from
//!
//! [`LogList::from_signed`] takes the list bytes, the detached signature and the signer's key.
//! For Chrome's list that is `log_list.json` + `log_list.sig` with [`LogListSigner::google`];
//! because the signature is checked, the files may come from any mirror or an app's own CDN
//! (fetched with any client) or be embedded in the app. A team that curates its own list signs
//! it with its own RSA or ECDSA P-256 key and ships that key in the app.
//!
//! A signed pin bundle may carry the list too (`keypin bundle sign --ct-log-list`, body field
//! `ct_log_list`, `docs/bundle-format.md`), so the updater swaps it together with the pins:
//! the bundle's signatures cover the list's bytes, the list is parsed when the bundle is
//! verified ([`VerifiedBundle::ct_logs`](crate::bundle::VerifiedBundle::ct_logs)), and a
//! Google signature carried with it is checked when the app sets
//! `Expectations::ct_log_list_signer` (for the updater, `UpdaterConfig::ct_log_list_signer`).
//! A `PolicyStore` made with `PolicyStore::with_ct_logs` hands the bundle's list to new
//! connections while that bundle is in force, and the app's own list otherwise.
//!
//! # Fuzzing entry points
//!
//! [`parse_sct_list`], [`parse_sct`], [`precert_parts`] and [`parse_log_list_unverified`]
//! take arbitrary bytes and return a value or an error, never panic.
//!
//! Not covered: SCTs delivered in the TLS extension or in an OCSP response (x509 entries),
//! leaves issued through a dedicated precertificate-signing CA, and log-list freshness (a
//! list is used however old it is: ship new ones through the updater).

mod loglist;
mod precert;
mod sct;

use core::fmt;
use std::collections::HashSet;

use base64::Engine as _;
use rustls_pki_types::UnixTime;

pub use crate::policy::SctRequirement;
pub use loglist::{Log, LogList, LogListSigner, LogState, LogStateKind, parse_log_list_unverified};
pub use precert::{PrecertParts, precert_parts};
pub use sct::{
    Sct, SctSignatureAlgorithm, encode_sct_list, parse_sct, parse_sct_list, precert_signed_data,
};

use crate::clock::format_rfc3339;
use crate::pin::sha256;

/// What went wrong reading CT data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CtError {
    /// The leaf certificate could not be read as DER X.509.
    #[error("certificate transparency: malformed certificate: {0}")]
    BadCertificate(String),
    /// The embedded SCT list is malformed.
    #[error("certificate transparency: malformed SCT list: {0}")]
    BadSctList(String),
    /// The log list's detached signature does not verify: the list is refused.
    #[error(
        "log list {list} refused: its signature does not verify with the given {algorithm} key \
         (the file was changed, the .sig belongs to another file, or the key is wrong)"
    )]
    LogListSignature {
        /// The list.
        list: String,
        /// The signer key's algorithm.
        algorithm: &'static str,
    },
    /// The log list (signature valid) is not a usable v3 list.
    #[error("log list {list} refused: {place}: {message}")]
    BadLogList {
        /// The list.
        list: String,
        /// Where in it.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// The key given for the log list's signature is unusable.
    #[error("log list signing key refused: {0}")]
    BadSignerKey(String),
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        message: String,
    },
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why one SCT does or does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SctStatus {
    /// Counts.
    Valid,
    /// The log id is not in the log list.
    UnknownLog,
    /// The SCT is signed with another algorithm than the log's key.
    AlgorithmMismatch {
        /// What the SCT claims.
        sct: SctSignatureAlgorithm,
        /// The log key's algorithm.
        log: SctSignatureAlgorithm,
    },
    /// The signature does not verify over this leaf, issuer and timestamp.
    BadSignature,
    /// The timestamp is after now.
    FromTheFuture,
    /// The log is not trusted in its current state.
    LogNotTrusted(LogStateKind),
    /// The SCT was issued after the log retired or froze.
    AfterLogEnded(LogState),
    /// The leaf's notAfter is outside the log's temporal interval.
    OutsideTemporalInterval {
        /// Interval start (inclusive), Unix seconds.
        start: i64,
        /// Interval end (exclusive), Unix seconds.
        end: i64,
    },
}

impl fmt::Display for SctStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => f.write_str("valid"),
            Self::UnknownLog => f.write_str("unknown log (not in the log list)"),
            Self::AlgorithmMismatch { sct, log } => {
                write!(f, "signed with {sct}, but the log's key is {log}")
            }
            Self::BadSignature => f.write_str(
                "bad signature (not signed by this log over this certificate and issuer)",
            ),
            Self::FromTheFuture => f.write_str("timestamp is in the future"),
            Self::LogNotTrusted(state) => write!(f, "log is {state}, not trusted"),
            Self::AfterLogEnded(st) => write!(
                f,
                "issued after the log became {} on {}",
                st.kind,
                format_rfc3339(st.since)
            ),
            Self::OutsideTemporalInterval { start, end } => write!(
                f,
                "the certificate's notAfter is outside the log's interval {} .. {}",
                format_rfc3339(*start),
                format_rfc3339(*end)
            ),
        }
    }
}

/// The verdict on one embedded SCT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SctCheck {
    /// The SCT's log id.
    pub log_id: [u8; 32],
    /// The log's description, when the list knows it.
    pub log: Option<String>,
    /// The log's operator, when the list knows it.
    pub operator: Option<String>,
    /// The log's state, when known.
    pub log_state: Option<LogState>,
    /// The SCT's timestamp, ms since the epoch.
    pub timestamp_ms: u64,
    /// The verdict.
    pub status: SctStatus,
}

impl fmt::Display for SctCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = i64::try_from(self.timestamp_ms / 1000).unwrap_or(i64::MAX);
        match (&self.log, &self.operator) {
            (Some(log), Some(op)) => write!(f, "{log} ({op})")?,
            _ => write!(f, "log {}", b64(&self.log_id))?,
        }
        write!(f, ", {}: {}", format_rfc3339(secs), self.status)
    }
}

/// Every embedded SCT of a leaf, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedScts {
    /// One verdict per SCT, in the certificate's order; empty when the leaf has none.
    pub checks: Vec<SctCheck>,
    /// The leaf's notBefore, Unix seconds.
    pub not_before: i64,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
}

/// Verifies every SCT embedded in `leaf_der`, issued by the key `issuer_spki_der` (DER
/// SubjectPublicKeyInfo of the issuer on the verified path), against `logs` at `now`.
/// Errors only for malformed input; an SCT that does not count is a [`SctCheck`] saying why.
pub fn verify_embedded_scts(
    leaf_der: &[u8],
    issuer_spki_der: &[u8],
    logs: &LogList,
    now: UnixTime,
) -> Result<EmbeddedScts, CtError> {
    let parts = precert_parts(leaf_der)?;
    let scts = match &parts.sct_list {
        Some(list) => parse_sct_list(list)?,
        None => Vec::new(),
    };
    let issuer_key_hash = sha256(&[issuer_spki_der]);
    let now_ms = u128::from(now.as_secs()) * 1000;
    let mut checks = Vec::with_capacity(scts.len());
    for sct in &scts {
        let log = logs.log(&sct.log_id);
        let status = match log {
            None => SctStatus::UnknownLog,
            Some(log) => check_one(sct, log, &issuer_key_hash, &parts, now_ms)?,
        };
        checks.push(SctCheck {
            log_id: sct.log_id,
            log: log.map(|l| l.description.clone()),
            operator: log.map(|l| l.operator.clone()),
            log_state: log.and_then(|l| l.state),
            timestamp_ms: sct.timestamp_ms,
            status,
        });
    }
    Ok(EmbeddedScts {
        checks,
        not_before: parts.not_before,
        not_after: parts.not_after,
    })
}

fn check_one(
    sct: &Sct,
    log: &Log,
    issuer_key_hash: &[u8; 32],
    parts: &PrecertParts,
    now_ms: u128,
) -> Result<SctStatus, CtError> {
    if sct.algorithm != log.key_algorithm {
        return Ok(SctStatus::AlgorithmMismatch {
            sct: sct.algorithm,
            log: log.key_algorithm,
        });
    }
    let signed = precert_signed_data(
        sct.timestamp_ms,
        issuer_key_hash,
        &parts.tbs,
        &sct.extensions,
    )?;
    if log.key.verify_sig(&signed, &sct.signature).is_err() {
        return Ok(SctStatus::BadSignature);
    }
    if u128::from(sct.timestamp_ms) > now_ms {
        return Ok(SctStatus::FromTheFuture);
    }
    let sct_secs = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
    match log.state {
        None => return Ok(SctStatus::LogNotTrusted(LogStateKind::Unknown)),
        Some(st) => match st.kind {
            LogStateKind::Qualified | LogStateKind::Usable => {}
            LogStateKind::ReadOnly | LogStateKind::Retired => {
                if sct_secs >= st.since {
                    return Ok(SctStatus::AfterLogEnded(st));
                }
            }
            other => return Ok(SctStatus::LogNotTrusted(other)),
        },
    }
    if let Some((start, end)) = log.temporal_interval
        && !(start..end).contains(&parts.not_after)
    {
        return Ok(SctStatus::OutsideTemporalInterval { start, end });
    }
    Ok(SctStatus::Valid)
}

/// 180 days: Chrome's line between short-lived (2 SCTs) and longer-lived (3 SCTs) leaves.
const SHORT_LIVED_SECS: i64 = 180 * 86_400;

impl SctRequirement {
    /// Does `scts` meet this requirement at `now`? `Err` says what was missing.
    ///
    /// - `AtLeast(n)`: valid SCTs from at least `n` distinct logs.
    /// - `ChromeLike` (after Chrome's CT policy for embedded SCTs): valid SCTs from at least 2
    ///   distinct logs when the leaf lives 180 days or less, 3 otherwise; from at least 2
    ///   distinct operators; and at least one from a log that had not retired or frozen at `now`.
    pub fn evaluate(&self, scts: &EmbeddedScts, now: UnixTime) -> Result<(), String> {
        let valid: Vec<&SctCheck> = scts
            .checks
            .iter()
            .filter(|c| c.status == SctStatus::Valid)
            .collect();
        let logs: HashSet<[u8; 32]> = valid.iter().map(|c| c.log_id).collect();
        let needed = match self {
            Self::AtLeast(n) => usize::from(*n),
            Self::ChromeLike => {
                if scts.not_after - scts.not_before <= SHORT_LIVED_SECS {
                    2
                } else {
                    3
                }
            }
        };
        if logs.len() < needed {
            return Err(format!(
                "needs valid SCTs from {needed} distinct logs, found {}",
                logs.len()
            ));
        }
        if *self == Self::ChromeLike {
            let operators: HashSet<&str> =
                valid.iter().filter_map(|c| c.operator.as_deref()).collect();
            if operators.len() < 2 {
                return Err(format!(
                    "needs valid SCTs from 2 distinct log operators, found {}",
                    operators.len()
                ));
            }
            let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            let live = valid.iter().any(|c| {
                c.log_state.is_some_and(|st| match st.kind {
                    LogStateKind::Qualified | LogStateKind::Usable => true,
                    LogStateKind::ReadOnly | LogStateKind::Retired => now_secs < st.since,
                    _ => false,
                })
            });
            if !live {
                return Err(
                    "needs a valid SCT from a log that is still qualified or usable now".into(),
                );
            }
        }
        Ok(())
    }
}

/// A rule's CT requirement was not met: the connection is refused.
#[derive(Clone, Debug)]
pub struct CtFailure {
    /// The server name.
    pub host: String,
    /// What the rule requires.
    pub requirement: SctRequirement,
    /// Where the rule is (policy source and line).
    pub rule_location: String,
    /// What was missing.
    pub reason: String,
    /// Each embedded SCT and its verdict (empty when the leaf has none, or could not be read).
    pub checks: Vec<SctCheck>,
}

impl fmt::Display for CtFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate transparency check failed for {}: the rule ({}) requires {}; {}; connection refused",
            self.host, self.rule_location, self.requirement, self.reason
        )?;
        if self.checks.is_empty() {
            write!(f, "\n  the leaf carries no embedded SCT")?;
        }
        for (i, c) in self.checks.iter().enumerate() {
            write!(f, "\n  SCT [{}] {c}", i + 1)?;
        }
        write!(
            f,
            "\n  next: a publicly trusted certificate must carry SCTs from logs in the configured \
             log list; update the log list if it is old, otherwise treat the certificate as \
             not publicly logged (possible mis-issuance or interception)"
        )
    }
}

impl std::error::Error for CtFailure {}
