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
//! trust_anchors = ["private-ca.pem"]  # optional extra roots for this rule (PEM files or inline PEM)
//! name = "api"                 # optional label for reports
//! ocsp = "check-if-stapled"    # optional, feature `ocsp`: "ignore" (default), "check-if-stapled", "require"
//! ```
//!
//! Every problem in a file is reported at once, each with its line and a hint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use toml::Spanned;

use crate::clock::Date;
use crate::error::{Diagnostic, Error, PolicyError};
use crate::host::{HostPattern, normalize};
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
pub enum Enforcement {
    /// Mismatch refuses the connection.
    Enforce,
    /// Mismatch is reported; the connection goes on.
    ReportOnly(ReportOnlyReason),
}

/// Why a rule is only reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOnlyReason {
    /// The policy says `mode = "report-only"`.
    Configured,
    /// The rule's pins expired at the start of this date (the day after `expires`).
    Expired {
        /// The last date the pins were in force.
        expires: Date,
    },
}

/// What a rule does with the OCSP response a server staples (`ocsp = ...`; checked with the
/// `ocsp` feature, see `keypin::ocsp`). A leaf carrying the must-staple extension (TLS Feature
/// `status_request`) is always treated as [`OcspMode::Require`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
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
    line: usize,
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

    /// Parses policy text. `source_name` names it in messages. Relative `trust_anchors`
    /// paths are resolved against the current directory.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        parse(text, source_name, None)
    }

    /// Reads and parses a policy file; relative `trust_anchors` paths are resolved against the
    /// file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(parse(
            &text,
            &path.display().to_string(),
            Some(path.parent().unwrap_or(Path::new("."))),
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

    /// Builds a policy from rules made in code (for tests, tools and signed bundles).
    pub fn from_rules(source_name: &str, rules: Vec<RuleSpec>) -> Result<Self, PolicyError> {
        let mut v = Validator::new(source_name, "");
        for (i, spec) in rules.into_iter().enumerate() {
            v.add_rule(i, spec);
        }
        v.finish()
    }
}

/// A rule described in code, validated exactly like one read from a file.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    /// Host patterns.
    pub hosts: Vec<String>,
    /// Pins in any accepted spelling.
    pub pins: Vec<String>,
    /// `include_subdomains`.
    pub include_subdomains: bool,
    /// `YYYY-MM-DD`.
    pub expires: Option<String>,
    /// `enforce` (default) or `report-only`.
    pub mode: Option<String>,
    /// `report-only` (default) or `enforce`.
    pub on_expiry: Option<String>,
    /// PEM file paths or inline PEM.
    pub trust_anchors: Vec<String>,
    /// Label.
    pub name: Option<String>,
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
    ocsp: Option<Spanned<String>>,
}

fn parse(text: &str, source_name: &str, base_dir: Option<&Path>) -> Result<Policy, PolicyError> {
    let mut v = Validator::new(source_name, text);
    v.base_dir = base_dir.map(Path::to_path_buf);
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, column) = e
                .span()
                .map(|s| v.line_col(s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            let message = e.message().trim().to_string();
            let hint = if message.contains("unknown field") {
                Some(
                    "a [[rule]] takes hosts, pins, include_subdomains, expires, mode, on_expiry, \
                     trust_anchors, name and ocsp; the top level takes only [[rule]] tables"
                        .to_string(),
                )
            } else if message.contains("missing field") {
                Some("every [[rule]] needs hosts = [..] and pins = [..]".to_string())
            } else {
                None
            };
            return Err(PolicyError {
                source_name: source_name.to_string(),
                diagnostics: vec![Diagnostic {
                    line,
                    column,
                    field: None,
                    message,
                    hint,
                }],
            });
        }
    };
    for (i, rule) in raw.rule.into_iter().enumerate() {
        let rule_line = v.line_col(rule.span().start).0;
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
                a.into_inner()
            })
            .collect();
        v.spans = spec_spans;
        v.rule_line = Some(rule_line);
        v.add_rule(
            i,
            RuleSpec {
                hosts,
                pins,
                include_subdomains: r.include_subdomains.unwrap_or(false),
                expires,
                mode,
                on_expiry,
                trust_anchors,
                name: r.name,
                ocsp,
            },
        );
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
    ocsp: Option<usize>,
}

struct Validator {
    source_name: String,
    base_dir: Option<PathBuf>,
    line_starts: Vec<usize>,
    spans: Spans,
    rule_line: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    rules: Vec<Rule>,
    seen_patterns: HashMap<HostPattern, (usize, Option<usize>)>,
}

impl Validator {
    fn new(source_name: &str, text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            source_name: source_name.to_string(),
            base_dir: None,
            line_starts,
            spans: Spans::default(),
            rule_line: None,
            diagnostics: Vec::new(),
            rules: Vec::new(),
            seen_patterns: HashMap::new(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        (line.max(1), offset - start + 1)
    }

    fn report(&mut self, at: Option<usize>, field: String, message: String, hint: Option<&str>) {
        let (line, column) = match at {
            Some(off) if self.line_starts.len() > 1 || off > 0 => {
                let (l, c) = self.line_col(off);
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
                    let here = at.map(|o| self.line_col(o).0);
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
                Err(msg) => self.report(
                    at,
                    format!("rule[{i}].trust_anchors[{j}]"),
                    msg,
                    Some("give a PEM file of CA certificates (relative to the policy file) or inline PEM"),
                ),
            }
        }

        if self.diagnostics.len() == errors_before {
            self.rules.push(Rule {
                name: spec.name,
                hosts,
                pins,
                mode: mode.unwrap_or(Mode::Enforce),
                expires,
                on_expiry,
                anchors: anchors.into(),
                line: self.rule_line.unwrap_or(0),
                ocsp,
            });
        }
    }

    fn load_anchors(&self, spec: &str) -> Result<Vec<ExtraAnchor>, String> {
        let (bytes, what) = if spec.trim_start().starts_with("-----BEGIN") {
            (spec.as_bytes().to_vec(), "inline PEM".to_string())
        } else {
            let path = match &self.base_dir {
                Some(dir) => dir.join(spec),
                None => PathBuf::from(spec),
            };
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read trust anchor file {}: {e}", path.display()))?;
            (bytes, path.display().to_string())
        };
        let mut out = Vec::new();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|e| format!("{what}: not valid PEM: {e}"))?;
            let anchor = webpki::anchor_from_trusted_cert(&cert)
                .map_err(|e| format!("{what}: not a usable CA certificate: {e}"))?
                .to_owned();
            out.push(ExtraAnchor {
                anchor,
                cert: cert.into_owned(),
            });
        }
        if out.is_empty() {
            return Err(format!("{what} holds no CERTIFICATE block"));
        }
        Ok(out)
    }

    fn finish(mut self) -> Result<Policy, PolicyError> {
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
                "cannot read trust anchor file /nonexistent/ca.pem",
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
}
