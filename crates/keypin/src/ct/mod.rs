//! Certificate Transparency (feature `ct`): the SCTs embedded in a leaf and those in a
//! validated stapled OCSP response, verified against a signed log list, counted against a
//! rule's `require_sct`.
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
//! # SCTs in a stapled OCSP response
//!
//! RFC 6962 §3.3 also lets the CA put SCTs in its OCSP response: the `SingleResponse`
//! extension 1.3.6.1.4.1.11129.2.4.5, an OCTET STRING holding the same TLS list. Such SCTs are
//! over an `x509_entry`: the signed structure carries entry type `x509_entry` and the whole
//! leaf certificate (DER) instead of the issuer key hash and precertificate TBS
//! ([`x509_signed_data`], [`verify_stapled_scts`]); the other steps are the same. The entry
//! type is signed, so an SCT over one entry type never passes as the other.
//!
//! They count only from a staple that passed OCSP validation (features `ct` *and* `ocsp`,
//! `keypin::ocsp`: signed by the issuer or its delegated responder, `CertID` of this leaf and
//! issuer, fresh, `good`); an unauthenticated response proves nothing. So:
//! - a rule whose `ocsp` mode checks staples: the staple is validated as always, and a staple
//!   that fails refuses the connection (reported after the CT verdict, which then counts
//!   none of its SCTs);
//! - a rule with `ocsp = "ignore"` (the default) that requires SCTs: a staple that came is
//!   validated for its SCTs only; if it fails, its SCTs are ignored, the connection is not
//!   refused for that (the rule says to ignore OCSP), and [`CtFailure::staple_note`] says why
//!   they were not counted should CT then fail;
//! - a build with `ct` but without `ocsp` cannot validate a staple: its SCTs never count
//!   (the failure's `staple_note` says so).
//!
//! Embedded and stapled SCTs are counted together, per distinct log: one log's SCT delivered
//! both ways counts once. A malformed SCT extension or list in a validated staple refuses the
//! connection for a rule that requires SCTs, as a malformed embedded list does (rules that
//! require no SCTs never read it).
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
//! policy: 2 distinct logs for a leaf valid 180 days or less, 3 otherwise, from at least 2
//! distinct operators, at least one of them from a log still qualified or usable now; when a
//! valid SCT came in the OCSP staple, 2 distinct logs of 2 operators whatever the lifetime
//! (Chrome applies the lifetime rule to embedded SCTs only). The check runs after the path validated, the pins matched and the hostname
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
//! verified ([`VerifiedBundle::ct_logs`](crate::live::bundle::VerifiedBundle::ct_logs)), and a
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
//! Not covered: SCTs delivered in the TLS extension (`signed_certificate_timestamp`: rustls
//! 0.23 neither requests nor exposes them to a certificate verifier), leaves issued through a
//! dedicated precertificate-signing CA, and log-list freshness (a list is used however old it
//! is: ship new ones through the updater).

mod loglist;
mod precert;
mod sct;

use core::fmt;
use std::collections::HashSet;

use base64::Engine as _;
use der::Decode as _;
use rustls_pki_types::UnixTime;

pub use crate::policy::SctRequirement;
pub use loglist::{Log, LogList, LogListSigner, LogState, LogStateKind, parse_log_list_unverified};
pub use precert::{PrecertParts, precert_parts};
pub use sct::{
    Sct, SctSignatureAlgorithm, encode_sct_list, parse_sct, parse_sct_list, precert_signed_data,
    x509_signed_data,
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

/// How an SCT reached the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SctSource {
    /// In the leaf's SCT-list extension (over a `precert_entry`).
    Embedded,
    /// In the stapled OCSP response that validated (over an `x509_entry`).
    OcspStaple,
}

impl fmt::Display for SctSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Embedded => "embedded",
            Self::OcspStaple => "in the OCSP staple",
        })
    }
}

/// The verdict on one SCT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SctCheck {
    /// How it was delivered.
    pub source: SctSource,
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
        write!(
            f,
            ", {}, {}: {}",
            self.source,
            format_rfc3339(secs),
            self.status
        )
    }
}

/// Every embedded SCT of a leaf, checked (and, once the verifier added them, those of a
/// validated OCSP staple: see [`verify_stapled_scts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedScts {
    /// One verdict per SCT, embedded ones first in the certificate's order; empty when there
    /// is none.
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
    let checks = check_all(
        &scts,
        SctSource::Embedded,
        logs,
        parts.not_after,
        now,
        |sct| {
            precert_signed_data(
                sct.timestamp_ms,
                &issuer_key_hash,
                &parts.tbs,
                &sct.extensions,
            )
        },
    )?;
    Ok(EmbeddedScts {
        checks,
        not_before: parts.not_before,
        not_after: parts.not_after,
    })
}

