//! Alerts: rules evaluated against stored reports, delivered to a real webhook receiver on
//! loopback; the delivery ledger on both backends; alerts.toml errors.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keypin::clock::ManualClock;
use keypin_collector::Settings;
use keypin_collector::alerts::config::parse;
use keypin_collector::alerts::{AlertSettings, Retry};
use keypin_collector::store::Claim;
use serde_json::Value;

use crate::backend::{Backend, Opened, Served, serve};

pub(crate) const TOKEN: &str = "test-token-0123456789";

/// An hour boundary (and a day's): windows of 1 h start here.
const T0: u64 = 1_800_000_000;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub path: String,
    pub id: String,
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
}

/// A webhook receiver on loopback that records every request, failing the first `fail_first`
/// with 500.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub(crate) fn start(fail_first: usize) -> Self {
        Self::start_slow(fail_first, Duration::ZERO)
    }

    /// [`Receiver::start_slow`], answering failures with `fail_status`.
    pub(crate) fn start_slow(fail_first: usize, delay: Duration) -> Self {
        Self::start_with(fail_first, 500, delay)
    }

    /// A receiver answering each request after `delay` (a delivery in flight that long: the
    /// window in which another instance could deliver it twice), the first `fail_first` with
    /// `fail_status`.
    pub(crate) fn start_with(fail_first: usize, fail_status: u16, delay: Duration) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let g = got.clone();
        on_own_runtime(async move {
            let app = axum::Router::new().fallback(
                move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                    let g = g.clone();
                    let failures = failures.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        let fail = failures
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let status = if fail { fail_status } else { 200 };
                        g.lock().unwrap().push(Received {
                            path: uri.path().to_string(),
                            id: headers
                                .get("x-keypin-alert-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string(),
                            body: serde_json::from_str(&body).unwrap_or(Value::Null),
                            status,
                        });
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr: addr_rx.recv().unwrap(),
            got,
            _stop: stop,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    pub(crate) fn delivered(&self) -> Vec<Received> {
        self.got().into_iter().filter(|r| r.status == 200).collect()
    }

    /// Waits until `n` requests were delivered (or 10 s).
    pub(crate) fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        while self.delivered().len() < n && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.delivered()
    }
}

/// Runs `f` on a runtime of its own, in a thread of its own.
fn on_own_runtime(f: impl Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    });
}

/// Fast evaluation and retries for tests.
pub(crate) fn alert_settings(opened: &Opened, toml: &str) -> AlertSettings {
    let rules = parse(Path::new("alerts.toml"), toml).unwrap();
    AlertSettings {
        every: Duration::from_millis(50),
        retry: Retry {
            attempts: 4,
            first: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        },
        ..AlertSettings::new(rules, opened.ledger.clone(), "http://dash.test".into())
    }
}

fn collector(opened: &Opened, clock: &Arc<ManualClock>, toml: &str) -> Served {
    serve(
        opened.store.clone(),
        Settings {
            rate_limit: 10_000,
            clock: clock.clone(),
            alerts: Some(alert_settings(opened, toml)),
            ..Settings::new(TOKEN)
        },
    )
}

/// A collector for `backend` with the rules `toml`, its clock at `T0 + 60`.
fn running(backend: Backend, toml: &str) -> (Opened, Arc<ManualClock>, Served) {
    let opened = backend.open();
    let clock = Arc::new(ManualClock::at(T0 + 60));
    let c = collector(&opened, &clock, toml);
    (opened, clock, c)
}

/// POSTs `n` reports of `pem` for api.example.com from iOS app `version`; each must be stored.
fn send(addr: SocketAddr, pem: &str, version: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            post(addr, &report("api.example.com", pem, version, "IOS")),
            202
        );
    }
}

/// A rule on api.example.com: `threshold` reports in 1 h, to `url`, as `format`.
fn rule(name: &str, threshold: u32, url: &str, format: &str, extra: &str) -> String {
    format!(
        "[[alert]]\nname = \"{name}\"\nhosts = [\"api.example.com\"]\nthreshold = {threshold}\n\
         window = \"1h\"\nwebhook = \"{url}\"\nformat = \"{format}\"\n{extra}\n"
    )
}

