//! Signed, versioned pin bundles: how new pins reach apps in the field without an app release,
//! and without the update channel becoming the attacker's way in.
//!
//! The design follows The Update Framework's threat model (see `docs/bundle-format.md` for the
//! wire format and the threat table). An app embeds a [`Root`] (which Ed25519 keys may sign and
//! how many must); a bundle carries the whole pin policy plus `app_id`, `environment`,
//! `version`, `issued` and `expires`, with detached signatures over its exact bytes. With the
//! `ct` feature a bundle may also carry a CT log list
//! (`BundleSpec::sign_with_ct_log_list`, `VerifiedBundle::ct_logs`), swapped together
//! with the pins.
//!
//! ```
//! use keypin::live::bundle::{BundleSpec, Expectations, Root, RootSpec, SigningKey};
//! use keypin::clock::Date;
//!
//! let (key, _pem) = SigningKey::generate()?;
//! let root_bytes = RootSpec {
//!     version: 1,
//!     expires: Date::parse("2030-01-01")?,
//!     threshold: 1,
//!     keys: vec![key.public_key().clone()],
//! }
//! .sign(&[&key], None)?;
//! let root = Root::from_embedded(&root_bytes)?;
//!
//! let bundle = BundleSpec {
//!     app_id: "com.example.app".into(),
//!     environment: "production".into(),
//!     version: 1,
//!     issued_unix: 1_800_000_000,
//!     expires: Date::parse("2027-06-30")?,
//!     policy_toml: "[[rule]]\nhosts = [\"api.example.com\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n".into(),
//! }
//! .sign(&[&key])?;
//!
//! let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_100));
//! let verified = root.verify_bundle(&bundle, &Expectations::new("com.example.app", "production"), now)?;
//! assert_eq!(verified.version(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod envelope;
mod keys;
mod root;
mod verify;

#[cfg(feature = "updater")]
pub(crate) use keys::hex;
pub use keys::{KeyId, PUBLIC_KEY_PREFIX, PublicKey, SigningKey};
pub use root::{MAX_ROOT_BYTES, Root, RootSpec};
#[cfg(feature = "ct")]
pub use verify::CarriedLogList;
pub use verify::{BundleSpec, Expectations, ExpiredBundle, VerifiedBundle};

/// Reading bundles without verifying them: for signing tools, never for deciding what to trust.
pub mod danger {
    pub use super::verify::unverified_version;
}

use core::fmt;

use crate::clock::Date;
use crate::policy::PolicyError;

/// The context prefix of every bundle signature.
pub const BUNDLE_CONTEXT: &[u8] = b"keypin/bundle/v1";
/// The context prefix of every root signature (distinct, so neither can stand in for the other).
pub const ROOT_CONTEXT: &[u8] = b"keypin/root/v1";
/// The `format` field of a bundle envelope.
pub const BUNDLE_FORMAT: &str = "keypin-bundle/1";
/// The `format` field of a root envelope.
pub const ROOT_FORMAT: &str = "keypin-root/1";
/// The default byte cap on a bundle, applied before anything is parsed. A 1,000-rule policy
/// is about 250 KiB once base64-encoded.
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 1024 * 1024;

/// Whose signatures a threshold check counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// The keys of root `version` (signing a root document).
    Root {
        /// The root whose keys were counted.
        version: u64,
    },
    /// The keys of root `root_version` (signing a bundle).
    Bundle {
        /// The root whose keys were counted.
        root_version: u64,
    },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root { version } => write!(f, "root v{version}'s keys"),
            Self::Bundle { root_version } => write!(f, "root v{root_version}'s bundle keys"),
        }
    }
}

