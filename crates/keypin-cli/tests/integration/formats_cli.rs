//! `keypin export` and `keypin import` as a user runs them.

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const POLICY: &str = r#"
[[rule]]
hosts = ["api.example.com", "*.shop.example.com"]
pins = ["sha256/+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=",
        "sha256/qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4="]
expires = "2027-06-30"
"#;

fn keypin() -> Command {
    Command::cargo_bin("keypin").unwrap()
}

#[test]
fn export_to_file_then_import_back() {
    let dir = TempDir::new().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let xml = dir.path().join("network_security_config.xml");
    keypin()
        .args(["export", "--format", "android-nsc", "--out"])
        .arg(&xml)
        .arg(&policy)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("exactly one label"));
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("<domain includeSubdomains=\"true\">shop.example.com</domain>"));
    keypin()
        .arg("import")
        .arg(&xml)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "hosts = [\"api.example.com\", \"**.shop.example.com\"]",
        ))
        .stdout(predicate::str::contains("expires = \"2027-06-30\""));
}

#[test]
fn export_errors() {
    let dir = TempDir::new().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    keypin()
        .args(["export", "--format", "nope"])
        .arg(&policy)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown format \"nope\"; choose one of: android-nsc",
        ));
    let cert = dir.path().join("cert.toml");
    std::fs::write(
        &cert,
        "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"cert-sha256/+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=\", \"sha256/qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=\"]\n",
    )
    .unwrap();
    keypin()
        .args(["export", "--format", "okhttp"])
        .arg(&cert)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("without weakening"))
        .stderr(predicate::str::contains("cert.toml:1"));
    // require_sct has no equivalent in the targets: refused, never dropped.
    let ct = dir.path().join("ct.toml");
    std::fs::write(&ct, format!("{POLICY}require_sct = 2\n")).unwrap();
    for format in [
        "android-nsc",
        "trustkit-android",
        "trustkit",
        "trustkit-swift",
        "okhttp",
        "hpkp",
        "curl",
        "chromium",
        "ios-ats",
    ] {
        keypin()
            .args(["export", "--format", format])
            .arg(&ct)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "cannot require Certificate Transparency",
            ))
            .stderr(predicate::str::contains("ct.toml:2"));
    }
}

#[test]
fn import_errors() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<network-security-config>\n  <domain-config>\n    <oops>\n</network-security-config>",
    )
    .unwrap();
    keypin()
        .arg("import")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.xml:4:"));
    keypin()
        .arg("import")
        .arg(dir.path().join("missing.xml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.xml"));
}

/// The shared-reference bomb (a binary plist whose arrays reference the one below eight times,
/// fourteen deep; the fuzz seed) is refused at once, naming the node limit and the file.
#[test]
fn import_refuses_a_binary_plist_shared_reference_bomb() {
    let seed =
        include_bytes!("../../../../fuzz/seeds/import_plist/2-binary-shared-reference-bomb.plist");
    let dir = TempDir::new().unwrap();
    let bomb = dir.path().join("Info.plist");
    // The seed's first byte picks the fuzz target's mode; the rest is the file.
    std::fs::write(&bomb, &seed[1..]).unwrap();
    keypin()
        .arg("import")
        .arg(&bomb)
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot import {}",
            bomb.display()
        )))
        .stderr(predicate::str::contains(
            "more than 20000 nodes (MAX_IMPORT_NODES)",
        ));
}

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

/// What Android skips or reads leniently imports with notes on stderr and exit 0; the notes
/// are the importer's, printed by the command.
#[test]
fn import_prints_the_importers_notes_on_stderr() {
    let dir = TempDir::new().unwrap();
    let xml = dir.path().join("network_security_config.xml");
    std::fs::write(
        &xml,
        format!(
            "<network-security-config>\n<domain-config>\n<domain includeSubdomains=\"TRUE\">api.example.com</domain>\n<pin-set>\n<pin digest=\"sha-256\">{}</pin>\n<pin digest=\"SHA-256\">{B}</pin>\n</pin-set>\n<trustkit-config enforcePinning=\"false\"><report-uri>https://r.example.com/</report-uri></trustkit-config>\n</domain-config>\n</network-security-config>\n",
            A.trim_end_matches('=')
        ),
    )
    .unwrap();
    keypin()
        .arg("import")
        .arg(&xml)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "hosts = [\"**.api.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]"
        )))
        .stdout(predicate::str::contains("report-only").not())
        .stderr(predicate::str::contains(":5: <pin> \""))
        .stderr(predicate::str::contains("written canonically"))
        .stderr(predicate::str::contains(
            "keypin: note: ".to_string()
                + &xml.display().to_string()
                + ":8: trustkit-config enforcePinning=\"false\"",
        ))
        .stderr(predicate::str::contains(
            "report-uri https://r.example.com/ is not imported",
        ));
}

