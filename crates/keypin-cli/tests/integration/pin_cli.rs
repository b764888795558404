//! `keypin pin` against the `openssl` command line: every key type and file shape gives the
//! same pin openssl computes, and bad inputs fail with exit 2 and a message naming the file.

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

/// Runs `openssl ARGS` in `dir`, panicking with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Process::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` command is needed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a shell pipeline in `dir` and returns its trimmed stdout.
fn sh(dir: &Path, script: &str) -> String {
    let out = Process::new("sh")
        .args(["-c", &format!("set -e; {script}")])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn keypin(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("keypin").unwrap();
    cmd.current_dir(dir);
    cmd
}

/// A self-signed certificate `c.pem` with its key `k.pem`; `newkey` is the `-newkey` value
/// plus any `-pkeyopt`s.
fn generate(newkey: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["req", "-x509", "-newkey"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes", "-subj", "/CN=test", "-days", "30", "-keyout", "k.pem", "-out", "c.pem",
    ]);
    openssl(dir.path(), &args);
    dir
}

const P256: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/// openssl's SPKI pin of the certificate `c.pem`, bare base64.
fn openssl_spki_pin(dir: &Path) -> String {
    sh(
        dir,
        "openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | base64",
    )
}

/// openssl's certificate pin of `c.pem`, bare base64.
fn openssl_cert_pin(dir: &Path) -> String {
    sh(
        dir,
        "openssl x509 -in c.pem -outform der | openssl dgst -sha256 -binary | base64",
    )
}

/// Runs `keypin pin ARGS`, expects success and returns stdout split into lines of columns.
fn pin_lines(dir: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let out = keypin(dir).arg("pin").args(args).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    stdout
        .lines()
        .map(|l| l.split("  ").map(str::to_string).collect())
        .collect()
}

/// The bare base64 pin of the single item in `file`.
fn pin_b64(dir: &Path, file: &str) -> String {
    let lines = pin_lines(dir, &[file, "--format", "base64"]);
    assert_eq!(lines.len(), 1, "{file}: {lines:?}");
    assert_eq!(lines[0][1], file);
    lines[0][0].clone()
}

/// Every shape of the same key gives openssl's pin of the certificate.
fn check_key_type(newkey: &[&str], label: &str, extra: &[(&str, &[&str])]) {
    let dir = generate(newkey);
    let d = dir.path();
    let expected = openssl_spki_pin(d);
    assert_eq!(expected.len(), 44, "{expected}");

    openssl(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    openssl(
        d,
        &[
            "pkey", "-in", "k.pem", "-pubout", "-outform", "der", "-out", "pub.der",
        ],
    );
    openssl(
        d,
        &["pkey", "-in", "k.pem", "-outform", "der", "-out", "k.der"],
    );
    openssl(
        d,
        &["x509", "-in", "c.pem", "-outform", "der", "-out", "c.der"],
    );
    openssl(
        d,
        &[
            "req", "-new", "-key", "k.pem", "-subj", "/CN=x", "-out", "csr.pem",
        ],
    );
    openssl(
        d,
        &[
            "req", "-in", "csr.pem", "-outform", "der", "-out", "csr.der",
        ],
    );
    let mut files = vec![
        "c.pem", "k.pem", "pub.pem", "pub.der", "k.der", "c.der", "csr.pem", "csr.der",
    ];
    for (file, args) in extra {
        openssl(d, args);
        files.push(file);
    }
    for file in files {
        assert_eq!(pin_b64(d, file), expected, "{file} ({newkey:?})");
    }

    let rows = pin_lines(d, &["c.pem", "k.pem", "pub.pem", "csr.pem"]);
    let labels: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        labels,
        [
            "CN=test".to_string(),
            format!("{label} private key"),
            format!("{label} public key"),
            "CN=x".to_string(),
        ]
    );
}

const RSA_EXTRA: &[(&str, &[&str])] = &[
    (
        "pkcs1.pem",
        &["rsa", "-in", "k.pem", "-traditional", "-out", "pkcs1.pem"],
    ),
    (
        "pkcs1.der",
        &[
            "rsa",
            "-in",
            "k.pem",
            "-traditional",
            "-outform",
            "der",
            "-out",
            "pkcs1.der",
        ],
    ),
    (
        "rsapub.pem",
        &[
            "rsa",
            "-in",
            "k.pem",
            "-RSAPublicKey_out",
            "-out",
            "rsapub.pem",
        ],
    ),
];

const EC_EXTRA: &[(&str, &[&str])] = &[
    ("sec1.pem", &["ec", "-in", "k.pem", "-out", "sec1.pem"]),
    (
        "sec1.der",
        &["ec", "-in", "k.pem", "-outform", "der", "-out", "sec1.der"],
    ),
];

#[test]
fn rsa_2048_matches_openssl() {
    check_key_type(&["rsa:2048"], "RSA 2048", RSA_EXTRA);
}

#[test]
fn rsa_4096_matches_openssl() {
    let dir = generate(&["rsa:4096"]);
    let d = dir.path();
    let expected = openssl_spki_pin(d);
    assert_eq!(pin_b64(d, "c.pem"), expected);
    assert_eq!(pin_b64(d, "k.pem"), expected);
    openssl(
        d,
        &["rsa", "-in", "k.pem", "-traditional", "-out", "pkcs1.pem"],
    );
    assert_eq!(pin_b64(d, "pkcs1.pem"), expected);
}

