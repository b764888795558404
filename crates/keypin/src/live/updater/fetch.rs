//! Fetchers: how the updater gets bytes. Bundles and roots are self-authenticating (signed), so
//! the transport needs no trust of its own; the cap on bytes is enforced while reading.

use core::fmt;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::store::PolicyStore;
use crate::http::{self, HttpError, Request, Url};

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// New content, with its ETag when the server sent one.
    Content {
        /// The bytes (at most the cap).
        body: Vec<u8>,
        /// The validator for the next conditional request.
        etag: Option<String>,
    },
    /// `304 Not Modified`: the ETag sent still matches.
    NotModified,
    /// The name does not exist (`404`): e.g. no next root yet.
    NotFound,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// More than the cap; reading stopped at the cap.
    #[error("{name}: response over the {max}-byte cap; refused")]
    TooLarge {
        /// What was fetched.
        name: String,
        /// The cap.
        max: usize,
    },
    /// Network or protocol trouble.
    #[error("{name}: {reason}")]
    Transport {
        /// What was fetched.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// Gets named files (`bundle.json`, `root-2.json`, ...) from wherever bundles are published.
pub trait Fetcher: Send + Sync + fmt::Debug {
    /// Fetches `name`, conditionally on `etag`, reading at most `max_bytes` of body.
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError>;
}

/// Plain HTTP/1.1 over std (one request per connection). Meant for development and tests
/// against `keypin bundle serve`; in production prefer an HTTPS fetcher through a pinned client
/// (the signatures protect the content either way, but HTTPS also hides what is fetched).
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    base: BaseUrl,
    timeout: Duration,
}

impl HttpFetcher {
    /// A fetcher for `http://host:port/prefix/`. Only `http://` URLs are accepted.
    pub fn new(base_url: &str) -> Result<Self, FetchError> {
        Ok(Self {
            base: BaseUrl::parse(base_url, "http")?,
            timeout: Duration::from_secs(15),
        })
    }

    /// Connect, read and write timeout (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn get(&self, name: &str, etag: Option<&str>, max: usize) -> Result<Fetched, GetError> {
        let stream = connect(&self.base, self.timeout, None)?;
        exchange(stream, &self.base, name, etag, max)
    }
}

/// `scheme://host[:port][/prefix]`, parsed once (the shared [`crate::http::Url`]).
#[derive(Debug, Clone)]
struct BaseUrl(Url);

impl BaseUrl {
    fn parse(url: &str, scheme: &'static str) -> Result<Self, FetchError> {
        Url::parse(url, &[scheme])
            .map(Self)
            .map_err(|reason| FetchError::Transport {
                name: url.to_string(),
                reason,
            })
    }

    fn describe(&self, name: &str) -> String {
        format!("{}/{name}", self.0.display())
    }
}

fn connect(
    base: &BaseUrl,
    timeout: Duration,
    fixed: Option<SocketAddr>,
) -> Result<http::Deadline, GetError> {
    Ok(http::connect(&base.0.host, base.0.port, timeout, fixed)?)
}

/// One HTTP/1.1 GET over `stream`, the body capped at `max` bytes.
fn exchange<S: Read + Write>(
    stream: S,
    base: &BaseUrl,
    name: &str,
    etag: Option<&str>,
    max: usize,
) -> Result<Fetched, GetError> {
    let path = format!("{}/{name}", base.0.path);
    let headers: Vec<(&str, &str)> = etag.map(|e| ("If-None-Match", e)).into_iter().collect();
    let response = http::exchange(
        stream,
        &Request {
            method: "GET",
            host: &base.0.host,
            path: &path,
            headers: &headers,
            body: &[],
        },
        max,
    )?;
    match response.status {
        304 => Ok(Fetched::NotModified),
        404 => Ok(Fetched::NotFound),
        200 => Ok(Fetched::Content {
            body: response.body,
            etag: response.etag,
        }),
        other => Err(GetError::Other(format!("HTTP status {other}"))),
    }
}

type GetError = HttpError;

/// The public error for fetching `name` from `base` with a cap of `max` bytes.
fn into_fetch_error(e: GetError, base: &BaseUrl, name: &str, max: usize) -> FetchError {
    match e {
        HttpError::TooLarge => FetchError::TooLarge {
            name: name.to_string(),
            max,
        },
        HttpError::Other(reason) => FetchError::Transport {
            name: base.describe(name),
            reason,
        },
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        self.get(name, etag, max_bytes)
            .map_err(|e| into_fetch_error(e, &self.base, name, max_bytes))
    }
}

impl<F: Fetcher + ?Sized> Fetcher for Arc<F> {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        (**self).fetch(name, etag, max_bytes)
    }
}

/// HTTPS through keypin's own pinned client: each request uses the client configuration the
/// [`PolicyStore`] has in force (so the update host is pinned by the policy, which should carry
/// a rule for it), or a fixed configuration.
#[derive(Debug, Clone)]
pub struct HttpsFetcher {
    base: BaseUrl,
    timeout: Duration,
    tls: TlsSource,
    connect_to: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
enum TlsSource {
    Store(Arc<PolicyStore>),
    Fixed(Arc<ClientConfig>),
}

impl HttpsFetcher {
    /// A fetcher for `https://host[:port]/prefix/` that connects with the live pinned config.
    pub fn new(base_url: &str, store: Arc<PolicyStore>) -> Result<Self, FetchError> {
        Self::with_tls(base_url, TlsSource::Store(store))
    }

    /// A fetcher that always connects with `config` (e.g. a `PinnedConfig` of its own).
    pub fn with_config(base_url: &str, config: Arc<ClientConfig>) -> Result<Self, FetchError> {
        Self::with_tls(base_url, TlsSource::Fixed(config))
    }

    fn with_tls(base_url: &str, tls: TlsSource) -> Result<Self, FetchError> {
        Ok(Self {
            base: BaseUrl::parse(base_url, "https")?,
            timeout: Duration::from_secs(15),
            tls,
            connect_to: None,
        })
    }

    /// Connect, read and write timeout (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to `addr` instead of resolving the URL's host (like curl's `--resolve`); the
    /// TLS server name and the pins are still the URL's host.
    pub fn connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    fn get(&self, name: &str, etag: Option<&str>, max: usize) -> Result<Fetched, GetError> {
        let config = match &self.tls {
            TlsSource::Store(store) => store.client_config(),
            TlsSource::Fixed(config) => config.clone(),
        };
        let server_name = ServerName::try_from(self.base.0.host.clone())
            .map_err(|e| format!("{:?} is not a server name: {e}", self.base.0.host))?;
        let conn = ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
        let tcp = connect(&self.base, self.timeout, self.connect_to)?;
        exchange(StreamOwned::new(conn, tcp), &self.base, name, etag, max)
    }
}

impl Fetcher for HttpsFetcher {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        self.get(name, etag, max_bytes)
            .map_err(|e| into_fetch_error(e, &self.base, name, max_bytes))
    }
}
