//! The runtime updater (cargo feature `updater`, off by default): fetches signed bundles,
//! verifies them against the embedded root, persists them atomically, and swaps the live
//! policy for new connections.
//!
//! One check ([`Updater::check_now`]) runs these steps, in this order:
//!
//! - U1. Clock: refuse to work if the clock is behind the latest time seen (set back).
//! - U2. Roots: fetch `root-{N+1}.json` until there is none; each must be signed by a threshold
//!   of root N's keys and of its own ([`Root::rotate`]). The version high-water mark is kept
//!   across a rotation while a threshold of the new root accepts the keys that signed the
//!   bundle at the mark ([`Root::accepts_signers`], TUF 5.3.11), so a routine renewal does not
//!   reopen rollback; it is reset when they were rotated out (fast-forward recovery: a huge
//!   version signed by a stolen key cannot freeze the client). The rotations that verified
//!   are persisted at once, before a later failure is returned.
//! - U3. Bundle: a conditional request (`If-None-Match`); `304` or the same bytes cost nothing
//!   more. New bytes are verified by [`Root::verify_bundle`] (byte cap; signatures and
//!   threshold; app; environment; version above the high-water mark; not expired; clock not
//!   behind the latest time seen; policy valid).
//! - U4. Persist (temp file, fsync, rename, fsync dir), then install the policy in the
//!   [`PolicyStore`] (a new `ClientConfig`, so no session resumes past the new pins), with the
//!   CT log list the bundle carries, or else the app's own (`PolicyStore::with_ct_logs`,
//!   feature `ct`).
//!
//! Any failure keeps the last good bundle (or the embedded policy), emits
//! [`PinEvent::UpdateFailed`], and the next check comes after an exponential backoff with
//! jitter. Checks come sooner as the current bundle nears its expiry.
//!
//! At start-up ([`Updater::start`]) the stored bundle is used only if it still verifies against
//! the embedded root (walking the stored rotations; those at or below the embedded root's
//! version are skipped); otherwise the app runs on the embedded policy and the reason is
//! reported. The mark and the latest time seen are kept whenever either stored copy of them
//! (the state file, the mark file) can be read. A whole check holds the state directory's lock
//! (`keypin-state.lock`) and first takes in what another process sharing it wrote. A stored bundle that has since expired is kept in force
//! (the last good pins, never a downgrade to older ones) and reported; the clock check is left
//! to the next update, so a device with a wrong clock keeps its stored pins.

mod fetch;
mod state;
mod store;
mod trust;

pub use fetch::{FetchError, Fetched, Fetcher, HttpFetcher, HttpsFetcher};
pub use state::{LOCK_FILE, MARK_FILE, STATE_FILE, STATE_TEMP_FILE};
pub use store::{Generation, PolicySource, PolicyStore};
pub use trust::{CheckReport, MarkAcrossRotation, Rotation};

use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls_pki_types::UnixTime;

use crate::clock::Clock;
use crate::events::{PinEvent, PinEventSink};
use crate::live::bundle::{
    BundleError, DEFAULT_MAX_BUNDLE_BYTES, Expectations, MAX_ROOT_BYTES, Root, VerifiedBundle,
};
use state::{DirLock, Mark, State, StateDir};

/// At most this many root rotations are walked in one check.
const MAX_ROTATIONS_PER_CHECK: usize = 16;

/// What the updater needs to know. Build with [`UpdaterConfig::new`], adjust the public fields.
#[derive(Debug, Clone)]
pub struct UpdaterConfig {
    /// This app's id (bundles for other apps are refused).
    pub app_id: String,
    /// This app's environment (bundles for other environments are refused).
    pub environment: String,
    /// The root of trust the app embeds (its exact bytes).
    pub embedded_root: Vec<u8>,
    /// Where state is kept (created when missing).
    pub state_dir: PathBuf,
    /// The bundle's name for the fetcher. Default `bundle.json`.
    pub bundle_name: String,
    /// The byte cap on a bundle. Default [`DEFAULT_MAX_BUNDLE_BYTES`].
    pub max_bundle_bytes: usize,
    /// Time between checks when all is well. Default 6 hours.
    pub interval: Duration,
    /// First retry after a failure; doubles per failure. Default 1 minute.
    pub retry_min: Duration,
    /// Longest wait after failures. Default 6 hours.
    pub retry_max: Duration,
    /// The key the app trusts for CT log lists (e.g. `LogListSigner::google()`): a log-list
    /// signature carried in a bundle must verify with it. Default none: the bundle's own
    /// signatures authenticate a carried list. See `Expectations::ct_log_list_signer`.
    #[cfg(feature = "ct")]
    pub ct_log_list_signer: Option<Arc<crate::ct::LogListSigner>>,
    /// With a log-list signer: whether a carried list without its publisher's signature is
    /// refused (default) or, by explicit opt-out, taken on the bundle signatures alone.
    #[cfg(feature = "ct")]
    pub carried_ct_log_list: crate::live::bundle::CarriedLogList,
}

