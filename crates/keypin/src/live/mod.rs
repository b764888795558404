//! The policy in force: one handle, [`LivePolicy`], that every integration and the report
//! sender read, and that the updater's `PolicyStore` moves forward.
//!
//! A [`Generation`] is one policy in force: the [`Policy`], the CT log list (feature `ct`), the
//! `rustls::ClientConfig` built for it (with its own session cache), a number and where it came
//! from. A [`LivePolicy`] holds the current generation; reading it is a read lock and an `Arc`
//! clone, cheap enough for every new connection. A static policy is a handle that never moves
//! ([`LivePolicy::fixed`]); with the `updater` feature, `PolicyStore::live` hands out the handle
//! that its installs move forward.
//!
//! The rules every reader keeps:
//!
//! - A new connection uses the generation in force when it starts; a connection already open
//!   keeps the generation it was made with.
//! - No TLS session resumes across generations: each generation has its own `ClientConfig`
//!   and so its own session cache (rustls does not re-verify a resumed session). A reader that
//!   needs another ALPN clones the generation's config ([`Generation::client_config_with_alpn`]);
//!   the clone shares that generation's cache, never another's.
//! - Downgrade and redirect checks use the policy of the generation in force.
//!
//! ```
//! # // Roots::webpki() needs the default `webpki-roots` feature.
//! # #[cfg(feature = "webpki-roots")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keypin::live::LivePolicy;
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [[rule]]
//!     hosts = ["api.example.com"]
//!     pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
//!             "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]
//! "#, "embedded")?;
//! let live = LivePolicy::fixed(PinnedConfig::builder(policy, Roots::webpki()))?;
//! let generation = live.current(); // per new connection
//! assert_eq!(generation.number(), 0);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "webpki-roots"))]
//! # fn main() {}
//! ```
//!
//! Where a new generation comes from: [`bundle`] (signed, versioned pin bundles and their root
//! of trust) and, with the `updater` feature, `updater` (fetches bundles, verifies them against
//! the pinned root, and installs each as the next generation of its `PolicyStore`).

pub mod bundle;
#[cfg(feature = "updater")]
pub mod updater;

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use crate::Policy;
use crate::error::Error;
use crate::verify::config::PinnedConfigBuilder;

#[cfg(feature = "ct")]
use crate::ct::LogList;

/// Where the policy in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySource {
    /// The policy embedded in the app (or any policy given once, never updated).
    Embedded,
    /// A verified bundle.
    Bundle {
        /// The bundle's version.
        version: u64,
    },
}

/// One generation of the live policy and the `ClientConfig` built for it.
#[derive(Debug)]
pub struct Generation {
    number: u64,
    source: PolicySource,
    policy: Arc<Policy>,
    #[cfg(feature = "ct")]
    ct_logs: Option<Arc<LogList>>,
    config: Arc<ClientConfig>,
}

impl Generation {
    /// A generation numbered 0 (a [`LivePolicy`] renumbers what it publishes).
    pub(crate) fn new(
        source: PolicySource,
        policy: Arc<Policy>,
        #[cfg(feature = "ct")] ct_logs: Option<Arc<LogList>>,
        config: Arc<ClientConfig>,
    ) -> Self {
        Self {
            number: 0,
            source,
            policy,
            #[cfg(feature = "ct")]
            ct_logs,
            config,
        }
    }

    /// Counts up from 0 (the embedded policy) by one per installed policy.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Where the policy came from.
    pub fn source(&self) -> PolicySource {
        self.source
    }

    /// The version reports carry: the bundle's version, or `None` for the embedded policy.
    pub fn bundle_version(&self) -> Option<u64> {
        match self.source {
            PolicySource::Bundle { version } => Some(version),
            PolicySource::Embedded => None,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The client configuration that enforces it (with its own session cache).
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A copy of the client configuration offering `alpn`: same verifier, same session cache
    /// (this generation's, so still no resumption across generations).
    pub fn client_config_with_alpn(&self, alpn: Vec<Vec<u8>>) -> Arc<ClientConfig> {
        let mut config = ClientConfig::clone(&self.config);
        config.alpn_protocols = alpn;
        Arc::new(config)
    }

    /// The CT log list its configuration checks SCTs against (a store made with
    /// `PolicyStore::with_ct_logs`: the list of the bundle in force if it carries one,
    /// otherwise the app's own list). `None` when there is none.
    #[cfg(feature = "ct")]
    pub fn ct_logs(&self) -> Option<&Arc<LogList>> {
        self.ct_logs.as_ref()
    }
}

/// The handle on the policy in force. Clones share it. See the module docs.
#[derive(Clone)]
pub struct LivePolicy {
    shared: Arc<Shared>,
}

struct Shared {
    current: RwLock<Arc<Generation>>,
    /// The current generation's number, readable without the lock.
    number: AtomicU64,
    /// Watchers wait here; the mutex holds the number last published.
    published: Mutex<u64>,
    changed: Condvar,
}

impl fmt::Debug for LivePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        f.debug_struct("LivePolicy")
            .field("number", &current.number)
            .field("source", &current.source)
            .field("policy", &current.policy.source_name())
            .finish_non_exhaustive()
    }
}

impl LivePolicy {
    /// A handle that never changes, on the configuration `builder` builds.
    pub fn fixed(builder: PinnedConfigBuilder) -> Result<Self, Error> {
        let policy = builder.policy();
        #[cfg(feature = "ct")]
        let ct_logs = builder.ct_log_list();
        let config = Arc::new(builder.build()?);
        Ok(Self::start(Generation::new(
            PolicySource::Embedded,
            policy,
            #[cfg(feature = "ct")]
            ct_logs,
            config,
        )))
    }

