//! The PostgreSQL backend: one database that any number of collector instances share.
//!
//! - Durability: a report is acknowledged only after the statement inserting it has committed
//!   (`synchronous_commit = on` for every session, whatever the server's default). Writer tasks
//!   take every request waiting at that moment and insert them with one statement (group
//!   commit, as the SQLite writer does); several run at once, each on its own pooled
//!   connection.
//! - Outages: every database call has a deadline. While the database is down or restarting a
//!   call fails with the reason (ingest answers 503, nothing is acknowledged), and the pool
//!   replaces dead connections once it is back: no restart of the collector.
//! - Several instances: migrations run under a transaction-scoped advisory lock, so instances
//!   starting together apply them once; retention is claimed per period by updating one row of
//!   `keypin_jobs` (its row lock makes the others wait, then see it done).
//!
//! The driver (tokio-postgres, with deadpool-postgres for the pool) is async while the
//! [`Store`] trait is blocking, as the HTTP layer calls it from `spawn_blocking`: the store runs
//! its own small runtime and blocks on it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{NoTls, Row, config::Host};

use super::{
    HostSummary, KeySeen, Query, Store, StoreError, StoredReport, chart_start, per_day_window,
};
use crate::error::chain;
use crate::report::NewReport;

// The alert ledger (AlertLedger), kept beside the store it uses.
mod alerts;

const SCHEMA_VERSION: i64 = 3;

/// The advisory lock migrations hold: "keypin" in ASCII, then 1.
const MIGRATION_LOCK: i64 = 0x6b65_7970_696e_0001;

/// Group commits in flight at once, each on its own connection.
const WRITERS: usize = 4;

/// Connections per instance: the writers, and readers beside them.
const POOL_SIZE: usize = 16;

/// Requests in one group commit at most.
const MAX_BATCH: usize = 512;

/// Requests queued for the writers at most; past it `insert` waits for room.
const QUEUE: usize = 4096;

/// The longest any database call may take, a connection included. Past it the call fails and
/// its connection is dropped.
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// The longest a new connection (or a free one from the pool) may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

const V1: &str = "
    CREATE TABLE IF NOT EXISTS reports (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at BIGINT NOT NULL,
        reported_at BIGINT,
        host TEXT NOT NULL,
        port BIGINT,
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
    CREATE TABLE IF NOT EXISTS keypin_jobs (name TEXT PRIMARY KEY, last_run BIGINT NOT NULL);
    INSERT INTO keypin_jobs (name, last_run) VALUES ('retention', 0) ON CONFLICT DO NOTHING;
    INSERT INTO keypin_schema (version) VALUES (1);
";

/// How many runtime integrity findings a report carried (NULL: none sent).
const V2: &str = "
    ALTER TABLE reports ADD COLUMN IF NOT EXISTS runtime_findings BIGINT;
    INSERT INTO keypin_schema (version) VALUES (2);
";

const INSERT: &str = "
    INSERT INTO reports (received_at, reported_at, host, port, dialect, served_leaf_pin,
        client_network, app_bundle_id, app_version, app_platform, failure, body,
        runtime_findings, event_at)
    SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
        $13::int8[], $14::int8[])";

