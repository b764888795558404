//! The collector on loopback: ingest of every dialect, auth, bad input, rate limits, escaping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use keypin_collector::{Settings, Store};

use crate::backend::{Backend, Served, serve};

const TOKEN: &str = "test-token-0123456789";

struct Running {
    addr: SocketAddr,
    store: Arc<dyn Store>,
    _served: Served,
    _dir: Option<tempfile::TempDir>,
}

fn start(rate_limit: u32) -> Running {
    start_on(Backend::Sqlite, rate_limit)
}

fn start_on(backend: Backend, rate_limit: u32) -> Running {
    start_with_on(
        backend,
        Settings {
            rate_limit,
            ..Settings::new(TOKEN)
        },
    )
}

fn start_with(settings: Settings) -> Running {
    start_with_on(Backend::Sqlite, settings)
}

fn start_with_on(backend: Backend, settings: Settings) -> Running {
    let opened = backend.open();
    let served = serve(opened.store.clone(), settings);
    Running {
        addr: served.addr,
        store: opened.store,
        _served: served,
        _dir: opened._dir,
    }
}

/// A minimal HTTP/1.1 exchange; returns (status, headers + body as text).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    exchange(
        TcpStream::connect(addr).unwrap(),
        method,
        path,
        headers,
        body,
    )
}

/// One request on `s` (which the server then closes); returns (status, headers + body).
fn exchange(
    mut s: impl Read + Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: collector.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    // Over TLS a missing close_notify is an error here; what was read counts.
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        "/v1/reports",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// `POST /login` with `token` in a form body, as the login page sends it.
fn login(addr: SocketAddr, token: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("token={token}").as_bytes(),
    )
}

/// The `Set-Cookie` header of a response, lower-cased name, as sent.
fn set_cookie(response: &str) -> &str {
    response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no Set-Cookie in {response}"))
}

/// The session id a login response set.
fn session_of(response: &str) -> String {
    let cookie = set_cookie(response);
    cookie
        .strip_prefix("keypin_session=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("not a session cookie: {cookie}"))
        .to_string()
}

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

const HPKP: &str = r#"{ "date-time": "2026-11-28T01:00:00Z", "hostname": "api.example.com", "port": 443,
  "effective-expiration-date": "2027-01-01T00:00:00Z", "include-subdomains": false,
  "noted-hostname": "api.example.com", "served-certificate-chain": [], "validated-certificate-chain": [],
  "known-pins": ["pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\""] }"#;

fn ingests_hpkp_trustkit_and_keypin_reports_unchanged(backend: Backend) {
    let c = start_on(backend, 10_000);
    let trustkit = HPKP.replace(
        "\"port\": 443,",
        "\"port\": 0, \"app-bundle-id\": \"com.bank.app\", \"app-version\": \"4.2\", \"app-platform\": \"ANDROID\", \"trustkit-version\": \"1.7\", \"enforce-pinning\": true, \"validation-result\": 1,",
    );
    let keypin = HPKP.replace("\"port\": 443,", "\"port\": 443, \"mode\": \"enforce\", \"failure\": \"pin-mismatch\", \"policy-version\": \"7\",");
    assert_eq!(post(c.addr, HPKP).0, 202);
    assert_eq!(post(c.addr, &trustkit).0, 202);
    // A batch, in keypin's envelope.
    let (code, body) = post(c.addr, &format!("{{\"reports\": [{keypin}, {keypin}]}}"));
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"stored\":2"));
    assert_eq!(c.store.count().unwrap(), 4);

    let (h, v) = auth();
    let (code, text) = http(
        c.addr,
        "GET",
        "/v1/reports?host=API.example.com&limit=10",
        &[(h, &v)],
        b"",
    );
    assert_eq!(code, 200);
    let json: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let dialects: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dialect"].as_str().unwrap())
        .collect();
    assert_eq!(dialects, ["keypin", "keypin", "trustkit", "hpkp"]);
    // Stored unchanged: the TrustKit fields come back as sent.
    assert_eq!(json[2]["report"]["app-bundle-id"], "com.bank.app");
    assert_eq!(json[2]["failure"], "pin-mismatch");
    assert_eq!(
        json[3]["report"]["known-pins"][0],
        "pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\""
    );
}

