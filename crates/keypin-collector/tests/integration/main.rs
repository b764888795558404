//! The collector's integration tests, one binary
//! (`cargo test -p keypin-collector --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod backend;
mod alerts;
mod browser;
mod collector;
mod dashboard;
// Bounds the RSS growth of the whole process under overload (64 MiB), which leaves room for
// the tests running beside it in this process.
mod faults;
mod keypin_sender;
mod metrics;
mod pg;
mod postgres;
mod report_shapes;