/// A report of `host` serving `cert_pem`, from app `version` on `platform`.
pub(crate) fn report(host: &str, cert_pem: &str, version: &str, platform: &str) -> String {
    serde_json::json!({
        "hostname": host,
        "served-certificate-chain": [cert_pem],
        "failure": "pin-mismatch",
        "app-version": version,
        "app-platform": platform,
    })
    .to_string()
}

/// POSTs one report body; returns the status.
pub(crate) fn post(addr: SocketAddr, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/reports HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A rogue leaf for `api.example.com` and its pin.
fn rogue() -> (String, String) {
    let cert = keypin_pki::self_signed(keypin_pki::CertSpec::leaf(&["api.example.com"])).unwrap();
    let pin = keypin::pin::Pin::from_spki_der(&cert.spki_der()).to_string();
    (cert.cert_pem(), pin)
}

/// Long enough for many evaluations (every 50 ms) after the last event.
fn settle() {
    std::thread::sleep(Duration::from_millis(600));
}

fn threshold_crossing_fires_once_and_a_second_burst_in_the_window_does_not(backend: Backend) {
    let hook = Receiver::start(0);
    let (_opened, _clock, c) = running(backend, &rule("keys", 3, &hook.url("/hook"), "json", ""));
    let (pem, pin) = rogue();
    send(c.addr, &pem, "4.1", 2);
    settle();
    assert!(
        hook.got().is_empty(),
        "under the threshold: {:?}",
        hook.got()
    );
    send(c.addr, &pem, "4.1", 1);
    let got = hook.wait_for(1);
    assert_eq!(got.len(), 1);
    let b = &got[0].body;
    assert_eq!(b["alert"], "keys");
    assert_eq!(b["id"], format!("keys@{T0}"));
    assert_eq!(got[0].id, format!("keys@{T0}"), "the id header");
    assert_eq!(b["reports"], 3);
    assert_eq!(b["threshold"], 3);
    assert_eq!(b["host"], "api.example.com");
    assert_eq!(b["hosts"][0]["reports"], 3);
    assert_eq!(b["window"]["seconds"], 3600);
    assert_eq!(b["change"]["kind"], "new_key");
    assert_eq!(b["change"]["pins"][0], pin.as_str());
    assert_eq!(b["dashboard"], "http://dash.test/?host=api.example.com");
    assert!(
        b["hint"].as_str().unwrap().contains("interception"),
        "one network: {b}"
    );
    // A second burst, same window: nothing more.
    send(c.addr, &pem, "4.1", 5);
    settle();
    assert_eq!(hook.got().len(), 1, "{:?}", hook.got());
}

fn a_known_key_failing_for_a_new_app_version_says_so(backend: Backend) {
    let hook = Receiver::start(0);
    let (_opened, clock, c) = running(backend, &rule("keys", 2, &hook.url("/hook"), "json", ""));
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 2);
    assert_eq!(hook.wait_for(1)[0].body["change"]["kind"], "new_key");
    // The next window: the same key, now failing for 4.2 as well.
    clock.set(T0 + 3600 + 60);
    send(c.addr, &pem, "4.2", 2);
    let got = hook.wait_for(2);
    assert_eq!(got.len(), 2, "{got:?}");
    let b = &got[1].body;
    assert_eq!(b["id"], format!("keys@{}", T0 + 3600));
    assert_eq!(b["change"]["kind"], "new_app_version", "{b}");
    assert_eq!(b["change"]["app_versions"][0], "4.2");
}