#[test]
fn ec_p256_matches_openssl() {
    check_key_type(P256, "EC P-256", EC_EXTRA);
}

#[test]
fn ec_p384_matches_openssl() {
    check_key_type(
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "EC P-384",
        EC_EXTRA,
    );
}

#[test]
fn ec_p521_matches_openssl() {
    check_key_type(
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "EC P-521",
        EC_EXTRA,
    );
}

#[test]
fn ed25519_matches_openssl() {
    check_key_type(&["ed25519"], "Ed25519", &[]);
}

#[test]
fn cert_pin_matches_openssl() {
    let dir = generate(P256);
    let d = dir.path();
    let expected = openssl_cert_pin(d);
    let lines = pin_lines(d, &["c.pem", "--cert-pin", "--format", "base64"]);
    assert_eq!(
        lines,
        [[expected.clone(), "c.pem".into(), "CN=test".into()]]
    );
    openssl(
        d,
        &["x509", "-in", "c.pem", "-outform", "der", "-out", "c.der"],
    );
    let lines = pin_lines(d, &["c.der", "--cert-pin"]);
    assert_eq!(lines[0][0], format!("cert-sha256/{expected}"));
    assert_ne!(expected, openssl_spki_pin(d));
}

#[test]
fn every_format_spelling() {
    let dir = generate(P256);
    let d = dir.path();
    let b64 = openssl_spki_pin(d);
    let hex = sh(
        d,
        "openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -r | cut -d' ' -f1",
    );
    assert_eq!(hex.len(), 64);
    let rows: [(&[&str], String); 6] = [
        (&[], format!("sha256/{b64}")),
        (&["--format", "okhttp"], format!("sha256/{b64}")),
        (&["--format", "hpkp"], format!("pin-sha256=\"{b64}\"")),
        (&["--format", "curl"], format!("sha256//{b64}")),
        (&["--format", "base64"], b64.clone()),
        (&["--format", "hex"], hex),
    ];
    for (flags, expected) in rows {
        keypin(d)
            .arg("pin")
            .arg("c.pem")
            .args(flags)
            .assert()
            .success()
            .stdout(format!("{expected}  c.pem  CN=test\n"));
    }
    keypin(d)
        .args(["pin", "c.pem", "--format", "sha1"])
        .assert()
        .code(2);
}

#[test]
fn several_files_and_blocks() {
    let dir = generate(P256);
    let d = dir.path();
    let pin = format!("sha256/{}", openssl_spki_pin(d));
    sh(d, "cat c.pem k.pem > both.pem");
    keypin(d)
        .args(["pin", "both.pem", "c.pem"])
        .assert()
        .success()
        .stdout(format!(
            "{pin}  both.pem  CN=test\n{pin}  both.pem  EC P-256 private key\n{pin}  c.pem  CN=test\n"
        ));
}

#[test]
fn bad_files_fail_with_exit_2_naming_the_file() {
    let dir = generate(P256);
    let d = dir.path();
    let pin = format!("sha256/{}", openssl_spki_pin(d));
    std::fs::write(
        d.join("garbage.bin"),
        b"\x30\x03\x02\x01\x00 this is not a key\n",
    )
    .unwrap();
    std::fs::write(
        d.join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "k.pem",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "enc.pem",
        ],
    );

    keypin(d)
        .args(["pin", "missing.pem"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::starts_with("keypin: error:")
                .and(predicate::str::contains("missing.pem")),
        );
    keypin(d)
        .args(["pin", "garbage.bin"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("garbage.bin")
                .and(predicate::str::contains("expected a certificate")),
        );
    keypin(d)
        .args(["pin", "garbage.pem"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("garbage.pem").and(predicate::str::contains("base64")));
    // PKCS#8 encrypted in PEM and DER, and the legacy `Proc-Type: 4,ENCRYPTED` SEC1 form.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "k.pem",
            "-v2",
            "aes256",
            "-passout",
            "pass:secret",
            "-outform",
            "der",
            "-out",
            "enc.der",
        ],
    );
    openssl(
        d,
        &[
            "ec",
            "-in",
            "k.pem",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "enc-sec1.pem",
        ],
    );
    for file in ["enc.pem", "enc.der", "enc-sec1.pem"] {
        keypin(d).args(["pin", file]).assert().code(2).stderr(
            predicate::str::contains(format!("keypin: error: {file}"))
                .and(predicate::str::contains("encrypted private key"))
                .and(predicate::str::contains(format!("openssl pkey -in {file}"))),
        );
    }

    // The good files are still printed, each error is reported, the exit code is 2.
    keypin(d)
        .args(["pin", "missing.pem", "c.pem", "garbage.bin"])
        .assert()
        .code(2)
        .stdout(format!("{pin}  c.pem  CN=test\n"))
        .stderr(
            predicate::str::contains("missing.pem").and(predicate::str::contains("garbage.bin")),
        );
}

#[test]
fn cert_pin_refuses_keys() {
    let dir = generate(P256);
    let d = dir.path();
    keypin(d)
        .args(["pin", "--cert-pin", "k.pem"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("k.pem")
                .and(predicate::str::contains("--cert-pin needs a certificate")),
        );
}
