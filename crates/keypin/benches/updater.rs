//! The updater's no-change check (issue #8 item 5): one `Updater::check_now` that sends a
//! conditional request (`If-None-Match`) to a loopback HTTP server and gets `304 Not
//! Modified`. Baseline in the same run: the bare HTTP round trip the check cannot avoid (connect,
//! the same GET with the same header, read the same 304), over the same server.
//!
//! `cargo bench -p keypin --features updater --bench updater`
//!
//! Report-sending overhead on the handshake path, the other half of item 5, is
//! `benches/reports.rs` (group `report_sending`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::live::bundle::BundleSpec;
use keypin::live::updater::{CheckOutcome, HttpFetcher, PolicyStore, Updater, UpdaterConfig};
use keypin::{PinnedConfig, Policy, Roots, clock::Date, clock::ManualClock};

const ETAG: &str = "\"v1\"";
/// 2027-01-15T08:00:00Z
const NOW: u64 = 1_800_000_000;

/// Serves `bundle.json` (200 with an ETag, or 304 when the request carries it) and answers 404
/// for anything else, one connection at a time.
fn serve(bundle: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let mut r = BufReader::new(sock.try_clone().unwrap());
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut conditional = false;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                conditional |= h.to_ascii_lowercase().starts_with("if-none-match: \"v1\"");
            }
            let _ = if !first.contains("/bundle.json ") {
                sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            } else if conditional {
                sock.write_all(
                    format!("HTTP/1.1 304 Not Modified\r\nETag: {ETAG}\r\n\r\n").as_bytes(),
                )
            } else {
                sock.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: {ETAG}\r\nContent-Length: {}\r\n\r\n",
                        bundle.len()
                    )
                    .as_bytes(),
                )
                .and_then(|()| sock.write_all(&bundle))
            };
        }
    });
    addr
}

/// The least a no-change check costs: one conditional GET and its 304.
fn bare_round_trip(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "GET /bundle.json HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {ETAG}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 304"));
}

fn no_change_check(c: &mut Criterion) {
    let (root, key) = common::one_key_root();
    let policy = "[[rule]]\nhosts = [\"api.bench.test\"]\npins = [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\", \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE=\"]\n";
    let bundle = BundleSpec {
        app_id: "com.example.app".into(),
        environment: "production".into(),
        version: 1,
        issued_unix: NOW as i64,
        expires: Date::parse("2027-03-01").unwrap(),
        policy_toml: policy.into(),
    }
    .sign(&[&key])
    .unwrap();
    let addr = serve(bundle);
    let dir = tempfile::tempdir().unwrap();
    let embedded = Arc::new(Policy::from_toml_str(policy, "embedded").unwrap());
    let store = PolicyStore::new(embedded, |p| {
        PinnedConfig::builder(p, Roots::empty()).build()
    })
    .unwrap();
    let config = UpdaterConfig::new(
        "com.example.app",
        "production",
        &root,
        dir.path().to_path_buf(),
    );
    let fetcher = HttpFetcher::new(&format!("http://{addr}/")).unwrap();
    let (updater, _) = Updater::start(
        config,
        Box::new(fetcher),
        Arc::new(ManualClock::at(NOW)),
        Arc::new(store),
        None,
    )
    .unwrap();
    assert_eq!(
        updater.check_now().unwrap(),
        CheckOutcome::Updated { version: 1 }
    );
    assert_eq!(updater.check_now().unwrap(), CheckOutcome::NotModified);
    bare_round_trip(addr);

    let mut group = c.benchmark_group("updater_no_change");
    group.bench_function("bare_http_304_round_trip", |b| {
        b.iter(|| bare_round_trip(addr))
    });
    group.bench_function("keypin_check_now_304", |b| {
        b.iter(|| {
            assert_eq!(updater.check_now().unwrap(), CheckOutcome::NotModified);
        })
    });
    group.finish();
}

criterion_group!(benches, no_change_check);
criterion_main!(benches);
