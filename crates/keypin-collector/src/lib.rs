//! keypin-collector: stores pin-failure reports in SQLite and shows them on a web page.
//!
//! Ingest (`POST /v1/reports`) takes keypin reports and, unchanged, HPKP (RFC 7469) and
//! TrustKit reports, one or a batch. Acknowledged reports are durable. The query API
//! (`GET /v1/reports`, `GET /v1/summary`) and the dashboard (`/`) need the bearer token.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept;
pub mod dashboard;
pub mod report;
pub mod server;
pub mod store;

pub use accept::Limits;
pub use server::{Settings, router, router_with_limits, serve, serve_with_limits};
pub use store::{SqliteStore, Store};
