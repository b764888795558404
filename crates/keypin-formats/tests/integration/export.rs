//! Exports checked by independent parsers (python's xml.etree and plistlib, serde_json) and
//! for the stricter-or-refuse rule.

use std::process::Command;

use keypin::{Policy, pin::Pin};
use keypin_formats::{ExportFormat, export};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

fn policy() -> Policy {
    Policy::from_toml_str(
        &format!(
            r#"
[[rule]]
hosts = ["api.example.com", "**.cdn.example.com"]
pins = ["sha256/{A}", "sha256/{B}"]
expires = "2027-06-30"

[[rule]]
hosts = ["*.shop.example.com"]
pins = ["sha256/{C}", "sha256/{B}"]
mode = "report-only"
"#
        ),
        "multi.toml",
    )
    .unwrap()
}

/// Runs a python snippet that reads the document on stdin and prints JSON.
fn python(script: &str, input: &str) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn android_nsc_parses_and_carries_pins_and_dates() {
    let out = export(&policy(), ExportFormat::AndroidNsc, 0).unwrap();
    let v = python(
        r#"
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
res = []
for dc in root.findall('domain-config'):
    ps = dc.find('pin-set')
    res.append({
        'cleartext': dc.get('cleartextTrafficPermitted'),
        'domains': [[d.text, d.get('includeSubdomains')] for d in dc.findall('domain')],
        'expiration': ps.get('expiration'),
        'pins': [[p.get('digest'), p.text] for p in ps.findall('pin')],
    })
print(json.dumps(res))
"#,
        &out.text,
    );
    assert_eq!(
        v,
        serde_json::json!([
            {"cleartext": "false",
             "domains": [["api.example.com", "false"], ["cdn.example.com", "true"]],
             "expiration": "2027-06-30",
             "pins": [["SHA-256", A], ["SHA-256", B]]},
            {"cleartext": "false",
             "domains": [["shop.example.com", "true"]],
             "expiration": null,
             "pins": [["SHA-256", C], ["SHA-256", B]]}
        ])
    );
    // What NSC cannot say was made stricter, and said so.
    let notes: Vec<String> = out.notices.iter().map(ToString::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("multi.toml:7") && n.contains("ENFORCING")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("exactly one label")),
        "{notes:?}"
    );
}

#[test]
fn trustkit_plist_parses_with_plistlib() {
    let out = export(&policy(), ExportFormat::Trustkit, 0).unwrap();
    let v = python(
        "import sys, json, plistlib; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
        &out.text,
    );
    let domains = &v["TSKPinnedDomains"];
    assert_eq!(v["TSKSwizzleNetworkDelegates"], false);
    assert_eq!(
        domains["api.example.com"]["TSKPublicKeyHashes"],
        serde_json::json!([A, B])
    );
    assert_eq!(
        domains["api.example.com"]["TSKExpirationDate"],
        "2027-06-30"
    );
    assert_eq!(domains["api.example.com"]["TSKEnforcePinning"], true);
    assert_eq!(domains["cdn.example.com"]["TSKIncludeSubdomains"], true);
    // TrustKit has report-only: kept, not made stricter.
    assert_eq!(domains["shop.example.com"]["TSKEnforcePinning"], false);
}

/// TrustKit-Android's enforcePinning="false" does not make Android 7+ report-only (the OS
/// enforces every <pin-set>), so a report-only rule is exported enforcing, with a notice.
#[test]
fn trustkit_android_report_only_is_exported_enforcing() {
    let out = export(&policy(), ExportFormat::TrustkitAndroid, 0).unwrap();
    let v = python(
        r#"
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
print(json.dumps([dc.find('trustkit-config').get('enforcePinning') for dc in root.findall('domain-config')]))
"#,
        &out.text,
    );
    assert_eq!(v, serde_json::json!(["true", "true"]));
    assert!(
        out.notices.iter().any(|n| n
            .message
            .contains("no report-only mode: exported as ENFORCING")),
        "{:?}",
        out.notices
    );
}

#[test]
fn okhttp_patterns_map_exactly() {
    let out = export(&policy(), ExportFormat::Okhttp, 0).unwrap();
    assert!(out.text.contains(&format!(
        ".add(\"**.cdn.example.com\", \"sha256/{A}\", \"sha256/{B}\")"
    )));
    assert!(out.text.contains(&format!(
        ".add(\"*.shop.example.com\", \"sha256/{C}\", \"sha256/{B}\")"
    )));
    assert!(
        out.notices
            .iter()
            .any(|n| n.message.contains("no pin expiry"))
    );
}

#[test]
fn hpkp_and_curl_lines() {
    // 2027-06-29T00:00:00Z: one day and a bit before the end of 2027-06-30.
    let now = 1_814_313_600 - 86_400;
    let out = export(&policy(), ExportFormat::Hpkp, now).unwrap();
    assert!(out.text.contains(&format!(
        "Public-Key-Pins: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=172800\n"
    )));
    assert!(out.text.contains("Public-Key-Pins-Report-Only: "));
    assert!(out.text.contains("; includeSubDomains"));
    let out = export(&policy(), ExportFormat::Curl, 0).unwrap();
    assert!(out.text.contains(&format!(
        "api.example.com\t--pinnedpubkey 'sha256//{A};sha256//{B}'"
    )));
    assert!(
        out.notices
            .iter()
            .any(|n| n.message.contains("only the leaf key"))
    );
}

