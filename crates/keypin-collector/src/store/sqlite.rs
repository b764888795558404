//! The SQLite backend: one file in WAL mode, one writer thread.
//!
//! Durability: a report is acknowledged only after the transaction holding it has committed
//! with `synchronous = FULL` in WAL mode, so a 2xx survives `kill -9`. One writer thread takes
//! batches from every request waiting at that moment and commits them together (group commit),
//! which is what keeps thousands of reports per second affordable with an fsync per commit.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{
    HostSummary, KeySeen, Query, Store, StoreError, StoredReport, chart_start, per_day_window,
};
use crate::report::NewReport;

// The alert ledger (AlertLedger), kept beside the store it uses.
mod alerts;

const SCHEMA_VERSION: i64 = 3;

/// Why a group commit failed, as the writer thread hands it to every request in the group.
#[derive(Debug, Clone)]
enum WriteFailure {
    /// `SQLITE_FULL`: the size limit or the disk.
    Full(String),
    /// Anything else (e.g. the database locked past the busy timeout).
    Other(String),
}

impl From<rusqlite::Error> for WriteFailure {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            Self::Full(e.to_string())
        } else {
            Self::Other(e.to_string())
        }
    }
}

type Job = (
    i64,
    Vec<NewReport>,
    mpsc::SyncSender<Result<(), WriteFailure>>,
);

/// SQLite storage, one file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::SyncSender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) reader: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating on first start) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_max_size(path, None)
    }

    /// [`open`](Self::open) with a size limit: the database file never grows past `max_bytes`
    /// (rounded down to whole pages; SQLite's `max_page_count`, at least what the file already
    /// holds). Ingest past it is refused with [`StoreError::Full`] while reads go on; space
    /// freed by retention is reused. `None`: no limit beyond the disk.
    pub fn open_with_max_size(path: &Path, max_bytes: Option<u64>) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(err)?;
        if let Some(max) = max_bytes {
            let page_size: u64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(err)?;
            let pages = (max / page_size.max(1)).max(1);
            // Per connection: the writer is the only one that grows the file.
            conn.execute_batch(&format!("PRAGMA max_page_count = {pages};"))
                .map_err(err)?;
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS reports (
                     id INTEGER PRIMARY KEY,
                     received_at INTEGER NOT NULL,
                     reported_at INTEGER,
                     host TEXT NOT NULL,
                     port INTEGER,
                     dialect TEXT NOT NULL,
                     served_leaf_pin TEXT,
                     client_network TEXT NOT NULL,
                     app_bundle_id TEXT,
                     app_version TEXT,
                     app_platform TEXT,
                     failure TEXT,
                     body TEXT NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS reports_host_time ON reports(host, received_at);
                 CREATE INDEX IF NOT EXISTS reports_time ON reports(received_at);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(err)?;
        }
        if version < 2 {
            // How many runtime integrity findings a report carried (NULL: none sent).
            conn.execute_batch(
                "BEGIN;
                 ALTER TABLE reports ADD COLUMN runtime_findings INTEGER;
                 PRAGMA user_version = 2;
                 COMMIT;",
            )
            .map_err(err)?;
        }
        if version < 3 {
            super::query_sqlite::migrate_v3(&conn).map_err(err)?;
        }
        let reader = Connection::open(path).map_err(err)?;
        reader
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(err)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(4096);
        let thread = std::thread::Builder::new()
            .name("keypin-collector-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Sqlite {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            reader: Mutex::new(reader),
        })
    }

    /// Stops the writer after everything queued is committed.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }

    pub(super) fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Takes every job waiting, commits them in one transaction, then answers each.
fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 512 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let result = write_jobs(&mut conn, &jobs).map_err(WriteFailure::from);
        for (_, _, reply) in jobs {
            let _ = reply.send(result.clone());
        }
    }
}

fn write_jobs(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO reports (received_at, reported_at, host, port, dialect, served_leaf_pin,
                 client_network, app_bundle_id, app_version, app_platform, failure, body,
                 runtime_findings, event_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for (received_at, reports, _) in jobs {
            for r in reports {
                stmt.execute(params![
                    received_at,
                    r.reported_at,
                    r.host,
                    r.port,
                    r.dialect.as_str(),
                    r.served_leaf_pin,
                    r.client_network,
                    r.app_bundle_id,
                    r.app_version,
                    r.app_platform,
                    r.failure,
                    r.body,
                    r.runtime_findings,
                    super::dash::event_time(*received_at, r.reported_at).0,
                ])?;
            }
        }
    }
    super::query_sqlite::write_rollups(&tx, jobs.iter().map(|(t, r, _)| (*t, r.as_slice())))?;
    tx.commit()
}