/// Verifies the SCTs a validated OCSP staple carries for `leaf_der` (RFC 6962 §3.3): each of
/// `sct_extensions` is the value of a `SingleResponse` extension 1.3.6.1.4.1.11129.2.4.5
/// (`keypin::ocsp::SingleResponse::sct_extension`), a DER OCTET STRING holding a TLS
/// `SignedCertificateTimestampList`. These SCTs are over an `x509_entry`: the whole leaf
/// ([`x509_signed_data`]); otherwise they are checked like embedded ones (steps 1, 2, 4 to 7
/// of the module docs).
///
/// Call it only with extensions from a response whose OCSP validation passed: the SCTs of an
/// unauthenticated response prove nothing. A malformed extension or list is an error, which
/// the verifier turns into a refusal for a rule that requires SCTs.
pub fn verify_stapled_scts(
    leaf_der: &[u8],
    sct_extensions: &[Vec<u8>],
    logs: &LogList,
    now: UnixTime,
) -> Result<Vec<SctCheck>, CtError> {
    if sct_extensions.is_empty() {
        return Ok(Vec::new());
    }
    let parts = precert_parts(leaf_der)?;
    let mut scts = Vec::new();
    for ext in sct_extensions {
        let list = der::asn1::OctetStringRef::from_der(ext).map_err(|e| {
            CtError::BadSctList(format!(
                "OCSP staple's SCT extension is not an OCTET STRING: {e}"
            ))
        })?;
        scts.extend(parse_sct_list(list.as_bytes()).map_err(|e| match e {
            CtError::BadSctList(m) => CtError::BadSctList(format!("OCSP staple's {m}")),
            other => other,
        })?);
    }
    check_all(
        &scts,
        SctSource::OcspStaple,
        logs,
        parts.not_after,
        now,
        |sct| x509_signed_data(sct.timestamp_ms, leaf_der, &sct.extensions),
    )
}

/// Checks each SCT, `signed_data` giving the bytes its log should have signed.
fn check_all(
    scts: &[Sct],
    source: SctSource,
    logs: &LogList,
    not_after: i64,
    now: UnixTime,
    signed_data: impl Fn(&Sct) -> Result<Vec<u8>, CtError>,
) -> Result<Vec<SctCheck>, CtError> {
    let now_ms = u128::from(now.as_secs()) * 1000;
    let mut checks = Vec::with_capacity(scts.len());
    for sct in scts {
        let log = logs.log(&sct.log_id);
        let status = match log {
            None => SctStatus::UnknownLog,
            Some(log) => check_one(sct, log, &signed_data(sct)?, not_after, now_ms),
        };
        checks.push(SctCheck {
            source,
            log_id: sct.log_id,
            log: log.map(|l| l.description.clone()),
            operator: log.map(|l| l.operator.clone()),
            log_state: log.and_then(|l| l.state),
            timestamp_ms: sct.timestamp_ms,
            status,
        });
    }
    Ok(checks)
}

fn check_one(sct: &Sct, log: &Log, signed: &[u8], not_after: i64, now_ms: u128) -> SctStatus {
    if sct.algorithm != log.key_algorithm {
        return SctStatus::AlgorithmMismatch {
            sct: sct.algorithm,
            log: log.key_algorithm,
        };
    }
    if log.key.verify_sig(signed, &sct.signature).is_err() {
        return SctStatus::BadSignature;
    }
    if u128::from(sct.timestamp_ms) > now_ms {
        return SctStatus::FromTheFuture;
    }
    let sct_secs = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
    match log.state {
        None => return SctStatus::LogNotTrusted(LogStateKind::Unknown),
        Some(st) => match st.kind {
            LogStateKind::Qualified | LogStateKind::Usable => {}
            LogStateKind::ReadOnly | LogStateKind::Retired => {
                if sct_secs >= st.since {
                    return SctStatus::AfterLogEnded(st);
                }
            }
            other => return SctStatus::LogNotTrusted(other),
        },
    }
    if let Some((start, end)) = log.temporal_interval
        && !(start..end).contains(&not_after)
    {
        return SctStatus::OutsideTemporalInterval { start, end };
    }
    SctStatus::Valid
}

/// 180 days: Chrome's line between short-lived (2 SCTs) and longer-lived (3 SCTs) leaves.
const SHORT_LIVED_SECS: i64 = 180 * 86_400;

