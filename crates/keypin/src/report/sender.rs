//! The report sender: a bounded queue filled from the handshake thread and one std thread that
//! batches, POSTs, backs off and de-duplicates.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::dedup::Dedup;
use super::model::{AppInfo, Common};
use super::wire::Report;
use crate::Policy;
use crate::clock::Clock;
use crate::events::{PinEvent, PinEventSink};
use crate::http::{self, Request, Url};
use crate::live::{Generation, LivePolicy, PerGeneration};
use crate::policy::ReportDelivery;
use crate::roots::Roots;
use crate::runtime::RuntimeFinding;
use crate::verify::config::PinnedConfig;

/// How the sender works. Build with [`ReportSenderConfig::new`], adjust the public fields.
#[derive(Debug, Clone)]
pub struct ReportSenderConfig {
    /// Where the de-duplication state lives (created when missing).
    pub state_dir: PathBuf,
    /// The app fields every report carries.
    pub app: AppInfo,
    /// Report URIs for failures whose rule lists none (`report_uris` in the policy wins), and
    /// for pin-update failures. Like TrustKit's default report URI, but empty by default.
    pub default_report_uris: Vec<String>,
    /// `policy-version` in reports while the embedded policy is in force. Under a bundle, a
    /// sender that follows a [`LivePolicy`] reports the bundle's version instead.
    pub policy_version: Option<String>,
    /// `hostname` of pin-update failure reports (the update source). Default `pin-update`.
    pub update_host: String,
    /// Reports waiting at most; when full the oldest is dropped and counted. Default 256.
    pub capacity: usize,
    /// Reports per POST at most. Default 50.
    pub batch_size: usize,
    /// How long the sender waits for more reports before a POST. Default 2 s.
    pub batch_delay: Duration,
    /// First retry after a failed POST; doubles per failure, with ±25 % jitter, for each report
    /// URI on its own (a failing URI never holds up another). Default 30 s.
    pub retry_min: Duration,
    /// Longest wait between retries. Default 1 hour.
    pub retry_max: Duration,
    /// An identical report (its time aside) is sent once per this window. Default 24 hours.
    pub dedup_window: Duration,
    /// Connect, read and write timeout of a POST. Default 15 s.
    pub timeout: Duration,
}

impl ReportSenderConfig {
    /// The defaults above, keeping state in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            app: AppInfo::default(),
            default_report_uris: Vec::new(),
            policy_version: None,
            update_host: "pin-update".into(),
            capacity: 256,
            batch_size: 50,
            batch_delay: Duration::from_secs(2),
            retry_min: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            dedup_window: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why the sender could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A setting is wrong.
    #[error("report sender: {0}")]
    Config(String),
    /// The delivery TLS configuration could not be built.
    #[error("report sender: {0}")]
    Tls(#[from] crate::Error),
    /// The thread could not start.
    #[error("report sender: cannot start its thread: {0}")]
    Thread(std::io::Error),
}

/// What the sender has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Reports waiting (or being sent).
    pub queued: usize,
    /// Reports delivered (acknowledged with 2xx).
    pub sent: u64,
    /// Reports dropped because the queue was full (the oldest go first).
    pub dropped: u64,
    /// Reports not queued because an identical one was pending or sent within the window.
    pub deduplicated: u64,
    /// Reports the collector refused as bad (4xx other than 408 and 429); not retried.
    pub rejected: u64,
    /// POSTs that failed and will be retried.
    pub failed_attempts: u64,
    /// The last delivery error, for a person.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Item {
    uri: String,
    key: [u8; 32],
    report: Report,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Item>,
    in_flight: Vec<[u8; 32]>,
    urgent: bool,
    last_error: Option<String>,
    /// Per report URI: consecutive failures, and no delivery before this instant. A failing
    /// URI backs off alone; the others keep going.
    backoff: HashMap<String, (u32, Instant)>,
}

/// What one generation of the policy means for reports: the rules and report URIs, the
/// version, and the pinned delivery configuration.
#[derive(Debug)]
struct Delivery {
    policy: Arc<Policy>,
    common: Common,
    /// Built on the worker thread at its first delivery ([`Delivery::tls`]), never on the
    /// thread that reports an event (a handshake's).
    tls: OnceLock<Arc<ClientConfig>>,
    roots: Roots,
    clock: Arc<dyn Clock>,
}

/// The policy the sender follows, and the version it reports for the embedded policy.
struct Following {
    deliveries: PerGeneration<Arc<Delivery>>,
    embedded_version: Option<String>,
}

