//! `keypin lab proxy` against real clients: curl (with and without `--pinnedpubkey`), Python
//! (`urllib`, `requests`), wget, `openssl s_client -proxy`, Java's `HttpsURLConnection`, and
//! keypin's own reqwest and ureq clients. Each client goes through the proxy once per
//! scenario, to a genuine loopback server named with the upstream map; the proxy's verdict for
//! every scenario must be what the client itself saw (it got the response, or it did not),
//! unpinned clients must be caught on A3, and pinned ones must pass every row.
//!
//! One proxy per scenario (`ProxyMode::Fixed`), all over one lab PKI: a client that retries a
//! failed connection (Java does) then only adds tunnels to the same scenario. The cycle mode is
//! tested through the command (`keypin-cli`'s lab tests).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use keypin::{PinnedConfig, Policy, Roots};
use keypin_lab::{
    InterceptProxy, LabPki, Observed, ProxyMode, ProxyOptions, ProxyReport, ProxyScenario,
};
use keypin_pki::{Chain, KeyAlg, TlsServer};

const CLIENTS: [&str; 10] = [
    "curl",
    "curl-pinned",
    "urllib",
    "requests",
    "wget",
    "openssl",
    "java",
    "reqwest",
    "ureq",
    "refuse-all",
];

struct Harness {
    dir: tempfile::TempDir,
    _upstream: TlsServer,
    genuine: Chain,
    proxies: Vec<(ProxyScenario, InterceptProxy)>,
    trust: PathBuf,
    pki: Arc<LabPki>,
}

fn host(client: &str) -> String {
    format!("{client}.keypin.test")
}

impl Harness {
    fn start() -> Self {
        let hosts: Vec<String> = CLIENTS.iter().map(|c| host(c)).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let genuine = Chain::generate("Genuine Bank", &names, KeyAlg::EcdsaP256).unwrap();
        let upstream = TlsServer::start(genuine.server_options()).unwrap();
        let pki = Arc::new(LabPki::generate().unwrap());
        let proxies = ProxyScenario::ALL
            .iter()
            .map(|s| {
                let mut options = ProxyOptions::new(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                    ProxyMode::Fixed(*s),
                );
                for h in &hosts {
                    options.upstream.insert(h.clone(), upstream.addr());
                }
                (
                    *s,
                    InterceptProxy::start(Arc::clone(&pki), options).unwrap(),
                )
            })
            .collect();
        let dir = tempfile::TempDir::new().unwrap();
        let trust = dir.path().join("trust.pem");
        std::fs::write(
            &trust,
            format!("{}{}", pki.trust_store_pem(), genuine.root.cert_pem()),
        )
        .unwrap();
        Self {
            dir,
            _upstream: upstream,
            genuine,
            proxies,
            trust,
            pki,
        }
    }

    /// The genuine leaf's SPKI pin, base64 (curl's `sha256//` spelling without the prefix).
    fn leaf_pin_b64(&self) -> String {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.genuine.leaf.spki_der());
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    }

    /// Runs `client` once through each scenario's proxy; returns what the client saw per
    /// scenario, and each proxy's verdict for the client's host.
    fn judge(
        &self,
        client: &str,
        run: &dyn Fn(&str, &InterceptProxy) -> bool,
    ) -> Vec<(ProxyScenario, bool, Observed, String)> {
        let host = host(client);
        let mut out = Vec::new();
        for (scenario, proxy) in &self.proxies {
            let ok = run(&host, proxy);
            proxy.settle(Duration::from_secs(5));
            let report: ProxyReport = proxy.report();
            let verdict = report
                .verdicts
                .iter()
                .find(|v| v.host == host)
                .unwrap_or_else(|| {
                    panic!("{client}: no tunnel through the {} proxy", scenario.id())
                });
            out.push((*scenario, ok, verdict.observed, verdict.detail.clone()));
        }
        out
    }
}

