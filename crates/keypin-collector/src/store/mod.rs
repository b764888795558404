//! Storage: a small trait the HTTP layer uses, and its two backends: SQLite (one file, the
//! default) and PostgreSQL (one database shared by several collector instances).

use std::path::PathBuf;

use serde::Serialize;

use crate::report::NewReport;

mod alerts;
pub mod dash;
mod postgres;
mod query_postgres;
mod query_sqlite;
mod sqlite;

pub use alerts::{AlertLedger, Claim, HostHistory, ReportGroup};
pub use dash::{DashboardQueries, Filter};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite said no.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The writer thread is gone (shutting down).
    #[error("the database writer has stopped")]
    WriterGone,
    /// The database reached its size limit (`max_page_count`) or the disk is full (SQLite
    /// reports both as `SQLITE_FULL`). Nothing of the refused write was stored; writes work
    /// again once space is freed (retention, a larger limit, disk space).
    #[error("the report store is full ({path}: {message})")]
    Full {
        /// The file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// PostgreSQL could not be reached, or refused a statement. Nothing of a refused write was
    /// stored (a commit whose answer was lost may have been: a sender's retry then stores it
    /// twice, never zero times).
    #[error("PostgreSQL database {db}: {reason}")]
    Postgres {
        /// The database, as `postgres://USER@HOST:PORT/DB` (no password).
        db: String,
        /// What went wrong.
        reason: String,
    },
    /// A schema from a newer keypin.
    #[error("database {path} has schema version {found}; this keypin knows up to {known}")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

/// A stored report, as the query API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredReport {
    /// Row id.
    pub id: i64,
    /// When the collector received it (Unix seconds).
    pub received_at: i64,
    /// When the client says it happened.
    pub reported_at: Option<i64>,
    /// Host.
    pub host: String,
    /// Port.
    pub port: Option<i64>,
    /// `keypin`, `trustkit` or `hpkp`.
    pub dialect: String,
    /// SPKI pin of the served leaf.
    pub served_leaf_pin: Option<String>,
    /// Sender's network.
    pub client_network: String,
    /// App.
    pub app_bundle_id: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Failure kind.
    pub failure: Option<String>,
    /// The report itself.
    pub report: serde_json::Value,
}

/// A key seen for a host.
#[derive(Debug, Clone, Serialize)]
pub struct KeySeen {
    /// SPKI pin of the served leaf.
    pub pin: String,
    /// Reports carrying it.
    pub count: i64,
    /// First and last time seen (Unix seconds).
    pub first_seen: i64,
    /// Last time seen.
    pub last_seen: i64,
    /// Distinct sender networks.
    pub networks: i64,
}

/// Per-host summary.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    /// Host.
    pub host: String,
    /// Reports in total.
    pub reports: i64,
    /// Last report (Unix seconds).
    pub last_seen: i64,
    /// Reports that carried at least one runtime integrity finding: "N of `reports` failures
    /// came from instrumented processes" (client-reported signals).
    pub instrumented: i64,
    /// Reports per day, oldest first: `(day start in Unix seconds, count)` over the last 14 days.
    pub per_day: Vec<(i64, i64)>,
    /// Served keys.
    pub keys: Vec<KeySeen>,
}

/// Filters for [`Store::reports`].
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this host.
    pub host: Option<String>,
    /// Received at or after (Unix seconds).
    pub since: Option<i64>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// What the HTTP layer needs from storage (the dashboard's queries: [`DashboardQueries`]).
pub trait Store: Send + Sync + DashboardQueries {
    /// Stores reports durably; returns once they are committed.
    fn insert(&self, received_at: i64, reports: Vec<NewReport>) -> Result<(), StoreError>;
    /// Reports, newest first.
    fn reports(&self, q: &Query) -> Result<Vec<StoredReport>, StoreError>;
    /// Per-host summaries, most recent first; `now` sets the chart window.
    fn summary(&self, now: i64) -> Result<Vec<HostSummary>, StoreError>;
    /// Deletes reports received before `cutoff`; returns how many.
    fn delete_before(&self, cutoff: i64) -> Result<usize, StoreError>;
    /// Number of reports stored.
    fn count(&self) -> Result<i64, StoreError>;
    /// The retention job for the period ending at `now`: deletes reports received before
    /// `cutoff` unless an instance sharing this store already ran it in the last `every`
    /// seconds. `Some(deleted)` when this call ran it, `None` when another had. A store only
    /// one process uses always runs it.
    fn retention(&self, now: i64, cutoff: i64, every: i64) -> Result<Option<usize>, StoreError> {
        let _ = (now, every);
        self.delete_before(cutoff).map(Some)
    }
}

/// The days a summary charts, oldest first: 14 days ending with `now`'s, each with its count
/// from `days` (`(day start, count)` rows, in any order, days without reports absent).
fn per_day_window(now: i64, days: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let window_start = chart_start(now);
    (0..14)
        .map(|i| {
            let d = window_start + i * 86_400;
            let count = days
                .iter()
                .find(|(day, _)| *day == d)
                .map_or(0, |(_, c)| *c);
            (d, count)
        })
        .collect()
}

/// The start (Unix seconds, a UTC midnight) of the 14 days a summary charts.
fn chart_start(now: i64) -> i64 {
    now.div_euclid(86_400) * 86_400 - 13 * 86_400
}
