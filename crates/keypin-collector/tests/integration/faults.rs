//! Fault injection on the collector, on loopback: slowloris (headers a byte at a time, and
//! connections that send nothing), clients that disconnect or stall mid-body, overload beyond
//! the rate limit, a database write-locked by another connection, and memory under all of it.
//! What must hold: every report answered 2xx is in the database, other clients keep being
//! served, misbehaving connections are closed by the deadlines, and the service recovers.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keypin_collector::{Limits, Settings, SqliteStore, Store};

use crate::backend::{Backend, Opened, Served, serve_with_limits, stored_hosts};

const TOKEN: &str = "test-token-0123456789";

struct Running {
    addr: SocketAddr,
    db: PathBuf,
    store: Arc<SqliteStore>,
    dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops the service (in-flight requests finish, the writer commits) and hands back the
    /// directory holding the database, for a restart on the same file.
    fn stop(mut self) -> tempfile::TempDir {
        self.shut_down();
        self.dir.take().unwrap()
    }

    fn shut_down(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn limits(max_connections: usize) -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections,
        // These tests open many connections from 127.0.0.1 on purpose.
        max_connections_per_client: max_connections,
    }
}

fn start(rate_limit: u32, limits: Limits) -> Running {
    start_in(tempfile::TempDir::new().unwrap(), rate_limit, limits, None)
}

/// A service on `dir/reports.db` (created or reopened), the file capped at `max_db` bytes.
fn start_in(
    dir: tempfile::TempDir,
    rate_limit: u32,
    limits: Limits,
    max_db: Option<u64>,
) -> Running {
    let settings = Settings {
        rate_limit,
        ..Settings::new(TOKEN)
    };
    start_with(dir, settings, limits, max_db)
}

/// A service with these settings and limits on `dir/reports.db`.
fn start_with(
    dir: tempfile::TempDir,
    settings: Settings,
    limits: Limits,
    max_db: Option<u64>,
) -> Running {
    let db = dir.path().join("reports.db");
    let store = Arc::new(SqliteStore::open_with_max_size(&db, max_db).unwrap());
    let kept = store.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let s: Arc<dyn Store> = store.clone();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            keypin_collector::serve_with_limits(listener, s, settings, limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        store.close();
    });
    Running {
        addr: addr_rx.recv().unwrap(),
        db,
        store: kept,
        dir: Some(dir),
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// A service on a store of `backend`, for the tests that run on both.
fn start_on(backend: Backend, rate_limit: u32, limits: Limits) -> (Served, Opened) {
    let opened = backend.open();
    let settings = Settings {
        rate_limit,
        ..Settings::new(TOKEN)
    };
    (
        serve_with_limits(opened.store.clone(), settings, limits),
        opened,
    )
}

fn report(marker: &str) -> String {
    format!("{{\"hostname\":\"{marker}\",\"noted-hostname\":\"{marker}\"}}")
}

fn post(body: &str, close: bool) -> String {
    format!(
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{body}",
        if close { "Connection: close\r\n" } else { "" },
        body.len()
    )
}

/// Reads one response; returns (status, headers, body).
fn read_response(r: &mut BufReader<TcpStream>) -> Option<(u16, String, String)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = String::new();
    let mut len = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        headers.push_str(&h);
    }
    let mut b = vec![0; len];
    r.read_exact(&mut b).ok()?;
    Some((status, headers, String::from_utf8_lossy(&b).into_owned()))
}

/// One report on a fresh connection; returns the status and how long it took.
fn send_one(addr: SocketAddr, marker: &str) -> (u16, Duration) {
    send_body(addr, &report(marker))
}

/// One request body on a fresh connection; returns the status and how long it took.
fn send_body(addr: SocketAddr, body: &str) -> (u16, Duration) {
    let start = Instant::now();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    (&s).write_all(post(body, true).as_bytes()).unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(s)).expect("a response");
    (status, start.elapsed())
}

