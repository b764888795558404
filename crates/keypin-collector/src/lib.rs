//! keypin-collector: stores pin-failure reports in SQLite (one file) or PostgreSQL (shared by
//! several instances) and shows them on a web page.
//!
//! Ingest (`POST /v1/reports`) takes keypin reports and, unchanged, HPKP (RFC 7469) and
//! TrustKit reports, one or a batch. Acknowledged reports are durable. The query API
//! (`GET /v1/reports`, `GET /v1/summary`) needs the bearer token; the dashboard (`/`) a
//! session, made by logging in with the token at `/login` (a form POST, never a URL).
//! `GET /metrics` gives Prometheus metrics (the token too, unless made public), and
//! [`alerts`] sends webhooks when `[[alert]]` rules' thresholds are crossed.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

mod accept;
pub mod alerts;
mod client;
pub mod dashboard;
mod error;
pub mod metrics;
pub mod report;
pub mod server;
mod session;
pub mod store;
pub mod tls;

pub use accept::Limits;
pub use client::Cidr;
pub use error::ConfigError;
pub use server::{Settings, serve, serve_with_limits};
pub use store::{PostgresStore, SqliteStore, Store};
