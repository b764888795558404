//! Reading a policy: TOML text or rule specs in, every field checked, a typed policy out.

use std::collections::HashMap;
use std::path::PathBuf;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use toml::Spanned;

use crate::clock::Date;
use crate::host::HostPattern;
use crate::pin::Pin;

use super::diagnostic::PolicyError;
use super::fields::{PIN_HINT_RULE, Reporter};
use super::model::{
    AnchorSource, ExtraAnchor, Mode, OcspMode, OnExpiry, PinPosition, ReportDelivery, Rule,
    RuleSpec, SctRequirement,
};
use super::toml_text::{self, Position};

/// Whether a policy may read anchor files: only one loaded from disk.
#[derive(Debug, Clone)]
pub(super) enum AnchorFiles {
    /// Text, rule specs, bundles: inline PEM only.
    Refused,
    /// [`Policy::from_file`](crate::Policy::from_file): relative names against the policy file's directory.
    RelativeTo(PathBuf),
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
    #[serde(default)]
    single_pin_may_brick: Option<bool>,
    #[serde(default)]
    public_suffix_covers_others: Option<bool>,
    #[serde(default)]
    bad_pins: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pin_position: Option<Spanned<String>>,
    #[serde(default)]
    leaf_pins: Option<Spanned<Vec<Spanned<String>>>>,
}

