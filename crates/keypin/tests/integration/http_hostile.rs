//! The HTTP/1.1 client under the updater's `HttpFetcher` (and the report sender) against hostile
//! servers on 127.0.0.1: endless status, header, chunk-size and trailer lines, endless headers,
//! and ambiguous framing (request smuggling's tools). Each endless stream must be refused after
//! at most its bound, with an error that names the limit, well before the deadline; the server
//! sees the client close. Valid framings (Content-Length, chunked with trailers, to EOF) still
//! give the body.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keypin::live::updater::{FetchError, Fetched, Fetcher, HttpFetcher};

/// Short, so an unbounded client fails the test by timing out rather than hanging it.
const TIMEOUT: Duration = Duration::from_secs(3);
/// A bounded client refuses within milliseconds; this leaves room for a loaded machine.
const QUICK: Duration = Duration::from_millis(1500);
/// The server stops sending after this much (and then waits for the client to close), so an
/// unbounded client costs the test at most this much memory.
const SERVER_CAP: usize = 64 << 20;
/// What the server may have written when the client closes: the client's bound plus what the
/// kernel's socket buffers on both sides absorb (a few MiB on loopback).
const WRITTEN_AT_MOST: usize = 16 << 20;

/// What a hostile server saw.
#[derive(Debug)]
struct Seen {
    written: usize,
    client_closed: bool,
}

/// Accepts one connection, reads the request head, writes `prefix`, then `filler` over and
/// over until the client closes (a write fails) or `SERVER_CAP` bytes are out.
fn hostile(prefix: &'static [u8], filler: &'static [u8]) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        let mut byte = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            req.push(byte[0]);
        }
        let mut written = 0;
        if s.write_all(prefix).is_err() {
            return Seen {
                written,
                client_closed: true,
            };
        }
        written += prefix.len();
        let block = filler.repeat((64 * 1024 / filler.len()).max(1));
        while written < SERVER_CAP {
            if s.write_all(&block).is_err() {
                return Seen {
                    written,
                    client_closed: true,
                };
            }
            written += block.len();
        }
        // Everything is out: wait for the client to close (a request body may still be
        // unread), or give up at the read timeout.
        let mut rest = [0u8; 4096];
        let closed = loop {
            match s.read(&mut rest) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        };
        Seen {
            written,
            client_closed: closed,
        }
    });
    (addr, handle)
}

fn fetch(addr: SocketAddr) -> (Result<Fetched, FetchError>, Duration) {
    let f = HttpFetcher::new(&format!("http://{addr}/"))
        .unwrap()
        .timeout(TIMEOUT);
    let start = Instant::now();
    let r = f.fetch("bundle.json", None, 64 * 1024);
    (r, start.elapsed())
}

