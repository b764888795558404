//! Chromium's static pins (`transport_security_state_static.json` entries).

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn chromium(&mut self) -> String {
        let entries = self.entries(
            ExpirySupport::None,
            ReportOnlySupport::No,
            Subdomains::AnyDepthFlag,
        );
        let mut pinsets = Vec::new();
        let mut hashes = serde_json::Map::new();
        let mut json_entries = Vec::new();
        let mut seen_rules = Vec::new();
        for e in &entries {
            let set_name = format!("keypin_rule_{}", e.rule_index);
            if !seen_rules.contains(&e.rule_index) {
                seen_rules.push(e.rule_index);
                // Values travel by name, like Chromium's .pins file.
                let mut named = |pins: &[Pin], tag: &str| -> Vec<String> {
                    pins.iter()
                        .enumerate()
                        .map(|(j, p)| {
                            let n = format!("Keypin_{}_{tag}{j}", e.rule_index);
                            hashes.insert(n.clone(), p.to_format(PinFormat::OkHttp).into());
                            n
                        })
                        .collect()
                };
                let names = named(&e.pins, "");
                let bad = named(e.rule.bad_pins(), "bad_");
                pinsets.push(serde_json::json!({
                    "name": set_name,
                    "static_spki_hashes": names,
                    "bad_static_spki_hashes": bad,
                }));
            }
            json_entries.push(serde_json::json!({
                "name": e.name,
                "include_subdomains": e.include_subdomains,
                "mode": "force-https",
                "pins": set_name,
            }));
        }
        let doc = serde_json::json!({
            "comment": self.header_comment(),
            // Chromium keeps hash values in a separate .pins file; they travel here so the
            // file stands alone and imports back losslessly.
            "spki_hashes": hashes,
            "pinsets": pinsets,
            "entries": json_entries,
        });
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }
}
