//! What the dashboard asks of storage: filters, the daily roll-up rows both backends keep on
//! insert, and the aggregation of those rows into the page's panels (done here, once, for both).
//!
//! Time: a report is placed at its own `date-time` when that is plausible (within
//! [`PLAUSIBLE_BEFORE`] before its receipt and [`PLAUSIBLE_AFTER`] after), at its receipt
//! otherwise; that is `event_at`, stored with the report. Time filters and charts use it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::StoreError;
use crate::report::NewReport;

/// A report's `date-time` this long before its receipt is still believed (a phone offline for
/// a week sends its queue late).
pub const PLAUSIBLE_BEFORE: i64 = 7 * 86_400;
/// A report's `date-time` this far after its receipt is still believed (clock skew).
pub const PLAUSIBLE_AFTER: i64 = 300;
/// Rows a download holds at most (the newest matching); the response says when it stopped.
pub const EXPORT_CAP: usize = 10_000;
/// Longest time range a filter covers, in days.
pub const MAX_DAYS: i64 = 400;
/// Host sections the overview shows at most (the most recently reported).
pub const MAX_HOSTS: usize = 20;
/// Served keys a host section shows at most (the most reported).
pub const MAX_KEYS: usize = 50;
/// Distinct networks are counted up to this (more shows as "over").
pub const NETWORKS_CAP: i64 = 100;

/// Where a report goes on the time axis: `(event_at, by_receipt)`.
pub fn event_time(received_at: i64, reported_at: Option<i64>) -> (i64, bool) {
    match reported_at {
        Some(t)
            if (received_at - PLAUSIBLE_BEFORE..=received_at + PLAUSIBLE_AFTER).contains(&t) =>
        {
            (t, false)
        }
        _ => (received_at, true),
    }
}

/// The UTC midnight starting `t`'s day.
pub fn day_of(t: i64) -> i64 {
    t.div_euclid(86_400) * 86_400
}

/// The dashboard's filters, the same for every panel and download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// First day (a UTC midnight, Unix seconds), inclusive.
    pub from_day: i64,
    /// Last day (a UTC midnight), inclusive.
    pub to_day: i64,
    /// Only this host.
    pub host: Option<String>,
    /// Only this app version.
    pub app_version: Option<String>,
    /// Only this platform.
    pub platform: Option<String>,
    /// Only this report kind (`keypin`, `trustkit`, `hpkp`).
    pub kind: Option<String>,
}

impl Filter {
    /// The last `days` days ending with `now`'s, nothing else filtered.
    pub fn last_days(now: i64, days: i64) -> Self {
        let to_day = day_of(now);
        Self {
            from_day: to_day - (days.clamp(1, MAX_DAYS) - 1) * 86_400,
            to_day,
            ..Self::default()
        }
    }

    /// First second after the range.
    pub fn end(&self) -> i64 {
        self.to_day + 86_400
    }

    /// The field filters as `(column, value)`, columns as `reports` and the roll-up name them.
    pub(crate) fn fields(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("host", self.host.as_deref()),
            ("app_version", self.app_version.as_deref()),
            ("app_platform", self.platform.as_deref()),
            ("dialect", self.kind.as_deref()),
        ]
    }

    /// Days covered.
    pub fn days(&self) -> i64 {
        (self.to_day - self.from_day) / 86_400 + 1
    }
}

/// One roll-up row as a backend returns it for a filter: report counts for a day and
/// combination of fields (absent fields are empty strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    /// Day (event time).
    pub day: i64,
    /// Host.
    pub host: String,
    /// App version.
    pub app_version: String,
    /// Platform.
    pub platform: String,
    /// Served leaf pin.
    pub pin: String,
    /// Placed by receipt time (no plausible `date-time`).
    pub by_receipt: bool,
    /// Reports.
    pub n: i64,
    /// Of which carried at least one runtime integrity finding (instrumented processes).
    pub instrumented: i64,
    /// First and last receipt.
    pub first_at: i64,
    /// Last receipt.
    pub last_at: i64,
}

/// A stored report with every column, for the detail page and downloads.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    /// Row id.
    pub id: i64,
    /// Receipt (Unix seconds).
    pub received_at: i64,
    /// The report's own time, when given.
    pub reported_at: Option<i64>,
    /// Where it is charted (see the module text).
    pub event_at: i64,
    /// Host.
    pub host: String,
    /// Port.
    pub port: Option<i64>,
    /// `keypin`, `trustkit` or `hpkp`.
    pub kind: String,
    /// Served leaf pin.
    pub served_leaf_pin: Option<String>,
    /// Sender's network.
    pub client_network: String,
    /// App bundle id.
    pub app_bundle_id: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Platform.
    pub app_platform: Option<String>,
    /// Failure kind.
    pub failure: Option<String>,
    /// Runtime integrity findings the report carried (`None`: it sent none).
    pub runtime_findings: Option<i64>,
    /// The report as received (downloads carry it parsed, as `report`).
    #[serde(skip)]
    pub body: String,
}

