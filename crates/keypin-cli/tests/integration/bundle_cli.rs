//! `keypin bundle` as a user runs it: keys, roots, signing, verification with its exit codes,
//! rotation, `serve` with ETag / If-None-Match on loopback, and `apply` (one updater cycle on a
//! state directory, from a directory or from `serve`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;

use assert_cmd::assert::Assert;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::common;
use crate::common::{Server, keypin, run_ok};

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

/// A signed bundle must never make the app read a local file: `sign` refuses a policy whose
/// trust anchor names a file (even one that exists and holds a CA) and says to inline the PEM.
#[test]
fn sign_refuses_a_policy_naming_a_trust_anchor_file() {
    let dir = setup();
    let d = dir.path();
    let ca = keypin_pki::self_signed(keypin_pki::CertSpec::ca("Private CA")).unwrap();
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(
        d.join("policy.toml"),
        format!("{POLICY}trust_anchors = [\"ca.pem\"]\n"),
    )
    .unwrap();
    sign(d, "2", "b2.json", &["k1", "k2"])
        .code(2)
        .stderr(predicate::str::contains("rule[0].trust_anchors[0]"))
        .stderr(predicate::str::contains("inline PEM"))
        .stderr(predicate::str::contains("-----BEGIN CERTIFICATE-----"));
    assert!(!d.join("b2.json").exists());
    // Inlined, the same anchor signs.
    std::fs::write(
        d.join("policy.toml"),
        format!("{POLICY}trust_anchors = ['''{}''']\n", ca.cert_pem()),
    )
    .unwrap();
    sign(d, "2", "b2.json", &["k1", "k2"]).success();
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

/// `setup()` plus `site/bundle.json` (v1) and an empty state directory `state/`.
fn apply_setup() -> TempDir {
    let dir = setup();
    let d = dir.path();
    std::fs::create_dir(d.join("site")).unwrap();
    std::fs::create_dir(d.join("state")).unwrap();
    std::fs::copy(d.join("bundle-v1.json"), d.join("site/bundle.json")).unwrap();
    dir
}

/// `keypin bundle apply --state state --root ROOT --app-id APP --env production --from FROM EXTRA`.
fn apply(d: &Path, root: &str, app_id: &str, from: &str, extra: &[&str]) -> Assert {
    keypin(d)
        .args(["bundle", "apply", "--state", "state", "--root", root])
        .args(["--app-id", app_id, "--env", "production", "--from", from])
        .args(extra)
        .assert()
}

/// Applies from `site/` as com.example.app and expects success.
fn apply_ok(d: &Path) {
    apply(d, "root.json", "com.example.app", "site", &[]).code(0);
}

/// Where a case applies from; a server started for it lives as long as this.
struct From {
    from: String,
    _server: Option<Server>,
}

fn from_dir(_: &Path) -> From {
    From {
        from: "site".into(),
        _server: None,
    }
}

fn from_serve(d: &Path) -> From {
    let (server, addr) = serve(&d.join("site"));
    From {
        from: format!("http://{addr}/"),
        _server: Some(server),
    }
}

struct ApplyCase {
    name: &'static str,
    /// Prepares the site and the state, and says where to apply from.
    prepare: fn(&Path) -> From,
    root: &'static str,
    app_id: &'static str,
    extra: &'static [&'static str],
    code: i32,
    stdout: &'static [&'static str],
    stderr: &'static [&'static str],
}

const APP: &str = "com.example.app";

