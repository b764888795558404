//! [`AlertLedger`] on SQLite. The ledger's writes go through the reader connection (as
//! retention's delete does), not the report writer's queue: they are rare and small. Several
//! processes on one file are serialised by SQLite's write lock, so the claim holds across them.

use rusqlite::{OptionalExtension as _, params};

use super::SqliteStore;
use crate::store::alerts::{
    ATTEMPT_SQL, AlertLedger, CLAIM_SQL, Claim, FINISH_SQL, GROUPS_SQL, HostHistory, KEYS_SQL,
    ORPHANS_SQL, ReportGroup, STATE_SQL, TABLE_SQL, VERSIONS_SQL, claim_from_state,
};
use crate::store::{KeySeen, StoreError};

/// The shared statement text with SQLite's numbered parameters (`?1`), which keep their
/// numbers whatever order they appear in (`$1` would be a name, numbered by appearance).
fn sql(text: &str) -> String {
    text.replace('$', "?")
}

impl AlertLedger for SqliteStore {
    fn prepare_alerts(&self) -> Result<(), StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        conn.execute_batch(TABLE_SQL).map_err(|e| self.sqlite(e))
    }

    fn report_groups(&self, since: i64, until: i64) -> Result<Vec<ReportGroup>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let mut stmt = conn
            .prepare_cached(&sql(GROUPS_SQL))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![since, until], |r| {
                Ok(ReportGroup {
                    host: r.get(0)?,
                    app_version: r.get(1)?,
                    app_platform: r.get(2)?,
                    failure: r.get(3)?,
                    count: r.get(4)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    fn orphaned_alerts(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let mut stmt = conn
            .prepare_cached(&sql(ORPHANS_SQL))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    fn host_history(&self, host: &str) -> Result<HostHistory, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let sq = |e| self.sqlite(e);
        let mut keys = conn.prepare_cached(&sql(KEYS_SQL)).map_err(sq)?;
        let keys = keys
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
        let mut versions = conn.prepare_cached(&sql(VERSIONS_SQL)).map_err(sq)?;
        let versions = versions
            .query_map(params![host], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sq)?
            .collect::<Result<_, _>>()
            .map_err(sq)?;
        Ok(HostHistory { keys, versions })
    }

    fn claim_alert(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let sq = |e| self.sqlite(e);
        let claimed: Option<i64> = conn
            .query_row(
                &sql(CLAIM_SQL),
                params![rule, window_start, owner, now, lease_until],
                |r| r.get(0),
            )
            .optional()
            .map_err(sq)?;
        if let Some(attempts) = claimed {
            return Ok(Claim::Claimed { attempts });
        }
        let state: Option<String> = conn
            .query_row(&sql(STATE_SQL), params![rule, window_start], |r| r.get(0))
            .optional()
            .map_err(sq)?;
        Ok(claim_from_state(state.as_deref()))
    }

    fn alert_attempt(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        conn.execute(
            &sql(ATTEMPT_SQL),
            params![rule, window_start, owner, lease_until],
        )
        .map(|n| n == 1)
        .map_err(|e| self.sqlite(e))
    }

    fn finish_alert(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        delivered: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let state = if delivered { "delivered" } else { "failed" };
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        conn.execute(
            &sql(FINISH_SQL),
            params![rule, window_start, owner, state, now],
        )
        .map(|n| n == 1)
        .map_err(|e| self.sqlite(e))
    }
}
