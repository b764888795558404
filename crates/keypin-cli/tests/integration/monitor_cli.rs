//! `keypin monitor` over loopback servers: verdicts per policy, backup pins, exit codes, HTML.

use assert_cmd::Command;
use keypin::pin::Pin;
use keypin_pki::{CertSpec, Chain, KeyAlg, TlsServer, self_signed};
use tempfile::TempDir;

#[test]
fn two_policies_backups_and_html() {
    let hosts = ["a.mon.test", "b.mon.test"];
    let chain = Chain::generate("Mon", &hosts, KeyAlg::EcdsaP256).unwrap();
    let servers: Vec<TlsServer> = hosts
        .iter()
        .map(|_| TlsServer::start(chain.server_options()).unwrap())
        .collect();
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::write(d.join("root.pem"), chain.root.cert_pem()).unwrap();
    let held = self_signed(CertSpec::ca("held spare")).unwrap();
    let lost = self_signed(CertSpec::ca("lost spare")).unwrap();
    std::fs::create_dir(d.join("spares")).unwrap();
    std::fs::write(d.join("spares/held.key"), held.key_pem()).unwrap();
    let pin = |i: &keypin_pki::Issued| Pin::from_spki_der(&i.spki_der()).to_string();
    let current = format!(
        "[[rule]]\nhosts = [\"a.mon.test\", \"b.mon.test\"]\npins = [\"{}\", \"{}\"]\nexpires = \"2099-01-01\"\n",
        pin(&chain.intermediate),
        pin(&held)
    );
    // An app version in the field that still pins a key the servers no longer use.
    let old = format!(
        "[[rule]]\nhosts = [\"a.mon.test\", \"b.mon.test\"]\npins = [\"{}\", \"{}\"]\n",
        pin(&lost),
        pin(&held)
    );
    std::fs::write(d.join("current.toml"), current).unwrap();
    std::fs::write(d.join("old.toml"), old).unwrap();
    let resolve: String = hosts
        .iter()
        .zip(&servers)
        .map(|(h, s)| format!("{h} {}\n", s.addr()))
        .collect();
    std::fs::write(d.join("resolve.txt"), resolve).unwrap();

    let out = Command::cargo_bin("keypin")
        .unwrap()
        .current_dir(d)
        .args([
            "monitor",
            "current.toml",
            "old.toml",
            "--resolve-file",
            "resolve.txt",
            "--ca-file",
            "root.pem",
        ])
        .args(["--spare-keys", "spares", "--json", "--html", "report.html"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, host) in hosts.iter().enumerate() {
        let r = &v[i];
        assert_eq!(r["host"], *host);
        assert_eq!(r["policies"][0]["verdict"], "pass");
        assert_eq!(r["policies"][0]["position"], "intermediate 1");
        assert_eq!(r["policies"][0]["matched_pin"], pin(&chain.intermediate));
        assert!(r["policies"][0]["pin_set_days_left"].as_i64().unwrap() > 20_000);
        assert_eq!(r["policies"][1]["verdict"], "mismatch");
        assert_eq!(
            r["backup_pins"],
            serde_json::json!([{ "pin": pin(&held), "held": true }])
        );
        assert!(r["cert_days_left"].as_i64().unwrap() >= 364);
    }
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.contains("<svg id=\"timeline\""));
    assert_eq!(html.matches("<rect class=\"cert\"").count(), 2);
    assert!(html.contains("a.mon.test"));
}

#[test]
fn unreachable_host_exits_3() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let spare =
        || Pin::from_spki_der(&self_signed(CertSpec::ca("s")).unwrap().spki_der()).to_string();
    std::fs::write(
        d.join("p.toml"),
        format!(
            "[[rule]]\nhosts = [\"down.mon.test\"]\npins = [\"{}\", \"{}\"]\n",
            spare(),
            spare()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Command::cargo_bin("keypin")
        .unwrap()
        .current_dir(d)
        .args([
            "monitor",
            "p.toml",
            "--resolve",
            &format!("down.mon.test=127.0.0.1:{port}"),
        ])
        .assert()
        .code(3)
        .stdout(predicates::str::contains("down.mon.test"))
        .stdout(predicates::str::contains("ERROR"));
}
