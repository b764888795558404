//! Alerts: `[[alert]]` rules from `alerts.toml` ([`config`]), evaluated by a background task
//! off the ingest path (ingest never waits on a webhook), and delivered to webhooks
//! ([`deliver`]) in Slack's or keypin's JSON shape ([`message`]).
//!
//! Windows are fixed: a rule with `window = "10m"` counts the reports received since the
//! start of the current 10-minute period (Unix time). The first evaluation that finds the
//! threshold reached claims (rule, window) in the store's delivery ledger
//! ([`crate::store::AlertLedger`]); one instance of those sharing the database wins, delivers
//! with retries and backoff, and marks it delivered. A second burst in the same window finds it
//! claimed. An instance that dies while delivering leaves a lease that runs out; another then
//! takes over the remaining attempts.
//!
//! Exactly once, as far as it can be over HTTP: if an instance dies after the webhook took the
//! alert but before the ledger says so, the next instance sends it again; the body and the
//! `X-Keypin-Alert-Id` header carry the same id each time, for receivers that de-duplicate.

pub mod config;
mod deliver;
pub mod message;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keypin::clock::Clock;

use crate::metrics::{Delivery, Metrics};
use crate::store::{AlertLedger, Claim, ReportGroup};
pub use config::{AlertsError, Format, Retry, Rule, Webhook};
use deliver::{Attempt, Poster};
pub use message::{Alert, Change};

/// How often rules are evaluated by default.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// Alerting settings for [`crate::Settings::alerts`].
#[derive(Clone)]
pub struct AlertSettings {
    /// The rules.
    pub rules: Vec<Rule>,
    /// The store's delivery ledger (the same database the reports go to).
    pub ledger: Arc<dyn AlertLedger>,
    /// The dashboard's base URL for the alert's link (`https://collector.example.com`).
    pub public_url: String,
    /// How often rules are evaluated.
    pub every: Duration,
    /// Delivery retries.
    pub retry: Retry,
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field("rules", &self.rules)
            .field("public_url", &self.public_url)
            .field("every", &self.every)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl AlertSettings {
    /// `rules` on `ledger`, linking to `public_url`, evaluated every 10 s, default retries.
    pub fn new(rules: Vec<Rule>, ledger: Arc<dyn AlertLedger>, public_url: String) -> Self {
        Self {
            rules,
            ledger,
            public_url,
            every: DEFAULT_EVERY,
            retry: Retry::default(),
        }
    }
}

/// (rule name, window start).
type Key = (String, i64);

struct Evaluator {
    settings: AlertSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    poster: Poster,
    /// This instance's name in the ledger.
    owner: String,
    /// Windows this instance knows are finished (or is delivering), so it asks the ledger no
    /// more about them.
    settled: Mutex<HashSet<Key>>,
}

/// Starts the evaluator; it runs until the returned task is aborted. Creates the ledger's
/// table first (an error there is returned: alerts that cannot be recorded are not sent).
pub(crate) async fn start(
    settings: AlertSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let ledger = settings.ledger.clone();
    let m = metrics.clone();
    tokio::task::spawn_blocking(move || m.time("alerts", || ledger.prepare_alerts()))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    let poster = Poster::new().map_err(std::io::Error::other)?;
    let ev = Arc::new(Evaluator {
        settings,
        clock,
        metrics,
        poster,
        owner: owner_id(),
        settled: Mutex::new(HashSet::new()),
    });
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(ev.settings.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            ev.clone().evaluate().await;
        }
    }))
}

/// A random name for this instance in the ledger.
fn owner_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", std::process::id())
}

impl Evaluator {
    fn now(&self) -> i64 {
        i64::try_from(self.clock.now().as_secs()).unwrap_or(i64::MAX)
    }

