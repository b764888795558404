//! The live policy: an atomic snapshot that handshakes read and the updater replaces.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::ClientConfig;

use crate::error::Error;
use crate::policy::Policy;

/// Where the policy in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// The policy embedded in the app.
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
    config: Arc<ClientConfig>,
}

impl Generation {
    /// Counts up from 0 (the embedded policy) by one per installed policy.
    pub fn number(&self) -> u64 {
        self.number
    }
    /// Where the policy came from.
    pub fn source(&self) -> PolicySource {
        self.source
    }
    /// The policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
    /// The client configuration that enforces it (with its own session cache).
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

type Factory = dyn Fn(Arc<Policy>) -> Result<ClientConfig, Error> + Send + Sync;

/// Holds the live policy. Each new policy gets a **new** `ClientConfig` (built by the factory,
/// normally around [`PinnedConfig`](crate::PinnedConfig)) and so a new, empty session cache:
/// a session verified under old pins is never resumed under new ones (rustls does not
/// re-verify on resumption). Connections in flight keep the config they started with; the
/// write lock is held only for a pointer swap, never during a handshake.
pub struct PolicyStore {
    current: RwLock<Arc<Generation>>,
    factory: Box<Factory>,
}

impl core::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// A store running on the embedded policy. `factory` builds the client configuration for a
    /// policy, e.g. `|p| PinnedConfig::builder(p, roots.clone()).clock(clock.clone()).build()`.
    pub fn new(
        embedded: Arc<Policy>,
        factory: impl Fn(Arc<Policy>) -> Result<ClientConfig, Error> + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let config = Arc::new(factory(embedded.clone())?);
        Ok(Self {
            current: RwLock::new(Arc::new(Generation {
                number: 0,
                source: PolicySource::Embedded,
                policy: embedded,
                config,
            })),
            factory: Box::new(factory),
        })
    }

    /// The generation in force now.
    pub fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The client configuration to use for the next connection.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current().config.clone()
    }

    /// Puts `policy` in force for new connections; returns the new generation number. The
    /// config is built before the lock is taken.
    pub fn install(&self, policy: Arc<Policy>, source: PolicySource) -> Result<u64, Error> {
        let config = Arc::new((self.factory)(policy.clone())?);
        let mut slot = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let number = slot.number.saturating_add(1);
        *slot = Arc::new(Generation {
            number,
            source,
            policy,
            config,
        });
        Ok(number)
    }
}
