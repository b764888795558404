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
//! reqwest takes the rustls config through `tls_backend_preconfigured` and does not set ALPN
//! on it, so keypin offers `h2` and `http/1.1` itself. Every redirect is checked: to
//! `http://` on a pinned host, or from a pinned https origin to any `http://` URL, is refused.
//! reqwest has no hook for the first URL of a request, so [`PinnedClient`] checks it before
//! handing out the request builder.

use std::sync::Arc;

use reqwest::redirect;

use crate::config::PinnedConfigBuilder;
use crate::downgrade::{DowngradeError, check_redirect, check_request};
use crate::error::Error;
use crate::policy::Policy;

/// How many redirects a pinned client follows (reqwest's default is 10 too).
const MAX_REDIRECTS: usize = 10;

/// A reqwest client whose TLS pins per keypin's policy, and that only hands out requests to
/// pinned hosts over https.
#[derive(Debug, Clone)]
pub struct PinnedClient {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

/// A pinned client with reqwest's defaults otherwise.
pub fn client(builder: PinnedConfigBuilder) -> Result<PinnedClient, Error> {
    PinnedClient::with(builder, |b| b)
}

/// A `reqwest::ClientBuilder` with the pinned TLS config and the downgrade-checking redirect
/// policy in place, for settings beyond [`PinnedClient::with`]. The first URL of each
/// request is not checked by such a client: check it with [`check_url`] (or use
/// [`PinnedClient`]). Do not replace its redirect policy or its TLS backend.
pub fn client_builder(builder: PinnedConfigBuilder) -> Result<reqwest::ClientBuilder, Error> {
    let policy = builder.policy();
    let config = builder.alpn(super::http_alpn(true)).build()?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .redirect(redirect_policy(policy)))
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

fn redirect_policy(policy: Arc<Policy>) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("too many redirects (more than {MAX_REDIRECTS})"));
        }
        let to = attempt.url();
        let checked = match attempt.previous().last() {
            Some(from) => check_redirect(
                &policy,
                from.scheme(),
                from.host_str().unwrap_or(""),
                from.as_str(),
                to.scheme(),
                to.host_str().unwrap_or(""),
                to.as_str(),
            ),
            None => check_url(&policy, to),
        };
        match checked {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

impl PinnedClient {
    /// A pinned client; `customize` may change reqwest settings other than TLS and the
    /// redirect policy (timeouts, headers, ...).
    pub fn with(
        builder: PinnedConfigBuilder,
        customize: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        let policy = builder.policy();
        let client =
            customize(client_builder(builder)?)
                .build()
                .map_err(|e| Error::HttpClient {
                    client: "reqwest",
                    reason: e.to_string(),
                })?;
        Ok(Self { client, policy })
    }

    /// A request to `url`, refused at once when it would reach a pinned host in cleartext.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::HttpClient {
            client: "reqwest",
            reason: format!("invalid URL {url:?}: {e}"),
        })?;
        check_url(&self.policy, &parsed)?;
        Ok(self.client.request(method, parsed))
    }

    /// A GET request, see [`Self::request`].
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        self.request(reqwest::Method::GET, url)
    }

    /// A POST request, see [`Self::request`].
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        self.request(reqwest::Method::POST, url)
    }

    /// The policy URLs are checked against.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
}
