//! `keypin lint`: each finding in a fixture made for it, and nothing in a clean policy.

use std::path::PathBuf;

use assert_cmd::Command;
use keypin::pin::Pin;
use keypin_pki::{CertSpec, Chain, Issued, KeyAlg, ServerOptions, TlsServer, issue, self_signed};
use tempfile::TempDir;

const HOST: &str = "api.lint.test";

fn pin(i: &Issued) -> String {
    Pin::from_spki_der(&i.spki_der()).to_string()
}

fn spare() -> String {
    pin(&self_signed(CertSpec::ca("spare")).unwrap())
}

struct Live {
    dir: TempDir,
    server: TlsServer,
}

impl Live {
    fn new(chain: &Chain, leaf: &Issued) -> Self {
        let server = TlsServer::start(ServerOptions::new(
            vec![leaf.cert.clone(), chain.intermediate.cert.clone()],
            leaf.key.clone_key(),
        ))
        .unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("root.pem"), chain.root.cert_pem()).unwrap();
        Self { dir, server }
    }

    fn policy(&self, pins: &[String], extra: &str) -> PathBuf {
        let p = self.dir.path().join("policy.toml");
        let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
        std::fs::write(
            &p,
            format!(
                "[[rule]]\nhosts = [\"{HOST}\"]\npins = [{}]\n{extra}\n",
                pins.join(", ")
            ),
        )
        .unwrap();
        p
    }

    /// Runs `keypin lint --live --json` and returns (exit code, finding ids).
    fn lint(&self, policy: &PathBuf) -> (i32, Vec<String>) {
        self.lint_with(policy, &[])
    }

    /// The same with extra arguments.
    fn lint_with(&self, policy: &PathBuf, extra: &[&str]) -> (i32, Vec<String>) {
        let port = self.server.port();
        let out = Command::cargo_bin("keypin")
            .unwrap()
            .arg("lint")
            .arg(policy)
            .args(extra)
            .args(["--live", "--json", "--port", &port.to_string()])
            .arg("--resolve")
            .arg(format!("{HOST}=127.0.0.1:{port}"))
            .arg("--ca-file")
            .arg(self.dir.path().join("root.pem"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let ids = v
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        (out.status.code().unwrap(), ids)
    }
}

#[test]
fn clean_policy_has_no_findings() {
    let chain = Chain::generate("Clean", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let live = Live::new(&chain, &chain.leaf);
    let p = live.policy(&[pin(&chain.leaf), spare()], "expires = \"2099-01-01\"");
    assert_eq!(live.lint(&p), (0, vec![]));
}

#[test]
fn live_findings() {
    let chain = Chain::generate("Some CA", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let live = Live::new(&chain, &chain.leaf);
    // No pin matches what is served: error.
    let p = live.policy(&[spare(), spare()], "");
    assert_eq!(live.lint(&p), (2, vec!["KP020".to_string()]));
    // Every pin is on the served chain: no backup. All of one CA operator too.
    let p = live.policy(&[pin(&chain.intermediate), pin(&chain.root)], "");
    let (code, ids) = live.lint(&p);
    assert_eq!(code, 0);
    assert_eq!(ids, ["KP021", "KP024"]);

    // Pins at the wrong position match nothing the verifier counts (pin_position, leaf_pins).
    for extra in [
        "pin_position = \"leaf\"".to_string(),
        format!(
            "pin_position = \"ca\"\nleaf_pins = [\"{}\", \"{}\"]",
            spare(),
            spare()
        ),
    ] {
        let p = live.policy(&[pin(&chain.intermediate), spare()], &extra);
        assert_eq!(live.lint(&p), (2, vec!["KP020".to_string()]), "{extra}");
    }
    let p = live.policy(
        &[pin(&chain.intermediate), spare()],
        "pin_position = \"ca\"",
    );
    assert_eq!(live.lint(&p).0, 0);

    // A short-lived leaf is the only thing pinned.
    let now = time::OffsetDateTime::now_utc();
    let short = issue(
        CertSpec::leaf(&[HOST]).validity(
            now - time::Duration::days(1),
            now + time::Duration::days(60),
        ),
        &chain.intermediate,
    )
    .unwrap();
    let live = Live::new(&chain, &short);
    let p = live.policy(&[pin(&short), spare()], "");
    assert_eq!(live.lint(&p).1, ["KP022"]);
}

#[test]
fn unused_pins_need_the_served_chain_and_the_keys_you_hold() {
    let chain = Chain::generate("Unused CA", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let live = Live::new(&chain, &chain.leaf);
    let spares = live.dir.path().join("spares");
    std::fs::create_dir(&spares).unwrap();
    let held = self_signed(CertSpec::ca("held spare")).unwrap();
    std::fs::write(spares.join("held.key"), held.key_pem()).unwrap();
    // A certificate proves nothing about holding the key: it must not count as held.
    let cert_only = self_signed(CertSpec::ca("certificate only")).unwrap();
    std::fs::write(spares.join("other.pem"), cert_only.cert_pem()).unwrap();
    let dir = spares.to_str().unwrap();

    // Served leaf + a spare you hold: nothing unused.
    let p = live.policy(&[pin(&chain.leaf), pin(&held)], "expires = \"2099-01-01\"");
    assert_eq!(live.lint_with(&p, &["--spare-keys", dir]), (0, vec![]));
    // A backup pin whose key nobody holds (only its certificate is there): unused.
    let p = live.policy(
        &[pin(&chain.leaf), pin(&cert_only)],
        "expires = \"2099-01-01\"",
    );
    assert_eq!(
        live.lint_with(&p, &["--spare-keys", dir, "--strict"]),
        (1, vec!["KP031".to_string()])
    );
    // Without --spare-keys keypin cannot know, and says nothing.
    assert_eq!(live.lint(&p), (0, vec![]));
}

#[test]
fn rotating_intermediate_operator() {
    let chain = Chain::generate("Let's Encrypt", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let live = Live::new(&chain, &chain.leaf);
    let p = live.policy(&[pin(&chain.intermediate), spare()], "");
    assert_eq!(live.lint(&p).1, ["KP023"]);
}

#[test]
fn static_findings_and_exit_codes() {
    let dir = TempDir::new().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (a, b) = (spare(), spare());
    // (file, expected ids, expected exit with --strict)
    let rows = [
        (
            write(
                "expired.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\", \"{b}\"]\nexpires = \"2020-01-01\"\n"
                ),
            ),
            vec!["KP010"],
            2,
        ),
        (
            write(
                "soon.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\", \"{b}\"]\nexpires = \"{}\"\n",
                    soon()
                ),
            ),
            vec!["KP011"],
            1,
        ),
        (
            write(
                "report.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\"]\nmode = \"report-only\"\n"
                ),
            ),
            vec!["KP001", "KP050"],
            1,
        ),
        (
            write(
                "duplicate.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\", \"{b}\", \"{a}\"]\n"
                ),
            ),
            vec!["KP030"],
            2,
        ),
        (
            write(
                "broken.toml",
                format!("[[rule]]\nhosts = [\"**.com\"]\npins = [\"{a}\", \"{b}\"]\n"),
            ),
            vec!["KP000"],
            2,
        ),
        (
            write(
                "nsc.xml",
                format!(
                    "<network-security-config>\n<domain-config cleartextTrafficPermitted=\"true\">\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-256\">{}</pin>\n<pin digest=\"SHA-256\">{}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>\n",
                    &a[7..],
                    &b[7..]
                ),
            ),
            vec!["KP040"],
            2,
        ),
        (
            write(
                "single_pin_may_brick.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\"]\nsingle_pin_may_brick = true\n"
                ),
            ),
            vec!["KP001"],
            1,
        ),
        (
            write(
                "public_suffix.toml",
                format!(
                    "[[rule]]\nhosts = [\"**.github.io\"]\npins = [\"{a}\", \"{b}\"]\npublic_suffix_covers_others = true\n"
                ),
            ),
            vec!["KP002"],
            1,
        ),
        (
            write(
                "bad_pin_is_a_pin.toml",
                format!(
                    "[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\", \"{b}\"]\nbad_pins = [\"{b}\"]\n"
                ),
            ),
            vec!["KP032"],
            2,
        ),
        (
            write(
                "clean.toml",
                format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"{a}\", \"{b}\"]\n"),
            ),
            vec![],
            0,
        ),
    ];
    for (file, ids, code) in rows {
        let out = Command::cargo_bin("keypin")
            .unwrap()
            .arg("lint")
            .arg(&file)
            .args(["--json", "--strict"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ids, "{}", file.display());
        assert_eq!(out.status.code(), Some(code), "{}", file.display());
        // The opt-outs are warnings: without --strict they pass.
        if code == 1 {
            let plain = Command::cargo_bin("keypin")
                .unwrap()
                .arg("lint")
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(plain.status.code(), Some(0), "{}", file.display());
        }
    }
}

