//! Android Network Security Config (and TrustKit-Android, which reads the same file).

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn nsc(&mut self, trustkit: bool) -> String {
        // TrustKit-Android's enforcePinning="false" does not make Android 7+ report-only: the
        // OS enforces every <pin-set> itself, so neither target has a report-only mode.
        let support = ReportOnlySupport::No;
        let comment = self.header_comment();
        let entries = self.entries(
            ExpirySupport::DateThenOff,
            support,
            Subdomains::AnyDepthFlag,
        );
        let mut x = String::new();
        let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        let _ = writeln!(x, "<!-- {} -->", xml_escape(&comment));
        let _ = writeln!(x, "<network-security-config>");
        // One domain-config per rule: its domains share one pin-set.
        let mut i = 0;
        while i < entries.len() {
            let rule_index = entries[i].rule_index;
            let group: Vec<&Entry<'_>> = entries[i..]
                .iter()
                .take_while(|e| e.rule_index == rule_index)
                .collect();
            i += group.len();
            let first = group[0];
            let _ = writeln!(x, "  <domain-config cleartextTrafficPermitted=\"false\">");
            for e in &group {
                let _ = writeln!(
                    x,
                    "    <domain includeSubdomains=\"{}\">{}</domain>",
                    e.include_subdomains,
                    xml_escape(&e.name)
                );
            }
            match &first.expiration {
                Some(d) => {
                    let _ = writeln!(x, "    <pin-set expiration=\"{d}\">");
                }
                None => {
                    let _ = writeln!(x, "    <pin-set>");
                }
            }
            for p in &first.pins {
                let _ = writeln!(
                    x,
                    "      <pin digest=\"SHA-256\">{}</pin>",
                    p.to_format(PinFormat::Base64)
                );
            }
            let _ = writeln!(x, "    </pin-set>");
            if trustkit {
                let _ = writeln!(
                    x,
                    "    <trustkit-config enforcePinning=\"{}\" disableDefaultReportUri=\"true\"/>",
                    first.enforce
                );
            }
            let _ = writeln!(x, "  </domain-config>");
        }
        let _ = writeln!(x, "</network-security-config>");
        x
    }
}
