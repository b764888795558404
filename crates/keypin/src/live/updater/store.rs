//! The store that moves the live policy forward: it builds each generation's client
//! configuration and publishes it on its [`LivePolicy`], which handshakes, integrations and the
//! report sender read.

use std::sync::Arc;

use rustls::ClientConfig;

use crate::Policy;
use crate::error::Error;
use crate::live::LivePolicy;
use crate::live::bundle::VerifiedBundle;
/// The generation and its source live in [`crate::live`]; named here too, where the store
/// and the updater that produce them are.
pub use crate::live::{Generation, PolicySource};

#[cfg(feature = "ct")]
use crate::ct::LogList;

type Factory = dyn Fn(Arc<Policy>) -> Result<ClientConfig, Error> + Send + Sync;
#[cfg(feature = "ct")]
type CtFactory =
    dyn Fn(Arc<Policy>, Option<Arc<LogList>>) -> Result<ClientConfig, Error> + Send + Sync;

/// How a store builds a generation's client configuration.
enum Build {
    /// From the policy alone ([`PolicyStore::new`]).
    Policy(Box<Factory>),
    /// From the policy and the CT log list in force ([`PolicyStore::with_ct_logs`]).
    #[cfg(feature = "ct")]
    WithCtLogs {
        /// The app's own list: in force whenever the bundle in force carries none.
        app_logs: Option<Arc<LogList>>,
        factory: Box<CtFactory>,
    },
}

/// Holds the live policy. Each new policy gets a **new** `ClientConfig` (built by the factory,
/// normally around [`PinnedConfig`](crate::PinnedConfig)) and so a new, empty session cache:
/// a session verified under old pins is never resumed under new ones (rustls does not
/// re-verify on resumption). Connections in flight keep the config they started with; the
/// write lock is held only for a pointer swap, never during a handshake.
///
/// [`PolicyStore::live`] hands out the handle the integrations and the report sender take:
/// they follow every install without glue code.
pub struct PolicyStore {
    live: LivePolicy,
    build: Build,
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
    ///
    /// A store made this way cannot hand a bundle's CT log list to its configurations: with
    /// the `ct` feature, use `PolicyStore::with_ct_logs` for apps with `require_sct` rules.
    pub fn new(
        embedded: Arc<Policy>,
        factory: impl Fn(Arc<Policy>) -> Result<ClientConfig, Error> + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        Self::start(embedded, Build::Policy(Box::new(factory)))
    }

    /// A store running on the embedded policy whose configurations check SCTs against a CT
    /// log list: the list carried by the bundle in force, or else `app_logs` (the list the
    /// app embeds or loads itself; `None`: rules with `require_sct` refuse until a bundle
    /// brings one). `factory` gets the policy and the list in force, e.g.
    ///
    /// ```ignore
    /// PolicyStore::with_ct_logs(embedded, Some(app_logs), move |policy, logs| {
    ///     let mut b = PinnedConfig::builder(policy, roots.clone());
    ///     if let Some(logs) = logs { b = b.ct_logs(logs); }
    ///     b.build()
    /// })
    /// ```
    #[cfg(feature = "ct")]
    pub fn with_ct_logs(
        embedded: Arc<Policy>,
        app_logs: Option<Arc<LogList>>,
        factory: impl Fn(Arc<Policy>, Option<Arc<LogList>>) -> Result<ClientConfig, Error>
        + Send
        + Sync
        + 'static,
    ) -> Result<Self, Error> {
        Self::start(
            embedded,
            Build::WithCtLogs {
                app_logs,
                factory: Box::new(factory),
            },
        )
    }

    fn start(embedded: Arc<Policy>, build: Build) -> Result<Self, Error> {
        let first = Self::generation(&build, PolicySource::Embedded, embedded, None)?;
        Ok(Self {
            live: LivePolicy::start(first),
            build,
        })
    }

    /// Builds a generation. `bundle_logs`: the CT log list the bundle carries, if any.
    fn generation(
        build: &Build,
        source: PolicySource,
        policy: Arc<Policy>,
        #[cfg(feature = "ct")] bundle_logs: Option<Arc<LogList>>,
        #[cfg(not(feature = "ct"))] _bundle_logs: Option<()>,
    ) -> Result<Generation, Error> {
        match build {
            Build::Policy(factory) => {
                let config = Arc::new(factory(policy.clone())?);
                Ok(Generation::new(
                    source,
                    policy,
                    #[cfg(feature = "ct")]
                    None,
                    config,
                ))
            }
            #[cfg(feature = "ct")]
            Build::WithCtLogs { app_logs, factory } => {
                let ct_logs = bundle_logs.or_else(|| app_logs.clone());
                let config = Arc::new(factory(policy.clone(), ct_logs.clone())?);
                Ok(Generation::new(source, policy, ct_logs, config))
            }
        }
    }

    /// The generation in force now.
    pub fn current(&self) -> Arc<Generation> {
        self.live.current()
    }

    /// The handle on the policy in force, for the integrations
    /// (`keypin::integrations::reqwest::client(store.live())`) and the report sender: it
    /// follows every install.
    pub fn live(&self) -> LivePolicy {
        self.live.clone()
    }

    /// The client configuration to use for the next connection.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.live.client_config()
    }

    /// Puts `policy` in force for new connections, with the app's own CT log list (if the
    /// store has one); returns the new generation number. The config is built before the
    /// lock is taken.
    pub fn install(&self, policy: Arc<Policy>, source: PolicySource) -> Result<u64, Error> {
        self.put(policy, source, None)
    }

    /// Puts a verified bundle in force for new connections: its policy, and the CT log list it
    /// carries (or, when it carries none, the app's own list again). Refused, with nothing
    /// changed, when the bundle carries a list that this store cannot hand to its
    /// configurations ([`PolicyStore::new`]) while a rule of its policy requires SCTs:
    /// checking them against the app's older list instead would not be what the signers
    /// decided.
    pub fn install_bundle(&self, bundle: &VerifiedBundle) -> Result<u64, Error> {
        self.check_bundle(bundle)?;
        let source = PolicySource::Bundle {
            version: bundle.version(),
        };
        #[cfg(feature = "ct")]
        let logs = bundle.ct_logs().cloned();
        #[cfg(not(feature = "ct"))]
        let logs = None;
        self.put(bundle.policy().clone(), source, logs)
    }

    /// Whether [`Self::install_bundle`] would take this bundle (see there).
    pub fn check_bundle(&self, bundle: &VerifiedBundle) -> Result<(), Error> {
        #[cfg(feature = "ct")]
        if let (Build::Policy(_), Some(logs)) = (&self.build, bundle.ct_logs()) {
            let requires_sct = bundle
                .policy()
                .rules()
                .iter()
                .any(|r| r.require_sct().is_some());
            if requires_sct {
                return Err(Error::CtLogList {
                    reason: format!(
                        "pin bundle v{} carries a CT log list ({} logs) for its require_sct \
                         rules, but this PolicyStore was made with PolicyStore::new, which \
                         cannot hand the list to its configurations; make it with \
                         PolicyStore::with_ct_logs",
                        bundle.version(),
                        logs.len()
                    ),
                });
            }
        }
        let _ = bundle;
        Ok(())
    }

    fn put(
        &self,
        policy: Arc<Policy>,
        source: PolicySource,
        #[cfg(feature = "ct")] bundle_logs: Option<Arc<LogList>>,
        #[cfg(not(feature = "ct"))] bundle_logs: Option<()>,
    ) -> Result<u64, Error> {
        let generation = Self::generation(&self.build, source, policy, bundle_logs)?;
        Ok(self.live.publish(generation))
    }
}