impl UpdaterConfig {
    /// A configuration with the defaults above.
    pub fn new(app_id: &str, environment: &str, embedded_root: &[u8], state_dir: PathBuf) -> Self {
        Self {
            app_id: app_id.into(),
            environment: environment.into(),
            embedded_root: embedded_root.to_vec(),
            state_dir,
            bundle_name: "bundle.json".into(),
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            interval: Duration::from_secs(6 * 3600),
            retry_min: Duration::from_secs(60),
            retry_max: Duration::from_secs(6 * 3600),
            #[cfg(feature = "ct")]
            ct_log_list_signer: None,
            #[cfg(feature = "ct")]
            carried_ct_log_list: crate::live::bundle::CarriedLogList::default(),
        }
    }
}

/// Why a check failed. The last good pins stay in force whatever it says.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The bundle or a root was refused.
    #[error(transparent)]
    Refused(#[from] BundleError),
    /// It could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// No bundle is published under the configured name.
    #[error("no bundle {0:?} is published")]
    NoBundle(String),
    /// The state could not be written.
    #[error("cannot write the updater state {path}: {source}")]
    Storage {
        /// The state file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The new policy's client configuration could not be built.
    #[error(transparent)]
    Config(#[from] crate::Error),
}

/// What the updater started on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Startup {
    /// The stored bundle (it still verifies).
    StoredBundle {
        /// Its version.
        version: u64,
    },
    /// The embedded policy: nothing stored yet (`reason` none), or the stored state was
    /// ignored for `reason`.
    Embedded {
        /// Why the stored state was not used, if there was one.
        reason: Option<String>,
    },
}

/// What a successful check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// A new bundle is in force for new connections.
    Updated {
        /// Its version.
        version: u64,
    },
    /// Nothing new (`304`, or the same bundle again).
    NotModified,
}

#[derive(Debug)]
struct Inner {
    root: Root,
    state: State,
    current: Option<VerifiedBundle>,
    failures: u32,
}

/// Keeps a [`PolicyStore`] up to date from signed bundles. See the module docs for the steps.
#[derive(Debug)]
pub struct Updater {
    config: UpdaterConfig,
    embedded: Root,
    fetcher: Box<dyn Fetcher>,
    clock: Arc<dyn Clock>,
    store: Arc<PolicyStore>,
    events: Option<Arc<dyn PinEventSink>>,
    dir: StateDir,
    inner: Mutex<Inner>,
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

impl Updater {
    /// Loads the stored state, puts the stored bundle in force if it still verifies, and
    /// returns the updater and what it started on. Fails only if the embedded root is invalid
    /// (an app bug). The version mark and the latest time seen are kept whenever either stored
    /// copy of them can be read, even when the bundle cannot be used.
    pub fn start(
        config: UpdaterConfig,
        fetcher: Box<dyn Fetcher>,
        clock: Arc<dyn Clock>,
        store: Arc<PolicyStore>,
        events: Option<Arc<dyn PinEventSink>>,
    ) -> Result<(Self, Startup), UpdateError> {
        let embedded = Root::from_embedded(&config.embedded_root)?;
        let dir = StateDir::new(&config.state_dir, config.max_bundle_bytes);
        let loaded = {
            // Best effort: a directory where the lock cannot be made cannot be written either.
            // A missing directory is not created before the first write.
            let _lock = config.state_dir.is_dir().then(|| dir.lock().ok());
            dir.remove_temp_files();
            dir.load()
        };
        let mut inner = Inner {
            root: embedded.clone(),
            state: State::default(),
            current: None,
            failures: 0,
        };
        let mut problems = loaded.problems;
        let mut startup = Startup::Embedded { reason: None };
        if let Some(state) = loaded.state {
            let recovered = trust::recover(&config, &embedded, state);
            problems.extend(recovered.problems);
            inner.root = recovered.root;
            inner.state = recovered.state;
            match recovered
                .bundle
                .map(|b| b.and_then(|b| put_in_force(&store, b)))
            {
                Some(Ok(bundle)) => {
                    startup = Startup::StoredBundle {
                        version: bundle.version(),
                    };
                    inner.current = Some(bundle);
                }
                Some(Err(reason)) => {
                    // Keep the mark (it still stops rollback), drop the bundle and its ETag so
                    // the next check fetches a fresh one.
                    inner.state.bundle = None;
                    inner.state.etag = None;
                    problems.push(reason);
                }
                None => {}
            }
        }
        let reason = (!problems.is_empty()).then(|| problems.join("; "));
        if let Startup::Embedded { reason: r } = &mut startup {
            r.clone_from(&reason);
        }
        let updater = Self {
            config,
            embedded,
            fetcher,
            clock,
            store,
            events,
            dir,
            inner: Mutex::new(inner),
        };
        match (&startup, reason) {
            (Startup::Embedded { .. }, Some(reason)) => updater.emit_failure(format!(
                "stored pin bundle ignored, running on the embedded policy: {reason}"
            )),
            (Startup::StoredBundle { .. }, Some(reason)) => updater.emit_failure(format!(
                "part of the stored updater state is unreadable, the newest readable copy is used: {reason}"
            )),
            _ => {}
        }
        if let Startup::StoredBundle { .. } = startup {
            updater.report_if_expired();
        }
        Ok((updater, startup))
    }