/// A keep-alive client posting reports `w<w>-<i>.test` (each body made by `body`) until
/// `stop(refused so far, time elapsed)`. Every answer must be a 202 or a `refusal`, whose
/// headers and body `check` looks at. Returns the acknowledged markers and the refusals.
fn keep_posting(
    addr: SocketAddr,
    w: usize,
    body: impl Fn(&str) -> String,
    refusal: u16,
    check: impl Fn(&str, &str),
    stop: impl Fn(usize, Duration) -> bool,
) -> (Vec<String>, usize) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w_ = s;
    let (mut acked, mut refused) = (Vec::new(), 0);
    let start = Instant::now();
    for i in 0.. {
        if stop(refused, start.elapsed()) {
            break;
        }
        let marker = format!("w{w}-{i}.test");
        w_.write_all(post(&body(&marker), false).as_bytes())
            .unwrap();
        let (status, headers, text) = read_response(&mut r).expect("a response");
        match status {
            202 => acked.push(marker),
            s if s == refusal => {
                check(&headers, &text);
                refused += 1;
            }
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    (acked, refused)
}

/// The hosts stored, read with a connection of our own.
fn stored(db: &std::path::Path) -> BTreeSet<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut st = c.prepare("SELECT host FROM reports").unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits until the server closes `s` (EOF, reset, or a 408 answer then EOF); returns how long
/// that took, or `None` if it was still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {} // e.g. a 408 before the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slowloris_is_timed_out_while_others_are_served() {
    let srv = start(10_000, limits(256));
    let addr = srv.addr;
    let head = post(&report("slow.test"), false).into_bytes();
    // 60 connections sending their headers a byte every 100 ms, 20 that send nothing.
    let mut slow: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let start = Instant::now();
    let mut sent = 0;
    let mut served = Vec::new();
    while start.elapsed() < Duration::from_millis(2500) {
        for s in &mut slow {
            let _ = s.write_all(&head[sent..sent + 1]);
        }
        sent = (sent + 1).min(head.len() - 2);
        // Meanwhile an ordinary client is answered promptly.
        let (status, took) = send_one(addr, &format!("ok-{}.test", served.len()));
        assert_eq!(status, 202);
        served.push(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    let worst = served.iter().max().unwrap();
    assert!(
        *worst < Duration::from_millis(800),
        "ordinary requests during slowloris: worst {worst:?}"
    );
    // Every slow and silent connection was closed by the 1 s header deadline.
    for s in slow.iter_mut().chain(silent.iter_mut()) {
        let waited = closed_within(s, Duration::from_secs(3));
        assert!(
            waited.is_some(),
            "a slowloris connection is still open after 2.5 s + 3 s"
        );
    }
    let hosts = stored(&srv.db);
    assert!(
        !hosts.contains("slow.test"),
        "a never-finished request was stored"
    );
    assert_eq!(hosts.len(), served.len());
}

#[test]
fn more_idle_connections_than_the_cap_do_not_lock_out_a_client_for_long() {
    let srv = start(10_000, limits(16));
    // 40 connections that send nothing: 16 take every slot, 24 wait in the backlog.
    let _idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let (status, took) = send_one(srv.addr, "patient.test");
    assert_eq!(status, 202);
    // Idle holders are dropped after the 1 s header deadline, a few rounds at most.
    assert!(took < Duration::from_secs(6), "waited {took:?}");
}

fn clients_that_disconnect_or_stall_mid_body_store_nothing(backend: Backend) {
    let (srv, opened) = start_on(backend, 10_000, limits(256));
    let body = report("partial.test");
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // 50 clients send half the body and hang up.
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
        drop(s);
    }
    // 10 send half the body and stall: answered 408 at the body deadline, then closed.
    let stalled: Vec<_> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
            s
        })
        .collect();
    for s in stalled {
        let start = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (status, _, text) = read_response(&mut BufReader::new(s)).expect("an answer");
        assert_eq!(status, 408, "{text}");
        assert!(text.contains("did not arrive within"), "{text}");
        assert!(start.elapsed() < Duration::from_secs(4));
    }
    let (status, _) = send_one(srv.addr, "whole.test");
    assert_eq!(status, 202);
    let hosts = stored_hosts(opened.store.as_ref());
    assert_eq!(hosts, BTreeSet::from(["whole.test".to_string()]));
}

