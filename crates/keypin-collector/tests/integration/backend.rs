//! The two store backends, for tests that run on each: [`on_both_backends!`] makes one test
//! per backend from a `fn name(backend: Backend)`.

use std::sync::Arc;

use keypin_collector::{PostgresStore, SqliteStore, Store};

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
    /// The SQLite file's directory.
    pub _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn open(self) -> Opened {
        match self {
            Self::Sqlite => {
                let dir = tempfile::TempDir::new().unwrap();
                let store = SqliteStore::open(&dir.path().join("reports.db")).unwrap();
                Opened {
                    store: Arc::new(store),
                    _dir: Some(dir),
                }
            }
            Self::Postgres => {
                let store = PostgresStore::open(&crate::pg::fresh_database()).unwrap();
                Opened {
                    store: Arc::new(store),
                    _dir: None,
                }
            }
        }
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
