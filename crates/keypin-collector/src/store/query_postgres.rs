//! The dashboard's queries on PostgreSQL, the daily roll-up kept in each group commit's
//! transaction, and schema version 3 (event time, roll-ups, indexes) that adds them.

use std::collections::BTreeMap;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::dash::{
    DashboardQueries, Filter, NETWORKS_CAP, PLAUSIBLE_AFTER, PLAUSIBLE_BEFORE, ROLLUPS,
    ROW_COLUMNS, ReportRow, RollupKey, RollupRow, RollupSum, RollupValue, any_kind, increments,
    rollup_table,
};
use super::postgres::text;
use super::{PostgresStore, StoreError};
use crate::report::NewReport;

/// `by_receipt` as SQL over a `reports` row.
fn by_receipt_sql() -> String {
    format!(
        "(reported_at IS NULL OR reported_at NOT BETWEEN received_at - {PLAUSIBLE_BEFORE} AND received_at + {PLAUSIBLE_AFTER})"
    )
}

/// Every roll-up table's rows recomputed from `reports` rows matching `cond`.
fn rebuild_sql(cond: &str) -> Vec<String> {
    super::dash::rebuild_all(&by_receipt_sql(), cond)
}

/// Schema version 3 from version 2 (run under the migration lock, in its transaction).
pub(super) fn v3() -> String {
    format!(
        "ALTER TABLE reports ADD COLUMN event_at BIGINT;
         UPDATE reports SET event_at = CASE WHEN {br} THEN received_at ELSE reported_at END;
         ALTER TABLE reports ALTER COLUMN event_at SET NOT NULL;
         CREATE INDEX reports_event ON reports(event_at);
         CREATE INDEX reports_host_event ON reports(host, event_at);
         {tables}
         CREATE TABLE key_networks (
             host TEXT NOT NULL, pin TEXT NOT NULL, network TEXT NOT NULL,
             n BIGINT NOT NULL, last_rday BIGINT NOT NULL,
             PRIMARY KEY (host, pin, network)
         );
         CREATE INDEX key_networks_rday ON key_networks(last_rday);
         {rebuild};
         INSERT INTO key_networks (host, pin, network, n, last_rday)
             SELECT host, served_leaf_pin, client_network, COUNT(*), MAX((received_at / 86400) * 86400)
             FROM reports WHERE served_leaf_pin IS NOT NULL GROUP BY 1, 2, 3;
         INSERT INTO keypin_schema (version) VALUES (3);",
        br = by_receipt_sql(),
        tables = super::dash::rollup_ddl("BIGINT", "BOOLEAN", ""),
        rebuild = rebuild_sql("true").join(";\n"),
    )
}

/// Adds a group commit's reports to the roll-ups, in its transaction. Rows go in key order, so
/// writers on several connections (and instances) lock them in one order: no deadlock.
pub(super) async fn write_rollups<'a>(
    tx: &Transaction<'_>,
    batches: impl Iterator<Item = (i64, &'a [NewReport])>,
) -> Result<(), tokio_postgres::Error> {
    let (roll, nets) = increments(batches);
    let any = any_kind(&roll);
    for ((table, _), roll) in ROLLUPS.iter().zip([&roll, &any]) {
        upsert_rollup(tx, table, roll).await?;
    }
    // Keys as stored (NUL replaced), merged: two keys that differ only there must not be
    // two rows of one INSERT ... ON CONFLICT (PostgreSQL refuses that, failing the commit).
    let mut merged: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for ((h, p, w), (n, d)) in &nets {
        let m = merged.entry((text(h), text(p), text(w))).or_insert((0, 0));
        m.0 += n;
        m.1 = m.1.max(*d);
    }
    if merged.is_empty() {
        return Ok(());
    }
    let (mut host, mut pin, mut network) = (Vec::new(), Vec::new(), Vec::new());
    let (mut count, mut rday) = (Vec::new(), Vec::new());
    for ((h, p, w), (n, d)) in merged {
        host.push(h);
        pin.push(p);
        network.push(w);
        count.push(n);
        rday.push(d);
    }
    let net = tx
        .prepare_cached(
            "INSERT INTO key_networks AS k (host, pin, network, n, last_rday)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (host, pin, network)
             DO UPDATE SET n = k.n + EXCLUDED.n, last_rday = GREATEST(k.last_rday, EXCLUDED.last_rday)",
        )
        .await?;
    tx.execute(&net, &[&host, &pin, &network, &count, &rday])
        .await?;
    Ok(())
}

