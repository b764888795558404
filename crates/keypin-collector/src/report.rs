//! Incoming reports: keypin's own format, unchanged HPKP (RFC 7469 §3) reports and unchanged
//! TrustKit reports (iOS and Android), each validated and reduced to what is stored.
//!
//! Everything here is untrusted: sizes are bounded, types are checked by serde (its message
//! names the field), dates must be plausible, and nothing is interpreted as markup.

use keypin::pin::Pin;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

/// Most reports accepted in one request.
pub const MAX_BATCH: usize = 1000;
/// Longest string accepted in any field.
const MAX_FIELD: usize = 1024;
/// Most certificates in a chain, and the largest PEM certificate.
const MAX_CHAIN: usize = 16;
const MAX_PEM: usize = 64 * 1024;

/// One report as received, in any dialect: keypin's wire schema, defined once in the library
/// ([`keypin::report::ReceivedReport`]), read leniently. keypin's schema is a superset of
/// RFC 7469's fields and TrustKit's app fields, so HPKP and TrustKit reports read through it
/// too; TrustKit's own `trustkit-version` is read beside it ([`TrustKitFields`]).
pub type IncomingReport = keypin::report::ReceivedReport;

/// What TrustKit sends that keypin's schema lacks, read from the same JSON object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrustKitFields {
    /// TrustKit version.
    pub trustkit_version: Option<String>,
}

/// Which dialect a report came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// keypin's own fields present.
    Keypin,
    /// TrustKit's app fields present.
    Trustkit,
    /// Plain RFC 7469.
    Hpkp,
}

impl Dialect {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keypin => "keypin",
            Self::Trustkit => "trustkit",
            Self::Hpkp => "hpkp",
        }
    }
}

/// A validated report, ready to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Unix seconds the failure happened, when given.
    pub reported_at: Option<i64>,
    /// Lowercased host.
    pub host: String,
    /// Port.
    pub port: Option<u16>,
    /// Dialect.
    pub dialect: Dialect,
    /// SPKI pin of the served leaf, when its certificate parses.
    pub served_leaf_pin: Option<String>,
    /// The sender's network (/24 or /48), for interception-vs-rotation hints.
    pub client_network: String,
    /// App fields.
    pub app_bundle_id: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Platform.
    pub app_platform: Option<String>,
    /// keypin failure kind, or TrustKit's validation result as text.
    pub failure: Option<String>,
    /// How many runtime integrity findings the report carried (`runtime-findings`); `None`
    /// when it carried none (no runtime signals from that app).
    pub runtime_findings: Option<i64>,
    /// The report as received (unknown fields kept).
    pub body: String,
}

/// Why a request was refused, for the 4xx answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// Not JSON, or wrong types; serde's message names the field and position.
    #[error("invalid report JSON: {0}")]
    Json(String),
    /// Too many reports in one request.
    #[error("{0} reports in one request; at most {MAX_BATCH}")]
    BatchTooLarge(usize),
    /// An empty batch.
    #[error("no report in the request")]
    Empty,
    /// A field failed validation.
    #[error("report {index}: {field}: {problem}")]
    Field {
        /// Position in the batch.
        index: usize,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Parses a request body: one report object, an array of them, or `{"reports": [...]}`.
///
/// The shape is decided once, on the JSON value, and each report's typed fields are read from
/// the very object that is stored as its raw body (an object with a `hostname` is one report,
/// even if it also has a `reports` field).
pub fn parse_body(
    body: &[u8],
    client_network: &str,
    now_secs: i64,
) -> Result<Vec<NewReport>, ReportError> {
    let text =
        std::str::from_utf8(body).map_err(|e| ReportError::Json(format!("not UTF-8: {e}")))?;
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ReportError::Json(e.to_string()))?;
    let raw_reports: Vec<serde_json::Value> = match raw {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o)
            if o.contains_key("reports") && !o.contains_key("hostname") =>
        {
            match o.remove("reports") {
                Some(serde_json::Value::Array(a)) => a,
                _ => {
                    return Err(ReportError::Json(
                        "\"reports\" must be an array of report objects".into(),
                    ));
                }
            }
        }
        other => vec![other],
    };
    if raw_reports.is_empty() {
        return Err(ReportError::Empty);
    }
    if raw_reports.len() > MAX_BATCH {
        return Err(ReportError::BatchTooLarge(raw_reports.len()));
    }
    let many = raw_reports.len() > 1;
    raw_reports
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let json_error = |e: serde_json::Error| {
                ReportError::Json(if many {
                    format!("report {i}: {e}")
                } else {
                    e.to_string()
                })
            };
            let r = IncomingReport::deserialize(raw).map_err(json_error)?;
            let trustkit = TrustKitFields::deserialize(raw).map_err(json_error)?;
            validate(i, r, &trustkit, raw, client_network, now_secs)
        })
        .collect()
}