#[test]
fn endless_lines_from_a_hostile_server_are_refused_at_their_bound() {
    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases: [(&str, &'static [u8], &'static [u8], &str); 6] = [
        ("endless status line", b"HTTP/1.1 200 ", b"A", "status line"),
        (
            "endless header line",
            b"HTTP/1.1 200 OK\r\nX-Long: ",
            b"a",
            "header line",
        ),
        (
            "endless headers",
            b"HTTP/1.1 200 OK\r\n",
            b"X-A: b\r\n",
            "response head",
        ),
        ("endless chunk-size line", CHUNKED, b"0", "chunk-size line"),
        (
            "endless chunk extension",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=",
            b"y",
            "chunk-size line",
        ),
        (
            "endless trailers",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
            b"X-T: y\r\n",
            "trailers",
        ),
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(name, prefix, filler, limit)| {
            std::thread::spawn(move || {
                let (addr, server) = hostile(prefix, filler);
                let (result, took) = fetch(addr);
                let seen = server.join().unwrap();
                let err = match result {
                    Err(e @ FetchError::Transport { .. }) => e.to_string(),
                    other => panic!("{name}: expected a transport error, got {other:?}"),
                };
                assert!(
                    err.contains(limit),
                    "{name}: the error names the limit {limit:?}: {err}"
                );
                assert!(took < QUICK, "{name}: refused only after {took:?}: {err}");
                assert!(
                    seen.client_closed && seen.written <= WRITTEN_AT_MOST,
                    "{name}: the client read on: {seen:?}"
                );
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}

#[test]
fn endless_small_chunks_stop_at_the_body_cap() {
    let (addr, server) = hostile(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1\r\na\r\n",
    );
    let (result, took) = fetch(addr);
    let seen = server.join().unwrap();
    assert!(
        matches!(result, Err(FetchError::TooLarge { max: 65536, .. })),
        "{result:?}"
    );
    assert!(took < QUICK, "{took:?}");
    assert!(
        seen.client_closed && seen.written <= WRITTEN_AT_MOST,
        "{seen:?}"
    );
}

/// Serves `response` once and closes.
fn answer(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        let mut byte = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            req.push(byte[0]);
        }
        let _ = s.write_all(response);
    });
    addr
}

/// (name, response, Ok(body) or Err(words the error contains))
type Case = (
    &'static str,
    &'static [u8],
    Result<&'static [u8], &'static str>,
);

#[test]
fn ambiguous_framing_is_refused_and_valid_framing_still_reads() {
    let cases: [Case; 17] = [
        (
            "content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloIGNORED",
            Ok(b"hello"),
        ),
        (
            "identical duplicate content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            Ok(b"hello"),
        ),
        (
            "chunked with extensions and trailers",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;name=value\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\nIGNORED",
            Ok(b"hello"),
        ),
        (
            "chunked, upper-case coding and hex",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
            Ok(b"0123456789"),
        ),
        (
            "to the end of the stream",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello",
            Ok(b"hello"),
        ),
        (
            "transfer-encoding and content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Err("both Transfer-Encoding and Content-Length"),
        ),
        (
            "conflicting content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhello",
            Err("conflicting Content-Length"),
        ),
        (
            "content-length list that disagrees",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 3\r\n\r\nhello",
            Err("conflicting Content-Length"),
        ),
        (
            "content-length not a number",
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
            Err("Content-Length"),
        ),
        (
            "unknown transfer coding",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            Err("transfer coding \"gzip\""),
        ),
        (
            "chunked not last",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            Err("transfer coding"),
        ),
        (
            "chunk size with a sign",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
            Err("chunk size"),
        ),
        (
            "chunk data longer than its size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
            Err("chunk"),
        ),
        (
            "latin-1 header value",
            b"HTTP/1.1 200 OK\r\nServer: caf\xe9\r\nContent-Length: 5\r\n\r\nhello",
            Ok(b"hello"),
        ),
        (
            "folded header line",
            b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
            Err("header line 3"),
        ),
        (
            "closed after chunk data",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
            Err("truncated chunked body after chunk 1"),
        ),
        (
            "space before the colon",
            b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nhello",
            Err("header line 2"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, response, want) in cases {
        let (got, _) = fetch(answer(response));
        let ok = match (&got, want) {
            (Ok(Fetched::Content { body, .. }), Ok(b)) => body == b,
            (Err(e @ FetchError::Transport { .. }), Err(words)) => e.to_string().contains(words),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg(feature = "reports")]
#[test]
fn hostile_collector_with_an_endless_header_line_costs_the_report_sender_only_the_line_bound() {
    use keypin::report::{ReportSender, ReportSenderConfig};
    use keypin::{Policy, Roots, clock::SystemClock, events::PinEvent};
    use std::sync::Arc;

    let (addr, server) = hostile(b"HTTP/1.1 202 Accepted\r\nX-Long: ", b"a");
    let dir = tempfile::TempDir::new().unwrap();
    let mut cfg = ReportSenderConfig::new(dir.path());
    cfg.batch_delay = Duration::from_millis(10);
    cfg.retry_min = Duration::from_secs(60);
    cfg.timeout = TIMEOUT;
    cfg.default_report_uris = vec![format!("http://{addr}/v1/reports")];
    let sender = ReportSender::start(
        cfg,
        Arc::new(Policy::empty()),
        Roots::empty(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let start = Instant::now();
    sender.submit(&PinEvent::UpdateFailed {
        reason: "x".into(),
        current_version: Some(1),
        at: rustls_pki_types::UnixTime::now(),
    });
    let error = loop {
        if let Some(e) = sender.stats().last_error {
            break e;
        }
        assert!(start.elapsed() < 2 * TIMEOUT, "{:?}", sender.stats());
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let seen = server.join().unwrap();
    assert!(error.contains("header line 2"), "{error}");
    assert!(took < QUICK, "refused only after {took:?}: {error}");
    assert!(
        seen.client_closed && seen.written <= WRITTEN_AT_MOST,
        "{seen:?}"
    );
}
