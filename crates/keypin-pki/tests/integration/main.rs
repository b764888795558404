//! keypin-pki's integration tests, one binary (`cargo test -p keypin-pki --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod certs;
mod ocsp;
mod server;
