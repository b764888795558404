//! keypin policy → other systems' pin formats.
//!
//! Each target expresses less than a keypin policy. The rule here: when a target cannot say
//! something, the export produces the *stricter* equivalent and says so in a [`Notice`], or
//! refuses with an [`ExportError`] — it never emits a silently weaker policy.

use core::fmt;
use std::fmt::Write as _;

mod chromium;
mod curl;
mod hpkp;
mod ios_ats;
mod nsc;
mod okhttp;
mod trustkit;

use keypin::policy::PinPosition as RulePosition;
use keypin::{
    Policy, host::HostPattern, pin::Pin, pin::PinFormat, pin::PinKind, policy::Mode,
    policy::OcspMode, policy::OnExpiry, policy::Rule,
};

/// The formats keypin writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Android `network_security_config.xml`.
    AndroidNsc,
    /// Android NSC with TrustKit-Android's `trustkit-config`.
    TrustkitAndroid,
    /// TrustKit (iOS) configuration as an XML plist dictionary.
    Trustkit,
    /// TrustKit (iOS) configuration as Swift.
    TrustkitSwift,
    /// OkHttp `CertificatePinner` builder (Kotlin).
    Okhttp,
    /// HPKP `Public-Key-Pins` header lines.
    Hpkp,
    /// curl `--pinnedpubkey` arguments.
    Curl,
    /// Chromium static pins JSON.
    Chromium,
    /// iOS App Transport Security `NSPinnedDomains` (Info.plist fragment); needs pin
    /// positions, see [`ExportOptions::positions`].
    IosAts,
}

/// Where a pinned key sits on the chain: iOS keeps leaf and CA pins in separate lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPosition {
    /// The server's own key.
    Leaf,
    /// A CA key (intermediate or root).
    Ca,
}

/// What some targets need beyond the policy.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Now, Unix seconds (HPKP `max-age` is computed from `expires`).
    pub now_secs: i64,
    /// Known positions of pins (learned from live chains).
    pub positions: std::collections::HashMap<Pin, PinPosition>,
    /// The position assumed for pins whose position is unknown (backup keys).
    pub backup_position: Option<PinPosition>,
}

impl ExportFormat {
    /// Every format, with its command-line name.
    pub const ALL: [(&'static str, ExportFormat); 9] = [
        ("android-nsc", Self::AndroidNsc),
        ("trustkit-android", Self::TrustkitAndroid),
        ("trustkit", Self::Trustkit),
        ("trustkit-swift", Self::TrustkitSwift),
        ("okhttp", Self::Okhttp),
        ("hpkp", Self::Hpkp),
        ("curl", Self::Curl),
        ("chromium", Self::Chromium),
        ("ios-ats", Self::IosAts),
    ];

    /// Looks a format up by its command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Something the target cannot express, and what the export did instead (always stricter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Where in the policy (`policy.toml:12`).
    pub location: String,
    /// What changed and why.
    pub message: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// An export that had to be refused, because the only equivalents would be weaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError {
    /// The target format.
    pub format: ExportFormat,
    /// Each rule that cannot be expressed, with why and what to do.
    pub problems: Vec<Notice>,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot export to {} without weakening the policy",
            self.format.name()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {}

/// The exported text and the notices that go to stderr.
#[derive(Clone, Debug)]
pub struct Export {
    /// The file content.
    pub text: String,
    /// What was made stricter, and why.
    pub notices: Vec<Notice>,
}

/// Exports `policy` to `format`. `now_secs` (Unix time) sets HPKP's `max-age` from `expires`.
pub fn export(policy: &Policy, format: ExportFormat, now_secs: i64) -> Result<Export, ExportError> {
    export_with(
        policy,
        format,
        &ExportOptions {
            now_secs,
            ..ExportOptions::default()
        },
    )
}

/// [`export`] with the options some targets need (pin positions for `ios-ats`).
pub fn export_with(
    policy: &Policy,
    format: ExportFormat,
    options: &ExportOptions,
) -> Result<Export, ExportError> {
    let now_secs = options.now_secs;
    let mut cx = Cx {
        policy,
        format,
        notices: Vec::new(),
        problems: Vec::new(),
    };
    let text = match format {
        ExportFormat::AndroidNsc => cx.nsc(false),
        ExportFormat::TrustkitAndroid => cx.nsc(true),
        ExportFormat::Trustkit => cx.trustkit_plist(),
        ExportFormat::TrustkitSwift => cx.trustkit_swift(),
        ExportFormat::Okhttp => cx.okhttp(),
        ExportFormat::Hpkp => cx.hpkp(now_secs),
        ExportFormat::Curl => cx.curl(),
        ExportFormat::Chromium => cx.chromium(),
        ExportFormat::IosAts => cx.ios_ats(options),
    };
    if cx.problems.is_empty() {
        Ok(Export {
            text,
            notices: cx.notices,
        })
    } else {
        Err(ExportError {
            format,
            problems: cx.problems,
        })
    }
}

/// How a target treats an expired pin set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpirySupport {
    /// It can carry a date after which pinning stops (Android, TrustKit).
    DateThenOff,
    /// It has no expiry at all (OkHttp, curl, Chromium's static list here).
    None,
}

/// How a target treats report-only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReportOnlySupport {
    Yes,
    No,
}

