//! The updater cycle across the boundary: keypin's own [`Updater`] (root rotations, rollback
//! mark, persistence, expiry) over a fetcher the app implements with its HTTP client.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use keypin::live::updater::{
    CheckOutcome, FetchError, Fetched, Fetcher, PolicyStore, Startup, Updater, UpdaterConfig,
};

use crate::core::{Keypin, config_for, lock};
use crate::error::{KeypinError, guard};

/// What a fetch of one published file returned.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FetchResult {
    /// `200`: the bytes, and the ETag for the next conditional request.
    Content {
        /// The body (at most the `max_bytes` asked for).
        body: Vec<u8>,
        /// The response's ETag, if any.
        etag: Option<String>,
    },
    /// `304 Not Modified`.
    NotModified,
    /// `404`: not published (e.g. no next root yet).
    NotFound,
}

/// Why a fetch failed (network, status, over the cap).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FetchFailure {
    /// The transport failed; `reason` says how.
    #[error("{reason}")]
    Transport {
        /// What went wrong.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for FetchFailure {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Transport {
            reason: format!("the fetcher failed unexpectedly: {}", e.reason),
        }
    }
}

/// Fetches `root-N.json` and `bundle.json` from where bundles are published, conditionally
/// on `etag` (send `If-None-Match`), reading at most `max_bytes` of body. Implemented by the
/// app (OkHttp in `bindings/kotlin`); bundles are signed, so the transport adds no trust.
#[uniffi::export(with_foreign)]
pub trait BundleFetcher: Send + Sync {
    /// One GET of `name`.
    fn fetch(
        &self,
        name: String,
        etag: Option<String>,
        max_bytes: u64,
    ) -> Result<FetchResult, FetchFailure>;
}

/// The app's fetcher as keypin's [`Fetcher`]: the byte cap is enforced here as well.
struct ForeignFetcher(Arc<dyn BundleFetcher>);

impl fmt::Debug for ForeignFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForeignFetcher")
    }
}

impl Fetcher for ForeignFetcher {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.0.fetch(
                name.to_string(),
                etag.map(str::to_string),
                u64::try_from(max_bytes).unwrap_or(u64::MAX),
            )
        }));
        match answer {
            Ok(Ok(FetchResult::Content { body, .. })) if body.len() > max_bytes => {
                Err(FetchError::TooLarge {
                    name: name.to_string(),
                    max: max_bytes,
                })
            }
            Ok(Ok(FetchResult::Content { body, etag })) => Ok(Fetched::Content { body, etag }),
            Ok(Ok(FetchResult::NotModified)) => Ok(Fetched::NotModified),
            Ok(Ok(FetchResult::NotFound)) => Ok(Fetched::NotFound),
            Ok(Err(FetchFailure::Transport { reason })) => Err(FetchError::Transport {
                name: name.to_string(),
                reason,
            }),
            Err(_) => Err(FetchError::Transport {
                name: name.to_string(),
                reason: "the fetcher panicked".into(),
            }),
        }
    }
}

/// Where updates come from and where their state lives.
#[derive(Debug, Clone, uniffi::Record)]
pub struct UpdaterOptions {
    /// This app's id (bundles for other apps are refused).
    pub app_id: String,
    /// This app's environment, like `production`.
    pub environment: String,
    /// The root of trust the app embeds (`root-1.json`'s exact bytes).
    pub embedded_root: Vec<u8>,
    /// The directory the updater owns (created when missing): the last good bundle, the
    /// version mark, the latest time seen.
    pub state_dir: String,
}

/// What an update check decided, and what is in force after it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UpdateDecision {
    /// True when a new bundle is now in force for new connections.
    pub updated: bool,
    /// The version of the bundle in force (`None`: the first, embedded policy).
    pub bundle_version: Option<u64>,
    /// The policy generation in force.
    pub generation: u64,
    /// The root version in force.
    pub root_version: u64,
    /// The version high-water mark (rollback protection).
    pub high_water: Option<u64>,
    /// At start-up: what the updater started on (stored bundle or the first policy, and why).
    pub note: Option<String>,
}

impl Keypin {
    fn decision(&self, updater: &Updater, updated: bool, note: Option<String>) -> UpdateDecision {
        let generation = self.current();
        UpdateDecision {
            updated,
            bundle_version: generation.bundle_version(),
            generation: generation.number(),
            root_version: updater.root_version(),
            high_water: updater.high_water(),
            note,
        }
    }
}

#[uniffi::export]
impl Keypin {
    /// Starts keypin's updater on the policy in force: the stored bundle is put in force if it
    /// still verifies against the embedded root. Call once; a second call is refused.
    pub fn start_updater(
        &self,
        options: UpdaterOptions,
        fetcher: Arc<dyn BundleFetcher>,
    ) -> Result<UpdateDecision, KeypinError> {
        guard("Keypin.startUpdater", || {
            let mut slot = lock(&self.updater);
            if slot.is_some() {
                return Err(KeypinError::InvalidInput(
                    "the updater is already started".into(),
                ));
            }
            let embedded = self.current().policy().clone();
            let store = Arc::new(
                PolicyStore::new(embedded, config_for)
                    .map_err(|e| KeypinError::Policy(e.to_string()))?,
            );
            let config = UpdaterConfig::new(
                &options.app_id,
                &options.environment,
                &options.embedded_root,
                PathBuf::from(&options.state_dir),
            );
            let (updater, startup) = Updater::start(
                config,
                Box::new(ForeignFetcher(fetcher)),
                self.clock.clone(),
                store.clone(),
                None,
            )
            .map_err(|e| KeypinError::Bundle(e.to_string()))?;
            *self
                .live
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = store.live();
            let note = match startup {
                Startup::StoredBundle { version } => format!("stored bundle v{version} in force"),
                Startup::Embedded { reason: None } => "first policy in force".to_string(),
                Startup::Embedded { reason: Some(r) } => {
                    format!("first policy in force; stored state ignored: {r}")
                }
                other => format!("{other:?}"),
            };
            let decision = self.decision(&updater, false, Some(note));
            *slot = Some(updater);
            Ok(decision)
        })
    }

    /// One update check now (fetch roots and the bundle through the app's fetcher, verify,
    /// persist, install). On failure the last good pins stay in force and the error says why.
    pub fn update_now(&self) -> Result<UpdateDecision, KeypinError> {
        guard("Keypin.updateNow", || {
            let slot = lock(&self.updater);
            let updater = slot.as_ref().ok_or_else(|| {
                KeypinError::InvalidInput("the updater is not started (call startUpdater)".into())
            })?;
            match updater.check_now() {
                Ok(CheckOutcome::Updated { .. }) => Ok(self.decision(updater, true, None)),
                Ok(_) => Ok(self.decision(updater, false, None)),
                Err(e) => Err(KeypinError::Update(format!(
                    "pin update failed, the last good pins stay in force: {e}"
                ))),
            }
        })
    }
}