fn overload_beyond_the_rate_limit_loses_no_acknowledged_report_and_recovers(backend: Backend) {
    let (srv, opened) = start_on(backend, 50, limits(256));
    let addr = srv.addr;
    let before = rss_kib();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            std::thread::spawn(move || {
                keep_posting(
                    addr,
                    w,
                    report,
                    429,
                    |headers, _| {
                        assert!(headers.contains("retry-after: 1"), "{headers}");
                    },
                    |_, elapsed| elapsed >= Duration::from_millis(1500),
                )
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    let mut limited = 0;
    for w in workers {
        let (a, l) = w.join().unwrap();
        acked.extend(a);
        limited += l;
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(limited > 100, "the limit bit: {limited} answered 429");
    // Burst of 100 plus 50/s for 1.5 s, give or take the timing.
    assert!(
        (100..=220).contains(&acked.len()),
        "{} acknowledged",
        acked.len()
    );
    let hosts = stored_hosts(opened.store.as_ref());
    let lost: Vec<_> = acked.difference(&hosts).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        hosts.len(),
        acked.len(),
        "stored without an acknowledgement"
    );
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB under overload");
    // The bucket refills: a client that waits as told is served again.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(send_one(addr, "after.test").0, 202);
}

#[test]
fn a_write_locked_database_delays_or_refuses_but_never_acks_and_loses() {
    let srv = start(10_000, limits(256));
    let lock = rusqlite::Connection::open(&srv.db).unwrap();

    // A short lock (1 s, under SQLite's 5 s busy timeout): requests wait, then are stored.
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let addr = srv.addr;
    let short: Vec<_> = (0..10)
        .map(|i| std::thread::spawn(move || send_one(addr, &format!("short-{i}.test"))))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    lock.execute_batch("COMMIT").unwrap();
    for t in short {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 202);
        assert!(
            took >= Duration::from_millis(700),
            "answered before the lock ended: {took:?}"
        );
    }

    // A long lock (past the busy timeout): 503, nothing acknowledged, nothing half-stored.
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let long: Vec<_> = (0..5)
        .map(|i| std::thread::spawn(move || send_one(addr, &format!("long-{i}.test"))))
        .collect();
    let mut statuses = Vec::new();
    for t in long {
        statuses.push(t.join().unwrap().0);
    }
    lock.execute_batch("COMMIT").unwrap();
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");

    // Recovered: the next report is stored; every acknowledged one is there, no refused one.
    assert_eq!(send_one(addr, "after.test").0, 202);
    let hosts = stored(&srv.db);
    for i in 0..10 {
        assert!(hosts.contains(&format!("short-{i}.test")));
    }
    assert!(hosts.contains("after.test"));
    assert!(!hosts.iter().any(|h| h.starts_with("long-")), "{hosts:?}");
}

/// An authorised GET; returns the status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    (&s).write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (status, _, body) = read_response(&mut BufReader::new(s)).expect("a response");
    (status, body)
}

#[test]
fn a_full_database_refuses_with_507_keeps_serving_reads_and_loses_nothing_acknowledged() {
    // 160 KiB: the schema plus a few hundred of these reports.
    const MAX_DB: u64 = 160 * 1024;
    let srv = start_in(
        tempfile::TempDir::new().unwrap(),
        10_000,
        limits(256),
        Some(MAX_DB),
    );
    let addr = srv.addr;
    let before = rss_kib();
    // A report with 600 bytes of padding in its raw body (stored as sent).
    let padded = |marker: &str| {
        format!(
            "{{\"hostname\":\"{marker}\",\"noted-hostname\":\"{marker}\",\"pad\":\"{}\"}}",
            "x".repeat(600)
        )
    };
    // Four keep-alive clients fill it; each stops after 20 refusals. Every answer is a 202 or
    // a 507 saying the store is full, nothing else.
    let workers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                keep_posting(
                    addr,
                    w,
                    padded,
                    507,
                    |_, text| {
                        assert!(text.contains("the report store is full"), "{text}");
                    },
                    |full, elapsed| {
                        assert!(elapsed < Duration::from_secs(60), "never filled up");
                        full >= 20
                    },
                )
                .0
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    for w in workers {
        acked.extend(w.join().unwrap());
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(acked.len() > 50, "only {} stored before full", acked.len());
    let size = std::fs::metadata(&srv.db).unwrap().len();
    assert!(size <= MAX_DB, "the database grew to {size} bytes");

    // Reads keep working while full: the query API, the summary and the dashboard.
    let (status, body) = get(addr, "/v1/reports?limit=1000");
    assert_eq!(status, 200, "{body}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), acked.len());
    let (status, body) = get(addr, "/v1/summary");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("w0-0.test"), "{body}");
    // (The overview shows the 20 most recent hosts; the first one is asked for by name.)
    let (status, body) = get(addr, "/?host=w0-0.test");
    assert_eq!(status, 200);
    assert!(
        body.contains("<h2 class=\"hostname\">w0-0.test</h2>"),
        "{body}"
    );

    // Exactly the acknowledged reports are stored: none lost, none stored un-acknowledged.
    assert_eq!(stored(&srv.db), acked);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB while full");

    // Still full: refused. Then retention frees space, and ingest works again.
    assert_eq!(send_body(addr, &padded("still-full.test")).0, 507);
    let deleted = srv.store.delete_before(i64::MAX).unwrap();
    assert_eq!(deleted, acked.len());
    assert_eq!(send_one(addr, "after-retention.test").0, 202);
    assert_eq!(
        stored(&srv.db),
        BTreeSet::from(["after-retention.test".to_string()])
    );

    // Full again, then a restart with a larger limit: ingest works again.
    let mut refill = 0;
    while send_one(addr, &format!("refill-{refill}.test")).0 == 202 {
        refill += 1;
        assert!(refill < 5000, "never filled up again");
    }
    let dir = srv.stop();
    let srv = start_in(dir, 10_000, limits(256), Some(4 * MAX_DB));
    assert_eq!(send_one(srv.addr, "after-restart.test").0, 202);
    let hosts = stored(&srv.db);
    assert_eq!(hosts.len(), refill + 2, "refilled {refill}");
    assert!(hosts.contains("after-restart.test"));
}

/// A TCP connection to `addr` from the loopback address `source` (127.0.0.2 and up are all
/// loopback on Linux), to stand for distinct clients.
fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(source.parse().unwrap(), 0))
            .unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