/// Upserts one roll-up table's increments, keys as stored and merged (see `write_rollups`).
async fn upsert_rollup(
    tx: &Transaction<'_>,
    table: &str,
    roll: &BTreeMap<RollupKey, RollupValue>,
) -> Result<(), tokio_postgres::Error> {
    let mut merged: BTreeMap<RollupKey, RollupValue> = BTreeMap::new();
    for (k, v) in roll {
        let key = RollupKey {
            host: text(&k.host),
            app_version: text(&k.app_version),
            platform: text(&k.platform),
            pin: text(&k.pin),
            ..k.clone()
        };
        super::dash::merge_into(&mut merged, key, v);
    }
    let n = merged.len();
    let (mut day, mut host, mut version) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut platform, mut kind, mut pin) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut by_receipt, mut rday, mut count) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut first, mut last, mut inst) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (k, (c, f, l, i)) in merged {
        day.push(k.day);
        host.push(k.host);
        version.push(k.app_version);
        platform.push(k.platform);
        kind.push(k.kind);
        pin.push(k.pin);
        by_receipt.push(k.by_receipt);
        rday.push(k.rday);
        count.push(c);
        first.push(f);
        last.push(l);
        inst.push(i);
    }
    let up = tx
        .prepare_cached(&format!(
            "INSERT INTO {table} AS d (day, host, app_version, app_platform, dialect, pin,
                 by_receipt, rday, n, first_at, last_at, inst)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::bool[], $8::int8[], $9::int8[], $10::int8[], $11::int8[],
                 $12::int8[])
             ON CONFLICT (day, host, app_version, app_platform, dialect, pin, by_receipt, rday)
             DO UPDATE SET n = d.n + EXCLUDED.n, first_at = LEAST(d.first_at, EXCLUDED.first_at),
                 last_at = GREATEST(d.last_at, EXCLUDED.last_at), inst = d.inst + EXCLUDED.inst"
        ))
        .await?;
    tx.execute(
        &up,
        &[
            &day,
            &host,
            &version,
            &platform,
            &kind,
            &pin,
            &by_receipt,
            &rday,
            &count,
            &first,
            &last,
            &inst,
        ],
    )
    .await?;
    Ok(())
}

