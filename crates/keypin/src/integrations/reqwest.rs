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
use crate::downgrade::{DowngradeError, check_redirect_url, check_request};
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

/// Which HTTP versions a pinned client offers (through ALPN).
///
/// reqwest's own `http1_only()` does not change the ALPN of a preconfigured TLS config, so a
/// server that picks h2 would still get HTTP/2: choose the versions here instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpVersions {
    /// HTTP/2 when the server offers it, else HTTP/1.1 (default).
    #[default]
    Http2AndHttp1,
    /// HTTP/1.1 only.
    Http1Only,
}

/// A pinned client with reqwest's defaults otherwise.
pub fn client(builder: PinnedConfigBuilder) -> Result<PinnedClient, Error> {
    PinnedClient::with(builder, HttpVersions::default(), |b| b)
}

/// A `reqwest::ClientBuilder` with the pinned TLS config and the downgrade-checking redirect
/// policy in place, for settings beyond [`PinnedClient::with`]. The first URL of each
/// request is not checked by such a client: check it with [`check_url`] (or use
/// [`PinnedClient`]). Do not replace its redirect policy or its TLS backend.
pub fn client_builder(
    builder: PinnedConfigBuilder,
    versions: HttpVersions,
) -> Result<reqwest::ClientBuilder, Error> {
    let policy = builder.policy();
    let h2 = versions == HttpVersions::Http2AndHttp1;
    let config = builder.alpn(super::http_alpn(h2)).build()?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .redirect(redirect_policy(policy));
    Ok(if h2 { client } else { client.http1_only() })
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
    /// A pinned client offering `versions`; `customize` may change reqwest settings other
    /// than TLS, HTTP versions and the redirect policy (timeouts, headers, ...).
    pub fn with(
        builder: PinnedConfigBuilder,
        versions: HttpVersions,
        customize: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        let policy = builder.policy();
        let client = customize(client_builder(builder, versions)?)
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