    /// Runs a blocking ledger call off the async threads, timed as `op`.
    async fn ledger<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AlertLedger) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let ledger = self.settings.ledger.clone();
        let metrics = self.metrics.clone();
        match tokio::task::spawn_blocking(move || metrics.time("alerts", || f(ledger.as_ref())))
            .await
        {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                // The next tick asks again; an operator should still learn why nothing was sent.
                eprintln!("keypin collector: alerts: the database: {e}");
                None
            }
            Err(e) => {
                eprintln!("keypin collector: alerts: a database call failed: {e}");
                None
            }
        }
    }

    /// One pass over the rules: each rule's current window, and the windows another instance
    /// claimed and abandoned (its lease ran out), which this one finishes.
    async fn evaluate(self: Arc<Self>) {
        let now = self.now();
        if let Ok(mut s) = self.settled.lock() {
            // Forget windows that are over: the ledger answers for them from now on.
            let rules = &self.settings.rules;
            s.retain(|(name, start)| {
                rules
                    .iter()
                    .any(|r| &r.name == name && r.window_start(now) == *start)
            });
        }
        let rules = &self.settings.rules;
        let mut windows: Vec<(usize, i64, bool)> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.window_start(now), true))
            .collect();
        for (name, start) in self
            .ledger(move |l| l.orphaned_alerts(now))
            .await
            .unwrap_or_default()
        {
            if let Some(i) = rules.iter().position(|r| r.name == name)
                && !windows.iter().any(|w| (w.0, w.1) == (i, start))
            {
                // Claimed once, so its threshold was crossed.
                windows.push((i, start, false));
            }
        }
        let mut groups = HashMap::new();
        for (i, start, check) in windows {
            self.clone()
                .consider(i, start, check, now, &mut groups)
                .await;
        }
    }

    /// Rule `i`'s window at `start`: counts its reports (`groups` keeps each window's counts
    /// for the other rules), and, with the threshold crossed (or not `check`ed), claims it and
    /// starts the delivery.
    async fn consider(
        self: Arc<Self>,
        i: usize,
        start: i64,
        check: bool,
        now: i64,
        groups: &mut HashMap<(i64, i64), Arc<Vec<ReportGroup>>>,
    ) {
        let Some(rule) = self.settings.rules.get(i) else {
            return;
        };
        let key = (rule.name.clone(), start);
        if self.settled.lock().map_or(true, |s| s.contains(&key)) {
            return;
        }
        let span = (start, start.saturating_add(rule.window_secs));
        let g = match groups.get(&span) {
            Some(g) => g.clone(),
            None => {
                let Some(g) = self.ledger(move |l| l.report_groups(span.0, span.1)).await else {
                    return;
                };
                let g = Arc::new(g);
                groups.insert(span, g.clone());
                g
            }
        };
        let counted = count(rule, &g);
        let total: i64 = counted.hosts.iter().map(|(_, n)| n).sum();
        if check && total < rule.threshold {
            return;
        }
        let lease = lease_secs(&self.settings.retry, 1);
        let (name, owner) = (rule.name.clone(), self.owner.clone());
        let claim = self
            .ledger(move |l| l.claim_alert(&name, start, &owner, now, now + lease))
            .await;
        match claim {
            Some(Claim::Claimed { attempts }) => {
                if let Ok(mut s) = self.settled.lock() {
                    s.insert(key);
                }
                let ev = self.clone();
                tokio::spawn(async move { ev.deliver(i, start, counted, attempts).await });
            }
            Some(Claim::Done) => {
                if let Ok(mut s) = self.settled.lock() {
                    s.insert(key);
                }
            }
            // Held by a live lease elsewhere, or the database did not answer: next tick.
            _ => {}
        }
    }

    /// Builds the alert, then tries to deliver it while this instance holds the claim.
    async fn deliver(self: Arc<Self>, rule_index: usize, start: i64, counted: Counted, tried: i64) {
        let Some(rule) = self.settings.rules.get(rule_index) else {
            return;
        };
        let Some((top, _)) = counted.hosts.first().cloned() else {
            // An abandoned window whose reports are gone (retention): nothing to say.
            let (name, owner, now) = (rule.name.clone(), self.owner.clone(), self.now());
            let _ = self
                .ledger(move |l| l.finish_alert(&name, start, &owner, false, now))
                .await;
            return;
        };
        let history = self
            .ledger(move |l| l.host_history(&top))
            .await
            .unwrap_or_default();
        let now = self.now();
        let alert = Alert::new(
            rule,
            start,
            counted.hosts,
            &history,
            &counted.versions,
            &self.settings.public_url,
            now,
        );
        let body = axum::body::Bytes::from(alert.body(rule.format).to_string());
        let retry = self.settings.retry;
        let mut tries = u32::try_from(tried).unwrap_or(u32::MAX);
        let delivered = loop {
            if tries >= retry.attempts {
                break false;
            }
            tries += 1;
            let lease = lease_secs(&retry, tries);
            let (name, owner) = (rule.name.clone(), self.owner.clone());
            let now = self.now();
            let held = self
                .ledger(move |l| l.alert_attempt(&name, start, &owner, now + lease))
                .await;
            if held != Some(true) {
                // Taken over (our lease ran out) or the database is away: the ledger decides
                // who sends; without it, nobody from here.
                self.forget(rule, start);
                return;
            }
            let attempt = self
                .poster
                .post(&rule.webhook, &alert.id, body.clone(), retry.timeout)
                .await;
            let next = match &attempt {
                Attempt::Delivered => break true,
                Attempt::Retry(_) if tries < retry.attempts => {
                    Some(deliver::backoff(&retry, tries))
                }
                Attempt::Retry(_) | Attempt::Refused(_) => None,
            };
            say_failed_try(rule, start, tries, retry.attempts, &attempt, next);
            match next {
                Some(wait) => {
                    self.metrics.delivery(Delivery::Retried);
                    tokio::time::sleep(wait).await;
                }
                None => break false,
            }
        };
        self.metrics.delivery(if delivered {
            Delivery::Ok
        } else {
            Delivery::Failed
        });
        let (name, owner) = (rule.name.clone(), self.owner.clone());
        let now = self.now();
        let finished = self
            .ledger(move |l| l.finish_alert(&name, start, &owner, delivered, now))
            .await;
        if finished != Some(true) {
            self.forget(rule, start);
        }
    }

    /// Asks the ledger about this window again at the next tick.
    fn forget(&self, rule: &Rule, start: i64) {
        if let Ok(mut s) = self.settled.lock() {
            s.remove(&(rule.name.clone(), start));
        }
    }
}

