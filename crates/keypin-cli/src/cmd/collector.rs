//! `keypin collector serve`: the report collector (crates/keypin-collector) as a command.

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use keypin_collector::alerts::{AlertSettings, Rule};
use keypin_collector::store::AlertLedger;
use keypin_collector::{Limits, PostgresStore, Settings, SqliteStore, Store};

use crate::Failure;
use crate::args::{CollectorArgs, CollectorCommand};

pub(crate) fn run(args: CollectorArgs) -> Result<u8, Failure> {
    let CollectorCommand::Serve(a) = args.command;
    let token = a.token.filter(|t| !t.is_empty()).ok_or_else(|| {
        anyhow!(
            "a token is required for the query API and dashboard: --token or KEYPIN_COLLECTOR_TOKEN"
        )
    })?;
    if token.len() < 16 {
        return Err(Failure::usage(anyhow!(
            "the token is {} characters; use at least 16 (e.g. `openssl rand -hex 16`)",
            token.len()
        )));
    }
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(
            keypin_collector::tls::server_config(cert, key)
                .map_err(|e| Failure::usage(anyhow!(e)))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rules = match &a.alerts {
        Some(path) => Some(
            keypin_collector::alerts::config::load(path).map_err(|e| Failure::usage(anyhow!(e)))?,
        ),
        None => None,
    };
    if let Some(url) = &a.public_url {
        check_public_url(url)?;
    }
    let store = open(&a.db, a.max_db_size)?;
    let settings = Settings {
        rate_limit: a.rate_limit,
        retention_days: a.retention_days,
        trusted_proxies: a.trust_proxy.clone(),
        tls,
        metrics_public: a.metrics_public,
        ..Settings::new(token)
    };
    let limits = Limits {
        max_connections: a.max_connections as usize,
        max_connections_per_client: a.max_connections_per_client as usize,
        ..Limits::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listen = a.listen.clone();
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let public_url = a
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{addr}"));
        let every = std::time::Duration::from_secs(a.alert_every);
        let settings = with_alerts(
            settings,
            rules,
            &store,
            a.alerts.as_deref(),
            public_url,
            every,
        );
        say!(
            "keypin collector listening on {scheme}://{addr} (database {})",
            store.describe()
        );
        let dyn_store = store.as_store();
        keypin_collector::serve_with_limits(
            listener,
            dyn_store,
            settings,
            limits,
            super::shutdown_signal(),
        )
        .await
        .context("server failed")
    });
    // In-flight requests are done; commit whatever the writer still holds.
    store.close();
    served.map_err(Failure::usage)?;
    eprintln!("keypin collector stopped");
    Ok(0)
}

/// `settings` with the alert rules read from `file`, if any, on `store`'s ledger, linking to
/// `public` (`--public-url`, else the address served).
fn with_alerts(
    settings: Settings,
    rules: Option<Vec<Rule>>,
    store: &Opened,
    file: Option<&std::path::Path>,
    public: String,
    every: std::time::Duration,
) -> Settings {
    let (Some(rules), Some(file)) = (rules, file) else {
        return settings;
    };
    say!(
        "alerts: {} rule(s) from {}, linking to {public}",
        rules.len(),
        file.display()
    );
    Settings {
        alerts: Some(AlertSettings {
            every,
            ..AlertSettings::new(rules, store.as_ledger(), public)
        }),
        ..settings
    }
}

/// `--public-url`: an http(s) URL with a host, no query or fragment (a path is kept).
fn check_public_url(url: &str) -> Result<(), Failure> {
    let bad = |why: &str| {
        Failure::usage(anyhow!(
            "--public-url {url:?}: {why} (e.g. https://collector.example.com)"
        ))
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("expected an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(bad("the URL needs a host (and no user name)"));
    }
    if url.len() > 1024 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("at most 1024 characters, without spaces"));
    }
    if url.contains(['?', '#']) {
        return Err(bad(
            "a query or fragment cannot take the ?host= the alert adds",
        ));
    }
    Ok(())
}

/// The store `--db` names: a PostgreSQL URL, or else an SQLite file.
enum Opened {
    Sqlite(Arc<SqliteStore>, String),
    Postgres(Arc<PostgresStore>),
}

impl Opened {
    fn describe(&self) -> &str {
        match self {
            Self::Sqlite(_, path) => path,
            Self::Postgres(s) => s.db(),
        }
    }

    fn as_store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s, _) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    fn as_ledger(&self) -> Arc<dyn AlertLedger> {
        match self {
            Self::Sqlite(s, _) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    fn close(&self) {
        match self {
            Self::Sqlite(s, _) => s.close(),
            Self::Postgres(s) => s.close(),
        }
    }
}

fn open(db: &std::path::Path, max_db_size: Option<u64>) -> Result<Opened, Failure> {
    let url = db
        .to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"));
    let Some(url) = url else {
        let max_bytes = max_db_size.map(|mib| mib << 20);
        let store = SqliteStore::open_with_max_size(db, max_bytes).map_err(|e| anyhow!(e))?;
        return Ok(Opened::Sqlite(Arc::new(store), db.display().to_string()));
    };
    if max_db_size.is_some() {
        return Err(Failure::usage(anyhow!(
            "--max-db-size limits an SQLite file; a PostgreSQL database's size is set there"
        )));
    }
    let store = PostgresStore::open(url).map_err(|e| anyhow!(e))?;
    Ok(Opened::Postgres(Arc::new(store)))
}
