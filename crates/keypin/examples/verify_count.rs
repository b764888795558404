//! Deterministic companion to `benches/verifier.rs`: run one verifier N times inside
//! `measured_loop`, so `valgrind --tool=callgrind --toggle-collect=*measured_loop*` counts the
//! instructions of the verifications alone (key generation and setup excluded).
//!
//! `cargo run --release -p keypin --example verify_count -- p256|rsa2048 rustls|keypin N`
//! (bench/verifier-instructions.sh runs all four and prints the ratios).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use keypin::{Pin, PinnedConfig, Policy, Roots};
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let alg = match args.first().map(String::as_str) {
        Some("rsa2048") => KeyAlg::Rsa2048,
        _ => KeyAlg::EcdsaP256,
    };
    let which = args.get(1).cloned().unwrap_or_else(|| "keypin".into());
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = Chain::generate("Bench", &["api.bench.test"], alg).unwrap();
    let served = chain.served();
    let (ee, inter) = served.split_first().unwrap();
    let name = ServerName::try_from("api.bench.test").unwrap();
    let now = UnixTime::now();
    let verifier: Arc<dyn ServerCertVerifier> = if which == "rustls" {
        WebPkiServerVerifier::builder_with_provider(Arc::new(chain.root_store()), provider)
            .build()
            .unwrap()
    } else {
        // The same worst case as the criterion bench: the root is pinned, after a spare pin.
        let spare = keypin_pki::self_signed(keypin_pki::CertSpec::ca("spare")).unwrap();
        let text = format!(
            "[[rule]]\nhosts = [\"api.bench.test\"]\npins = [\"{}\", \"{}\"]\n",
            Pin::from_spki_der(&spare.spki_der()),
            Pin::from_spki_der(&chain.root.spki_der())
        );
        let policy = Policy::from_toml_str(&text, "bench").unwrap();
        PinnedConfig::builder(policy, Roots::from(chain.root_store()))
            .provider(provider)
            .verifier()
    };
    measured_loop(&*verifier, ee, inter, &name, now, n);
}
