//! iOS Info.plist, TrustKit and HPKP import fidelity: what the platform reads, keypin reads,
//! and what `import` reads from an Info.plist exports to `ios-ats` again.

use keypin::Policy;
use keypin_formats::{
    ExportFormat, ExportOptions, ImportFormat, ImportOptions, PinPosition, export_with, import,
};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";

fn info_plist(identities: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleIdentifier</key><string>com.examplebank.app</string>
  <key>NSAppTransportSecurity</key>
  <dict>
    <key>NSPinnedDomains</key>
    <dict>
      <key>api.examplebank.com</key>
      <dict>
        <key>NSIncludesSubdomains</key><true/>
        <key>{identities}</key>
        <array>
          <dict><key>SPKI-SHA256-BASE64</key><string>{A}</string></dict>
          <dict><key>SPKI-SHA256-BASE64</key><string>{B}</string></dict>
        </array>
      </dict>
      <key>cdn.examplebank.com</key>
      <dict>
        <key>{identities}</key>
        <array>
          <dict><key>SPKI-SHA256-BASE64</key><string>{B}</string></dict>
          <dict><key>SPKI-SHA256-BASE64</key><string>{A}</string></dict>
        </array>
      </dict>
    </dict>
  </dict>
</dict>
</plist>
"#
    )
}

fn hosts_and_pins(toml: &str) -> Vec<(String, Vec<String>)> {
    let p = Policy::from_toml_str(toml, "t").unwrap();
    let mut v: Vec<_> = p
        .rules()
        .iter()
        .flat_map(|r| {
            r.hosts().iter().map(move |h| {
                let mut pins: Vec<String> = r.pins().iter().map(ToString::to_string).collect();
                pins.sort();
                (h.to_string(), pins)
            })
        })
        .collect();
    v.sort();
    v
}

/// An Info.plist entry with NSIncludesSubdomains imports as the domain and `*.` the domain;
/// exporting that to ios-ats gives one entry again (it used to collide with itself), and the
/// round trip is stable, for either identity list.
#[test]
fn ios_plist_with_includes_subdomains_round_trips_through_ios_ats() {
    for (key, position) in [
        ("NSPinnedCAIdentities", PinPosition::Ca),
        ("NSPinnedLeafIdentities", PinPosition::Leaf),
    ] {
        let plist = info_plist(key);
        let first = import(
            plist.as_bytes(),
            "Info.plist",
            None,
            &ImportOptions::default(),
        )
        .unwrap();
        let policy = Policy::from_toml_str(&first.toml, "first").unwrap();
        let options = ExportOptions {
            backup_position: Some(position),
            ..ExportOptions::default()
        };
        let out = export_with(&policy, ExportFormat::IosAts, &options)
            .unwrap_or_else(|e| panic!("{key}: {e}\n{}", first.toml));
        assert!(
            out.notices.is_empty(),
            "{key}: the pair is exactly NSIncludesSubdomains: {:?}",
            out.notices
        );
        assert_eq!(
            out.text.matches("<key>api.examplebank.com</key>").count(),
            1,
            "{}",
            out.text
        );
        assert!(out.text.contains(key), "{}", out.text);
        let wrapped = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n{}</dict>\n</plist>\n",
            out.text
        );
        let again = import(
            wrapped.as_bytes(),
            "export.plist",
            None,
            &ImportOptions::default(),
        )
        .unwrap();
        assert_eq!(
            hosts_and_pins(&again.toml),
            hosts_and_pins(&first.toml),
            "{key}"
        );
    }
}

/// A pin listed twice is one pin, with a note, in every format (each keeps a set).
#[test]
fn a_pin_listed_twice_is_one_pin_with_a_note() {
    let trustkit = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>TSKPinnedDomains</key><dict>\
         <key>api.example.com</key><dict><key>TSKPublicKeyHashes</key><array>\
         <string>{A}</string><string>{B}</string><string>{A}</string></array></dict></dict></dict></plist>"
    );
    let hpkp = format!(
        "Public-Key-Pins: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; pin-sha256=\"{A}\"; max-age=600"
    );
    let ats = info_plist("NSPinnedLeafIdentities").replacen(
        &format!("<string>{B}</string></dict>\n        </array>"),
        &format!("<string>{B}</string></dict>\n          <dict><key>SPKI-SHA256-BASE64</key><string>{A}</string></dict>\n        </array>"),
        1,
    );
    let options = ImportOptions {
        host: Some("api.example.com".into()),
        ..ImportOptions::default()
    };
    // (what, document, format)
    for (what, doc, format) in [
        ("trustkit", trustkit, ImportFormat::Trustkit),
        ("hpkp", hpkp, ImportFormat::Hpkp),
        ("ios-ats", ats, ImportFormat::IosAts),
    ] {
        let imported = import(doc.as_bytes(), "f", Some(format), &options).unwrap();
        let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
        assert_eq!(p.rules()[0].pins().len(), 2, "{what}: {}", imported.toml);
        assert!(
            imported.notices.iter().any(|n| n
                .message
                .contains("listed twice in this pin set; it counts once")),
            "{what}: {:?}",
            imported.notices
        );
    }
}

/// HTTP header names are case-insensitive: HTTP/2 and HTTP/3 write them in lower case.
#[test]
fn hpkp_header_names_are_case_insensitive() {
    // (header line, report-only?)
    let rows = [
        ("Public-Key-Pins", false),
        ("public-key-pins", false),
        ("PUBLIC-KEY-PINS", false),
        ("public-key-pins-report-only", true),
        ("Public-Key-Pins-Report-Only", true),
    ];
    let options = ImportOptions {
        host: Some("api.example.com".into()),
        ..ImportOptions::default()
    };
    for (name, report_only) in rows {
        let header = format!(
            "{name}: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=5184000; includeSubDomains; preload"
        );
        assert_eq!(
            ImportFormat::detect(header.as_bytes()),
            Some(ImportFormat::Hpkp),
            "{name}"
        );
        let imported = import(header.as_bytes(), "h.txt", None, &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
        let rule = &p.rules()[0];
        assert_eq!(rule.hosts()[0].to_string(), "**.api.example.com", "{name}");
        assert_eq!(rule.pins().len(), 2, "{name}");
        assert_eq!(
            rule.mode() == keypin::policy::Mode::ReportOnly,
            report_only,
            "{name}"
        );
        // An unknown directive is ignored, as RFC 7469 requires, with a note.
        assert!(
            imported.notices.iter().any(|n| n
                .message
                .contains("unknown HPKP directive preload: ignored")),
            "{name}: {:?}",
            imported.notices
        );
    }
}
