//! hyper-rustls 0.27: a pinned HTTPS connector for hyper-util's client, HTTP/2 and HTTP/1.1,
//! refusing cleartext connections to pinned hosts.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use http_body_util::Empty;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let connector = keypin::integrations::hyper::connector(PinnedConfig::builder(policy, Roots::webpki()))?;
//! let client: Client<_, Empty<hyper::body::Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
//! let response = client.get("https://api.example.com/".parse()?).await?;
//! # Ok(()) }
//! ```
//!
//! hyper-rustls sets ALPN itself (and panics if the config already has some), so the
//! builder's ALPN setting is cleared here. hyper does not follow redirects, so the connector
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
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::config::PinnedConfigBuilder;
use crate::downgrade::check_request;
use crate::error::Error;
use crate::policy::Policy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTPS connector (HTTP/2 and HTTP/1.1 over pinned TLS) that refuses `http://` URIs of
/// pinned hosts. Plain `http://` to other hosts goes through, as with hyper-rustls.
#[derive(Clone)]
pub struct PinnedConnector {
    inner: HttpsConnector<HttpConnector>,
    policy: Arc<Policy>,
}

impl fmt::Debug for PinnedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedConnector")
            .field("policy", &self.policy.source_name())
            .finish_non_exhaustive()
    }
}

/// The pinned connector.
pub fn connector(builder: PinnedConfigBuilder) -> Result<PinnedConnector, Error> {
    let policy = builder.policy();
    // hyper-rustls asserts that the config has no ALPN before it sets h2 and http/1.1.
    let config = builder.alpn(Vec::new()).build()?;
    let mut http = HttpConnector::new();
    // The https connector needs the inner connector to pass https URIs through.
    http.enforce_http(false);
    let inner = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(PinnedConnector { inner, policy })
}

impl Service<Uri> for PinnedConnector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let checked = check_request(
            &self.policy,
            uri.scheme_str().unwrap_or(""),
            uri.host().unwrap_or(""),
            &uri.to_string(),
        );
        match checked {
            Ok(()) => Box::pin(self.inner.call(uri)),
            Err(e) => Box::pin(async move { Err(Box::new(e) as BoxError) }),
        }
    }
}