#[test]
fn query_api_and_dashboard_need_the_token() {
    let c = start(10_000);
    assert_eq!(http(c.addr, "GET", "/v1/reports", &[], b"").0, 401);
    assert_eq!(
        http(
            c.addr,
            "GET",
            "/v1/summary",
            &[("Authorization", "Bearer wrong")],
            b""
        )
        .0,
        401
    );
    let (code, text) = http(c.addr, "GET", "/", &[], b"");
    assert_eq!(code, 303, "{text}");
    assert!(text.contains("location: /login"), "{text}");
    assert_eq!(login(c.addr, "nope").0, 401);
    let (code, text) = login(c.addr, TOKEN);
    assert_eq!(code, 303, "{text}");
    let cookie = format!("keypin_session={}", session_of(&text));
    assert_eq!(http(c.addr, "GET", "/", &[("Cookie", &cookie)], b"").0, 200);
    // A session reads the API too (the cookie is SameSite=Strict: same-site pages only).
    assert_eq!(
        http(c.addr, "GET", "/v1/summary", &[("Cookie", &cookie)], b"").0,
        200
    );
    let (h, v) = auth();
    assert_eq!(http(c.addr, "GET", "/", &[(h, &v)], b"").0, 200);
}

fn bad_input_gets_4xx_and_the_service_keeps_serving(backend: Backend) {
    let c = start_on(backend, 10_000);
    let big_batch = format!(
        "[{}]",
        vec!["{\"hostname\":\"a.example.com\"}"; 1001].join(",")
    );
    let ten_mb = vec![b'x'; 10 * 1024 * 1024];
    let rows: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid report JSON"),
        (br#"{"hostname": 5}"#.to_vec(), 400, "expected a string"),
        (br#"{"hostname": "a", "port": 70000}"#.to_vec(), 400, "u16"),
        (br#"{"port": 1}"#.to_vec(), 400, "missing field `hostname`"),
        (br#"{"hostname": ""}"#.to_vec(), 400, "hostname"),
        (
            br#"{"hostname": "a", "date-time": "1970-01-01T00:00:00Z"}"#.to_vec(),
            400,
            "not a plausible time",
        ),
        (
            br#"{"hostname": "a", "date-time": "9999-01-01T00:00:00Z"}"#.to_vec(),
            400,
            "not a plausible time",
        ),
        (
            br#"{"hostname": "a", "date-time": "yesterday"}"#.to_vec(),
            400,
            "RFC 3339",
        ),
        (b"[]".to_vec(), 400, "no report"),
        (big_batch.into_bytes(), 400, "at most 1000"),
        (vec![b'{', 0xff, 0xfe, b'}'], 400, "UTF-8"),
        (ten_mb, 413, ""),
        (
            format!("{{\"hostname\": \"{}\"}}", "a".repeat(300)).into_bytes(),
            400,
            "253",
        ),
    ];
    for (body, code, words) in rows {
        let (got, text) = http(c.addr, "POST", "/v1/reports", &[], &body);
        assert_eq!(
            got,
            code,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert!(text.contains(words), "{words}: {text}");
    }
    assert_eq!(c.store.count().unwrap(), 0);
    assert_eq!(post(c.addr, HPKP).0, 202, "still serving");
}

#[test]
fn rate_limit_answers_429() {
    let c = start(5);
    let codes: Vec<u16> = (0..30).map(|_| post(c.addr, HPKP).0).collect();
    assert!(codes.iter().filter(|c| **c == 202).count() >= 10);
    assert!(codes.contains(&429), "{codes:?}");
}

fn dashboard_escapes_hostile_strings(backend: Backend) {
    let c = start_on(backend, 10_000);
    let hostile = r#"{"hostname": "<script>alert('x')</script>.example.com", "app-version": "\"><img src=x onerror=alert(1)>"}"#;
    assert_eq!(post(c.addr, hostile).0, 202);
    let (h, v) = auth();
    let (code, page) = http(c.addr, "GET", "/", &[(h, &v)], b"");
    assert_eq!(code, 200);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.example.com"),
        "{page}"
    );
}

fn served_keys_are_counted_with_an_interception_hint(backend: Backend) {
    let c = start_on(backend, 10_000);
    let rogue = keypin_pki::self_signed(keypin_pki::CertSpec::leaf(&["api.example.com"])).unwrap();
    let pem = rogue.cert_pem();
    let report = serde_json::json!({
        "hostname": "api.example.com",
        "served-certificate-chain": [pem],
        "failure": "pin-mismatch",
    });
    for _ in 0..3 {
        assert_eq!(post(c.addr, &report.to_string()).0, 202);
    }
    let pin = keypin::pin::Pin::from_spki_der(&rogue.spki_der()).to_string();
    let (h, v) = auth();
    let (_, page) = http(c.addr, "GET", "/", &[(h, &v)], b"");
    assert!(page.contains(&pin), "{page}");
    assert!(
        page.contains("<td>3</td><td>1</td>"),
        "3 reports from 1 network: {page}"
    );
    assert!(page.contains("looks like interception"), "{page}");
}

#[test]
fn token_in_login_url_is_refused() {
    let c = start(10_000);
    let (code, text) = http(c.addr, "GET", &format!("/login?token={TOKEN}"), &[], b"");
    assert!((400..500).contains(&code), "{text}");
    assert!(!text.contains("set-cookie"), "{text}");
    // The login page itself still loads, with a form that POSTs the token in the body.
    let (code, page) = http(c.addr, "GET", "/login", &[], b"");
    assert_eq!(code, 200);
    assert!(
        page.contains("<form method=\"post\" action=\"/login\">"),
        "{page}"
    );
}

#[test]
fn session_cookie_is_random_httponly_strict_and_not_the_token() {
    let c = start(10_000);
    let (code, first) = login(c.addr, TOKEN);
    assert_eq!(code, 303, "{first}");
    assert!(first.contains("location: /\r\n"), "{first}");
    let cookie = set_cookie(&first);
    assert!(!cookie.contains(TOKEN), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP: {cookie}");
    let id = session_of(&first);
    assert!(
        id.len() >= 43 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "at least 256 random bits: {id}"
    );
    let second = session_of(&login(c.addr, TOKEN).1);
    assert_ne!(id, second, "each login makes a new session");

    let page = |cookie: &str| http(c.addr, "GET", "/", &[("Cookie", cookie)], b"").0;
    assert_eq!(page(&format!("keypin_session={id}")), 200);
    assert_eq!(page(&format!("other=1; keypin_session={second}")), 200);
    // A made-up session, and the old cookie that held the token, do not log in.
    assert_eq!(page(&format!("keypin_session={}", "0".repeat(64))), 303);
    assert_eq!(page(&format!("keypin_token={TOKEN}")), 303);
    assert_eq!(page(&format!("keypin_session={TOKEN}")), 303);
}

#[test]
fn logout_ends_the_session() {
    let c = start(10_000);
    let cookie = format!("keypin_session={}", session_of(&login(c.addr, TOKEN).1));
    assert_eq!(http(c.addr, "GET", "/", &[("Cookie", &cookie)], b"").0, 200);
    let (code, text) = http(c.addr, "POST", "/logout", &[("Cookie", &cookie)], b"");
    assert_eq!(code, 303, "{text}");
    assert!(text.contains("location: /login"), "{text}");
    let cleared = set_cookie(&text);
    assert!(cleared.starts_with("keypin_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old id is dead on the server, whatever the browser kept.
    assert_eq!(http(c.addr, "GET", "/", &[("Cookie", &cookie)], b"").0, 303);
    assert_eq!(
        http(c.addr, "GET", "/v1/summary", &[("Cookie", &cookie)], b"").0,
        401
    );
}

#[test]
fn expired_session_is_refused() {
    const START: u64 = 1_800_000_000;
    let clock = Arc::new(keypin::clock::ManualClock::at(START));
    let c = start_with(Settings {
        session_lifetime: std::time::Duration::from_secs(3600),
        clock: clock.clone(),
        ..Settings::new(TOKEN)
    });
    let (_, text) = login(c.addr, TOKEN);
    assert!(set_cookie(&text).contains("Max-Age=3600"), "{text}");
    let cookie = format!("keypin_session={}", session_of(&text));
    let page = || http(c.addr, "GET", "/", &[("Cookie", &cookie)], b"").0;
    clock.set(START + 3599);
    assert_eq!(page(), 200);
    clock.set(START + 3600);
    assert_eq!(page(), 303, "expired at login + lifetime");
    clock.set(START);
    assert_eq!(
        page(),
        303,
        "an expired session stays dead if the clock goes back"
    );
}

/// A loopback CA chain for `collector.test`, written as PEM files; the collector's TLS
/// configuration loaded from them, and a client configuration trusting the root.
fn tls_pair(dir: &std::path::Path) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let chain = keypin_pki::Chain::generate(
        "Collector",
        &["collector.test"],
        keypin_pki::KeyAlg::EcdsaP256,
    )
    .unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(
        &cert,
        chain.leaf.cert_pem() + &chain.intermediate.cert_pem(),
    )
    .unwrap();
    std::fs::write(&key, chain.leaf.key_pem()).unwrap();
    let server = keypin_collector::tls::server_config(&cert, &key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(chain.root_store())
        .with_no_client_auth();
    (server, Arc::new(client))
}

/// [`http`] over TLS to `collector.test` at `addr`.
fn https(
    addr: SocketAddr,
    client: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let name = rustls_pki_types::ServerName::try_from("collector.test").unwrap();
    let conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
    let s = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    exchange(s, method, path, headers, body)
}

#[test]
fn tls_collector_accepts_reports_over_https_and_sets_secure_cookie() {
    let dir = tempfile::TempDir::new().unwrap();
    let (server, client) = tls_pair(dir.path());
    let c = start_with(Settings {
        tls: Some(server),
        ..Settings::new(TOKEN)
    });
    let json = [("Content-Type", "application/json")];
    let (code, text) = https(
        c.addr,
        &client,
        "POST",
        "/v1/reports",
        &json,
        HPKP.as_bytes(),
    );
    assert_eq!(code, 202, "{text}");
    assert_eq!(c.store.count().unwrap(), 1);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let body = format!("token={TOKEN}");
    let (code, text) = https(c.addr, &client, "POST", "/login", &form, body.as_bytes());
    assert_eq!(code, 303, "{text}");
    let cookie = set_cookie(&text);
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    let session = format!("keypin_session={}", session_of(&text));
    assert_eq!(
        https(c.addr, &client, "GET", "/", &[("Cookie", &session)], b"").0,
        200
    );
    // Plain HTTP to the TLS port is not served.
    let (code, text) = http(c.addr, "POST", "/v1/reports", &json, HPKP.as_bytes());
    assert_eq!(code, 0, "{text}");
    assert_eq!(c.store.count().unwrap(), 1);
}

/// A report POSTed with `X-Forwarded-For: forwarded`; returns the status.
fn post_via(addr: SocketAddr, forwarded: &str) -> u16 {
    http(
        addr,
        "POST",
        "/v1/reports",
        &[("X-Forwarded-For", forwarded)],
        HPKP.as_bytes(),
    )
    .0
}

/// A collector that trusts 127.0.0.1 as its proxy, rate limit 1/s (burst 2).
fn behind_loopback_proxy() -> Running {
    behind_loopback_proxy_on(Backend::Sqlite)
}

fn behind_loopback_proxy_on(backend: Backend) -> Running {
    start_with_on(
        backend,
        Settings {
            rate_limit: 1,
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Settings::new(TOKEN)
        },
    )
}

/// Each row: a report through the proxy for `X-Forwarded-For: forwarded` gets `want`.
fn check_forwarded(c: &Running, rows: &[(&str, u16)]) {
    for (forwarded, want) in rows {
        assert_eq!(post_via(c.addr, forwarded), *want, "{forwarded}");
    }
}

/// The sender networks of the stored reports, oldest first.
fn networks(store: &dyn Store) -> Vec<String> {
    let q = keypin_collector::store::Query {
        limit: 1000,
        ..Default::default()
    };
    let mut n: Vec<String> = store
        .reports(&q)
        .unwrap()
        .into_iter()
        .map(|r| r.client_network)
        .collect();
    n.reverse();
    n
}

fn x_forwarded_for_is_ignored_unless_from_trusted_proxy(backend: Backend) {
    // Rate limit 1/s, burst 2: a third request within the second is refused.
    let untrusted = start_with_on(
        backend,
        Settings {
            rate_limit: 1,
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Settings::new(TOKEN)
        },
    );
    let codes: Vec<u16> = ["203.0.113.1", "203.0.113.2", "198.51.100.3"]
        .iter()
        .map(|f| post_via(untrusted.addr, f))
        .collect();
    assert_eq!(
        codes,
        [202, 202, 429],
        "a new X-Forwarded-For is no new client"
    );
    assert_eq!(networks(untrusted.store.as_ref()), ["127.0.0.0/24"; 2]);

    let behind_proxy = behind_loopback_proxy_on(backend);
    let rows: &[(&str, u16)] = &[
        ("203.0.113.1", 202),
        ("203.0.113.1", 202),
        ("203.0.113.1", 429),
        // Prepending a made-up address does not make a new client: the proxy appended the
        // real one, and that is the right-most.
        ("198.51.100.9, 203.0.113.1", 429),
        ("198.51.100.9,203.0.113.1", 429),
        ("203.0.113.2", 202),
        ("192.0.2.1:4711", 202),
    ];
    check_forwarded(&behind_proxy, rows);
    assert_eq!(
        networks(behind_proxy.store.as_ref()),
        [
            "203.0.113.0/24",
            "203.0.113.0/24",
            "203.0.113.0/24",
            "192.0.2.0/24"
        ]
    );
}

#[test]
fn ipv6_clients_rate_limited_by_64() {
    // Loopback has one IPv6 address (::1), so the clients come through a trusted proxy.
    let c = behind_loopback_proxy();
    let rows: &[(&str, u16)] = &[
        ("2001:db8:1:1::1", 202),
        ("2001:db8:1:1::2", 202),
        // A third address in the same /64 is the same client.
        ("2001:db8:1:1:ffff:ffff:ffff:ffff", 429),
        // Another /64 is another client.
        ("2001:db8:1:2::1", 202),
        ("[2001:db8:1:3::1]:443", 202),
        // IPv4-mapped IPv6 is its IPv4 address.
        ("::ffff:192.0.2.1", 202),
        ("192.0.2.1", 202),
        ("::ffff:192.0.2.1", 429),
        ("192.0.2.2", 202),
    ];
    check_forwarded(&c, rows);
}

/// A client over its report rate gets 429 as soon as its request head arrives: the collector
/// does not wait for (or read) a body it will refuse, so a flood costs it no body reads.
#[test]
fn rate_limited_client_is_refused_before_its_body_is_read() {
    let c = start(1);
    let codes: Vec<u16> = (0..4).map(|_| post(c.addr, HPKP).0).collect();
    assert!(codes.contains(&429), "the bucket is empty: {codes:?}");
    let mut s = TcpStream::connect(c.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    // A declared 1 MiB body that never comes.
    s.write_all(
        b"POST /v1/reports HTTP/1.1\r\nHost: collector.test\r\nConnection: close\r\n\
          Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 429"),
        "answered after {:?}: {text:?}",
        started.elapsed()
    );
    assert!(
        text.contains("Retry-After") || text.contains("retry-after"),
        "{text}"
    );
}

// The tests above that read what was stored, on each backend.
on_both_backends!(
    ingests_hpkp_trustkit_and_keypin_reports_unchanged,
    bad_input_gets_4xx_and_the_service_keeps_serving,
    dashboard_escapes_hostile_strings,
    served_keys_are_counted_with_an_interception_hint,
    x_forwarded_for_is_ignored_unless_from_trusted_proxy,
);