fn a_receiver_failing_twice_gets_one_delivery_after_retries(backend: Backend) {
    let hook = Receiver::start(2);
    let (_opened, _clock, c) = running(backend, &rule("keys", 1, &hook.url("/hook"), "json", ""));
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 1);
    assert_eq!(hook.wait_for(1).len(), 1);
    settle();
    let got = hook.got();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200],
        "two failures, one delivery, nothing after"
    );
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one alert id: {got:?}"
    );
    let metrics = crate::metrics::scrape(c.addr);
    assert!(
        metrics.contains("keypin_collector_alert_deliveries_total{outcome=\"retried\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keypin_collector_alert_deliveries_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
}

fn two_instances_on_one_database_deliver_exactly_once(backend: Backend) {
    // Each delivery takes 400 ms: both instances evaluate many times meanwhile.
    let hook = Receiver::start_slow(0, Duration::from_millis(400));
    let (a, b) = backend.open_pair();
    let clock = Arc::new(ManualClock::at(T0 + 60));
    let toml = rule("keys", 4, &hook.url("/hook"), "json", "");
    let ca = collector(&a, &clock, &toml);
    let cb = collector(&b, &clock, &toml);
    let (pem, _) = rogue();
    for i in 0..20 {
        let to = if i % 2 == 0 { ca.addr } else { cb.addr };
        assert_eq!(
            post(to, &report("api.example.com", &pem, "4.1", "IOS")),
            202
        );
    }
    assert_eq!(hook.wait_for(1).len(), 1);
    settle();
    assert_eq!(hook.got().len(), 1, "{:?}", hook.got());
    let mut delivered = 0;
    for c in [&ca, &cb] {
        let m = crate::metrics::scrape(c.addr);
        if m.contains("keypin_collector_alert_deliveries_total{outcome=\"ok\"} 1") {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 1, "one of the two instances delivered it");
}

fn a_claim_left_by_a_dead_instance_is_taken_over_when_its_lease_runs_out(backend: Backend) {
    let hook = Receiver::start(0);
    let opened = backend.open();
    let now = T0 + 60;
    // An instance claimed this window, made one attempt and died: its lease runs to now + 5.
    opened.ledger.prepare_alerts().unwrap();
    let claim = opened
        .ledger
        .claim_alert("keys", T0 as i64, "dead", now as i64, now as i64 + 5)
        .unwrap();
    assert_eq!(claim, Claim::Claimed { attempts: 0 });
    assert!(
        opened
            .ledger
            .alert_attempt("keys", T0 as i64, "dead", now as i64 + 5)
            .unwrap()
    );
    let clock = Arc::new(ManualClock::at(now));
    let c = collector(
        &opened,
        &clock,
        &rule("keys", 1, &hook.url("/hook"), "json", ""),
    );
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 1);
    settle();
    assert!(
        hook.got().is_empty(),
        "the lease is still live: {:?}",
        hook.got()
    );
    clock.set(now + 6);
    let got = hook.wait_for(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, format!("keys@{T0}"));
    settle();
    assert_eq!(hook.got().len(), 1);
}

fn an_alert_abandoned_in_an_earlier_window_is_sent_by_another_instance(backend: Backend) {
    let hook = Receiver::start(0);
    let opened = backend.open();
    let earlier = T0 - 3600;
    // The window before T0: an instance claimed its alert and died; its lease ends at
    // earlier + 65.
    opened.ledger.prepare_alerts().unwrap();
    let claim = opened
        .ledger
        .claim_alert(
            "keys",
            earlier as i64,
            "dead",
            earlier as i64 + 60,
            earlier as i64 + 65,
        )
        .unwrap();
    assert_eq!(claim, Claim::Claimed { attempts: 0 });
    let clock = Arc::new(ManualClock::at(earlier + 60));
    let c = collector(
        &opened,
        &clock,
        &rule("keys", 2, &hook.url("/hook"), "json", ""),
    );
    let (pem, pin) = rogue();
    send(c.addr, &pem, "4.1", 2);
    settle();
    assert!(hook.got().is_empty(), "the lease is live: {:?}", hook.got());
    // The next window, with nothing in it: the abandoned alert is still sent, with its
    // window's own count.
    clock.set(T0 + 60);
    let got = hook.wait_for(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, format!("keys@{earlier}"));
    assert_eq!(got[0].body["reports"], 2);
    assert_eq!(got[0].body["change"]["pins"][0], pin.as_str());
    settle();
    assert_eq!(hook.got().len(), 1);
}

fn the_ledger_lets_one_owner_deliver_and_another_take_over_an_expired_lease(backend: Backend) {
    let opened = backend.open();
    let l = opened.ledger.clone();
    l.prepare_alerts().unwrap();
    l.prepare_alerts().unwrap();
    let now = 1000;
    // a claims; b is held off while the lease lives.
    assert_eq!(
        l.claim_alert("r", 0, "a", now, now + 60).unwrap(),
        Claim::Claimed { attempts: 0 }
    );
    assert_eq!(
        l.claim_alert("r", 0, "b", now + 1, now + 61).unwrap(),
        Claim::Held
    );
    assert!(l.alert_attempt("r", 0, "a", now + 60).unwrap());
    // Another window is another alert.
    assert_eq!(
        l.claim_alert("r", 3600, "b", now, now + 60).unwrap(),
        Claim::Claimed { attempts: 0 }
    );
    // a dies; its lease runs out; b takes over with a's attempt counted.
    assert_eq!(
        l.claim_alert("r", 0, "b", now + 61, now + 121).unwrap(),
        Claim::Claimed { attempts: 1 }
    );
    assert!(
        !l.alert_attempt("r", 0, "a", now + 200).unwrap(),
        "a lost it"
    );
    assert!(!l.finish_alert("r", 0, "a", true, now + 62).unwrap());
    assert!(l.finish_alert("r", 0, "b", true, now + 62).unwrap());
    // Delivered is final, lease or not.
    assert_eq!(
        l.claim_alert("r", 0, "c", now + 10_000, now + 10_060)
            .unwrap(),
        Claim::Done
    );
}

on_both_backends!(
    threshold_crossing_fires_once_and_a_second_burst_in_the_window_does_not,
    a_known_key_failing_for_a_new_app_version_says_so,
    a_receiver_failing_twice_gets_one_delivery_after_retries,
    two_instances_on_one_database_deliver_exactly_once,
    a_claim_left_by_a_dead_instance_is_taken_over_when_its_lease_runs_out,
    an_alert_abandoned_in_an_earlier_window_is_sent_by_another_instance,
    the_ledger_lets_one_owner_deliver_and_another_take_over_an_expired_lease,
);

#[test]
fn ingest_does_not_wait_for_a_slow_webhook() {
    // Under the 2 s deadline of a try (alert_settings).
    let hook = Receiver::start_slow(0, Duration::from_millis(1500));
    let (_opened, _clock, c) = running(
        Backend::Sqlite,
        &rule("keys", 1, &hook.url("/hook"), "json", ""),
    );
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 1);
    // The delivery is now waiting on the receiver.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    send(c.addr, &pem, "4.1", 20);
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "20 reports took {:?} while a webhook hung",
        start.elapsed()
    );
    assert!(hook.got().is_empty(), "still waiting on the receiver");
    assert_eq!(hook.wait_for(1).len(), 1);
}