/// How a target's subdomain flag reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subdomains {
    /// A per-domain flag meaning "the domain and every name under it" (NSC, TrustKit, HPKP, Chromium).
    AnyDepthFlag,
    /// OkHttp's own `*.` / `**.` syntax: every keypin pattern maps exactly.
    OkHttpPatterns,
    /// No patterns at all (curl works per URL).
    ExactOnly,
    /// Apple's NSIncludesSubdomains: the domain and exactly one more label.
    AppleOneLabel,
}

struct Cx<'a> {
    policy: &'a Policy,
    format: ExportFormat,
    notices: Vec<Notice>,
    problems: Vec<Notice>,
}

/// One exported domain entry.
struct Entry<'r> {
    rule: &'r Rule,
    rule_index: usize,
    name: String,
    include_subdomains: bool,
    pins: Vec<Pin>,
    /// The pin set's expiry date to write, if the target can and should carry it.
    expiration: Option<String>,
    enforce: bool,
}

impl<'a> Cx<'a> {
    fn location(&self, rule: &Rule) -> String {
        format!("{}:{}", self.policy.source_name(), rule.line())
    }

    fn notice(&mut self, rule: &Rule, message: String) {
        let location = self.location(rule);
        self.notices.push(Notice { location, message });
    }

    fn refuse(&mut self, rule: &Rule, message: String) {
        let location = self.location(rule);
        self.problems.push(Notice { location, message });
    }

    /// Why this target cannot carry `rule`'s `pin_position` / `leaf_pins`, if it cannot.
    fn position_refusal(&self, rule: &Rule) -> Option<String> {
        let target = self.format.name();
        let position = rule.pin_position();
        let both = !rule.leaf_pins().is_empty();
        match self.format {
            ExportFormat::IosAts => None,
            _ if position == RulePosition::Any && !both => None,
            ExportFormat::Curl if position == RulePosition::Leaf && !both => None,
            ExportFormat::Curl => Some(format!(
                "curl checks only the leaf key, so the CA pins of pin_position = \"ca\" would never match{}; export this rule to ios-ats, or pin leaf keys",
                if both {
                    " (and leaf_pins alone would drop them)"
                } else {
                    ""
                }
            )),
            _ if both => Some(format!(
                "{target} cannot require a CA pin and a leaf pin together (pin_position = \"ca\" with leaf_pins, iOS's two lists); dropping either list would be weaker"
            )),
            _ => Some(format!(
                "{target} matches pins anywhere on the chain, weaker than pin_position = \"{}\"; export to ios-ats{}, or set pin_position = \"any\" in a copy of the policy if anywhere is acceptable",
                position.as_str(),
                if position == RulePosition::Leaf {
                    " or curl"
                } else {
                    ""
                }
            )),
        }
    }

