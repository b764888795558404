//! The opt-out and bad-key rule fields through import and export (issue #15): a single pin is
//! imported enforcing with `single_pin_may_brick`, a pattern on a public suffix with
//! `public_suffix_covers_others`, Chromium's bad keys as `bad_pins`; export round-trips them
//! or refuses clearly.

use keypin::Policy;
use keypin::policy::Mode;
use keypin_formats::{ExportFormat, ImportFormat, ImportOptions, export, import};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

/// An NSC `<domain-config>` for `domain` with `pins`.
fn nsc(domain: &str, subs: bool, pins: &[&str]) -> String {
    let pins: String = pins
        .iter()
        .map(|p| format!("<pin digest=\"SHA-256\">{p}</pin>"))
        .collect();
    format!(
        "<network-security-config>\n<domain-config>\n<domain includeSubdomains=\"{subs}\">{domain}</domain>\n<pin-set>{pins}</pin-set>\n</domain-config>\n</network-security-config>\n"
    )
}

fn ios(domain: &str, subs: bool, pins: &[&str]) -> String {
    let pins: String = pins
        .iter()
        .map(|p| format!("<dict><key>SPKI-SHA256-BASE64</key><string>{p}</string></dict>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>NSAppTransportSecurity</key><dict><key>NSPinnedDomains</key><dict>\
         <key>{domain}</key><dict><key>NSIncludesSubdomains</key><{subs}/><key>NSPinnedCAIdentities</key><array>{pins}</array></dict>\
         </dict></dict></dict></plist>\n"
    )
}

fn trustkit(domain: &str, subs: bool, pins: &[&str]) -> String {
    let pins: String = pins
        .iter()
        .map(|p| format!("<string>{p}</string>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>TSKPinnedDomains</key><dict>\
         <key>{domain}</key><dict><key>TSKIncludeSubdomains</key><{subs}/><key>TSKPublicKeyHashes</key><array>{pins}</array></dict>\
         </dict></dict></plist>\n"
    )
}

fn chromium(domain: &str, subs: bool, pins: &[&str]) -> String {
    let names: Vec<String> = (0..pins.len()).map(|i| format!("\"K{i}\"")).collect();
    let hashes: Vec<String> = pins
        .iter()
        .enumerate()
        .map(|(i, p)| format!("\"K{i}\": \"sha256/{p}\""))
        .collect();
    format!(
        "// Chromium's list\n{{ \"spki_hashes\": {{ {} }},\n \"pinsets\": [ {{ \"name\": \"s\", \"static_spki_hashes\": [{}] }} ],\n \
         \"entries\": [ {{ \"name\": \"{domain}\", \"include_subdomains\": {subs}, \"pins\": \"s\" }} ] }}\n",
        hashes.join(", "),
        names.join(", ")
    )
}

fn hpkp(_domain: &str, subs: bool, pins: &[&str]) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!("pin-sha256=\"{p}\"")).collect();
    let subs = if subs { "; includeSubDomains" } else { "" };
    format!("Public-Key-Pins: {}; max-age=600{subs}\n", pins.join("; "))
}

type Fixture = fn(&str, bool, &[&str]) -> String;

const FORMATS: [(ImportFormat, Fixture); 5] = [
    (ImportFormat::AndroidNsc, nsc),
    (ImportFormat::IosAts, ios),
    (ImportFormat::Trustkit, trustkit),
    (ImportFormat::Chromium, chromium),
    (ImportFormat::Hpkp, hpkp),
];

fn import_as(
    format: ImportFormat,
    text: &str,
    host: &str,
) -> Result<keypin_formats::Imported, String> {
    let options = ImportOptions {
        host: Some(host.to_string()),
        ..ImportOptions::default()
    };
    import(text.as_bytes(), "in", Some(format), &options).map_err(|e| e.to_string())
}

/// Android, iOS and Chromium enforce a set of one pin: imported enforcing with
/// `single_pin_may_brick = true` and a note, never report-only. A one-pin HPKP header pins
/// nothing in a browser (RFC 7469 §4.3) and TrustKit refuses an enforced domain with one pin:
/// refused, saying so.
#[test]
fn single_pin_sets_import_enforcing_with_single_pin_may_brick() {
    for (format, fixture) in FORMATS {
        let got = import_as(
            format,
            &fixture("api.example.com", false, &[A]),
            "api.example.com",
        );
        // The platforms that refuse it: a browser ignores the header; TrustKit raises.
        let platform_refuses = match format {
            ImportFormat::Hpkp => Some("RFC 7469 §4.3"),
            ImportFormat::Trustkit => Some("TrustKit refuses this configuration"),
            _ => None,
        };
        if let Some(why) = platform_refuses {
            let e = got.unwrap_err();
            assert!(e.contains(why), "{format:?}: {e}");
            continue;
        }
        let imported = got.unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let policy = Policy::from_toml_str(&imported.toml, "t").unwrap();
        let rule = &policy.rules()[0];
        assert_eq!(rule.pins().len(), 1, "{format:?}");
        assert_eq!(rule.mode(), Mode::Enforce, "{format:?}: never report-only");
        assert!(rule.single_pin_may_brick(), "{format:?}: {}", imported.toml);
        assert!(
            imported
                .notices
                .iter()
                .any(|n| n.message.contains("single_pin_may_brick = true")),
            "{format:?}: {:?}",
            imported.notices
        );
    }
}