struct Job {
    received_at: i64,
    reports: Vec<NewReport>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// PostgreSQL storage, shared by every collector instance pointed at the database.
pub struct PostgresStore {
    db: String,
    pool: Pool,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or the key=value form)
    /// without TLS, and brings the schema up to date (safe when instances start together).
    /// Call it outside an async context.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Postgres {
            db: "(the --db value)".into(),
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        let db = describe(&config);
        let fail = |reason: String| StoreError::Postgres {
            db: db.clone(),
            reason,
        };
        // Acknowledged means committed, whatever the server's default for its sessions.
        let options = match config.get_options() {
            Some(o) => format!("{o} -c synchronous_commit=on"),
            None => "-c synchronous_commit=on".into(),
        };
        config
            .options(&options)
            .application_name("keypin-collector")
            .connect_timeout(CONNECT_DEADLINE);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection whose server went away is closed; the fast check sees that.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_DEADLINE))
            .create_timeout(Some(CONNECT_DEADLINE))
            .recycle_timeout(Some(CONNECT_DEADLINE))
            .build()
            .map_err(|e| fail(format!("cannot make the connection pool: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keypin-postgres")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the database runtime: {e}")))?;
        let handle = runtime.handle().clone();
        handle.block_on(migrate(&pool)).map_err(fail)?;
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..WRITERS {
            handle.spawn(writer(pool.clone(), rx.clone()));
        }
        Ok(Self {
            db,
            pool,
            writer: Mutex::new(Some(tx)),
            handle,
            runtime: Some(runtime),
        })
    }

    /// The database, as `postgres://USER@HOST:PORT/DB` (no password).
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Stops taking writes; what is queued is still committed and answered.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
    }

    /// Runs one database call with the deadline, on this store's runtime.
    pub(super) fn call<T>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, String>>,
    ) -> Result<T, StoreError> {
        self.handle
            .block_on(async {
                match tokio::time::timeout(CALL_DEADLINE, f).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} s", CALL_DEADLINE.as_secs())),
                }
            })
            .map_err(|reason| StoreError::Postgres {
                db: self.db.clone(),
                reason: format!("{what}: {reason}"),
            })
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        self.pool.get().await.map_err(|e| chain(&e))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
        // Not a blocking shutdown: the store may be dropped inside an async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `postgres://USER@HOST:PORT/DB` for messages: never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// Creates or upgrades the schema, under an advisory lock held until the transaction ends:
/// a second instance starting at the same moment waits, then finds the schema current.
async fn migrate(pool: &Pool) -> Result<(), String> {
    let step = |what: &'static str| move |e: tokio_postgres::Error| format!("{what}: {}", why(&e));
    let mut client = pool
        .get()
        .await
        .map_err(|e| format!("cannot connect: {}", chain(&e)))?;
    let tx = client
        .transaction()
        .await
        .map_err(step("migration transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(step("migration lock"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS keypin_schema (version BIGINT NOT NULL)")
        .await
        .map_err(step("schema version table"))?;
    let version: Option<i64> = tx
        .query_one("SELECT max(version) FROM keypin_schema", &[])
        .await
        .map_err(step("schema version"))?
        .get(0);
    let version = version.unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(format!(
            "schema version {version}; this keypin knows up to {SCHEMA_VERSION}"
        ));
    }
    if version < 1 {
        tx.batch_execute(V1)
            .await
            .map_err(step("schema version 1"))?;
    }
    if version < 2 {
        tx.batch_execute(V2)
            .await
            .map_err(step("schema version 2"))?;
    }
    if version < 3 {
        tx.batch_execute(&super::query_postgres::v3())
            .await
            .map_err(step("schema version 2"))?;
    }
    tx.commit().await.map_err(step("migration commit"))
}

/// One of the writer tasks: takes every request waiting, inserts them in one statement, then
/// answers each with the outcome.
async fn writer(pool: Pool, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            jobs
        };
        let result = write_jobs(&pool, &jobs).await;
        for job in jobs {
            let _ = job.reply.send(result.clone());
        }
    }
}

async fn write_jobs(pool: &Pool, jobs: &[Job]) -> Result<(), String> {
    let mut client = match tokio::time::timeout(CALL_DEADLINE, pool.get()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(format!("no connection: {}", chain(&e))),
        Err(_) => return Err("no connection within the deadline".into()),
    };
    match tokio::time::timeout(CALL_DEADLINE, insert_rows(&mut client, jobs)).await {
        Ok(r) => r.map_err(|e| format!("insert: {}", why(&e))),
        Err(_) => {
            // The statement may still be running there: this connection is not reused.
            drop(deadpool_postgres::Object::take(client));
            Err(format!(
                "insert: no answer within {} s (not acknowledged)",
                CALL_DEADLINE.as_secs()
            ))
        }
    }
}

