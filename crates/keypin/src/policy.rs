//! The pin policy: rules for hosts, parsed and validated once into an immutable, indexed value.
//!
//! ```toml
//! [[rule]]
//! hosts = ["api.example.com", "**.cdn.example.com"]
//! pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
//!         "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
//! include_subdomains = false   # optional
//! expires = "2027-06-30"       # optional: pins in force through this date (UTC)
//! mode = "enforce"             # or "report-only"
//! on_expiry = "report-only"    # or "enforce"; what an expired rule does
//! trust_anchors = ["private-ca.pem"]  # optional extra roots for this rule: inline PEM, or (only
//!                              # in a file read with `Policy::from_file`) PEM files, see `AnchorSource`
//! name = "api"                 # optional label for reports
//! report_uris = ["https://reports.example.com/v1/reports"]  # optional: where failures for
//!                              # these hosts are reported (feature `reports`), like HPKP's
//!                              # report-uri and TrustKit's kTSKReportUris
//! report_delivery = "pinned"   # or "unpinned": reports *sent to* these hosts skip this
//!                              # rule's pins (ordinary validation only); default pinned
//! require_sct = 2              # optional, feature `ct`: SCTs from 2 distinct logs (embedded, or in a validated OCSP staple),
//!                              # or "chrome" for a policy like Chrome's (see `SctRequirement`)
//! ocsp = "check-if-stapled"    # optional, feature `ocsp`: "ignore" (default), "check-if-stapled", "require"
//! ```
//!
//! Every problem in a file is reported at once, each with its line and a hint.

pub(crate) mod toml_text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::clock::Date;
use crate::error::{Diagnostic, Error, PolicyError};
use crate::host::{HostPattern, normalize};
use crate::pin::Pin;

use self::toml_text::Lines;

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
/// Only a policy read from disk with [`Policy::from_file`] may name files (resolved against the
/// policy file's directory). A policy parsed from text ([`Policy::from_toml_str`]), built from
/// [`RuleSpec`]s ([`Policy::from_rules`]) or carried by a signed bundle takes inline PEM only,
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

/// Whether a policy may read anchor files: only one loaded from disk.
#[derive(Debug, Clone)]
enum AnchorFiles {
    /// Text, rule specs, bundles: inline PEM only.
    Refused,
    /// [`Policy::from_file`]: relative names against the policy file's directory.
    RelativeTo(PathBuf),
}

/// One rule: a set of host patterns and the pins they must present.
#[derive(Debug, Clone)]
pub struct Rule {
    name: Option<String>,
    hosts: Vec<HostPattern>,
    pins: Vec<Pin>,
    mode: Mode,
    expires: Option<Date>,
    on_expiry: OnExpiry,
    anchors: Arc<[ExtraAnchor]>,
    require_sct: Option<SctRequirement>,
    line: usize,
    report_uris: Vec<String>,
    report_delivery: ReportDelivery,
    ocsp: OcspMode,
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

/// A validated pin policy. Immutable: to change pins, build a new one.
#[derive(Debug, Clone)]
pub struct Policy {
    source_name: String,
    rules: Vec<Rule>,
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    exact: HashMap<Box<str>, u32>,
    one_label: HashMap<Box<str>, u32>,
    any_depth: HashMap<Box<str>, u32>,
}

impl Policy {
    /// A policy with no rules: every host gets ordinary validation only.
    pub fn empty() -> Self {
        Self {
            source_name: "<empty>".into(),
            rules: Vec::new(),
            index: Index::default(),
        }
    }

    /// Parses policy text. `source_name` names it in messages. Trust anchors must be inline
    /// PEM: an entry naming a file is refused, never opened (see [`AnchorSource`]).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        parse(text, source_name, AnchorFiles::Refused, None)
    }

    /// Validates policy text like [`Policy::from_toml_str`] and returns its rules as
    /// [`RuleSpec`]s, in file order (what a signed bundle carries). Like a bundle, it takes
    /// inline PEM trust anchors only.
    pub fn rule_specs_from_toml(
        text: &str,
        source_name: &str,
    ) -> Result<Vec<RuleSpec>, PolicyError> {
        let mut specs = Vec::new();
        parse(text, source_name, AnchorFiles::Refused, Some(&mut specs))?;
        Ok(specs)
    }

