//! The HTTP client integrations against real servers on loopback: a hyper server (HTTP/2 and
//! HTTP/1.1 over TLS, chains generated per test) and a cleartext HTTP listener that counts
//! what reaches it (the http side of SSL stripping).
//!
//! Every test first installs a *poisoned* process-default crypto provider (no cipher suites,
//! no key exchange groups): anything that fell back to rustls' process default instead of the
//! provider keypin passes explicitly would fail its handshake.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keypin::downgrade::{downgrade_in, pin_failure_in};
use keypin::integrations;
use keypin::{PinnedConfig, PinnedConfigBuilder, Policy, Roots, pin::Pin};
use keypin_pki::{CertSpec, Chain, Issued, KeyAlg, self_signed};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const HOST: &str = "localhost";

fn poison_default_provider() {
    let poisoned = rustls::crypto::CryptoProvider {
        cipher_suites: Vec::new(),
        kx_groups: Vec::new(),
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    // Only the first test in the process installs it; the others find it in place.
    let _ = poisoned.install_default();
    // The poison is in force: the process default has nothing to negotiate with.
    let default = rustls::crypto::CryptoProvider::get_default().unwrap();
    assert!(default.cipher_suites.is_empty() && default.kx_groups.is_empty());
}

fn pin_of(issued: &Issued) -> Pin {
    Pin::from_spki_der(&issued.spki_der())
}

struct World {
    genuine: Chain,
    /// A server for HOST with a chain from a trusted CA whose keys are not pinned.
    rogue: Chain,
}

impl World {
    fn new() -> Self {
        poison_default_provider();
        Self {
            genuine: Chain::generate("Genuine", &[HOST], KeyAlg::EcdsaP256).unwrap(),
            rogue: Chain::generate("Rogue", &[HOST], KeyAlg::EcdsaP256).unwrap(),
        }
    }

    /// HOST pinned to the genuine issuing CA (and a spare key); both roots trusted.
    fn builder(&self) -> PinnedConfigBuilder {
        let spare = pin_of(&self_signed(CertSpec::ca("spare")).unwrap());
        let policy = Policy::from_toml_str(
            &format!(
                "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{spare}\"]\n",
                pin_of(&self.genuine.intermediate)
            ),
            "pins.toml",
        )
        .unwrap();
        let roots = Roots::empty()
            .with_cert(self.genuine.root.cert.clone())
            .unwrap()
            .with_cert(self.rogue.root.cert.clone())
            .unwrap();
        PinnedConfig::builder(policy, roots)
    }
}

/// A cleartext HTTP listener that counts the requests reaching it.
struct Plain {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn plain_listener() -> Plain {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                if let Ok(n) = tcp.read(&mut buf).await
                    && n > 0
                {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\ncleartext")
                    .await;
            });
        }
    });
    Plain { addr, hits }
}

/// A TLS server with hyper's automatic HTTP/1.1 + HTTP/2 on `chain`; it answers `/strip` with
/// a redirect to `http://HOST:<strip_port>/`, the redirect routes of [`redirect_route`], and
/// everything else with `version=<HTTP version>`.
async fn https_server(chain: &Chain, strip_port: u16) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.served(), chain.leaf.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req: Request<Incoming>| async move {
                        let response = if req.uri().path() == "/strip" {
                            Response::builder()
                                .status(StatusCode::MOVED_PERMANENTLY)
                                .header("location", format!("http://{HOST}:{strip_port}/"))
                                .body(Full::new(Bytes::new()))
                        } else if let Some(r) = redirect_route(req.method(), req.uri().path()) {
                            r
                        } else {
                            Response::builder().body(Full::new(Bytes::from(format!(
                                "version={:?}",
                                req.version()
                            ))))
                        };
                        Ok::<_, Infallible>(response.unwrap())
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

/// Redirect routes: `/hop/N` redirects (302, relative `Location`) to `/hop/N-1`, and
/// `/hop/0` answers `arrived by <method>`; `/see-other` is a 303 to `/hop/0`; `/to/PORT` a
/// 307 to `https://HOST:PORT/hop/0`; `/loop` a 302 to itself; `/to-strip` a 302 to `/strip`.
fn redirect_route(
    method: &hyper::Method,
    path: &str,
) -> Option<Result<Response<Full<Bytes>>, http::Error>> {
    let redirect = |status: StatusCode, location: String| {
        Response::builder()
            .status(status)
            .header("location", location)
            .body(Full::new(Bytes::new()))
    };
    if let Some(n) = path.strip_prefix("/hop/") {
        let n: u32 = n.parse().ok()?;
        return Some(match n {
            0 => Response::builder().body(Full::new(Bytes::from(format!("arrived by {method}")))),
            n => redirect(StatusCode::FOUND, format!("{}", n - 1)),
        });
    }
    if let Some(port) = path.strip_prefix("/to/") {
        return Some(redirect(
            StatusCode::TEMPORARY_REDIRECT,
            format!("https://{HOST}:{port}/hop/0"),
        ));
    }
    match path {
        "/see-other" => Some(redirect(StatusCode::SEE_OTHER, "/hop/0".into())),
        "/loop" => Some(redirect(StatusCode::FOUND, "/loop".into())),
        "/to-strip" => Some(redirect(StatusCode::FOUND, "/strip".into())),
        _ => None,
    }
}

// --- reqwest ------------------------------------------------------------------------------

#[tokio::test]
async fn reqwest_negotiates_http2_and_http1_through_pins() {
    let w = World::new();
    let plain = plain_listener().await;
    let addr = https_server(&w.genuine, plain.addr.port()).await;
    let client = integrations::reqwest::client(w.builder()).unwrap();
    let url = format!("https://{HOST}:{}/", addr.port());
    let response = client.get(&url).unwrap().send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "version=HTTP/2.0");

    // HTTP/1.1 when asked for.
    let client = integrations::reqwest::PinnedClient::with(
        w.builder(),
        integrations::reqwest::HttpVersions::Http1Only,
        |b| b,
    )
    .unwrap();
    let response = client.get(&url).unwrap().send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "version=HTTP/1.1");
}

