//! keypin's integration tests, one binary (`cargo test -p keypin --test integration`):
//! a module per area. Modules that need library features are compiled in with them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod bundle_attacks;
mod bundle_provenance_attacks;
#[cfg(feature = "updater")]
mod bundle_updater;
mod chain_invalid_event;
#[cfg(feature = "ct")]
mod ct_real;
#[cfg(feature = "ct")]
mod ct_verifier;
#[cfg(feature = "updater")]
mod faults_tls;
#[cfg(feature = "updater")]
mod faults_updater;
mod handshake;
#[cfg(feature = "updater")]
mod http_hostile;
// Installs a poisoned rustls process-default provider, for the whole binary from its first test
// on: no test here may rely on the process default (keypin passes aws-lc-rs explicitly).
#[cfg(all(
    feature = "reqwest",
    feature = "hyper",
    feature = "tokio-rustls",
    feature = "ureq"
))]
mod integrations;
#[cfg(all(
    feature = "updater",
    feature = "reports",
    feature = "reqwest",
    feature = "hyper",
    feature = "tokio-rustls",
    feature = "ureq"
))]
mod live_policy;
mod mtls;
#[cfg(feature = "ocsp")]
mod ocsp;
#[cfg(feature = "pkcs12")]
mod pkcs12;
mod properties;
#[cfg(feature = "reports")]
mod report_sender;
mod rule_fields;
#[cfg(feature = "updater")]
mod updater_mark;
mod verification_cache;
