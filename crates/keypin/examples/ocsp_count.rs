//! What the OCSP check costs a handshake: runs keypin's verifier N times inside
//! `measured_loop`, so `valgrind --tool=callgrind --toggle-collect=*measured_loop*` counts the
//! instructions of the verifications alone (key generation and setup excluded).
//!
//! `cargo run --release -p keypin --features ocsp --example ocsp_count -- MODE N`, MODE one of
//! `off` (rule without `ocsp`, nothing stapled: the baseline), `ignored` (rule without `ocsp`,
//! a staple sent: only the must-staple scan of the leaf runs), `issuer` (`ocsp = "require"`,
//! a staple signed by the issuer), `delegated` (the same, signed by a delegated responder).
//! bench/ocsp-instructions.sh runs all four and prints the ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use keypin::{PinnedConfig, Policy, Roots, pin::Pin};
use keypin_pki::{CertSpec, Chain, KeyAlg, OcspResponseSpec, issue};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

#[inline(never)]
fn measured_loop(
    v: &dyn ServerCertVerifier,
    ee: &CertificateDer<'_>,
    inter: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    staple: &[u8],
    n: usize,
) {
    for _ in 0..n {
        v.verify_server_cert(
            black_box(ee),
            black_box(inter),
            name,
            staple,
            UnixTime::now(),
        )
        .unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_else(|| "issuer".into());
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let chain = Chain::generate("Bench", &["api.bench.test"], KeyAlg::EcdsaP256).unwrap();
    let responder = issue(
        CertSpec::ocsp_responder("Bench Responder"),
        &chain.intermediate,
    )
    .unwrap();
    let served = chain.served();
    let (ee, inter) = served.split_first().unwrap();
    let name = ServerName::try_from("api.bench.test").unwrap();
    let (ocsp, staple) = match mode.as_str() {
        "off" => ("", Vec::new()),
        "ignored" => (
            "",
            OcspResponseSpec::new(&chain.leaf, &chain.intermediate)
                .build()
                .unwrap(),
        ),
        "delegated" => (
            "ocsp = \"require\"\n",
            OcspResponseSpec::new(&chain.leaf, &chain.intermediate)
                .signed_by(&responder)
                .build()
                .unwrap(),
        ),
        _ => (
            "ocsp = \"require\"\n",
            OcspResponseSpec::new(&chain.leaf, &chain.intermediate)
                .build()
                .unwrap(),
        ),
    };
    let text = format!(
        "[[rule]]\nhosts = [\"api.bench.test\"]\npins = [\"{}\", \"{}\"]\n{ocsp}",
        Pin::from_spki_der(&chain.intermediate.spki_der()),
        Pin::from_spki_der(&chain.leaf.spki_der())
    );
    let policy = Policy::from_toml_str(&text, "bench").unwrap();
    let verifier = PinnedConfig::builder(policy, Roots::from(chain.root_store()))
        .provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        // Every verification in full: the OCSP check is what is counted.
        .verification_cache_ttl(std::time::Duration::ZERO)
        .verifier();
    measured_loop(verifier.as_ref(), ee, inter, &name, &staple, n);
}
