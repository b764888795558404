//! The pinning verifier against rustls' own `WebPkiServerVerifier`, same 3-certificate chain,
//! same run (RSA-2048 and P-256). The pin is on the root, so every certificate of the path is
//! hashed: the worst case for keypin.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keypin::{Pin, PinnedConfig, Policy, Roots};
use keypin_pki::{Chain, KeyAlg};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{ServerName, UnixTime};

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
        let keypin_verifier = PinnedConfig::builder(policy, roots)
            .provider(provider.clone())
            .verifier();
        // Both must accept, or the comparison means nothing.
        rustls_verifier
            .verify_server_cert(ee, inter, &name, &[], now)
            .unwrap();
        keypin_verifier
            .verify_server_cert(ee, inter, &name, &[], now)
            .unwrap();

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
    }
    group.finish();
}

criterion_group!(benches, verifiers);
criterion_main!(benches);
