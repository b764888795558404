//! The policy model: rules and the settings they carry, typed once parsed.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::{Deserialize, Serialize};

use crate::clock::Date;
use crate::host::HostPattern;
use crate::pin::Pin;

/// What a rule does when the verified path carries none of its pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Refuse the connection.
    Enforce,
    /// Let the connection through and report the failure.
    ReportOnly,
}

/// What a rule does once its `expires` date has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum OnExpiry {
    /// Keep checking, but only report failures, and say loudly that the pins expired (default).
    /// Pinning never stops silently.
    #[default]
    ReportOnly,
    /// Keep enforcing the expired pins (risks bricking clients whose pins were never rotated).
    Enforce,
}

/// How a rule treats a mismatch at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enforcement {
    /// Mismatch refuses the connection.
    Enforce,
    /// Mismatch is reported; the connection goes on.
    ReportOnly(ReportOnlyReason),
}

/// Why a rule is only reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportOnlyReason {
    /// The policy says `mode = "report-only"`.
    Configured,
    /// The rule's pins expired at the start of this date (the day after `expires`).
    Expired {
        /// The last date the pins were in force.
        expires: Date,
    },
}

/// How reports are delivered to a report URI whose host this rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReportDelivery {
    /// The report connection is pinned like any other connection to the host (default,
    /// RFC 7469 §3): a report host failing its pins gets no report, and delivery is retried.
    #[default]
    Pinned,
    /// The report connection gets ordinary validation only (this rule's pins are skipped), so
    /// reports still arrive while the report host's own pins are wrong. Must be asked for.
    Unpinned,
}

/// How many Certificate Transparency SCTs a rule requires, embedded in the leaf or in a
/// validated stapled OCSP response (`require_sct`; checked with the `ct` feature and a log
/// list, see `keypin::ct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SctRequirement {
    /// `require_sct = N` (1 to 10): valid SCTs from at least N distinct logs.
    AtLeast(u8),
    /// `require_sct = "chrome"` (or `"default"`): like Chrome's CT policy: valid SCTs from 2 distinct logs
    /// (3 when the leaf lives longer than 180 days and no valid SCT came in the OCSP staple),
    /// from at least 2 distinct operators, one of them from a log still qualified or usable.
    ChromeLike,
}

impl core::fmt::Display for SctRequirement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::AtLeast(n) => write!(f, "require_sct = {n} (valid SCTs from {n} distinct logs)"),
            Self::ChromeLike => f.write_str(
                "require_sct = \"chrome\" (2 or 3 distinct logs by lifetime, 2 operators)",
            ),
        }
    }
}

/// What a rule does with the OCSP response a server staples (`ocsp = ...`; checked with the
/// `ocsp` feature, see `keypin::ocsp`). A leaf carrying the must-staple extension (TLS Feature
/// `status_request`) is always treated as [`OcspMode::Require`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OcspMode {
    /// Do not look at stapled responses (default).
    #[default]
    Ignore,
    /// Validate a stapled response when the server sends one; no staple is fine.
    CheckIfStapled,
    /// Refuse unless the server staples a valid, fresh response saying "good".
    Require,
}

impl OcspMode {
    /// The spelling used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::CheckIfStapled => "check-if-stapled",
            Self::Require => "require",
        }
    }
}

/// Where on the verified path a rule's pins count (`pin_position`), as iOS keeps its
/// `NSPinnedLeafIdentities` and `NSPinnedCAIdentities` apart. Exhaustive on purpose, like the
/// other settings: every exporter handles a new variant at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PinPosition {
    /// Anywhere: the leaf, an intermediate or the trust anchor (default).
    #[default]
    Any,
    /// Only the leaf (iOS `NSPinnedLeafIdentities`).
    Leaf,
    /// Only a CA certificate: an intermediate or the trust anchor (iOS `NSPinnedCAIdentities`).
    Ca,
}

impl PinPosition {
    /// The spelling used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Leaf => "leaf",
            Self::Ca => "ca",
        }
    }
}