/// One report from `source`, answered within `within`; returns the status and the time taken,
/// or `None` if no answer came in time.
fn send_from(
    source: &str,
    addr: SocketAddr,
    marker: &str,
    within: Duration,
) -> Option<(u16, Duration)> {
    let start = Instant::now();
    let s = connect_from(source, addr);
    s.set_read_timeout(Some(within)).unwrap();
    (&s).write_all(post(&report(marker), true).as_bytes())
        .unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(s))?;
    Some((status, start.elapsed()))
}

/// 16 connections at most, 4 per client; headers may take 10 s, bodies `body_timeout`.
fn sixteen_slots_four_per_client(body_timeout: Duration) -> Limits {
    Limits {
        header_timeout: Duration::from_secs(10),
        body_timeout,
        max_connections: 16,
        max_connections_per_client: 4,
    }
}

#[test]
fn slow_login_bodies_do_not_lock_out_ingest() {
    // Headers may take 10 s, bodies 1 s.
    let srv = start(
        10_000,
        sixteen_slots_four_per_client(Duration::from_secs(1)),
    );
    let addr = srv.addr;
    // Four addresses, four connections each: every slot holds a login whose body drips a
    // byte every 200 ms (no token needed to do this).
    let head = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\ntoken=";
    let mut drips: Vec<TcpStream> = (2..6)
        .flat_map(|last| (0..4).map(move |_| format!("127.0.0.{last}")))
        .map(|source| {
            let mut s = connect_from(&source, addr);
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    let dripper = std::thread::spawn(move || {
        for _ in 0..30 {
            for s in &mut drips {
                let _ = s.write_all(b"a");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        drips
    });
    std::thread::sleep(Duration::from_millis(300));
    let answer = send_from("127.0.0.1", addr, "ingest.test", Duration::from_secs(4));
    let (status, took) = answer.expect("ingest got no answer while slow logins held the slots");
    assert_eq!(status, 202);
    assert!(took < Duration::from_millis(2500), "ingest waited {took:?}");
    drop(dripper.join().unwrap());
    assert_eq!(stored(&srv.db), BTreeSet::from(["ingest.test".to_string()]));
}

#[test]
fn one_address_cannot_take_every_connection() {
    // Long deadlines, so that only the per-address cap can help.
    let srv = start(
        10_000,
        sixteen_slots_four_per_client(Duration::from_secs(10)),
    );
    // One address opens more connections than the whole cap and sends nothing.
    let mut hogs: Vec<TcpStream> = (0..24)
        .map(|_| connect_from("127.0.0.2", srv.addr))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = send_from("127.0.0.3", srv.addr, "other.test", Duration::from_secs(5))
        .expect("another client was locked out");
    assert_eq!(status, 202);
    assert!(took < Duration::from_secs(1), "waited {took:?}");
    // The hog's connections past its 4 were closed at once, not left waiting.
    let closed = hogs
        .iter_mut()
        .filter_map(|s| closed_within(s, Duration::from_millis(500)))
        .count();
    assert_eq!(
        closed, 20,
        "of 24 connections from one address, 4 stay open"
    );
}

#[test]
fn failed_logins_are_throttled_per_address() {
    let srv = start(10_000, limits(256));
    let login_from = |source: &str, token: &str| -> (u16, String) {
        let s = connect_from(source, srv.addr);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = format!("token={token}");
        (&s).write_all(
            format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let (status, headers, _) = read_response(&mut BufReader::new(s)).expect("a response");
        (status, headers)
    };
    let codes: Vec<u16> = (0..20)
        .map(|i| login_from("127.0.0.2", &format!("guess-{i}")).0)
        .collect();
    let wrong = codes.iter().filter(|c| **c == 401).count();
    assert!(
        (1..=5).contains(&wrong),
        "guesses checked before the throttle: {codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == 429).count(),
        20 - wrong,
        "{codes:?}"
    );
    // While throttled, even the right token is not tried (a guess that hits must not tell).
    let (status, headers) = login_from("127.0.0.2", TOKEN);
    assert_eq!(status, 429);
    assert!(headers.contains("retry-after:"), "{headers}");
    // Another address is not affected.
    assert_eq!(login_from("127.0.0.3", TOKEN).0, 303);
}

// The tests above that need no SQLite-only fault, on each backend.
on_both_backends!(
    clients_that_disconnect_or_stall_mid_body_store_nothing,
    overload_beyond_the_rate_limit_loses_no_acknowledged_report_and_recovers,
);