    /// Reads and parses a policy file. Its `trust_anchors` may name PEM files (the only way to
    /// load a policy that may): relative paths are resolved against the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(parse(
            &text,
            &path.display().to_string(),
            AnchorFiles::RelativeTo(path.parent().unwrap_or(Path::new(".")).to_path_buf()),
            None,
        )?)
    }

    /// Where the policy came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// All rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule for `host`, the most specific one when several match: an exact name beats any
    /// wildcard; among wildcards, the one with the longer base wins, and at the same base
    /// `*.` (one label) beats `**.` (any depth). `None`: ordinary validation only.
    pub fn rule_for(&self, host: &str) -> Option<&Rule> {
        self.rule_index_for(host)
            .and_then(|i| self.rules.get(i as usize))
    }

    pub(crate) fn rule_index_for(&self, host: &str) -> Option<u32> {
        let host = normalize(host);
        let host: &str = &host;
        if let Some(i) = self.index.exact.get(host) {
            return Some(*i);
        }
        // Walk the suffixes of `host`, longest first: the first hit is the most specific.
        let mut suffix = host;
        let mut depth = 0usize;
        loop {
            if depth == 1
                && let Some(i) = self.index.one_label.get(suffix)
            {
                return Some(*i);
            }
            if let Some(i) = self.index.any_depth.get(suffix) {
                return Some(*i);
            }
            match suffix.split_once('.') {
                Some((_, rest)) if !rest.is_empty() => {
                    suffix = rest;
                    depth += 1;
                }
                _ => return None,
            }
        }
    }

    /// Builds a policy from rules made in code (for tests, tools and signed bundles). Trust
    /// anchors must be inline PEM ([`AnchorSource::Inline`]); a file is refused, never opened.
    pub fn from_rules(source_name: &str, rules: Vec<RuleSpec>) -> Result<Self, PolicyError> {
        let mut v = Validator::new(source_name, "");
        for (i, spec) in rules.into_iter().enumerate() {
            v.add_rule(i, spec);
        }
        v.finish()
    }
}

impl Policy {
    /// The same policy without the rules that `keep` refuses (their hosts then get ordinary
    /// validation only). The report sender uses it for `report_delivery = "unpinned"`.
    pub fn retain_rules(&self, keep: impl Fn(&Rule) -> bool) -> Self {
        let v = Validator {
            rules: self.rules.clone(),
            ..Validator::new(&self.source_name, "")
        };
        v.finish_with(keep).unwrap_or_else(|_| Self::empty())
    }
}

/// A report URI must be an absolute `http://` or `https://` URL with a host.
fn check_report_uri(uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("{uri:?} is not a URL (no scheme://)"))?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("{uri:?}: a report URI must be http:// or https://"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .strip_prefix('[')
        .and_then(|a| a.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| authority.rsplit_once(':').map_or(authority, |(h, _)| h));
    if host.is_empty() {
        return Err(format!("{uri:?}: the URL has no host"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) || authority.contains('@') {
        return Err(format!(
            "{uri:?}: spaces, control characters and credentials are not allowed in a report URI"
        ));
    }
    if let Some((_, port)) = authority.rsplit_once(':')
        && !authority.ends_with(']')
        && port.parse::<u16>().ok().filter(|p| *p != 0).is_none()
    {
        return Err(format!("{uri:?}: bad port {port:?}"));
    }
    Ok(())
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
    /// Extra trust anchors; in a bundle (and anywhere but [`Policy::from_file`]) inline PEM
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    hosts: Spanned<Vec<Spanned<String>>>,
    pins: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    include_subdomains: Option<bool>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    on_expiry: Option<Spanned<String>>,
    #[serde(default)]
    trust_anchors: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    report_uris: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    report_delivery: Option<Spanned<String>>,
    #[serde(default)]
    require_sct: Option<Spanned<toml::Value>>,
    #[serde(default)]
    ocsp: Option<Spanned<String>>,
}

fn parse(
    text: &str,
    source_name: &str,
    anchor_files: AnchorFiles,
    mut specs_out: Option<&mut Vec<RuleSpec>>,
) -> Result<Policy, PolicyError> {
    let mut v = Validator::new(source_name, text);
    v.anchor_files = anchor_files;
    let raw: RawPolicy = toml_text::deserialize(
        text,
        source_name,
        &v.lines,
        toml_text::Position::LineAndColumn,
        |message| {
            if message.contains("unknown field") {
                Some(
                    "a [[rule]] takes hosts, pins, include_subdomains, expires, mode, on_expiry, \
                     trust_anchors, name, report_uris, report_delivery, require_sct and ocsp; \
                     the top level takes only [[rule]] tables"
                        .to_string(),
                )
            } else if message.contains("missing field") {
                Some("every [[rule]] needs hosts = [..] and pins = [..]".to_string())
            } else {
                None
            }
        },
    )?;
    for (i, rule) in raw.rule.into_iter().enumerate() {
        let rule_line = v.lines.line(rule.span().start);
        let r = rule.into_inner();
        let pos = |s: &std::ops::Range<usize>| s.start;
        let mut spec_spans = Spans::default();
        let hosts_span = r.hosts.span();
        let pins_span = r.pins.span();
        spec_spans.hosts = Some(pos(&hosts_span));
        spec_spans.pins = Some(pos(&pins_span));
        let hosts = r
            .hosts
            .into_inner()
            .into_iter()
            .map(|h| {
                spec_spans.host_items.push(h.span().start);
                h.into_inner()
            })
            .collect();
        let pins = r
            .pins
            .into_inner()
            .into_iter()
            .map(|p| {
                spec_spans.pin_items.push(p.span().start);
                p.into_inner()
            })
            .collect();
        let take = |s: Option<Spanned<String>>, slot: &mut Option<usize>| {
            s.map(|s| {
                *slot = Some(s.span().start);
                s.into_inner()
            })
        };
        let expires = take(r.expires, &mut spec_spans.expires);
        let mode = take(r.mode, &mut spec_spans.mode);
        let on_expiry = take(r.on_expiry, &mut spec_spans.on_expiry);
        let ocsp = take(r.ocsp, &mut spec_spans.ocsp);
        let trust_anchors = r
            .trust_anchors
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                spec_spans.anchor_items.push(a.span().start);
                AnchorSource::parse(a.get_ref())
            })
            .collect();
        let report_uris = r
            .report_uris
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                spec_spans.report_uri_items.push(u.span().start);
                u.into_inner()
            })
            .collect();
        let report_delivery = take(r.report_delivery, &mut spec_spans.report_delivery);
        let require_sct = r.require_sct.map(|s| {
            spec_spans.require_sct = Some(s.span().start);
            match s.into_inner() {
                toml::Value::String(t) => t,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => "(a table, array or date)".to_string(),
            }
        });
        v.spans = spec_spans;
        v.rule_line = Some(rule_line);
        let spec = RuleSpec {
            hosts,
            pins,
            include_subdomains: r.include_subdomains.unwrap_or(false),
            expires,
            mode,
            on_expiry,
            trust_anchors,
            name: r.name,
            report_uris,
            report_delivery,
            require_sct,
            ocsp,
        };
        if let Some(out) = specs_out.as_deref_mut() {
            out.push(spec.clone());
        }
        v.add_rule(i, spec);
    }
    v.finish()
}