/// The SELECT list [`ReportRow`] is read from, in field order.
pub(crate) const ROW_COLUMNS: &str = "id, received_at, reported_at, event_at, host, port, dialect, \
    served_leaf_pin, client_network, app_bundle_id, app_version, app_platform, failure, \
    runtime_findings, body";

/// Storage queries behind the dashboard, on both backends.
pub trait DashboardQueries {
    /// Roll-up rows matching `f`, summed over what the page does not split by.
    fn rollup(&self, f: &Filter) -> Result<Vec<RollupRow>, StoreError>;
    /// The newest reports matching `f` (by event time), at most `limit`, none before `floor`
    /// (a bound [`newest_floor`] finds from the roll-up, so the scan stays short).
    fn newest(&self, f: &Filter, floor: i64, limit: usize) -> Result<Vec<ReportRow>, StoreError>;
    /// One report.
    fn report(&self, id: i64) -> Result<Option<ReportRow>, StoreError>;
    /// Distinct sender networks of each `(host, pin)` (over retention, unfiltered), counted up
    /// to [`NETWORKS_CAP`] + 1 at most (shown as "over"), so the cost does not grow with the
    /// fleet's networks.
    fn key_networks(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, i64)>, StoreError>;
}

/// The roll-up tables and what each stores as `dialect`: `report_days` by report kind, and
/// `report_days_any` the same summed over kinds (`''`), about a third the rows, which every
/// view without a kind filter reads.
pub(crate) const ROLLUPS: [(&str, &str); 2] =
    [("report_days", "dialect"), ("report_days_any", "''")];

/// The roll-up table a filter reads (a name from [`ROLLUPS`], never from input).
pub(crate) fn rollup_table(f: &Filter) -> &'static str {
    if f.kind.is_some() {
        ROLLUPS[0].0
    } else {
        ROLLUPS[1].0
    }
}

/// Adds `v` to `key`'s increment in `out`.
pub(crate) fn merge_into(
    out: &mut BTreeMap<RollupKey, RollupValue>,
    key: RollupKey,
    v: &RollupValue,
) {
    let o = out.entry(key).or_insert((0, v.1, v.2, 0));
    o.0 += v.0;
    o.1 = o.1.min(v.1);
    o.2 = o.2.max(v.2);
    o.3 += v.3;
}

/// A commit's increments of `report_days` summed over kinds, for `report_days_any`.
pub(crate) fn any_kind(
    roll: &BTreeMap<RollupKey, RollupValue>,
) -> BTreeMap<RollupKey, RollupValue> {
    let mut out = BTreeMap::new();
    for (k, v) in roll {
        merge_into(
            &mut out,
            RollupKey {
                kind: "",
                ..k.clone()
            },
            v,
        );
    }
    out
}

/// Every roll-up table's rows recomputed from `reports` rows matching `cond`.
pub(crate) fn rebuild_all(by_receipt: &str, cond: &str) -> Vec<String> {
    ROLLUPS
        .iter()
        .map(|(table, kind)| rebuild_sql(table, kind, by_receipt, cond))
        .collect()
}

/// The roll-up tables and their receipt-day indexes, in the backend's types (`int`,
/// `boolean`) and with its table options (`options`).
pub(crate) fn rollup_ddl(int: &str, boolean: &str, options: &str) -> String {
    ROLLUPS
        .map(|(table, _)| {
            format!(
                "CREATE TABLE {table} (
                     day {int} NOT NULL, host TEXT NOT NULL, app_version TEXT NOT NULL,
                     app_platform TEXT NOT NULL, dialect TEXT NOT NULL, pin TEXT NOT NULL,
                     by_receipt {boolean} NOT NULL, rday {int} NOT NULL,
                     n {int} NOT NULL, first_at {int} NOT NULL, last_at {int} NOT NULL,
                     inst {int} NOT NULL,
                     PRIMARY KEY (day, host, app_version, app_platform, dialect, pin, by_receipt,
                         rday)
                 ){options};
                 CREATE INDEX {table}_rday ON {table}(rday);"
            )
        })
        .join("\n")
}