#[test]
fn chromium_json_links_pinsets_and_hashes() {
    let out = export(&policy(), ExportFormat::Chromium, 0).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.text).unwrap();
    let entry = &v["entries"][1];
    assert_eq!(entry["name"], "cdn.example.com");
    assert_eq!(entry["include_subdomains"], true);
    let set = v["pinsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == entry["pins"])
        .unwrap();
    let hashes: Vec<&str> = set["static_spki_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| v["spki_hashes"][n.as_str().unwrap()].as_str().unwrap())
        .collect();
    assert_eq!(hashes, [format!("sha256/{A}"), format!("sha256/{B}")]);
}

#[test]
fn certificate_pins_are_refused_not_dropped() {
    let p = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"cert-sha256/{A}\", \"sha256/{B}\"]\n"
        ),
        "cert.toml",
    )
    .unwrap();
    for (name, format) in ExportFormat::ALL {
        let e = export(&p, format, 0).unwrap_err().to_string();
        assert!(
            e.contains("cert.toml:1") && e.contains("certificate pins"),
            "{name}: {e}"
        );
    }
}

#[test]
fn ocsp_checks_are_refused_not_dropped() {
    for mode in ["check-if-stapled", "require"] {
        let p = Policy::from_toml_str(
            &format!(
                "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\nocsp = \"{mode}\"\n"
            ),
            "ocsp.toml",
        )
        .unwrap();
        for (name, format) in ExportFormat::ALL {
            let e = export(&p, format, 0).unwrap_err().to_string();
            assert!(
                e.contains("ocsp.toml:1") && e.contains("cannot check stapled OCSP responses"),
                "{name}: {e}"
            );
        }
    }
    let ignore = format!(
        "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\nocsp = \"ignore\"\n"
    );
    let p = Policy::from_toml_str(&ignore, "ocsp.toml").unwrap();
    assert!(export(&p, ExportFormat::AndroidNsc, 0).is_ok());
}

#[test]
fn names_that_collide_after_mapping_are_refused() {
    // `*.example.com` maps to example.com with subdomains, which the exact rule also claims.
    let p = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n\
             [[rule]]\nhosts = [\"*.example.com\"]\npins = [\"sha256/{C}\", \"sha256/{B}\"]\n"
        ),
        "dup.toml",
    )
    .unwrap();
    let e = export(&p, ExportFormat::AndroidNsc, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("example.com would appear twice"), "{e}");
    // OkHttp keeps both patterns apart, so it exports fine.
    assert!(export(&p, ExportFormat::Okhttp, 0).is_ok());
}

#[test]
fn ios_ats_needs_positions_and_round_trips() {
    use keypin_formats::{ExportOptions, PinPosition, export_with};
    let p = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"api.example.com\", \"*.cdn.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n"
        ),
        "ats.toml",
    )
    .unwrap();
    // Without positions: refused, naming the pins.
    let e = export(&p, ExportFormat::IosAts, 0).unwrap_err().to_string();
    assert!(e.contains("position of pin") && e.contains(A), "{e}");

    let mut options = ExportOptions::default();
    options
        .positions
        .insert(Pin::parse(A).unwrap(), PinPosition::Leaf);
    options.backup_position = Some(PinPosition::Leaf);
    let out = export_with(&p, ExportFormat::IosAts, &options).unwrap();
    assert!(
        out.notices
            .iter()
            .any(|n| n.message.contains("NSIncludesSubdomains"))
    );
    // The fragment, placed in an Info.plist, parses with plistlib and imports back.
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n{}</dict>\n</plist>\n",
        out.text
    );
    let v = python(
        "import sys, json, plistlib; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
        &doc,
    );
    let d = &v["NSAppTransportSecurity"]["NSPinnedDomains"];
    assert_eq!(d["api.example.com"]["NSIncludesSubdomains"], false);
    assert_eq!(d["cdn.example.com"]["NSIncludesSubdomains"], true);
    assert_eq!(
        d["api.example.com"]["NSPinnedLeafIdentities"],
        serde_json::json!([{ "SPKI-SHA256-BASE64": A }, { "SPKI-SHA256-BASE64": B }])
    );
    let back =
        keypin_formats::import(doc.as_bytes(), "Info.plist", None, &Default::default()).unwrap();
    assert!(
        back.toml
            .contains("hosts = [\"cdn.example.com\", \"*.cdn.example.com\"]"),
        "{}",
        back.toml
    );

    // `**.` cannot be said on iOS: refused rather than leaving deeper names unpinned.
    let deep = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"**.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n"
        ),
        "deep.toml",
    )
    .unwrap();
    let e = export_with(&deep, ExportFormat::IosAts, &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("deeper names would go unpinned"), "{e}");
}

/// An IPv4-mapped IPv6 literal is exported as the IPv4 address it means, the one spelling
/// every target matches.
#[test]
fn ipv4_mapped_ipv6_hosts_export_as_ipv4() {
    let p = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"[::ffff:10.0.0.1]\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n"
        ),
        "ip.toml",
    )
    .unwrap();
    for format in [
        ExportFormat::Okhttp,
        ExportFormat::Curl,
        ExportFormat::AndroidNsc,
    ] {
        let out = export(&p, format, 0).unwrap();
        assert!(out.text.contains("10.0.0.1"), "{format:?}: {}", out.text);
        assert!(!out.text.contains("ffff"), "{format:?}: {}", out.text);
    }
}