/// A command's success: exit 0 within the deadline (killed otherwise).
fn succeeds(cmd: &mut Command, stdin: Option<&[u8]>) -> bool {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (.ci/run installs it)"));
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(bytes);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut o, &mut out);
            }
            // A client that prints the response: it must be the server's.
            return status.success() && (stdin.is_none() || out.contains("200 OK"));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_judged(client: &str, rows: &[(ProxyScenario, bool, Observed, String)], pinned: bool) {
    for (scenario, ok, observed, detail) in rows {
        let accepted = *observed == Observed::Accepted;
        assert_eq!(
            accepted,
            *ok,
            "{client} {}: the client {} the response, the proxy said {} ({detail})",
            scenario.id(),
            if *ok { "got" } else { "did not get" },
            observed.as_str()
        );
    }
    let row = |s: ProxyScenario| rows.iter().find(|r| r.0 == s).unwrap();
    assert!(
        row(ProxyScenario::P0).1,
        "{client} refused the genuine server: {rows:?}"
    );
    for s in [
        ProxyScenario::A1,
        ProxyScenario::A2,
        ProxyScenario::A4,
        ProxyScenario::A6,
    ] {
        assert!(!row(s).1, "{client} accepted {}: {rows:?}", s.id());
    }
    if pinned {
        assert!(
            rows.iter()
                .all(|(s, ok, _, _)| *ok == (*s == ProxyScenario::P0)),
            "{client} pins, yet accepted a forgery: {rows:?}"
        );
    } else {
        assert!(
            row(ProxyScenario::A3).1,
            "{client} does not pin, yet refused A3: {rows:?}"
        );
    }
}

fn curl(h: &Harness, pinned: bool) {
    let pin = h.leaf_pin_b64();
    let name = if pinned { "curl-pinned" } else { "curl" };
    let rows = h.judge(name, &|host, proxy| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "--proxy",
            &proxy.url(),
        ])
        .arg("--cacert")
        .arg(&h.trust)
        .arg(format!("https://{host}/"));
        if pinned {
            cmd.arg("--pinnedpubkey").arg(format!("sha256//{pin}"));
        }
        succeeds(&mut cmd, None)
    });
    assert_judged(name, &rows, pinned);
}

#[test]
fn proxy_judges_curl_with_and_without_pinning() {
    let h = Harness::start();
    curl(&h, false);
    curl(&h, true);
}

fn python(h: &Harness, library: &str) {
    let code = match library {
        "urllib" => {
            "import ssl,sys,urllib.request\n\
             ctx=ssl.create_default_context(cafile=sys.argv[2])\n\
             urllib.request.urlopen('https://'+sys.argv[1]+'/',context=ctx,timeout=10).read()\n"
        }
        _ => {
            "import sys,requests\nrequests.get('https://'+sys.argv[1]+'/',verify=sys.argv[2],timeout=10).raise_for_status()\n"
        }
    };
    let rows = h.judge(library, &|host, proxy| {
        succeeds(
            Command::new("python3")
                .args(["-c", code, host])
                .arg(&h.trust)
                .env("https_proxy", proxy.url())
                .env("HTTPS_PROXY", proxy.url())
                .env_remove("no_proxy")
                .env_remove("NO_PROXY"),
            None,
        )
    });
    assert_judged(library, &rows, false);
}

#[test]
fn proxy_judges_python_urllib_and_requests() {
    let h = Harness::start();
    python(&h, "urllib");
    python(&h, "requests");
}

#[test]
fn proxy_judges_wget_and_openssl_s_client() {
    let h = Harness::start();
    let rows = h.judge("wget", &|host, proxy| {
        succeeds(
            Command::new("wget")
                .args(["-q", "-O", "/dev/null", "--tries=1", "--timeout=10"])
                .arg(format!("--ca-certificate={}", h.trust.display()))
                .args([
                    "-e",
                    "use_proxy=yes",
                    "-e",
                    &format!("https_proxy={}", proxy.url()),
                ])
                .arg(format!("https://{host}/")),
            None,
        )
    });
    assert_judged("wget", &rows, false);
    let rows = h.judge("openssl", &|host, proxy| {
        let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
        succeeds(
            Command::new("openssl")
                .args(["s_client", "-quiet", "-verify_return_error", "-proxy"])
                .arg(proxy.addr().to_string())
                .args([
                    "-connect",
                    &format!("{host}:443"),
                    "-servername",
                    host,
                    "-verify_hostname",
                    host,
                ])
                .arg("-CAfile")
                .arg(&h.trust),
            Some(request.as_bytes()),
        )
    });
    assert_judged("openssl", &rows, false);
}