/// SQL that recomputes `table`'s roll-up rows (`kind` its `dialect` expression, see
/// [`ROLLUPS`]) from the `reports` rows matching `cond`, `by_receipt` being the backend's
/// expression for that column over a `reports` row.
pub(crate) fn rebuild_sql(table: &str, kind: &str, by_receipt: &str, cond: &str) -> String {
    format!(
        "INSERT INTO {table} (day, host, app_version, app_platform, dialect, pin, by_receipt,
             rday, n, first_at, last_at, inst)
         SELECT (event_at / 86400) * 86400, host, coalesce(app_version, ''),
             coalesce(app_platform, ''), {kind}, coalesce(served_leaf_pin, ''), {by_receipt},
             (received_at / 86400) * 86400, COUNT(*), MIN(received_at), MAX(received_at),
             SUM(CASE WHEN runtime_findings > 0 THEN 1 ELSE 0 END)
         FROM reports WHERE {cond} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
}

/// `(day, host, app version, platform, pin, by receipt)`, strings as [`RollupSum`] ids.
type SumKey = (i64, u32, u32, u32, u32, bool);

/// Sums raw roll-up rows into [`RollupRow`]s (over kind and receipt day), in memory: a
/// backend streams its rows in and no SQL `GROUP BY` sorts them. Each distinct string is
/// allocated once.
#[derive(Default)]
pub(crate) struct RollupSum {
    names: HashMap<String, u32>,
    /// The strings by id.
    by_id: Vec<String>,
    /// Each column's last id: rows come in key order, so a column mostly repeats the row
    /// before it and needs no hashing.
    last: [Option<u32>; 4],
    by_key: HashMap<SumKey, (i64, i64, i64, i64)>,
}

impl RollupSum {
    fn id(&mut self, column: usize, s: &str) -> u32 {
        if let Some(i) = self.last[column]
            && self.by_id[i as usize] == s
        {
            return i;
        }
        let i = match self.names.get(s) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.by_id.len()).unwrap_or(u32::MAX);
                self.names.insert(s.to_string(), i);
                self.by_id.push(s.to_string());
                i
            }
        };
        self.last[column] = Some(i);
        i
    }

    /// Adds one row: `(day, host, app_version, platform, pin, by_receipt)` and its
    /// `(n, first_at, last_at, instrumented)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        day: i64,
        host: &str,
        version: &str,
        platform: &str,
        pin: &str,
        by_receipt: bool,
        (n, first, last, inst): (i64, i64, i64, i64),
    ) {
        let key = (
            day,
            self.id(0, host),
            self.id(1, version),
            self.id(2, platform),
            self.id(3, pin),
            by_receipt,
        );
        let v = self.by_key.entry(key).or_insert((0, first, last, 0));
        v.0 += n;
        v.1 = v.1.min(first);
        v.2 = v.2.max(last);
        v.3 += inst;
    }

    /// Adds another sum's rows (a part of the range read apart).
    pub(crate) fn absorb(&mut self, other: RollupSum) {
        for ((day, h, v, p, k, by_receipt), value) in other.by_key {
            let name = |i: u32| other.by_id[i as usize].as_str();
            self.add(day, name(h), name(v), name(p), name(k), by_receipt, value);
        }
    }

    /// The summed rows.
    pub(crate) fn rows(self) -> Vec<RollupRow> {
        let names = self.by_id;
        self.by_key
            .into_iter()
            .map(
                |((day, h, v, p, k, by_receipt), (n, first_at, last_at, instrumented))| RollupRow {
                    day,
                    host: names[h as usize].clone(),
                    app_version: names[v as usize].clone(),
                    platform: names[p as usize].clone(),
                    pin: names[k as usize].clone(),
                    by_receipt,
                    n,
                    instrumented,
                    first_at,
                    last_at,
                },
            )
            .collect()
    }
}

/// The earliest event time the newest `limit` matching reports can have, from the roll-up's
/// per-day counts: the start of the newest day by which `limit` are counted.
pub fn newest_floor(rows: &[RollupRow], f: &Filter, limit: usize) -> i64 {
    let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
    for r in rows {
        *per_day.entry(r.day).or_default() += r.n;
    }
    let mut seen = 0i64;
    for (day, n) in per_day.iter().rev() {
        seen += n;
        if seen >= limit as i64 {
            return *day;
        }
    }
    f.from_day
}

/// The roll-up key of a report being stored, and its event time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RollupKey {
    pub(crate) day: i64,
    pub(crate) rday: i64,
    pub(crate) host: String,
    pub(crate) app_version: String,
    pub(crate) platform: String,
    pub(crate) kind: &'static str,
    pub(crate) pin: String,
    pub(crate) by_receipt: bool,
}