/// The driver's error with the server's message, when there is one (its own text says only
/// "db error").
pub(super) fn why(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => chain(e),
    }
}

/// Text as PostgreSQL stores it: it has no NUL character (a JSON `\u0000` in a report's field
/// would fail the whole group commit, every other sender's reports with it), so NUL becomes
/// U+FFFD. The stored body keeps the escape.
pub(super) fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

async fn insert_rows(
    client: &mut deadpool_postgres::Client,
    jobs: &[Job],
) -> Result<(), tokio_postgres::Error> {
    let n: usize = jobs.iter().map(|j| j.reports.len()).sum();
    let mut received = Vec::with_capacity(n);
    let mut reported = Vec::with_capacity(n);
    let mut host = Vec::with_capacity(n);
    let mut port = Vec::with_capacity(n);
    let mut dialect = Vec::with_capacity(n);
    let mut served = Vec::with_capacity(n);
    let mut network = Vec::with_capacity(n);
    let mut bundle = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut platform = Vec::with_capacity(n);
    let mut failure = Vec::with_capacity(n);
    let mut body = Vec::with_capacity(n);
    let mut runtime = Vec::with_capacity(n);
    let mut event = Vec::with_capacity(n);
    let opt = |s: &Option<String>| s.as_deref().map(text);
    for job in jobs {
        for r in &job.reports {
            received.push(job.received_at);
            reported.push(r.reported_at);
            host.push(text(&r.host));
            port.push(r.port.map(i64::from));
            dialect.push(r.dialect.as_str());
            served.push(opt(&r.served_leaf_pin));
            network.push(text(&r.client_network));
            bundle.push(opt(&r.app_bundle_id));
            version.push(opt(&r.app_version));
            platform.push(opt(&r.app_platform));
            failure.push(opt(&r.failure));
            body.push(text(&r.body));
            runtime.push(r.runtime_findings);
            event.push(super::dash::event_time(job.received_at, r.reported_at).0);
        }
    }
    if n == 0 {
        return Ok(());
    }
    // The reports and their roll-ups in one transaction: committed when it returns.
    let tx = client.transaction().await?;
    let stmt = tx.prepare_cached(INSERT).await?;
    tx.execute(
        &stmt,
        &[
            &received, &reported, &host, &port, &dialect, &served, &network, &bundle, &version,
            &platform, &failure, &body, &runtime, &event,
        ],
    )
    .await?;
    super::query_postgres::write_rollups(
        &tx,
        jobs.iter().map(|j| (j.received_at, j.reports.as_slice())),
    )
    .await?;
    tx.commit().await
}

fn stored_report(r: &Row) -> StoredReport {
    let body: String = r.get(11);
    StoredReport {
        id: r.get(0),
        received_at: r.get(1),
        reported_at: r.get(2),
        host: r.get(3),
        port: r.get(4),
        dialect: r.get(5),
        served_leaf_pin: r.get(6),
        client_network: r.get(7),
        app_bundle_id: r.get(8),
        app_version: r.get(9),
        failure: r.get(10),
        report: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    }
}

impl Store for PostgresStore {
    fn insert(&self, received_at: i64, reports: Vec<NewReport>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self
            .writer
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .ok_or(StoreError::WriterGone)?;
        sender
            .blocking_send(Job {
                received_at,
                reports,
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        match answer.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::Postgres {
                db: self.db.clone(),
                reason,
            }),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    fn reports(&self, q: &Query) -> Result<Vec<StoredReport>, StoreError> {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        self.call("reports", async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT id, received_at, reported_at, host, port, dialect, served_leaf_pin,
                            client_network, app_bundle_id, app_version, failure, body
                     FROM reports
                     WHERE ($1::text IS NULL OR host = $1) AND received_at >= $2
                     ORDER BY id DESC LIMIT $3",
                    &[&q.host, &q.since.unwrap_or(0), &limit],
                )
                .await
                .map_err(|e| why(&e))?;
            Ok(rows.iter().map(stored_report).collect())
        })
    }