/// A date ten days from now.
fn soon() -> String {
    let d = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A host pattern with an empty label (`api.example.com..`) would never match a server, so the
/// host would be silently unpinned: lint refuses it with its file and line, in a keypin policy
/// and in an imported Android config alike.
#[test]
fn host_pattern_with_two_trailing_dots_is_refused_with_its_line() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (spare(), spare());
    let toml = dir.path().join("policy.toml");
    std::fs::write(
        &toml,
        format!("# pins for the API\n\n[[rule]]\nhosts = [\"api.example.com..\"]\npins = [\"{a}\", \"{b}\"]\n"),
    )
    .unwrap();
    let digest = |p: &str| p.trim_start_matches("sha256/").to_string();
    let xml = dir.path().join("network_security_config.xml");
    std::fs::write(
        &xml,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<network-security-config>\n  <domain-config>\n    \
             <domain>api.example.com..</domain>\n    <pin-set>\n      <pin digest=\"SHA-256\">{}</pin>\n      \
             <pin digest=\"SHA-256\">{}</pin>\n    </pin-set>\n  </domain-config>\n</network-security-config>\n",
            digest(&a),
            digest(&b)
        ),
    )
    .unwrap();
    // (file, location the finding must name)
    let rows = [
        (&toml, format!("{}:4", toml.display())),
        (&xml, format!("{}:3", xml.display())),
    ];
    for (file, location) in rows {
        let out = Command::cargo_bin("keypin")
            .unwrap()
            .arg("lint")
            .arg(file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        assert!(stdout.contains(&location), "{location}: {stdout}");
        assert!(
            stdout.contains("\"api.example.com..\" has an empty label"),
            "{stdout}"
        );
    }
}

