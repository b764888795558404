//! The dashboard's queries on SQLite, the daily roll-up kept in the writer's transaction, and
//! schema version 3 (event time, roll-ups, indexes) that adds them.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction, params, params_from_iter};

use super::dash::{
    DashboardQueries, Filter, NETWORKS_CAP, PLAUSIBLE_AFTER, PLAUSIBLE_BEFORE, ROLLUPS,
    ROW_COLUMNS, ReportRow, RollupKey, RollupRow, RollupSum, RollupValue, any_kind, increments,
    rollup_table,
};
use super::{SqliteStore, StoreError};
use crate::report::NewReport;
use std::collections::BTreeMap;

/// `by_receipt` as SQL over a `reports` row.
fn by_receipt_sql() -> String {
    format!(
        "(CASE WHEN reported_at BETWEEN received_at - {PLAUSIBLE_BEFORE} AND received_at + {PLAUSIBLE_AFTER} THEN 0 ELSE 1 END)"
    )
}

/// Every roll-up table's rows recomputed from `reports` rows matching `cond`.
fn rebuild_sql(cond: &str) -> Vec<String> {
    super::dash::rebuild_all(&by_receipt_sql(), cond)
}

/// Schema version 3 from version 2: existing rows get their event time and roll-ups.
pub(super) fn migrate_v3(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN;
         ALTER TABLE reports ADD COLUMN event_at INTEGER;
         UPDATE reports SET event_at = CASE {br} WHEN 0 THEN reported_at ELSE received_at END;
         CREATE INDEX reports_event ON reports(event_at);
         CREATE INDEX reports_host_event ON reports(host, event_at);
         {tables}
         CREATE TABLE key_networks (
             host TEXT NOT NULL, pin TEXT NOT NULL, network TEXT NOT NULL,
             n INTEGER NOT NULL, last_rday INTEGER NOT NULL,
             PRIMARY KEY (host, pin, network)
         ) WITHOUT ROWID;
         CREATE INDEX key_networks_rday ON key_networks(last_rday);
         {rebuild};
         INSERT INTO key_networks (host, pin, network, n, last_rday)
             SELECT host, served_leaf_pin, client_network, COUNT(*), MAX((received_at / 86400) * 86400)
             FROM reports WHERE served_leaf_pin IS NOT NULL GROUP BY 1, 2, 3;
         PRAGMA user_version = 3;
         COMMIT;",
        br = by_receipt_sql(),
        tables = super::dash::rollup_ddl("INTEGER", "INTEGER", " WITHOUT ROWID"),
        rebuild = rebuild_sql("1").join(";\n"),
    ))
}

/// Adds a commit's reports to the roll-ups, in its transaction.
pub(super) fn write_rollups<'a>(
    tx: &Transaction<'_>,
    batches: impl Iterator<Item = (i64, &'a [NewReport])>,
) -> rusqlite::Result<()> {
    let (roll, nets) = increments(batches);
    let any = any_kind(&roll);
    for ((table, _), roll) in ROLLUPS.iter().zip([&roll, &any]) {
        upsert_rollup(tx, table, roll)?;
    }
    let mut net = tx.prepare_cached(
        "INSERT INTO key_networks (host, pin, network, n, last_rday) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET n = n + excluded.n, last_rday = max(last_rday, excluded.last_rday)",
    )?;
    for ((host, pin, network), (n, rday)) in &nets {
        net.execute(params![host, pin, network, n, rday])?;
    }
    Ok(())
}

fn upsert_rollup(
    tx: &Transaction<'_>,
    table: &str,
    roll: &BTreeMap<RollupKey, RollupValue>,
) -> rusqlite::Result<()> {
    let mut up = tx.prepare_cached(&format!(
        "INSERT INTO {table} (day, host, app_version, app_platform, dialect, pin, by_receipt,
             rday, n, first_at, last_at, inst)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT DO UPDATE SET n = n + excluded.n, first_at = min(first_at, excluded.first_at),
             last_at = max(last_at, excluded.last_at), inst = inst + excluded.inst"
    ))?;
    for (k, (n, first, last, inst)) in roll {
        up.execute(params![
            k.day,
            k.host,
            k.app_version,
            k.platform,
            k.kind,
            k.pin,
            k.by_receipt,
            k.rday,
            n,
            first,
            last,
            inst
        ])?;
    }
    Ok(())
}