    fn summary(&self, now: i64) -> Result<Vec<HostSummary>, StoreError> {
        self.call("summary", async {
            let c = self.client().await?;
            let e = |e: tokio_postgres::Error| why(&e);
            let hosts = c
                .query(
                    "SELECT host, COUNT(*), MAX(received_at),
                            COUNT(*) FILTER (WHERE runtime_findings > 0)
                     FROM reports GROUP BY host
                     ORDER BY MAX(received_at) DESC LIMIT 200",
                    &[],
                )
                .await
                .map_err(e)?;
            let window_start = chart_start(now);
            let mut out = Vec::with_capacity(hosts.len());
            for h in hosts {
                let host: String = h.get(0);
                let days: Vec<(i64, i64)> = c
                    .query(
                        "SELECT (received_at / 86400) * 86400 AS day, COUNT(*) FROM reports
                         WHERE host = $1 AND received_at >= $2 GROUP BY day",
                        &[&host, &window_start],
                    )
                    .await
                    .map_err(e)?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                let keys = c
                    .query(
                        "SELECT served_leaf_pin, COUNT(*), MIN(received_at), MAX(received_at),
                                COUNT(DISTINCT client_network)
                         FROM reports WHERE host = $1 AND served_leaf_pin IS NOT NULL
                         GROUP BY served_leaf_pin ORDER BY COUNT(*) DESC LIMIT 50",
                        &[&host],
                    )
                    .await
                    .map_err(e)?
                    .iter()
                    .map(|r| KeySeen {
                        pin: r.get(0),
                        count: r.get(1),
                        first_seen: r.get(2),
                        last_seen: r.get(3),
                        networks: r.get(4),
                    })
                    .collect();
                out.push(HostSummary {
                    host,
                    reports: h.get(1),
                    last_seen: h.get(2),
                    instrumented: h.get(3),
                    per_day: per_day_window(now, &days),
                    keys,
                });
            }
            Ok(out)
        })
    }

    fn delete_before(&self, cutoff: i64) -> Result<usize, StoreError> {
        self.call("delete", async {
            let e = |e: tokio_postgres::Error| why(&e);
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(e)?;
            let n = super::query_postgres::delete_before(&tx, cutoff)
                .await
                .map_err(e)?;
            tx.commit().await.map_err(e)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn count(&self) -> Result<i64, StoreError> {
        self.call("count", async {
            let c = self.client().await?;
            let row = c
                .query_one("SELECT COUNT(*) FROM reports", &[])
                .await
                .map_err(|e| why(&e))?;
            Ok(row.get(0))
        })
    }

    /// Claims the period by moving `keypin_jobs.last_run` forward, and deletes in the same
    /// transaction: an instance that comes second waits on the row lock, then finds the period
    /// taken. A failed delete gives the claim back.
    fn retention(&self, now: i64, cutoff: i64, every: i64) -> Result<Option<usize>, StoreError> {
        self.call("retention", async {
            let e = |e: tokio_postgres::Error| why(&e);
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(e)?;
            let claimed = tx
                .query_opt(
                    "UPDATE keypin_jobs SET last_run = $1::int8
                     WHERE name = 'retention' AND last_run <= $1::int8 - $2::int8 RETURNING name",
                    &[&now, &every],
                )
                .await
                .map_err(e)?;
            if claimed.is_none() {
                return Ok(None);
            }
            let n = super::query_postgres::delete_before(&tx, cutoff)
                .await
                .map_err(e)?;
            tx.commit().await.map_err(e)?;
            Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
        })
    }
}
