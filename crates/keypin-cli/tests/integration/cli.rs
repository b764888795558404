//! `keypin inspect`, `check` and `demo` as a user runs them, against loopback servers.

use std::path::{Path, PathBuf};
use std::process::{Command as Std, Stdio};

use assert_cmd::Command;
use keypin::pin::Pin;
use keypin_pki::{
    CertSpec, Chain, KeyAlg, OcspResponseSpec, OcspStatus, SctSpec, ServerOptions, TestLog,
    TlsServer, issue, issue_with_scts, log_list_json, self_signed,
};
use predicates::prelude::*;
use tempfile::TempDir;

const HOST: &str = "api.keypin.test";

struct Setup {
    dir: TempDir,
    chain: Chain,
    server: TlsServer,
}

impl Setup {
    fn new() -> Self {
        let chain = Chain::generate("CLI Test", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let server = TlsServer::start(chain.server_options()).unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("root.pem"), chain.root.cert_pem()).unwrap();
        Self { dir, chain, server }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn policy(&self, pins: &[Pin]) -> PathBuf {
        let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
        let p = self.path("policy.toml");
        std::fs::write(
            &p,
            format!(
                "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n",
                pins.join(", ")
            ),
        )
        .unwrap();
        p
    }

    /// `keypin SUB api.keypin.test:PORT --connect 127.0.0.1:PORT --ca-file root.pem`
    fn cmd(&self, sub: &str) -> Command {
        let mut c = Command::cargo_bin("keypin").unwrap();
        let port = self.server.port();
        c.arg(sub)
            .arg(format!("{HOST}:{port}"))
            .arg("--connect")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--ca-file")
            .arg(self.path("root.pem"));
        c
    }
}

fn spki_pin(der_spki: &[u8]) -> Pin {
    Pin::from_spki_der(der_spki)
}

fn spare() -> Pin {
    spki_pin(&self_signed(CertSpec::ca("spare")).unwrap().spki_der())
}

#[test]
fn check_pass_names_the_matching_pin() {
    let s = Setup::new();
    let pin = spki_pin(&s.chain.intermediate.spki_der());
    let policy = s.policy(&[spare(), pin]);
    s.cmd("check")
        .arg("--policy")
        .arg(&policy)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS"))
        .stdout(predicate::str::contains(pin.to_string()))
        .stdout(predicate::str::contains("intermediate"));
}

#[test]
fn check_makes_the_ocsp_check_the_rule_asks_for() {
    let mut s = Setup::new();
    let pin = spki_pin(&s.chain.intermediate.spki_der());
    let policy = s.policy(&[spare(), pin]);
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, format!("{text}ocsp = \"require\"\n")).unwrap();
    let check = |s: &Setup| s.cmd("check").arg("--policy").arg(&policy).assert();
    // The setup's server staples nothing.
    check(&s).code(3).stdout(predicate::str::contains(
        "the server stapled no OCSP response",
    ));

    let (leaf, int) = (&s.chain.leaf, &s.chain.intermediate);
    let good = OcspResponseSpec::new(leaf, int).build().unwrap();
    let revoked = OcspResponseSpec::new(leaf, int)
        .status(OcspStatus::Revoked {
            at: time::OffsetDateTime::now_utc() - time::Duration::hours(3),
            reason: Some(1),
        })
        .build()
        .unwrap();
    for (staple, code, words) in [
        (good, 0, "PASS"),
        (revoked, 3, "the certificate was REVOKED at"),
    ] {
        let mut opts = s.chain.server_options();
        opts.ocsp = Some(staple);
        s.server = TlsServer::start(opts).unwrap();
        check(&s).code(code).stdout(predicate::str::contains(words));
    }
}

#[test]
fn check_mismatch_exits_1_and_lists_the_path() {
    let s = Setup::new();
    let expected = [spare(), spare()];
    let policy = s.policy(&expected);
    s.cmd("check")
        .arg("--policy")
        .arg(&policy)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("pin verification failed"))
        .stdout(predicate::str::contains("CN=CLI Test Issuing CA"))
        .stdout(predicate::str::contains(expected[0].to_string()))
        .stdout(predicate::str::contains(
            spki_pin(&s.chain.leaf.spki_der()).to_string(),
        ));
}

#[test]
fn check_bad_policy_exits_2_with_line() {
    let s = Setup::new();
    let p = s.path("bad.toml");
    std::fs::write(
        &p,
        "[[rule]]\nhosts = [\"*.com\"]\npins = [\"sha256/nope\"]\n",
    )
    .unwrap();
    s.cmd("check")
        .arg("--policy")
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:2"))
        .stderr(predicate::str::contains("public suffix"))
        .stderr(predicate::str::contains("bad.toml:3"))
        .stderr(predicate::str::contains("invalid pin"));
    s.cmd("check")
        .arg("--policy")
        .arg(s.path("missing.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.toml"));
}

