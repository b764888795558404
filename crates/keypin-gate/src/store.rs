//! SQLite state (WAL): challenges, registered installs (key and counter), token signing keys
//! and the audit log. A challenge is spent and a counter advanced in one transaction, with
//! conditions in the UPDATEs themselves, so two requests racing with the same challenge or the
//! same counter cannot both succeed.

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::GateError;

/// One registered app instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The install id given at registration.
    pub id: String,
    /// The app's name in gate.toml.
    pub app: String,
    /// `ios` or `android`.
    pub platform: String,
    /// The attested P-256 key, uncompressed point.
    pub public_key: Vec<u8>,
    /// The last App Attest counter seen (always 0 on Android).
    pub counter: u32,
    /// Where the key lives (`secure-enclave`, `tee`, `strongbox`).
    pub security_level: String,
}

/// The gate's database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS challenges (value BLOB PRIMARY KEY, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS challenges_expires ON challenges (expires);
CREATE TABLE IF NOT EXISTS installs (id TEXT PRIMARY KEY, app TEXT NOT NULL, platform TEXT NOT NULL,
  public_key BLOB NOT NULL, counter INTEGER NOT NULL, security_level TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, pkcs8 BLOB NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (ts INTEGER NOT NULL, event TEXT NOT NULL, install TEXT, detail TEXT NOT NULL);
";

impl Store {
    /// Opens (creating) the database file.
    pub fn open(path: &std::path::Path) -> Result<Self, GateError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a new challenge valid until `expires`.
    pub fn add_challenge(&self, value: &[u8], expires: i64) -> Result<(), GateError> {
        let conn = self.conn();
        conn.prepare_cached("INSERT INTO challenges (value, expires) VALUES (?1, ?2)")?
            .execute(params![value, expires])?;
        // Spent and expired challenges are of no more use.
        conn.prepare_cached("DELETE FROM challenges WHERE expires < ?1")?
            .execute(params![expires - 3600])?;
        Ok(())
    }

    /// Spends `challenge` and stores `install`, in one transaction.
    pub fn register(&self, challenge: &[u8], now: i64, install: &Install) -> Result<(), GateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        spend(&tx, challenge, now)?;
        tx.execute(
            "INSERT INTO installs (id, app, platform, public_key, counter, security_level, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                install.id,
                install.app,
                install.platform,
                install.public_key,
                install.counter,
                install.security_level,
                now
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Spends `challenge` and, for App Attest, raises the install's counter to `counter`,
    /// in one transaction: a counter not above the stored one refuses both.
    pub fn spend_and_advance(
        &self,
        challenge: &[u8],
        now: i64,
        install: &str,
        counter: Option<u32>,
    ) -> Result<(), GateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        spend(&tx, challenge, now)?;
        if let Some(counter) = counter {
            let changed = tx
                .prepare_cached("UPDATE installs SET counter = ?1 WHERE id = ?2 AND counter < ?1")?
                .execute(params![counter, install])?;
            if changed != 1 {
                return Err(GateError::Refused(format!(
                    "counter {counter} is not above the stored counter of install {install}: a replayed or rolled-back assertion"
                )));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The install with this id.
    pub fn install(&self, id: &str) -> Result<Option<Install>, GateError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, app, platform, public_key, counter, security_level FROM installs WHERE id = ?1",
            )?
            .query_row(
                params![id],
                |r| {
                    Ok(Install {
                        id: r.get(0)?,
                        app: r.get(1)?,
                        platform: r.get(2)?,
                        public_key: r.get(3)?,
                        counter: r.get(4)?,
                        security_level: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// How many issued challenges are not spent yet (expired ones included).
    pub fn unspent_challenges(&self) -> Result<u64, GateError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM challenges WHERE used = 0", [], |r| {
                r.get(0)
            })?)
    }

    /// Every install's id and counter (for checks after a load run).
    pub fn counters(&self) -> Result<Vec<(String, u32)>, GateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, counter FROM installs ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Appends to the audit log.
    pub fn audit(&self, now: i64, event: &str, install: Option<&str>, detail: &str) {
        // The audit log must not turn a served request into a failure; a write error is
        // reported on stderr.
        if let Err(e) = self.conn().execute(
            "INSERT INTO audit (ts, event, install, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now, event, install, detail],
        ) {
            eprintln!("keypin-gate: audit log write failed: {e}");
        }
    }

    /// The audit log, oldest first: (event, install, detail).
    pub fn audit_log(&self) -> Result<Vec<(String, Option<String>, String)>, GateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT event, install, detail FROM audit ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Signing keys created after `since`, newest first: (kid, PKCS#8, created).
    pub fn signing_keys(&self, since: i64) -> Result<Vec<(String, Vec<u8>, i64)>, GateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kid, pkcs8, created FROM signing_keys WHERE created >= ?1 ORDER BY created DESC, rowid DESC",
        )?;
        let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a new signing key.
    pub fn add_signing_key(&self, kid: &str, pkcs8: &[u8], now: i64) -> Result<(), GateError> {
        self.conn().execute(
            "INSERT INTO signing_keys (kid, pkcs8, created) VALUES (?1, ?2, ?3)",
            params![kid, pkcs8, now],
        )?;
        Ok(())
    }
}

/// Marks the challenge used if it exists, is unused and unexpired; otherwise refuses.
fn spend(tx: &rusqlite::Transaction<'_>, challenge: &[u8], now: i64) -> Result<(), GateError> {
    let changed = tx
        .prepare_cached(
            "UPDATE challenges SET used = 1 WHERE value = ?1 AND used = 0 AND expires >= ?2",
        )?
        .execute(params![challenge, now])?;
    if changed == 1 {
        return Ok(());
    }
    let state: Option<(i64, i64)> = tx
        .query_row(
            "SELECT used, expires FROM challenges WHERE value = ?1",
            params![challenge],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Err(GateError::Refused(match state {
        None => "challenge unknown: not issued by this gate".into(),
        Some((1, _)) => "challenge already used: a replayed request".into(),
        Some((_, expires)) => format!("challenge expired at {expires} (now {now})"),
    }))
}
