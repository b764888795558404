//! curl's `--pinnedpubkey`.

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn curl(&mut self) -> String {
        let entries = self.entries(
            ExpirySupport::None,
            ReportOnlySupport::No,
            Subdomains::ExactOnly,
        );
        let mut leaf_notice = Vec::new();
        let mut s = String::new();
        for e in &entries {
            let pins: Vec<String> = e
                .pins
                .iter()
                .map(|p| p.to_format(PinFormat::Curl))
                .collect();
            let _ = writeln!(s, "{}\t--pinnedpubkey '{}'", e.name, pins.join(";"));
            // A rule whose pins count only on the leaf means exactly what curl checks.
            if e.rule.pin_position() != RulePosition::Leaf {
                leaf_notice.push(e.rule);
            }
        }
        for rule in leaf_notice {
            let location = self.location(rule);
            let message =
                "curl checks only the leaf key: pins of CA keys never match in curl (stricter)"
                    .to_string();
            if !self
                .notices
                .iter()
                .any(|n| n.location == location && n.message == message)
            {
                self.notices.push(Notice { location, message });
            }
        }
        s
    }
}
