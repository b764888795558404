//! Load for an intercepting proxy (BENCHMARKS.md §18): `N` client threads, each opening
//! tunnels back to back through `PROXY` to `TARGET`: `CONNECT`, a full TLS handshake with the
//! forged chain (accepted: the point is the proxy's cost, not a verdict), one GET, the
//! response. Prints connections per second, latency percentiles and errors.
//!
//! `proxy_load rate PROXY TARGET THREADS SECONDS` or `proxy_load hold PROXY TARGET COUNT`
//! (opens COUNT tunnels at once, holds them all, then sends a request on each: every one must
//! answer) or `proxy_load newhosts PROXY COUNT` (what minting a leaf for a new host costs).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Accepts any chain (handshake signatures are still checked): the load's client.
#[derive(Debug)]
struct AnyChain(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut c = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyChain(provider)))
        .with_no_client_auth();
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// A tunnel through `proxy` to `target`, TLS handshake done.
fn open(
    proxy: SocketAddr,
    target: &str,
    config: &Arc<ClientConfig>,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let mut sock = TcpStream::connect(proxy).map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
    sock.set_nodelay(true).ok();
    write!(sock, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Err("the proxy closed during CONNECT".into()),
        }
        if head.len() > 4096 {
            return Err("CONNECT response too long".into());
        }
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(format!(
            "CONNECT refused: {}",
            String::from_utf8_lossy(&head)
        ));
    }
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    Ok(tls)
}

/// One GET on an open tunnel; `Ok` when a `200` comes back.
fn get(tls: &mut StreamOwned<ClientConnection, TcpStream>, host: &str) -> Result<(), String> {
    write!(
        tls,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("request: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            // A server that closes without close_notify still answered.
            Err(_) if !response.is_empty() => break,
            Err(e) => return Err(format!("response: {e}")),
        }
    }
    if response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "response: {:?}",
            String::from_utf8_lossy(&response[..response.len().min(60)])
        ))
    }
}

fn rate(proxy: SocketAddr, target: &str, threads: usize, seconds: u64) {
    let config = config();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (config, stop, errors, target) = (
                Arc::clone(&config),
                Arc::clone(&stop),
                Arc::clone(&errors),
                target.to_owned(),
            );
            std::thread::spawn(move || {
                let host = target
                    .rsplit_once(':')
                    .map_or(target.as_str(), |(h, _)| h)
                    .to_owned();
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match open(proxy, &target, &config).and_then(|mut tls| get(&mut tls, &host)) {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("error: {e}");
                            }
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_default())
        .collect();
    let took = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "connections/s {:.1}  ok {}  errors {}  p50 {:.2} ms  p99 {:.2} ms",
        all.len() as f64 / took,
        all.len(),
        errors.load(Ordering::Relaxed),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
}

fn hold(proxy: SocketAddr, target: &str, count: usize) {
    let config = config();
    let host = target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .to_owned();
    let mut open_tunnels = Vec::with_capacity(count);
    let mut errors = 0usize;
    for _ in 0..count {
        match open(proxy, target, &config) {
            Ok(t) => open_tunnels.push(t),
            Err(e) => {
                errors += 1;
                eprintln!("open: {e}");
            }
        }
    }
    let held = open_tunnels.len();
    std::thread::sleep(Duration::from_secs(1));
    let answered = open_tunnels
        .iter_mut()
        .map(|t| get(t, &host))
        .filter(Result::is_ok)
        .count();
    println!(
        "tunnels opened and held at once {held}  answered after holding {answered}  errors {errors}"
    );
}

/// Mean latency of a tunnel to a host the proxy has not seen (it mints a leaf) against one to
/// a host it has (cached), sequentially, `count` of each.
fn new_hosts(proxy: SocketAddr, count: usize) {
    let config = config();
    let once = |target: &str| -> Duration {
        let t = Instant::now();
        let host = target
            .rsplit_once(':')
            .map_or(target, |(h, _)| h)
            .to_owned();
        open(proxy, target, &config)
            .and_then(|mut tls| get(&mut tls, &host))
            .expect("tunnel");
        t.elapsed()
    };
    let warm = "warm.keypin.test:443";
    once(warm);
    let fresh: Duration = (0..count)
        .map(|i| once(&format!("host-{i}-{}.keypin.test:443", std::process::id())))
        .sum();
    let cached: Duration = (0..count).map(|_| once(warm)).sum();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / count as f64;
    println!(
        "new host {:.2} ms  known host {:.2} ms  minting costs {:.2} ms per new host",
        per(fresh),
        per(cached),
        per(fresh) - per(cached)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "proxy_load rate PROXY TARGET THREADS SECONDS | proxy_load hold PROXY TARGET COUNT | proxy_load newhosts PROXY COUNT";
    let proxy: SocketAddr = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let target = args.get(3).map_or("", String::as_str);
    match args.get(1).map(String::as_str) {
        Some("rate") => rate(
            proxy,
            target,
            args.get(4).and_then(|a| a.parse().ok()).expect(usage),
            args.get(5).and_then(|a| a.parse().ok()).expect(usage),
        ),
        Some("newhosts") => new_hosts(
            proxy,
            args.get(3).and_then(|a| a.parse().ok()).expect(usage),
        ),
        Some("hold") => hold(
            proxy,
            target,
            args.get(4).and_then(|a| a.parse().ok()).expect(usage),
        ),
        _ => panic!("{usage}"),
    }
}