fn apply_cases() -> Vec<ApplyCase> {
    vec![
        ApplyCase {
            name: "first run from a directory: updated",
            prepare: from_dir,
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 0,
            stdout: &[
                "updated to v1\n",
                "started on:      embedded policy (nothing stored)",
                "high-water mark: none -> v1",
                "root:            v1 -> v1 (0 rotations walked)",
                "in force now:    bundle v1",
            ],
            stderr: &[],
        },
        ApplyCase {
            name: "first run from bundle serve: updated",
            prepare: from_serve,
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 0,
            stdout: &["updated to v1\n", "high-water mark: none -> v1"],
            stderr: &[],
        },
        ApplyCase {
            name: "second run from a directory: unchanged",
            prepare: |d| {
                apply_ok(d);
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 0,
            stdout: &[
                "unchanged\n",
                "started on:      stored bundle v1",
                "high-water mark: v1 -> v1",
            ],
            stderr: &[],
        },
        ApplyCase {
            name: "second run from bundle serve: unchanged (304)",
            prepare: |d| {
                apply_ok(d);
                from_serve(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 0,
            stdout: &["unchanged\n", "in force now:    bundle v1"],
            stderr: &[],
        },
        ApplyCase {
            name: "rollback to v1 after v2: refused, v2 stays",
            prepare: |d| {
                sign(d, "2", "site/bundle.json", &["k1", "k2"]).success();
                apply_ok(d);
                std::fs::copy(d.join("bundle-v1.json"), d.join("site/bundle.json")).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 1,
            stdout: &[
                "refused: rolled back",
                "high-water mark: v2 -> v2",
                "in force now:    bundle v2",
            ],
            stderr: &[],
        },
        ApplyCase {
            name: "bundle for another app: refused",
            prepare: from_dir,
            root: "root.json",
            app_id: "com.other.app",
            extra: &[],
            code: 1,
            stdout: &["refused: wrong app", "in force now:    embedded policy"],
            stderr: &[],
        },
        ApplyCase {
            name: "device clock set back: refused before fetching",
            prepare: |d| {
                apply_ok(d);
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &["--now", "2020-01-01T00:00:00Z"],
            code: 1,
            stdout: &["refused: clock set back", "in force now:    bundle v1"],
            stderr: &[],
        },
        ApplyCase {
            name: "unreadable root file: usage",
            prepare: from_dir,
            root: "no-such-root.json",
            app_id: APP,
            extra: &[],
            code: 2,
            stdout: &[],
            stderr: &["--root: cannot read no-such-root.json"],
        },
        ApplyCase {
            name: "a bundle given as the root: usage",
            prepare: from_dir,
            root: "bundle-v1.json",
            app_id: APP,
            extra: &[],
            code: 2,
            stdout: &[],
            stderr: &["--root bundle-v1.json is not a valid root"],
        },
        ApplyCase {
            name: "--embedded-policy that does not validate: usage",
            prepare: |d| {
                std::fs::write(d.join("bad.toml"), "[[rule]]\nhosts = [\"*.com\"]\n").unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &["--embedded-policy", "bad.toml"],
            code: 2,
            stdout: &[],
            stderr: &["--embedded-policy bad.toml does not validate"],
        },
        ApplyCase {
            name: "--now not RFC 3339: usage",
            prepare: from_dir,
            root: "root.json",
            app_id: APP,
            extra: &["--now", "2026-12-01"],
            code: 2,
            stdout: &[],
            stderr: &["is not an RFC 3339 time"],
        },
        ApplyCase {
            name: "nothing listens at the URL: fetch failed",
            prepare: |_| {
                // A port that was free a moment ago: connection refused on loopback.
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                From {
                    from: format!("http://127.0.0.1:{port}/"),
                    _server: None,
                }
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 3,
            stdout: &["fetch failed: ", "in force now:    embedded policy"],
            stderr: &[],
        },
        ApplyCase {
            name: "no bundle.json in the site: fetch failed",
            prepare: |d| {
                std::fs::remove_file(d.join("site/bundle.json")).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 3,
            stdout: &["fetch failed: no bundle \"bundle.json\" is published"],
            stderr: &[],
        },
        ApplyCase {
            name: "bundle.json one byte over the cap: refused, never read past it",
            prepare: |d| {
                let big = vec![b' '; keypin::live::bundle::DEFAULT_MAX_BUNDLE_BYTES + 1];
                std::fs::write(d.join("site/bundle.json"), big).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 1,
            stdout: &["refused: ", "over the 1048576-byte cap"],
            stderr: &[],
        },
        ApplyCase {
            name: "root-2.json over the root cap: refused, no rotation",
            prepare: |d| {
                let big = vec![b' '; keypin::live::bundle::MAX_ROOT_BYTES + 1];
                std::fs::write(d.join("site/root-2.json"), big).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 1,
            stdout: &["over the 65536-byte cap", "root:            v1 -> v1"],
            stderr: &[],
        },
        ApplyCase {
            name: "--state that does not exist: usage",
            prepare: |d| {
                std::fs::remove_dir(d.join("state")).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 2,
            stdout: &[],
            stderr: &["--state state is not a directory"],
        },
        ApplyCase {
            name: "root-2.json published: one rotation walked, then v2",
            prepare: |d| {
                apply_ok(d);
                run_ok(d, &["bundle", "keygen", "--out", "k4"]);
                rotate_root(d, &["k1", "k2", "k4"]).success();
                std::fs::copy(d.join("root2.json"), d.join("site/root-2.json")).unwrap();
                common::sign_cmd(
                    d,
                    "policy.toml",
                    "root2.json",
                    "2",
                    "site/bundle.json",
                    &["k2", "k4"],
                )
                .assert()
                .success();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 0,
            stdout: &[
                "updated to v2\n",
                "root:            v1 -> v2 (1 rotation walked)",
                // v1's signers (k1, k3) are not keys of root 2: fast-forward recovery.
                "rotation:        v1 -> v2 (mark reset)",
                "high-water mark: v1 -> v2",
            ],
            stderr: &[],
        },
        ApplyCase {
            name: "root renewal with the same keys keeps the mark: v1 replayed after v2 refused",
            prepare: |d| {
                apply_ok(d);
                sign(d, "2", "site/bundle.json", &["k1", "k3"]).success();
                apply_ok(d);
                keypin(d)
                    .args(["bundle", "rotate-root", "--old", "root.json"])
                    .args([
                        "--key-new",
                        "k1.pub",
                        "--key-new",
                        "k2.pub",
                        "--key-new",
                        "k3.pub",
                    ])
                    .args(["--sign-with", "k1", "--sign-with", "k2"])
                    .args(["--out", "site/root-2.json"])
                    .assert()
                    .success();
                std::fs::copy(d.join("bundle-v1.json"), d.join("site/bundle.json")).unwrap();
                from_dir(d)
            },
            root: "root.json",
            app_id: APP,
            extra: &[],
            code: 1,
            stdout: &[
                "refused: rolled back: bundle version 1 is not above the highest version seen, 2",
                "rotation:        v1 -> v2 (mark kept)",
                "high-water mark: v2 -> v2",
            ],
            stderr: &[],
        },
    ]
}

#[test]
fn apply_runs_one_updater_cycle_with_documented_exit_codes() {
    for case in apply_cases() {
        let dir = apply_setup();
        let d = dir.path();
        let from = (case.prepare)(d);
        let out = apply(d, case.root, case.app_id, &from.from, case.extra);
        let output = out.get_output();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(case.code),
            "{}: stdout {stdout} stderr {stderr}",
            case.name
        );
        for want in case.stdout {
            assert!(
                stdout.contains(want),
                "{}: want {want:?} in {stdout}",
                case.name
            );
        }
        for want in case.stderr {
            assert!(
                stderr.contains(want),
                "{}: want {want:?} in {stderr}",
                case.name
            );
        }
    }
}

#[test]
fn apply_json_is_one_object_with_the_decision_and_the_marks() {
    let dir = apply_setup();
    let d = dir.path();
    let out = apply(d, "root.json", APP, "site", &["--json"]).code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "decision": "updated",
            "version": 1,
            "reason": null,
            "started_on": "embedded",
            "stored_version": null,
            "stored_ignored": null,
            "mark_before": null,
            "mark_after": 1,
            "root_before": 1,
            "root_after": 1,
            "rotations_walked": 0,
            "rotations": [],
            "in_force_version": 1,
            "exit_code": 0,
        })
    );
    // A refusal is one object too, with its reason and exit code.
    let out = apply(d, "root.json", "com.other.app", "site", &["--json"]).code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["decision"], "refused");
    assert!(v["reason"].as_str().unwrap().contains("wrong app"), "{v}");
    assert_eq!(v["exit_code"], 1);
    // The stored state belongs to com.other.app's check now: v1 for com.example.app is not
    // for it, so it started on the embedded policy and says why.
    assert_eq!(v["started_on"], "embedded");
    assert!(v["stored_ignored"].as_str().is_some(), "{v}");
}

/// Every file directly inside `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn apply_on_a_copy_of_a_state_dir_leaves_the_original_unchanged() {
    let dir = apply_setup();
    let d = dir.path();
    apply_ok(d);
    // The device's state directory, and a copy of it for the dry run of v2.
    std::fs::rename(d.join("state"), d.join("device-state")).unwrap();
    std::fs::create_dir(d.join("state")).unwrap();
    for (path, bytes) in snapshot(&d.join("device-state")) {
        std::fs::write(d.join("state").join(path.file_name().unwrap()), bytes).unwrap();
    }
    let original = snapshot(&d.join("device-state"));
    sign(d, "2", "site/bundle.json", &["k1", "k2"]).success();
    apply(d, "root.json", APP, "site", &[])
        .code(0)
        .stdout(predicate::str::contains("updated to v2"));
    assert_eq!(snapshot(&d.join("device-state")), original);
    assert_ne!(snapshot(&d.join("state")), original, "the copy was updated");
}

#[test]
fn apply_help_documents_exit_codes_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let help = run_ok(dir.path(), &["bundle", "apply", "--help"]);
    for want in [
        "0 updated or unchanged",
        "1 refused",
        "2 usage or unreadable input",
        "3 the fetch failed",
        "updated to vN | unchanged | refused: REASON",
        "--json",
    ] {
        assert!(help.contains(want), "want {want:?} in {help}");
    }
}

/// An HTTPS site on loopback (keypin-pki's TLS server, which answers every path with its fixed
/// greeting) with a certificate for 127.0.0.1 under a test root written to `ca.pem`.
fn https_site(d: &Path) -> (keypin_pki::TlsServer, String, keypin::pin::Pin) {
    use keypin_pki::{CertSpec, KeyAlg, ServerOptions, TlsServer, issue, self_signed};
    let root = self_signed(CertSpec::ca("Update Host Root CA").key_alg(KeyAlg::EcdsaP256)).unwrap();
    let leaf = issue(
        CertSpec::leaf(&[])
            .ip_sans(&["127.0.0.1".parse().unwrap()])
            .key_alg(KeyAlg::EcdsaP256),
        &root,
    )
    .unwrap();
    std::fs::write(d.join("ca.pem"), root.cert_pem()).unwrap();
    let server = TlsServer::start(ServerOptions::new(
        vec![leaf.cert.clone()],
        leaf.key.clone_key(),
    ))
    .unwrap();
    let url = format!("https://127.0.0.1:{}/", server.port());
    (
        server,
        url,
        keypin::pin::Pin::from_spki_der(&leaf.spki_der()),
    )
}

#[test]
fn apply_from_https_validates_the_chain_and_the_embedded_pins() {
    let dir = apply_setup();
    let d = dir.path();
    let (_server, url, leaf_pin) = https_site(d);
    // Not trusted without its root: the fetch fails, nothing is read.
    apply(d, "root.json", APP, &url, &[]).code(3).stdout(
        predicate::str::contains("fetch failed: ").and(predicate::str::contains("UnknownIssuer")),
    );
    // Trusted: the TLS exchange completes and the updater judges what came back (the server's
    // greeting is no root-2.json), so the refusal is the updater's.
    apply(d, "root.json", APP, &url, &["--ca-file", "ca.pem"])
        .code(1)
        .stdout(predicate::str::contains("refused: malformed root"));
    // The update host is pinned by the policy in force, as in the app: a wrong pin fails the
    // fetch, the right one lets it through.
    // Two pins of keys the server does not hold, and the server's own key with a backup.
    let (spare1, spare2) = (
        "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
        "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=",
    );
    let pinned = |a: &str, b: &str| {
        format!("[[rule]]\nhosts = [\"127.0.0.1\"]\npins = [\"{a}\", \"{b}\"]\n")
    };
    std::fs::write(d.join("wrong.toml"), pinned(spare1, spare2)).unwrap();
    std::fs::write(d.join("right.toml"), pinned(&leaf_pin.to_string(), spare1)).unwrap();
    apply(
        d,
        "root.json",
        APP,
        &url,
        &["--ca-file", "ca.pem", "--embedded-policy", "wrong.toml"],
    )
    .code(3)
    .stdout(
        predicate::str::contains("fetch failed: ").and(predicate::str::contains(
            "pin verification failed for 127.0.0.1",
        )),
    );
    apply(
        d,
        "root.json",
        APP,
        &url,
        &["--ca-file", "ca.pem", "--embedded-policy", "right.toml"],
    )
    .code(1)
    .stdout(predicate::str::contains("refused: malformed root"));
}
