//! ureq 2: a pinned agent. ureq's own `tls` feature (which forces the ring provider) stays
//! off; keypin plugs its rustls config in through ureq's `TlsConnector` trait.
//!
//! ```no_run
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let agent = keypin::integrations::ureq::agent(PinnedConfig::builder(policy, Roots::webpki()))?;
//! let body = agent.get("https://api.example.com/").call()?.into_string()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Downgrade protection: a request to `http://` on a pinned host is refused before anything is
//! sent. ureq 2 follows redirects inside the call, with no hook per hop, so a pinned agent
//! does **not** follow redirects itself (`redirects(0)`): a 3xx response comes back to the
//! caller, except a redirect to cleartext from or to a pinned host, which is refused with a
//! [`crate::DowngradeError`]. Follow other redirects yourself if you need them.

use core::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls_pki_types::ServerName;

use crate::config::PinnedConfigBuilder;
use crate::downgrade::{check_redirect, check_request};
use crate::error::Error;
use crate::policy::Policy;

/// A pinned `ureq::Agent` with ureq's defaults otherwise.
pub fn agent(builder: PinnedConfigBuilder) -> Result<ureq::Agent, Error> {
    Ok(agent_builder(builder)?.build())
}

/// A `ureq::AgentBuilder` with the pinned TLS connector, the downgrade middleware and
/// `redirects(0)` in place. Do not replace the TLS connector or raise `redirects`: ureq
/// would follow redirects without the downgrade check.
pub fn agent_builder(builder: PinnedConfigBuilder) -> Result<ureq::AgentBuilder, Error> {
    let policy = builder.policy();
    let config = Arc::new(builder.alpn(super::http_alpn(false)).build()?);
    Ok(ureq::AgentBuilder::new()
        .tls_connector(Arc::new(PinnedTls { config }))
        .redirects(0)
        .middleware(Downgrade { policy }))
}

/// ureq's TLS hook: a rustls client connection over the pinned config.
struct PinnedTls {
    config: Arc<rustls::ClientConfig>,
}

impl ureq::TlsConnector for PinnedTls {
    fn connect(
        &self,
        dns_name: &str,
        mut io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        let name = ServerName::try_from(dns_name.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{dns_name:?} is not a valid server name: {e}"),
            )
        })?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // Finish the handshake here, so a pin failure is reported as what it is rather than as
        // a failure to write the request.
        while conn.is_handshaking() {
            conn.complete_io(&mut io)?;
        }
        Ok(Box::new(TlsStream(rustls::StreamOwned::new(conn, io))))
    }
}

struct TlsStream(rustls::StreamOwned<rustls::ClientConnection, Box<dyn ureq::ReadWrite>>);

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("keypin::TlsStream").finish_non_exhaustive()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl ureq::ReadWrite for TlsStream {
    fn socket(&self) -> Option<&TcpStream> {
        self.0.get_ref().socket()
    }
}

/// Refuses cleartext to pinned hosts, and redirects to cleartext from or to them.
struct Downgrade {
    policy: Arc<Policy>,
}

fn refused(e: crate::DowngradeError) -> ureq::Error {
    ureq::Error::from(io::Error::new(io::ErrorKind::PermissionDenied, e))
}

impl ureq::Middleware for Downgrade {
    fn handle(
        &self,
        request: ureq::Request,
        next: ureq::MiddlewareNext<'_>,
    ) -> Result<ureq::Response, ureq::Error> {
        let url = request.request_url()?;
        let (scheme, host) = (url.scheme().to_string(), url.host().to_string());
        check_request(&self.policy, &scheme, &host, request.url()).map_err(refused)?;
        let from = request.url().to_string();
        let response = next.handle(request)?;
        if (300..400).contains(&response.status())
            && let Some(location) = response.header("location")
        {
            let base = url::Url::parse(&from).map_err(|e| {
                refused_other(format!("cannot parse the request URL {from:?}: {e}"))
            })?;
            let to = base.join(location).map_err(|e| {
                refused_other(format!(
                    "cannot parse the redirect location {location:?}: {e}"
                ))
            })?;
            check_redirect(
                &self.policy,
                &scheme,
                &host,
                &from,
                to.scheme(),
                to.host_str().unwrap_or(""),
                to.as_str(),
            )
            .map_err(refused)?;
        }
        Ok(response)
    }
}

fn refused_other(reason: String) -> ureq::Error {
    ureq::Error::from(io::Error::new(io::ErrorKind::InvalidData, reason))
}