/// Why a root or bundle was refused. Each variant names the attack it stops.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Endless data: the input is over the byte cap; nothing was parsed.
    #[error("{what} is {len} bytes, over the {max}-byte cap; refused before parsing")]
    TooLarge {
        /// Root or bundle.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not a well-formed document.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Root or bundle.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A wire format this version of keypin does not read.
    #[error("{what} has format {found:?}; this keypin reads {expected:?}")]
    UnsupportedFormat {
        /// Root or bundle.
        what: &'static str,
        /// The format found.
        found: String,
        /// The format expected.
        expected: String,
    },
    /// Forged, unknown-key, duplicate or too few signatures: fewer distinct trusted keys
    /// signed than the threshold requires.
    #[error("{}", threshold_message(*signer, *valid, *required, bad, unknown, *duplicates))]
    ThresholdNotMet {
        /// Whose keys were counted.
        signer: Signer,
        /// Distinct trusted keys with a valid signature.
        valid: usize,
        /// The threshold.
        required: u32,
        /// Key ids of trusted keys whose signature did not verify (forged or damaged).
        bad: Vec<String>,
        /// Key ids not in the root.
        unknown: Vec<String>,
        /// Extra signatures by a key already counted.
        duplicates: usize,
    },
    /// A rotated root whose version is not exactly one above the current one.
    #[error("root rotation from v{current} must go to v{}, not v{found}", current.saturating_add(1))]
    RootVersion {
        /// The trusted root's version.
        current: u64,
        /// The offered root's version.
        found: u64,
    },
    /// The trusted root has expired: no bundle is accepted until a rotated root arrives.
    #[error("root v{version} expired after {expires}; rotate the root")]
    RootExpired {
        /// The root's version.
        version: u64,
        /// Its last valid date.
        expires: Date,
    },
    /// Cross-app replay: the bundle is for another app.
    #[error("wrong app: the bundle is for {found:?}, this app is {expected:?}")]
    WrongApp {
        /// This app's id.
        expected: String,
        /// The bundle's.
        found: String,
    },
    /// Cross-environment replay: the bundle is for another environment.
    #[error("wrong environment: the bundle is for {found:?}, this app runs in {expected:?}")]
    WrongEnvironment {
        /// This app's environment.
        expected: String,
        /// The bundle's.
        found: String,
    },
    /// Rollback: the bundle is not newer than the newest one this client has accepted.
    #[error(
        "rolled back: bundle version {version} is not above the highest version seen, {high_water}"
    )]
    RolledBack {
        /// The bundle's version.
        version: u64,
        /// The high-water mark.
        high_water: u64,
    },
    /// Freeze: the bundle has expired.
    #[error("expired: the bundle was valid until {expires}, it is now {}", crate::clock::format_rfc3339(*now))]
    Expired {
        /// The bundle's last valid date.
        expires: Date,
        /// The time of the check (Unix seconds).
        now: i64,
    },
    /// The clock is behind the latest time this client has seen (set back to revive an
    /// expired bundle?).
    #[error("clock set back: it says {}, but {} was already seen", crate::clock::format_rfc3339(*now), crate::clock::format_rfc3339(*latest_seen))]
    ClockBehind {
        /// The clock now (Unix seconds).
        now: i64,
        /// The latest time seen before (Unix seconds).
        latest_seen: i64,
    },
    /// The signed policy does not validate.
    #[error("the bundle's policy is invalid: {0}")]
    InvalidPolicy(#[source] Box<PolicyError>),
    /// The CT log list the bundle carries is refused: it is not a v3 log list, its carried
    /// signature does not verify with the app's log-list signer, or this build cannot read it.
    #[error("the bundle's CT log list is refused: {reason}")]
    CtLogList {
        /// What is wrong, and where.
        reason: String,
    },
    /// A key could not be read or made.
    #[error("key: {reason}")]
    Key {
        /// What is wrong.
        reason: String,
    },
}

fn threshold_message(
    signer: Signer,
    valid: usize,
    required: u32,
    bad: &[String],
    unknown: &[String],
    duplicates: usize,
) -> String {
    let mut s =
        format!("threshold not met: {valid} valid signature(s) from {signer}, {required} required");
    if !bad.is_empty() {
        s.push_str(&format!("; bad signature from key(s) {}", short_ids(bad)));
    }
    if !unknown.is_empty() {
        s.push_str(&format!("; unknown key(s) {}", short_ids(unknown)));
    }
    if duplicates > 0 {
        s.push_str(&format!(
            "; {duplicates} duplicate signature(s) by a key already counted (a key counts once)"
        ));
    }
    s
}

fn short_ids(ids: &[String]) -> String {
    ids.iter()
        .map(|id| id.get(..16).unwrap_or(id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_date(text: &str, what: &'static str) -> Result<Date, BundleError> {
    Date::parse(text).map_err(|reason| BundleError::Malformed { what, reason })
}

/// Whether `now` is after the last valid day `expires`.
fn is_past(expires: Date, now_secs: i64) -> bool {
    now_secs >= expires.start_secs().saturating_add(86_400)
}
