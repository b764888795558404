//! An HPKP header (RFC 7469 `Public-Key-Pins[-Report-Only]`) → one rule for the given host.

use super::{Cx, ImportOptions, RawRule, push_pin};
use crate::budget::Budget;

pub(super) fn rules(cx: &mut Cx<'_>, bytes: &[u8], options: &ImportOptions) -> Vec<RawRule> {
    let text = String::from_utf8_lossy(bytes);
    let Some(host) = options.host.clone() else {
        cx.problem(
            "1",
            "an HPKP header does not name its host: pass --host".into(),
        );
        return Vec::new();
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    // Header names are case-insensitive (RFC 9110 §5.1; HTTP/2 and HTTP/3 write them in
    // lower case). A line without a header name is the header's value.
    let (report_only, value) = match line.split_once(':') {
        Some((name, v)) if name.eq_ignore_ascii_case("Public-Key-Pins-Report-Only") => (true, v),
        Some((name, v)) if name.eq_ignore_ascii_case("Public-Key-Pins") => (false, v),
        _ => (false, line),
    };
    let mut pins = Vec::new();
    let mut subs = false;
    let mut budget = Budget::default();
    for (i, directive) in value
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .enumerate()
    {
        if let Err(e) = budget.node() {
            cx.problem("1", e.to_string());
            return Vec::new();
        }
        let lower = directive.to_ascii_lowercase();
        if lower.starts_with("pin-sha256") {
            let at = format!("1: directive {}", i + 1);
            if let Some(p) = cx.pin(&at, directive) {
                push_pin(cx, &at, &mut pins, p);
            }
        } else if lower == "includesubdomains" {
            subs = true;
        } else if lower.starts_with("max-age") || lower.starts_with("report-uri") {
            cx.notice("1", format!("{directive} is not carried into the policy"));
        } else {
            // RFC 7469 §2.1: a UA MUST ignore directives it does not recognize.
            cx.notice(
                &format!("1: directive {}", i + 1),
                format!("unknown HPKP directive {directive}: ignored, as RFC 7469 says"),
            );
        }
    }
    // RFC 7469 §4.3: a UA does not note a pinned host whose header has no backup pin; such a
    // header pins nothing, which a user must learn rather than get an enforcing rule.
    if pins.len() == 1 && !report_only {
        cx.problem(
            "1",
            "one pin and no backup: browsers ignore such a Public-Key-Pins header (RFC 7469 §4.3), so it pins nothing; add the backup pin the header should carry".into(),
        );
        return Vec::new();
    }
    vec![RawRule {
        origin: "1".into(),
        hosts: vec![if subs { format!("**.{host}") } else { host }],
        pins,
        expires: None,
        report_only,
        require_sct: None,
        refused: None,
        bad_pins: Vec::new(),
        ..RawRule::default()
    }]
}
