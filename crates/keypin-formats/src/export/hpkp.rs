//! The HPKP header (RFC 7469).

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn hpkp(&mut self, now_secs: i64) -> String {
        let entries = self.entries(
            ExpirySupport::None,
            ReportOnlySupport::Yes,
            Subdomains::AnyDepthFlag,
        );
        let mut s = String::new();
        for e in &entries {
            // max-age: until the rule's expiry if it has one, else RFC 7469's common 60 days.
            let max_age = e
                .rule
                .expires()
                .map(|d| (d.start_secs() + 86_400 - now_secs).max(0))
                .unwrap_or(5_184_000);
            let header = if e.enforce {
                "Public-Key-Pins"
            } else {
                "Public-Key-Pins-Report-Only"
            };
            let pins: Vec<String> = e
                .pins
                .iter()
                .map(|p| p.to_format(PinFormat::Hpkp))
                .collect();
            let subs = if e.include_subdomains {
                "; includeSubDomains"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "# {}\n{header}: {}; max-age={max_age}{subs}",
                e.name,
                pins.join("; ")
            );
        }
        s
    }
}
