//! Pin-failure reports across the boundary: keypin builds each report and de-duplicates it
//! (in memory and, once delivered, across restarts in the state directory); the app sends
//! the bytes with its own HTTP client, off the failing connection, and says what was delivered.

use std::collections::VecDeque;
use std::path::PathBuf;

use keypin::live::Generation;
use keypin::report::{AppInfo, Report, SentLedger};
use keypin::verify::PinFailure;
use rustls_pki_types::UnixTime;

use crate::core::{Keypin, KeypinOptions, lock};
use crate::error::{KeypinError, guard};

/// An identical report is sent at most once per this window.
const DEDUP_WINDOW_SECS: i64 = 24 * 3600;
/// Most reports a queue may hold, whatever the app asks.
const MAX_QUEUE: usize = 1024;

/// One report to send: POST `body` (JSON, `application/json`) to `uri`, then pass `key` to
/// [`Keypin::reports_delivered`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingReport {
    /// The report URI.
    pub uri: String,
    /// The JSON body: an array holding the one report (as keypin's own sender batches).
    pub body: Vec<u8>,
    /// The de-duplication key (hex).
    pub key: String,
}

#[derive(Debug)]
struct Queued {
    key: [u8; 32],
    report: PendingReport,
}

/// The bounded queue of reports waiting to be sent, and the record of those delivered.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: VecDeque<Queued>,
    capacity: usize,
    dropped: u64,
    ledger: SentLedger,
    app: AppInfo,
    default_uris: Vec<String>,
    warning: Option<String>,
}

fn hex(k: &[u8; 32]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

impl Outbox {
    pub(crate) fn open(options: &KeypinOptions) -> Result<Self, KeypinError> {
        let dir = PathBuf::from(&options.state_dir);
        if options.state_dir.is_empty() {
            return Err(KeypinError::InvalidInput("state_dir is empty".into()));
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            KeypinError::Storage(format!(
                "cannot create the state directory {}: {e}",
                dir.display()
            ))
        })?;
        let (ledger, warning) = SentLedger::open(&dir, DEDUP_WINDOW_SECS);
        let app = AppInfo {
            bundle_id: options.app_id.clone(),
            version: options.app_version.clone(),
            platform: options.platform.clone(),
            ..AppInfo::default()
        };
        Ok(Self {
            queue: VecDeque::new(),
            capacity: (options.report_queue as usize).clamp(1, MAX_QUEUE),
            dropped: 0,
            ledger,
            app,
            default_uris: options.report_uris.clone(),
            warning,
        })
    }

    /// Queues the report of `failure` for each report URI, unless the same report (time
    /// aside) is queued already or was delivered within the window.
    fn offer(&mut self, generation: &Generation, failure: &PinFailure, now: UnixTime) {
        let rule = generation.policy().rule_for(&failure.host);
        let uris: Vec<String> = match rule.map(|r| r.report_uris()) {
            Some(u) if !u.is_empty() => u.to_vec(),
            _ => self.default_uris.clone(),
        };
        if uris.is_empty() {
            return;
        }
        let version = generation.bundle_version().map(|v| v.to_string());
        let report = Report::for_pin_failure(failure, rule, now, &self.app, version);
        let Ok(body) = serde_json::to_vec(&[&report]) else {
            return;
        };
        for uri in uris {
            let key = report.dedup_key(&uri);
            if self.ledger.recently_sent(&key, secs(now)) || self.queue.iter().any(|q| q.key == key)
            {
                continue;
            }
            if self.queue.len() >= self.capacity {
                self.queue.pop_front();
                self.dropped += 1;
            }
            self.queue.push_back(Queued {
                key,
                report: PendingReport {
                    uri,
                    body: body.clone(),
                    key: hex(&key),
                },
            });
        }
    }
}

impl Keypin {
    pub(crate) fn report(&self, generation: &Generation, failure: &PinFailure, now: UnixTime) {
        lock(&self.outbox).offer(generation, failure, now);
    }
}

#[uniffi::export]
impl Keypin {
    /// Up to `max` reports waiting to be sent, oldest first. They stay queued until
    /// [`Self::reports_delivered`] names them (a failed send is simply tried again later).
    pub fn pending_reports(&self, max: u32) -> Vec<PendingReport> {
        guard("Keypin.pendingReports", || {
            Ok(lock(&self.outbox)
                .queue
                .iter()
                .take(max as usize)
                .map(|q| q.report.clone())
                .collect())
        })
        .unwrap_or_default()
    }

    /// Marks reports as delivered (by their `key`): they leave the queue, and the same report
    /// is not queued again within 24 hours, across restarts.
    pub fn reports_delivered(&self, keys: Vec<String>) -> Result<(), KeypinError> {
        guard("Keypin.reportsDelivered", || {
            let mut outbox = lock(&self.outbox);
            let mut done = Vec::new();
            outbox.queue.retain(|q| {
                let hit = keys.contains(&q.report.key);
                if hit {
                    done.push(q.key);
                }
                !hit
            });
            let now = secs(keypin::clock::Clock::now(self.clock.as_ref()));
            outbox
                .ledger
                .record(&done, now)
                .map_err(|e| KeypinError::Storage(format!("cannot record delivered reports: {e}")))
        })
    }

    /// Reports dropped because the queue was full (oldest first).
    pub fn reports_dropped(&self) -> u64 {
        lock(&self.outbox).dropped
    }

    /// Why the record of delivered reports could not be read at start-up, if it could not
    /// (it was then ignored: at worst a report is sent twice).
    pub fn reports_warning(&self) -> Option<String> {
        lock(&self.outbox).warning.clone()
    }
}
