//! keypin-gate over real loopback HTTP with a real SQLite file: simulated iOS and Android
//! devices (keypin-pki's attest_sim) register, assert and get tokens; each attack is refused.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod attacks;
mod common;
mod concurrency;
mod flows;
mod limits;
mod runtime;
mod secrets;
mod tls_binding;
