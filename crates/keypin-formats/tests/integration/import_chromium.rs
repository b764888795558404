//! Chromium's static pins as Chromium ships them: `transport_security_state_static.json` with
//! `//` comments and pinsets naming keys by name, and the `.pins` file holding their values
//! (`sha256/` lines, PEM certificates, PEM public keys), bad keys, bare gTLDs and single pins
//! included. What keypin cannot express is left out with a located refusal; the rest imports.

use std::process::Command;

use keypin::Policy;
use keypin_formats::{ImportFormat, ImportOptions, PinsFile, import};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

const STATIC_JSON: &str = r#"// Copyright 2026 The Example Authors
// Use of this source code is governed by a BSD-style license.

// This file contains the HSTS preloaded list and the static pins that use the keys of
// transport_security_state_static.pins.
{
  // Pinsets name keys of the .pins file.
  "pinsets": [
    {
      "name": "example",
      "static_spki_hashes": [ "ExampleRootCA", "ExampleBackup2048", "ExampleIssuingCert" ],
      "report_uri": "https://report.example.com/pkp"
    },
    {
      "name": "tor",
      "static_spki_hashes": [ "TorKey1", "TorKey2" ],
      "bad_static_spki_hashes": [ "ExampleBackup2048" ]
    },
    { "name": "lonely", "static_spki_hashes": [ "ExampleRootCA" ] },
    { "name": "withpem", "static_spki_hashes": [ "ExamplePublicKey", "TorKey1" ] }
  ],
  "entries": [
    /* HSTS only: nothing pinned. */
    { "name": "hsts-only.example.org", "policy": "custom", "mode": "force-https", "include_subdomains": true },
    { "name": "www.example.com", "policy": "custom", "mode": "force-https", "include_subdomains": true, "pins": "example" },
    // A bare gTLD: Chromium pins every name under it.
    { "name": "dev", "policy": "custom", "mode": "force-https", "include_subdomains": true, "pins": "example" },
    { "name": "torproject.org", "policy": "custom", "mode": "force-https", "pins": "tor" },
    { "name": "one.example.net", "policy": "custom", "pins": "lonely" },
    { "name": "keys.example.net", "policy": "custom", "include_subdomains_for_pinning": true, "pins": "withpem" }
  ]
}
"#;

/// A fresh key pair and self-signed certificate made by openssl (an independent tool), with
/// the SPKI pin openssl computes for it.
fn openssl_key_and_cert(dir: &std::path::Path) -> (String, String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "k.pem",
    ]);
    run(&["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "k.pem",
        "-subj",
        "/CN=Example Issuing CA",
        "-days",
        "30",
        "-out",
        "cert.pem",
    ]);
    run(&[
        "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
    ]);
    let digest = run(&["dgst", "-sha256", "-binary", "pub.der"]);
    let pin = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (read("pub.pem"), read("cert.pem"), pin)
}

fn pins_file(public_key_pem: &str, cert_pem: &str) -> String {
    format!(
        "# Copyright 2026 The Example Authors\n#\n# The keys named by transport_security_state_static.json.\n\nPinsListTimestamp\n1780000000\n\n\
         ExampleRootCA\nsha256/{A}\n\nExampleBackup2048\nsha256/{B}\n\n# The issuing CA, as its certificate.\nExampleIssuingCert\n{cert_pem}\n\
         TorKey1\nsha256/{C}\n\nTorKey2\nsha256/{A}\n\nExamplePublicKey\n{public_key_pem}"
    )
}

fn chromium(json: &str, pins: Option<&str>) -> Result<keypin_formats::Imported, String> {
    let options = ImportOptions {
        chromium_pins: pins.map(|p| PinsFile {
            name: "transport_security_state_static.pins".into(),
            bytes: p.as_bytes().to_vec(),
        }),
        ..ImportOptions::default()
    };
    import(
        json.as_bytes(),
        "transport_security_state_static.json",
        None,
        &options,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn chromium_json_with_comments_and_pins_file_imports_what_keypin_can_say() {
    assert_eq!(
        ImportFormat::detect(STATIC_JSON.as_bytes()),
        Some(ImportFormat::Chromium),
        "a file that starts with // comments is still Chromium's"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let (public_key, cert, issuing_pin) = openssl_key_and_cert(dir.path());
    let imported = chromium(STATIC_JSON, Some(&pins_file(&public_key, &cert))).unwrap();
    let policy = Policy::from_toml_str(&imported.toml, "t").unwrap();
    // (hosts, pins, bad pins, single_pin_may_brick, public_suffix_covers_others)
    type Row = (Vec<String>, Vec<String>, Vec<String>, bool, bool);
    let rules: Vec<Row> = policy
        .rules()
        .iter()
        .map(|r| {
            (
                r.hosts().iter().map(ToString::to_string).collect(),
                r.pins().iter().map(ToString::to_string).collect(),
                r.bad_pins().iter().map(ToString::to_string).collect(),
                r.single_pin_may_brick(),
                r.public_suffix_covers_others(),
            )
        })
        .collect();
    let s = |p: &str| format!("sha256/{p}");
    let example = vec![s(A), s(B), s(&issuing_pin)];
    assert_eq!(
        rules,
        [
            (
                vec!["**.www.example.com".to_string()],
                example.clone(),
                vec![],
                false,
                false
            ),
            // A bare gTLD: Chromium pins every name under it.
            (vec!["**.dev".to_string()], example, vec![], false, true),
            // bad_static_spki_hashes: refused on the path even when a good pin matches.
            (
                vec!["torproject.org".to_string()],
                vec![s(C), s(A)],
                vec![s(B)],
                false,
                false
            ),
            // One pin, enforced as Chromium enforces it.
            (
                vec!["one.example.net".to_string()],
                vec![s(A)],
                vec![],
                true,
                false
            ),
            (
                vec!["**.keys.example.net".to_string()],
                vec![s(&issuing_pin), s(C)],
                vec![],
                false,
                false
            ),
        ],
        "{}",
        imported.toml
    );
    assert!(imported.refused.is_empty(), "{:#?}", imported.refused);
    assert!(
        policy
            .rules()
            .iter()
            .all(|r| r.mode() == keypin::policy::Mode::Enforce)
    );
    let notes: Vec<String> = imported.notices.iter().map(ToString::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("report_uri https://report.example.com/pkp is not imported")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n
                .starts_with("transport_security_state_static.pins:6: Chromium stops enforcing")),
        "{notes:#?}"
    );
}

#[test]
fn chromium_pinsets_need_their_pins_file() {
    let e = chromium(STATIC_JSON, None).unwrap_err();
    assert!(
        e.contains("transport_security_state_static.json:pinsets[0].static_spki_hashes[0]")
            && e.contains("pass it with --pins FILE.pins"),
        "{e}"
    );
    // A malformed .pins file is refused at its line.
    let e = chromium(
        STATIC_JSON,
        Some("PinsListTimestamp\n1780000000\nExampleRootCA\n-----BEGIN CERTIFICATE-----\nAAAA\n"),
    )
    .unwrap_err();
    assert!(e.contains("transport_security_state_static.pins:4: ExampleRootCA: -----BEGIN CERTIFICATE----- without -----END CERTIFICATE-----"), "{e}");
    let e = chromium(STATIC_JSON, Some("Not a name!\nsha256/x\n")).unwrap_err();
    assert!(
        e.contains("transport_security_state_static.pins:1: expected the name of a key"),
        "{e}"
    );
}