/// A domain under a private-section public suffix (`github.io`) with its subdomains: loaded
/// with `public_suffix_covers_others = true` and a note, in every format, never dropped.
#[test]
fn public_suffix_patterns_import_with_public_suffix_covers_others() {
    for (format, fixture) in FORMATS {
        let imported = import_as(format, &fixture("github.io", true, &[A, B]), "github.io")
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let policy = Policy::from_toml_str(&imported.toml, "t").unwrap();
        let rule = &policy.rules()[0];
        assert!(
            rule.public_suffix_covers_others(),
            "{format:?}: {}",
            imported.toml
        );
        assert!(
            rule.hosts().iter().any(|h| h.spans_public_suffix()),
            "{format:?}: {:?}",
            rule.hosts()
        );
        assert!(
            imported
                .notices
                .iter()
                .any(|n| n.message.contains("public_suffix_covers_others")),
            "{format:?}"
        );
        // A registrable domain needs no opt-out.
        let plain = import_as(
            format,
            &fixture("example.com", true, &[A, B]),
            "example.com",
        )
        .unwrap();
        assert!(
            !plain.toml.contains("public_suffix_covers_others"),
            "{format:?}"
        );
    }
}

fn policy(extra: &str, pins: &[&str]) -> Policy {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"sha256/{p}\"")).collect();
    Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"api.example.com\"]\npins = [{}]\n{extra}\n",
            pins.join(", ")
        ),
        "p.toml",
    )
    .unwrap()
}

/// A one-pin rule exports as the one pin wherever the platform accepts it, and comes back with
/// `single_pin_may_brick`; HPKP (a browser ignores it) and TrustKit (raises) refuse.
#[test]
fn single_pin_rule_exports_the_one_pin_and_round_trips() {
    let p = policy("single_pin_may_brick = true", &[A]);
    for format in [
        ExportFormat::AndroidNsc,
        ExportFormat::TrustkitAndroid,
        ExportFormat::Chromium,
    ] {
        let text = export(&p, format, 0)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"))
            .text;
        let back = import(text.as_bytes(), "x", None, &ImportOptions::default()).unwrap();
        let back = Policy::from_toml_str(&back.toml, "back").unwrap();
        let r = &back.rules()[0];
        assert!(
            r.single_pin_may_brick() && r.mode() == Mode::Enforce,
            "{format:?}"
        );
        assert_eq!(r.pins(), p.rules()[0].pins(), "{format:?}");
    }
    for format in [ExportFormat::Okhttp, ExportFormat::Curl] {
        let text = export(&p, format, 0)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"))
            .text;
        assert!(text.contains(A), "{format:?}: {text}");
    }
    for (format, why) in [
        (ExportFormat::Hpkp, "RFC 7469 §4.3"),
        (ExportFormat::Trustkit, "TrustKit refuses"),
        (ExportFormat::TrustkitSwift, "TrustKit refuses"),
    ] {
        let e = export(&p, format, 0).unwrap_err().to_string();
        assert!(e.contains(why), "{format:?}: {e}");
    }
}

