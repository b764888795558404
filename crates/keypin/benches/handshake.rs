//! Full TLS 1.3 handshakes on loopback: a client with keypin's pinning verifier against the
//! same client with rustls' `WebPkiServerVerifier`, same server, same chain, same provider,
//! in the same run (issue #8 item 2, target: keypin's handshakes/s at least 0.97 of the
//! baseline). No resumption on either side, so every iteration is a full handshake with a full
//! chain check; the pin is on the root (every certificate of the path is hashed).
//! `keypin_pinned` has the verification cache off (every handshake verifies the chain in
//! full); `keypin_cached` has it on (issue #14, BENCHMARKS §16: a repeat handshake's chain is
//! answered from the cache; the server's handshake signature is still checked every time).
//!
//! `cargo bench -p keypin --bench handshake`
//! (`KEYPIN_INTERLEAVED_ROUNDS=20 cargo bench -p keypin --bench handshake`: interleaved rounds
//! instead of criterion, see `interleaved`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keypin::{PinnedConfig, Policy, Resumption, Roots, pin::Pin};
use keypin_pki::{Chain, KeyAlg};
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::ServerName;

const HOST: &str = "api.bench.test";

/// One server thread, one handshake at a time (the client is sequential too). Each
/// connection: full handshake, then read until the client hangs up.
fn serve(chain: &Chain, provider: Arc<rustls::crypto::CryptoProvider>) -> SocketAddr {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.served(), chain.leaf.key.clone_key())
        .unwrap();
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            let _ = sock.set_nodelay(true);
            let conn = ServerConnection::new(config.clone()).unwrap();
            let mut tls = StreamOwned::new(conn, sock);
            if keypin_pki::drive_handshake(&mut tls, |_| {}).is_ok() {
                let mut buf = [0u8; 256];
                while matches!(tls.sock.read(&mut buf), Ok(n) if n > 0) {}
            }
        }
    });
    addr
}

fn handshake(config: &Arc<ClientConfig>, addr: SocketAddr, name: &ServerName<'static>) {
    let mut conn = ClientConnection::new(config.clone(), name.clone()).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_nodelay(true).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
}

/// `KEYPIN_INTERLEAVED_ROUNDS=N`: instead of criterion, N rounds each timing a batch of
/// handshakes with every config in turn (order rotating), so all see the same machine; prints
/// each config's median handshakes/s and the median per-round ratio to the first.
fn interleaved(
    label: &str,
    configs: &[(&str, &Arc<ClientConfig>)],
    addr: SocketAddr,
    name: &ServerName<'static>,
    rounds: usize,
) {
    const BATCH: usize = 100;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for round in 0..rounds {
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let start = std::time::Instant::now();
            for _ in 0..BATCH {
                handshake(configs[i].1, addr, name);
            }
            rates[i].push(BATCH as f64 / start.elapsed().as_secs_f64());
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (i, (config, _)) in configs.iter().enumerate() {
        let ratios = (0..rounds).map(|r| rates[i][r] / rates[0][r]).collect();
        println!(
            "{label} {config}: median {:.0} handshakes/s, median per-round ratio {:.3}",
            median(rates[i].clone()),
            median(ratios)
        );
    }
}

fn handshakes(c: &mut Criterion) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let name = ServerName::try_from(HOST).unwrap().to_owned();
    let mut group = c.benchmark_group("tls13_handshake");
    group.throughput(Throughput::Elements(1));
    for (label, alg) in [("p256", KeyAlg::EcdsaP256), ("rsa2048", KeyAlg::Rsa2048)] {
        let chain = Chain::generate("Bench", &[HOST], alg).unwrap();
        let addr = serve(&chain, provider.clone());

        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(chain.root_store()),
            provider.clone(),
        )
        .build()
        .unwrap();
        let mut baseline = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_webpki_verifier(webpki)
            .with_no_client_auth();
        baseline.resumption = rustls::client::Resumption::disabled();
        let baseline = Arc::new(baseline);

        let spare = keypin_pki::self_signed(keypin_pki::CertSpec::ca("spare")).unwrap();
        let policy = Policy::from_toml_str(
            &format!(
                "[[rule]]\nhosts = [\"{HOST}\"]\npins = [\"{}\", \"{}\"]\n",
                Pin::from_spki_der(&spare.spki_der()),
                Pin::from_spki_der(&chain.root.spki_der())
            ),
            "bench",
        )
        .unwrap();
        let policy = Arc::new(policy);
        let builder = || {
            PinnedConfig::builder(policy.clone(), Roots::from(chain.root_store()))
                .provider(provider.clone())
                .resumption(Resumption::Disabled)
        };
        let pinned = Arc::new(
            builder()
                .verification_cache_ttl(Duration::ZERO)
                .build()
                .unwrap(),
        );
        let cached = Arc::new(builder().build().unwrap());
        // Same protocol on both sides: the server only speaks TLS 1.3.
        handshake(&baseline, addr, &name);
        handshake(&pinned, addr, &name);
        handshake(&cached, addr, &name);
        if let Some(rounds) = std::env::var("KEYPIN_INTERLEAVED_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
        {
            let configs = [
                ("rustls_webpki", &baseline),
                ("keypin_pinned", &pinned),
                ("keypin_cached", &cached),
            ];
            interleaved(label, &configs, addr, &name, rounds);
            continue;
        }

        group.bench_function(format!("rustls_webpki/{label}"), |b| {
            b.iter(|| handshake(&baseline, addr, &name))
        });
        group.bench_function(format!("keypin_pinned/{label}"), |b| {
            b.iter(|| handshake(&pinned, addr, &name))
        });
        group.bench_function(format!("keypin_cached/{label}"), |b| {
            b.iter(|| handshake(&cached, addr, &name))
        });
    }
    group.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