/// An extra trust anchor a rule brings (for private PKIs), with its certificate so that
/// certificate pins can match it too.
#[derive(Debug, Clone)]
pub struct ExtraAnchor {
    /// The anchor as webpki uses it.
    pub anchor: TrustAnchor<'static>,
    /// The certificate it came from.
    pub cert: CertificateDer<'static>,
}

/// Where an entry of a rule's `trust_anchors` comes from. Text that starts with
/// `-----BEGIN` is inline PEM; anything else names a file.
///
/// Only a policy read from disk with [`Policy::from_file`](crate::Policy::from_file) may name files (resolved against the
/// policy file's directory). A policy parsed from text ([`Policy::from_toml_str`](crate::Policy::from_toml_str)), built from
/// [`RuleSpec`]s ([`Policy::from_rules`](crate::Policy::from_rules)) or carried by a signed bundle takes inline PEM only,
/// and refuses a file name without opening it: signed bytes from the network must never make
/// the app read a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorSource {
    /// PEM text of one or more CA certificates, in the policy itself.
    Inline(String),
    /// A PEM file of CA certificates (relative paths: against the policy file's directory).
    File(PathBuf),
}

impl AnchorSource {
    /// Reads an entry as written in a policy: inline PEM when it starts with `-----BEGIN`
    /// (after whitespace), a file name otherwise.
    pub fn parse(text: &str) -> Self {
        if text.trim_start().starts_with("-----BEGIN") {
            Self::Inline(text.to_string())
        } else {
            Self::File(PathBuf::from(text))
        }
    }

    /// The entry as written in a policy.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Inline(pem) => pem.as_str().into(),
            Self::File(path) => path.to_string_lossy(),
        }
    }
}

impl Serialize for AnchorSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for AnchorSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|text| Self::parse(&text))
    }
}

/// One rule: a set of host patterns and the pins they must present.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(super) name: Option<String>,
    pub(super) hosts: Vec<HostPattern>,
    pub(super) pins: Vec<Pin>,
    pub(super) mode: Mode,
    pub(super) expires: Option<Date>,
    pub(super) on_expiry: OnExpiry,
    pub(super) anchors: Arc<[ExtraAnchor]>,
    pub(super) require_sct: Option<SctRequirement>,
    pub(super) line: usize,
    pub(super) report_uris: Vec<String>,
    pub(super) report_delivery: ReportDelivery,
    pub(super) ocsp: OcspMode,
    pub(super) single_pin_may_brick: bool,
    pub(super) public_suffix_covers_others: bool,
    pub(super) bad_pins: Vec<Pin>,
    pub(super) pin_position: PinPosition,
    pub(super) leaf_pins: Vec<Pin>,
}

impl Rule {
    /// The label given in the policy, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The host patterns this rule covers.
    pub fn hosts(&self) -> &[HostPattern] {
        &self.hosts
    }
    /// The pins; a verified path must carry at least one.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }
    /// The configured mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// The last date the pins are in force, if any.
    pub fn expires(&self) -> Option<Date> {
        self.expires
    }
    /// What happens after `expires`.
    pub fn on_expiry(&self) -> OnExpiry {
        self.on_expiry
    }
    /// Extra trust anchors for this rule.
    pub fn extra_anchors(&self) -> &[ExtraAnchor] {
        &self.anchors
    }
    /// Where failures for this rule's hosts are reported (`http://` or `https://` URLs).
    pub fn report_uris(&self) -> &[String] {
        &self.report_uris
    }
    /// How reports sent *to* this rule's hosts are delivered.
    pub fn report_delivery(&self) -> ReportDelivery {
        self.report_delivery
    }
    /// The rule's Certificate Transparency requirement, if any.
    pub fn require_sct(&self) -> Option<SctRequirement> {
        self.require_sct
    }
    /// What the rule does with stapled OCSP responses.
    pub fn ocsp(&self) -> OcspMode {
        self.ocsp
    }
    /// `single_pin_may_brick = true`: the rule enforces with fewer than two pins, accepting
    /// that clients pinned to its one key fail until an update ships a new pin, once that key
    /// is lost or replaced.
    pub fn single_pin_may_brick(&self) -> bool {
        self.single_pin_may_brick
    }
    /// `public_suffix_covers_others = true`: the rule may carry patterns on a public suffix
    /// (see [`HostPattern::spans_public_suffix`]), which reach sites other parties own.
    pub fn public_suffix_covers_others(&self) -> bool {
        self.public_suffix_covers_others
    }
    /// Keys that must never be on the verified path (Chromium's `bad_static_spki_hashes`): a
    /// candidate path carrying one does not count as pinned, whatever else it carries.
    pub fn bad_pins(&self) -> &[Pin] {
        &self.bad_pins
    }
    /// Is `pin` one of the rule's bad pins?
    pub fn is_bad_pin(&self, pin: &Pin) -> bool {
        self.bad_pins.contains(pin)
    }
    /// Where on the verified path [`Rule::pins`] count (`pin_position`; default anywhere).
    pub fn pin_position(&self) -> PinPosition {
        self.pin_position
    }
    /// `leaf_pins`, beside CA pins (`pin_position = "ca"`): the leaf must carry one of these
    /// too, as iOS requires a match in each of its two lists. Empty: no leaf requirement.
    pub fn leaf_pins(&self) -> &[Pin] {
        &self.leaf_pins
    }
    /// The line of the rule's `[[rule]]` header in its policy file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Is `pin` one of this rule's pins?
    pub fn has_pin(&self, pin: &Pin) -> bool {
        self.pins.contains(pin)
    }

