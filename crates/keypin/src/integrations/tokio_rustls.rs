//! tokio-rustls 0.26: a pinned TLS connector.
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
//!
//! Given a [`LivePolicy`] (`connector(store.live())` with the updater's `PolicyStore`), each
//! connection is made with the generation in force when it starts, so it follows every pin
//! update; a connection keeps its generation (and its session cache) for its whole life.

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::live::{IntoLivePolicy, LivePolicy};

/// A TLS connector over the pinned config of the generation in force. ALPN is whatever that
/// config sets.
#[derive(Debug, Clone)]
pub struct PinnedTlsConnector {
    live: LivePolicy,
}

/// The pinned connector, on a fixed policy ([`crate::PinnedConfigBuilder`]) or on the policy
/// in force ([`LivePolicy`]).
pub fn connector(source: impl IntoLivePolicy) -> Result<PinnedTlsConnector, Error> {
    Ok(PinnedTlsConnector {
        live: source.into_live_policy()?,
    })
}

impl PinnedTlsConnector {
    /// A `tokio_rustls::TlsConnector` over the config of the generation in force now.
    pub fn current(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.live.client_config())
    }

    /// A TLS connection to `domain` over `stream`, under the generation in force now.
    pub fn connect<IO>(&self, domain: ServerName<'static>, stream: IO) -> tokio_rustls::Connect<IO>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.current().connect(domain, stream)
    }

    /// The handle on the policy this connector follows.
    pub fn live(&self) -> &LivePolicy {
        &self.live
    }
}
