//! Building reports: RFC 7469 §3 fields, TrustKit's app fields, and keypin's own, filled in
//! from a pin event (the fields and their JSON shape are in `wire.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::clock::format_rfc3339;
use crate::events::PinEvent;
use crate::pin::{Pin, PinFormat};
use crate::policy::{Enforcement, Mode, ReportOnlyReason, Rule};
use crate::verify::PinFailure;

use super::wire::Report;

/// The longest text put in a report field (the collector refuses longer ones).
const MAX_FIELD: usize = 1024;

/// The app fields of a report, as TrustKit names them. Set once on the sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppInfo {
    /// `app-bundle-id`, like `com.example.app`.
    pub bundle_id: Option<String>,
    /// `app-version`.
    pub version: Option<String>,
    /// `app-vendor-id` (an install id, if the app has one it may share).
    pub vendor_id: Option<String>,
    /// `app-platform`, like `IOS`, `ANDROID`, `LINUX`.
    pub platform: Option<String>,
    /// `app-platform-version`.
    pub platform_version: Option<String>,
}

/// What failed, as the `failure` field says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// No pin on the verified path (`pin-mismatch`).
    PinMismatch,
    /// The chain of a pinned host failed ordinary validation (`chain-invalid`).
    ChainInvalid,
    /// A connection used expired pins (`pins-expired`).
    PinsExpired,
    /// A pin update failed (`update-failed`).
    UpdateFailed,
}

impl FailureKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PinMismatch => "pin-mismatch",
            Self::ChainInvalid => "chain-invalid",
            Self::PinsExpired => "pins-expired",
            Self::UpdateFailed => "update-failed",
        }
    }
}

/// The per-sender values every report carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Common {
    pub app: AppInfo,
    pub policy_version: Option<String>,
}

impl Report {
    /// A report for a pin mismatch (refused or report-only).
    pub(crate) fn pin_mismatch(
        failure: &PinFailure,
        rule: Option<&Rule>,
        at: UnixTime,
        common: &Common,
    ) -> Self {
        let validated = failure
            .paths
            .first()
            .map(|path| {
                path.iter()
                    .filter_map(|e| e.der.as_ref())
                    .map(pem)
                    .collect()
            })
            .unwrap_or_default();
        let rule_text = match rule {
            Some(r) => describe_rule(r, &failure.rule_location),
            None => format!(
                "{} at {}",
                failure.rule_hosts.join(", "),
                failure.rule_location
            ),
        };
        let mut r = Self::base(&failure.host, rule, at, common);
        r.served_certificate_chain = failure.served_chain.iter().map(pem).collect();
        r.validated_certificate_chain = validated;
        r.known_pins = failure.expected.iter().map(known_pin).collect();
        r.enforce_pinning = failure.enforcement == Enforcement::Enforce;
        r.mode = mode_of(failure.enforcement).into();
        r.validation_result = Some(1);
        r.failure = FailureKind::PinMismatch.as_str().into();
        r.rule = Some(clip(rule_text));
        r.error = Some(clip(match failure.enforcement {
            Enforcement::Enforce => "no certificate on the verified path matches the pinned keys; connection refused".into(),
            Enforcement::ReportOnly(ReportOnlyReason::Configured) => "no certificate on the verified path matches the pinned keys; allowed (rule is report-only)".into(),
            Enforcement::ReportOnly(ReportOnlyReason::Expired { expires }) => format!("no certificate on the verified path matches the pinned keys; allowed because the pins expired after {expires}"),
        }));
        r
    }

    /// A pin-mismatch report for an app that delivers reports itself (the JVM binding sends
    /// them with OkHttp): the same report [`super::ReportSender`] would send for `failure`.
    /// `rule` is the rule that failed (for its name and expiry), `policy_version` the bundle
    /// version in force (`None`: the embedded policy).
    pub fn for_pin_failure(
        failure: &PinFailure,
        rule: Option<&Rule>,
        at: UnixTime,
        app: &AppInfo,
        policy_version: Option<String>,
    ) -> Self {
        let common = Common {
            app: app.clone(),
            policy_version,
        };
        Self::pin_mismatch(failure, rule, at, &common)
    }

    /// A report for a pinned host whose chain failed validation.
    /// `None` unless `event` is [`PinEvent::ChainInvalid`].
    pub(crate) fn chain_invalid(event: &PinEvent, common: &Common) -> Option<Self> {
        let PinEvent::ChainInvalid {
            host,
            port,
            served_chain: served,
            rule,
            rule_location,
            error,
            at,
        } = event
        else {
            return None;
        };
        let (port, at) = (*port, *at);
        let mut r = Self::base(host, Some(rule), at, common);
        r.port = port.unwrap_or(0);
        r.served_certificate_chain = served.iter().map(pem).collect();
        r.known_pins = rule.pins().iter().map(known_pin).collect();
        let enforcement = rule.enforcement_at(at);
        r.enforce_pinning = enforcement == Enforcement::Enforce;
        r.mode = mode_of(enforcement).into();
        r.validation_result = Some(2);
        r.failure = FailureKind::ChainInvalid.as_str().into();
        r.rule = Some(clip(describe_rule(rule, rule_location)));
        r.error = Some(clip(format!(
            "certificate validation failed: {error}; connection refused"
        )));
        Some(r)
    }

