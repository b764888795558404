//! `keypin attest`: the real vectors of keypin-attest's tests, run as a support engineer runs
//! them; exit 0 valid, 1 invalid with the named failure, 2 usage or unreadable input.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::common::keypin;

const APP_ID: &str = "6MURL8TA57.de.vincent-haupert.apple-appattest-poc";
const KEY_ID: &str = "YmbJO4x5nEHUvncp9zdWuVZjNBEMgJn3cdSToAXQe3M=";
const CLIENT_DATA: &str = "d3VyemVscGZyb3Bm";
const AT: &str = "2021-01-23T12:13:33Z";
const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiMA0oZCqfbxaBhUBxlQoA5QlghmL\nPxzFRnPKO5rSC0FSgmelT1/boEafr7RrtpkKOWvwT5SknUMgyBx6skCjmA==\n-----END PUBLIC KEY-----\n";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../keypin-attest/tests/data")
        .join(name)
}

fn run(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = keypin(dir.path()).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

fn ios(file: &Path, extra: &[&str]) -> (i32, String) {
    ios_with(APP_ID, AT, file, extra)
}

fn ios_with(app_id: &str, at: &str, file: &Path, extra: &[&str]) -> (i32, String) {
    let file = file.to_str().unwrap();
    let mut args = vec![
        "attest",
        "verify",
        "ios",
        file,
        "--app-id",
        app_id,
        "--key-id",
        KEY_ID,
        "--client-data",
        CLIENT_DATA,
        "--at",
        at,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn attest_verify_ios_accepts_raw_base64_and_base64url_files() {
    let raw = std::fs::read(data("ios-14.4-attestation.cbor")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b64 = dir.path().join("att.b64");
    std::fs::write(&b64, base64::engine::general_purpose::STANDARD.encode(&raw)).unwrap();
    let url = dir.path().join("att.b64url");
    std::fs::write(
        &url,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw) + "\n",
    )
    .unwrap();
    for file in [data("ios-14.4-attestation.cbor"), b64, url] {
        let (code, out) = ios(&file, &["--env", "development"]);
        assert_eq!(code, 0, "{}: {out}", file.display());
        assert!(
            out.contains("VALID") && out.contains("6266c93b8c799c41"),
            "{out}"
        );
    }
}

#[test]
fn attest_verify_ios_refusals_name_the_failure_and_exit_1() {
    let file = data("ios-14.4-attestation.cbor");
    let other_app = "6MURL8TA57.com.attacker.repackaged";
    let late = "2021-02-01T00:00:00Z";
    for (app_id, at, env, name) in [
        (APP_ID, AT, "production", "EnvironmentMismatch"),
        (other_app, AT, "development", "RpIdMismatch"),
        (APP_ID, late, "development", "CertificateExpired"),
    ] {
        let (code, out) = ios_with(app_id, at, &file, &["--env", env]);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(&format!("INVALID: {name}")), "{name}: {out}");
    }
    // --client-data-hash is used as given: the hash of the client data hash is another nonce.
    let (code, out) = run(&[
        "attest",
        "verify",
        "ios",
        file.to_str().unwrap(),
        "--app-id",
        APP_ID,
        "--key-id",
        KEY_ID,
        "--client-data-hash",
        CLIENT_DATA,
        "--env",
        "development",
        "--at",
        AT,
        "--json",
    ]);
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["failure"]["name"], "NonceMismatch");
    assert_eq!(json["valid"], false);
}

#[test]
fn attest_usage_errors_and_unreadable_input_exit_2() {
    let file = data("ios-14.4-attestation.cbor");
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "not base64 at all!").unwrap();
    for (file, extra) in [
        (dir.path().join("missing.cbor"), &[][..]),
        (garbage, &[][..]),
    ] {
        let (code, out) = ios(&file, extra);
        assert_eq!(code, 2, "{out}");
    }
    let (code, out) = ios_with(APP_ID, "yesterday", &file, &[]);
    assert_eq!(code, 2, "{out}");
    // Neither --client-data nor --client-data-hash.
    let (code, _) = run(&[
        "attest",
        "verify",
        "ios",
        file.to_str().unwrap(),
        "--app-id",
        APP_ID,
        "--key-id",
        KEY_ID,
    ]);
    assert_eq!(code, 2);
}

#[test]
fn attest_assert_ios_checks_signature_and_counter() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("key.pem");
    std::fs::write(&pem, PUBLIC_KEY).unwrap();
    let file = data("ios-14.4-assertion.cbor");
    let base = [
        "attest",
        "assert",
        "ios",
        file.to_str().unwrap(),
        "--public-key",
        pem.to_str().unwrap(),
        "--client-data",
        CLIENT_DATA,
        "--app-id",
        APP_ID,
    ];
    let (code, out) = run(&base);
    assert_eq!(code, 0, "{out}");
    let mut replay = base.to_vec();
    replay.extend(["--previous-counter", "1"]);
    let (code, out) = run(&replay);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CounterNotIncreasing"), "{out}");
}

#[test]
fn attest_verify_android_prints_every_fact() {
    let chain = data("akita_TEE_EC_NONE.pem");
    let chain = chain.to_str().unwrap();
    let at = "2024-09-20T00:00:00Z";
    let pkg = "com.google.wireless.android.security.attestationverifier.collector";
    let (code, out) = run(&[
        "attest",
        "verify",
        "android",
        chain,
        "--challenge",
        "challenge",
        "--package",
        pkg,
        "--at",
        at,
    ]);
    assert_eq!(code, 0, "{out}");
    for fact in [
        "chain",
        "revocation[4]",
        "challenge",
        "KeyMint security level",
        "package",
        "signing certificate sha256",
        "VALID",
    ] {
        assert!(out.contains(fact), "{fact}: {out}");
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("status.json");
    std::fs::write(
        &list,
        r#"{"entries": {"d50ff25ba3f2d6b3": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}"#,
    )
    .unwrap();
    for (extra, name) in [
        (vec!["--challenge", "b64:Y2hhbGxlbmdm"], "ChallengeMismatch"),
        (
            vec!["--challenge", "challenge", "--require", "strongbox"],
            "SecurityLevelTooLow",
        ),
        (
            vec!["--challenge", "challenge", "--package", "com.example.bank"],
            "PackageNotAllowed",
        ),
        (
            vec![
                "--challenge",
                "challenge",
                "--signing-cert-sha256",
                &"ab".repeat(32),
            ],
            "SigningDigestMismatch",
        ),
        (
            vec!["--challenge", "challenge", "--require-verified-boot"],
            "BootNotVerified",
        ),
        (
            vec![
                "--challenge",
                "challenge",
                "--revocation",
                list.to_str().unwrap(),
            ],
            "Revoked",
        ),
    ] {
        let mut args = vec!["attest", "verify", "android", chain, "--at", at];
        args.extend(extra.iter().copied());
        let (code, out) = run(&args);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(&format!("INVALID: {name}")), "{name}: {out}");
    }
}
