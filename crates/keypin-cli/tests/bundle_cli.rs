//! `keypin bundle` as a user runs it: keys, roots, signing, verification with its exit codes,
//! rotation, and `serve` with ETag / If-None-Match on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;

use assert_cmd::assert::Assert;
use common::{Server, keypin, run_ok};
use predicates::prelude::*;
use tempfile::TempDir;

const POLICY: &str = r#"[[rule]]
hosts = ["api.example.com"]
pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
"#;

/// Three keys, a 2-of-3 root, a policy and bundle v1 (expiring far ahead).
fn setup() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::keys_and_root(d);
    std::fs::write(d.join("policy.toml"), POLICY).unwrap();
    sign(d, "1", "bundle-v1.json", &["k1", "k3"]).success();
    dir
}

fn sign(d: &Path, version: &str, out: &str, keys: &[&str]) -> Assert {
    common::sign_cmd(d, "policy.toml", "root.json", version, out, keys).assert()
}

/// `keypin bundle verify bundle-v1.json --root root.json EXTRA`.
fn verify_v1(d: &Path, extra: &[&str]) -> Assert {
    keypin(d)
        .args(["bundle", "verify", "bundle-v1.json", "--root", "root.json"])
        .args(extra)
        .assert()
}

/// `keypin bundle rotate-root` from root.json to k2 and k4, signed with `signers`.
fn rotate_root(d: &Path, signers: &[&str]) -> Assert {
    let mut cmd = keypin(d);
    cmd.args([
        "bundle",
        "rotate-root",
        "--old",
        "root.json",
        "--key-new",
        "k2.pub",
        "--key-new",
        "k4.pub",
    ]);
    for k in signers {
        cmd.args(["--sign-with", k]);
    }
    cmd.args(["--out", "root2.json"]).assert()
}

#[test]
fn keygen_writes_a_private_key_0600_and_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(dir.path(), &["bundle", "keygen", "--out", "signer"]);
    let public = std::fs::read_to_string(dir.path().join("signer.pub")).unwrap();
    assert!(public.starts_with("ed25519:"));
    assert!(out.starts_with(public.trim()), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("signer"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites a key.
    keypin(dir.path())
        .args(["bundle", "keygen", "--out", "signer"])
        .assert()
        .code(2);
}

#[test]
fn verify_valid_bundle_exits_0() {
    let dir = setup();
    verify_v1(
        dir.path(),
        &["--app-id", "com.example.app", "--env", "production"],
    )
    .code(0)
    .stdout(predicate::str::contains(
        "valid: com.example.app/production v1",
    ));
}

#[test]
fn verify_wrong_app_exits_1_with_reason() {
    let dir = setup();
    verify_v1(
        dir.path(),
        &["--app-id", "com.other.app", "--env", "production"],
    )
    .code(1)
    .stderr(predicate::str::contains("wrong app"));
}

#[test]
fn verify_wrong_environment_exits_1() {
    let dir = setup();
    verify_v1(
        dir.path(),
        &["--app-id", "com.example.app", "--env", "staging"],
    )
    .code(1)
    .stderr(predicate::str::contains("wrong environment"));
}

#[test]
fn verify_rollback_exits_1() {
    let dir = setup();
    verify_v1(dir.path(), &["--min-version", "2"])
        .code(1)
        .stderr(predicate::str::contains("rolled back"));
}

#[test]
fn verify_forged_signature_exits_1() {
    let dir = setup();
    let d = dir.path();
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("bundle-v1.json")).unwrap()).unwrap();
    for s in env["signatures"].as_array_mut().unwrap() {
        let sig = s["sig"].as_str().unwrap().to_string();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        s["sig"] = format!("{flipped}{}", &sig[1..]).into();
    }
    std::fs::write(d.join("forged.json"), serde_json::to_vec(&env).unwrap()).unwrap();
    keypin(d)
        .args(["bundle", "verify", "forged.json", "--root", "root.json"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("threshold not met")
                .and(predicate::str::contains("bad signature")),
        );
}

#[test]
fn verify_usage_errors_exit_2() {
    let dir = setup();
    keypin(dir.path())
        .args(["bundle", "verify", "missing.json", "--root", "root.json"])
        .assert()
        .code(2);
    verify_v1(dir.path(), &["--app-id", "x"]).code(2);
}

#[test]
fn sign_refuses_too_few_keys() {
    let dir = setup();
    sign(dir.path(), "2", "b2.json", &["k1", "k1"])
        .code(2)
        .stderr(predicate::str::contains("too few keys"));
}

#[test]
fn sign_refuses_an_invalid_policy() {
    let dir = setup();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[[rule]]\nhosts = [\"*.com\"]\n",
    )
    .unwrap();
    sign(dir.path(), "2", "b2.json", &["k1", "k2"])
        .code(2)
        .stderr(predicate::str::contains("does not validate"));
    assert!(!dir.path().join("b2.json").exists());
}

#[test]
fn sign_refuses_a_version_not_above_previous() {
    let dir = setup();
    common::sign_cmd(
        dir.path(),
        "policy.toml",
        "root.json",
        "1",
        "b.json",
        &["k1", "k2"],
    )
    .args(["--previous", "bundle-v1.json"])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "not above the previous bundle's version 1",
    ));
}

