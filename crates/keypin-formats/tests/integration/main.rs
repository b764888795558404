//! keypin-formats' integration tests, one binary
//! (`cargo test -p keypin-formats --test integration`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod export;
mod import;
mod import_android;
mod import_apple_hpkp;
mod import_chromium;
mod import_rule_fields;