    /// A report that a connection used expired pins.
    pub(crate) fn pins_expired(
        host: &str,
        expires: &str,
        rule: Option<&Rule>,
        at: UnixTime,
        common: &Common,
    ) -> Self {
        let mut r = Self::base(host, rule, at, common);
        if let Some(rule) = rule {
            r.known_pins = rule.pins().iter().map(known_pin).collect();
            let enforcement = rule.enforcement_at(at);
            r.enforce_pinning = enforcement == Enforcement::Enforce;
            r.mode = mode_of(enforcement).into();
            r.rule = Some(clip(describe_rule(rule, "")));
        }
        r.failure = FailureKind::PinsExpired.as_str().into();
        r.error = Some(clip(format!(
            "the pins for {host} expired after {expires}; ship new pins"
        )));
        r
    }

    /// A report that a pin update failed. `hostname` names the update source.
    pub(crate) fn update_failed(
        hostname: &str,
        reason: &str,
        current_version: Option<u64>,
        at: UnixTime,
        common: &Common,
    ) -> Self {
        let mut r = Self::base(hostname, None, at, common);
        if r.policy_version.is_none() {
            r.policy_version =
                Some(current_version.map_or_else(|| "embedded".to_string(), |v| v.to_string()));
        }
        r.enforce_pinning = true;
        r.mode = "enforce".into();
        r.failure = FailureKind::UpdateFailed.as_str().into();
        r.error = Some(clip(format!(
            "pin update failed, the last good pins stay in force: {reason}"
        )));
        r
    }

    fn base(host: &str, rule: Option<&Rule>, at: UnixTime, common: &Common) -> Self {
        let host = host.to_ascii_lowercase();
        let noted = rule.and_then(|r| r.hosts().iter().find(|p| p.matches(&host)));
        let secs = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
        Self {
            date_time: format_rfc3339(secs),
            noted_hostname: noted.map_or_else(|| host.clone(), |p| p.base().to_string()),
            include_subdomains: noted
                .is_some_and(|p| !matches!(p, crate::host::HostPattern::Exact(_))),
            hostname: host,
            port: 0,
            effective_expiration_date: rule
                .and_then(Rule::expires)
                .map(|d| format_rfc3339(d.start_secs().saturating_add(86_400))),
            served_certificate_chain: Vec::new(),
            validated_certificate_chain: Vec::new(),
            known_pins: Vec::new(),
            app_bundle_id: common.app.bundle_id.clone().map(clip),
            app_version: common.app.version.clone().map(clip),
            app_vendor_id: common.app.vendor_id.clone().map(clip),
            app_platform: common.app.platform.clone().map(clip),
            app_platform_version: common.app.platform_version.clone().map(clip),
            enforce_pinning: rule.is_some_and(|r| r.mode() == Mode::Enforce),
            validation_result: None,
            keypin_version: env!("CARGO_PKG_VERSION").into(),
            policy_version: common.policy_version.clone().map(clip),
            mode: rule
                .map_or("enforce", |r| match r.mode() {
                    Mode::Enforce => "enforce",
                    Mode::ReportOnly => "report-only",
                })
                .into(),
            failure: String::new(),
            rule: None,
            error: None,
            runtime_findings: None,
        }
    }

    /// The de-duplication key: SHA-256 over the report without its time, and the destination.
    /// Two reports of the same failure at different times have the same key.
    pub fn dedup_key(&self, uri: &str) -> [u8; 32] {
        let mut timeless = self.clone();
        timeless.date_time = String::new();
        let json = serde_json::to_vec(&timeless).unwrap_or_default();
        crate::pin::sha256(&[uri.as_bytes(), b"\n", &json])
    }
}

fn mode_of(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Enforce => "enforce",
        Enforcement::ReportOnly(_) => "report-only",
    }
}

fn describe_rule(rule: &Rule, location: &str) -> String {
    let hosts: Vec<String> = rule.hosts().iter().map(ToString::to_string).collect();
    let mut s = match rule.name() {
        Some(name) => format!("{name} ({})", hosts.join(", ")),
        None => hosts.join(", "),
    };
    if !location.is_empty() {
        s.push_str(" at ");
        s.push_str(location);
    }
    s
}

fn known_pin(pin: &Pin) -> String {
    pin.to_format(PinFormat::Hpkp)
}

/// A certificate as PEM, 64 base64 characters a line.
pub(crate) fn pem(der: &CertificateDer<'_>) -> String {
    let b64 = STANDARD.encode(der.as_ref());
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// At most [`MAX_FIELD`] bytes, cut at a character boundary.
fn clip(mut s: String) -> String {
    if s.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