#[test]
fn check_untrusted_chain_exits_3() {
    let s = Setup::new();
    let rogue = self_signed(CertSpec::ca("Other CA")).unwrap();
    std::fs::write(s.path("root.pem"), rogue.cert_pem()).unwrap();
    let policy = s.policy(&[spki_pin(&s.chain.intermediate.spki_der()), spare()]);
    s.cmd("check")
        .arg("--policy")
        .arg(&policy)
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("UnknownIssuer")
                .or(predicate::str::contains("unknown issuer")),
        );
}

#[test]
fn unreachable_host_exits_3() {
    // Bind and drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\n",
            spare(),
            spare()
        ),
    )
    .unwrap();
    Command::cargo_bin("keypin")
        .unwrap()
        .args([
            "check",
            HOST,
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--policy",
        ])
        .arg(&policy)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot connect"));
}

#[test]
fn usage_errors_exit_2() {
    Command::cargo_bin("keypin")
        .unwrap()
        .args(["inspect", "example.com:notaport"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a port number"));
    Command::cargo_bin("keypin")
        .unwrap()
        .arg("frobnicate")
        .assert()
        .code(2);
}

#[test]
fn inspect_json_matches_openssl() {
    let s = Setup::new();
    let out = s
        .cmd("inspect")
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let served = v["served_chain"].as_array().unwrap();
    let path = v["verified_path"].as_array().unwrap();
    assert_eq!(served.len(), 2);
    assert_eq!(path.len(), 3);
    assert_eq!(path[2]["position"], "trust anchor");
    for entry in served.iter().chain(path) {
        for key in [
            "subject",
            "issuer",
            "not_after",
            "key_type",
            "spki_sha256",
            "cert_sha256",
        ] {
            assert!(!entry[key].is_null(), "{key} missing in {entry}");
        }
    }
    assert_eq!(path[0]["key_type"], "EC P-256");

    // An independent peer: openssl fetches the chain and computes each pin.
    let chain_pem = openssl_showcerts(s.server.port());
    let certs = split_pem(&chain_pem);
    assert_eq!(certs.len(), 2);
    for (i, pem) in certs.iter().enumerate() {
        let f = s.path(&format!("served{i}.pem"));
        std::fs::write(&f, pem).unwrap();
        assert_eq!(
            served[i]["spki_sha256"],
            openssl_spki_pin(&f),
            "served [{i}]"
        );
    }
    let root = s.path("root.pem");
    assert_eq!(path[2]["spki_sha256"], openssl_spki_pin(&root));
}

#[test]
fn inspect_untrusted_needs_insecure() {
    let s = Setup::new();
    let rogue = self_signed(CertSpec::ca("Other CA")).unwrap();
    std::fs::write(s.path("root.pem"), rogue.cert_pem()).unwrap();
    s.cmd("inspect")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--insecure"));
    s.cmd("inspect")
        .arg("--insecure")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("served chain (2 certificates"))
        .stdout(predicate::str::contains("verified path: none"));
}

#[test]
fn inspect_text_shows_pins_and_dates() {
    let s = Setup::new();
    let leaf_pin = spki_pin(&s.chain.leaf.spki_der());
    s.cmd("inspect")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(leaf_pin.to_string()))
        .stdout(predicate::str::contains("days left"))
        .stdout(predicate::str::contains(
            "[2] trust anchor O=CLI Test, CN=CLI Test Root CA",
        ));
}

#[test]
fn check_sees_wrong_host_as_chain_failure() {
    // The genuine key in a certificate for another name: a pin never replaces the name check.
    let s = Setup::new();
    let other = issue(
        CertSpec::leaf(&["other.keypin.test"]).key(&s.chain.leaf),
        &s.chain.intermediate,
    )
    .unwrap();
    let server = TlsServer::start(ServerOptions::new(
        vec![other.cert.clone(), s.chain.intermediate.cert.clone()],
        other.key.clone_key(),
    ))
    .unwrap();
    let policy = s.policy(&[spki_pin(&s.chain.leaf.spki_der()), spare()]);
    let port = server.port();
    Command::cargo_bin("keypin")
        .unwrap()
        .args([
            "check",
            &format!("{HOST}:{port}"),
            "--connect",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--ca-file")
        .arg(s.path("root.pem"))
        .arg("--policy")
        .arg(&policy)
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("NotValidForName")
                .or(predicate::str::contains("not valid for")),
        );
}

#[test]
fn demo_runs_offline_and_shows_both_outcomes() {
    Command::cargo_bin("keypin")
        .unwrap()
        .arg("demo")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pinned client:   ACCEPTED"))
        .stdout(predicate::str::contains(
            "unpinned client: ACCEPTED the forgery",
        ))
        .stdout(predicate::str::contains("pinned client:   REFUSED"))
        .stdout(predicate::str::contains(
            "pin verification failed for api.bank.test",
        ))
        .stdout(predicate::str::contains("result: pinning held"));
}

fn openssl_showcerts(port: u16) -> String {
    let out = Std::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            HOST,
            "-showcerts",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn split_pem(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END CERTIFICATE") {
            out.extend(cur.take());
        }
    }
    out
}

