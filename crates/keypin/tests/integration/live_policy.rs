//! The live policy reaches every integration and the report sender: a client built once, a new
//! policy put in force mid-run through the `PolicyStore` (as the updater does after a bundle),
//! and the next request enforces the new pins: the server with the old key is refused (even
//! with a pooled connection to it still open), the one with the new key accepted, and the
//! report for the refusal carries the new policy's version.
//!
//! Loopback only: TLS servers (hyper, HTTP/1.1 and HTTP/2) on generated chains and a plain-HTTP
//! report collector.

use std::convert::Infallible;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keypin::integrations;
use keypin::live::LivePolicy;
use keypin::live::updater::{PolicySource, PolicyStore};
use keypin::report::{ReportSender, ReportSenderConfig};
use keypin::{PinnedConfig, Policy, Roots, clock::SystemClock, pin::Pin};
use keypin_pki::{Chain, KeyAlg};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HOST: &str = "localhost";
/// The version of the bundle put in force mid-run.
const NEW_VERSION: u64 = 42;

/// A report collector on loopback (plain HTTP): keeps every report it accepts.
struct Collector {
    url: String,
    reports: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Collector {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/v1/reports",
            listener.local_addr().unwrap().port()
        );
        let reports = Arc::new(Mutex::new(Vec::new()));
        let kept = reports.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_ok()
                    && let Ok(serde_json::Value::Array(batch)) = serde_json::from_slice(&body)
                {
                    kept.lock().unwrap().extend(batch);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { url, reports }
    }

    /// The `policy-version` of the first pin-mismatch report about a server presenting `leaf`.
    fn version_for(&self, leaf: &CertificateDer<'_>) -> Option<String> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .find(|r| {
                r["failure"] == "pin-mismatch"
                    && r["served-certificate-chain"][0]
                        .as_str()
                        .and_then(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
                        .is_some_and(|served| served == *leaf)
            })
            .map(|r| r["policy-version"].as_str().unwrap_or("").to_string())
    }

    /// Every report's `policy-version` and first served certificate, for a failure message.
    fn summary(&self) -> Vec<String> {
        let reports = self.reports.lock().unwrap();
        reports
            .iter()
            .map(|r| format!("{} {}", r["failure"], r["policy-version"]))
            .collect()
    }
}

/// Two trusted PKIs for HOST: the old one pinned by the embedded policy, the new one by the
/// bundle put in force mid-run; a TLS server on each; a store and a report sender wired up.
struct World {
    old: Chain,
    new: Chain,
    old_server: SocketAddr,
    new_server: SocketAddr,
    collector: Collector,
    sender: Arc<ReportSender>,
    store: Arc<PolicyStore>,
    _state: tempfile::TempDir,
}

fn policy_pinning(chain: &Chain, report_uri: &str, name: &str) -> Arc<Policy> {
    let pin = Pin::from_spki_der(&chain.intermediate.spki_der());
    let text = format!(
        "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{pin}\", \"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n\
         report_uris = [\"{report_uri}\"]\n"
    );
    Arc::new(Policy::from_toml_str(&text, name).unwrap())
}

