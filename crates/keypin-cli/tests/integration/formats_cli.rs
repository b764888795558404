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
