//! Deterministic companion to `benches/verifier.rs`: run one verifier N times inside
//! `measured_loop`, so `valgrind --tool=callgrind --toggle-collect=*measured_loop*` counts the
//! instructions of the verifications alone (key generation and setup excluded).
//!
//! `cargo run --release -p keypin --example verify_count -- p256|rsa2048 WHICH N`, WHICH one of
//! `rustls`, `keypin` (full verification, cache off), `keypin-miss` (verification cache on, a
//! clock past the TTL at every call: each call a first verification) and `keypin-hit` (the
//! cache answers every repeat). bench/verifier-instructions.sh runs them and prints the ratios.
//! `... -- p256|rsa2048 interleaved ROUNDS` times all four in alternating rounds (wall time);
//! `... -- p256|rsa2048 pair:A,B N` runs two of them over the same chain (same keys), A in
//! `measured_loop` and B in `second_loop`, for one callgrind run to count both.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keypin::{PinnedConfig, Policy, Roots, clock::Clock, pin::Pin};
use keypin_pki::{Chain, KeyAlg};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

#[inline(never)]
fn measured_loop(
    v: &dyn ServerCertVerifier,
    ee: &CertificateDer<'_>,
    inter: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
    n: usize,
) {
    for _ in 0..n {
        v.verify_server_cert(black_box(ee), black_box(inter), name, &[], now)
            .unwrap();
    }
}

/// A clock two seconds further on at every reading: with a 1-second TTL, no entry answers.
#[derive(Debug)]
struct Stepping(AtomicU64);

impl Clock for Stepping {
    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(self.0.fetch_add(2, Ordering::Relaxed)))
    }
}

/// [`measured_loop`] again, under another name (the `pair:` mode).
#[inline(never)]
fn second_loop(
    v: &dyn ServerCertVerifier,
    ee: &CertificateDer<'_>,
    inter: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
    n: usize,
) {
    measured_loop(v, ee, inter, name, now, n)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let alg = match args.first().map(String::as_str) {
        Some("rsa2048") => KeyAlg::Rsa2048,
        _ => KeyAlg::EcdsaP256,
    };
    let which = args.get(1).cloned().unwrap_or_else(|| "keypin".into());
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let chain = Chain::generate("Bench", &["api.bench.test"], alg).unwrap();
    let served = chain.served();
    let (ee, inter) = served.split_first().unwrap();
    let name = ServerName::try_from("api.bench.test").unwrap();
    let now = UnixTime::now();
    if which == "interleaved" {
        return interleaved(&chain, ee, inter, &name, now, n);
    }
    if let Some(pair) = which.strip_prefix("pair:") {
        // Two verifiers over the same chain (the same keys), each in its own loop function:
        // `callgrind_annotate --inclusive=yes` gives each loop's count from one run.
        let (a, b) = pair.split_once(',').unwrap();
        let (a, b) = (make(a, &chain, now), make(b, &chain, now));
        for v in [&a, &b] {
            v.verify_server_cert(ee, inter, &name, &[], now).unwrap();
        }
        measured_loop(&*a, ee, inter, &name, now, n);
        second_loop(&*b, ee, inter, &name, now, n);
        return;
    }
    let verifier = make(&which, &chain, now);
    // Outside the measured loop: the first verification (a miss in every mode).
    verifier
        .verify_server_cert(ee, inter, &name, &[], now)
        .unwrap();
    measured_loop(&*verifier, ee, inter, &name, now, n);
}

/// The verifier `which` names, over `chain`.
fn make(which: &str, chain: &Chain, now: UnixTime) -> Arc<dyn ServerCertVerifier> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    if which == "rustls" {
        return WebPkiServerVerifier::builder_with_provider(Arc::new(chain.root_store()), provider)
            .build()
            .unwrap();
    }
    // The same worst case as the criterion bench: the root is pinned, after a spare pin.
    let spare = keypin_pki::self_signed(keypin_pki::CertSpec::ca("spare")).unwrap();
    let text = format!(
        "[[rule]]\nhosts = [\"api.bench.test\"]\npins = [\"{}\", \"{}\"]\n",
        Pin::from_spki_der(&spare.spki_der()),
        Pin::from_spki_der(&chain.root.spki_der())
    );
    let policy = Policy::from_toml_str(&text, "bench").unwrap();
    let builder = PinnedConfig::builder(policy, Roots::from(chain.root_store())).provider(provider);
    let builder = match which {
        "keypin-hit" => builder,
        "keypin-miss" => builder
            .clock(Arc::new(Stepping(AtomicU64::new(now.as_secs()))))
            .verification_cache_ttl(Duration::from_secs(1)),
        _ => builder.verification_cache_ttl(Duration::ZERO),
    };
    builder.verifier()
}

/// Wall time, interleaved so that all four see the same machine: `rounds` rounds, each timing a
/// batch of every verifier in turn (order rotating per round); prints each one's median time
/// per verification and the median of the per-round ratios to rustls.
fn interleaved(
    chain: &Chain,
    ee: &CertificateDer<'_>,
    inter: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
    rounds: usize,
) {
    let names = ["rustls", "keypin", "keypin-miss", "keypin-hit"];
    let verifiers: Vec<_> = names.iter().map(|w| make(w, chain, now)).collect();
    let batch = |v: &dyn ServerCertVerifier, count: usize| {
        let start = std::time::Instant::now();
        measured_loop(v, ee, inter, name, now, count);
        start.elapsed().as_nanos() as f64 / count as f64
    };
    for v in &verifiers {
        batch(&**v, 50); // warm-up, and the first (missing) verification
    }
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        for k in 0..names.len() {
            let i = (k + round) % names.len();
            // Repeats answered from the cache are short: more of them per batch.
            let count = if names[i] == "keypin-hit" { 2000 } else { 100 };
            per_call[i].push(batch(&*verifiers[i], count));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (i, w) in names.iter().enumerate() {
        let ratios: Vec<f64> = (0..rounds)
            .map(|r| per_call[i][r] / per_call[0][r])
            .collect();
        println!(
            "{w}: median {:.2} µs/verify, median per-round ratio to rustls {:.4} ({:.1}x)",
            median(per_call[i].clone()) / 1000.0,
            median(ratios.clone()),
            1.0 / median(ratios)
        );
    }
}