#[tokio::test]
async fn reqwest_refuses_a_pin_mismatch_with_keypins_diagnostics() {
    let w = World::new();
    let plain = plain_listener().await;
    let addr = https_server(&w.rogue, plain.addr.port()).await;
    let client = integrations::reqwest::client(w.builder()).unwrap();
    let err = client
        .get(&format!("https://{HOST}:{}/", addr.port()))
        .unwrap()
        .send()
        .await
        .unwrap_err();
    let failure = pin_failure_in(&err).unwrap_or_else(|| panic!("no pin failure in {err:?}"));
    assert_eq!(failure.host, HOST);
    assert_eq!(failure.paths[0][0].spki_pin, pin_of(&w.rogue.leaf));
    assert!(failure.expected.contains(&pin_of(&w.genuine.intermediate)));
}

#[tokio::test]
async fn reqwest_refuses_cleartext_and_ssl_stripping_for_pinned_hosts() {
    let w = World::new();
    let plain = plain_listener().await;
    let addr = https_server(&w.genuine, plain.addr.port()).await;
    let client = integrations::reqwest::client(w.builder()).unwrap();

    // http:// to the pinned host: refused before anything is sent.
    let err = client
        .get(&format!("http://{HOST}:{}/", plain.addr.port()))
        .unwrap_err();
    assert!(matches!(err, keypin::Error::Downgrade(_)), "{err}");
    assert!(err.to_string().contains("over cleartext"), "{err}");

    // https -> http redirect (SSL stripping): refused, the cleartext side never hit.
    let err = client
        .get(&format!("https://{HOST}:{}/strip", addr.port()))
        .unwrap()
        .send()
        .await
        .unwrap_err();
    let d = downgrade_in(&err).unwrap_or_else(|| panic!("no downgrade in {err:?}"));
    assert_eq!(d.pinned_host, HOST);
    assert!(
        d.redirected_from.as_deref().unwrap().ends_with("/strip"),
        "{d}"
    );
    assert_eq!(plain.hits.load(Ordering::SeqCst), 0);

    // An unpinned host over http is still allowed (it is not keypin's business).
    let body = client
        .get(&format!("http://127.0.0.1:{}/", plain.addr.port()))
        .unwrap()
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "cleartext");
    assert_eq!(plain.hits.load(Ordering::SeqCst), 1);
}

// --- hyper --------------------------------------------------------------------------------

type HyperClient =
    hyper_util::client::legacy::Client<integrations::hyper::PinnedConnector, Empty<Bytes>>;

fn hyper_client(w: &World) -> HyperClient {
    let connector =
        integrations::hyper::connector(w.builder().alpn(vec![b"junk".to_vec()])).unwrap();
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
}

#[tokio::test]
async fn hyper_speaks_http2_through_pins_and_refuses_mismatches_and_cleartext() {
    let w = World::new();
    let plain = plain_listener().await;
    let good = https_server(&w.genuine, plain.addr.port()).await;
    let bad = https_server(&w.rogue, plain.addr.port()).await;
    // ALPN set on the builder is replaced (hyper-rustls would panic on it otherwise).
    let client = hyper_client(&w);

    let uri = format!("https://{HOST}:{}/", good.port()).parse().unwrap();
    let response = client.get(uri).await.unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"version=HTTP/2.0");

    let uri = format!("https://{HOST}:{}/", bad.port()).parse().unwrap();
    let err = client.get(uri).await.unwrap_err();
    assert!(pin_failure_in(&err).is_some(), "{err:?}");

    let uri = format!("http://{HOST}:{}/", plain.addr.port())
        .parse()
        .unwrap();
    let err = client.get(uri).await.unwrap_err();
    assert!(downgrade_in(&err).is_some(), "{err:?}");
    assert_eq!(plain.hits.load(Ordering::SeqCst), 0);
}

// --- tokio-rustls -------------------------------------------------------------------------