/// Byte offsets of a rule's fields, for line numbers in messages.
#[derive(Default)]
struct Spans {
    hosts: Option<usize>,
    pins: Option<usize>,
    host_items: Vec<usize>,
    pin_items: Vec<usize>,
    expires: Option<usize>,
    mode: Option<usize>,
    on_expiry: Option<usize>,
    anchor_items: Vec<usize>,
    report_uri_items: Vec<usize>,
    report_delivery: Option<usize>,
    require_sct: Option<usize>,
    ocsp: Option<usize>,
}

struct Validator {
    source_name: String,
    anchor_files: AnchorFiles,
    lines: Lines,
    spans: Spans,
    rule_line: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    rules: Vec<Rule>,
    seen_patterns: HashMap<HostPattern, (usize, Option<usize>)>,
}

impl Validator {
    fn new(source_name: &str, text: &str) -> Self {
        Self {
            source_name: source_name.to_string(),
            anchor_files: AnchorFiles::Refused,
            lines: Lines::new(text),
            spans: Spans::default(),
            rule_line: None,
            diagnostics: Vec::new(),
            rules: Vec::new(),
            seen_patterns: HashMap::new(),
        }
    }

    fn report(&mut self, at: Option<usize>, field: String, message: String, hint: Option<&str>) {
        let (line, column) = match at {
            Some(off) if self.lines.several() || off > 0 => {
                let (l, c) = self.lines.line_col(off);
                (Some(l), Some(c))
            }
            _ => (self.rule_line, None),
        };
        self.diagnostics.push(Diagnostic {
            line,
            column,
            field: Some(field),
            message,
            hint: hint.map(str::to_string),
        });
    }