    /// The store this updater keeps current.
    pub fn store(&self) -> &Arc<PolicyStore> {
        &self.store
    }

    /// The root version in force (the embedded one, or the latest rotation).
    pub fn root_version(&self) -> u64 {
        self.lock().root.version()
    }

    /// The version high-water mark.
    pub fn high_water(&self) -> Option<u64> {
        self.lock().state.high_water
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: PinEvent) {
        if let Some(sink) = &self.events {
            sink.pin_event(event);
        }
    }

    fn emit_failure(&self, reason: String) {
        log::warn!("keypin updater: {reason}");
        let current_version = self.lock().current.as_ref().map(VerifiedBundle::version);
        self.emit(PinEvent::UpdateFailed {
            reason,
            current_version,
            at: self.clock.now(),
        });
    }

    fn report_if_expired(&self) {
        let now = secs(self.clock.now());
        let expired = self.lock().current.as_ref().and_then(|b| {
            (now >= b.expires().start_secs().saturating_add(86_400)).then(|| b.expires())
        });
        if let Some(expires) = expired {
            self.emit_failure(format!(
                "the pin bundle in force expired after {expires}; its pins stay enforced until a newer bundle arrives"
            ));
        }
    }

    fn persist(&self, lock: &DirLock, state: &State) -> Result<(), UpdateError> {
        self.dir
            .save(lock, state)
            .map_err(|source| UpdateError::Storage {
                path: self.dir.path(),
                source,
            })
    }

    /// One check, now (steps U1–U4 in the module docs). On failure nothing changes in force;
    /// the caller (or [`Updater::spawn`]) reports and retries. [`Updater::run_once`] does both.
    /// [`Updater::check`] says more about what the check did.
    pub fn check_now(&self) -> Result<CheckOutcome, UpdateError> {
        self.check().result
    }

    /// One check, like [`Updater::check_now`], with a report: the result, the version mark
    /// before and after, and each root rotation walked with what it did to the mark.
    pub fn check(&self) -> CheckReport {
        let now = self.clock.now();
        let mut inner = self.lock();
        let in_force_before = inner.current.as_ref().map(VerifiedBundle::version);
        let high_water_before = inner.state.high_water;
        let root_before = inner.root.version();
        let mut rotations = Vec::new();
        let result = self.cycle(&mut inner, &mut rotations, now);
        let report = CheckReport {
            result,
            high_water_before,
            high_water_after: inner.state.high_water,
            root_before,
            root_after: inner.root.version(),
            rotations,
        };
        let in_force_after = inner.current.as_ref().map(VerifiedBundle::version);
        drop(inner);
        // A new bundle in force: this check's, or one another process sharing the state
        // directory installed and this one took in.
        if let Some(version) = in_force_after
            && in_force_after != in_force_before
        {
            self.emit(PinEvent::PinsUpdated { version, at: now });
        }
        report
    }