    /// A handle whose first generation is `first` (numbered 0).
    pub(crate) fn start(first: Generation) -> Self {
        Self {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(Generation { number: 0, ..first })),
                number: AtomicU64::new(0),
                published: Mutex::new(0),
                changed: Condvar::new(),
            }),
        }
    }

    /// Puts `next` in force for new connections, numbered one above the current generation;
    /// returns its number. Only a pointer swap happens under the lock.
    #[cfg(feature = "updater")]
    pub(crate) fn publish(&self, next: Generation) -> u64 {
        let s = &self.shared;
        let number = {
            let mut slot = s.current.write().unwrap_or_else(PoisonError::into_inner);
            let number = slot.number.saturating_add(1);
            *slot = Arc::new(Generation { number, ..next });
            s.number.store(number, Ordering::Release);
            number
        };
        *s.published.lock().unwrap_or_else(PoisonError::into_inner) = number;
        s.changed.notify_all();
        number
    }

    /// The generation in force now: read it once per new connection.
    pub fn current(&self) -> Arc<Generation> {
        self.shared
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The number of the generation in force (no lock: to check whether a cached derivative
    /// is still current).
    pub fn number(&self) -> u64 {
        self.shared.number.load(Ordering::Acquire)
    }

    /// The client configuration in force (the current generation's).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current().config.clone()
    }

    /// The policy in force (the current generation's).
    pub fn policy(&self) -> Arc<Policy> {
        self.current().policy.clone()
    }

    /// A watcher that has seen the current generation.
    pub fn watch(&self) -> Watcher {
        Watcher {
            live: self.clone(),
            seen: self.number(),
        }
    }
}

/// Watches a [`LivePolicy`] for new generations (made by [`LivePolicy::watch`]).
#[derive(Debug, Clone)]
pub struct Watcher {
    live: LivePolicy,
    seen: u64,
}

impl Watcher {
    /// Whether a generation newer than the last one seen is in force.
    pub fn has_changed(&self) -> bool {
        self.live.number() != self.seen
    }

    /// The generation in force, marking it seen.
    pub fn current(&mut self) -> Arc<Generation> {
        let current = self.live.current();
        self.seen = current.number;
        current
    }

    /// Blocks until a generation newer than the last one seen is in force, or `timeout`
    /// passes (`None`). Returns the new generation, marked seen.
    pub fn wait_for_change(&mut self, timeout: Duration) -> Option<Arc<Generation>> {
        let deadline = Instant::now() + timeout;
        let s = &self.live.shared;
        let mut published = s.published.lock().unwrap_or_else(PoisonError::into_inner);
        while *published == self.seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            published = s
                .changed
                .wait_timeout(published, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(published);
        Some(self.current())
    }
}

/// What an integration or the report sender can be built from: a [`LivePolicy`] (follows
/// every new generation) or a [`PinnedConfigBuilder`] (a fixed policy, built once).
pub trait IntoLivePolicy {
    /// The handle.
    fn into_live_policy(self) -> Result<LivePolicy, Error>;
}

impl IntoLivePolicy for LivePolicy {
    fn into_live_policy(self) -> Result<LivePolicy, Error> {
        Ok(self)
    }
}

impl IntoLivePolicy for &LivePolicy {
    fn into_live_policy(self) -> Result<LivePolicy, Error> {
        Ok(self.clone())
    }
}

impl IntoLivePolicy for PinnedConfigBuilder {
    fn into_live_policy(self) -> Result<LivePolicy, Error> {
        LivePolicy::fixed(self)
    }
}

/// A value derived from a generation (a reqwest client, a connector, ...), rebuilt when the
/// generation in force changes. The check is one atomic read; the rebuild happens outside
/// the lock, and a value built for an older generation is never handed out.
#[cfg(any(
    feature = "reqwest",
    feature = "hyper",
    feature = "ureq",
    feature = "reports"
))]
pub(crate) struct PerGeneration<T> {
    live: LivePolicy,
    slot: Mutex<Option<(u64, T)>>,
}

#[cfg(any(
    feature = "reqwest",
    feature = "hyper",
    feature = "ureq",
    feature = "reports"
))]
impl<T: Clone> PerGeneration<T> {
    pub(crate) fn new(live: LivePolicy) -> Self {
        Self {
            live,
            slot: Mutex::new(None),
        }
    }

    /// Starts with `value` for generation `number`.
    #[cfg(feature = "reqwest")]
    pub(crate) fn with_value(live: LivePolicy, number: u64, value: T) -> Self {
        Self {
            live,
            slot: Mutex::new(Some((number, value))),
        }
    }

    pub(crate) fn live(&self) -> &LivePolicy {
        &self.live
    }

    /// The value for the generation in force, and that generation; `build` makes it when
    /// the cached one is for another generation.
    pub(crate) fn get<E>(
        &self,
        build: impl FnOnce(&Generation) -> Result<T, E>,
    ) -> Result<(Arc<Generation>, T), E> {
        let generation = self.live.current();
        {
            let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((number, value)) = slot.as_ref()
                && *number == generation.number
            {
                return Ok((generation, value.clone()));
            }
        }
        let value = build(&generation)?;
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_none_or(|(n, _)| *n < generation.number) {
            *slot = Some((generation.number, value.clone()));
        }
        Ok((generation, value))
    }
}