impl SctRequirement {
    /// Does `scts` meet this requirement at `now`? `Err` says what was missing.
    ///
    /// - `AtLeast(n)`: valid SCTs from at least `n` distinct logs.
    /// - `ChromeLike` (after Chrome's CT policy): valid SCTs from at least 2 distinct logs when
    ///   the leaf lives 180 days or less, 3 otherwise; from at least 2 distinct operators; and
    ///   at least one from a log that had not retired or frozen at `now`. When a valid SCT came
    ///   in a validated OCSP staple, the lifetime rule does not apply: 2 distinct logs (from 2
    ///   distinct operators) suffice, embedded and stapled SCTs counted together.
    ///
    /// SCTs are counted per distinct log: one log's SCT delivered both embedded and in the
    /// staple counts once.
    pub fn evaluate(&self, scts: &EmbeddedScts, now: UnixTime) -> Result<(), String> {
        let valid: Vec<&SctCheck> = scts
            .checks
            .iter()
            .filter(|c| c.status == SctStatus::Valid)
            .collect();
        let logs: HashSet<[u8; 32]> = valid.iter().map(|c| c.log_id).collect();
        let needed = match self {
            Self::AtLeast(n) => usize::from(*n),
            // Chrome's CT policy (googlechrome.github.io/CertificateTransparency/ct_policy.html,
            // "CT Compliance via OCSP or TLS"; Chromium's chrome_ct_policy_enforcer.cc): the
            // lifetime-dependent count is for embedded SCTs only; once any valid SCT came by
            // OCSP or TLS, 2 SCTs from distinct logs of distinct operators are enough, embedded
            // ones counted with them.
            Self::ChromeLike if valid.iter().any(|c| c.source != SctSource::Embedded) => 2,
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
    /// Each SCT (embedded, then from a validated OCSP staple) and its verdict (empty when
    /// there is none, or the leaf could not be read).
    pub checks: Vec<SctCheck>,
    /// Why SCTs in the stapled OCSP response were not counted, when a staple came but did
    /// not validate (or this build cannot validate it).
    pub staple_note: Option<String>,
}

impl fmt::Display for CtFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate transparency check failed for {}: the rule ({}) requires {}; {}; connection refused",
            self.host, self.rule_location, self.requirement, self.reason
        )?;
        if self.checks.is_empty() {
            write!(
                f,
                "\n  no SCT: the leaf carries no embedded SCT, and no validated OCSP staple carried any"
            )?;
        }
        if let Some(note) = &self.staple_note {
            write!(
                f,
                "\n  SCTs in the stapled OCSP response not counted: {note}"
            )?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use keypin_pki::{Chain, KeyAlg, SctSpec, TestLog, log_list_json, x509_entry_sct};

    /// RFC 6962 signs the entry type: an SCT over the leaf as an `x509_entry` (what an OCSP
    /// staple carries) does not verify when rebuilt as a `precert_entry`, and the other way.
    #[test]
    fn entry_types_are_not_confusable() {
        let chain = Chain::generate("CT unit", &["ct.keypin.test"], KeyAlg::EcdsaP256).unwrap();
        let log = TestLog::generate("Unit log", "Unit operator").unwrap();
        let signer = TestLog::generate("unit list signer", "").unwrap();
        let json = log_list_json(
            "1.0",
            "2026-01-01T00:00:00Z",
            &[(
                "Unit operator",
                vec![log.list_entry_json("2020-01-01T00:00:00Z", None)],
            )],
        );
        let key = LogListSigner::from_pem(&signer.public_key_pem()).unwrap();
        let sig = signer.sign(json.as_bytes()).unwrap();
        let list = LogList::from_signed(json.as_bytes(), &sig, &key, "unit list").unwrap();
        let leaf = chain.leaf.cert.as_ref();
        let spec = SctSpec {
            log: &log,
            timestamp_ms: 1_700_000_000_000,
            corrupt_signature: false,
        };
        let sct = parse_sct(&x509_entry_sct(&spec, leaf).unwrap()).unwrap();
        let entry = list.log(&sct.log_id).unwrap();
        let parts = precert_parts(leaf).unwrap();
        let now_ms = 1_800_000_000_000;
        let as_x509 = x509_signed_data(sct.timestamp_ms, leaf, &sct.extensions).unwrap();
        let issuer_hash = sha256(&[chain.intermediate.spki_der().as_slice()]);
        let as_precert =
            precert_signed_data(sct.timestamp_ms, &issuer_hash, &parts.tbs, &sct.extensions)
                .unwrap();
        let verdict = |signed: &[u8]| check_one(&sct, entry, signed, parts.not_after, now_ms);
        assert_eq!(verdict(&as_x509), SctStatus::Valid);
        assert_eq!(verdict(&as_precert), SctStatus::BadSignature);

        // The same SCT in its OCSP extension (OCTET STRING around the TLS list) counts ...
        let list_bytes = encode_sct_list(std::slice::from_ref(&sct)).unwrap();
        let ext =
            der::Encode::to_der(&der::asn1::OctetStringRef::new(&list_bytes).unwrap()).unwrap();
        let now = UnixTime::since_unix_epoch(core::time::Duration::from_secs(1_800_000_000));
        let checks = verify_stapled_scts(leaf, std::slice::from_ref(&ext), &list, now).unwrap();
        assert_eq!(checks[0].status, SctStatus::Valid);
        assert_eq!(checks[0].source, SctSource::OcspStaple);
        // ... for its own leaf only.
        let other = verify_stapled_scts(chain.intermediate.cert.as_ref(), &[ext], &list, now);
        assert_eq!(other.unwrap()[0].status, SctStatus::BadSignature);
        // The bare list without its OCTET STRING is malformed, not skipped.
        assert!(verify_stapled_scts(leaf, &[list_bytes], &list, now).is_err());
    }
}
