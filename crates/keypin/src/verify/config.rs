//! A pinned `rustls::ClientConfig` in a few lines.
//!
//! # Session resumption
//!
//! rustls does not re-verify the server's certificate when it resumes a session, so a resumed
//! session could dodge a pin check. keypin's answer: a [`Policy`] is immutable, and a
//! `ClientConfig` built here holds one policy and its own, fresh in-memory session cache. Every
//! session in that cache was verified by this config's verifier under this policy. To change
//! pins, build a new config (the pin-update machinery does exactly that): it starts with an
//! empty cache, so no session verified under the old pins is ever resumed under the new ones.
//! Do not copy `resumption` from another config into a pinned one. Use
//! [`Resumption::Disabled`] to make every handshake a full one.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;

use crate::Policy;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::events::PinEventSink;
use crate::identity::ClientIdentity;
use crate::roots::Roots;
use crate::verify::PinningVerifier;

/// Whether a pinned config may resume TLS sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Resumption {
    /// Resume only sessions this config verified itself (its own cache). Default.
    #[default]
    PerConfig,
    /// Never resume: every connection makes a full handshake and a full pin check.
    Disabled,
}

/// Entry point for a pinned rustls client configuration.
#[derive(Debug)]
pub struct PinnedConfig;

impl PinnedConfig {
    /// Starts a builder. The policy and the trust anchors are required, so they are arguments.
    pub fn builder(policy: impl Into<Arc<Policy>>, roots: Roots) -> PinnedConfigBuilder {
        PinnedConfigBuilder {
            policy: policy.into(),
            roots,
            provider: None,
            clock: Arc::new(SystemClock),
            events: None,
            alpn: Vec::new(),
            resumption: Resumption::default(),
            #[cfg(feature = "ct")]
            ct_logs: None,
            identity: None,
            cache_ttl: crate::verify::cache::DEFAULT_TTL,
            cache_capacity: crate::verify::cache::DEFAULT_CAPACITY,
        }
    }
}

/// Builds a [`PinningVerifier`] and a `rustls::ClientConfig` around it.
#[derive(Debug)]
pub struct PinnedConfigBuilder {
    policy: Arc<Policy>,
    roots: Roots,
    provider: Option<Arc<CryptoProvider>>,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn PinEventSink>>,
    alpn: Vec<Vec<u8>>,
    resumption: Resumption,
    #[cfg(feature = "ct")]
    ct_logs: Option<Arc<crate::ct::LogList>>,
    identity: Option<ClientIdentity>,
    cache_ttl: Duration,
    cache_capacity: usize,
}

impl PinnedConfigBuilder {
    /// The crypto provider (default: aws-lc-rs, passed explicitly so a second provider in the
    /// dependency tree never causes a panic).
    pub fn provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The clock (default: the system clock). Tests and the lab move time with a
    /// [`crate::clock::ManualClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where pin events go (refusals, report-only mismatches, expired pins). Called on the
    /// handshake path: use [`crate::events::ChannelSink`] or another sink that never blocks.
    pub fn events(mut self, sink: Arc<dyn PinEventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    /// ALPN protocols to offer, like `b"h2"` and `b"http/1.1"`.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Session resumption, see the module docs.
    pub fn resumption(mut self, resumption: Resumption) -> Self {
        self.resumption = resumption;
        self
    }

    /// The Certificate Transparency log list (feature `ct`) that rules with `require_sct`
    /// check SCTs (embedded, or in a validated OCSP staple) against. Without it, such rules refuse every connection.
    #[cfg(feature = "ct")]
    pub fn ct_logs(mut self, logs: impl Into<Arc<crate::ct::LogList>>) -> Self {
        self.ct_logs = Some(logs.into());
        self
    }

    /// The client certificate and key to present when a server asks for one (mTLS).
    pub fn client_identity(mut self, identity: ClientIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// How long the verifier may answer a repeat handshake (the same chain, server name and
    /// staple) from its verification cache instead of verifying again: at most this long,
    /// and never past a certificate's notAfter, the rule's `expires`, or the staple's
    /// nextUpdate (see [`crate::verify::cache`]). Only clean acceptances are cached. Default 5
    /// minutes; `Duration::ZERO` turns the cache off.
    pub fn verification_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many chains the verification cache holds at most (default 256; the oldest goes
    /// first when full); 0 turns the cache off.
    pub fn verification_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The policy the config will enforce (a [`crate::live::LivePolicy`] made from this
    /// builder carries it).
    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy)
    }

    /// The CT log list set with [`Self::ct_logs`].
    #[cfg(feature = "ct")]
    pub(crate) fn ct_log_list(&self) -> Option<Arc<crate::ct::LogList>> {
        self.ct_logs.clone()
    }

    fn provider_or_default(&self) -> Arc<CryptoProvider> {
        self.provider
            .clone()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }

    /// Just the verifier, to plug into a config you build yourself.
    pub fn verifier(self) -> Arc<PinningVerifier> {
        let provider = self.provider_or_default();
        let verifier =
            PinningVerifier::new(self.policy, self.roots, &provider, self.clock, self.events)
                .with_verification_cache(self.cache_ttl, self.cache_capacity);
        #[cfg(feature = "ct")]
        let verifier = match self.ct_logs {
            Some(logs) => verifier.with_ct_logs(logs),
            None => verifier,
        };
        Arc::new(verifier)
    }

    /// The pinned client configuration (TLS 1.2 and 1.3).
    pub fn build(self) -> Result<ClientConfig, Error> {
        let provider = self.provider_or_default();
        let alpn = self.alpn.clone();
        let resumption = self.resumption;
        let certified = match &self.identity {
            Some(identity) => Some(identity.certified_key(&provider)?),
            None => None,
        };
        let verifier = self.verifier();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match certified {
            Some(certified) => builder.with_client_cert_resolver(Arc::new(
                rustls::sign::SingleCertAndKey::from(certified),
            )),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn;
        config.resumption = match resumption {
            // A fresh in-memory cache owned by this config alone.
            Resumption::PerConfig => rustls::client::Resumption::in_memory_sessions(256),
            Resumption::Disabled => rustls::client::Resumption::disabled(),
        };
        Ok(config)
    }
}