fn validate(
    index: usize,
    r: IncomingReport,
    trustkit: &TrustKitFields,
    raw: &serde_json::Value,
    client_network: &str,
    now_secs: i64,
) -> Result<NewReport, ReportError> {
    let bad = |field: &'static str, problem: String| ReportError::Field {
        index,
        field,
        problem,
    };
    let host = r.hostname.trim().to_ascii_lowercase();
    if host.is_empty() || host.len() > 253 {
        return Err(bad(
            "hostname",
            format!("must be 1 to 253 characters, got {}", host.len()),
        ));
    }
    if host.chars().any(char::is_control) {
        return Err(bad("hostname", "contains control characters".into()));
    }
    let strings: [(&'static str, &Option<String>); 15] = [
        ("date-time", &r.date_time),
        ("effective-expiration-date", &r.effective_expiration_date),
        ("noted-hostname", &r.noted_hostname),
        ("app-bundle-id", &r.app_bundle_id),
        ("app-version", &r.app_version),
        ("app-vendor-id", &r.app_vendor_id),
        ("app-platform", &r.app_platform),
        ("app-platform-version", &r.app_platform_version),
        ("trustkit-version", &trustkit.trustkit_version),
        ("keypin-version", &r.keypin_version),
        ("policy-version", &r.policy_version),
        ("mode", &r.mode),
        ("failure", &r.failure),
        ("rule", &r.rule),
        ("error", &r.error),
    ];
    for (field, v) in strings {
        if v.as_ref().is_some_and(|s| s.len() > MAX_FIELD) {
            return Err(bad(field, format!("longer than {MAX_FIELD} bytes")));
        }
    }
    for (field, chain) in [
        ("served-certificate-chain", &r.served_certificate_chain),
        (
            "validated-certificate-chain",
            &r.validated_certificate_chain,
        ),
    ] {
        if chain.len() > MAX_CHAIN {
            return Err(bad(
                field,
                format!("{} certificates; at most {MAX_CHAIN}", chain.len()),
            ));
        }
        if chain.iter().any(|c| c.len() > MAX_PEM) {
            return Err(bad(
                field,
                format!("a certificate longer than {MAX_PEM} bytes"),
            ));
        }
    }
    if r.known_pins.len() > 64 || r.known_pins.iter().any(|p| p.len() > 200) {
        return Err(bad(
            "known-pins",
            "at most 64 pins of at most 200 bytes".into(),
        ));
    }
    if let Some(findings) = &r.runtime_findings {
        use keypin::runtime::{MAX_EVIDENCE, MAX_FINDINGS, MAX_ID};
        if findings.len() > MAX_FINDINGS
            || findings
                .iter()
                .any(|f| f.id.len() > MAX_ID || f.evidence.len() > MAX_EVIDENCE)
        {
            return Err(bad(
                "runtime-findings",
                format!(
                    "at most {MAX_FINDINGS} findings, ids of at most {MAX_ID} bytes, evidence of at most {MAX_EVIDENCE}"
                ),
            ));
        }
    }
    let reported_at = match &r.date_time {
        None => None,
        Some(d) => {
            let t = time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
                .map_err(|e| bad("date-time", format!("{d:?} is not an RFC 3339 date ({e})")))?
                .unix_timestamp();
            // Reports from before 2000 or from more than a day in the future are not real.
            if !(946_684_800..=now_secs + 86_400).contains(&t) {
                return Err(bad(
                    "date-time",
                    format!("{d:?} is not a plausible time for a report"),
                ));
            }
            Some(t)
        }
    };
    let dialect = if r.failure.is_some() || r.mode.is_some() || r.policy_version.is_some() {
        Dialect::Keypin
    } else if r.app_bundle_id.is_some()
        || trustkit.trustkit_version.is_some()
        || r.validation_result.is_some()
    {
        Dialect::Trustkit
    } else {
        Dialect::Hpkp
    };
    let served_leaf_pin = r.served_certificate_chain.first().and_then(|pem| {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
        Pin::spki_of_cert(&der).ok().map(|p| p.to_string())
    });
    let failure = r.failure.clone().or_else(|| {
        r.validation_result.map(|v| {
            match v {
                0 => "success",
                1 => "pin-mismatch",
                2 => "chain-invalid",
                3 => "invalid-parameters",
                4 => "user-defined-trust-anchor",
                5 => "spki-hash-failed",
                _ => "unknown",
            }
            .to_string()
        })
    });
    let body = raw.to_string();
    Ok(NewReport {
        reported_at,
        host,
        port: r.port,
        dialect,
        served_leaf_pin,
        client_network: client_network.to_string(),
        app_bundle_id: r.app_bundle_id,
        app_version: r.app_version,
        app_platform: r.app_platform,
        failure,
        runtime_findings: r.runtime_findings.map(|f| f.len() as i64),
        body,
    })
}

