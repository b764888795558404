//! [`AlertLedger`] on PostgreSQL: the claim is one `INSERT ... ON CONFLICT DO UPDATE ...
//! WHERE` statement, atomic across every instance on the database. The table is created under
//! the migration lock, so instances starting together create it once.

use super::{MIGRATION_LOCK, PostgresStore, why};
use crate::store::alerts::{
    ATTEMPT_SQL, AlertLedger, CLAIM_SQL, Claim, FINISH_SQL, GROUPS_SQL, HostHistory, KEYS_SQL,
    ORPHANS_SQL, ReportGroup, STATE_SQL, TABLE_SQL, VERSIONS_SQL, claim_from_state,
};
use crate::store::{KeySeen, StoreError};

impl AlertLedger for PostgresStore {
    fn prepare_alerts(&self) -> Result<(), StoreError> {
        self.call("alert ledger table", async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(|e| why(&e))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(|e| why(&e))?;
            tx.batch_execute(TABLE_SQL).await.map_err(|e| why(&e))?;
            tx.commit().await.map_err(|e| why(&e))
        })
    }

    fn report_groups(&self, since: i64, until: i64) -> Result<Vec<ReportGroup>, StoreError> {
        self.call("alert report counts", async {
            let c = self.client().await?;
            let rows = c
                .query(GROUPS_SQL, &[&since, &until])
                .await
                .map_err(|e| why(&e))?;
            Ok(rows
                .iter()
                .map(|r| ReportGroup {
                    host: r.get(0),
                    app_version: r.get(1),
                    app_platform: r.get(2),
                    failure: r.get(3),
                    count: r.get(4),
                })
                .collect())
        })
    }

    fn orphaned_alerts(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.call("orphaned alerts", async {
            let c = self.client().await?;
            let rows = c.query(ORPHANS_SQL, &[&now]).await.map_err(|e| why(&e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn host_history(&self, host: &str) -> Result<HostHistory, StoreError> {
        self.call("host history", async {
            let c = self.client().await?;
            let keys = c
                .query(KEYS_SQL, &[&host])
                .await
                .map_err(|e| why(&e))?
                .iter()
                .map(|r| KeySeen {
                    pin: r.get(0),
                    count: r.get(1),
                    first_seen: r.get(2),
                    last_seen: r.get(3),
                    networks: r.get(4),
                })
                .collect();
            let versions = c
                .query(VERSIONS_SQL, &[&host])
                .await
                .map_err(|e| why(&e))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok(HostHistory { keys, versions })
        })
    }

    fn claim_alert(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        self.call("alert claim", async {
            let c = self.client().await?;
            let claimed = c
                .query_opt(
                    CLAIM_SQL,
                    &[&rule, &window_start, &owner, &now, &lease_until],
                )
                .await
                .map_err(|e| why(&e))?;
            if let Some(row) = claimed {
                return Ok(Claim::Claimed {
                    attempts: row.get(0),
                });
            }
            let state: Option<String> = c
                .query_opt(STATE_SQL, &[&rule, &window_start])
                .await
                .map_err(|e| why(&e))?
                .map(|r| r.get(0));
            Ok(claim_from_state(state.as_deref()))
        })
    }

    fn alert_attempt(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        self.call("alert attempt", async {
            let c = self.client().await?;
            c.execute(ATTEMPT_SQL, &[&rule, &window_start, &owner, &lease_until])
                .await
                .map(|n| n == 1)
                .map_err(|e| why(&e))
        })
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
        self.call("alert finish", async {
            let c = self.client().await?;
            c.execute(FINISH_SQL, &[&rule, &window_start, &owner, &state, &now])
                .await
                .map(|n| n == 1)
                .map_err(|e| why(&e))
        })
    }
}