    fn cycle(
        &self,
        inner: &mut Inner,
        rotations: &mut Vec<Rotation>,
        now_t: UnixTime,
    ) -> Result<CheckOutcome, UpdateError> {
        let now = secs(now_t);

        // The whole cycle holds the state directory's lock: another process sharing it waits,
        // and whatever it wrote before is taken in first, so neither lowers the other's mark.
        let lock = self.dir.lock().map_err(|source| UpdateError::Storage {
            path: self.dir.path(),
            source,
        })?;
        self.catch_up(inner);

        // U1. Clock set back: refuse before fetching anything.
        if now < inner.state.latest_seen {
            return Err(BundleError::ClockBehind {
                now,
                latest_seen: inner.state.latest_seen,
            }
            .into());
        }

        // U2. Roots, one step at a time.
        self.walk_roots(inner, rotations, now, &lock)?;

        // U3. The bundle, conditionally.
        let etag = inner.state.etag.clone();
        let fetched = self.fetcher.fetch(
            &self.config.bundle_name,
            etag.as_deref(),
            self.config.max_bundle_bytes,
        )?;
        let (body, etag) = match fetched {
            Fetched::NotModified => return Ok(CheckOutcome::NotModified),
            Fetched::NotFound => {
                return Err(UpdateError::NoBundle(self.config.bundle_name.clone()));
            }
            Fetched::Content { body, etag } => (body, etag),
        };
        if inner.current.as_ref().is_some_and(|b| b.bytes() == body) {
            if inner.state.etag != etag {
                let mut state = inner.state.clone();
                state.etag = etag;
                self.persist(&lock, &state)?;
                inner.state = state;
            }
            return Ok(CheckOutcome::NotModified);
        }
        let bundle =
            inner
                .root
                .verify_bundle(&body, &self.expectations_now(&inner.state, &body), now_t)?;
        // A bundle the store could not put in force is refused before anything is stored.
        self.store.check_bundle(&bundle)?;

        // U4. Persist, then put in force (the policy, and the CT log list the bundle carries or
        //     else the app's own).
        let version = bundle.version();
        let mut state = inner.state.clone();
        state.set_bundle(bundle.bytes());
        state.set_mark(Mark::at(&bundle, inner.root.version()));
        state.latest_seen = state.latest_seen.max(now);
        state.etag = etag;
        self.persist(&lock, &state)?;
        drop(lock);
        inner.state = state;
        self.store.install_bundle(&bundle)?;
        inner.current = Some(bundle);
        Ok(CheckOutcome::Updated { version })
    }

    /// U3's expectations: above the mark (or the very bundle at the mark again, when the state
    /// file that held it was lost), the clock not behind the latest time seen.
    fn expectations_now(&self, state: &State, body: &[u8]) -> Expectations {
        let mut expect = expectations(&self.config);
        if let Some(hw) = state.high_water {
            let again = state.mark_digest.as_deref() == Some(state::digest(body).as_str());
            match (again, hw.checked_sub(1)) {
                (true, Some(below)) => expect = expect.high_water(below),
                (true, None) => {}
                (false, _) => expect = expect.high_water(hw),
            }
        }
        if state.latest_seen > 0 {
            expect = expect.latest_seen(UnixTime::since_unix_epoch(Duration::from_secs(
                u64::try_from(state.latest_seen).unwrap_or(0),
            )));
        }
        expect
    }

