//! reqwest 0.13: a pinned client that speaks HTTP/2 and HTTP/1.1 and refuses cleartext for
//! pinned hosts.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let client = keypin::integrations::reqwest::client(PinnedConfig::builder(policy, Roots::webpki()))?;
//! let body = client.get("https://api.example.com/")?.send().await?.text().await?;
//! # Ok(()) }
//! ```
//!
//! Give it a [`LivePolicy`] instead (`client(store.live())` with the updater's `PolicyStore`)
//! and it follows every pin update: each request goes through the reqwest client of the
//! generation in force, built when that generation is first used, with its own connection
//! pool and session cache. Requests already under way finish on the client they started on;
//! no pooled connection or TLS session crosses generations.
//!
//! reqwest takes the rustls config through `tls_backend_preconfigured` and does not set ALPN
//! on it, so keypin offers `h2` and `http/1.1` itself. Every redirect is checked: to
//! `http://` on a pinned host, or from a pinned https origin to any `http://` URL, is refused.
//! reqwest has no hook for the first URL of a request, so [`PinnedClient`] checks it before
//! handing out the request builder.

use core::fmt;
use std::sync::Arc;

use reqwest::redirect;

use crate::Policy;
use crate::downgrade::{DowngradeError, check_redirect_url, check_request};
use crate::error::Error;
use crate::live::{Generation, IntoLivePolicy, LivePolicy, PerGeneration};
use crate::verify::config::PinnedConfigBuilder;

/// How many redirects a pinned client follows (reqwest's default is 10 too).
const MAX_REDIRECTS: usize = 10;

type Customize = dyn Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync;

/// A reqwest client whose TLS pins per keypin's policy in force, and that only hands out
/// requests to pinned hosts over https. Clones share the per-generation clients.
#[derive(Clone)]
pub struct PinnedClient {
    inner: Arc<Inner>,
}

struct Inner {
    clients: PerGeneration<reqwest::Client>,
    versions: HttpVersions,
    customize: Box<Customize>,
}

impl fmt::Debug for PinnedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClient")
            .field("live", self.inner.clients.live())
            .field("versions", &self.inner.versions)
            .finish_non_exhaustive()
    }
}

/// Which HTTP versions a pinned client offers (through ALPN).
///
/// reqwest's own `http1_only()` does not change the ALPN of a preconfigured TLS config, so a
/// server that picks h2 would still get HTTP/2: choose the versions here instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersions {
    /// HTTP/2 when the server offers it, else HTTP/1.1 (default).
    #[default]
    Http2AndHttp1,
    /// HTTP/1.1 only.
    Http1Only,
}

/// A pinned client with reqwest's defaults otherwise, on a fixed policy
/// ([`PinnedConfigBuilder`]) or on the policy in force ([`LivePolicy`]).
pub fn client(source: impl IntoLivePolicy) -> Result<PinnedClient, Error> {
    PinnedClient::live_with(source, HttpVersions::default(), |b| b)
}

/// A `reqwest::ClientBuilder` with the pinned TLS config and the downgrade-checking redirect
/// policy in place, for settings beyond [`PinnedClient::live_with`]. Its policy is fixed: it does
/// not follow a [`LivePolicy`] (a [`PinnedClient`] does). The first URL of each request is not
/// checked by such a client: check it with [`check_url`] (or use [`PinnedClient`]). Do not
/// replace its redirect policy or its TLS backend.
pub fn client_builder(
    builder: PinnedConfigBuilder,
    versions: HttpVersions,
) -> Result<reqwest::ClientBuilder, Error> {
    let live = LivePolicy::fixed(builder)?;
    Ok(generation_builder(&live.current(), &live, versions))
}

/// A `reqwest::ClientBuilder` over `generation`'s config (with the ALPN for `versions`), its
/// redirects checked against the policy in force.
fn generation_builder(
    generation: &Generation,
    live: &LivePolicy,
    versions: HttpVersions,
) -> reqwest::ClientBuilder {
    let h2 = versions == HttpVersions::Http2AndHttp1;
    let config = generation.client_config_with_alpn(super::http_alpn(h2));
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(Arc::unwrap_or_clone(config))
        .redirect(redirect_policy(live.clone()));
    if h2 { client } else { client.http1_only() }
}

/// Refuses a URL whose scheme is not https when its host is pinned.
pub fn check_url(policy: &Policy, url: &reqwest::Url) -> Result<(), DowngradeError> {
    check_request(
        policy,
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.as_str(),
    )
}

fn redirect_policy(live: LivePolicy) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("too many redirects (more than {MAX_REDIRECTS})"));
        }
        let policy = live.policy();
        let to = attempt.url();
        let checked = match attempt.previous().last() {
            Some(from) => check_redirect_url(&policy, from, to),
            None => check_url(&policy, to),
        };
        match checked {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

impl PinnedClient {
    /// A pinned client on a fixed policy offering `versions`; `customize` may change reqwest
    /// settings other than TLS, HTTP versions and the redirect policy (timeouts, headers,
    /// ...). To follow pin updates, use [`PinnedClient::live_with`].
    pub fn with(
        builder: PinnedConfigBuilder,
        versions: HttpVersions,
        customize: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        let live = LivePolicy::fixed(builder)?;
        let generation = live.current();
        let client = customize(generation_builder(&generation, &live, versions))
            .build()
            .map_err(|e| Error::HttpClient {
                client: "reqwest",
                reason: e.to_string(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                clients: PerGeneration::with_value(live, generation.number(), client),
                versions,
                // A fixed policy has no other generation, so the client is never rebuilt.
                customize: Box::new(|b| b),
            }),
        })
    }

    /// A pinned client offering `versions`, on the policy in force ([`LivePolicy`]) or a
    /// fixed one; `customize` may change reqwest settings other than TLS, HTTP versions and
    /// the redirect policy (timeouts, headers, ...). It runs once per generation, when that
    /// generation's client is built.
    pub fn live_with(
        source: impl IntoLivePolicy,
        versions: HttpVersions,
        customize: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let client = Self {
            inner: Arc::new(Inner {
                clients: PerGeneration::new(source.into_live_policy()?),
                versions,
                customize: Box::new(customize),
            }),
        };
        // The first generation's client now, so a setting reqwest refuses fails here.
        client.current()?;
        Ok(client)
    }

    /// The generation in force and its reqwest client (built on first use).
    fn current(&self) -> Result<(Arc<Generation>, reqwest::Client), Error> {
        let inner = &self.inner;
        inner.clients.get(|generation| {
            let builder = generation_builder(generation, inner.clients.live(), inner.versions);
            (inner.customize)(builder)
                .build()
                .map_err(|e| Error::HttpClient {
                    client: "reqwest",
                    reason: e.to_string(),
                })
        })
    }

    /// A request to `url` through the client of the generation in force, refused at once when
    /// it would reach a pinned host in cleartext.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::HttpClient {
            client: "reqwest",
            reason: format!("invalid URL {url:?}: {e}"),
        })?;
        let (generation, client) = self.current()?;
        check_url(generation.policy(), &parsed)?;
        Ok(client.request(method, parsed))
    }

    /// A GET request, see [`Self::request`].
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        self.request(reqwest::Method::GET, url)
    }

    /// A POST request, see [`Self::request`].
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        self.request(reqwest::Method::POST, url)
    }

    /// The policy in force, which URLs are checked against.
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.clients.live().policy()
    }

    /// The handle on the policy this client follows.
    pub fn live(&self) -> &LivePolicy {
        self.inner.clients.live()
    }
}
