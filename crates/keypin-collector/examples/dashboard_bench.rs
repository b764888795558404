//! Dashboard benchmark (BENCHMARKS.md §22), in two steps so the database can be analysed
//! between them:
//!
//! - `dashboard_bench load DB N`: bulk-loads N synthetic reports into DB (an SQLite file, or a
//!   `postgres://` URL) through the store's own insert (so the roll-ups are kept as in
//!   production), 1,000 per commit, received over the 30 days ending now.
//! - `dashboard_bench pages DB REQUESTS`: serves DB on a loopback port and requests each
//!   dashboard page and download REQUESTS times, one at a time, with the bearer token; prints
//!   one JSON line per page: p50, p99 and max in milliseconds, and the response size.
//! - `dashboard_bench parts DB`: the 14-day overview's time split by step (roll-up read,
//!   aggregation, network counts, newest reports, rendering), median of 20, in process.
//!
//! The fleet: 20 hosts (the first has about a third of the reports), 12 app versions, two
//! platforms, three report kinds, 3 served keys per host and 5,000 sender networks; 80% of
//! reports carry a plausible `date-time`, 15% none, 5% one a month off.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keypin_collector::report::{Dialect, NewReport};
use keypin_collector::{PostgresStore, Settings, SqliteStore, Store};

const TOKEN: &str = "bench-token-0123456789";

