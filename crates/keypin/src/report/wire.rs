//! The report's wire schema, defined once: each field's name (kebab-case on the wire), its type
//! as keypin sends it, and its type as a collector receives it. [`Report`] is what
//! [`crate::report::ReportSender`] sends; [`ReceivedReport`] is the same schema read leniently,
//! as `keypin collector` reads every report (each field but `hostname` may be absent, since
//! HPKP and TrustKit senders and older keypins send only some of them).

use serde::{Deserialize, Serialize};

use crate::runtime::RuntimeFinding;

/// Declares [`Report`] and [`ReceivedReport`] from one field list, so the two cannot drift:
/// `name: sent type => received type;`, in wire order, with the field's documentation.
macro_rules! wire_schema {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $sent:ty => $(#[$received_attr:meta])* $received:ty;
    )*) => {
        /// One report, serialized with kebab-case field names. Every RFC 7469 field is always
        /// present (`null` when unknown); chains are PEM.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct Report {
            $( $(#[doc = $doc])* pub $field: $sent, )*
        }

        /// A report as a collector receives it: the fields of [`Report`] under the same names
        /// and types, each but `hostname` possibly absent (`None`, or an empty list). Unknown
        /// fields are ignored. Types are checked; sizes are the collector's to bound.
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        #[non_exhaustive]
        pub struct ReceivedReport {
            $( $(#[doc = $doc])* $(#[$received_attr])* pub $field: $received, )*
        }
    };
}

wire_schema! {
    // RFC 7469 §3.
    /// When the failure happened (RFC 3339, UTC).
    date_time: String => Option<String>;
    /// The host connected to.
    hostname: String => String;
    /// Its port; `0` when unknown (a rustls verifier is never told the port; TrustKit-Android
    /// sends 0 too).
    port: u16 => Option<u16>;
    /// When the pins stop being enforced (the start of the day after `expires`), if ever.
    effective_expiration_date: Option<String> => Option<String>;
    /// Whether the pinned name covers subdomains.
    include_subdomains: bool => Option<bool>;
    /// The pinned name that covered `hostname`.
    noted_hostname: String => Option<String>;
    /// The chain as the server sent it, leaf first, PEM.
    served_certificate_chain: Vec<String> => #[serde(default)] Vec<String>;
    /// The chain as validated (the first verified path without a pin), PEM; empty when
    /// validation failed. A trust anchor known only as a key is left out.
    validated_certificate_chain: Vec<String> => #[serde(default)] Vec<String>;
    /// The pins the rule expected, `pin-sha256="..."` (certificate pins in keypin's spelling).
    known_pins: Vec<String> => #[serde(default)] Vec<String>;
    // TrustKit.
    /// The app.
    app_bundle_id: Option<String> => Option<String>;
    /// Its version.
    app_version: Option<String> => Option<String>;
    /// Vendor id.
    app_vendor_id: Option<String> => Option<String>;
    /// Platform.
    app_platform: Option<String> => Option<String>;
    /// Platform version.
    app_platform_version: Option<String> => Option<String>;
    /// Whether the rule was enforcing when this happened.
    enforce_pinning: bool => Option<bool>;
    /// TrustKit's code: 1 no pin matched, 2 the chain is not trusted; `null` for the others.
    validation_result: Option<i64> => Option<i64>;
    // keypin.
    /// The keypin version that sent it.
    keypin_version: String => Option<String>;
    /// The policy's version (bundle version, or as the app set it).
    policy_version: Option<String> => Option<String>;
    /// `enforce` or `report-only` (the rule's effective mode at that moment).
    mode: String => Option<String>;
    /// `pin-mismatch`, `chain-invalid`, `pins-expired` or `update-failed`.
    failure: String => Option<String>;
    /// The rule that applied: its name, hosts and where it is.
    rule: Option<String> => Option<String>;
    /// What went wrong, for a person.
    error: Option<String> => Option<String>;
    /// The app's runtime integrity findings when the failure happened (id, severity, short
    /// evidence; at most [`crate::runtime::MAX_FINDINGS`]), as the app last set them
    /// ([`crate::report::ReportSender::set_runtime_findings`], or keypin-shield's watcher
    /// through [`crate::events::PinEvent::RuntimeFindings`]). `null`: the app gives no runtime
    /// signals (or its last scan failed); `[]`: scanned, nothing seen. Client-reported: a
    /// hooked process can lie.
    runtime_findings: Option<Vec<RuntimeFinding>> => Option<Vec<RuntimeFinding>>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full() -> Report {
        let some = |s: &str| Some(s.to_string());
        Report {
            date_time: "2030-01-02T03:04:05Z".into(),
            hostname: "api.example.com".into(),
            port: 443,
            effective_expiration_date: some("2031-01-01T00:00:00Z"),
            include_subdomains: true,
            noted_hostname: "example.com".into(),
            served_certificate_chain: vec!["served".into()],
            validated_certificate_chain: vec!["validated".into()],
            known_pins: vec!["pin-sha256=\"x\"".into()],
            app_bundle_id: some("com.example.app"),
            app_version: some("1.2"),
            app_vendor_id: some("vendor"),
            app_platform: some("LINUX"),
            app_platform_version: some("6.1"),
            enforce_pinning: true,
            validation_result: Some(1),
            keypin_version: "0.1.0".into(),
            policy_version: some("7"),
            mode: "enforce".into(),
            failure: "pin-mismatch".into(),
            rule: some("api (api.example.com)"),
            error: some("no pin matched"),
            runtime_findings: Some(vec![RuntimeFinding::new(
                "SH001",
                crate::runtime::Severity::High,
                "TracerPid: 42 (gdb)",
            )]),
        }
    }

    #[test]
    fn the_wire_names_and_their_order_are_those_collectors_know() {
        let json = serde_json::to_string(&full()).unwrap();
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
                .map(|m| m.keys().cloned().collect())
                .unwrap();
        let mut expected = [
            "date-time",
            "hostname",
            "port",
            "effective-expiration-date",
            "include-subdomains",
            "noted-hostname",
            "served-certificate-chain",
            "validated-certificate-chain",
            "known-pins",
            "app-bundle-id",
            "app-version",
            "app-vendor-id",
            "app-platform",
            "app-platform-version",
            "enforce-pinning",
            "validation-result",
            "keypin-version",
            "policy-version",
            "mode",
            "failure",
            "rule",
            "error",
            "runtime-findings",
        ];
        // Wire order, as sent (serde_json's map sorts its keys, so compare the text too).
        let mut at = 0;
        for key in expected {
            let quoted = format!("\"{key}\":");
            let found = json[at..]
                .find(&quoted)
                .unwrap_or_else(|| panic!("{key} in {json}"));
            at += found + quoted.len();
        }
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn a_sent_report_is_received_field_for_field() {
        let sent = full();
        let got: ReceivedReport =
            serde_json::from_str(&serde_json::to_string(&sent).unwrap()).unwrap();
        assert_eq!(got.date_time.as_deref(), Some(sent.date_time.as_str()));
        assert_eq!(got.hostname, sent.hostname);
        assert_eq!(got.port, Some(sent.port));
        assert_eq!(
            got.effective_expiration_date,
            sent.effective_expiration_date
        );
        assert_eq!(got.include_subdomains, Some(sent.include_subdomains));
        assert_eq!(got.noted_hostname, Some(sent.noted_hostname));
        assert_eq!(got.served_certificate_chain, sent.served_certificate_chain);
        assert_eq!(
            got.validated_certificate_chain,
            sent.validated_certificate_chain
        );
        assert_eq!(got.known_pins, sent.known_pins);
        assert_eq!(got.app_bundle_id, sent.app_bundle_id);
        assert_eq!(got.app_version, sent.app_version);
        assert_eq!(got.app_vendor_id, sent.app_vendor_id);
        assert_eq!(got.app_platform, sent.app_platform);
        assert_eq!(got.app_platform_version, sent.app_platform_version);
        assert_eq!(got.enforce_pinning, Some(sent.enforce_pinning));
        assert_eq!(got.validation_result, sent.validation_result);
        assert_eq!(got.keypin_version, Some(sent.keypin_version));
        assert_eq!(got.policy_version, sent.policy_version);
        assert_eq!(got.mode, Some(sent.mode));
        assert_eq!(got.failure, Some(sent.failure));
        assert_eq!(got.rule, sent.rule);
        assert_eq!(got.error, sent.error);
        assert_eq!(got.runtime_findings, sent.runtime_findings);
    }

    #[test]
    fn a_received_report_needs_only_a_hostname() {
        let got: ReceivedReport = serde_json::from_str(r#"{"hostname": "a", "x": 1}"#).unwrap();
        assert_eq!(got.hostname, "a");
        assert_eq!(
            (got.port, got.failure, got.known_pins.len()),
            (None, None, 0)
        );
        for (json, words) in [
            (r#"{"port": 1}"#, "missing field `hostname`"),
            (r#"{"hostname": 5}"#, "expected a string"),
            (r#"{"hostname": "a", "port": 70000}"#, "u16"),
            (
                r#"{"hostname": "a", "known-pins": null}"#,
                "expected a sequence",
            ),
        ] {
            let e = serde_json::from_str::<ReceivedReport>(json).unwrap_err();
            assert!(e.to_string().contains(words), "{json}: {e}");
        }
    }
}