/// A file Android refuses is refused: exit 2, the line and Android's reason, nothing on stdout.
#[test]
fn import_refuses_what_android_refuses() {
    let dir = TempDir::new().unwrap();
    let xml = dir.path().join("nsc.xml");
    std::fs::write(
        &xml,
        format!(
            "<network-security-config>\n<base-config>\n<domain>api.example.com</domain>\n</base-config>\n<domain-config>\n<domain>api.example.com</domain>\n<pin-set><pin digest=\"SHA-256\">sha256/{A}</pin><pin digest=\"SHA-256\">{B}</pin></pin-set>\n</domain-config>\n</network-security-config>\n"
        ),
    )
    .unwrap();
    keypin()
        .arg("import")
        .arg(&xml)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "nsc.xml:3: <domain> is not allowed in <base-config>",
        ))
        .stderr(predicate::str::contains("nsc.xml:7: <pin> holds \"sha256/"))
        .stderr(predicate::str::contains("Some(").not());
}

/// Chromium's JSON with its .pins file: the entries keypin can say are written, the others are
/// refused on stderr with where and why, and the exit code (2) says the policy is partial.
#[test]
fn import_chromium_with_pins_file_writes_the_rest_and_exits_2() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("transport_security_state_static.json");
    std::fs::write(
        &json,
        "// Copyright 2026 The Example Authors\n{\n  \"pinsets\": [\n    { \"name\": \"example\", \"static_spki_hashes\": [\"ExampleRoot\", \"ExampleBackup\"] },\n    { \"name\": \"bad\", \"static_spki_hashes\": [\"ExampleRoot\", \"ExampleBackup\"], \"bad_static_spki_hashes\": [\"ExampleEvil\"] },\n    { \"name\": \"old\", \"static_spki_hashes\": [\"ExampleRoot\", \"ExampleSha1\"] }\n  ],\n  \"entries\": [\n    // pinned\n    { \"name\": \"www.example.com\", \"include_subdomains\": true, \"pins\": \"example\" },\n    { \"name\": \"evil.example.org\", \"pins\": \"bad\" },\n    { \"name\": \"old.example.org\", \"pins\": \"old\" }\n  ]\n}\n",
    )
    .unwrap();
    let pins = dir.path().join("transport_security_state_static.pins");
    std::fs::write(
        &pins,
        format!("# keys\nPinsListTimestamp\n1780000000\n\nExampleRoot\nsha256/{A}\n\nExampleBackup\nsha256/{B}\n\nExampleEvil\nsha256/{C}\n\nExampleSha1\nsha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
    )
    .unwrap();
    keypin()
        .args(["import", "--format", "chromium"])
        .arg(&json)
        .arg("--pins")
        .arg(&pins)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("hosts = [\"**.www.example.com\"]"))
        // Chromium's bad keys are the rule's bad_pins.
        .stdout(predicate::str::contains("hosts = [\"evil.example.org\"]"))
        .stdout(predicate::str::contains(format!(
            "bad_pins = [\"sha256/{C}\"]"
        )))
        .stdout(predicate::str::contains("old.example.org\"]").not())
        .stderr(predicate::str::contains("keypin: refused: "))
        .stderr(predicate::str::contains(
            "entries[2] old.example.org: pinset \"old\": its key \"ExampleSha1\"",
        ))
        .stderr(predicate::str::contains("1 entries of"));
    // Without the .pins file the pinsets have no values: refused, saying what to pass.
    keypin()
        .args(["import"])
        .arg(&json)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass it with --pins FILE.pins"));
}

/// An HPKP header as HTTP/2 writes it (lower-case name) imports like the canonical one.
#[test]
fn import_hpkp_lower_case_header() {
    let dir = TempDir::new().unwrap();
    let header = dir.path().join("h.txt");
    std::fs::write(
        &header,
        format!("public-key-pins: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=600\n"),
    )
    .unwrap();
    keypin()
        .args(["import", "--host", "api.example.com"])
        .arg(&header)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("hosts = [\"api.example.com\"]"))
        .stdout(predicate::str::contains("report-only").not());
}