/// A Java client on `HttpsURLConnection` with the lab's trust store, compiled here.
fn java_client(dir: &Path, trust: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("Get.java");
    std::fs::write(
        &src,
        "import java.net.*;\nimport java.io.*;\n\
         public class Get { public static void main(String[] a) throws Exception {\n\
         HttpURLConnection c = (HttpURLConnection) new URL(a[0]).openConnection();\n\
         c.setConnectTimeout(10000); c.setReadTimeout(10000);\n\
         if (c.getResponseCode() != 200) System.exit(1);\n\
         c.getInputStream().readAllBytes(); } }\n",
    )
    .unwrap();
    assert!(
        Command::new("javac")
            .arg("-d")
            .arg(dir)
            .arg(&src)
            .status()
            .unwrap()
            .success(),
        "javac failed (.ci/run installs a JDK)"
    );
    let store = dir.join("trust.p12");
    let pem = std::fs::read_to_string(trust).unwrap();
    for (i, cert) in pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .enumerate()
    {
        let file = dir.join(format!("ca{i}.pem"));
        std::fs::write(&file, cert).unwrap();
        let ok = Command::new("keytool")
            .args([
                "-importcert",
                "-noprompt",
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
            ])
            .args(["-alias", &format!("ca{i}")])
            .arg("-file")
            .arg(&file)
            .arg("-keystore")
            .arg(&store)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "keytool could not import CA {i}");
    }
    (dir.to_path_buf(), store)
}

#[test]
fn proxy_judges_java_https_url_connection() {
    let h = Harness::start();
    let (classes, store) = java_client(h.dir.path(), &h.trust);
    let rows = h.judge("java", &|host, proxy| {
        succeeds(
            Command::new("java")
                .arg("-cp")
                .arg(&classes)
                .arg(format!("-Djavax.net.ssl.trustStore={}", store.display()))
                .args([
                    "-Djavax.net.ssl.trustStorePassword=changeit",
                    "-Djavax.net.ssl.trustStoreType=PKCS12",
                ])
                .arg("-Dhttps.proxyHost=127.0.0.1")
                .arg(format!("-Dhttps.proxyPort={}", proxy.addr().port()))
                .arg("Get")
                .arg(format!("https://{host}/")),
            None,
        )
    });
    assert_judged("java", &rows, false);
}

/// keypin's policy for the genuine server: its leaf key, and a spare.
fn keypin_config(h: &Harness, client: &str) -> keypin::PinnedConfigBuilder {
    let text = format!(
        "[[rule]]\nhosts = [\"{}\"]\npins = [\"sha256/{}\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n",
        host(client),
        h.leaf_pin_b64()
    );
    let mut roots = Roots::empty();
    for c in [
        &h.genuine.root,
        &h.pki.root,
        &h.pki.mitm_ca,
        &h.pki.interception_ca,
    ] {
        roots.add_cert(c.cert.clone()).unwrap();
    }
    PinnedConfig::builder(
        Policy::from_toml_str(&text, "proxy-test.toml").unwrap(),
        roots,
    )
}

#[test]
fn proxy_judges_keypins_reqwest_and_ureq_clients() {
    let h = Harness::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = h.judge("reqwest", &|host, proxy| {
        let url = proxy.url();
        let client = keypin::integrations::reqwest::PinnedClient::with(
            keypin_config(&h, "reqwest"),
            keypin::integrations::reqwest::HttpVersions::Http1Only,
            move |b| {
                b.proxy(reqwest::Proxy::https(&url).unwrap())
                    .timeout(Duration::from_secs(10))
            },
        )
        .unwrap();
        let url = format!("https://{host}/");
        runtime.block_on(async {
            match client.get(&url).unwrap().send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
    });
    assert_judged("reqwest", &rows, true);
    let rows = h.judge("ureq", &|host, proxy| {
        let agent = keypin::integrations::ureq::agent_builder(keypin_config(&h, "ureq"))
            .unwrap()
            .proxy(ureq::Proxy::new(proxy.url()).unwrap())
            .timeout(Duration::from_secs(10))
            .build();
        agent
            .get(&format!("https://{host}/"))
            .call()
            .is_ok_and(|r| r.into_string().is_ok())
    });
    assert_judged("ureq", &rows, true);
}

/// A client that refuses everything fails the positive control, and the report says so.
#[test]
fn a_client_that_refuses_everything_fails_p0() {
    let h = Harness::start();
    let (_, p0) = &h.proxies[0];
    let other_ca = h.dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, h.pki.interception_ca.cert_pem()).unwrap();
    let ok = succeeds(
        Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "--max-time",
                "10",
                "--proxy",
                &p0.url(),
            ])
            .arg("--cacert")
            .arg(&other_ca)
            .arg(format!("https://{}/", host("refuse-all"))),
        None,
    );
    assert!(!ok);
    p0.settle(Duration::from_secs(5));
    let report = p0.report();
    assert!(!report.all_as_expected());
    let findings = report.findings();
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("refuse-all.keypin.test: refused the real server")),
        "{findings:?}"
    );
}