/// Reports, first and last receipt, reports with runtime findings.
pub(crate) type RollupValue = (i64, i64, i64, i64);

/// Groups a commit's reports into roll-up increments, sorted by key (so concurrent writers
/// lock rows in one order), and `(host, pin, network) -> (count, receipt day)` increments.
#[allow(clippy::type_complexity)]
pub(crate) fn increments<'a>(
    batches: impl Iterator<Item = (i64, &'a [NewReport])>,
) -> (
    BTreeMap<RollupKey, RollupValue>,
    BTreeMap<(String, String, String), (i64, i64)>,
) {
    let mut roll: BTreeMap<RollupKey, RollupValue> = BTreeMap::new();
    let mut nets: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for (received_at, reports) in batches {
        for r in reports {
            let (event_at, by_receipt) = event_time(received_at, r.reported_at);
            let key = RollupKey {
                day: day_of(event_at),
                rday: day_of(received_at),
                host: r.host.clone(),
                app_version: r.app_version.clone().unwrap_or_default(),
                platform: r.app_platform.clone().unwrap_or_default(),
                kind: r.dialect.as_str(),
                pin: r.served_leaf_pin.clone().unwrap_or_default(),
                by_receipt,
            };
            let v = roll.entry(key).or_insert((0, received_at, received_at, 0));
            v.0 += 1;
            if r.runtime_findings.is_some_and(|n| n > 0) {
                v.3 += 1;
            }
            v.1 = v.1.min(received_at);
            v.2 = v.2.max(received_at);
            if let Some(pin) = &r.served_leaf_pin {
                let n = nets
                    .entry((r.host.clone(), pin.clone(), r.client_network.clone()))
                    .or_insert((0, 0));
                n.0 += 1;
                n.1 = n.1.max(day_of(received_at));
            }
        }
    }
    (roll, nets)
}

/// A served key on the overview.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    /// SPKI pin of the served leaf.
    pub pin: String,
    /// Reports (filtered).
    pub count: i64,
    /// Distinct sender networks (over retention, unfiltered).
    pub networks: i64,
    /// First receipt.
    pub first_seen: i64,
    /// Last receipt.
    pub last_seen: i64,
    /// App versions that reported it, sorted.
    pub versions: Vec<String>,
}

/// One host on the overview.
#[derive(Debug, Clone, Serialize)]
pub struct HostPanel {
    /// Host.
    pub host: String,
    /// Reports (filtered).
    pub reports: i64,
    /// Of which came from instrumented processes (carried runtime findings).
    pub instrumented: i64,
    /// Last receipt.
    pub last_seen: i64,
    /// Per day in the range: `(day, by report time, by receipt time)`.
    pub per_day: Vec<(i64, i64, i64)>,
    /// Reports by app version, most first (`""`: none given).
    pub by_version: Vec<(String, i64)>,
    /// Reports by platform, most first.
    pub by_platform: Vec<(String, i64)>,
    /// Served keys, most reported first.
    pub keys: Vec<KeyRow>,
}

/// Everything the overview shows for a filter.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Hosts with matching reports, in total.
    pub hosts_total: usize,
    /// Matching reports.
    pub reports: i64,
    /// Of which charted by receipt time.
    pub by_receipt: i64,
    /// Of which came from instrumented processes.
    pub instrumented: i64,
    /// The most recently reported hosts, at most [`MAX_HOSTS`].
    pub hosts: Vec<HostPanel>,
}

#[derive(Default)]
struct HostAcc {
    reports: i64,
    instrumented: i64,
    last: i64,
    days: HashMap<i64, (i64, i64)>,
    versions: HashMap<String, i64>,
    platforms: HashMap<String, i64>,
    keys: HashMap<String, (i64, i64, i64, BTreeSet<String>)>,
}

