//! iOS App Transport Security `NSPinnedDomains`: pins go to the leaf or the CA list by
//! where they sit on the chain.

use std::fmt::Write as _;

use keypin::pin::PinFormat;
use keypin::policy::PinPosition as RulePosition;

use super::{
    Cx, ExpirySupport, ExportOptions, PinPosition, ReportOnlySupport, Subdomains, xml_escape,
};

impl Cx<'_> {
    pub(super) fn ios_ats(&mut self, options: &ExportOptions) -> String {
        let comment = self.header_comment();
        let entries = self.entries(
            ExpirySupport::None,
            ReportOnlySupport::No,
            Subdomains::AppleOneLabel,
        );
        let mut x = String::new();
        let _ = writeln!(x, "<!-- {} -->", xml_escape(&comment));
        let _ = writeln!(
            x,
            "<key>NSAppTransportSecurity</key>\n<dict>\n  <key>NSPinnedDomains</key>\n  <dict>"
        );
        let mut refusals = Vec::new();
        let mut notices = Vec::new();
        for e in &entries {
            let mut leaf = Vec::new();
            let mut ca = Vec::new();
            // A rule that says where its pins sit needs no positions from outside.
            let fixed = match e.rule.pin_position() {
                RulePosition::Any => None,
                RulePosition::Leaf => Some(PinPosition::Leaf),
                RulePosition::Ca => Some(PinPosition::Ca),
            };
            leaf.extend_from_slice(e.rule.leaf_pins());
            for p in &e.pins {
                let position = fixed.or_else(|| options.positions.get(p).copied());
                match position.or(options.backup_position) {
                    Some(PinPosition::Leaf) => leaf.push(*p),
                    Some(PinPosition::Ca) => ca.push(*p),
                    None => refusals.push((
                        e.rule,
                        format!(
                            "{}: the position of pin {p} is unknown (iOS keeps leaf and CA pins apart); learn positions with --chain-from-live, and say where backup keys go with --backup-position leaf|ca",
                            e.name
                        ),
                    )),
                }
            }
            if !leaf.is_empty() && !ca.is_empty() && e.rule.leaf_pins().is_empty() {
                notices.push((
                    e.rule,
                    format!(
                        "{}: leaf and CA pins both present; iOS then requires a match in each list (stricter than keypin's any-pin match)",
                        e.name
                    ),
                ));
            }
            let _ = writeln!(x, "    <key>{}</key>\n    <dict>", xml_escape(&e.name));
            let _ = writeln!(
                x,
                "      <key>NSIncludesSubdomains</key>\n      <{}/>",
                e.include_subdomains
            );
            for (key, pins) in [
                ("NSPinnedCAIdentities", &ca),
                ("NSPinnedLeafIdentities", &leaf),
            ] {
                if pins.is_empty() {
                    continue;
                }
                let _ = writeln!(x, "      <key>{key}</key>\n      <array>");
                for p in pins.iter() {
                    let _ = writeln!(
                        x,
                        "        <dict><key>SPKI-SHA256-BASE64</key><string>{}</string></dict>",
                        p.to_format(PinFormat::Base64)
                    );
                }
                let _ = writeln!(x, "      </array>");
            }
            let _ = writeln!(x, "    </dict>");
        }
        let _ = writeln!(x, "  </dict>\n</dict>");
        for (rule, m) in refusals {
            self.refuse(rule, m);
        }
        for (rule, m) in notices {
            self.notice(rule, m);
        }
        x
    }
}