pub(super) fn parse(
    text: &str,
    source_name: &str,
    anchor_files: AnchorFiles,
    mut specs_out: Option<&mut Vec<RuleSpec>>,
) -> Result<Vec<Rule>, PolicyError> {
    let mut v = Validator::new(source_name, text);
    v.anchor_files = anchor_files;
    let raw: RawPolicy = toml_text::deserialize(
        text,
        source_name,
        &v.r.lines,
        Position::LineAndColumn,
        |message| {
            if message.contains("unknown field") {
                Some(
                    "a [[rule]] takes hosts, pins, include_subdomains, expires, mode, on_expiry, \
                     trust_anchors, name, report_uris, report_delivery, require_sct, ocsp, \
                     single_pin_may_brick, public_suffix_covers_others, bad_pins, pin_position \
                     and leaf_pins; \
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
        let rule_line = v.r.lines.line(rule.span().start);
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
        let bad_pins = pin_list(r.bad_pins, &mut spec_spans.bad_pins);
        let leaf_pins = pin_list(r.leaf_pins, &mut spec_spans.leaf_pins);
        let pin_position = take(r.pin_position, &mut spec_spans.pin_position);
        v.spans = spec_spans;
        v.r.table_line = Some(rule_line);
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
            single_pin_may_brick: r.single_pin_may_brick.unwrap_or(false),
            public_suffix_covers_others: r.public_suffix_covers_others.unwrap_or(false),
            bad_pins,
            pin_position,
            leaf_pins,
        };
        if let Some(out) = specs_out.as_deref_mut() {
            out.push(spec.clone());
        }
        v.add_rule(i, spec);
    }
    v.finish()
}

/// A list of pins as written, its offsets recorded in `spans` (the list's, then each item's).
fn pin_list(
    list: Option<Spanned<Vec<Spanned<String>>>>,
    spans: &mut (Option<usize>, Vec<usize>),
) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    spans.0 = Some(list.span().start);
    list.into_inner()
        .into_iter()
        .map(|p| {
            spans.1.push(p.span().start);
            p.into_inner()
        })
        .collect()
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
    /// `bad_pins`: the list's offset, then each item's.
    bad_pins: (Option<usize>, Vec<usize>),
    pin_position: Option<usize>,
    /// `leaf_pins`: the list's offset, then each item's.
    leaf_pins: (Option<usize>, Vec<usize>),
}

/// A rule's keyword settings, checked.
struct Settings {
    mode: Option<Mode>,
    on_expiry: OnExpiry,
    ocsp: OcspMode,
    expires: Option<Date>,
    report_delivery: ReportDelivery,
}

pub(super) struct Validator {
    source_name: String,
    anchor_files: AnchorFiles,
    r: Reporter,
    spans: Spans,
    rules: Vec<Rule>,
    seen_patterns: HashMap<HostPattern, (usize, Option<usize>)>,
}

impl Validator {
    pub(super) fn new(source_name: &str, text: &str) -> Self {
        Self {
            source_name: source_name.to_string(),
            anchor_files: AnchorFiles::Refused,
            r: Reporter::new(text, Position::LineAndColumn),
            spans: Spans::default(),
            rules: Vec::new(),
            seen_patterns: HashMap::new(),
        }
    }

    /// Checks one rule's fields, each problem at its place; keeps the rule when it has none.
    pub(super) fn add_rule(&mut self, i: usize, spec: RuleSpec) {
        let errors_before = self.r.count();
        let field = |name: &str| format!("rule[{i}].{name}");
        let settings = self.settings(i, &spec);
        let hosts = self.hosts(i, &spec);
        let pins = self.pins(i, &spec, settings.mode);
        let bad_spans = self.spans.bad_pins.clone();
        let bad_pins = self.pin_list(i, "bad_pins", &spec.bad_pins, &bad_spans);
        let (pin_position, leaf_pins) = self.positions(i, &spec, settings.mode);
        let anchors = self.anchors(i, &spec);
        let report_uris = self.report_uris(i, &spec);
        let require_sct = spec
            .require_sct
            .as_deref()
            .and_then(|t| self.sct_requirement(t, &field("require_sct")));

        if self.r.count() == errors_before {
            self.rules.push(Rule {
                name: spec.name,
                hosts,
                pins,
                mode: settings.mode.unwrap_or(Mode::Enforce),
                expires: settings.expires,
                on_expiry: settings.on_expiry,
                anchors: anchors.into(),
                require_sct,
                line: self.r.table_line.unwrap_or(0),
                report_uris,
                report_delivery: settings.report_delivery,
                ocsp: settings.ocsp,
                single_pin_may_brick: spec.single_pin_may_brick,
                public_suffix_covers_others: spec.public_suffix_covers_others,
                bad_pins,
                pin_position,
                leaf_pins,
            });
        }
    }

    /// The rule's keyword settings and `expires` (`mode` is `None` when misspelled: the pin
    /// count rule then does not apply).
    fn settings(&mut self, i: usize, spec: &RuleSpec) -> Settings {
        let field = |name: &str| format!("rule[{i}].{name}");
        let mode = self.r.keyword(
            spec.mode.as_deref(),
            Mode::Enforce,
            &[
                ("enforce", Mode::Enforce),
                ("report-only", Mode::ReportOnly),
            ],
            (self.spans.mode, field("mode"), "mode"),
            "use \"enforce\" or \"report-only\"",
        );
        let on_expiry = self
            .r
            .keyword(
                spec.on_expiry.as_deref(),
                OnExpiry::ReportOnly,
                &[
                    ("report-only", OnExpiry::ReportOnly),
                    ("enforce", OnExpiry::Enforce),
                ],
                (self.spans.on_expiry, field("on_expiry"), "on_expiry"),
                "use \"report-only\" (default: keep checking and report) or \"enforce\"",
            )
            .unwrap_or(OnExpiry::ReportOnly);
        let ocsp = self
            .r
            .keyword(
                spec.ocsp.as_deref(),
                OcspMode::Ignore,
                &[
                    ("ignore", OcspMode::Ignore),
                    ("check-if-stapled", OcspMode::CheckIfStapled),
                    ("require", OcspMode::Require),
                ],
                (self.spans.ocsp, field("ocsp"), "ocsp"),
                "use \"ignore\" (default), \"check-if-stapled\" or \"require\"",
            )
            .unwrap_or(OcspMode::Ignore);
        // Without the checker, a rule asking for OCSP checks must not pass silently unchecked.
        if !cfg!(feature = "ocsp") && ocsp != OcspMode::Ignore {
            self.r.report(
                self.spans.ocsp,
                field("ocsp"),
                format!(
                    "ocsp = {:?} needs OCSP checking, which this build of keypin lacks",
                    ocsp.as_str()
                ),
                Some("build keypin with its `ocsp` feature, or remove the ocsp line"),
            );
        }
        let expires = self.r.expires(
            spec.expires.as_deref(),
            self.spans.expires,
            field("expires"),
            "write the last day the pins are valid, like expires = \"2027-06-30\"",
        );

        let report_delivery = self
            .r
            .keyword(
                spec.report_delivery.as_deref(),
                ReportDelivery::Pinned,
                &[
                    ("pinned", ReportDelivery::Pinned),
                    ("unpinned", ReportDelivery::Unpinned),
                ],
                (
                    self.spans.report_delivery,
                    field("report_delivery"),
                    "report_delivery",
                ),
                "use \"pinned\" (default: reports to these hosts are pinned too) or \
                 \"unpinned\" (reports to these hosts skip this rule's pins)",
            )
            .unwrap_or(ReportDelivery::Pinned);
        Settings {
            mode,
            on_expiry,
            ocsp,
            expires,
            report_delivery,
        }
    }

    /// The host patterns, each at most once in the whole policy.
    fn hosts(&mut self, i: usize, spec: &RuleSpec) -> Vec<HostPattern> {
        let field = |name: &str| format!("rule[{i}].{name}");
        if spec.hosts.is_empty() {
            self.r.report(
                self.spans.hosts,
                field("hosts"),
                "the rule covers no host".into(),
                Some("list at least one host, like hosts = [\"api.example.com\"]"),
            );
        }
        let mut hosts = Vec::new();
        for (j, h) in spec.hosts.iter().enumerate() {
            let at = self.spans.host_items.get(j).copied().or(self.spans.hosts);
            match HostPattern::parse_with(
                h,
                spec.include_subdomains,
                spec.public_suffix_covers_others,
            ) {
                Ok(p) => {
                    let here = at.map(|o| self.r.lines.line(o));
                    if let Some((other, other_line)) = self.seen_patterns.get(&p) {
                        let where_ = other_line.map_or(String::new(), |l| format!(" at line {l}"));
                        let msg =
                            format!("duplicate host pattern {p} (also in rule[{other}]{where_})");
                        self.r.report(
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
                Err(e) => self.r.report(
                    at,
                    format!("rule[{i}].hosts[{j}]"),
                    e.message,
                    e.hint.as_deref(),
                ),
            }
        }

        hosts
    }

    /// The pins; an enforcing rule needs two unless it says `single_pin_may_brick`.
    fn pins(&mut self, i: usize, spec: &RuleSpec, mode: Option<Mode>) -> Vec<Pin> {
        let field = |name: &str| format!("rule[{i}].{name}");
        let pin_errors_before = self.r.count();
        let pin_items = spec.pins.iter().enumerate().map(|(j, p)| {
            let at = self.spans.pin_items.get(j).copied().or(self.spans.pins);
            (at, p.as_str())
        });
        let pins = self
            .r
            .pins(pin_items, &format!("rule[{i}]"), "pins", PIN_HINT_RULE);
        if spec.pins.is_empty() {
            self.r.report(
                self.spans.pins,
                field("pins"),
                "the rule has no pins".into(),
                Some("list the pins of your keys; `keypin inspect HOST` shows them"),
            );
        } else if mode == Some(Mode::Enforce)
            && pins.len() < 2
            && !spec.single_pin_may_brick
            && self.r.count() == pin_errors_before
        {
            self.r.report(
                self.spans.pins,
                field("pins"),
                "an enforcing rule needs at least two pins: the current key and a backup".into(),
                Some(
                    "add a backup pin for a spare key kept offline (`keypin pin spare.key`) or for \
                     another CA, as RFC 7469 and TrustKit require; or set mode = \"report-only\"; \
                     or, accepting that losing or replacing that one key breaks every client \
                     until new pins ship, set single_pin_may_brick = true",
                ),
            );
        }
        pins
    }

    /// The extra trust anchors (inline PEM, or files only for `Policy::from_file`).
    fn anchors(&mut self, i: usize, spec: &RuleSpec) -> Vec<ExtraAnchor> {
        let mut anchors = Vec::new();
        for (j, a) in spec.trust_anchors.iter().enumerate() {
            let at = self.spans.anchor_items.get(j).copied();
            match self.load_anchors(a) {
                Ok(mut found) => anchors.append(&mut found),
                Err((msg, hint)) => {
                    self.r
                        .report(at, format!("rule[{i}].trust_anchors[{j}]"), msg, Some(hint))
                }
            }
        }

        anchors
    }

    /// The report URIs, each a full http(s) URL, listed once.
    fn report_uris(&mut self, i: usize, spec: &RuleSpec) -> Vec<String> {
        let mut report_uris = Vec::new();
        for (j, u) in spec.report_uris.iter().enumerate() {
            let at = self.spans.report_uri_items.get(j).copied();
            match check_report_uri(u) {
                Ok(()) if report_uris.contains(u) => self.r.report(
                    at,
                    format!("rule[{i}].report_uris[{j}]"),
                    format!("report URI {u:?} is listed twice"),
                    Some("remove the duplicate"),
                ),
                Ok(()) => report_uris.push(u.clone()),
                Err(msg) => self.r.report(
                    at,
                    format!("rule[{i}].report_uris[{j}]"),
                    msg,
                    Some("write a full URL, like \"https://reports.example.com/v1/reports\""),
                ),
            }
        }
        report_uris
    }

    /// A pin list other than `pins` (`bad_pins`, `leaf_pins`), each pin checked at its place.
    fn pin_list(
        &mut self,
        i: usize,
        name: &str,
        pins: &[String],
        spans: &(Option<usize>, Vec<usize>),
    ) -> Vec<Pin> {
        let items = pins.iter().enumerate().map(|(j, p)| {
            let at = spans.1.get(j).copied().or(spans.0);
            (at, p.as_str())
        });
        self.r
            .pins(items, &format!("rule[{i}]"), name, PIN_HINT_RULE)
    }

    /// `pin_position` and `leaf_pins`: leaf pins only beside CA pins (iOS's both lists), and
    /// like `pins`, two of them when enforcing unless `single_pin_may_brick`.
    fn positions(
        &mut self,
        i: usize,
        spec: &RuleSpec,
        mode: Option<Mode>,
    ) -> (PinPosition, Vec<Pin>) {
        let field = |name: &str| format!("rule[{i}].{name}");
        let position = self
            .r
            .keyword(
                spec.pin_position.as_deref(),
                PinPosition::Any,
                &[
                    ("any", PinPosition::Any),
                    ("leaf", PinPosition::Leaf),
                    ("ca", PinPosition::Ca),
                ],
                (self.spans.pin_position, field("pin_position"), "pin_position"),
                "use \"any\" (default), \"leaf\" (the leaf only) or \"ca\" (an intermediate or the trust anchor)",
            )
            .unwrap_or(PinPosition::Any);
        let before = self.r.count();
        let spans = self.spans.leaf_pins.clone();
        let leaf_pins = self.pin_list(i, "leaf_pins", &spec.leaf_pins, &spans);
        if leaf_pins.is_empty() || self.r.count() > before {
            return (position, leaf_pins);
        }
        if position != PinPosition::Ca {
            self.r.report(
                spans.0,
                field("leaf_pins"),
                format!(
                    "leaf_pins require the leaf to carry one of them beside the CA pins of pin_position = \"ca\", but this rule's pin_position is \"{}\"",
                    position.as_str()
                ),
                Some("set pin_position = \"ca\" for CA pins plus leaf pins (iOS's two lists), or list leaf pins in pins with pin_position = \"leaf\""),
            );
        } else if mode == Some(Mode::Enforce) && leaf_pins.len() < 2 && !spec.single_pin_may_brick {
            self.r.report(
                spans.0,
                field("leaf_pins"),
                "an enforcing rule needs at least two leaf pins: the current leaf key and a backup".into(),
                Some("add the pin of a spare leaf key, or set single_pin_may_brick = true accepting that losing that key breaks every client until new pins ship"),
            );
        }
        (position, leaf_pins)
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
            self.r.report(
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
            self.r.report(
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

    /// The rules, when no field of any had a problem; else every problem.
    pub(super) fn finish(self) -> Result<Vec<Rule>, PolicyError> {
        self.r.finish(&self.source_name)?;
        Ok(self.rules)
    }
}
