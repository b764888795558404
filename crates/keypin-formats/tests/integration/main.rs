//! keypin-formats' integration tests, one binary
//! (`cargo test -p keypin-formats --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod export;
mod import;
