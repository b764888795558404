//! `GET /metrics`: behind the token by default, and its counters move with what the collector
//! does.

use std::io::{Read, Write};
use std::net::SocketAddr;

use keypin_collector::Settings;

use crate::alerts::{TOKEN, post};
use crate::backend::{Backend, serve};

/// `GET /metrics` with `auth` (a full `Authorization` value, or none); (status, response).
fn get(addr: SocketAddr, auth: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: c\r\nConnection: close\r\n{auth}\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

/// The metrics text, with the token.
pub(crate) fn scrape(addr: SocketAddr) -> String {
    let (status, text) = get(addr, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of the sample line starting with `name` (labels included), 0 when absent.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn metrics_count_accepted_refused_rate_limited_and_store_latency(backend: Backend) {
    let opened = backend.open();
    let c = serve(
        opened.store.clone(),
        Settings {
            rate_limit: 2,
            ..Settings::new(TOKEN)
        },
    );
    let before = scrape(c.addr);
    assert!(
        before.contains("# TYPE keypin_collector_reports_accepted counter"),
        "{before}"
    );
    assert_eq!(
        value(&before, "keypin_collector_reports_accepted_total"),
        0.0
    );
    let good = r#"[{"hostname":"a.example.com"},{"hostname":"b.example.com"}]"#;
    assert_eq!(post(c.addr, good), 202);
    assert_eq!(post(c.addr, "{not json"), 400);
    // The burst is 4: the rest of a quick run is refused.
    let limited = (0..10).filter(|_| post(c.addr, good) == 429).count();
    assert!(limited > 0);
    let after = scrape(c.addr);
    let accepted = value(&after, "keypin_collector_reports_accepted_total");
    let inserts = value(
        &after,
        "keypin_collector_store_seconds_count{op=\"insert\"}",
    );
    assert_eq!(
        accepted,
        2.0 * inserts,
        "two reports per stored request:\n{after}"
    );
    assert!(inserts >= 1.0, "{after}");
    assert_eq!(
        value(
            &after,
            "keypin_collector_reports_refused_total{reason=\"invalid\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(&after, "keypin_collector_rate_limited_requests_total"),
        limited as f64,
        "{after}"
    );
    assert!(
        value(
            &after,
            "keypin_collector_store_seconds_bucket{le=\"+Inf\",op=\"insert\"}"
        ) >= 1.0
            || after.contains("keypin_collector_store_seconds_bucket{op=\"insert\",le=\"+Inf\"}"),
        "{after}"
    );
    assert!(
        value(&after, "keypin_collector_store_seconds_sum{op=\"insert\"}") > 0.0,
        "{after}"
    );
}

on_both_backends!(metrics_count_accepted_refused_rate_limited_and_store_latency);

#[test]
fn metrics_need_the_token_unless_made_public() {
    let opened = Backend::Sqlite.open();
    let c = serve(opened.store.clone(), Settings::new(TOKEN));
    assert_eq!(get(c.addr, None).0, 401);
    assert_eq!(get(c.addr, Some("Bearer wrong-token-0123456789")).0, 401);
    let (status, text) = get(c.addr, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(status, 200);
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let public = serve(
        opened.store.clone(),
        Settings {
            metrics_public: true,
            ..Settings::new(TOKEN)
        },
    );
    assert_eq!(get(public.addr, None).0, 200);
}