/// One line on standard error (the collector's log) per failed try, so that an operator learns
/// why an alert did not arrive: the rule, its window, the webhook's origin (its `Debug`: never
/// the path, which is often the secret) and the reason; then the next try, or the end.
fn say_failed_try(
    rule: &Rule,
    start: i64,
    tries: u32,
    attempts: u32,
    attempt: &Attempt,
    next: Option<Duration>,
) {
    let (reason, then) = match (attempt, next) {
        (Attempt::Delivered, _) => return,
        (Attempt::Refused(why), _) => (why, "refused by the webhook, not retried".to_string()),
        (Attempt::Retry(why), Some(wait)) => (why, format!("next try in {} s", wait.as_secs())),
        (Attempt::Retry(why), None) => (why, "no try left, not delivered".to_string()),
    };
    eprintln!(
        "keypin collector: alert {:?} (window starting {}) to {:?}: try {tries} of {attempts} failed: {reason}; {then}",
        rule.name,
        keypin::clock::format_rfc3339(start),
        rule.webhook,
    );
}

/// How long a claim holds for try number `tries`: the try, the wait after it, and a margin.
fn lease_secs(retry: &Retry, tries: u32) -> i64 {
    let span = retry.timeout + deliver::backoff(retry, tries) + Duration::from_secs(30);
    i64::try_from(span.as_secs()).unwrap_or(i64::MAX)
}

/// A rule's reports in one window.
#[derive(Debug, Default)]
struct Counted {
    /// Hosts with their reports, busiest first.
    hosts: Vec<(String, i64)>,
    /// App versions among them.
    versions: Vec<String>,
}

fn count(rule: &Rule, groups: &[ReportGroup]) -> Counted {
    let mut hosts: HashMap<&str, i64> = HashMap::new();
    let mut versions: Vec<String> = Vec::new();
    for g in groups {
        if rule.covers(
            &g.host,
            g.app_version.as_deref(),
            g.app_platform.as_deref(),
            g.failure.as_deref(),
        ) {
            *hosts.entry(&g.host).or_default() += g.count;
            if let Some(v) = &g.app_version
                && !versions.contains(v)
            {
                versions.push(v.clone());
            }
        }
    }
    let mut hosts: Vec<(String, i64)> =
        hosts.into_iter().map(|(h, n)| (h.to_string(), n)).collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Counted { hosts, versions }
}