    /// The entries of every rule as the target can carry them, with notices and refusals.
    fn entries(
        &mut self,
        expiry: ExpirySupport,
        report_only: ReportOnlySupport,
        subdomains: Subdomains,
    ) -> Vec<Entry<'a>> {
        let policy: &'a Policy = self.policy;
        let target = self.format.name();
        let mut out = Vec::new();
        for (rule_index, rule) in policy.rules().iter().enumerate() {
            // Certificate pins: none of these targets has them, and dropping one could leave
            // a set that never matches or, worse, hide that the policy relied on it.
            if rule
                .pins()
                .iter()
                .chain(rule.bad_pins())
                .any(|p| p.kind() == PinKind::Certificate)
            {
                self.refuse(
                    rule,
                    format!(
                        "{target} has no certificate pins (cert-sha256/...); replace them with key pins (`keypin pin FILE`)"
                    ),
                );
                continue;
            }
            // require_sct: none of these targets can say "and check CT"; dropping it would
            // export a weaker policy.
            if let Some(req) = rule.require_sct() {
                self.refuse(
                    rule,
                    format!(
                        "{target} cannot require Certificate Transparency ({req}); export a policy without require_sct and enable the platform's own CT checks"
                    ),
                );
                continue;
            }
            // bad_pins: only Chromium's static pins can say "never this key" (its
            // bad_static_spki_hashes); dropping them would accept chains the policy refuses.
            if !rule.bad_pins().is_empty() && self.format != ExportFormat::Chromium {
                self.refuse(
                    rule,
                    format!(
                        "{target} cannot refuse a chain for carrying a key (bad_pins: {} key(s)); only the chromium format has bad_static_spki_hashes, and dropping them would accept chains this policy refuses",
                        rule.bad_pins().len()
                    ),
                );
                continue;
            }
            // One enforced pin (single_pin_may_brick) where the platform refuses it: a browser
            // ignores an HPKP header without a backup pin (RFC 7469 §4.3), leaving the host
            // unpinned, and TrustKit (iOS) raises at initialisation.
            if rule.pins().len() < 2 && rule.mode() == Mode::Enforce {
                let why = match self.format {
                    ExportFormat::Hpkp => Some(
                        "HPKP needs a backup pin (RFC 7469 §4.3): a browser ignores a header with one pin, so the host would not be pinned at all",
                    ),
                    ExportFormat::Trustkit | ExportFormat::TrustkitSwift => Some(
                        "TrustKit refuses an enforced domain with fewer than two pins at initialisation, so the app would not start pinning",
                    ),
                    _ => None,
                };
                if let Some(why) = why {
                    self.refuse(rule, format!("{why}; add a backup pin"));
                    continue;
                }
            }
            // Pin positions: iOS keeps leaf and CA pins apart, curl checks only the leaf; every
            // other target matches a pin anywhere, which would be weaker than a position rule.
            if let Some(why) = self.position_refusal(rule) {
                self.refuse(rule, why);
                continue;
            }
            // OCSP staple checks: none of these targets has them; dropping one is weaker.
            if rule.ocsp() != OcspMode::Ignore {
                self.refuse(
                    rule,
                    format!(
                        "{target} cannot check stapled OCSP responses (ocsp = \"{}\"); export a copy of the policy without the ocsp line if the platform's own revocation checking is enough",
                        rule.ocsp().as_str()
                    ),
                );
                continue;
            }
            let enforce = match (rule.mode(), report_only) {
                (Mode::Enforce, _) => true,
                (Mode::ReportOnly, ReportOnlySupport::Yes) => false,
                (Mode::ReportOnly, ReportOnlySupport::No) => {
                    self.notice(
                        rule,
                        format!(
                            "{target} has no report-only mode: exported as ENFORCING (stricter)"
                        ),
                    );
                    true
                }
            };
            let expiration = match (rule.expires(), rule.on_expiry(), expiry) {
                (None, _, _) => None,
                (Some(d), OnExpiry::ReportOnly, ExpirySupport::DateThenOff) => {
                    if enforce || report_only == ReportOnlySupport::Yes {
                        self.notice(
                            rule,
                            format!(
                                "{target} stops pinning after {d} (keypin would keep checking and report): ship new pins before then"
                            ),
                        );
                    }
                    Some(d.to_string())
                }
                (Some(d), OnExpiry::Enforce, ExpirySupport::DateThenOff) => {
                    self.notice(
                        rule,
                        format!(
                            "on_expiry = \"enforce\": expiration {d} left out, since {target} would stop pinning after it (stricter: the pins never expire)"
                        ),
                    );
                    None
                }
                (Some(d), _, ExpirySupport::None) => {
                    self.notice(
                        rule,
                        format!("{target} has no pin expiry: the pins never expire there (stricter than expires = {d})"),
                    );
                    None
                }
            };
            let pins: Vec<Pin> = rule.pins().to_vec();
            // iOS's NSIncludesSubdomains is the domain and one more label: `b` and `*.b` of one
            // rule are exactly one entry (the pair an Info.plist entry imports as).
            let flag_bases: Vec<String> = match subdomains {
                Subdomains::AppleOneLabel => rule
                    .hosts()
                    .iter()
                    .filter_map(|h| match h {
                        HostPattern::OneLabel(b) => Some(b.to_string()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let has_exact = |b: &str| {
                rule.hosts()
                    .iter()
                    .any(|h| matches!(h, HostPattern::Exact(e) if e.to_string() == b))
            };
            for host in rule.hosts() {
                let (name, include_subdomains) = match (host, subdomains) {
                    (HostPattern::Exact(b), _) if flag_bases.contains(&b.to_string()) => continue,
                    (HostPattern::Exact(b), _) => (b.to_string(), false),
                    (
                        HostPattern::OneLabel(_) | HostPattern::AnyDepth(_),
                        Subdomains::OkHttpPatterns,
                    ) => (host.to_string(), false),
                    (HostPattern::AnyDepth(b), Subdomains::AnyDepthFlag) => (b.to_string(), true),
                    (HostPattern::OneLabel(b), Subdomains::AnyDepthFlag) => {
                        self.notice(
                            rule,
                            format!(
                                "{host}: {target} cannot say \"exactly one label\"; exported as {b} with subdomains (stricter: also pins {b} itself and deeper names)"
                            ),
                        );
                        (b.to_string(), true)
                    }
                    (HostPattern::OneLabel(b), Subdomains::AppleOneLabel)
                        if has_exact(b.as_ref()) =>
                    {
                        (b.to_string(), true)
                    }
                    (HostPattern::OneLabel(b), Subdomains::AppleOneLabel) => {
                        self.notice(
                            rule,
                            format!("{host}: exported as {b} with NSIncludesSubdomains (stricter: also pins {b} itself)"),
                        );
                        (b.to_string(), true)
                    }
                    (HostPattern::AnyDepth(b), Subdomains::AppleOneLabel) => {
                        self.refuse(
                            rule,
                            format!(
                                "{host}: iOS NSIncludesSubdomains covers only one label below {b}; deeper names would go unpinned. List them explicitly or use *.{b}"
                            ),
                        );
                        continue;
                    }
                    (
                        HostPattern::OneLabel(_) | HostPattern::AnyDepth(_),
                        Subdomains::ExactOnly,
                    ) => {
                        self.notice(
                            rule,
                            format!("{host}: {target} pins per URL; use this line for every matching host"),
                        );
                        (host.to_string(), false)
                    }
                };
                out.push(Entry {
                    rule,
                    rule_index,
                    name,
                    include_subdomains,
                    pins: pins.clone(),
                    expiration: expiration.clone(),
                    enforce,
                });
            }
        }
        // A target keyed by domain cannot hold one name twice (Android refuses duplicate
        // domains; a plist dictionary keeps only one), and merging two pin sets would weaken both.
        if matches!(
            subdomains,
            Subdomains::AnyDepthFlag | Subdomains::AppleOneLabel
        ) {
            for (i, e) in out.iter().enumerate() {
                if let Some(first) = out[..i].iter().find(|o| o.name == e.name) {
                    let message = format!(
                        "{} would appear twice in {target} (also from the rule at line {}); write the host patterns so they map to different names",
                        e.name,
                        first.rule.line()
                    );
                    let location = format!("{}:{}", policy.source_name(), e.rule.line());
                    self.problems.push(Notice { location, message });
                }
            }
        }
        out
    }

    fn header_comment(&self) -> String {
        format!(
            "generated by keypin from {} ({} rules)",
            self.policy.source_name(),
            self.policy.rules().len()
        )
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn swift_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn kotlin_string(s: &str) -> String {
    swift_string(s).replace('$', "\\$")
}
