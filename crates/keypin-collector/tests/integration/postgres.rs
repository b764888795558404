//! Several collector instances on one PostgreSQL database, over real loopback HTTP: reports
//! through either are seen through the other, instances starting together migrate once,
//! retention runs once, kill -9 of an instance under load loses nothing it acknowledged, and a
//! database restart under load refuses with 503 and then recovers without a collector restart.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keypin_collector::{PostgresStore, Settings, Store};

use crate::backend::{self, Backend, Served};
use crate::pg;

const TOKEN: &str = "test-token-0123456789";

/// A collector serving in this process on `url`.
fn instance(url: &str) -> Served {
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(url).unwrap());
    serve(store)
}

fn serve(store: Arc<dyn Store>) -> Served {
    let settings = Settings {
        rate_limit: 1_000_000,
        ..Settings::new(TOKEN)
    };
    backend::serve(store, settings)
}

/// One request; `None` when the connection failed (nothing was acknowledged).
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    Some((status, out))
}

fn report(marker: &str) -> String {
    format!("{{\"hostname\":\"{marker}\"}}")
}

fn post(addr: SocketAddr, marker: &str) -> Option<(u16, String)> {
    request(addr, "POST", "/v1/reports", &report(marker))
}

/// The hosts of the reports the query API of `addr` lists.
fn listed(addr: SocketAddr) -> BTreeSet<String> {
    let (code, text) = request(addr, "GET", "/v1/reports?limit=1000", "").unwrap();
    assert_eq!(code, 200, "{text}");
    let json: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect()
}

/// Rows of a one-column query, read with a connection of our own.
fn column(url: &str, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .simple_query(sql)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect()
    })
}

fn stored_hosts(url: &str) -> BTreeSet<String> {
    column(url, "SELECT host FROM reports")
        .into_iter()
        .collect()
}

#[test]
fn reports_through_either_instance_are_seen_through_the_other() {
    let url = pg::fresh_database();
    let (a, b) = (instance(&url), instance(&url));
    let mut sent = BTreeSet::new();
    for i in 0..5 {
        for (name, inst) in [("a", &a), ("b", &b)] {
            let marker = format!("{name}{i}.example.com");
            assert_eq!(post(inst.addr, &marker).unwrap().0, 202);
            sent.insert(marker);
        }
    }
    assert_eq!(listed(a.addr), sent);
    assert_eq!(listed(b.addr), sent);
    let (code, summary) = request(b.addr, "GET", "/v1/summary", "").unwrap();
    assert_eq!(code, 200);
    assert!(summary.contains("a0.example.com") && summary.contains("b4.example.com"));
}

#[test]
fn instances_starting_together_migrate_once() {
    let url = pg::fresh_database();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let opened: Vec<_> = (0..n)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresStore::open(&url)
            })
        })
        .collect();
    let stores: Vec<PostgresStore> = opened
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        column(&url, "SELECT version FROM keypin_schema ORDER BY version"),
        ["1", "2", "3"]
    );
    assert_eq!(column(&url, "SELECT name FROM keypin_jobs"), ["retention"]);
    for s in &stores {
        assert_eq!(s.count().unwrap(), 0);
    }
}

#[test]
fn retention_runs_once_across_instances() {
    let url = pg::fresh_database();
    let stores: Vec<Arc<PostgresStore>> = (0..3)
        .map(|_| Arc::new(PostgresStore::open(&url).unwrap()))
        .collect();
    let old = (0..4)
        .map(|i| {
            keypin_collector::report::parse_body(
                report(&format!("old{i}.test")).as_bytes(),
                "192.0.2.0/24",
                1_000,
            )
        })
        .map(|r| r.unwrap().remove(0))
        .collect();
    stores[0].insert(1_000, old).unwrap();
    let now = 10_000_000;
    let barrier = Arc::new(Barrier::new(stores.len()));
    let runs: Vec<Option<usize>> = stores
        .iter()
        .map(|s| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.retention(now, now - 86_400, 3000).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let ran: Vec<usize> = runs.iter().flatten().copied().collect();
    assert_eq!(
        ran,
        [4],
        "exactly one instance ran it, and deleted all 4: {runs:?}"
    );
    assert_eq!(stores[1].retention(now + 60, now, 3000).unwrap(), None);
    assert_eq!(stores[2].retention(now + 3600, now, 3000).unwrap(), Some(0));
}

/// Posts numbered reports to `addr` until `stop`; returns the acknowledged ones and every
/// other status seen (with its body).
fn load(addr: SocketAddr, name: &str, stop: &AtomicBool) -> (Vec<String>, Vec<(u16, String)>) {
    let (mut acked, mut other) = (Vec::new(), Vec::new());
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let marker = format!("{name}-{i}.test");
        match post(addr, &marker) {
            Some((202, _)) => acked.push(marker),
            Some((code, text)) => other.push((code, text)),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (acked, other)
}

/// Runs `during` while `threads` senders load each address.
fn under_load(
    addrs: &[SocketAddr],
    threads: usize,
    during: impl FnOnce(),
) -> (Vec<String>, Vec<(u16, String)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = addrs
        .iter()
        .enumerate()
        .flat_map(|(i, addr)| (0..threads).map(move |t| (i, t, *addr)))
        .map(|(i, t, addr)| {
            let stop = stop.clone();
            std::thread::spawn(move || load(addr, &format!("i{i}t{t}"), &stop))
        })
        .collect();
    during();
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut other) = (Vec::new(), Vec::new());
    for s in senders {
        let (a, o) = s.join().unwrap();
        acked.extend(a);
        other.extend(o);
    }
    (acked, other)
}

/// A collector in a child process (this test binary, running [`child_instance`]).
fn child(url: &str) -> (Child, SocketAddr) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "postgres::child_instance",
            "--ignored",
            "--nocapture",
        ])
        .env("KEYPIN_TEST_CHILD_DB", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the child's address").unwrap();
        if let Some(a) = line.strip_prefix("LISTENING ") {
            break a.parse().unwrap();
        }
    };
    (c, addr)
}