#[test]
fn a_webhook_refusing_with_4xx_is_not_retried() {
    let hook = Receiver::start_with(usize::MAX, 404, Duration::ZERO);
    let (_opened, _clock, c) = running(
        Backend::Sqlite,
        &rule("keys", 1, &hook.url("/gone"), "json", ""),
    );
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 1);
    settle();
    assert_eq!(hook.got().len(), 1, "one try: {:?}", hook.got());
    let m = crate::metrics::scrape(c.addr);
    assert!(
        m.contains("keypin_collector_alert_deliveries_total{outcome=\"failed\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("keypin_collector_alert_deliveries_total{outcome=\"retried\"} 0"),
        "{m}"
    );
}

/// An HTTPS server on loopback for `localhost` whose chain ends at a root nobody trusts (a
/// man in the middle of the webhook); counts TCP connections and completed TLS handshakes.
fn untrusted_https_server() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let dir = tempfile::TempDir::new().unwrap();
    let chain =
        keypin_pki::Chain::generate("Webhook", &["localhost"], keypin_pki::KeyAlg::EcdsaP256)
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(
        &cert,
        chain.leaf.cert_pem() + &chain.intermediate.cert_pem(),
    )
    .unwrap();
    std::fs::write(&key, chain.leaf.key_pem()).unwrap();
    let acceptor =
        tokio_rustls::TlsAcceptor::from(keypin_collector::tls::server_config(&cert, &key).unwrap());
    let (connections, handshakes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, h) = (connections.clone(), handshakes.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    on_own_runtime(async move {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        while let Ok((s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            if acceptor.accept(s).await.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (addr, connections, handshakes)
}

#[test]
fn a_webhook_behind_a_certificate_from_an_untrusted_root_gets_nothing() {
    let (addr, connections, handshakes) = untrusted_https_server();
    let url = format!("https://localhost:{}/hook", addr.port());
    let (_opened, _clock, c) = running(Backend::Sqlite, &rule("keys", 1, &url, "json", ""));
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 1);
    let failed = "keypin_collector_alert_deliveries_total{outcome=\"failed\"} 1";
    let start = Instant::now();
    while !crate::metrics::scrape(c.addr).contains(failed) {
        assert!(start.elapsed() < Duration::from_secs(15), "never given up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = crate::metrics::scrape(c.addr);
    assert!(
        m.contains("keypin_collector_alert_deliveries_total{outcome=\"retried\"} 3"),
        "every try reached the server and failed before HTTP: {m}"
    );
    assert!(
        connections.load(Ordering::SeqCst) >= 4,
        "the server was reached"
    );
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        0,
        "no handshake completed"
    );
}

#[test]
fn slack_body_has_text_and_blocks_with_the_dashboard_link() {
    let hook = Receiver::start(0);
    let (_opened, _clock, c) = running(
        Backend::Sqlite,
        &rule("slack-keys", 1, &hook.url("/slack"), "slack", ""),
    );
    let (pem, pin) = rogue();
    send(c.addr, &pem, "4.1", 1);
    let got = hook.wait_for(1);
    let b = &got[0].body;
    let text = b["text"].as_str().unwrap();
    assert!(
        text.contains("keypin alert slack-keys: 1 pin-failure report(s) for api.example.com"),
        "{text}"
    );
    assert!(
        text.contains(&format!("serves a key never seen before: {pin}")),
        "{text}"
    );
    assert!(text.contains("Hint: "), "{text}");
    assert!(
        text.contains("<http://dash.test/?host=api.example.com|Open the dashboard>"),
        "{text}"
    );
    assert_eq!(b["blocks"][0]["type"], "section");
    assert_eq!(b["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(b["blocks"][0]["text"]["text"], text);
    assert_eq!(b["blocks"][1]["type"], "context");
}

/// A rule firing on one report for any host under example.com, to `hook` as Slack.
fn any_host_to_slack(hook: &Receiver) -> String {
    "[[alert]]\nname = \"any\"\nhosts = [\"**.example.com\"]\nthreshold = 1\n\
     window = \"1h\"\nwebhook = \"URL\"\nformat = \"slack\"\n"
        .replace("URL", &hook.url("/slack"))
}

#[test]
fn a_hostile_host_name_cannot_mention_or_link_in_slack() {
    let hook = Receiver::start(0);
    let (_opened, _clock, c) = running(Backend::Sqlite, &any_host_to_slack(&hook));
    let (pem, _) = rogue();
    let host = "<!channel>|<https://evil.test|x>.example.com";
    assert_eq!(post(c.addr, &report(host, &pem, "4.1", "IOS")), 202);
    let got = hook.wait_for(1);
    let text = got[0].body["text"].as_str().unwrap().to_string();
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(!text.contains("<https://evil.test"), "{text}");
    assert!(
        text.contains("&lt;!channel&gt;|&lt;https://evil.test|x&gt;.example.com"),
        "{text}"
    );
    assert!(
        text.contains("<http://dash.test/?host=%3C%21channel%3E%7C%3Chttps%3A%2F%2Fevil.test%7Cx%3E.example.com|Open the dashboard>"),
        "the only link is the dashboard's, its host percent-encoded: {text}"
    );
}

#[test]
fn the_longest_hostile_host_name_still_gives_a_slack_body_slack_takes() {
    let hook = Receiver::start(0);
    let (_opened, _clock, c) = running(Backend::Sqlite, &any_host_to_slack(&hook));
    let (pem, _) = rogue();
    // 253 characters, the most ingest takes, each escaped and percent-encoded.
    let host = format!("{}.example.com", "<".repeat(241));
    assert_eq!(post(c.addr, &report(&host, &pem, "4.1", "IOS")), 202);
    let got = hook.wait_for(1);
    let b = &got[0].body;
    let text = b["text"].as_str().unwrap();
    assert!(text.chars().count() < 40_000, "Slack's limit for text");
    assert!(text.contains(&"&lt;".repeat(241)), "{text}");
    assert!(
        text.chars().count() > 3000,
        "over a section's limit: {text}"
    );
    assert!(
        b.get("blocks").is_none(),
        "no section over Slack's limit: {b}"
    );
}

#[test]
fn filters_count_only_matching_reports() {
    let hook = Receiver::start(0);
    let opened = Backend::Sqlite.open();
    let clock = Arc::new(ManualClock::at(T0 + 60));
    let toml = [
        rule("v42", 2, &hook.url("/v42"), "json", "app_version = \"4.2\""),
        rule("v41", 2, &hook.url("/v41"), "json", "app_version = \"4.1\""),
        rule("android", 2, &hook.url("/android"), "json", "platform = \"android\""),
        rule("ios", 2, &hook.url("/ios"), "json", "platform = \"ios\""),
        rule("expired", 2, &hook.url("/expired"), "json", "kind = \"expired\""),
        rule("mismatch", 2, &hook.url("/mismatch"), "json", "kind = \"pin-mismatch\""),
        "[[alert]]\nname = \"other\"\nhosts = [\"**.example.net\"]\nthreshold = 1\nwindow = \"1h\"\n\
         webhook = \"URL\"\nformat = \"json\"\n"
            .replace("URL", &hook.url("/other")),
        "[[alert]]\nname = \"wild\"\nhosts = [\"*.example.com\"]\nthreshold = 2\nwindow = \"1h\"\n\
         webhook = \"URL\"\nformat = \"json\"\n"
            .replace("URL", &hook.url("/wild")),
    ]
    .concat();
    let c = collector(&opened, &clock, &toml);
    let (pem, _) = rogue();
    send(c.addr, &pem, "4.1", 2);
    hook.wait_for(4);
    settle();
    let mut paths: Vec<String> = hook.got().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/ios", "/mismatch", "/v41", "/wild"]);
}

/// `(alerts.toml, line, field, words in the message)`.
const BAD: &[(&str, usize, &str, &str)] = &[
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\nplatfrom = \"ios\"\n",
        8,
        "platfrom",
        "unknown field",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10 minutes\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        5,
        "window",
        "expected a number and a unit",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\", \"*.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        3,
        "hosts",
        "public suffix",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 0\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        4,
        "threshold",
        "from 1 to",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"http://hooks.example.com/x\"\nformat = \"json\"\n",
        6,
        "webhook",
        "in clear",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"teams\"\n",
        7,
        "format",
        "\"slack\" or \"json\"",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = \"many\"\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        4,
        "threshold",
        "invalid type",
    ),
    (
        "\n[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nformat = \"json\"\n",
        2,
        "webhook",
        "missing field",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n\
         [[alert]]\nname = \"a\"\nhosts = [\"api.example.com\"]\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        9,
        "name",
        "unique",
    ),
    (
        "[[alert]]\nname = \"a\"\nhosts = []\nthreshold = 3\nwindow = \"10m\"\nwebhook = \"https://h.example/x\"\nformat = \"json\"\n",
        3,
        "hosts",
        "at least one",
    ),
];

#[test]
fn bad_alerts_toml_errors_name_the_line_and_field() {
    for (text, line, field, words) in BAD {
        let e = parse(Path::new("alerts.toml"), text).unwrap_err();
        assert_eq!(e.line, Some(*line), "{e} for\n{text}");
        assert_eq!(e.field.as_deref(), Some(*field), "{e} for\n{text}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("alerts.toml:{line}: field `{field}`: ")),
            "{shown}"
        );
        assert!(shown.contains(words), "{shown} lacks {words:?}");
    }
}

#[test]
fn a_good_alerts_toml_parses_every_field() {
    let text = "[[alert]]\nname = \"rotation-watch\"\nhosts = [\"api.example.com\", \"**.example.org\"]\n\
                threshold = 50\nwindow = \"10m\"\napp_version = \"4.2.0\"\nplatform = \"ios\"\n\
                kind = \"pin-mismatch\"\nwebhook = \"https://hooks.slack.com/services/T0/B0/X\"\nformat = \"slack\"\n";
    let rules = parse(Path::new("alerts.toml"), text).unwrap();
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_eq!((r.threshold, r.window_secs), (50, 600));
    assert!(r.covers(
        "a.b.example.org",
        Some("4.2.0"),
        Some("IOS"),
        Some("pin-mismatch")
    ));
    assert!(!r.covers(
        "a.b.example.org",
        Some("4.2.1"),
        Some("IOS"),
        Some("pin-mismatch")
    ));
    assert!(!r.covers(
        "example.com",
        Some("4.2.0"),
        Some("IOS"),
        Some("pin-mismatch")
    ));
    assert!(
        !format!("{:?}", r.webhook).contains("T0/B0"),
        "the webhook's secret path is not shown"
    );
}
