//! Android Network Security Config (and TrustKit-Android) import, read the way Android's own
//! parser reads it: what it accepts imports with the same meaning, what it refuses is refused
//! with its reason and the line, and what it skips is skipped with a note.

use keypin::Policy;
use keypin_formats::{ImportFormat, ImportOptions, Imported, import};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";

/// A bank's network_security_config.xml as shipped: TrustKit-Android extras, lower-case
/// digest names, an unpadded pin, a pin wrapped across lines, a pin listed twice, upper-case
/// booleans, tools: attributes, Certificate Transparency, debug overrides.
fn bank_config() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<network-security-config xmlns:tools="http://schemas.android.com/tools">
    <base-config cleartextTrafficPermitted="false" tools:ignore="InsecureBaseConfiguration">
        <trust-anchors>
            <certificates src="system" />
        </trust-anchors>
    </base-config>
    <domain-config cleartextTrafficPermitted="false">
        <domain includeSubdomains="TRUE">api.examplebank.com</domain>
        <domain includeSubdomains="False">Login.ExampleBank.com</domain>
        <pin-set expiration="2027-03-01">
            <!-- current intermediate CA -->
            <pin digest="sha-256">{a_unpadded}</pin>
            <!-- backup key, kept offline -->
            <pin digest="SHA-256">
                {b_head}
                {b_tail}
            </pin>
            <pin digest="SHA-256">{A}</pin>
        </pin-set>
        <trustkit-config enforcePinning="false" disableDefaultReportUri="true">
            <report-uri>https://reports.examplebank.com/pins</report-uri>
        </trustkit-config>
        <certificateTransparency enabled="true" />
        <hsts-preload enabled="true" />
    </domain-config>
    <debug-overrides>
        <trust-anchors>
            <certificates src="user" />
        </trust-anchors>
    </debug-overrides>
</network-security-config>
"#,
        a_unpadded = A.trim_end_matches('='),
        b_head = &B[..20],
        b_tail = &B[20..],
    )
}