#[test]
#[ignore = "the collector process kill_9_of_an_instance_under_load_loses_nothing_it_acknowledged starts"]
fn child_instance() {
    let Ok(url) = std::env::var("KEYPIN_TEST_CHILD_DB") else {
        return;
    };
    let i = instance(&url);
    println!("LISTENING {}", i.addr);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn kill_9_of_an_instance_under_load_loses_nothing_it_acknowledged() {
    let url = pg::fresh_database();
    let (mut victim, victim_addr) = child(&url);
    let survivor = instance(&url);
    let (acked, other) = under_load(&[victim_addr, survivor.addr], 4, || {
        std::thread::sleep(Duration::from_millis(1500));
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
    });
    assert!(
        other.is_empty(),
        "only 202s or dropped connections: {other:?}"
    );
    let from_victim = acked.iter().filter(|m| m.starts_with("i0")).count();
    assert!(
        from_victim > 50,
        "the victim acknowledged {from_victim} before the kill"
    );
    let stored = stored_hosts(&url);
    let lost: Vec<&String> = acked.iter().filter(|m| !stored.contains(*m)).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    println!(
        "kill -9: {} acknowledged ({from_victim} by the killed instance), {} stored",
        acked.len(),
        stored.len()
    );
}

#[test]
fn database_restart_under_load_refuses_with_503_then_recovers() {
    let server = pg::PgServer::start();
    let url = server.create_database("restart");
    let inst = instance(&url);
    let mut recovered_in = Duration::ZERO;
    let (acked, other) = under_load(&[inst.addr], 4, || {
        std::thread::sleep(Duration::from_millis(800));
        server.stop();
        std::thread::sleep(Duration::from_millis(1500));
        server.restart();
        let back = Instant::now();
        // The instance recovers on its own: a report is acknowledged again.
        while post(inst.addr, "probe.test").map(|r| r.0) != Some(202) {
            assert!(back.elapsed() < Duration::from_secs(20), "no recovery");
            std::thread::sleep(Duration::from_millis(50));
        }
        recovered_in = back.elapsed();
        std::thread::sleep(Duration::from_millis(800));
    });
    let refused: Vec<&(u16, String)> = other.iter().filter(|(c, _)| *c == 503).collect();
    assert!(!refused.is_empty(), "503s while the database was down");
    assert_eq!(refused.len(), other.len(), "only 503s: {other:?}");
    assert!(
        refused
            .iter()
            .all(|(_, t)| t.contains("PostgreSQL database postgres://keypin@127.0.0.1")),
        "each 503 says why: {:?}",
        refused[0]
    );
    let stored = stored_hosts(&url);
    let lost: Vec<&String> = acked.iter().filter(|m| !stored.contains(*m)).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    println!(
        "restart: {} acknowledged, {} refused with 503, recovered {recovered_in:?} after start",
        acked.len(),
        refused.len()
    );
}

/// A NUL in a report's field (`"\u0000"` in its JSON) is text SQLite keeps and PostgreSQL
/// refuses: stored anyway, it must not fail the group commit it shares with other senders.
fn a_nul_in_a_report_field_does_not_fail_other_senders_reports(backend: Backend) {
    let opened = backend.open();
    let inst = serve(opened.store.clone());
    let hostile =
        r#"{"hostname": "nul.example.com", "app-version": "1\u0000", "app-bundle-id": "a\u0000b"}"#;
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let addr = inst.addr;
            std::thread::spawn(move || {
                let hostile = request(addr, "POST", "/v1/reports", hostile).unwrap().0;
                (hostile, post(addr, &format!("ok{i}.test")).unwrap().0)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), (202, 202));
    }
    assert_eq!(opened.store.count().unwrap(), 16);
}

on_both_backends!(a_nul_in_a_report_field_does_not_fail_other_senders_reports);