fn open(db: &str) -> Arc<dyn Store> {
    if db.starts_with("postgres://") {
        Arc::new(PostgresStore::open(db).unwrap())
    } else {
        Arc::new(SqliteStore::open(std::path::Path::new(db)).unwrap())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn host_of(rng: &mut Rng) -> usize {
    // About a third on host 0, the rest spread over 19.
    if rng.below(3) == 0 {
        0
    } else {
        1 + rng.below(19) as usize
    }
}

fn report(rng: &mut Rng, received: i64) -> NewReport {
    let h = host_of(rng);
    let host = format!("api{h}.bank.example");
    let version = format!("4.{}.0", rng.below(12));
    let ios = rng.below(2) == 0;
    let kind = match rng.below(10) {
        0 => Dialect::Hpkp,
        1..=3 => Dialect::Keypin,
        _ => Dialect::Trustkit,
    };
    let key = rng.below(3);
    let pin = keypin::pin::Pin::from_spki_der(&[h as u8, key as u8, 7]).to_string();
    let reported_at = match rng.below(20) {
        0 => Some(received - 30 * 86_400),
        1..=3 => None,
        _ => Some(received - rng.below(3_600) as i64),
    };
    let network = format!("10.{}.{}.0/24", rng.below(50), rng.below(100));
    let body = serde_json::json!({
        "hostname": host, "port": 443, "app-version": version,
        "app-platform": if ios { "IOS" } else { "ANDROID" },
        "app-bundle-id": "com.bank.example", "validation-result": 1,
        "known-pins": ["pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\""],
    })
    .to_string();
    NewReport {
        reported_at,
        host,
        port: Some(443),
        dialect: kind,
        served_leaf_pin: Some(pin),
        client_network: network,
        app_bundle_id: Some("com.bank.example".into()),
        app_version: Some(version),
        app_platform: Some(if ios { "IOS" } else { "ANDROID" }.into()),
        failure: Some("pin-mismatch".into()),
        runtime_findings: (rng.below(50) == 0).then_some(1),
        body,
    }
}

fn load(db: &str, n: usize) {
    let store = open(db);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = now();
    let start = Instant::now();
    let batch = 1_000;
    for b in 0..n.div_ceil(batch) {
        // Oldest first, over 30 days.
        let received = t - 30 * 86_400 + (b * batch) as i64 * 30 * 86_400 / n as i64;
        let size = batch.min(n - b * batch);
        let reports = (0..size).map(|_| report(&mut rng, received)).collect();
        store.insert(received, reports).unwrap();
    }
    println!(
        "{{\"loaded\": {n}, \"seconds\": {:.1}, \"stored\": {}}}",
        start.elapsed().as_secs_f64(),
        store.count().unwrap()
    );
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out.len())
}

fn pages(db: &str, requests: usize) {
    let store = open(db);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let serving = store.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            keypin_collector::serve(
                listener,
                serving,
                Settings::new(TOKEN),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let since = keypin::clock::format_rfc3339(now() - 29 * 86_400)[..10].to_string();
    let id = {
        let f = keypin_collector::store::Filter::last_days(now(), 14);
        store.newest(&f, f.from_day, 1).unwrap()[0].id
    };
    let paths = [
        "/".to_string(),
        format!("/?since={since}"),
        "/?host=api0.bank.example".into(),
        format!("/?since={since}&host=api7.bank.example&version=4.3.0&platform=ANDROID"),
        "/?kind=hpkp".into(),
        format!("/reports/{id}"),
        "/v1/reports.csv?host=api7.bank.example&version=4.3.0".into(),
        "/v1/reports.json?host=api7.bank.example&version=4.3.0".into(),
        "/v1/reports.csv".into(),
    ];
    // Warm-up: one of each.
    for p in &paths {
        assert_eq!(get(addr, p).0, 200, "{p}");
    }
    for p in &paths {
        let mut times = Vec::with_capacity(requests);
        let mut size = 0;
        for _ in 0..requests {
            let start = Instant::now();
            let (status, len) = get(addr, p);
            times.push(start.elapsed());
            assert_eq!(status, 200, "{p}");
            size = len;
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        println!(
            "{{\"page\": {:?}, \"p50_ms\": {:.1}, \"p99_ms\": {:.1}, \"max_ms\": {:.1}, \"bytes\": {size}}}",
            p,
            ms(times[times.len() / 2]),
            ms(p99),
            ms(times[times.len() - 1])
        );
    }
}

/// `dashboard_bench parts DB`: where the overview's time goes (roll-up read, aggregation,
/// network counts, newest reports, rendering), median of 20.
fn parts(db: &str) {
    use keypin_collector::store::dash::{newest_floor, overview};
    let store = open(db);
    let t = now();
    let f = keypin_collector::store::Filter::last_days(t, 14);
    let mut laps: Vec<[f64; 5]> = Vec::new();
    for _ in 0..20 {
        let a = Instant::now();
        let rows = store.rollup(&f).unwrap();
        let b = Instant::now();
        let ov = overview(&rows, &f, |_| Ok(Vec::new())).unwrap();
        let c = Instant::now();
        let keys: Vec<(String, String)> = ov
            .hosts
            .iter()
            .flat_map(|h| h.keys.iter().map(|k| (h.host.clone(), k.pin.clone())))
            .collect();
        store.key_networks(&keys).unwrap();
        let d = Instant::now();
        let newest = store.newest(&f, newest_floor(&rows, &f, 50), 50).unwrap();
        let e = Instant::now();
        let _ = keypin_collector::dashboard::overview::render(&ov, &newest, &f, t);
        let g = Instant::now();
        let ms = |x: Instant, y: Instant| (y - x).as_secs_f64() * 1000.0;
        laps.push([ms(a, b), ms(b, c), ms(c, d), ms(d, e), ms(e, g)]);
    }
    for (i, name) in ["rollup", "aggregate", "networks", "newest", "render"]
        .iter()
        .enumerate()
    {
        let mut v: Vec<f64> = laps.iter().map(|l| l[i]).collect();
        v.sort_by(f64::total_cmp);
        println!("{{\"part\": {name:?}, \"p50_ms\": {:.1}}}", v[v.len() / 2]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "load" => load(&arg(1), arg(2).parse().unwrap_or(1_000_000)),
        "pages" => pages(&arg(1), arg(2).parse().unwrap_or(50)),
        "parts" => parts(&arg(1)),
        _ => {
            eprintln!("usage: dashboard_bench load DB N | dashboard_bench pages DB REQUESTS");
            std::process::exit(2);
        }
    }
}