#[tokio::test]
async fn tokio_rustls_connects_through_pins_and_refuses_mismatches() {
    let w = World::new();
    let plain = plain_listener().await;
    let good = https_server(&w.genuine, plain.addr.port()).await;
    let bad = https_server(&w.rogue, plain.addr.port()).await;
    let connector = integrations::tokio_rustls::connector(w.builder()).unwrap();
    let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();

    let tcp = tokio::net::TcpStream::connect(good).await.unwrap();
    let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
    tls.write_all(
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with("version=HTTP/1.1"), "{reply}");

    let tcp = tokio::net::TcpStream::connect(bad).await.unwrap();
    let err = connector.connect(name, tcp).await.unwrap_err();
    let failure = keypin::verify::VerifyError::pin_failure_of_io(&err).unwrap();
    assert_eq!(failure.paths[0][0].spki_pin, pin_of(&w.rogue.leaf));
}

// --- ureq ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ureq_through_pins_refuses_mismatches_cleartext_and_ssl_stripping() {
    let w = World::new();
    let plain = plain_listener().await;
    let good = https_server(&w.genuine, plain.addr.port()).await;
    let bad = https_server(&w.rogue, plain.addr.port()).await;
    let agent = integrations::ureq::agent(w.builder()).unwrap();
    let plain_port = plain.addr.port();
    let outcome = tokio::task::spawn_blocking(move || {
        let ok = agent
            .get(&format!("https://{HOST}:{}/", good.port()))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        assert_eq!(ok, "version=HTTP/1.1");

        let err = agent
            .get(&format!("https://{HOST}:{}/", bad.port()))
            .call()
            .unwrap_err();
        assert!(pin_failure_in(&err).is_some(), "{err:?}");

        let err = agent
            .get(&format!("http://{HOST}:{plain_port}/"))
            .call()
            .unwrap_err();
        assert!(downgrade_in(&err).is_some(), "{err:?}");

        let err = agent
            .get(&format!("https://{HOST}:{}/strip", good.port()))
            .call()
            .unwrap_err();
        let d = downgrade_in(&err).unwrap_or_else(|| panic!("{err:?}"));
        assert!(d.redirected_from.is_some(), "{d}");
    })
    .await;
    outcome.unwrap();
    assert_eq!(plain.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ureq_following_agent_checks_every_hop_and_stops_at_the_limit() {
    use integrations::ureq::FollowError;
    let w = World::new();
    let plain = plain_listener().await;
    let a = https_server(&w.genuine, plain.addr.port()).await.port();
    let b = https_server(&w.genuine, plain.addr.port()).await.port();
    let rogue = https_server(&w.rogue, plain.addr.port()).await.port();
    let client = integrations::ureq::following_agent(w.builder()).unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        let url = |port: u16, path: &str| format!("https://{HOST}:{port}{path}");

        // https -> https on another server: followed, and 307 keeps the method.
        let r = client.call("POST", &url(a, &format!("/to/{b}"))).unwrap();
        assert_eq!(r.get_url(), url(b, "/hop/0"));
        assert_eq!(r.into_string().unwrap(), "arrived by POST");
        // 303 continues as GET.
        let r = client.call("POST", &url(a, "/see-other")).unwrap();
        assert_eq!(r.into_string().unwrap(), "arrived by GET");
        // Five relative hops: the limit, followed.
        let r = client.get(&url(a, "/hop/5")).unwrap();
        assert_eq!(r.get_url(), url(a, "/hop/0"));

        // Six: stopped, with every URL in the message.
        match client.get(&url(a, "/hop/6")).unwrap_err() {
            FollowError::TooManyRedirects { max, chain } => {
                assert_eq!(max, 5);
                assert_eq!(chain.len(), 7, "{chain:?}");
                assert_eq!(chain[6], url(a, "/hop/0"));
            }
            e => panic!("{e:?}"),
        }
        // A loop stops at the limit too.
        let e = client.get(&url(a, "/loop")).unwrap_err();
        assert!(
            matches!(e, FollowError::TooManyRedirects { .. })
                && e.to_string()
                    .contains("too many redirects: still redirected after 5 hops"),
            "{e}"
        );
        let e = client
            .clone()
            .max_redirects(0)
            .get(&url(a, "/hop/1"))
            .unwrap_err();
        assert!(
            matches!(e, FollowError::TooManyRedirects { max: 0, .. }),
            "{e}"
        );

        // https -> https -> http: the second hop is SSL stripping, refused.
        let e = client.get(&url(a, "/to-strip")).unwrap_err();
        let d = downgrade_in(&e).unwrap_or_else(|| panic!("{e:?}"));
        assert_eq!(
            d.redirected_from.as_deref(),
            Some(url(a, "/strip").as_str())
        );
        // A hop to a server with an unpinned chain: the pin failure, with the hop's URL.
        let e = client.get(&url(a, &format!("/to/{rogue}"))).unwrap_err();
        assert!(pin_failure_in(&e).is_some(), "{e:?}");
        assert!(e.to_string().contains(&url(rogue, "/hop/0")), "{e}");
    })
    .await;
    outcome.unwrap();
    assert_eq!(plain.hits.load(Ordering::SeqCst), 0);
}
