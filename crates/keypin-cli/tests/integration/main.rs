//! The CLI's integration tests, one binary (`cargo test -p keypin-cli --test integration`):
//! a module per command or scenario, each running the built `keypin` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod attest_cli;
mod bundle_cli;
mod bundle_update_e2e;
mod cli;
mod collector_alerts_cli;
mod collector_cli;
mod faults_tls;
mod formats_cli;
mod gate_cli;
mod lab_cli;
mod lab_proxy_cli;
mod lab_reports_e2e;
mod lint_cli;
mod monitor_cli;
mod pin_cli;
mod shield_cli;