    fn add_rule(&mut self, i: usize, spec: RuleSpec) {
        let errors_before = self.diagnostics.len();
        let field = |name: &str| format!("rule[{i}].{name}");

        let mode = match spec.mode.as_deref() {
            None | Some("enforce") => Some(Mode::Enforce),
            Some("report-only") => Some(Mode::ReportOnly),
            Some(other) => {
                self.report(
                    self.spans.mode,
                    field("mode"),
                    format!("unknown mode {other:?}"),
                    Some("use \"enforce\" or \"report-only\""),
                );
                None
            }
        };
        let on_expiry = match spec.on_expiry.as_deref() {
            None | Some("report-only") => OnExpiry::ReportOnly,
            Some("enforce") => OnExpiry::Enforce,
            Some(other) => {
                self.report(
                    self.spans.on_expiry,
                    field("on_expiry"),
                    format!("unknown on_expiry {other:?}"),
                    Some("use \"report-only\" (default: keep checking and report) or \"enforce\""),
                );
                OnExpiry::ReportOnly
            }
        };
        let ocsp = match spec.ocsp.as_deref() {
            None | Some("ignore") => OcspMode::Ignore,
            Some("check-if-stapled") => OcspMode::CheckIfStapled,
            Some("require") => OcspMode::Require,
            Some(other) => {
                self.report(
                    self.spans.ocsp,
                    field("ocsp"),
                    format!("unknown ocsp {other:?}"),
                    Some("use \"ignore\" (default), \"check-if-stapled\" or \"require\""),
                );
                OcspMode::Ignore
            }
        };
        // Without the checker, a rule asking for OCSP checks must not pass silently unchecked.
        if !cfg!(feature = "ocsp") && ocsp != OcspMode::Ignore {
            self.report(
                self.spans.ocsp,
                field("ocsp"),
                format!(
                    "ocsp = {:?} needs OCSP checking, which this build of keypin lacks",
                    ocsp.as_str()
                ),
                Some("build keypin with its `ocsp` feature, or remove the ocsp line"),
            );
        }
        let expires = match spec.expires.as_deref().map(Date::parse) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.report(
                    self.spans.expires,
                    field("expires"),
                    e,
                    Some("write the last day the pins are valid, like expires = \"2027-06-30\""),
                );
                None
            }
        };

        if spec.hosts.is_empty() {
            self.report(
                self.spans.hosts,
                field("hosts"),
                "the rule covers no host".into(),
                Some("list at least one host, like hosts = [\"api.example.com\"]"),
            );
        }
        let mut hosts = Vec::new();
        for (j, h) in spec.hosts.iter().enumerate() {
            let at = self.spans.host_items.get(j).copied().or(self.spans.hosts);
            match HostPattern::parse(h, spec.include_subdomains) {
                Ok(p) => {
                    let here = at.map(|o| self.lines.line(o));
                    if let Some((other, other_line)) = self.seen_patterns.get(&p) {
                        let where_ = other_line.map_or(String::new(), |l| format!(" at line {l}"));
                        let msg =
                            format!("duplicate host pattern {p} (also in rule[{other}]{where_})");
                        self.report(
                            at,
                            format!("rule[{i}].hosts[{j}]"),
                            msg,
                            Some("each host pattern may appear in one rule only; merge the pins into one rule"),
                        );
                    } else {
                        self.seen_patterns.insert(p.clone(), (i, here));
                        hosts.push(p);
                    }
                }
                Err(e) => self.report(
                    at,
                    format!("rule[{i}].hosts[{j}]"),
                    e.message,
                    e.hint.as_deref(),
                ),
            }
        }

        let mut pins: Vec<Pin> = Vec::new();
        let pin_errors_before = self.diagnostics.len();
        for (j, p) in spec.pins.iter().enumerate() {
            let at = self.spans.pin_items.get(j).copied().or(self.spans.pins);
            match Pin::parse(p) {
                Ok(pin) if pins.contains(&pin) => self.report(
                    at,
                    format!("rule[{i}].pins[{j}]"),
                    format!("pin {pin} is listed twice"),
                    Some("remove the duplicate; a backup pin must be a different key"),
                ),
                Ok(pin) => pins.push(pin),
                Err(e) => self.report(
                    at,
                    format!("rule[{i}].pins[{j}]"),
                    e.to_string(),
                    Some("compute pins with `keypin pin FILE` or `keypin inspect HOST`"),
                ),
            }
        }
        if spec.pins.is_empty() {
            self.report(
                self.spans.pins,
                field("pins"),
                "the rule has no pins".into(),
                Some("list the pins of your keys; `keypin inspect HOST` shows them"),
            );
        } else if mode == Some(Mode::Enforce)
            && pins.len() < 2
            && self.diagnostics.len() == pin_errors_before
        {
            self.report(
                self.spans.pins,
                field("pins"),
                "an enforcing rule needs at least two pins: the current key and a backup".into(),
                Some(
                    "add a backup pin for a spare key kept offline (`keypin pin spare.key`) or for \
                     another CA, as RFC 7469 and TrustKit require; or set mode = \"report-only\"",
                ),
            );
        }

        let mut anchors = Vec::new();
        for (j, a) in spec.trust_anchors.iter().enumerate() {
            let at = self.spans.anchor_items.get(j).copied();
            match self.load_anchors(a) {
                Ok(mut found) => anchors.append(&mut found),
                Err((msg, hint)) => {
                    self.report(at, format!("rule[{i}].trust_anchors[{j}]"), msg, Some(hint))
                }
            }
        }

        let report_delivery = match spec.report_delivery.as_deref() {
            None | Some("pinned") => ReportDelivery::Pinned,
            Some("unpinned") => ReportDelivery::Unpinned,
            Some(other) => {
                self.report(
                    self.spans.report_delivery,
                    field("report_delivery"),
                    format!("unknown report_delivery {other:?}"),
                    Some(
                        "use \"pinned\" (default: reports to these hosts are pinned too) or \
                         \"unpinned\" (reports to these hosts skip this rule's pins)",
                    ),
                );
                ReportDelivery::Pinned
            }
        };
        let mut report_uris = Vec::new();
        for (j, u) in spec.report_uris.iter().enumerate() {
            let at = self.spans.report_uri_items.get(j).copied();
            match check_report_uri(u) {
                Ok(()) if report_uris.contains(u) => self.report(
                    at,
                    format!("rule[{i}].report_uris[{j}]"),
                    format!("report URI {u:?} is listed twice"),
                    Some("remove the duplicate"),
                ),
                Ok(()) => report_uris.push(u.clone()),
                Err(msg) => self.report(
                    at,
                    format!("rule[{i}].report_uris[{j}]"),
                    msg,
                    Some("write a full URL, like \"https://reports.example.com/v1/reports\""),
                ),
            }
        }
        let require_sct = spec
            .require_sct
            .as_deref()
            .and_then(|t| self.sct_requirement(t, &field("require_sct")));

        if self.diagnostics.len() == errors_before {
            self.rules.push(Rule {
                name: spec.name,
                hosts,
                pins,
                mode: mode.unwrap_or(Mode::Enforce),
                expires,
                on_expiry,
                anchors: anchors.into(),
                require_sct,
                line: self.rule_line.unwrap_or(0),
                report_uris,
                report_delivery,
                ocsp,
            });
        }
    }

    fn sct_requirement(&mut self, text: &str, field: &str) -> Option<SctRequirement> {
        let req = match text.trim() {
            "chrome" | "default" => Some(SctRequirement::ChromeLike),
            n => n
                .parse::<u8>()
                .ok()
                .filter(|n| (1..=10).contains(n))
                .map(SctRequirement::AtLeast),
        };
        let Some(req) = req else {
            self.report(
                self.spans.require_sct,
                field.to_string(),
                format!(
                    "require_sct {text} is neither a number of logs from 1 to 10 nor \"chrome\""
                ),
                Some(
                    "write require_sct = 2 (SCTs from 2 distinct logs) or require_sct = \"chrome\"",
                ),
            );
            return None;
        };
        if !cfg!(feature = "ct") {
            self.report(
                self.spans.require_sct,
                field.to_string(),
                "require_sct needs Certificate Transparency support, which this build of keypin \
                 lacks"
                    .into(),
                Some("enable keypin's `ct` cargo feature, or remove require_sct"),
            );
            return None;
        }
        Some(req)
    }

    /// The anchors of one `trust_anchors` entry, or (message, hint).
    fn load_anchors(
        &self,
        source: &AnchorSource,
    ) -> Result<Vec<ExtraAnchor>, (String, &'static str)> {
        let hint = match self.anchor_files {
            AnchorFiles::Refused => "give the PEM text of CA certificates, inline",
            AnchorFiles::RelativeTo(_) => {
                "give a PEM file of CA certificates (relative to the policy file) or inline PEM"
            }
        };
        let (bytes, what) = match (source, &self.anchor_files) {
            (AnchorSource::Inline(pem), _) => (pem.as_bytes().to_vec(), "inline PEM".to_string()),
            // Checked before any file system call: the file is never opened.
            (AnchorSource::File(path), AnchorFiles::Refused) => {
                return Err((
                    format!(
                        "{:?} names a file, but a policy given as text or carried by a signed \
                         bundle takes inline PEM trust anchors only (a signed bundle must never \
                         make the app read a local file; only a policy loaded with \
                         Policy::from_file may name anchor files)",
                        path.display().to_string()
                    ),
                    "inline the CA certificate's PEM text instead of the file name, like \
                     trust_anchors = ['''-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----''']",
                ));
            }
            (AnchorSource::File(path), AnchorFiles::RelativeTo(dir)) => {
                let path = dir.join(path);
                let bytes = std::fs::read(&path).map_err(|e| {
                    (
                        format!("cannot read trust anchor file {}: {e}", path.display()),
                        hint,
                    )
                })?;
                (bytes, path.display().to_string())
            }
        };
        let mut out = Vec::new();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|e| (format!("{what}: not valid PEM: {e}"), hint))?;
            let anchor = webpki::anchor_from_trusted_cert(&cert)
                .map_err(|e| (format!("{what}: not a usable CA certificate: {e}"), hint))?
                .to_owned();
            out.push(ExtraAnchor {
                anchor,
                cert: cert.into_owned(),
            });
        }
        if out.is_empty() {
            return Err((format!("{what} holds no CERTIFICATE block"), hint));
        }
        Ok(out)
    }

    fn finish(self) -> Result<Policy, PolicyError> {
        self.finish_with(|_| true)
    }

    /// Builds the policy from the rules that `keep` accepts (all, for a normal policy).
    fn finish_with(mut self, keep: impl Fn(&Rule) -> bool) -> Result<Policy, PolicyError> {
        self.rules.retain(|r| keep(r));
        if !self.diagnostics.is_empty() {
            // File order, whatever order the checks ran in.
            self.diagnostics.sort_by_key(|d| (d.line, d.column));
            return Err(PolicyError {
                source_name: self.source_name,
                diagnostics: self.diagnostics,
            });
        }
        let mut index = Index::default();
        for (i, rule) in self.rules.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for h in &rule.hosts {
                let map = match h {
                    HostPattern::Exact(_) => &mut index.exact,
                    HostPattern::OneLabel(_) => &mut index.one_label,
                    HostPattern::AnyDepth(_) => &mut index.any_depth,
                };
                map.insert(h.base().into(), i);
            }
        }
        Ok(Policy {
            source_name: self.source_name,
            rules: self.rules,
            index,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
    const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

    fn rule(hosts: &str, extra: &str) -> String {
        format!(
            "[[rule]]\nname = {hosts:?}\nhosts = [{hosts}]\npins = [\"{P1}\", \"{P2}\"]\n{extra}\n"
        )
    }

    #[test]
    fn most_specific_rule_wins() {
        let text = [
            rule(r#""api.example.com""#, ""),
            rule(r#""*.example.com""#, ""),
            rule(r#""**.example.com""#, ""),
            rule(r#""**.deep.example.com""#, ""),
            rule(r#""other.net""#, "include_subdomains = true"),
        ]
        .concat();
        let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
        // (host, expected rule name or None)
        let rows: &[(&str, Option<&str>)] = &[
            ("api.example.com", Some(r#""api.example.com""#)),
            ("API.EXAMPLE.COM.", Some(r#""api.example.com""#)),
            ("www.example.com", Some(r#""*.example.com""#)),
            ("example.com", Some(r#""**.example.com""#)),
            ("a.b.example.com", Some(r#""**.example.com""#)),
            ("deep.example.com", Some(r#""**.deep.example.com""#)),
            ("x.deep.example.com", Some(r#""**.deep.example.com""#)),
            ("other.net", Some(r#""other.net""#)),
            ("a.b.other.net", Some(r#""other.net""#)),
            ("example.org", None),
            ("notexample.com", None),
            ("", None),
            ("com", None),
        ];
        for (host, want) in rows {
            assert_eq!(policy.rule_for(host).and_then(Rule::name), *want, "{host}");
        }
    }

    /// A rule for an IPv4 address covers its IPv4-mapped IPv6 spelling, and the reverse.
    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let text = [rule(r#""10.0.0.1""#, ""), rule(r#""::ffff:10.0.0.2""#, "")].concat();
        let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
        let rows: &[(&str, Option<&str>)] = &[
            ("10.0.0.1", Some(r#""10.0.0.1""#)),
            ("::ffff:10.0.0.1", Some(r#""10.0.0.1""#)),
            ("[::ffff:10.0.0.1]", Some(r#""10.0.0.1""#)),
            ("::FFFF:A00:1", Some(r#""10.0.0.1""#)),
            ("10.0.0.2", Some(r#""::ffff:10.0.0.2""#)),
            ("::ffff:10.0.0.2", Some(r#""::ffff:10.0.0.2""#)),
            ("::ffff:10.0.0.3", None),
            ("::10.0.0.1", None),
        ];
        for (host, want) in rows {
            assert_eq!(policy.rule_for(host).and_then(Rule::name), *want, "{host}");
        }
    }

    #[test]
    fn parses_every_field() {
        let text = format!(
            "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\nmode = \"report-only\"\n\
             expires = \"2027-06-30\"\non_expiry = \"enforce\"\n"
        );
        let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
        let r = policy.rule_for("a.example.com").unwrap();
        assert_eq!(r.mode(), Mode::ReportOnly);
        assert_eq!(r.on_expiry(), OnExpiry::Enforce);
        assert_eq!(r.expires().unwrap().to_string(), "2027-06-30");
        assert_eq!(r.line(), 1);
    }

    #[test]
    fn expiry_turns_enforcement_into_loud_report_only() {
        let policy =
            Policy::from_toml_str(&rule(r#""a.example.com""#, "expires = \"2027-06-30\""), "t")
                .unwrap();
        let r = policy.rule_for("a.example.com").unwrap();
        let at = |s: i64| UnixTime::since_unix_epoch(core::time::Duration::from_secs(s as u64));
        let last_day = Date::parse("2027-06-30").unwrap().start_secs();
        assert_eq!(
            r.enforcement_at(at(last_day + 86_399)),
            Enforcement::Enforce
        );
        assert_eq!(
            r.enforcement_at(at(last_day + 86_400)),
            Enforcement::ReportOnly(ReportOnlyReason::Expired {
                expires: Date::parse("2027-06-30").unwrap()
            })
        );
    }

    /// (policy text, line expected in the message, words expected in the message)
    #[test]
    fn refusals_name_line_field_and_fix() {
        let rows: Vec<(String, usize, &str)> = vec![
            (
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\", \"sha256/nope\"]\n"
                ),
                3,
                "rule[0].pins[1]: invalid pin",
            ),
            (
                format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\n"),
                3,
                "at least two pins",
            ),
            (
                format!(
                    "{}{}",
                    rule("\"a.example.com\"", ""),
                    rule("\"A.example.com.\"", "")
                ),
                8,
                "duplicate host pattern a.example.com (also in rule[0] at line 3)",
            ),
            (rule("\"*.co.uk\"", ""), 3, "public suffix"),
            (
                format!(
                    "# header\n{}",
                    rule("\"ok.example.com\", \"api.example.com..\"", "")
                ),
                4,
                "rule[0].hosts[1]: \"api.example.com..\" has an empty label",
            ),
            (
                format!(
                    "{}{}",
                    rule("\"10.0.0.1\"", ""),
                    rule("\"[::ffff:10.0.0.1]\"", "")
                ),
                8,
                "duplicate host pattern 10.0.0.1 (also in rule[0] at line 3)",
            ),
            (
                rule("\"a.example.com\"", "colour = \"red\""),
                5,
                "unknown field `colour`",
            ),
            (format!("pins = [\"{P1}\"]\n"), 1, "unknown field `pins`"),
            (
                rule("\"a.example.com\"", "mode = \"enforcing\""),
                5,
                "unknown mode",
            ),
            (
                rule("\"a.example.com\"", "expires = \"30/06/2027\""),
                5,
                "YYYY-MM-DD",
            ),
            (
                "[[rule]]\nhosts = [\"a.example.com\"]\n".to_string(),
                1,
                "missing field `pins`",
            ),
            ("[[rule]\n".to_string(), 1, "unclosed array table"),
            (
                rule(
                    "\"a.example.com\"",
                    "trust_anchors = [\"/nonexistent/ca.pem\"]",
                ),
                5,
                "rule[0].trust_anchors[0]: \"/nonexistent/ca.pem\" names a file, but a policy \
                 given as text or carried by a signed bundle takes inline PEM trust anchors only",
            ),
        ];
        for (text, line, words) in rows {
            let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(words), "{text}\n---\n{msg}");
            assert!(
                msg.contains(&format!("t.toml:{line}")),
                "{text}\n---\n{msg}"
            );
            assert!(
                msg.contains("hint:") || words == "unclosed array table",
                "{msg}"
            );
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let text = format!(
            "[[rule]]\nhosts = [\"**.com\", \"ok.example.com\"]\npins = [\"bad\", \"{P1}\"]\nmode = \"x\"\n"
        );
        let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 3, "{e}");
        let lines: Vec<_> = e.diagnostics.iter().map(|d| d.line).collect();
        assert_eq!(lines, [Some(2), Some(3), Some(4)], "file order: {e}");

        // A bad host does not hide the missing backup pin.
        let text = format!("[[rule]]\nhosts = [\"**.com\"]\npins = [\"{P1}\"]\n");
        let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 2, "{e}");
        assert!(e.to_string().contains("at least two pins"), "{e}");
    }

    #[test]
    fn report_only_rule_may_have_one_pin() {
        let text = format!(
            "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\nmode = \"report-only\"\n"
        );
        assert!(Policy::from_toml_str(&text, "t").is_ok());
    }

    /// Without the `ct` feature a rule that requires SCTs could not be honoured: refused.
    #[test]
    fn require_sct_follows_the_ct_feature() {
        let text = rule(r#""a.example.com""#, "require_sct = 2");
        let parsed = Policy::from_toml_str(&text, "t.toml");
        assert_eq!(parsed.is_ok(), cfg!(feature = "ct"), "{parsed:?}");
        match parsed {
            Ok(p) => {
                let r = p.rule_for("a.example.com").unwrap();
                assert_eq!(r.require_sct(), Some(SctRequirement::AtLeast(2)));
            }
            Err(e) => {
                assert!(
                    e.to_string().contains("t.toml:5:15: rule[0].require_sct"),
                    "{e}"
                );
                assert!(
                    e.to_string().contains("enable keypin's `ct` cargo feature"),
                    "{e}"
                );
            }
        }
    }

    /// Without the checker compiled in, asking for OCSP checks is refused, never ignored.
    #[test]
    fn ocsp_field_needs_the_ocsp_feature() {
        for (value, ok) in [
            ("ignore", true),
            ("check-if-stapled", cfg!(feature = "ocsp")),
            ("require", cfg!(feature = "ocsp")),
        ] {
            let text = rule("\"a.example.com\"", &format!("ocsp = \"{value}\""));
            match Policy::from_toml_str(&text, "t.toml") {
                Ok(p) => assert!(ok, "{value} accepted without the feature: {p:?}"),
                Err(e) => {
                    assert!(!ok, "{value}: {e}");
                    assert!(e.to_string().contains("t.toml:5:8: rule[0].ocsp"), "{e}");
                    assert!(e.to_string().contains("`ocsp` feature"), "{e}");
                }
            }
        }
    }

    #[test]
    fn empty_policy_has_no_rules() {
        let p = Policy::from_toml_str("# nothing pinned\n", "t").unwrap();
        assert!(p.rule_for("example.com").is_none());
    }

    #[test]
    fn report_uris_and_delivery_are_validated_with_lines() {
        let ok = rule(
            r#""a.example.com""#,
            "report_uris = [\"https://r.example.com/v1/reports\", \"http://127.0.0.1:8080/\"]\n\
             report_delivery = \"unpinned\"",
        );
        let p = Policy::from_toml_str(&ok, "t").unwrap();
        let r = p.rule_for("a.example.com").unwrap();
        assert_eq!(r.report_uris().len(), 2);
        assert_eq!(r.report_delivery(), ReportDelivery::Unpinned);
        let plain = Policy::from_toml_str(&rule(r#""b.example.com""#, ""), "t").unwrap();
        assert_eq!(
            plain.rules()[0].report_delivery(),
            ReportDelivery::Pinned,
            "pinned unless asked"
        );
        assert!(plain.rules()[0].report_uris().is_empty());

        let cases = [
            (
                "report_uris = [\"ftp://r.example.com/\"]",
                "http:// or https://",
            ),
            ("report_uris = [\"r.example.com/reports\"]", "not a URL"),
            ("report_uris = [\"https:///reports\"]", "no host"),
            ("report_uris = [\"https://r.example.com:0/\"]", "bad port"),
            (
                "report_uris = [\"https://r.example.com/\", \"https://r.example.com/\"]",
                "listed twice",
            ),
            ("report_delivery = \"sometimes\"", "unknown report_delivery"),
        ];
        for (extra, want) in cases {
            let text = rule(r#""a.example.com""#, extra);
            let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
            assert_eq!(e.diagnostics.len(), 1, "{extra}: {e}");
            assert_eq!(e.diagnostics[0].line, Some(5), "{extra}: {e}");
            assert!(e.to_string().contains(want), "{extra}: {e}");
        }
    }

    #[test]
    fn retain_rules_leaves_the_others_indexed() {
        let text = [
            rule(r#""a.example.com""#, "report_delivery = \"unpinned\""),
            rule(r#""**.b.example.com""#, ""),
        ]
        .concat();
        let p = Policy::from_toml_str(&text, "t").unwrap();
        let kept = p.retain_rules(|r| r.report_delivery() == ReportDelivery::Pinned);
        assert!(kept.rule_for("a.example.com").is_none());
        assert!(kept.rule_for("x.b.example.com").is_some());
        assert_eq!(kept.rules().len(), 1);
    }

    #[test]
    fn report_fields_travel_in_the_serde_form_only_when_set() {
        let plain = Policy::rule_specs_from_toml(&rule(r#""a.example.com""#, ""), "t").unwrap();
        let json = serde_json::to_string(&plain[0]).unwrap();
        assert!(
            !json.contains("report"),
            "older verifiers refuse unknown fields: {json}"
        );
        let with = Policy::rule_specs_from_toml(
            &rule(
                r#""a.example.com""#,
                "report_uris = [\"https://r.example.com/\"]\nreport_delivery = \"unpinned\"",
            ),
            "t",
        )
        .unwrap();
        let json = serde_json::to_string(&with[0]).unwrap();
        let back: RuleSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, with[0]);
        let p = Policy::from_rules("bundle", vec![back]).unwrap();
        assert_eq!(p.rules()[0].report_uris(), ["https://r.example.com/"]);
        assert_eq!(p.rules()[0].report_delivery(), ReportDelivery::Unpinned);
    }
}