#[test]
fn rotate_root_then_verify_through_the_rotation() {
    let dir = setup();
    let d = dir.path();
    run_ok(d, &["bundle", "keygen", "--out", "k4"]);
    // Without a threshold of the old keys: refused.
    rotate_root(d, &["k2", "k4"])
        .code(2)
        .stderr(predicate::str::contains("threshold not met"));
    let rotated = rotate_root(d, &["k1", "k2", "k4"]).success();
    let out = String::from_utf8(rotated.get_output().stdout.clone()).unwrap();
    assert!(out.contains("root v2"), "{out}");
    common::sign_cmd(
        d,
        "policy.toml",
        "root2.json",
        "2",
        "b2.json",
        &["k2", "k4"],
    )
    .assert()
    .success();
    // An app that embeds root v1 walks to v2, then accepts the bundle.
    keypin(d)
        .args([
            "bundle",
            "verify",
            "b2.json",
            "--root",
            "root.json",
            "--rotated",
            "root2.json",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("root v2"));
    // Without the rotation, root v1 does not trust k4.
    keypin(d)
        .args(["bundle", "verify", "b2.json", "--root", "root.json"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown key"));
}

/// Starts `keypin bundle serve DIR --listen 127.0.0.1:0` and returns it with its address.
fn serve(dir: &Path) -> (Server, String) {
    let (server, line) = common::serve(dir);
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_string();
    (server, addr)
}

fn get(addr: &str, path: &str, if_none_match: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let inm = if_none_match
        .map(|e| format!("If-None-Match: {e}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{inm}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn etag_of(response: &str) -> String {
    response
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn serve_answers_304_on_no_change() {
    let dir = setup();
    let (_server, addr) = serve(dir.path());
    let first = get(&addr, "/bundle-v1.json", None);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.contains("keypin-bundle/1"));
    let etag = etag_of(&first);
    let again = get(&addr, "/bundle-v1.json", Some(&etag));
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    assert!(again.ends_with("\r\n\r\n"), "a 304 has no body: {again}");
    // A changed file gets a new ETag and a 200.
    std::fs::copy(
        dir.path().join("policy.toml"),
        dir.path().join("bundle-v1.json"),
    )
    .unwrap();
    let changed = get(&addr, "/bundle-v1.json", Some(&etag));
    assert!(changed.starts_with("HTTP/1.1 200"), "{changed}");
    assert_ne!(etag_of(&changed), etag);
}

#[test]
fn serve_refuses_paths_outside_the_directory() {
    let dir = setup();
    let (_server, addr) = serve(dir.path());
    // "/k1" is a private signing key left in the directory: never served.
    for path in ["/../etc/passwd", "/k1/../k1", "/.hidden", "/", "/k1"] {
        let r = get(&addr, path, None);
        assert!(r.starts_with("HTTP/1.1 404"), "{path}: {r}");
    }
}

/// The real Chrome log list and Google's signature over it (keypin's CT test data).
fn ct_data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../keypin/tests/data/ct")
        .join(name)
}

/// `keypin bundle sign` of v2 into b2.json with `--ct-log-list LIST [--ct-log-list-sig SIG]`.
fn sign_with_list(d: &Path, list: &Path, sig: Option<&Path>) -> Assert {
    let mut cmd = common::sign_cmd(d, "policy.toml", "root.json", "2", "b2.json", &["k1", "k2"]);
    cmd.arg("--ct-log-list").arg(list);
    if let Some(sig) = sig {
        cmd.arg("--ct-log-list-sig").arg(sig);
    }
    cmd.assert()
}

#[test]
fn sign_carries_a_ct_log_list_and_verify_counts_its_logs() {
    let dir = setup();
    let d = dir.path();
    let list = ct_data("chrome_log_list_v3_2026-01-02.json");
    let sig = ct_data("chrome_log_list_v3_2026-01-02.json.sig");
    sign_with_list(d, &list, Some(&sig))
        .code(0)
        .stdout(predicate::str::contains("CT log list"));
    keypin(d)
        .args(["bundle", "verify", "b2.json", "--root", "root.json"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("carries a CT log list").and(predicate::str::contains("logs")),
        );
    verify_v1(d, &[])
        .code(0)
        .stdout(predicate::str::contains("carries no CT log list"));
}

#[test]
fn sign_refuses_a_ct_log_list_that_is_not_a_v3_list() {
    let dir = setup();
    let d = dir.path();
    // A policy file is not a log list; the error names the file and nothing is written.
    sign_with_list(d, Path::new("policy.toml"), None)
        .code(2)
        .stderr(
            predicate::str::contains("policy.toml")
                .and(predicate::str::contains("not a Chrome v3 CT log list")),
        );
    assert!(!d.join("b2.json").exists());
    // A signature that is not the list's own (Google's key, the other list's .sig).
    let list = ct_data("chrome_log_list_v3_2026-01-02.json");
    let sig = ct_data("chrome_log_list_v3_2022-09-20.json.sig");
    sign_with_list(d, &list, Some(&sig))
        .code(2)
        .stderr(predicate::str::contains("signature does not verify"));
    assert!(!d.join("b2.json").exists());
}
