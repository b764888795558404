//! tokio-rustls 0.26: a pinned `TlsConnector`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keypin::{PinnedConfig, Policy, Roots};
//! use tokio::io::AsyncWriteExt;
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let connector = keypin::integrations::tokio_rustls::connector(
//!     PinnedConfig::builder(policy, Roots::webpki()),
//! )?;
//! let tcp = tokio::net::TcpStream::connect("api.example.com:443").await?;
//! let name = rustls_pki_types::ServerName::try_from("api.example.com")?;
//! let mut tls = connector.connect(name, tcp).await?; // a pin failure is an io::Error here
//! tls.write_all(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n").await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::config::PinnedConfigBuilder;
use crate::error::Error;

/// A `tokio_rustls::TlsConnector` over the pinned config. ALPN is whatever the builder set.
pub fn connector(builder: PinnedConfigBuilder) -> Result<tokio_rustls::TlsConnector, Error> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(builder.build()?)))
}