/// Aggregates roll-up rows into the overview's panels; `networks` fills the key tables.
pub fn overview(
    rows: &[RollupRow],
    f: &Filter,
    networks: impl Fn(&[(String, String)]) -> Result<Vec<(String, String, i64)>, StoreError>,
) -> Result<Overview, StoreError> {
    let mut hosts: HashMap<&str, HostAcc> = HashMap::new();
    let (mut total, mut by_receipt, mut instrumented) = (0, 0, 0);
    for r in rows {
        total += r.n;
        instrumented += r.instrumented;
        if r.by_receipt {
            by_receipt += r.n;
        }
        let h = hosts.entry(&r.host).or_default();
        h.reports += r.n;
        h.instrumented += r.instrumented;
        h.last = h.last.max(r.last_at);
        let d = h.days.entry(r.day).or_default();
        if r.by_receipt {
            d.1 += r.n
        } else {
            d.0 += r.n
        }
        *h.versions.entry(r.app_version.clone()).or_default() += r.n;
        *h.platforms.entry(r.platform.clone()).or_default() += r.n;
        if !r.pin.is_empty() {
            let k =
                h.keys
                    .entry(r.pin.clone())
                    .or_insert((0, r.first_at, r.last_at, BTreeSet::new()));
            k.0 += r.n;
            k.1 = k.1.min(r.first_at);
            k.2 = k.2.max(r.last_at);
            k.3.insert(r.app_version.clone());
        }
    }
    let hosts_total = hosts.len();
    let mut order: Vec<(&str, HostAcc)> = hosts.into_iter().collect();
    order.sort_by(|a, b| b.1.last.cmp(&a.1.last).then(a.0.cmp(b.0)));
    order.truncate(MAX_HOSTS);
    // Each shown host's keys, most reported first, at most MAX_KEYS.
    let keyed: Vec<(&str, HostAcc, Vec<KeyRow>)> = order
        .into_iter()
        .map(|(host, mut acc)| {
            let mut keys: Vec<KeyRow> = std::mem::take(&mut acc.keys)
                .into_iter()
                .map(|(pin, (count, first, last, versions))| KeyRow {
                    networks: 0,
                    pin,
                    count,
                    first_seen: first,
                    last_seen: last,
                    versions: versions.into_iter().collect(),
                })
                .collect();
            keys.sort_by(|a, b| b.count.cmp(&a.count).then(a.pin.cmp(&b.pin)));
            keys.truncate(MAX_KEYS);
            (host, acc, keys)
        })
        .collect();
    let wanted: Vec<(String, String)> = keyed
        .iter()
        .flat_map(|(h, _, keys)| keys.iter().map(|k| (h.to_string(), k.pin.clone())))
        .collect();
    let nets: HashMap<(String, String), i64> = networks(&wanted)?
        .into_iter()
        .map(|(h, p, n)| ((h, p), n))
        .collect();
    let sorted = |m: HashMap<String, i64>| {
        let mut v: Vec<(String, i64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let hosts = keyed
        .into_iter()
        .map(|(host, acc, mut keys)| {
            let per_day = (0..f.days())
                .map(|i| {
                    let d = f.from_day + i * 86_400;
                    let (a, b) = acc.days.get(&d).copied().unwrap_or((0, 0));
                    (d, a, b)
                })
                .collect();
            for k in &mut keys {
                k.networks = nets
                    .get(&(host.to_string(), k.pin.clone()))
                    .copied()
                    .unwrap_or(0);
            }
            HostPanel {
                host: host.to_string(),
                reports: acc.reports,
                instrumented: acc.instrumented,
                last_seen: acc.last,
                per_day,
                by_version: sorted(acc.versions),
                by_platform: sorted(acc.platforms),
                keys,
            }
        })
        .collect();
    Ok(Overview {
        hosts_total,
        reports: total,
        by_receipt,
        instrumented,
        hosts,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn report_time_is_used_only_when_plausible() {
        let now = 1_900_000_000;
        for (reported, expect) in [
            (None, (now, true)),
            (Some(now - 3600), (now - 3600, false)),
            (
                Some(now - PLAUSIBLE_BEFORE),
                (now - PLAUSIBLE_BEFORE, false),
            ),
            (Some(now - PLAUSIBLE_BEFORE - 1), (now, true)),
            (Some(now + PLAUSIBLE_AFTER), (now + PLAUSIBLE_AFTER, false)),
            (Some(now + PLAUSIBLE_AFTER + 1), (now, true)),
        ] {
            assert_eq!(event_time(now, reported), expect, "{reported:?}");
        }
    }

    #[test]
    fn newest_floor_stops_at_the_day_that_fills_the_limit() {
        let f = Filter::last_days(10 * 86_400, 10);
        let row = |day: i64, n| RollupRow {
            day: day * 86_400,
            host: "h".into(),
            app_version: String::new(),
            platform: String::new(),
            pin: String::new(),
            by_receipt: false,
            n,
            instrumented: 0,
            first_at: 0,
            last_at: 0,
        };
        let rows = [row(3, 40), row(7, 30), row(9, 20)];
        assert_eq!(newest_floor(&rows, &f, 50), 7 * 86_400);
        assert_eq!(newest_floor(&rows, &f, 20), 9 * 86_400);
        assert_eq!(newest_floor(&rows, &f, 1000), f.from_day);
    }
}
