//! Import: round trips with export, each source format, and hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use keypin::Policy;
use keypin_formats::import::MAX_INPUT_BYTES;
use keypin_formats::{ExportFormat, ImportFormat, ImportOptions, export, import};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

/// A policy every format below can carry without a notice about hosts.
fn policy() -> Policy {
    Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"api.example.com\", \"**.cdn.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n\
             expires = \"2027-06-30\"\n\n[[rule]]\nhosts = [\"**.shop.example.com\"]\npins = [\"sha256/{C}\", \"sha256/{B}\"]\n"
        ),
        "p.toml",
    )
    .unwrap()
}

fn no_opts() -> ImportOptions {
    ImportOptions::default()
}

/// (host, pins, expires) of every host pattern, sorted: what a round trip must keep.
fn shape(p: &Policy) -> Vec<(String, Vec<String>, Option<String>)> {
    let mut v: Vec<_> = p
        .rules()
        .iter()
        .flat_map(|r| {
            r.hosts().iter().map(move |h| {
                (
                    h.to_string(),
                    r.pins().iter().map(ToString::to_string).collect(),
                    r.expires().map(|d| d.to_string()),
                )
            })
        })
        .collect();
    v.sort();
    v
}

#[test]
fn export_import_round_trips_are_lossless_and_stable() {
    let original = policy();
    for (format, expect_expiry) in [
        (ExportFormat::AndroidNsc, true),
        (ExportFormat::TrustkitAndroid, true),
        (ExportFormat::Trustkit, true),
        (ExportFormat::Chromium, false),
    ] {
        let exported = export(&original, format, 0).unwrap().text;
        let imported = import(exported.as_bytes(), "x", None, &no_opts())
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let back = Policy::from_toml_str(&imported.toml, "back").unwrap();
        let mut want = shape(&original);
        if !expect_expiry {
            want.iter_mut().for_each(|w| w.2 = None);
        }
        assert_eq!(shape(&back), want, "{format:?}\n{}", imported.toml);
        // import → export → import is stable.
        let again = export(&back, format, 0).unwrap().text;
        let twice = import(again.as_bytes(), "x", None, &no_opts()).unwrap();
        assert_eq!(
            shape(&Policy::from_toml_str(&twice.toml, "t").unwrap()),
            shape(&back),
            "{format:?}"
        );
    }
}

#[test]
fn report_only_survives_trustkit_round_trip() {
    let p = Policy::from_toml_str(
        &format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/{A}\"]\nmode = \"report-only\"\n"),
        "p",
    )
    .unwrap();
    for format in [ExportFormat::TrustkitAndroid, ExportFormat::Trustkit] {
        let text = export(&p, format, 0).unwrap().text;
        let back = import(text.as_bytes(), "x", None, &no_opts()).unwrap();
        assert!(
            back.toml.contains("mode = \"report-only\""),
            "{format:?}: {}",
            back.toml
        );
    }
}

#[test]
fn ios_ats_plist_xml_and_binary() {
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>NSAppTransportSecurity</key><dict>
    <key>NSPinnedDomains</key><dict>
      <key>example.com</key><dict>
        <key>NSIncludesSubdomains</key><true/>
        <key>NSPinnedCAIdentities</key><array>
          <dict><key>SPKI-SHA256-BASE64</key><string>{A}</string></dict>
          <dict><key>SPKI-SHA256-BASE64</key><string>{B}</string></dict>
        </array>
      </dict>
    </dict>
  </dict>
</dict></plist>"#
    );
    let imported = import(xml.as_bytes(), "Info.plist", None, &no_opts()).unwrap();
    let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
    // Apple's NSIncludesSubdomains is the domain plus one label.
    assert_eq!(
        shape(&p),
        vec![
            (
                "*.example.com".into(),
                vec![format!("sha256/{A}"), format!("sha256/{B}")],
                None
            ),
            (
                "example.com".into(),
                vec![format!("sha256/{A}"), format!("sha256/{B}")],
                None
            ),
        ]
    );
    // The same document as a binary plist, made by an independent writer (python's plistlib).
    let bin = python_binary_plist(&xml);
    assert!(bin.starts_with(b"bplist"));
    let from_bin = import(&bin, "Info.plist", None, &no_opts()).unwrap();
    assert_eq!(
        from_bin.toml.replace("Info.plist", ""),
        imported.toml.replace("Info.plist", "")
    );

    // Both identity lists: iOS needs a match in each; keypin cannot say that, so refuse.
    let both = xml.replace("NSPinnedCAIdentities</key><array>", "NSPinnedLeafIdentities</key><array><dict><key>SPKI-SHA256-BASE64</key><string>{C}</string></dict></array><key>NSPinnedCAIdentities</key><array>").replace("{C}", C);
    let e = import(both.as_bytes(), "Info.plist", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("NSPinnedDomains.example.com") && e.contains("both CA and leaf"),
        "{e}"
    );
}

