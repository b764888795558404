//! hyper-rustls 0.27: a pinned HTTPS connector for hyper-util's client, HTTP/2 and HTTP/1.1,
//! refusing cleartext connections to pinned hosts, and a client that follows pin updates.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use http_body_util::Empty;
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let client = keypin::integrations::hyper::client::<Empty<hyper::body::Bytes>>(
//!     PinnedConfig::builder(policy, Roots::webpki()),
//! )?;
//! let response = client.get("https://api.example.com/".parse()?).await?;
//! # Ok(()) }
//! ```
//!
//! With a [`LivePolicy`] (`client(store.live())` with the updater's `PolicyStore`), the
//! [`PinnedClient`] follows every pin update: each request goes through the hyper-util client
//! of the generation in force, with its own connection pool, so no pooled connection or TLS
//! session crosses generations; requests under way finish where they started.
//!
//! [`connector`] alone, for a hyper-util client you build yourself, makes every new connection
//! with the generation in force, but that client's pool keeps reusing the connections it opened
//! before a pin update: use [`client`] / [`client_with`] to follow updates.
//!
//! hyper-rustls sets ALPN itself (and panics if the config already has some), so the
//! configuration's ALPN is cleared here. hyper does not follow redirects, so the connector
//! sees every URL: one whose scheme is not https for a pinned host is refused before any
//! connection is made.

use core::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Builder, Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower_service::Service;

use crate::downgrade::check_request;
use crate::error::Error;
use crate::live::{Generation, IntoLivePolicy, LivePolicy, PerGeneration};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTPS connector (HTTP/2 and HTTP/1.1 over pinned TLS) that refuses `http://` URIs of
/// pinned hosts, each new connection under the generation in force. Plain `http://` to other
/// hosts goes through, as with hyper-rustls.
#[derive(Clone)]
pub struct PinnedConnector {
    connectors: Arc<PerGeneration<HttpsConnector<HttpConnector>>>,
}

impl fmt::Debug for PinnedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedConnector")
            .field("live", self.connectors.live())
            .finish_non_exhaustive()
    }
}

/// The pinned connector, on a fixed policy ([`crate::PinnedConfigBuilder`]) or on the policy
/// in force ([`LivePolicy`]; see the module docs about the pool).
pub fn connector(source: impl IntoLivePolicy) -> Result<PinnedConnector, Error> {
    Ok(PinnedConnector {
        connectors: Arc::new(PerGeneration::new(source.into_live_policy()?)),
    })
}

/// hyper-rustls' connector over `generation`'s config.
fn https_connector(generation: &Generation) -> HttpsConnector<HttpConnector> {
    // hyper-rustls asserts that the config has no ALPN before it sets h2 and http/1.1.
    let config = generation.client_config_with_alpn(Vec::new());
    let mut http = HttpConnector::new();
    // The https connector needs the inner connector to pass https URIs through.
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(config))
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http)
}

impl Service<Uri> for PinnedConnector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // hyper-rustls' connector over an HttpConnector is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Ok((generation, mut inner)) = self
            .connectors
            .get(|g| Ok::<_, core::convert::Infallible>(https_connector(g)));
        let checked = check_request(
            generation.policy(),
            uri.scheme_str().unwrap_or(""),
            uri.host().unwrap_or(""),
            &uri.to_string(),
        );
        match checked {
            Ok(()) => Box::pin(inner.call(uri)),
            Err(e) => Box::pin(async move { Err(Box::new(e) as BoxError) }),
        }
    }
}

/// A hyper-util client over the pinned connector, one per generation of the policy in force
/// (see the module docs). Clones share the per-generation clients.
pub struct PinnedClient<B> {
    clients: Arc<PerGeneration<Client<PinnedConnector, B>>>,
    connector: PinnedConnector,
    builder: Arc<Builder>,
}

impl<B> Clone for PinnedClient<B> {
    fn clone(&self) -> Self {
        Self {
            clients: self.clients.clone(),
            connector: self.connector.clone(),
            builder: self.builder.clone(),
        }
    }
}

impl<B> fmt::Debug for PinnedClient<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClient")
            .field("live", self.clients.live())
            .finish_non_exhaustive()
    }
}

/// A pinned hyper client with hyper-util's defaults (Tokio executor), on a fixed policy
/// ([`crate::PinnedConfigBuilder`]) or on the policy in force ([`LivePolicy`]).
pub fn client<B>(source: impl IntoLivePolicy) -> Result<PinnedClient<B>, Error>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    client_with(source, Client::builder(TokioExecutor::new()))
}

/// A pinned hyper client made by `builder` (pool, HTTP/2 settings, ...), one per generation.
pub fn client_with<B>(
    source: impl IntoLivePolicy,
    builder: Builder,
) -> Result<PinnedClient<B>, Error>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let connector = connector(source)?;
    Ok(PinnedClient {
        clients: Arc::new(PerGeneration::new(connector.connectors.live().clone())),
        connector,
        builder: Arc::new(builder),
    })
}

impl<B> PinnedClient<B>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// The hyper-util client of the generation in force (built on first use).
    pub fn current(&self) -> Client<PinnedConnector, B> {
        let Ok((_, client)) = self.clients.get(|_| {
            Ok::<_, core::convert::Infallible>(self.builder.build(self.connector.clone()))
        });
        client
    }

    /// Sends `request` through the client of the generation in force.
    pub fn request(&self, request: http::Request<B>) -> ResponseFuture {
        self.current().request(request)
    }

    /// `GET uri` with an empty body.
    pub fn get(&self, uri: Uri) -> ResponseFuture
    where
        B: Default,
    {
        self.current().get(uri)
    }

    /// The handle on the policy this client follows.
    pub fn live(&self) -> &LivePolicy {
        self.clients.live()
    }
}