/// The network a client address belongs to, for "how many networks saw this key": /24 for
/// IPv4, /48 for IPv6.
pub fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use keypin::report::Report;

    const NOW: i64 = 1_900_000_000;

    fn sent(served_pem: String) -> Report {
        let some = |s: &str| Some(s.to_string());
        Report {
            date_time: "2030-01-02T03:04:05Z".into(),
            hostname: "API.example.com".into(),
            port: 8443,
            effective_expiration_date: some("2031-01-01T00:00:00Z"),
            include_subdomains: true,
            noted_hostname: "example.com".into(),
            served_certificate_chain: vec![served_pem],
            validated_certificate_chain: Vec::new(),
            known_pins: vec!["pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\"".into()],
            app_bundle_id: some("com.example.app"),
            app_version: some("1.2"),
            app_vendor_id: None,
            app_platform: some("LINUX"),
            app_platform_version: None,
            enforce_pinning: true,
            validation_result: Some(1),
            keypin_version: "0.1.0".into(),
            policy_version: None,
            mode: "enforce".into(),
            failure: "pin-mismatch".into(),
            rule: some("api (api.example.com) at pins.toml:1"),
            error: Some("x".repeat(1024)),
            runtime_findings: None,
        }
    }

    #[test]
    fn runtime_findings_are_counted_and_bounded() {
        use keypin::runtime::{MAX_EVIDENCE, MAX_FINDINGS, RuntimeFinding, Severity};
        let finding = RuntimeFinding::new("SH002", Severity::High, "/tmp/frida-agent-64.so");
        let mut report = sent(String::new());
        let count = |r: &Report| {
            parse_body(&serde_json::to_vec(r).unwrap(), "net", NOW).map(|v| v[0].runtime_findings)
        };
        assert_eq!(count(&report), Ok(None));
        report.runtime_findings = Some(vec![]);
        assert_eq!(count(&report), Ok(Some(0)));
        report.runtime_findings = Some(vec![finding.clone(); 2]);
        assert_eq!(count(&report), Ok(Some(2)));
        for too_much in [
            vec![finding.clone(); MAX_FINDINGS + 1],
            vec![RuntimeFinding {
                evidence: "x".repeat(MAX_EVIDENCE + 1),
                ..finding.clone()
            }],
        ] {
            report.runtime_findings = Some(too_much);
            let e = count(&report).unwrap_err().to_string();
            assert!(e.contains("runtime-findings"), "{e}");
        }
    }

    #[test]
    fn a_report_the_library_sends_is_stored_field_for_field() {
        let leaf = keypin_pki::self_signed(keypin_pki::CertSpec::leaf(&["api.example.com"]))
            .expect("certificate");
        let report = sent(leaf.cert_pem());
        let json = serde_json::to_string(&report).unwrap();
        let batch = serde_json::to_string(&vec![report.clone(), report.clone()]).unwrap();
        for body in [json.clone(), batch] {
            let stored = parse_body(body.as_bytes(), "192.0.2.0/24", NOW).unwrap();
            for got in stored {
                assert_eq!(got.reported_at, Some(1_893_553_445));
                assert_eq!(got.host, "api.example.com");
                assert_eq!(got.port, Some(report.port));
                assert_eq!(got.dialect, Dialect::Keypin);
                let pin = Pin::from_spki_der(&leaf.spki_der()).to_string();
                assert_eq!(got.served_leaf_pin, Some(pin));
                assert_eq!(got.client_network, "192.0.2.0/24");
                assert_eq!(got.app_bundle_id, report.app_bundle_id);
                assert_eq!(got.app_version, report.app_version);
                assert_eq!(got.app_platform, report.app_platform);
                assert_eq!(got.failure.as_deref(), Some(report.failure.as_str()));
                let body: serde_json::Value = serde_json::from_str(&got.body).unwrap();
                assert_eq!(body, serde_json::to_value(&report).unwrap());
            }
        }
    }

    #[test]
    fn keypin_fields_are_typed_and_bounded() {
        let long = "x".repeat(MAX_FIELD + 1);
        for (body, words) in [
            (
                r#"{"hostname": "a", "keypin-version": 5}"#.to_string(),
                "expected a string",
            ),
            (
                format!(r#"{{"hostname": "a", "error": "{long}"}}"#),
                "report 0: error: longer than 1024 bytes",
            ),
            (
                format!(r#"{{"hostname": "a", "keypin-version": "{long}"}}"#),
                "keypin-version: longer than 1024 bytes",
            ),
            (
                format!(r#"{{"hostname": "a", "trustkit-version": "{long}"}}"#),
                "trustkit-version: longer than 1024 bytes",
            ),
            (
                r#"[{"hostname": "a"}, {"hostname": "b", "trustkit-version": 1}]"#.to_string(),
                "report 1: invalid type: integer `1`, expected a string",
            ),
        ] {
            let e = parse_body(body.as_bytes(), "192.0.2.0/24", NOW).unwrap_err();
            assert!(e.to_string().contains(words), "{words}: {e}");
        }
    }
}
