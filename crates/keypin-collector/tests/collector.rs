//! The collector on loopback: ingest of every dialect, auth, bad input, rate limits, escaping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use keypin_collector::{Settings, SqliteStore, Store};

const TOKEN: &str = "test-token-0123456789";

struct Running {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(rate_limit: u32) -> Running {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("reports.db")).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let s: Arc<dyn Store> = store.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let settings = Settings {
                token: TOKEN.into(),
                rate_limit,
                retention_days: 90,
            };
            keypin_collector::serve(listener, s, settings, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Running {
        addr: addr_rx.recv().unwrap(),
        store,
        _dir: dir,
        stop: Some(stop),
        thread: Some(thread),
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
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
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

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

const HPKP: &str = r#"{ "date-time": "2026-11-28T01:00:00Z", "hostname": "api.example.com", "port": 443,
  "effective-expiration-date": "2027-01-01T00:00:00Z", "include-subdomains": false,
  "noted-hostname": "api.example.com", "served-certificate-chain": [], "validated-certificate-chain": [],
  "known-pins": ["pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\""] }"#;

#[test]
fn ingests_hpkp_trustkit_and_keypin_reports_unchanged() {
    let c = start(10_000);
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
    assert_eq!(http(c.addr, "GET", "/login?token=nope", &[], b"").0, 401);
    let (code, text) = http(c.addr, "GET", &format!("/login?token={TOKEN}"), &[], b"");
    assert_eq!(code, 303);
    assert!(
        text.contains("keypin_token=") && text.contains("HttpOnly"),
        "{text}"
    );
    let (code, _) = http(
        c.addr,
        "GET",
        "/",
        &[("Cookie", &format!("keypin_token={TOKEN}"))],
        b"",
    );
    assert_eq!(code, 200);
}

#[test]
fn bad_input_gets_4xx_and_the_service_keeps_serving() {
    let c = start(10_000);
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

#[test]
fn dashboard_escapes_hostile_strings() {
    let c = start(10_000);
    let hostile = r#"{"hostname": "<script>alert('x')</script>.example.com", "app-version": "\"><img src=x onerror=alert(1)>"}"#;
    assert_eq!(post(c.addr, hostile).0, 202);
    let (code, page) = http(
        c.addr,
        "GET",
        "/",
        &[("Cookie", &format!("keypin_token={TOKEN}"))],
        b"",
    );
    assert_eq!(code, 200);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.example.com"),
        "{page}"
    );
}

#[test]
fn served_keys_are_counted_with_an_interception_hint() {
    let c = start(10_000);
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
    let pin = keypin::Pin::from_spki_der(&rogue.spki_der()).to_string();
    let (_, page) = http(
        c.addr,
        "GET",
        "/",
        &[("Cookie", &format!("keypin_token={TOKEN}"))],
        b"",
    );
    assert!(page.contains(&pin), "{page}");
    assert!(
        page.contains("<td>3</td><td>1</td>"),
        "3 reports from 1 network: {page}"
    );
    assert!(page.contains("looks like interception"), "{page}");
}
