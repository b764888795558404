//! The collector's integration tests, one binary
//! (`cargo test -p keypin-collector --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod collector;
mod faults;
mod keypin_sender;
mod report_shapes;