    /// Has this rule expired at `now`? Pins are in force through the whole `expires` date (UTC).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires
            .is_some_and(|d| now.as_secs() as i64 >= d.start_secs() + 86_400)
    }

    /// How a mismatch is treated at `now`.
    pub fn enforcement_at(&self, now: UnixTime) -> Enforcement {
        match (self.mode, self.expires) {
            (Mode::ReportOnly, _) => Enforcement::ReportOnly(ReportOnlyReason::Configured),
            (Mode::Enforce, Some(expires))
                if self.is_expired(now) && self.on_expiry == OnExpiry::ReportOnly =>
            {
                Enforcement::ReportOnly(ReportOnlyReason::Expired { expires })
            }
            (Mode::Enforce, _) => Enforcement::Enforce,
        }
    }
}

/// A rule described in code, validated exactly like one read from a file.
///
/// Its serde form (field names as in the TOML file, defaults left out) is how a signed bundle
/// carries a policy (`docs/bundle-format.md`, body format 2): unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSpec {
    /// Host patterns.
    pub hosts: Vec<String>,
    /// Pins in any accepted spelling.
    pub pins: Vec<String>,
    /// `include_subdomains`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub include_subdomains: bool,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `enforce` (default) or `report-only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `report-only` (default) or `enforce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_expiry: Option<String>,
    /// Extra trust anchors; in a bundle (and anywhere but [`Policy::from_file`](crate::Policy::from_file)) inline PEM
    /// only. Written as strings (`-----BEGIN ...` for inline PEM).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trust_anchors: Vec<AnchorSource>,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Report URIs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub report_uris: Vec<String>,
    /// `pinned` (default) or `unpinned`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_delivery: Option<String>,
    /// `require_sct`: a number of logs (`"2"`) or `"chrome"`; in a bundle's JSON always a
    /// string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_sct: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `ignore` (default), `check-if-stapled` or `require`.
    pub ocsp: Option<String>,
    /// `single_pin_may_brick = true`: an enforcing rule may have one pin (default false: an
    /// enforcing rule needs a backup pin). Left out of the serde form when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub single_pin_may_brick: bool,
    /// `public_suffix_covers_others = true`: host patterns on a public suffix load (default
    /// false: refused). Left out of the serde form when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub public_suffix_covers_others: bool,
    /// Keys that must never be on the verified path, in any accepted pin spelling. Left out
    /// of the serde form when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_pins: Vec<String>,
    /// `any` (default), `leaf` or `ca`. Left out of the serde form when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_position: Option<String>,
    /// Pins the leaf must also carry, beside CA pins. Left out of the serde form when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leaf_pins: Vec<String>,
}
