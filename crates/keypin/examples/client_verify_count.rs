//! Deterministic cost of the mTLS client verifier: keypin's `PinnedClientVerifier` against
//! rustls' `WebPkiClientVerifier` on the same client chain (client CA → issuing CA → client),
//! N verifications inside `measured_loop` for callgrind (setup and key generation excluded).
//! The pin is on the client CA root, after a spare pin, so every certificate of the path is
//! hashed: the worst case for keypin.
//!
//! `cargo run --release -p keypin --example client_verify_count -- p256|rsa2048 rustls|keypin N`
//! (bench/client-verifier-instructions.sh runs all four and prints the ratios).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use keypin::{
    Roots, clock::ManualClock, pin::Pin, policy::ClientIdentityRule, policy::ClientPolicy,
    verify::PinnedClientVerifier,
};
use keypin_pki::{CertSpec, KeyAlg, issue, self_signed};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};

#[inline(never)]
fn measured_loop(
    v: &dyn ClientCertVerifier,
    ee: &CertificateDer<'_>,
    inter: &[CertificateDer<'_>],
    now: UnixTime,
    n: usize,
) {
    for _ in 0..n {
        v.verify_client_cert(black_box(ee), black_box(inter), now)
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
    let root = self_signed(CertSpec::ca("Bench Client Root").key_alg(alg)).unwrap();
    let inter = issue(CertSpec::ca("Bench Client Issuing CA").key_alg(alg), &root).unwrap();
    let client = issue(CertSpec::client("bench-client").key_alg(alg), &inter).unwrap();
    let chain = [inter.cert.clone()];
    let now = UnixTime::now();
    let verifier: Arc<dyn ClientCertVerifier> = if which == "rustls" {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates([root.cert.clone()]);
        WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .unwrap()
    } else {
        let spare = self_signed(CertSpec::ca("spare")).unwrap();
        let policy = ClientPolicy::new(
            "bench",
            vec![ClientIdentityRule::new(
                "bench",
                vec![
                    Pin::from_spki_der(&spare.spki_der()),
                    Pin::from_spki_der(&root.spki_der()),
                ],
            )],
        )
        .unwrap();
        let roots = Roots::empty().with_cert(root.cert.clone()).unwrap();
        Arc::new(
            PinnedClientVerifier::new(
                policy,
                roots,
                &provider,
                Arc::new(ManualClock::at(now.as_secs())),
            )
            .unwrap(),
        )
    };
    // Must accept, or the count means nothing.
    verifier
        .verify_client_cert(&client.cert, &chain, now)
        .unwrap();
    measured_loop(verifier.as_ref(), &client.cert, &chain, now, n);
}