/// bad_pins: Chromium's export writes bad_static_spki_hashes and imports back the same; every
/// other format refuses, naming bad_pins, instead of dropping them.
#[test]
fn bad_pins_export_to_chromium_and_are_refused_elsewhere() {
    let p = policy(&format!("bad_pins = [\"sha256/{C}\"]"), &[A, B]);
    let text = export(&p, ExportFormat::Chromium, 0).unwrap().text;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["pinsets"][0]["bad_static_spki_hashes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let back = import(text.as_bytes(), "x", None, &ImportOptions::default()).unwrap();
    let back = Policy::from_toml_str(&back.toml, "back").unwrap();
    assert_eq!(back.rules()[0].bad_pins(), p.rules()[0].bad_pins());
    for format in [
        ExportFormat::AndroidNsc,
        ExportFormat::TrustkitAndroid,
        ExportFormat::Trustkit,
        ExportFormat::TrustkitSwift,
        ExportFormat::Okhttp,
        ExportFormat::Hpkp,
        ExportFormat::Curl,
        ExportFormat::IosAts,
    ] {
        let e = export(&p, format, 0).unwrap_err().to_string();
        assert!(
            e.contains("bad_pins") && e.contains("p.toml:1"),
            "{format:?}: {e}"
        );
    }
}

/// An iOS plist keeps its pin positions: CA identities → `pin_position = "ca"`, leaf
/// identities → `"leaf"`, both lists → CA pins with `leaf_pins` (a match in each); and each
/// exports to `ios-ats` again without any position options, to the same lists.
#[test]
fn ios_identity_lists_keep_their_positions_and_round_trip() {
    use keypin::policy::PinPosition;
    let entry = |lists: &[(&str, &[&str])]| {
        let body: String = lists
            .iter()
            .map(|(key, pins)| {
                let items: String = pins
                    .iter()
                    .map(|p| {
                        format!("<dict><key>SPKI-SHA256-BASE64</key><string>{p}</string></dict>")
                    })
                    .collect();
                format!("<key>{key}</key><array>{items}</array>")
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>NSAppTransportSecurity</key><dict><key>NSPinnedDomains</key><dict>\
             <key>api.example.com</key><dict>{body}</dict></dict></dict></dict></plist>\n"
        )
    };
    let ca: &[&str] = &[A, B];
    let leaf: &[&str] = &[C, B];
    // (lists, position, leaf pins)
    type Lists<'a> = Vec<(&'a str, &'a [&'a str])>;
    let rows: [(Lists, PinPosition, usize); 3] = [
        (vec![("NSPinnedCAIdentities", ca)], PinPosition::Ca, 0),
        (vec![("NSPinnedLeafIdentities", leaf)], PinPosition::Leaf, 0),
        (
            vec![
                ("NSPinnedCAIdentities", ca),
                ("NSPinnedLeafIdentities", leaf),
            ],
            PinPosition::Ca,
            2,
        ),
    ];
    for (lists, position, leaf_count) in rows {
        let plist = entry(&lists);
        let imported = import_as(ImportFormat::IosAts, &plist, "api.example.com").unwrap();
        assert!(
            !imported
                .notices
                .iter()
                .any(|n| n.message.contains("anywhere")),
            "{:?}",
            imported.notices
        );
        let policy = Policy::from_toml_str(&imported.toml, "p.toml").unwrap();
        let r = &policy.rules()[0];
        assert_eq!(
            (r.pin_position(), r.leaf_pins().len()),
            (position, leaf_count),
            "{lists:?}"
        );

        // Back to ios-ats with no positions given: the same lists.
        let out = export(&policy, ExportFormat::IosAts, 0).unwrap().text;
        let doc = format!("<plist version=\"1.0\"><dict>{out}</dict></plist>");
        let v = plist::Value::from_reader_xml(doc.as_bytes()).unwrap();
        let dict = |v: &plist::Value, key: &str| {
            v.as_dictionary()
                .and_then(|d| d.get(key))
                .cloned()
                .unwrap_or_else(|| panic!("{key}: {out}"))
        };
        let d = dict(
            &dict(&dict(&v, "NSAppTransportSecurity"), "NSPinnedDomains"),
            "api.example.com",
        );
        let d = d.as_dictionary().unwrap();
        for (key, pins) in &lists {
            let got = d
                .get(key)
                .and_then(plist::Value::as_array)
                .map_or(0, Vec::len);
            assert_eq!(got, pins.len(), "{key}: {out}");
        }
        assert_eq!(d.len(), lists.len() + 1, "only these lists: {out}");

        // Targets that match anywhere refuse instead of weakening the position.
        let e = export(&policy, ExportFormat::AndroidNsc, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pin_position") || e.contains("leaf_pins"), "{e}");
    }
}

/// curl checks only the leaf key: a leaf-position rule exports without the "CA pins never
/// match" notice; a CA-position rule is refused.
#[test]
fn curl_takes_leaf_position_rules_and_refuses_ca_ones() {
    let leaf = policy("pin_position = \"leaf\"", &[A, B]);
    let out = export(&leaf, ExportFormat::Curl, 0).unwrap();
    assert!(out.notices.is_empty(), "{:?}", out.notices);
    assert!(out.text.contains(A));
    let any = policy("", &[A, B]);
    assert!(
        !export(&any, ExportFormat::Curl, 0)
            .unwrap()
            .notices
            .is_empty()
    );
    let ca = policy("pin_position = \"ca\"", &[A, B]);
    let e = export(&ca, ExportFormat::Curl, 0).unwrap_err().to_string();
    assert!(e.contains("curl checks only the leaf key"), "{e}");
}