/// Retention inside `tx`: deletes reports received before `cutoff` and brings the roll-ups in
/// line (days wholly before it dropped, the day it falls in recomputed from what is left).
pub(super) async fn delete_before(
    tx: &Transaction<'_>,
    cutoff: i64,
) -> Result<u64, tokio_postgres::Error> {
    let day = super::dash::day_of(cutoff);
    let n = tx
        .execute("DELETE FROM reports WHERE received_at < $1", &[&cutoff])
        .await?;
    for (table, _) in ROLLUPS {
        tx.execute(&format!("DELETE FROM {table} WHERE rday <= $1"), &[&day])
            .await?;
    }
    for sql in rebuild_sql("received_at >= $1 AND received_at < $2") {
        tx.execute(&sql, &[&day, &day.saturating_add(86_400)])
            .await?;
    }
    tx.execute("DELETE FROM key_networks WHERE last_rday < $1", &[&day])
        .await?;
    Ok(n)
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// `AND col = $N` for each filter field given, numbered after `params`.
fn field_conditions(f: &Filter, params: &mut Params) -> String {
    let mut sql = String::new();
    for (col, v) in f.fields() {
        if let Some(v) = v {
            params.push(Box::new(v.to_string()));
            sql.push_str(&format!(" AND {col} = ${}", params.len()));
        }
    }
    sql
}

/// Reads roll-up rows (`day, host, app_version, app_platform, pin, by_receipt, n, first_at,
/// last_at, inst`) into a sum.
async fn read_rollup(
    c: &deadpool_postgres::Client,
    sql: &str,
    p: &Params,
) -> Result<RollupSum, String> {
    let rows = c
        .query(sql, &refs(p))
        .await
        .map_err(|e| super::postgres::why(&e))?;
    let mut sum = RollupSum::default();
    for r in &rows {
        sum.add(
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            (r.get(6), r.get(7), r.get(8), r.get(9)),
        );
    }
    Ok(sum)
}

fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn report_row(r: &Row) -> ReportRow {
    ReportRow {
        id: r.get(0),
        received_at: r.get(1),
        reported_at: r.get(2),
        event_at: r.get(3),
        host: r.get(4),
        port: r.get(5),
        kind: r.get(6),
        served_leaf_pin: r.get(7),
        client_network: r.get(8),
        app_bundle_id: r.get(9),
        app_version: r.get(10),
        app_platform: r.get(11),
        failure: r.get(12),
        runtime_findings: r.get(13),
        body: r.get(14),
    }
}

impl DashboardQueries for PostgresStore {
    fn rollup(&self, f: &Filter) -> Result<Vec<RollupRow>, StoreError> {
        // Summed here (RollupSum), as on SQLite: PostgreSQL's hash aggregate over text keys
        // costs several times the scan. A range of a week or more is read in two halves on two
        // connections at once, the later half decoded on a runtime worker.
        let parts: Vec<(i64, i64)> = if f.days() >= 7 {
            let mid = f.from_day + (f.days() / 2) * 86_400;
            vec![(f.from_day, mid - 86_400), (mid, f.to_day)]
        } else {
            vec![(f.from_day, f.to_day)]
        };
        let query = |(from, to): (i64, i64)| {
            let mut p: Params = vec![Box::new(from), Box::new(to)];
            let cond = field_conditions(f, &mut p);
            let sql = format!(
                "SELECT day, host, app_version, app_platform, pin, by_receipt, n, first_at,
                        last_at, inst
                 FROM {table} WHERE day >= $1 AND day <= $2{cond}",
                table = rollup_table(f)
            );
            (sql, p)
        };
        self.call("dashboard roll-up", async {
            let mut later = Vec::new();
            for part in parts.iter().skip(1) {
                let (sql, p) = query(*part);
                let c = self.client().await?;
                later.push(tokio::spawn(async move { read_rollup(&c, &sql, &p).await }));
            }
            let (sql, p) = query(parts[0]);
            let mut sum = read_rollup(&self.client().await?, &sql, &p).await?;
            for t in later {
                sum.absorb(t.await.map_err(|e| e.to_string())??);
            }
            Ok(sum.rows())
        })
    }

    fn newest(&self, f: &Filter, floor: i64, limit: usize) -> Result<Vec<ReportRow>, StoreError> {
        let mut p: Params = vec![Box::new(floor.max(f.from_day)), Box::new(f.end())];
        let cond = field_conditions(f, &mut p);
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM reports WHERE event_at >= $1 AND event_at < $2{cond}
             ORDER BY event_at DESC, id DESC LIMIT {limit}"
        );
        self.call("dashboard reports", async {
            let c = self.client().await?;
            let rows = c
                .query(&sql, &refs(&p))
                .await
                .map_err(|e| super::postgres::why(&e))?;
            Ok(rows.iter().map(report_row).collect())
        })
    }

    fn report(&self, id: i64) -> Result<Option<ReportRow>, StoreError> {
        self.call("report", async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {ROW_COLUMNS} FROM reports WHERE id = $1"),
                    &[&id],
                )
                .await
                .map_err(|e| super::postgres::why(&e))?;
            Ok(row.as_ref().map(report_row))
        })
    }

    fn key_networks(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (hosts, pins): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(h, p)| (h.as_str(), p.as_str())).unzip();
        self.call("key networks", async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT k.host, k.pin, (SELECT COUNT(*) FROM (SELECT 1 FROM key_networks n
                         WHERE n.host = k.host AND n.pin = k.pin LIMIT $3) s)
                     FROM unnest($1::text[], $2::text[]) AS k(host, pin)",
                    &[&hosts, &pins, &(NETWORKS_CAP + 1)],
                )
                .await
                .map_err(|e| super::postgres::why(&e))?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }
}
