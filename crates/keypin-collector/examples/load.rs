//! Load generator for the collector: `load ADDR RATE SECONDS [CONNECTIONS]`.
//!
//! Sends HPKP-style reports at RATE per second in total over CONNECTIONS keep-alive HTTP/1.1
//! connections (loopback only), for SECONDS, then prints one JSON line: how many were sent and
//! acknowledged (2xx), errors, and latency percentiles. A connection that breaks (the collector
//! was killed) ends that worker; acknowledged counts stay exact.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8088".into());
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000.0);
    let secs: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30.0);
    let conns: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16);
    assert!(
        addr.starts_with("127.") || addr.starts_with("localhost") || addr.starts_with("[::1]"),
        "loopback only"
    );
    let latencies = Mutex::new(Vec::new());
    let acked = std::sync::atomic::AtomicU64::new(0);
    let errors = std::sync::atomic::AtomicU64::new(0);
    let sent = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    let per_conn_interval = Duration::from_secs_f64(conns as f64 / rate);
    std::thread::scope(|s| {
        for w in 0..conns {
            let (latencies, acked, errors, sent, addr) =
                (&latencies, &acked, &errors, &sent, &addr);
            s.spawn(move || {
                let Ok(stream) = TcpStream::connect(addr) else {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                };
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut local = Vec::new();
                let mut next = start + per_conn_interval.mul_f64(w as f64 / conns as f64);
                let mut i = 0u64;
                while start.elapsed().as_secs_f64() < secs {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += per_conn_interval;
                    i += 1;
                    let body = format!(
                        "{{\"hostname\":\"h{}.load.test\",\"port\":443,\"known-pins\":[],\"served-certificate-chain\":[],\"validated-certificate-chain\":[],\"noted-hostname\":\"w{w}-{i}\"}}",
                        i % 50
                    );
                    let req = format!(
                        "POST /v1/reports HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let t0 = Instant::now();
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if writer.write_all(req.as_bytes()).is_err() {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    match read_response(&mut reader) {
                        Some(status) if (200..300).contains(&status) => {
                            acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            local.push(t0.elapsed().as_secs_f64() * 1000.0);
                        }
                        Some(_) => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        None => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                    }
                }
                latencies.lock().unwrap().extend(local);
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.into_inner().unwrap();
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let acked = acked.into_inner();
    println!(
        "{{\"seconds\":{elapsed:.2},\"sent\":{},\"acked\":{acked},\"errors\":{},\"rate\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        sent.into_inner(),
        errors.into_inner(),
        acked as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        l.last().copied().unwrap_or(0.0)
    );
}

/// Reads one HTTP/1.1 response; returns its status, or None when the connection broke.
fn read_response(r: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status = line.get(9..12)?.parse().ok()?;
    let mut len = 0usize;
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
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(status)
}
