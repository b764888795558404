//! The two store backends, for tests that run on each: [`on_both_backends!`] makes one test
//! per backend from a `fn name(backend: Backend)`.

use std::net::SocketAddr;
use std::sync::Arc;

use keypin_collector::store::AlertLedger;
use keypin_collector::{Limits, PostgresStore, Settings, SqliteStore, Store};

/// Where a test's reports go.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// A file in a temporary directory.
    Sqlite,
    /// A fresh database on the test binary's PostgreSQL server (`pg::shared`).
    Postgres,
}

/// An open store and what keeps it alive.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// The same store's alert ledger.
    pub ledger: Arc<dyn AlertLedger>,
    /// The SQLite file's directory.
    pub _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn open(self) -> Opened {
        match self {
            Self::Sqlite => {
                let dir = tempfile::TempDir::new().unwrap();
                let store = Arc::new(SqliteStore::open(&dir.path().join("reports.db")).unwrap());
                Opened {
                    store: store.clone(),
                    ledger: store,
                    _dir: Some(dir),
                }
            }
            Self::Postgres => {
                let store = Arc::new(PostgresStore::open(&crate::pg::fresh_database()).unwrap());
                Opened {
                    store: store.clone(),
                    ledger: store,
                    _dir: None,
                }
            }
        }
    }

    /// Two stores on one database (two files' worth of connections to one SQLite file, or two
    /// pools on one PostgreSQL database), as two collector instances have.
    pub fn open_pair(self) -> (Opened, Opened) {
        match self {
            Self::Sqlite => {
                let dir = tempfile::TempDir::new().unwrap();
                let path = dir.path().join("reports.db");
                let a = Arc::new(SqliteStore::open(&path).unwrap());
                let b = Arc::new(SqliteStore::open(&path).unwrap());
                (
                    Opened {
                        store: a.clone(),
                        ledger: a,
                        _dir: Some(dir),
                    },
                    Opened {
                        store: b.clone(),
                        ledger: b,
                        _dir: None,
                    },
                )
            }
            Self::Postgres => {
                let url = crate::pg::fresh_database();
                let a = Arc::new(PostgresStore::open(&url).unwrap());
                let b = Arc::new(PostgresStore::open(&url).unwrap());
                (
                    Opened {
                        store: a.clone(),
                        ledger: a,
                        _dir: None,
                    },
                    Opened {
                        store: b.clone(),
                        ledger: b,
                        _dir: None,
                    },
                )
            }
        }
    }
}

/// The hosts of the reports in `store` (at most 10,000).
pub fn stored_hosts(store: &dyn Store) -> std::collections::BTreeSet<String> {
    let q = keypin_collector::store::Query {
        limit: 10_000,
        ..Default::default()
    };
    store
        .reports(&q)
        .unwrap()
        .into_iter()
        .map(|r| r.host)
        .collect()
}

/// A collector serving on a loopback port from its own thread and runtime; stopped (in-flight
/// requests finished) when dropped.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `store` with `settings` on 127.0.0.1 (a free port).
pub fn serve(store: Arc<dyn Store>, settings: Settings) -> Served {
    serve_with_limits(store, settings, Limits::default())
}

/// [`serve`] with these connection limits.
pub fn serve_with_limits(store: Arc<dyn Store>, settings: Settings, limits: Limits) -> Served {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            keypin_collector::serve_with_limits(listener, store, settings, limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Served {
        addr: addr_rx.recv().unwrap(),
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// `on_both_backends!(a, b)` for `fn a(backend: Backend)` and `fn b(..)`: the tests
/// `on_sqlite::a`, `on_postgres::a`, `on_sqlite::b`, `on_postgres::b`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name($crate::backend::Backend::Sqlite)
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                super::$name($crate::backend::Backend::Postgres)
            })*
        }
    };
}