/// Retention: deletes reports received before `cutoff` and brings the roll-ups in line (days
/// wholly before it dropped, the day it falls in recomputed from what is left), atomically.
pub(super) fn delete_before(conn: &Connection, cutoff: i64) -> rusqlite::Result<usize> {
    let day = super::dash::day_of(cutoff);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let run = || -> rusqlite::Result<usize> {
        let n = conn.execute(
            "DELETE FROM reports WHERE received_at < ?1",
            params![cutoff],
        )?;
        for (table, _) in ROLLUPS {
            conn.execute(
                &format!("DELETE FROM {table} WHERE rday <= ?1"),
                params![day],
            )?;
        }
        for sql in rebuild_sql("received_at >= ?1 AND received_at < ?2") {
            conn.execute(&sql, params![day, day.saturating_add(86_400)])?;
        }
        conn.execute(
            "DELETE FROM key_networks WHERE last_rday < ?1",
            params![day],
        )?;
        Ok(n)
    };
    match run() {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// `AND col = ?N` for each filter field given, numbered from 3 (1 and 2 are the time range).
/// `reports` and `report_days` name these columns alike.
fn field_conditions(f: &Filter) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut values = vec![];
    for (col, v) in f.fields() {
        if let Some(v) = v {
            values.push(Value::Text(v.to_string()));
            sql.push_str(&format!(" AND {col} = ?{}", values.len() + 2));
        }
    }
    (sql, values)
}

fn report_row(r: &Row<'_>) -> rusqlite::Result<ReportRow> {
    Ok(ReportRow {
        id: r.get(0)?,
        received_at: r.get(1)?,
        reported_at: r.get(2)?,
        event_at: r.get(3)?,
        host: r.get(4)?,
        port: r.get(5)?,
        kind: r.get(6)?,
        served_leaf_pin: r.get(7)?,
        client_network: r.get(8)?,
        app_bundle_id: r.get(9)?,
        app_version: r.get(10)?,
        app_platform: r.get(11)?,
        failure: r.get(12)?,
        runtime_findings: r.get(13)?,
        body: r.get(14)?,
    })
}

impl DashboardQueries for SqliteStore {
    fn rollup(&self, f: &Filter) -> Result<Vec<RollupRow>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let (cond, mut values) = field_conditions(f);
        // Summed in memory (RollupSum): SQLite's GROUP BY costs four times the scan.
        let sql = format!(
            "SELECT day, host, app_version, app_platform, pin, by_receipt, n, first_at, last_at,
                    inst
             FROM {table} WHERE day >= ?1 AND day <= ?2{cond}",
            table = rollup_table(f)
        );
        let mut all = vec![Value::Integer(f.from_day), Value::Integer(f.to_day)];
        all.append(&mut values);
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let mut rows = stmt
            .query(params_from_iter(all))
            .map_err(|e| self.sqlite(e))?;
        let mut sum = RollupSum::default();
        while let Some(r) = rows.next().map_err(|e| self.sqlite(e))? {
            let s = |i: usize| r.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
            let mut read = || -> rusqlite::Result<()> {
                sum.add(
                    r.get(0)?,
                    s(1)?,
                    s(2)?,
                    s(3)?,
                    s(4)?,
                    r.get(5)?,
                    (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?),
                );
                Ok(())
            };
            read().map_err(|e| self.sqlite(e))?;
        }
        Ok(sum.rows())
    }

    fn newest(&self, f: &Filter, floor: i64, limit: usize) -> Result<Vec<ReportRow>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let (cond, mut values) = field_conditions(f);
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM reports WHERE event_at >= ?1 AND event_at < ?2{cond}
             ORDER BY event_at DESC, id DESC LIMIT {limit}"
        );
        let mut all = vec![
            Value::Integer(floor.max(f.from_day)),
            Value::Integer(f.end()),
        ];
        all.append(&mut values);
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params_from_iter(all), report_row)
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    fn report(&self, id: i64) -> Result<Option<ReportRow>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        conn.query_row(
            &format!("SELECT {ROW_COLUMNS} FROM reports WHERE id = ?1"),
            params![id],
            report_row,
        )
        .optional()
        .map_err(|e| self.sqlite(e))
    }

    fn key_networks(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM key_networks WHERE host = ?1 AND pin = ?2
                 LIMIT ?3)",
            )
            .map_err(|e| self.sqlite(e))?;
        keys.iter()
            .map(|(host, pin)| {
                stmt.query_row(params![host, pin, NETWORKS_CAP + 1], |r| r.get(0))
                    .map(|n| (host.clone(), pin.clone(), n))
                    .map_err(|e| self.sqlite(e))
            })
            .collect()
    }
}