impl core::fmt::Debug for Following {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Following")
            .field("live", self.deliveries.live())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Shared {
    config: ReportSenderConfig,
    clock: Arc<dyn Clock>,
    roots: Roots,
    following: RwLock<Arc<Following>>,
    queue: Mutex<Queue>,
    wake: Condvar,
    dedup: Mutex<Dedup>,
    stop: AtomicBool,
    sent: AtomicU64,
    dropped: AtomicU64,
    deduplicated: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// The runtime integrity findings the app last set; attached to each report made.
    runtime: RwLock<Option<Vec<RuntimeFinding>>>,
}

/// Sends pin-failure reports off the handshake path. Give it to
/// [`crate::PinnedConfigBuilder::events`] (it is a [`PinEventSink`]); the thread stops when the
/// last handle is dropped, waiting for a POST in flight (at most the timeout); reports still
/// queued are then lost: call [`ReportSender::flush`] first when it matters.
///
/// The policy (rules, report URIs, version) is read from a [`LivePolicy`] for each report, so
/// a sender started with [`ReportSender::start_live`] (or told to [`ReportSender::follow`] the
/// updater's `PolicyStore::live`) follows every pin update: a failure under a bundle is
/// reported with that bundle's rules and version.
///
/// Report connections to `https://` URIs use a pinned configuration of the same policy
/// (RFC 7469 §3), except that rules with `report_delivery = "unpinned"` are left out of it.
/// That configuration has no event hook, so a failing delivery never produces a report about
/// itself (no loop); it is retried with backoff.
#[derive(Debug)]
pub struct ReportSender {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    startup_warning: Option<String>,
}

impl ReportSender {
    /// Starts the sender for a fixed `policy`, whose report connections trust `roots` (the
    /// app's). [`ReportSender::follow`] moves it onto a live policy.
    pub fn start(
        config: ReportSenderConfig,
        policy: Arc<Policy>,
        roots: Roots,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, ReportError> {
        let live =
            LivePolicy::fixed(PinnedConfig::builder(policy, roots.clone()).clock(clock.clone()))?;
        Self::start_live(config, &live, roots, clock)
    }

    /// Starts the sender on the policy in force (e.g. `PolicyStore::live`): each report is
    /// made with the rules, report URIs and version of the generation in force.
    pub fn start_live(
        config: ReportSenderConfig,
        live: &LivePolicy,
        roots: Roots,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, ReportError> {
        if config.capacity == 0 || config.batch_size == 0 {
            return Err(ReportError::Config(
                "capacity and batch_size must be at least 1".into(),
            ));
        }
        if config.retry_min.is_zero() || config.retry_max < config.retry_min {
            return Err(ReportError::Config(
                "retry_min must be above zero and retry_max at least retry_min".into(),
            ));
        }
        for uri in &config.default_report_uris {
            Url::parse(uri, &["http", "https"])
                .map_err(|e| ReportError::Config(format!("default report URI: {e}")))?;
        }
        let window = i64::try_from(config.dedup_window.as_secs()).unwrap_or(i64::MAX);
        let (dedup, startup_warning) = Dedup::load(&config.state_dir, window);
        if let Some(w) = &startup_warning {
            log::warn!("keypin reports: {w}");
        }
        let following = Arc::new(Following {
            deliveries: PerGeneration::new(live.clone()),
            embedded_version: config.policy_version.clone(),
        });
        let shared = Arc::new(Shared {
            config,
            clock,
            roots,
            following: RwLock::new(following),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            dedup: Mutex::new(dedup),
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            deduplicated: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            runtime: RwLock::new(None),
        });
        // The first generation's delivery configuration now, so a bad one fails the start.
        shared.delivery()?.tls()?;
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("keypin-reports".into())
            .spawn(move || worker.run())
            .map_err(ReportError::Thread)?;
        Ok(Arc::new(Self {
            shared,
            thread: Mutex::new(Some(thread)),
            startup_warning,
        }))
    }

    /// Why the stored de-duplication state was ignored at start, if it was.
    pub fn startup_warning(&self) -> Option<&str> {
        self.startup_warning.as_deref()
    }

    /// Follows `live` from now on (e.g. `PolicyStore::live`, when the store's configurations
    /// were built with this sender as their event sink, so the store came after the sender):
    /// report URIs, rules, the version and the pinned delivery configuration come from the
    /// generation in force for each report.
    pub fn follow(&self, live: &LivePolicy) {
        let s = &self.shared;
        let following = Arc::new(Following {
            deliveries: PerGeneration::new(live.clone()),
            embedded_version: s.config.policy_version.clone(),
        });
        *s.following.write().unwrap_or_else(PoisonError::into_inner) = following;
    }

    /// The runtime integrity findings reports made from now on carry (`runtime-findings`):
    /// `Some(findings)` after a scan (`Some(vec![])`: scanned, nothing seen), `None` when
    /// nothing is known (no scan, or the last one failed). Kept within
    /// [`crate::runtime::bounded`]'s limits. keypin-shield's watcher sets this through
    /// [`PinEvent::RuntimeFindings`] when given this sender as its sink; the sender never
    /// scans, and a handshake only copies the latest value.
    pub fn set_runtime_findings(&self, findings: Option<Vec<RuntimeFinding>>) {
        self.shared.set_runtime(findings);
    }

    /// Queues the reports for `event` (never blocks on the network; see [`PinEventSink`]).
    pub fn submit(&self, event: &PinEvent) {
        self.shared.enqueue_event(event);
    }

    /// What the sender has done so far.
    pub fn stats(&self) -> ReportStats {
        let s = &self.shared;
        let q = s.lock_queue();
        ReportStats {
            queued: q.items.len() + q.in_flight.len(),
            sent: s.sent.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            deduplicated: s.deduplicated.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            failed_attempts: s.failed.load(Ordering::Relaxed),
            last_error: q.last_error.clone(),
        }
    }

    /// Reports dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Sends what is queued now (no batching delay) and waits until the queue is empty or
    /// `timeout` passes. True when everything queued was delivered or given up on.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let s = &self.shared;
        let mut q = s.lock_queue();
        q.urgent = true;
        s.wake.notify_all();
        loop {
            if q.items.is_empty() && q.in_flight.is_empty() {
                q.urgent = false;
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                q.urgent = false;
                return false;
            }
            q = s
                .wake
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for ReportSender {
    fn drop(&mut self) {
        // Set under the queue's lock: the worker checks the flag and then waits while holding
        // it, so the flag is seen before its wait or the wake-up reaches it in its wait (set
        // without the lock, the wake-up could fall between the two and be lost, and the join
        // below would wait forever).
        {
            let _queue = self.shared.lock_queue();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        self.shared.wake.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl PinEventSink for ReportSender {
    fn pin_event(&self, event: PinEvent) {
        self.shared.enqueue_event(&event);
    }
}

impl Delivery {
    /// `embedded_version`: the version reported while the embedded policy is in force.
    fn new(
        generation: &Generation,
        roots: &Roots,
        clock: &Arc<dyn Clock>,
        app: &AppInfo,
        embedded_version: Option<&String>,
    ) -> Result<Self, ReportError> {
        Ok(Self {
            policy: generation.policy().clone(),
            tls: OnceLock::new(),
            roots: roots.clone(),
            clock: clock.clone(),
            common: Common {
                app: app.clone(),
                policy_version: generation
                    .bundle_version()
                    .map(|v| v.to_string())
                    .or_else(|| embedded_version.cloned()),
            },
        })
    }

    /// The pinned configuration report connections use, built once per generation.
    fn tls(&self) -> Result<Arc<ClientConfig>, ReportError> {
        if let Some(tls) = self.tls.get() {
            return Ok(tls.clone());
        }
        // Report hosts whose rule says `report_delivery = "unpinned"` get ordinary validation;
        // every other pinned host stays pinned. No event hook: a failed delivery is retried,
        // never reported (that would loop).
        let delivery_policy = self
            .policy
            .retain_rules(|r| r.report_delivery() == ReportDelivery::Pinned);
        let tls = PinnedConfig::builder(delivery_policy, self.roots.clone())
            .clock(self.clock.clone())
            .build()?;
        Ok(self.tls.get_or_init(|| Arc::new(tls)).clone())
    }
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The delivery of the generation in force (built when that generation is first used).
    fn delivery(&self) -> Result<Arc<Delivery>, ReportError> {
        let following = self
            .following
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (_, delivery) = following.deliveries.get(|generation| {
            let d = Delivery::new(
                generation,
                &self.roots,
                &self.clock,
                &self.config.app,
                following.embedded_version.as_ref(),
            )?;
            Ok::<_, ReportError>(Arc::new(d))
        })?;
        Ok(delivery)
    }

    fn now_secs(&self) -> i64 {
        i64::try_from(self.clock.now().as_secs()).unwrap_or(i64::MAX)
    }

    /// The reports for one event, each with its destination.
    fn reports_for(&self, event: &PinEvent) -> Vec<(String, Report)> {
        let d = match self.delivery() {
            Ok(d) => d,
            Err(e) => {
                // The policy in force has no usable delivery configuration: nothing can be
                // sent, and saying so is all that is left.
                log::warn!("keypin reports: {e}; report for {event:?} not sent");
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Vec::new();
            }
        };
        let now = self.clock.now();
        let uris_for = |host: &str| -> Vec<String> {
            match d.policy.rule_for(host) {
                Some(rule) if !rule.report_uris().is_empty() => rule.report_uris().to_vec(),
                _ => self.config.default_report_uris.clone(),
            }
        };
        let (uris, report) = match event {
            PinEvent::Refused { failure } | PinEvent::ReportOnlyMismatch { failure, .. } => (
                uris_for(&failure.host),
                Report::pin_mismatch(failure, d.policy.rule_for(&failure.host), now, &d.common),
            ),
            PinEvent::ChainInvalid { host, rule, .. } => {
                let uris = if rule.report_uris().is_empty() {
                    uris_for(host)
                } else {
                    rule.report_uris().to_vec()
                };
                match Report::chain_invalid(event, &d.common) {
                    Some(report) => (uris, report),
                    None => return Vec::new(),
                }
            }
            PinEvent::PinsExpired { host, expires, at } => (
                uris_for(host),
                Report::pins_expired(host, expires, d.policy.rule_for(host), *at, &d.common),
            ),
            PinEvent::UpdateFailed {
                reason,
                current_version,
                at,
            } => (
                self.config.default_report_uris.clone(),
                Report::update_failed(
                    &self.config.update_host,
                    reason,
                    *current_version,
                    *at,
                    &d.common,
                ),
            ),
            _ => return Vec::new(),
        };
        uris.into_iter().map(|u| (u, report.clone())).collect()
    }

    fn set_runtime(&self, findings: Option<Vec<RuntimeFinding>>) {
        let findings = findings.map(crate::runtime::bounded);
        *self.runtime.write().unwrap_or_else(PoisonError::into_inner) = findings;
    }

    fn enqueue_event(&self, event: &PinEvent) {
        match event {
            PinEvent::RuntimeFindings { current, .. } => {
                return self.set_runtime(Some(current.clone()));
            }
            PinEvent::RuntimeScanFailed { .. } => return self.set_runtime(None),
            _ => {}
        }
        let mut reports = self.reports_for(event);
        let runtime = self
            .runtime
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (_, report) in &mut reports {
            report.runtime_findings.clone_from(&runtime);
        }
        if reports.is_empty() {
            return;
        }
        let now = self.now_secs();
        for (uri, report) in reports {
            let key = report.dedup_key(&uri);
            let recent = self
                .dedup
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recently_sent(&key, now);
            let mut q = self.lock_queue();
            if recent || q.in_flight.contains(&key) || q.items.iter().any(|i| i.key == key) {
                self.deduplicated.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if q.items.len() >= self.config.capacity {
                q.items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.items.push_back(Item { uri, key, report });
        }
        self.wake.notify_all();
    }

    /// The worker loop: wait, batch, send, record or back off.
    fn run(self: Arc<Self>) {
        loop {
            let Some((uri, batch)) = self.next_batch() else {
                return;
            };
            let now = self.now_secs();
            let outcome = self.deliver(&uri, &batch);
            let mut q = self.lock_queue();
            q.in_flight.clear();
            match outcome {
                Outcome::Delivered => {
                    q.backoff.remove(&uri);
                    q.last_error = None;
                    self.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    drop(q);
                    let keys: Vec<[u8; 32]> = batch.iter().map(|i| i.key).collect();
                    let (dir, snapshot) = {
                        let mut dedup = self.dedup.lock().unwrap_or_else(PoisonError::into_inner);
                        (dedup.dir().to_path_buf(), dedup.record(&keys, now))
                    };
                    // Serialised and written outside the lock: only this thread writes the
                    // file, and handshake threads never wait on it.
                    match snapshot.to_bytes() {
                        Ok(bytes) => {
                            if let Err(e) = super::dedup::save(&dir, &bytes) {
                                log::warn!(
                                    "keypin reports: cannot save the de-duplication state: {e}"
                                );
                            }
                        }
                        Err(e) => log::warn!(
                            "keypin reports: cannot encode the de-duplication state: {e}"
                        ),
                    }
                }
                Outcome::Rejected(why) => {
                    log::warn!(
                        "keypin reports: {uri} refused {} report(s), not retried: {why}",
                        batch.len()
                    );
                    q.backoff.remove(&uri);
                    q.last_error = Some(format!("{uri}: {why}"));
                    self.rejected
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Outcome::Retry(why) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    log::warn!("keypin reports: delivery to {uri} failed, will retry: {why}");
                    q.last_error = Some(format!("{uri}: {why}"));
                    let (min, max) = (self.config.retry_min, self.config.retry_max);
                    let entry = q.backoff.entry(uri).or_insert((0, Instant::now()));
                    entry.0 = entry.0.saturating_add(1);
                    entry.1 = Instant::now() + http::backoff(entry.0, min, max);
                    // Back at the front, in order; if the queue filled meanwhile, the oldest go.
                    for item in batch.into_iter().rev() {
                        q.items.push_front(item);
                    }
                    while q.items.len() > self.config.capacity {
                        q.items.pop_front();
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            self.wake.notify_all();
        }
    }

    /// Waits for a report whose URI is not backing off (and up to `batch_delay` for more),
    /// then takes a batch for that URI. `None`: stop.
    fn next_batch(&self) -> Option<(String, Vec<Item>)> {
        let mut q = self.lock_queue();
        loop {
            let uri = loop {
                if self.stop.load(Ordering::SeqCst) {
                    return None;
                }
                let now = Instant::now();
                let due = |q: &Queue, uri: &str| q.backoff.get(uri).map_or(now, |(_, t)| *t);
                if let Some(item) = q.items.iter().find(|i| due(&q, &i.uri) <= now) {
                    break item.uri.clone();
                }
                let next = q.items.iter().map(|i| due(&q, &i.uri)).min();
                q = match next {
                    None => self.wake.wait(q).unwrap_or_else(PoisonError::into_inner),
                    Some(t) => {
                        self.wake
                            .wait_timeout(q, t.saturating_duration_since(now))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
            };
            let deadline = Instant::now() + self.config.batch_delay;
            while !q.urgent
                && q.items.iter().filter(|i| i.uri == uri).count() < self.config.batch_size
                && !self.stop.load(Ordering::SeqCst)
            {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                q = self
                    .wake
                    .wait_timeout(q, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            let mut batch = Vec::new();
            let mut rest = VecDeque::with_capacity(q.items.len());
            while let Some(item) = q.items.pop_front() {
                if item.uri == uri && batch.len() < self.config.batch_size {
                    batch.push(item);
                } else {
                    rest.push_back(item);
                }
            }
            q.items = rest;
            q.in_flight = batch.iter().map(|i| i.key).collect();
            if !batch.is_empty() {
                return Some((uri, batch));
            }
            // Its reports were dropped while lingering (the queue was full): look again.
        }
    }

    /// POSTs `batch` as a JSON array. Reports for a malformed URI are rejected, not retried.
    fn deliver(&self, uri: &str, batch: &[Item]) -> Outcome {
        let url = match Url::parse(uri, &["http", "https"]) {
            Ok(u) => u,
            Err(e) => return Outcome::Rejected(e),
        };
        let reports: Vec<&Report> = batch.iter().map(|i| &i.report).collect();
        let body = match serde_json::to_vec(&reports) {
            Ok(b) => b,
            Err(e) => return Outcome::Rejected(e.to_string()),
        };
        let tls = match self.delivery().and_then(|d| d.tls()) {
            Ok(tls) => tls,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        match post(&url, &body, tls, self.config.timeout) {
            Ok(status) if (200..300).contains(&status) => Outcome::Delivered,
            Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                Outcome::Rejected(format!("HTTP status {status}"))
            }
            Ok(status) => Outcome::Retry(format!("HTTP status {status}")),
            Err(e) => Outcome::Retry(e),
        }
    }
}

enum Outcome {
    Delivered,
    Rejected(String),
    Retry(String),
}

/// One POST of a JSON body; returns the status.
fn post(url: &Url, body: &[u8], tls: Arc<ClientConfig>, timeout: Duration) -> Result<u16, String> {
    let tcp = http::connect(&url.host, url.port, timeout, None)?;
    let path = if url.path.is_empty() { "/" } else { &url.path };
    let req = Request {
        method: "POST",
        host: &url.host,
        path,
        headers: &[
            ("Content-Type", "application/json"),
            ("User-Agent", concat!("keypin/", env!("CARGO_PKG_VERSION"))),
        ],
        body,
    };
    let response = if url.scheme == "https" {
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{:?} is not a server name: {e}", url.host))?;
        let conn = ClientConnection::new(tls, name).map_err(|e| e.to_string())?;
        http::exchange(StreamOwned::new(conn, tcp), &req, 64 * 1024)
    } else {
        http::exchange(tcp, &req, 64 * 1024)
    };
    match response {
        Ok(r) => Ok(r.status),
        Err(http::HttpError::TooLarge) => Err("response over 64 KiB".into()),
        Err(http::HttpError::Other(e)) => Err(e),
    }
}