    /// U2: walks `root-{N+1}.json` until there is none. Each verified rotation is applied
    /// under the mark rule ([`trust::mark_across`]); the rotations that verified are persisted
    /// before a later failure is returned, and applied in memory only once persisted, so memory
    /// and disk never disagree.
    fn walk_roots(
        &self,
        inner: &mut Inner,
        rotations: &mut Vec<Rotation>,
        now: i64,
        lock: &DirLock,
    ) -> Result<(), UpdateError> {
        let mut root = inner.root.clone();
        let mut state = inner.state.clone();
        let mut walked = Vec::new();
        let mut failed = None;
        for _ in 0..MAX_ROTATIONS_PER_CHECK {
            let name = format!("root-{}.json", root.version().saturating_add(1));
            let body = match self.fetcher.fetch(&name, None, MAX_ROOT_BYTES) {
                Ok(Fetched::Content { body, .. }) => body,
                Ok(Fetched::NotFound | Fetched::NotModified) => break,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let next = match root.rotate(&body) {
                Ok(next) => next,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let mark = trust::mark_across(&mut state, &next);
            walked.push(Rotation {
                from: root.version(),
                to: next.version(),
                mark,
            });
            state.push_root(&body);
            state.etag = None;
            root = next;
        }
        if !walked.is_empty() {
            state.latest_seen = state.latest_seen.max(now);
            self.persist(lock, &state)?;
            inner.root = root;
            inner.state = state;
            *rotations = walked;
        }
        failed.map_or(Ok(()), Err)
    }

    /// Takes in what another process sharing the state directory wrote since this updater
    /// last did (call with the lock held): a newer mark or more rotations replace this one's,
    /// with the stored bundle when it is newer than the one in force; a later time seen is
    /// adopted. Nothing here lowers anything.
    fn catch_up(&self, inner: &mut Inner) {
        let Some(disk) = self.dir.load().state else {
            return;
        };
        if !inner.state.is_behind(&disk) {
            inner.state.latest_seen = inner.state.latest_seen.max(disk.latest_seen);
            return;
        }
        let recovered = trust::recover(&self.config, &self.embedded, disk);
        if recovered.root.version() < inner.root.version() {
            return;
        }
        let mut state = recovered.state;
        state.latest_seen = state.latest_seen.max(inner.state.latest_seen);
        inner.root = recovered.root;
        let current = inner.current.as_ref().map(VerifiedBundle::version);
        match recovered.bundle {
            Some(Ok(b)) if current < Some(b.version()) && self.store.install_bundle(&b).is_ok() => {
                inner.current = Some(b);
            }
            _ => {
                // Keep the bundle in force and ask for the bundle again next time.
                state.etag = None;
                state.bundle = None;
                if let Some(b) = &inner.current {
                    state.set_bundle(b.bytes());
                }
            }
        }
        inner.state = state;
    }

    /// One check with its bookkeeping: on failure emits [`PinEvent::UpdateFailed`] and counts
    /// the failure for the backoff. Returns the check's result and the delay before the next.
    pub fn run_once(&self) -> (Result<CheckOutcome, UpdateError>, Duration) {
        let result = self.check_now();
        match &result {
            Ok(_) => {
                self.lock().failures = 0;
                self.report_if_expired();
            }
            Err(e) => {
                {
                    let mut inner = self.lock();
                    inner.failures = inner.failures.saturating_add(1);
                }
                self.emit_failure(format!("pin update failed: {e}"));
            }
        }
        (result, self.next_delay())
    }

    /// The delay before the next check: the interval when all is well; after failures an
    /// exponential backoff from `retry_min` up to `retry_max`; sooner (a quarter of the time
    /// left, at least `retry_min`) when the bundle in force expires within two intervals; and
    /// ±25 % jitter so a fleet does not check in lockstep.
    pub fn next_delay(&self) -> Duration {
        let inner = self.lock();
        let cfg = &self.config;
        let mut base = if inner.failures == 0 {
            cfg.interval
        } else {
            let factor = 1u32 << inner.failures.saturating_sub(1).min(20);
            cfg.retry_min.saturating_mul(factor).min(cfg.retry_max)
        };
        if let Some(bundle) = &inner.current {
            let now = secs(self.clock.now());
            let left = bundle
                .expires()
                .start_secs()
                .saturating_add(86_400)
                .saturating_sub(now);
            let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
            if left < cfg.interval.saturating_mul(2) {
                base = base.min((left / 4).max(cfg.retry_min));
            }
        }
        drop(inner);
        crate::http::jitter(base)
    }

    /// Runs checks on a background thread until the handle is stopped or dropped.
    pub fn spawn(self: Arc<Self>) -> UpdaterHandle {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("keypin-updater".into())
            .spawn(move || {
                loop {
                    let (_, delay) = self.run_once();
                    match stopped.recv_timeout(delay) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            });
        UpdaterHandle {
            stop: Some(stop),
            thread: thread.ok(),
        }
    }
}

/// The background updater thread; stopped on [`UpdaterHandle::stop`] or drop.
#[derive(Debug)]
pub struct UpdaterHandle {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl UpdaterHandle {
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for UpdaterHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Puts a stored bundle in force at start-up; `Err`: why it cannot be.
fn put_in_force(store: &PolicyStore, bundle: VerifiedBundle) -> Result<VerifiedBundle, String> {
    match store.install_bundle(&bundle) {
        Ok(_) => Ok(bundle),
        Err(e) => Err(format!(
            "the stored bundle v{} cannot be put in force: {e}",
            bundle.version()
        )),
    }
}

/// What this app expects of every bundle: its app and environment, the byte cap, and the
/// log-list signer for a carried CT log list.
fn expectations(config: &UpdaterConfig) -> Expectations {
    let expect =
        Expectations::new(&config.app_id, &config.environment).max_bytes(config.max_bundle_bytes);
    #[cfg(feature = "ct")]
    let expect = expect.carried_ct_log_list(config.carried_ct_log_list);
    #[cfg(feature = "ct")]
    if let Some(signer) = &config.ct_log_list_signer {
        return expect.ct_log_list_signer(signer.clone());
    }
    expect
}