/// `keypin lint` reads a policy from disk: its anchor files are read relative to the policy
/// file, whatever the working directory (only text and bundles are limited to inline PEM).
#[test]
fn lint_reads_anchor_files_relative_to_the_policy_file() {
    let dir = TempDir::new().unwrap();
    let ca = self_signed(CertSpec::ca("Lint anchor CA")).unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/ca.pem"), ca.cert_pem()).unwrap();
    let policy = dir.path().join("conf/policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\ntrust_anchors = [\"ca.pem\"]\n\
             expires = \"2099-01-01\"\n",
            pin(&ca),
            spare()
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("keypin")
        .unwrap()
        .current_dir(dir.path())
        .args(["lint", "conf/policy.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("trust_anchors"), "{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
}

/// Linting an Android NSC shows what the importer read the platform's way (KP060, info: exit
/// 0 even with --strict) and what Android refuses (KP000, error: exit 2).
#[test]
fn lint_nsc_shows_import_notes_and_android_refusals() {
    let dir = TempDir::new().unwrap();
    let a = spare();
    let b = spare();
    let b64 = |p: &str| p.trim_start_matches("sha256/").to_string();
    let ok = dir.path().join("ok.xml");
    std::fs::write(
        &ok,
        format!(
            "<network-security-config>\n<domain-config cleartextTrafficPermitted=\"false\">\n<domain>api.lint.test</domain>\n<pin-set>\n<pin digest=\"SHA-256\">{}</pin>\n<pin digest=\"SHA-256\">{}</pin>\n<pin digest=\"SHA-256\">{}</pin>\n</pin-set>\n</domain-config>\n</network-security-config>\n",
            b64(&a),
            b64(&b),
            b64(&a)
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("keypin")
        .unwrap()
        .args(["lint", "--strict"])
        .arg(&ok)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok.xml:7: info KP060: pin sha256/") && stdout.contains("listed twice"),
        "{stdout}"
    );
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&ok).unwrap().replace(
            "<domain>api.lint.test</domain>",
            "<domain>api.lint.test</domain>\n<domain>API.lint.test</domain>",
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("keypin")
        .unwrap()
        .arg("lint")
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout
            .contains("bad.xml:4: error KP000: api.lint.test has already been specified at line 3"),
        "{stdout}"
    );
}
