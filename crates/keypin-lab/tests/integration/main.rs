//! The lab's integration tests, one binary (`cargo test -p keypin-lab --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab;
mod proxy_clients;
mod reqwest_client;
