//! Webhook delivery: one HTTPS client (rustls, aws-lc-rs passed explicitly, Mozilla's roots
//! from keypin), and the retry loop around the ledger's lease.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::config::{Retry, Webhook};
use crate::error::chain;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Posts alert bodies.
#[derive(Clone, Debug)]
pub(crate) struct Poster {
    client: Client<Https, Full<Bytes>>,
}

/// One attempt's result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth another try (a network error, a timeout, 5xx, 408, 429).
    Retry(String),
    /// The webhook refused it for good (other 4xx): retrying would be refused again.
    Refused(String),
}

impl Poster {
    /// A client for `https://` webhooks verified against Mozilla's roots (and `http://`, which
    /// the alerts file allows to loopback only).
    pub(crate) fn new() -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .roots
            .extend(keypin::Roots::webpki().anchors().iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// One POST of `body` (JSON) with the alert id in `X-Keypin-Alert-Id`, within `timeout`.
    pub(crate) async fn post(
        &self,
        to: &Webhook,
        id: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Attempt {
        let req = hyper::Request::post(to.uri().clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("keypin-collector/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Keypin-Alert-Id", id)
            .body(Full::new(body));
        let req = match req {
            Ok(r) => r,
            Err(e) => return Attempt::Refused(format!("cannot build the request: {e}")),
        };
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Attempt::Retry(format!("no answer within {} s", timeout.as_secs_f64())),
            Ok(Err(e)) => Attempt::Retry(chain(&e)),
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                match status {
                    200..=299 => Attempt::Delivered,
                    408 | 429 => Attempt::Retry(format!("HTTP status {status}")),
                    400..=499 => Attempt::Refused(format!("HTTP status {status}")),
                    _ => Attempt::Retry(format!("HTTP status {status}")),
                }
            }
        }
    }
}

/// The wait after failed try number `tries` (1-based): `first`, doubling, at most 2^10 times it.
pub(crate) fn backoff(retry: &Retry, tries: u32) -> Duration {
    retry
        .first
        .saturating_mul(1u32 << tries.saturating_sub(1).min(10))
}
