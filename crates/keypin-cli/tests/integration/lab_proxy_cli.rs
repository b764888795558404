//! `keypin lab proxy` and `lab run`'s `{proxy}` as a user runs them: curl through the cycling
//! proxy to a genuine loopback server, the table, JSON and JUnit it leaves, clients that cannot
//! resolve the lab's names reaching every scenario through `{proxy}`, and bad input refused.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use keypin_pki::{Chain, KeyAlg, TlsServer};
use serde_json::Value;

fn keypin() -> Command {
    Command::new(cargo_bin("keypin"))
}

/// Runs `keypin lab run --json ARGS`; the outcome per scenario id.
fn lab_run(args: &[&str]) -> Vec<(String, String)> {
    let out = keypin()
        .args(["lab", "run", "--json"])
        .args(args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn curl_through_the_proxy_placeholder_is_judged_as_directly() {
    let pinned = "curl -sS --max-time 4 --cacert {ca_file} --pinnedpubkey {pins_curl}";
    let direct = lab_run(&["--client", &format!("{pinned} {{url}}")]);
    let proxied = lab_run(&["--client", &format!("{pinned} --proxy {{proxy}} {{url}}")]);
    assert_eq!(direct.len(), proxied.len());
    for ((id, a), (id2, b)) in direct.iter().zip(&proxied) {
        assert_eq!(id, id2);
        assert_eq!(a, b, "{id}: direct {a}, through {{proxy}} {b}");
    }
    assert!(proxied.iter().any(|(id, o)| id == "A15" && o == "PASS"));
}

#[test]
fn python_urllib_reaches_every_scenario_through_the_proxy_placeholder() {
    // urllib cannot be told to resolve *.lab.localhost; through {proxy} it needs no DNS.
    let code = "import ssl,sys,urllib.request as u\n\
                ctx=ssl.create_default_context(cafile=sys.argv[2])\n\
                o=u.build_opener(u.ProxyHandler({{\"https\":sys.argv[3],\"http\":sys.argv[3]}}),u.HTTPSHandler(context=ctx))\n\
                o.open(sys.argv[1],timeout=4).read()\n";
    let template = format!("python3 -c '{code}' {{url}} {{ca_file}} {{proxy}}");
    let rows = lab_run(&[
        "--scenario",
        "P0,P1,P2,A1,A2,A3,A4,A6-expired,A7,A14-tls1.0,A15",
        "--client",
        &template,
    ]);
    let outcome = |id: &str| rows.iter().find(|(i, _)| i == id).unwrap().1.as_str();
    for id in [
        "P0",
        "P1",
        "P2",
        "A1",
        "A2",
        "A4",
        "A6-expired",
        "A14-tls1.0",
    ] {
        assert_eq!(outcome(id), "PASS", "urllib {id}: {rows:?}");
    }
    // No pinning: the user-installed CA and pin stuffing get through; urllib follows the
    // https-to-http redirect through the proxy (SSL stripping).
    for id in ["A3", "A7", "A15"] {
        assert_eq!(outcome(id), "FAIL", "urllib {id}: {rows:?}");
    }
}

#[test]
fn lab_proxy_cycles_every_scenario_and_names_what_curl_accepted() {
    let host = "api.keypin.test";
    let genuine = Chain::generate("Genuine", &[host], KeyAlg::EcdsaP256).unwrap();
    let upstream = TlsServer::start(genuine.server_options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (report, junit, ca) = (
        dir.path().join("proxy.json"),
        dir.path().join("proxy.xml"),
        dir.path().join("ca"),
    );
    let mut child = keypin()
        .args([
            "lab",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--cycle",
            "--max-connections",
            "10",
        ])
        .arg("--upstream-resolve")
        .arg(format!("{host}={}", upstream.addr()))
        .arg("--report")
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .arg("--ca-out")
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    for _ in 0..5 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if let Some(rest) = line.strip_prefix("keypin lab proxy on ") {
            url = rest.split_whitespace().next().unwrap().to_owned();
            break;
        }
    }
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    for name in [
        "keypin-lab-ca.pem",
        "keypin-lab-ca.der",
        "keypin-lab-ca.crt",
        "keypin-lab-all-cas.pem",
    ] {
        assert!(ca.join(name).is_file(), "--ca-out wrote no {name}");
    }
    let trust = dir.path().join("trust.pem");
    let bundle = std::fs::read_to_string(ca.join("keypin-lab-all-cas.pem")).unwrap();
    std::fs::write(&trust, format!("{bundle}{}", genuine.root.cert_pem())).unwrap();
    for _ in 0..10 {
        let _ = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "--max-time",
                "5",
                "--proxy",
                &url,
                "--cacert",
            ])
            .arg(&trust)
            .arg(format!("https://{host}/"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
    }
    let mut table = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut table).unwrap();
    let status = child.wait_timeout_or_kill(Duration::from_secs(20));
    assert_eq!(status, Some(1), "{table}");
    assert!(
        table.contains(
            "api.keypin.test: accepted a forged chain from a user-installed CA: no pinning"
        ),
        "{table}"
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let verdicts = json["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 10, "one verdict per scenario: {json}");
    let outcome = |id: &str| {
        verdicts
            .iter()
            .find(|v| v["id"] == id)
            .map(|v| v["outcome"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(outcome("P0"), "PASS");
    assert_eq!(outcome("A3"), "FAIL");
    assert_eq!(outcome("A7"), "FAIL");
    for id in [
        "A1",
        "A2",
        "A4",
        "A6",
        "A9-sha1",
        "A9-rsa1024",
        "A14-tls1.0",
    ] {
        assert_eq!(outcome(id), "PASS", "{id}: {json}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"10\" failures=\"2\""), "{xml}");
}

trait WaitTimeout {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<i32>;
}

impl WaitTimeout for std::process::Child {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.kill();
        let _ = self.wait();
        None
    }
}

#[test]
fn lab_proxy_bad_input_is_a_clear_error() {
    let cases: [(&[&str], &str); 4] = [
        (&["--scenario", "A5"], "unknown scenario \"A5\""),
        (
            &["--upstream-resolve", "api.example.com"],
            "expected HOST=ADDR:PORT",
        ),
        (
            &["--upstream-resolve", "a=localhost:443"],
            "is not ADDR:PORT",
        ),
        (
            &["--max-connections", "0"],
            "--max-connections must be at least 1",
        ),
    ];
    for (args, needle) in cases {
        let out = keypin()
            .args(["lab", "proxy", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