impl Store for SqliteStore {
    fn insert(&self, received_at: i64, reports: Vec<NewReport>) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let sender = self
            .writer
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .ok_or(StoreError::WriterGone)?;
        sender
            .send((received_at, reports, reply_tx))
            .map_err(|_| StoreError::WriterGone)?;
        match reply_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(WriteFailure::Full(message))) => Err(StoreError::Full {
                path: self.path.clone(),
                message,
            }),
            Ok(Err(WriteFailure::Other(msg))) => {
                Err(self.sqlite(rusqlite::Error::InvalidParameterName(msg)))
            }
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    fn reports(&self, q: &Query) -> Result<Vec<StoredReport>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, received_at, reported_at, host, port, dialect, served_leaf_pin,
                        client_network, app_bundle_id, app_version, failure, body
                 FROM reports
                 WHERE (?1 IS NULL OR host = ?1) AND received_at >= ?2
                 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![q.host, q.since.unwrap_or(0), q.limit as i64], |r| {
                let body: String = r.get(11)?;
                Ok(StoredReport {
                    id: r.get(0)?,
                    received_at: r.get(1)?,
                    reported_at: r.get(2)?,
                    host: r.get(3)?,
                    port: r.get(4)?,
                    dialect: r.get(5)?,
                    served_leaf_pin: r.get(6)?,
                    client_network: r.get(7)?,
                    app_bundle_id: r.get(8)?,
                    app_version: r.get(9)?,
                    failure: r.get(10)?,
                    report: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    fn summary(&self, now: i64) -> Result<Vec<HostSummary>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let sq = |e| StoreError::Sqlite {
            path: self.path.clone(),
            source: e,
        };
        let mut hosts_stmt = conn
            .prepare_cached(
                "SELECT host, COUNT(*), MAX(received_at),
                        COUNT(*) FILTER (WHERE runtime_findings > 0)
                 FROM reports GROUP BY host
                 ORDER BY MAX(received_at) DESC LIMIT 200",
            )
            .map_err(sq)?;
        let hosts: Vec<(String, i64, i64, i64)> = hosts_stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(sq)?
            .collect::<Result<_, _>>()
            .map_err(sq)?;
        let window_start = chart_start(now);
        let mut out = Vec::new();
        for (host, reports, last_seen, instrumented) in hosts {
            let mut day_stmt = conn
                .prepare_cached(
                    "SELECT (received_at / 86400) * 86400 AS day, COUNT(*) FROM reports
                     WHERE host = ?1 AND received_at >= ?2 GROUP BY day",
                )
                .map_err(sq)?;
            let days: Vec<(i64, i64)> = day_stmt
                .query_map(params![host, window_start], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sq)?
                .collect::<Result<_, _>>()
                .map_err(sq)?;
            let per_day = per_day_window(now, &days);
            let mut key_stmt = conn
                .prepare_cached(
                    "SELECT served_leaf_pin, COUNT(*), MIN(received_at), MAX(received_at),
                            COUNT(DISTINCT client_network)
                     FROM reports WHERE host = ?1 AND served_leaf_pin IS NOT NULL
                     GROUP BY served_leaf_pin ORDER BY COUNT(*) DESC LIMIT 50",
                )
                .map_err(sq)?;
            let keys = key_stmt
                .query_map(params![host], |r| {
                    Ok(KeySeen {
                        pin: r.get(0)?,
                        count: r.get(1)?,
                        first_seen: r.get(2)?,
                        last_seen: r.get(3)?,
                        networks: r.get(4)?,
                    })
                })
                .map_err(sq)?
                .collect::<Result<_, _>>()
                .map_err(sq)?;
            out.push(HostSummary {
                host,
                reports,
                last_seen,
                instrumented,
                per_day,
                keys,
            });
        }
        Ok(out)
    }

    fn delete_before(&self, cutoff: i64) -> Result<usize, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        super::query_sqlite::delete_before(&conn, cutoff).map_err(|e| self.sqlite(e))
    }

    fn count(&self) -> Result<i64, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        conn.query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))
            .optional()
            .map(|c| c.unwrap_or(0))
            .map_err(|e| self.sqlite(e))
    }
}
