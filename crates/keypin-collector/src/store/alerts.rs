//! What alerting needs from storage ([`AlertLedger`]): report counts to test rules against, a
//! host's history (to say what changed), and the delivery ledger that makes one instance of
//! several sharing a database deliver each alert, once.
//!
//! The ledger is one row per (rule, window) in `alert_deliveries`, claimed with an
//! `INSERT ... ON CONFLICT` that only takes over a row still pending whose lease has run out:
//! the instance holding a live lease delivers; if it dies, its lease expires and another
//! instance retries; a row delivered or given up on is final for that window.

use super::{KeySeen, StoreError};

/// Reports received since some time, counted per host, app version, platform and failure kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportGroup {
    /// Host.
    pub host: String,
    /// App version, when the report gave one.
    pub app_version: Option<String>,
    /// Platform, when the report gave one.
    pub app_platform: Option<String>,
    /// Failure kind, when the report gave one.
    pub failure: Option<String>,
    /// Reports in the group.
    pub count: i64,
}

/// A host's history, for the alert's "what changed".
#[derive(Debug, Clone, Default)]
pub struct HostHistory {
    /// Served keys, most reported first (as the dashboard's summary has them).
    pub keys: Vec<KeySeen>,
    /// App versions with the first time a report from each arrived (Unix seconds).
    pub versions: Vec<(String, i64)>,
}

/// The outcome of [`AlertLedger::claim_alert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// This owner holds the lease now; `attempts` deliveries were tried before (by anyone).
    Claimed {
        /// Attempts already made for this alert.
        attempts: i64,
    },
    /// Another owner holds a live lease: ask again later (it may die).
    Held,
    /// Delivered, or given up on: nothing more to do in this window.
    Done,
}

/// Storage for alerting. Every call is blocking (as [`super::Store`]'s are).
pub trait AlertLedger: Send + Sync {
    /// Creates the ledger's table if it is missing (safe when instances start together).
    fn prepare_alerts(&self) -> Result<(), StoreError>;
    /// Reports received at or after `since` and before `until`, grouped (the busiest 10,000
    /// groups).
    fn report_groups(&self, since: i64, until: i64) -> Result<Vec<ReportGroup>, StoreError>;
    /// Alerts left pending by an owner whose lease ended before `now` (it died, or lost the
    /// database): `(rule, window start)`, at most 100.
    fn orphaned_alerts(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// `host`'s served keys and app versions over every stored report.
    fn host_history(&self, host: &str) -> Result<HostHistory, StoreError>;
    /// Claims the delivery of `rule`'s alert for the window starting at `window_start`, for
    /// `owner` until `lease_until`. A pending row whose lease ended before `now` is taken over.
    fn claim_alert(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError>;
    /// Records an attempt by `owner` and extends its lease; `false` when `owner` no longer
    /// holds the claim (its lease ran out and another took it over): it must stop.
    fn alert_attempt(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    /// Marks the alert delivered (or given up on, `delivered == false`) at `now`, if `owner`
    /// still holds it; `false` otherwise.
    fn finish_alert(
        &self,
        rule: &str,
        window_start: i64,
        owner: &str,
        delivered: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// The ledger's claim statement, the same text on both backends (positional parameters:
/// rule, window start, owner, now, lease end). A row is taken over only while pending and
/// past its lease; `RETURNING` yields a row only when this owner got it.
pub(crate) const CLAIM_SQL: &str = "
    INSERT INTO alert_deliveries (rule, window_start, state, owner, lease_until, attempts,
                                  created_at)
    VALUES ($1, $2, 'pending', $3, $5, 0, $4)
    ON CONFLICT (rule, window_start) DO UPDATE SET owner = excluded.owner,
                                                   lease_until = excluded.lease_until
    WHERE alert_deliveries.state = 'pending' AND alert_deliveries.lease_until < $4
    RETURNING attempts";

/// The ledger's table, the same text on both backends.
pub(crate) const TABLE_SQL: &str = "
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        rule TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        finished_at BIGINT,
        PRIMARY KEY (rule, window_start)
    )";

/// Records an attempt (parameters: rule, window start, owner, lease end).
pub(crate) const ATTEMPT_SQL: &str = "
    UPDATE alert_deliveries SET attempts = attempts + 1, lease_until = $4
    WHERE rule = $1 AND window_start = $2 AND owner = $3 AND state = 'pending'";

/// Final state (parameters: rule, window start, owner, state, now).
pub(crate) const FINISH_SQL: &str = "
    UPDATE alert_deliveries SET state = $4, finished_at = $5
    WHERE rule = $1 AND window_start = $2 AND owner = $3 AND state = 'pending'";

/// Whether a row exists that is not ours to take (parameters: rule, window start); its state.
pub(crate) const STATE_SQL: &str =
    "SELECT state FROM alert_deliveries WHERE rule = $1 AND window_start = $2";

/// Alerts pending past their lease at `$1`.
pub(crate) const ORPHANS_SQL: &str = "
    SELECT rule, window_start FROM alert_deliveries
    WHERE state = 'pending' AND lease_until < $1
    ORDER BY window_start LIMIT 100";

/// Report groups from `$1` to before `$2`, busiest first.
pub(crate) const GROUPS_SQL: &str = "
    SELECT host, app_version, app_platform, failure, COUNT(*) AS n FROM reports
    WHERE received_at >= $1 AND received_at < $2
    GROUP BY host, app_version, app_platform, failure
    ORDER BY n DESC LIMIT 10000";

/// A host's served keys, most reported first (the summary's query, every key).
pub(crate) const KEYS_SQL: &str = "
    SELECT served_leaf_pin, COUNT(*), MIN(received_at), MAX(received_at),
           COUNT(DISTINCT client_network)
    FROM reports WHERE host = $1 AND served_leaf_pin IS NOT NULL
    GROUP BY served_leaf_pin ORDER BY COUNT(*) DESC LIMIT 200";

/// A host's app versions with their first report.
pub(crate) const VERSIONS_SQL: &str = "
    SELECT app_version, MIN(received_at) FROM reports
    WHERE host = $1 AND app_version IS NOT NULL
    GROUP BY app_version LIMIT 1000";

/// The claim's answer from the row's state when `CLAIM_SQL` returned nothing.
pub(crate) fn claim_from_state(state: Option<&str>) -> Claim {
    match state {
        Some("pending") | None => Claim::Held,
        Some(_) => Claim::Done,
    }
}