fn python_binary_plist(xml: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, plistlib; sys.stdout.buffer.write(plistlib.dumps(plistlib.loads(sys.stdin.buffer.read()), fmt=plistlib.FMT_BINARY))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn hpkp_header_needs_a_host() {
    let header = format!(
        "Public-Key-Pins-Report-Only: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=5184000; includeSubDomains"
    );
    let e = import(header.as_bytes(), "h.txt", None, &no_opts()).unwrap_err();
    assert!(e.to_string().contains("--host"), "{e}");
    let opts = ImportOptions {
        host: Some("example.com".into()),
    };
    let ok = import(header.as_bytes(), "h.txt", None, &opts).unwrap();
    assert!(ok.toml.contains("hosts = [\"**.example.com\"]"));
    assert!(ok.toml.contains("mode = \"report-only\""));
    assert!(ok.notices.iter().any(|n| n.message.contains("max-age")));
}

#[test]
fn nsc_errors_name_the_line() {
    let rows: &[(&str, &str)] = &[
        // (document, words: location and problem)
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-1\">AAAA</pin>\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:5: digest=Some(\"SHA-1\")",
        ),
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-256\">nope</pin>\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:5: invalid pin",
        ),
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set expiration=\"01/02/2027\">\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:4: expiration",
        ),
        (
            "<network-security-config>\n<domain-config>\n</oops>",
            "n.xml:3:",
        ),
        (
            // One pin: Android accepts it, keypin wants a backup pin.
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-256\">AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</pin>\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:2: an enforcing rule needs at least two pins",
        ),
    ];
    for (doc, words) in rows {
        let e = import(
            doc.as_bytes(),
            "n.xml",
            Some(ImportFormat::AndroidNsc),
            &no_opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(words), "{words}\n{e}");
    }
}

#[test]
fn hostile_input_is_refused_safely() {
    // Entity expansion ("billion laughs") needs a DTD: refused before any expansion.
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n<network-security-config>&lol2;</network-security-config>";
    let e = import(laughs.as_bytes(), "x.xml", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("DTD") || e.contains("not valid XML"), "{e}");
    let plist_laughs = laughs.replace("network-security-config", "plist");
    assert!(
        import(
            plist_laughs.as_bytes(),
            "x.plist",
            Some(ImportFormat::Trustkit),
            &no_opts()
        )
        .is_err()
    );
    // Deep nesting.
    let deep = format!(
        "<network-security-config>{}{}</network-security-config>",
        "<domain-config>".repeat(100_000),
        "</domain-config>".repeat(100_000)
    );
    let e = import(deep.as_bytes(), "x.xml", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nested more than 16 deep") || e.contains("not valid XML"),
        "{e}"
    );
    // Deep plists, XML and binary (a chain of one-element arrays): refused before a tree is built.
    let deep_xml = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>TSKPinnedDomains</key>{}{}</dict></plist>",
        "<array>".repeat(200_000),
        "</array>".repeat(200_000)
    );
    let e = import(deep_xml.as_bytes(), "d.plist", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested more than 16 deep"), "{e}");
    let e = import(
        &deep_binary_plist(100_000),
        "d.bplist",
        Some(ImportFormat::Trustkit),
        &no_opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nested more than 16 deep"), "{e}");
    // Huge input: refused by size before parsing.
    let huge = vec![b' '; MAX_INPUT_BYTES + 1];
    let e = import(&huge, "big", Some(ImportFormat::AndroidNsc), &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("limit"), "{e}");
    // Unknown content.
    let e = import(b"hello", "what", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot tell the format"), "{e}");
}

/// A binary plist (bplist00) of `n` nested one-element arrays, written by hand.
fn deep_binary_plist(n: u32) -> Vec<u8> {
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(8 + body.len() as u32);
        if i + 1 < n {
            body.push(0xA1); // array of one object reference
            body.extend_from_slice(&(i + 1).to_be_bytes());
        } else {
            body.push(0xA0); // empty array
        }
    }
    let mut data = b"bplist00".to_vec();
    data.extend_from_slice(&body);
    let table = data.len() as u64;
    for o in offsets {
        data.extend_from_slice(&o.to_be_bytes());
    }
    data.extend_from_slice(&[0; 6]);
    data.extend_from_slice(&[4, 4]); // offset size, reference size
    data.extend_from_slice(&u64::from(n).to_be_bytes());
    data.extend_from_slice(&0u64.to_be_bytes());
    data.extend_from_slice(&table.to_be_bytes());
    data
}