impl World {
    async fn new() -> Self {
        let old = Chain::generate("Old", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let new = Chain::generate("New", &[HOST], KeyAlg::EcdsaP256).unwrap();
        let roots = Roots::empty()
            .with_cert(old.root.cert.clone())
            .unwrap()
            .with_cert(new.root.cert.clone())
            .unwrap();
        let collector = Collector::start();
        let state = tempfile::TempDir::new().unwrap();
        let mut config = ReportSenderConfig::new(state.path());
        config.batch_delay = Duration::from_millis(20);
        config.policy_version = Some("embedded".into());
        let embedded = policy_pinning(&old, &collector.url, "embedded");
        let sender = ReportSender::start(
            config,
            embedded.clone(),
            roots.clone(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let (r, s) = (roots.clone(), sender.clone());
        let store = Arc::new(
            PolicyStore::new(embedded, move |p| {
                PinnedConfig::builder(p, r.clone())
                    .events(s.clone())
                    .build()
            })
            .unwrap(),
        );
        sender.follow(&store.live());
        Self {
            old_server: https_server(&old).await,
            new_server: https_server(&new).await,
            old,
            new,
            collector,
            sender,
            store,
            _state: state,
        }
    }

    /// What the app hands its client: the live policy of the store.
    fn live(&self) -> LivePolicy {
        self.store.live()
    }

    /// Puts the new pins in force, as the updater does when a bundle arrives.
    fn install_new_pins(&self) {
        let policy = policy_pinning(&self.new, &self.collector.url, "bundle");
        let number = self
            .store
            .install(
                policy,
                PolicySource::Bundle {
                    version: NEW_VERSION,
                },
            )
            .unwrap();
        assert_eq!(number, 1);
    }

    fn url(&self, server: SocketAddr) -> String {
        format!("https://{HOST}:{}/", server.port())
    }

    /// The report for the old server's refusal under the new generation carries its version.
    fn assert_reported_under_new_version(&self) {
        assert!(self.sender.flush(Duration::from_secs(10)));
        let old_leaf = &self.old.leaf.cert;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = self.collector.version_for(old_leaf) {
                assert_eq!(v, NEW_VERSION.to_string());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no report for the old server: {:?}",
                self.collector.summary()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A TLS server on `chain` (HTTP/1.1 and HTTP/2) answering `ok` to everything.
async fn https_server(chain: &Chain) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.served(), chain.leaf.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn reqwest_client_built_once_enforces_pins_installed_later() {
    let w = World::new().await;
    let client = integrations::reqwest::client(w.live()).unwrap();
    let get = |server| {
        let request = client.get(&w.url(server)).unwrap();
        async move { request.send().await?.text().await }
    };
    // Generation 0: the old key is pinned (and a connection to it stays in the pool).
    assert_eq!(get(w.old_server).await.unwrap(), "ok");
    assert!(get(w.new_server).await.is_err());

    w.install_new_pins();
    let err = get(w.old_server).await.unwrap_err();
    assert!(keypin::downgrade::pin_failure_in(&err).is_some(), "{err:?}");
    assert_eq!(get(w.new_server).await.unwrap(), "ok");
    w.assert_reported_under_new_version();
}

#[tokio::test]
async fn hyper_client_built_once_enforces_pins_installed_later() {
    let w = World::new().await;
    let client = integrations::hyper::client::<Empty<Bytes>>(w.live()).unwrap();
    let get = |server| {
        let uri = w.url(server).parse().unwrap();
        let response = client.get(uri);
        async move {
            let body = response.await?.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body)
        }
    };
    assert_eq!(&get(w.old_server).await.unwrap()[..], b"ok");
    assert!(get(w.new_server).await.is_err());

    w.install_new_pins();
    let err = get(w.old_server).await.unwrap_err();
    assert!(
        keypin::downgrade::pin_failure_in(err.as_ref()).is_some(),
        "{err:?}"
    );
    assert_eq!(&get(w.new_server).await.unwrap()[..], b"ok");
    w.assert_reported_under_new_version();
}

#[tokio::test]
async fn tokio_rustls_connector_built_once_enforces_pins_installed_later() {
    let w = World::new().await;
    let connector = integrations::tokio_rustls::connector(w.live()).unwrap();
    let connect = |server| {
        let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
        let connector = connector.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(server).await?;
            let mut tls = connector.connect(name, tcp).await?;
            tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut reply = Vec::new();
            let _ = tls.read_to_end(&mut reply).await;
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
        }
    };
    assert!(connect(w.old_server).await.unwrap().ends_with("ok"));
    assert!(connect(w.new_server).await.is_err());
    // A connection open before the update keeps its generation.
    let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
    let tcp = tokio::net::TcpStream::connect(w.old_server).await.unwrap();
    let mut open = connector.connect(name, tcp).await.unwrap();

    w.install_new_pins();
    open.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = open.read_to_end(&mut reply).await;
    assert!(
        reply.ends_with(b"ok"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let err = connect(w.old_server).await.unwrap_err();
    assert!(
        keypin::verify::VerifyError::pin_failure_of_io(&err).is_some(),
        "{err:?}"
    );
    assert!(connect(w.new_server).await.unwrap().ends_with("ok"));
    w.assert_reported_under_new_version();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ureq_agent_built_once_enforces_pins_installed_later() {
    let w = Arc::new(World::new().await);
    let agent = integrations::ureq::agent(w.live()).unwrap();
    let world = w.clone();
    tokio::task::spawn_blocking(move || {
        let w = world;
        let get = |server| {
            agent
                .get(&w.url(server))
                .call()
                .map(|r| r.into_string().unwrap())
                .map_err(Box::new)
        };
        // The agent keeps this connection in its pool.
        assert_eq!(get(w.old_server).unwrap(), "ok");
        assert!(get(w.new_server).is_err());

        w.install_new_pins();
        let err = get(w.old_server).unwrap_err();
        assert!(keypin::downgrade::pin_failure_in(&err).is_some(), "{err:?}");
        assert_eq!(get(w.new_server).unwrap(), "ok");
        w.assert_reported_under_new_version();
    })
    .await
    .unwrap();
}

#[test]
fn a_fixed_policy_is_a_live_policy_that_never_changes() {
    let chain = Chain::generate("Fixed", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let live = LivePolicy::fixed(PinnedConfig::builder(
        policy_pinning(&chain, "http://127.0.0.1:9/", "fixed"),
        roots,
    ))
    .unwrap();
    let generation = live.current();
    assert_eq!(generation.number(), 0);
    assert_eq!(generation.source(), PolicySource::Embedded);
    assert!(!live.watch().has_changed());
}

#[test]
fn watchers_see_each_new_generation_and_its_own_session_cache() {
    let chain = Chain::generate("Watched", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let roots = Roots::empty().with_cert(chain.root.cert.clone()).unwrap();
    let policy = policy_pinning(&chain, "http://127.0.0.1:9/", "embedded");
    let store = PolicyStore::new(policy.clone(), move |p| {
        PinnedConfig::builder(p, roots.clone()).build()
    })
    .unwrap();
    let live = store.live();
    let mut watcher = live.watch();
    let before = live.client_config();
    assert!(!watcher.has_changed());
    assert!(watcher.wait_for_change(Duration::from_millis(10)).is_none());

    let waiter = std::thread::spawn(move || watcher.wait_for_change(Duration::from_secs(10)));
    store
        .install(policy, PolicySource::Bundle { version: 2 })
        .unwrap();
    let seen = waiter.join().unwrap().expect("the watcher saw the change");
    assert_eq!(seen.number(), 1);
    assert_eq!(live.number(), 1);
    assert_eq!(live.current().source(), PolicySource::Bundle { version: 2 });
    // A new generation has its own config, so its own session cache.
    assert!(!Arc::ptr_eq(&before, &live.client_config()));
}

/// The README's quick start with the updater on is the example that compiles, line for line,
/// and stays under 10 lines.
#[test]
fn the_readme_updater_quick_start_is_the_compiled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/reqwest_updater.rs")).unwrap();
    let begin = example.find("// README: begin\n").unwrap() + "// README: begin\n".len();
    let end = example.find("    // README: end").unwrap();
    let block: Vec<&str> = example[begin..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let block = block.join("\n");
    assert!(
        readme.contains(&format!("```rust\n{block}\n```")),
        "README.md no longer shows examples/reqwest_updater.rs:\n{block}"
    );
    assert!(block.lines().filter(|l| !l.is_empty()).count() < 10);
}
