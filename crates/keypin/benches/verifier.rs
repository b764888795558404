//! The pinning verifier against rustls' own `WebPkiServerVerifier`, same 3-certificate chain,
//! same run (RSA-2048 and P-256). The pin is on the root, so every certificate of the path is
//! hashed: the worst case for keypin.
//!
//! `keypin_pinned` verifies in full every time (verification cache off). The verification
//! cache (issue #14, BENCHMARKS §16): `keypin_cache_hit` repeats the same chain, answered from
//! the cache; `keypin_cache_miss` has the cache on but a clock that moves past the entry's TTL
//! before every call, so each call is a first verification (lookup, full verification, insert).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::{PinnedConfig, Policy, Roots, clock::Clock, pin::Pin};
use keypin_pki::{Chain, KeyAlg};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{ServerName, UnixTime};

/// A clock two seconds further on at every reading: with a 1-second TTL, no entry answers.
#[derive(Debug)]
struct Stepping(AtomicU64);

impl Clock for Stepping {
    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(self.0.fetch_add(2, Ordering::Relaxed)))
    }
}

fn verifiers(c: &mut Criterion) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut group = c.benchmark_group("verify_server_cert");
    for (label, alg) in [("p256", KeyAlg::EcdsaP256), ("rsa2048", KeyAlg::Rsa2048)] {
        let chain = Chain::generate("Bench", &["api.bench.test"], alg).unwrap();
        let served = chain.served();
        let (ee, inter) = served.split_first().unwrap();
        let name = ServerName::try_from("api.bench.test").unwrap();
        let now = UnixTime::now();

        let rustls_verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(chain.root_store()),
            provider.clone(),
        )
        .build()
        .unwrap();
        let root_pin = Pin::from_spki_der(&chain.root.spki_der());
        let spare = keypin_pki::self_signed(keypin_pki::CertSpec::ca("spare")).unwrap();
        let text = format!(
            "[[rule]]\nhosts = [\"api.bench.test\"]\npins = [\"{}\", \"{root_pin}\"]\n",
            Pin::from_spki_der(&spare.spki_der())
        );
        let policy = Policy::from_toml_str(&text, "bench").unwrap();
        let roots = Roots::from(chain.root_store());
        let policy = Arc::new(policy);
        let builder =
            || PinnedConfig::builder(policy.clone(), roots.clone()).provider(provider.clone());
        let keypin_verifier = builder().verification_cache_ttl(Duration::ZERO).verifier();
        let cached = builder().verifier();
        let stepping = Arc::new(Stepping(AtomicU64::new(now.as_secs())));
        let missing = builder()
            .clock(stepping)
            .verification_cache_ttl(Duration::from_secs(1))
            .verifier();
        // Both must accept, or the comparison means nothing.
        rustls_verifier
            .verify_server_cert(ee, inter, &name, &[], now)
            .unwrap();
        for v in [&keypin_verifier, &cached, &missing] {
            v.verify_server_cert(ee, inter, &name, &[], now).unwrap();
        }

        group.bench_function(format!("rustls_webpki/{label}"), |b| {
            b.iter(|| {
                rustls_verifier
                    .verify_server_cert(black_box(ee), black_box(inter), &name, &[], now)
                    .unwrap()
            })
        });
        group.bench_function(format!("keypin_pinned/{label}"), |b| {
            b.iter(|| {
                keypin_verifier
                    .verify_server_cert(black_box(ee), black_box(inter), &name, &[], now)
                    .unwrap()
            })
        });
        group.bench_function(format!("keypin_cache_miss/{label}"), |b| {
            b.iter(|| {
                missing
                    .verify_server_cert(black_box(ee), black_box(inter), &name, &[], now)
                    .unwrap()
            })
        });
        group.bench_function(format!("keypin_cache_hit/{label}"), |b| {
            b.iter(|| {
                cached
                    .verify_server_cert(black_box(ee), black_box(inter), &name, &[], now)
                    .unwrap()
            })
        });
        let (hits, misses) = (
            cached.verification_cache_stats(),
            missing.verification_cache_stats(),
        );
        assert_eq!(hits.map(|s| s.misses), Some(1), "every repeat was a hit");
        assert_eq!(
            misses.map(|s| s.hits),
            Some(0),
            "no first verification was a hit"
        );
    }
    group.finish();
}

criterion_group!(benches, verifiers);
criterion_main!(benches);