fn nsc(doc: &str) -> Result<Imported, String> {
    import(
        doc.as_bytes(),
        "network_security_config.xml",
        Some(ImportFormat::AndroidNsc),
        &ImportOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn one_rule(imported: &Imported) -> keypin::policy::Rule {
    let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
    assert_eq!(p.rules().len(), 1, "{}", imported.toml);
    p.rules()[0].clone()
}

fn notes(imported: &Imported) -> String {
    imported
        .notices
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_bank_config_imports_with_android_meaning() {
    let imported = nsc(&bank_config()).unwrap();
    let rule = one_rule(&imported);
    let hosts: Vec<String> = rule.hosts().iter().map(ToString::to_string).collect();
    // includeSubdomains="TRUE" is true; names are lower-cased as Android does.
    assert_eq!(hosts, ["**.api.examplebank.com", "login.examplebank.com"]);
    // Three <pin> lines, two distinct pins, written canonically.
    let pins: Vec<String> = rule.pins().iter().map(ToString::to_string).collect();
    assert_eq!(pins, [format!("sha256/{A}"), format!("sha256/{B}")]);
    assert_eq!(
        rule.expires().map(|d| d.to_string()).as_deref(),
        Some("2027-03-01")
    );
    // TrustKit's enforcePinning="false" does not stop Android 7+ from enforcing.
    assert_eq!(rule.mode(), keypin::policy::Mode::Enforce);
    assert!(rule.require_sct().is_some(), "{}", imported.toml);
    let notes = notes(&imported);
    for words in [
        // (each note the user sees, by its line)
        "network_security_config.xml:3: attribute ignore (namespace http://schemas.android.com/tools) on <base-config> is not read by Android; skipped",
        &format!(
            "network_security_config.xml:13: <pin> \"{}\" is read by Android as {A}",
            A.trim_end_matches('=')
        ),
        "network_security_config.xml:19: pin sha256/",
        "listed twice in this pin set; it counts once",
        "network_security_config.xml:21: trustkit-config enforcePinning=\"false\" only turns off TrustKit's own checks; Android 7+ enforces every <pin-set> itself",
        "network_security_config.xml:22: TrustKit report-uri https://reports.examplebank.com/pins is not imported",
        "network_security_config.xml:8: <certificateTransparency enabled=\"true\"> imported as require_sct = \"chrome\"",
        "network_security_config.xml:25: <hsts-preload> in <domain-config> is not read by Android; skipped",
        "network_security_config.xml:27: <debug-overrides> applies to debug builds only",
    ] {
        assert!(notes.contains(words), "missing note {words:?} in\n{notes}");
    }
    // The wrapped pin is read without a note: only whitespace was in it.
    assert!(!notes.contains(":15:"), "{notes}");
}

/// Pin text as Android's Base64.decode reads it: (text, the pin it is, or the refusal's words).
#[test]
fn pin_values_decode_as_android_decodes_them() {
    let hex = "fbcf468a04ae5751b191ac2971c73bb5c47005686e8b61ffb16f0206174d352a";
    let rows: &[(&str, Result<&str, &str>)] = &[
        (A, Ok(A)),
        ("+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo", Ok(A)),
        // Non-zero trailing bits: 'p' differs from 'o' only in bits the decoder drops.
        ("+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSp=", Ok(A)),
        ("+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSr", Ok(A)),
        (
            "\n   +89GigSuV1Gxkawpccc7tcRwBWhui2H/\n   sW8CBhdNHSo=\n",
            Ok(A),
        ),
        // Not base64 of 32 bytes: OkHttp's prefix and hex decode to other lengths there.
        (&format!("sha256/{A}"), Err("not base64")),
        (
            &format!("sha256/{}", A.trim_end_matches('=')),
            Err("decodes to 37 bytes; a SHA-256 pin is the base64 of 32 bytes"),
        ),
        (hex, Err("decodes to 48 bytes")),
        (
            "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHS=",
            Err("not base64"),
        ),
        ("", Err("<pin> without a digest")),
    ];
    for (text, want) in rows {
        let doc = format!(
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-256\">{text}</pin>\n<pin digest=\"SHA-256\">{B}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>"
        );
        match (nsc(&doc), want) {
            (Ok(imported), Ok(pin)) => {
                let rule = one_rule(&imported);
                assert_eq!(
                    rule.pins()[0].to_string(),
                    format!("sha256/{pin}"),
                    "{text:?}"
                );
            }
            (Err(e), Err(words)) => {
                assert!(
                    e.contains("network_security_config.xml:5:") && e.contains(words),
                    "{text:?}: {e}"
                );
                assert!(e.contains("Android refuses the whole file"), "{e}");
            }
            (got, _) => panic!("{text:?}: {got:?}"),
        }
    }
}

/// Booleans and digest names in the spellings Android accepts: (attribute text, subdomains?,
/// digest text, Ok or the refusal's words).
#[test]
fn booleans_and_digest_names_as_android_reads_them() {
    let rows: &[(&str, &str, Result<bool, &str>)] = &[
        ("true", "SHA-256", Ok(true)),
        ("True", "sha-256", Ok(true)),
        ("TRUE", "Sha-256", Ok(true)),
        (" false ", "SHA-256", Ok(false)),
        ("FALSE", "SHA-256", Ok(false)),
        (
            "yes",
            "SHA-256",
            Err("includeSubdomains on <domain> holds \"yes\"; allowed: true or false"),
        ),
        (
            "true",
            "SHA256",
            Err("digest on <pin> holds \"SHA256\"; allowed: SHA-256"),
        ),
        (
            "true",
            "SHA-1",
            Err("digest on <pin> holds \"SHA-1\"; allowed: SHA-256"),
        ),
    ];
    for (subs, digest, want) in rows {
        let doc = format!(
            "<network-security-config>\n<domain-config>\n<domain includeSubdomains=\"{subs}\">a.example.com</domain>\n<pin-set>\n<pin digest=\"{digest}\">{A}</pin>\n<pin digest=\"SHA-256\">{B}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>"
        );
        match (nsc(&doc), want) {
            (Ok(imported), Ok(subs)) => {
                let host = one_rule(&imported).hosts()[0].to_string();
                assert_eq!(
                    host.starts_with("**."),
                    *subs,
                    "{subs:?} {digest:?}: {host}"
                );
            }
            (Err(e), Err(words)) => assert!(e.contains(words), "{subs:?} {digest:?}: {e}"),
            (got, _) => panic!("{subs:?} {digest:?}: {got:?}"),
        }
    }
}

/// Files Android refuses are refused, with Android's reason and the line: never an empty
/// policy with success. Messages say what the attribute holds, never Rust value notation.
#[test]
fn files_android_refuses_are_refused_with_line_and_reason() {
    let pins = format!(
        "<pin-set><pin digest=\"SHA-256\">{A}</pin><pin digest=\"SHA-256\">{B}</pin></pin-set>"
    );
    // (what, document, the refusal's words)
    let rows: Vec<(&str, String, &str)> = vec![
        (
            "a domain listed twice",
            format!("<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n{pins}\n</domain-config>\n<domain-config>\n<domain includeSubdomains=\"true\">A.example.com</domain>\n{pins}\n</domain-config>\n</network-security-config>"),
            "network_security_config.xml:7: a.example.com has already been specified at line 3",
        ),
        (
            "a domain in base-config",
            "<network-security-config>\n<base-config>\n<domain>a.example.com</domain>\n</base-config>\n</network-security-config>".to_string(),
            "network_security_config.xml:3: <domain> is not allowed in <base-config>",
        ),
        (
            "a pin-set in base-config",
            format!("<network-security-config>\n<base-config>\n{pins}\n</base-config>\n</network-security-config>"),
            "network_security_config.xml:3: <pin-set> is not allowed in <base-config>",
        ),
        (
            "two pin-sets",
            format!("<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n{pins}\n{pins}\n</domain-config>\n</network-security-config>"),
            "network_security_config.xml:5: more than one <pin-set>",
        ),
        (
            "a domain-config without a domain",
            format!("<network-security-config>\n<domain-config>\n{pins}\n</domain-config>\n</network-security-config>"),
            "network_security_config.xml:2: a <domain-config> without <domain>",
        ),
        (
            "a pin without digest",
            format!("<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin>{A}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>"),
            "network_security_config.xml:5: <pin> has no digest attribute; allowed: digest=\"SHA-256\"",
        ),
        (
            "an expiration that is not yyyy-MM-dd",
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set expiration=\"01/03/2027\"/>\n</domain-config>\n</network-security-config>".to_string(),
            "network_security_config.xml:4: expiration on <pin-set> holds \"01/03/2027\"; allowed: a yyyy-MM-dd date",
        ),
        (
            "two base-configs",
            "<network-security-config>\n<base-config/>\n<base-config/>\n</network-security-config>".to_string(),
            "network_security_config.xml:3: only one <base-config> is allowed",
        ),
        (
            "an unknown certificates src",
            format!("<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n{pins}\n<trust-anchors><certificates src=\"ca.pem\"/></trust-anchors>\n</domain-config>\n</network-security-config>"),
            "network_security_config.xml:5: src on <certificates> holds \"ca.pem\"; allowed: system, user, wfa or a resource",
        ),
    ];
    for (what, doc, words) in rows {
        let e = nsc(&doc).map(|i| i.toml).unwrap_err();
        assert!(e.contains(words), "{what}: {e}");
        assert!(
            !e.contains("Some(") && !e.contains("None"),
            "{what}: value notation in {e}"
        );
    }
}

/// Unknown elements and attributes are skipped, as Android's parser skips them, each with a note.
#[test]
fn unknown_elements_and_attributes_are_skipped_with_a_note() {
    let doc = format!(
        "<network-security-config version=\"2\">\n<vendor-extension/>\n<domain-config>\n<domain>a.example.com</domain><domain>*.example.com</domain>\n<pin-set rotate=\"weekly\">\n<pin digest=\"SHA-256\" comment=\"primary\">{A}</pin>\n<backup-pin>{B}</backup-pin>\n<pin digest=\"SHA-256\">{B}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>"
    );
    let imported = nsc(&doc).unwrap();
    assert_eq!(one_rule(&imported).pins().len(), 2);
    assert_eq!(one_rule(&imported).hosts().len(), 1, "{}", imported.toml);
    let notes = notes(&imported);
    for words in [
        ":1: attribute version on <network-security-config> is not read by Android; skipped",
        ":2: <vendor-extension> is not read by Android; skipped",
        ":5: attribute rotate on <pin-set>",
        ":6: attribute comment on <pin>",
        ":7: <backup-pin> in <pin-set> is not read by Android; skipped",
        ":4: <domain> *.example.com is compared literally by Android (it has no wildcards), so it matches no host: skipped",
    ] {
        assert!(notes.contains(words), "missing {words:?} in\n{notes}");
    }
}

/// `<certificateTransparency enabled="true">` is inherited like every NSC setting: from
/// base-config to domain-config, and a domain-config may turn it off again.
#[test]
fn certificate_transparency_maps_to_require_sct_with_inheritance() {
    let pins = format!(
        "<pin-set><pin digest=\"SHA-256\">{A}</pin><pin digest=\"SHA-256\">{B}</pin></pin-set>"
    );
    // (base-config's element, domain-config's element, require_sct expected)
    let rows = [
        ("", "", false),
        ("", "<certificateTransparency enabled=\"true\"/>", true),
        ("<certificateTransparency enabled=\"true\"/>", "", true),
        (
            "<certificateTransparency enabled=\"TRUE\"/>",
            "<certificateTransparency enabled=\"false\"/>",
            false,
        ),
        ("", "<certificateTransparency/>", false),
    ];
    for (base, own, want) in rows {
        let doc = format!(
            "<network-security-config>\n<base-config>{base}</base-config>\n<domain-config>\n<domain>a.example.com</domain>\n{pins}\n{own}\n</domain-config>\n</network-security-config>"
        );
        let imported = nsc(&doc).unwrap();
        let rule = one_rule(&imported);
        assert_eq!(
            rule.require_sct().is_some(),
            want,
            "{base:?} {own:?}\n{}",
            imported.toml
        );
        if want {
            assert!(
                imported.toml.contains("require_sct = \"chrome\""),
                "{}",
                imported.toml
            );
        }
    }
}
