//! Unit tests of the policy: parsing, validation and lookup.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::Policy;
use crate::clock::Date;
use rustls_pki_types::UnixTime;

const P1: &str = "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";
const P2: &str = "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=";

fn rule(hosts: &str, extra: &str) -> String {
    format!("[[rule]]\nname = {hosts:?}\nhosts = [{hosts}]\npins = [\"{P1}\", \"{P2}\"]\n{extra}\n")
}

#[test]
fn most_specific_rule_wins() {
    let text = [
        rule(r#""api.example.com""#, ""),
        rule(r#""*.example.com""#, ""),
        rule(r#""**.example.com""#, ""),
        rule(r#""**.deep.example.com""#, ""),
        rule(r#""other.net""#, "include_subdomains = true"),
    ]
    .concat();
    let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
    // (host, expected rule name or None)
    let rows: &[(&str, Option<&str>)] = &[
        ("api.example.com", Some(r#""api.example.com""#)),
        ("API.EXAMPLE.COM.", Some(r#""api.example.com""#)),
        ("www.example.com", Some(r#""*.example.com""#)),
        ("example.com", Some(r#""**.example.com""#)),
        ("a.b.example.com", Some(r#""**.example.com""#)),
        ("deep.example.com", Some(r#""**.deep.example.com""#)),
        ("x.deep.example.com", Some(r#""**.deep.example.com""#)),
        ("other.net", Some(r#""other.net""#)),
        ("a.b.other.net", Some(r#""other.net""#)),
        ("example.org", None),
        ("notexample.com", None),
        ("", None),
        ("com", None),
    ];
    for (host, want) in rows {
        assert_eq!(policy.rule_for(host).and_then(Rule::name), *want, "{host}");
    }
}

/// A rule for an IPv4 address covers its IPv4-mapped IPv6 spelling, and the reverse.
#[test]
fn ipv4_mapped_ipv6_is_the_ipv4_address() {
    let text = [rule(r#""10.0.0.1""#, ""), rule(r#""::ffff:10.0.0.2""#, "")].concat();
    let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
    let rows: &[(&str, Option<&str>)] = &[
        ("10.0.0.1", Some(r#""10.0.0.1""#)),
        ("::ffff:10.0.0.1", Some(r#""10.0.0.1""#)),
        ("[::ffff:10.0.0.1]", Some(r#""10.0.0.1""#)),
        ("::FFFF:A00:1", Some(r#""10.0.0.1""#)),
        ("10.0.0.2", Some(r#""::ffff:10.0.0.2""#)),
        ("::ffff:10.0.0.2", Some(r#""::ffff:10.0.0.2""#)),
        ("::ffff:10.0.0.3", None),
        ("::10.0.0.1", None),
    ];
    for (host, want) in rows {
        assert_eq!(policy.rule_for(host).and_then(Rule::name), *want, "{host}");
    }
}

#[test]
fn parses_every_field() {
    let text = format!(
        "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\nmode = \"report-only\"\n\
         expires = \"2027-06-30\"\non_expiry = \"enforce\"\n"
    );
    let policy = Policy::from_toml_str(&text, "t.toml").unwrap();
    let r = policy.rule_for("a.example.com").unwrap();
    assert_eq!(r.mode(), Mode::ReportOnly);
    assert_eq!(r.on_expiry(), OnExpiry::Enforce);
    assert_eq!(r.expires().unwrap().to_string(), "2027-06-30");
    assert_eq!(r.line(), 1);
}

#[test]
fn expiry_turns_enforcement_into_loud_report_only() {
    let policy =
        Policy::from_toml_str(&rule(r#""a.example.com""#, "expires = \"2027-06-30\""), "t")
            .unwrap();
    let r = policy.rule_for("a.example.com").unwrap();
    let at = |s: i64| UnixTime::since_unix_epoch(core::time::Duration::from_secs(s as u64));
    let last_day = Date::parse("2027-06-30").unwrap().start_secs();
    assert_eq!(
        r.enforcement_at(at(last_day + 86_399)),
        Enforcement::Enforce
    );
    assert_eq!(
        r.enforcement_at(at(last_day + 86_400)),
        Enforcement::ReportOnly(ReportOnlyReason::Expired {
            expires: Date::parse("2027-06-30").unwrap()
        })
    );
}

/// (policy text, line expected in the message, words expected in the message)
#[test]
fn refusals_name_line_field_and_fix() {
    let rows: Vec<(String, usize, &str)> = vec![
        (
            format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\", \"sha256/nope\"]\n"),
            3,
            "rule[0].pins[1]: invalid pin",
        ),
        (
            format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\n"),
            3,
            "at least two pins",
        ),
        (
            format!(
                "{}{}",
                rule("\"a.example.com\"", ""),
                rule("\"A.example.com.\"", "")
            ),
            8,
            "duplicate host pattern a.example.com (also in rule[0] at line 3)",
        ),
        (rule("\"*.co.uk\"", ""), 3, "public suffix"),
        (
            format!(
                "# header\n{}",
                rule("\"ok.example.com\", \"api.example.com..\"", "")
            ),
            4,
            "rule[0].hosts[1]: \"api.example.com..\" has an empty label",
        ),
        (
            format!(
                "{}{}",
                rule("\"10.0.0.1\"", ""),
                rule("\"[::ffff:10.0.0.1]\"", "")
            ),
            8,
            "duplicate host pattern 10.0.0.1 (also in rule[0] at line 3)",
        ),
        (
            rule("\"a.example.com\"", "colour = \"red\""),
            5,
            "unknown field `colour`",
        ),
        (format!("pins = [\"{P1}\"]\n"), 1, "unknown field `pins`"),
        (
            rule("\"a.example.com\"", "mode = \"enforcing\""),
            5,
            "unknown mode",
        ),
        (
            rule("\"a.example.com\"", "expires = \"30/06/2027\""),
            5,
            "YYYY-MM-DD",
        ),
        (
            "[[rule]]\nhosts = [\"a.example.com\"]\n".to_string(),
            1,
            "missing field `pins`",
        ),
        ("[[rule]\n".to_string(), 1, "unclosed array table"),
        (
            rule(
                "\"a.example.com\"",
                "trust_anchors = [\"/nonexistent/ca.pem\"]",
            ),
            5,
            "rule[0].trust_anchors[0]: \"/nonexistent/ca.pem\" names a file, but a policy \
             given as text or carried by a signed bundle takes inline PEM trust anchors only",
        ),
    ];
    for (text, line, words) in rows {
        let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(words), "{text}\n---\n{msg}");
        assert!(
            msg.contains(&format!("t.toml:{line}")),
            "{text}\n---\n{msg}"
        );
        assert!(
            msg.contains("hint:") || words == "unclosed array table",
            "{msg}"
        );
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = format!(
        "[[rule]]\nhosts = [\"**.com\", \"ok.example.com\"]\npins = [\"bad\", \"{P1}\"]\nmode = \"x\"\n"
    );
    let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
    assert_eq!(e.diagnostics.len(), 3, "{e}");
    let lines: Vec<_> = e.diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, [Some(2), Some(3), Some(4)], "file order: {e}");

    // A bad host does not hide the missing backup pin.
    let text = format!("[[rule]]\nhosts = [\"**.com\"]\npins = [\"{P1}\"]\n");
    let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
    assert_eq!(e.diagnostics.len(), 2, "{e}");
    assert!(e.to_string().contains("at least two pins"), "{e}");
}

#[test]
fn report_only_rule_may_have_one_pin() {
    let text = format!(
        "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{P1}\"]\nmode = \"report-only\"\n"
    );
    assert!(Policy::from_toml_str(&text, "t").is_ok());
}

/// Without the `ct` feature a rule that requires SCTs could not be honoured: refused.
#[test]
fn require_sct_follows_the_ct_feature() {
    let text = rule(r#""a.example.com""#, "require_sct = 2");
    let parsed = Policy::from_toml_str(&text, "t.toml");
    assert_eq!(parsed.is_ok(), cfg!(feature = "ct"), "{parsed:?}");
    match parsed {
        Ok(p) => {
            let r = p.rule_for("a.example.com").unwrap();
            assert_eq!(r.require_sct(), Some(SctRequirement::AtLeast(2)));
        }
        Err(e) => {
            assert!(
                e.to_string().contains("t.toml:5:15: rule[0].require_sct"),
                "{e}"
            );
            assert!(
                e.to_string().contains("enable keypin's `ct` cargo feature"),
                "{e}"
            );
        }
    }
}

/// Without the checker compiled in, asking for OCSP checks is refused, never ignored.
#[test]
fn ocsp_field_needs_the_ocsp_feature() {
    for (value, ok) in [
        ("ignore", true),
        ("check-if-stapled", cfg!(feature = "ocsp")),
        ("require", cfg!(feature = "ocsp")),
    ] {
        let text = rule("\"a.example.com\"", &format!("ocsp = \"{value}\""));
        match Policy::from_toml_str(&text, "t.toml") {
            Ok(p) => assert!(ok, "{value} accepted without the feature: {p:?}"),
            Err(e) => {
                assert!(!ok, "{value}: {e}");
                assert!(e.to_string().contains("t.toml:5:8: rule[0].ocsp"), "{e}");
                assert!(e.to_string().contains("`ocsp` feature"), "{e}");
            }
        }
    }
}

#[test]
fn empty_policy_has_no_rules() {
    let p = Policy::from_toml_str("# nothing pinned\n", "t").unwrap();
    assert!(p.rule_for("example.com").is_none());
}

#[test]
fn report_uris_and_delivery_are_validated_with_lines() {
    let ok = rule(
        r#""a.example.com""#,
        "report_uris = [\"https://r.example.com/v1/reports\", \"http://127.0.0.1:8080/\"]\n\
         report_delivery = \"unpinned\"",
    );
    let p = Policy::from_toml_str(&ok, "t").unwrap();
    let r = p.rule_for("a.example.com").unwrap();
    assert_eq!(r.report_uris().len(), 2);
    assert_eq!(r.report_delivery(), ReportDelivery::Unpinned);
    let plain = Policy::from_toml_str(&rule(r#""b.example.com""#, ""), "t").unwrap();
    assert_eq!(
        plain.rules()[0].report_delivery(),
        ReportDelivery::Pinned,
        "pinned unless asked"
    );
    assert!(plain.rules()[0].report_uris().is_empty());

    let cases = [
        (
            "report_uris = [\"ftp://r.example.com/\"]",
            "http:// or https://",
        ),
        ("report_uris = [\"r.example.com/reports\"]", "not a URL"),
        ("report_uris = [\"https:///reports\"]", "no host"),
        ("report_uris = [\"https://r.example.com:0/\"]", "bad port"),
        (
            "report_uris = [\"https://r.example.com/\", \"https://r.example.com/\"]",
            "listed twice",
        ),
        ("report_delivery = \"sometimes\"", "unknown report_delivery"),
    ];
    for (extra, want) in cases {
        let text = rule(r#""a.example.com""#, extra);
        let e = Policy::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 1, "{extra}: {e}");
        assert_eq!(e.diagnostics[0].line, Some(5), "{extra}: {e}");
        assert!(e.to_string().contains(want), "{extra}: {e}");
    }
}

#[test]
fn retain_rules_leaves_the_others_indexed() {
    let text = [
        rule(r#""a.example.com""#, "report_delivery = \"unpinned\""),
        rule(r#""**.b.example.com""#, ""),
    ]
    .concat();
    let p = Policy::from_toml_str(&text, "t").unwrap();
    let kept = p.retain_rules(|r| r.report_delivery() == ReportDelivery::Pinned);
    assert!(kept.rule_for("a.example.com").is_none());
    assert!(kept.rule_for("x.b.example.com").is_some());
    assert_eq!(kept.rules().len(), 1);
}

#[test]
fn report_fields_travel_in_the_serde_form_only_when_set() {
    let plain = Policy::rule_specs_from_toml(&rule(r#""a.example.com""#, ""), "t").unwrap();
    let json = serde_json::to_string(&plain[0]).unwrap();
    assert!(
        !json.contains("report"),
        "older verifiers refuse unknown fields: {json}"
    );
    let with = Policy::rule_specs_from_toml(
        &rule(
            r#""a.example.com""#,
            "report_uris = [\"https://r.example.com/\"]\nreport_delivery = \"unpinned\"",
        ),
        "t",
    )
    .unwrap();
    let json = serde_json::to_string(&with[0]).unwrap();
    let back: RuleSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, with[0]);
    let p = Policy::from_rules("bundle", vec![back]).unwrap();
    assert_eq!(p.rules()[0].report_uris(), ["https://r.example.com/"]);
    assert_eq!(p.rules()[0].report_delivery(), ReportDelivery::Unpinned);
}

/// `single_pin_may_brick`: an enforcing one-pin rule loads only with it; it never changes the
/// mode. (extra fields, pins, loads, single_pin_may_brick as read)
#[test]
fn single_pin_may_brick_is_the_only_way_to_enforce_one_pin() {
    let one = format!("\"{P1}\"");
    let two = format!("\"{P1}\", \"{P2}\"");
    let rows: &[(&str, &str, bool, bool)] = &[
        ("", &one, false, false),
        ("single_pin_may_brick = false", &one, false, false),
        ("single_pin_may_brick = true", &one, true, true),
        ("mode = \"report-only\"", &one, true, false),
        ("single_pin_may_brick = true", &two, true, true),
    ];
    for (extra, pins, loads, flag) in rows {
        let text = format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [{pins}]\n{extra}\n");
        match Policy::from_toml_str(&text, "t.toml") {
            Ok(p) => {
                assert!(loads, "{text}");
                let r = &p.rules()[0];
                assert_eq!(r.single_pin_may_brick(), *flag, "{text}");
                if extra.contains("single_pin_may_brick") {
                    assert_eq!(r.mode(), Mode::Enforce, "never made report-only: {text}");
                }
            }
            Err(e) => {
                assert!(!loads, "{text}: {e}");
                let msg = e.to_string();
                assert!(msg.contains("at least two pins"), "{msg}");
                assert!(msg.contains("single_pin_may_brick = true"), "{msg}");
            }
        }
    }
}

/// `public_suffix_covers_others`: a wildcard on a public suffix loads only with it.
/// (host, include_subdomains, loads without, loads with)
#[test]
fn public_suffix_covers_others_lets_a_suffix_pattern_load() {
    let rows: &[(&str, bool, bool, bool)] = &[
        ("**.co.uk", false, false, true),
        ("*.com", false, false, true),
        ("google", true, false, true),
        ("**.github.io", false, false, true),
        ("**.example.co.uk", false, true, true),
        ("co.uk", false, true, true),
    ];
    for (host, subs, without, with) in rows {
        for flag in [false, true] {
            let extra = if flag {
                "public_suffix_covers_others = true\n"
            } else {
                ""
            };
            let text = format!(
                "[[rule]]\nhosts = [\"{host}\"]\npins = [\"{P1}\", \"{P2}\"]\ninclude_subdomains = {subs}\n{extra}"
            );
            let got = Policy::from_toml_str(&text, "t.toml");
            let want = if flag { *with } else { *without };
            assert_eq!(got.is_ok(), want, "{text}: {got:?}");
            if let Err(e) = &got {
                assert!(
                    e.to_string().contains("public_suffix_covers_others = true"),
                    "the hint names the opt-out: {e}"
                );
            }
            if let Ok(p) = &got {
                assert_eq!(p.rules()[0].public_suffix_covers_others(), flag);
                let spans = p.rules()[0].hosts()[0].spans_public_suffix();
                assert_eq!(spans, !*without, "{host}");
            }
        }
    }
}

/// `bad_pins`: parsed like pins, located when wrong.
#[test]
fn bad_pins_are_read_and_located() {
    let ok = rule(
        "\"a.example.com\"",
        "bad_pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
    );
    let p = Policy::from_toml_str(&ok, "t.toml").unwrap();
    assert_eq!(p.rules()[0].bad_pins().len(), 1);
    let bad = rule("\"a.example.com\"", "bad_pins = [\"sha256/nope\"]");
    let e = Policy::from_toml_str(&bad, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:5") && e.contains("rule[0].bad_pins[0]"),
        "{e}"
    );
}

/// New fields travel in a bundle's JSON only when set, so older clients (which refuse
/// unknown fields) keep reading bundles that do not use them, and they round-trip.
#[test]
fn new_rule_fields_travel_in_the_serde_form_only_when_set() {
    let plain = Policy::rule_specs_from_toml(&rule(r#""a.example.com""#, ""), "t").unwrap();
    let json = serde_json::to_string(&plain[0]).unwrap();
    for field in [
        "single_pin_may_brick",
        "public_suffix_covers_others",
        "bad_pins",
    ] {
        assert!(!json.contains(field), "{json}");
    }
    let text = format!(
        "[[rule]]\nhosts = [\"**.co.uk\"]\npins = [\"{P1}\"]\nsingle_pin_may_brick = true\n\
         public_suffix_covers_others = true\nbad_pins = [\"{P2}\"]\n"
    );
    let with = Policy::rule_specs_from_toml(&text, "t").unwrap();
    let json = serde_json::to_string(&with[0]).unwrap();
    let back: RuleSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, with[0]);
    let p = Policy::from_rules("bundle", vec![back]).unwrap();
    let r = &p.rules()[0];
    assert!(r.single_pin_may_brick() && r.public_suffix_covers_others());
    assert_eq!(r.bad_pins().len(), 1);
}

/// `pin_position` and `leaf_pins` (iOS's CA and leaf identity lists): read and checked.
/// (extra fields, loads, position, leaf pins)
#[test]
fn pin_position_and_leaf_pins_are_read_and_checked() {
    let rows: Vec<(String, bool, PinPosition, usize)> = vec![
        (String::new(), true, PinPosition::Any, 0),
        ("pin_position = \"any\"".into(), true, PinPosition::Any, 0),
        ("pin_position = \"leaf\"".into(), true, PinPosition::Leaf, 0),
        ("pin_position = \"ca\"".into(), true, PinPosition::Ca, 0),
        ("pin_position = \"root\"".into(), false, PinPosition::Any, 0),
        (
            format!("pin_position = \"ca\"\nleaf_pins = [\"{P1}\", \"{P2}\"]"),
            true,
            PinPosition::Ca,
            2,
        ),
        // leaf_pins say "and a leaf pin too": only beside CA pins.
        (
            format!("leaf_pins = [\"{P1}\", \"{P2}\"]"),
            false,
            PinPosition::Any,
            0,
        ),
        // One leaf pin is a single point of failure like one pin.
        (
            format!("pin_position = \"ca\"\nleaf_pins = [\"{P1}\"]"),
            false,
            PinPosition::Ca,
            0,
        ),
        (
            format!("pin_position = \"ca\"\nleaf_pins = [\"{P1}\"]\nsingle_pin_may_brick = true"),
            true,
            PinPosition::Ca,
            1,
        ),
    ];
    for (extra, loads, position, leaf) in rows {
        let text = rule("\"a.example.com\"", &extra);
        match Policy::from_toml_str(&text, "t.toml") {
            Ok(p) => {
                assert!(loads, "{text}");
                assert_eq!(p.rules()[0].pin_position(), position, "{text}");
                assert_eq!(p.rules()[0].leaf_pins().len(), leaf, "{text}");
                let spec = Policy::rule_specs_from_toml(&text, "t").unwrap();
                let json = serde_json::to_string(&spec[0]).unwrap();
                assert_eq!(
                    json.contains("pin_position"),
                    extra.contains("pin_position")
                );
                let back: RuleSpec = serde_json::from_str(&json).unwrap();
                assert_eq!(back, spec[0]);
            }
            Err(e) => {
                assert!(!loads, "{text}: {e}");
                let msg = e.to_string();
                assert!(
                    msg.contains("t.toml:5") || msg.contains("t.toml:6"),
                    "{msg}"
                );
                assert!(
                    msg.contains("pin_position") || msg.contains("leaf_pins"),
                    "{msg}"
                );
            }
        }
    }
}