fn openssl_spki_pin(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Std::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn closed_stdout_ends_quietly_without_a_panic() {
    use std::io::{BufRead as _, BufReader};
    let dir = TempDir::new().unwrap();
    let chain = Chain::generate("Pipe", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let cert = dir.path().join("c.pem");
    std::fs::write(&cert, chain.leaf.cert_pem()).unwrap();
    // Far more output than a pipe buffer holds, so writes hit the closed pipe.
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("keypin"))
        .arg("pin")
        .args(std::iter::repeat_n(&cert, 4000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("sha256/"), "{first}");
    // The reader is gone (dropped above); keypin must stop with the SIGPIPE status, silently.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `keypin check --ct-log-list`: a rule with `require_sct` counts the served leaf's SCTs
/// against a signed log list; without a list it refuses; a list with a bad signature is refused.
#[test]
fn check_with_require_sct() {
    let chain = Chain::generate("CLI CT", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let logs = [
        TestLog::generate("Log A", "Operator A").unwrap(),
        TestLog::generate("Log B", "Operator B").unwrap(),
    ];
    let signer = TestLog::generate("signer", "").unwrap();
    let json = log_list_json(
        "1",
        "2026-01-01T00:00:00Z",
        &[
            (
                "Operator A",
                vec![logs[0].list_entry_json("2020-01-01T00:00:00Z", None)],
            ),
            (
                "Operator B",
                vec![logs[1].list_entry_json("2020-01-01T00:00:00Z", None)],
            ),
        ],
    );
    let dir = TempDir::new().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let list = file("log_list.json", json.as_bytes());
    file("log_list.json.sig", &signer.sign(json.as_bytes()).unwrap());
    let key = file("list-key.pem", signer.public_key_pem().as_bytes());
    let root = file("root.pem", chain.root.cert_pem().as_bytes());
    let pins = [spki_pin(&chain.intermediate.spki_der()), spare()];
    let policy = file(
        "policy.toml",
        format!(
            "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\nrequire_sct = \"chrome\"\n",
            pins[0], pins[1]
        )
        .as_bytes(),
    );
    let ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
        - 60_000;
    let serve = |n: usize| {
        let scts: Vec<SctSpec<'_>> = logs[..n]
            .iter()
            .map(|log| SctSpec {
                log,
                timestamp_ms: ms,
                corrupt_signature: false,
            })
            .collect();
        let now = time::OffsetDateTime::now_utc();
        let leaf = issue_with_scts(
            CertSpec::leaf(&[HOST]).validity(
                now - time::Duration::days(1),
                now + time::Duration::days(60),
            ),
            &chain.intermediate,
            &scts,
        )
        .unwrap();
        TlsServer::start(ServerOptions::new(
            vec![leaf.cert.clone(), chain.intermediate.cert.clone()],
            leaf.key.clone_key(),
        ))
        .unwrap()
    };
    let check = |server: &TlsServer, extra: &[&std::ffi::OsStr]| {
        let port = server.port();
        let mut c = Command::cargo_bin("keypin").unwrap();
        c.arg("check")
            .arg(format!("{HOST}:{port}"))
            .arg("--connect")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--ca-file")
            .arg(&root)
            .arg("--policy")
            .arg(&policy)
            .args(extra);
        c.assert()
    };
    let with_list = [
        std::ffi::OsStr::new("--ct-log-list"),
        list.as_os_str(),
        std::ffi::OsStr::new("--ct-log-list-key"),
        key.as_os_str(),
    ];
    let good = serve(2);
    check(&good, &with_list)
        .code(0)
        .stdout(predicate::str::contains("PASS"));
    check(&good, &[])
        .code(1)
        .stdout(predicate::str::contains("no CT log list is configured"));
    // Google's key (the default) did not sign this list.
    check(&good, &with_list[..2])
        .code(2)
        .stderr(predicate::str::contains("signature does not verify"));
    let poor = serve(1);
    check(&poor, &with_list)
        .code(1)
        .stdout(predicate::str::contains(
            "certificate transparency check failed",
        ))
        .stdout(predicate::str::contains("Log A (Operator A)"))
        .stdout(predicate::str::contains("found 1"));
}
