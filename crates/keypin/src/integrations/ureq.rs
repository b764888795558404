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
//! [`crate::downgrade::DowngradeError`].
//!
//! To follow redirects, use [`FollowingAgent`] ([`following_agent`]): it follows up to
//! [`MAX_REDIRECTS`] hops itself (301, 302, 303, 307, 308; a relative `Location` is resolved
//! against the URL that answered; 303, and 301/302 after a POST, continue as GET), each hop a
//! new request through the pinned agent, with the downgrade check on every hop. Past the limit
//! it stops with [`FollowError::TooManyRedirects`].
//!
//! ```no_run
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_file("pins.toml")?;
//! let client = keypin::integrations::ureq::following_agent(PinnedConfig::builder(policy, Roots::webpki()))?;
//! let body = client.get("https://api.example.com/moved")?.into_string()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Given a [`LivePolicy`] (`agent(store.live())` with the updater's `PolicyStore`), the agent
//! follows every pin update: a new connection is made with the generation in force, and a
//! pooled connection made under an older generation is not reused for a new request (its
//! first write fails with `ConnectionAborted`, and ureq retries on a new connection). A
//! request under way finishes on its connection.

use core::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls_pki_types::ServerName;

use crate::downgrade::{check_redirect_url, check_request};
use crate::error::Error;
use crate::live::{IntoLivePolicy, LivePolicy, PerGeneration};

/// A pinned `ureq::Agent` with ureq's defaults otherwise, on a fixed policy
/// ([`crate::PinnedConfigBuilder`]) or on the policy in force ([`LivePolicy`]).
pub fn agent(source: impl IntoLivePolicy) -> Result<ureq::Agent, Error> {
    Ok(agent_builder(source)?.build())
}

/// A pinned agent that follows redirects itself, hop by hop (see [`FollowingAgent`]).
pub fn following_agent(source: impl IntoLivePolicy) -> Result<FollowingAgent, Error> {
    let live = source.into_live_policy()?;
    Ok(FollowingAgent {
        agent: agent(&live)?,
        live,
        max_redirects: MAX_REDIRECTS,
    })
}

/// How many redirects a [`FollowingAgent`] follows by default.
pub const MAX_REDIRECTS: usize = 5;

/// A pinned `ureq::Agent` (with `redirects(0)`) that follows redirects itself: each hop is a
/// new request through the pinned agent, and each redirect passes the downgrade check
/// ([`crate::downgrade::check_redirect`]) before it is followed, so an https→http hop from or to a pinned host is
/// refused with a [`crate::downgrade::DowngradeError`] however deep in the chain it comes.
///
/// Followed: 301, 302, 303, 307 and 308 with a `Location` (relative ones resolved against the
/// URL that answered). 303 continues as GET (HEAD stays HEAD), and so do 301 and 302 after a
/// POST, as browsers do; 307 and 308 keep the method. Requests carry no body. Any other
/// response, or a redirect without `Location`, is returned as it is.
#[derive(Clone)]
pub struct FollowingAgent {
    agent: ureq::Agent,
    live: LivePolicy,
    max_redirects: usize,
}

impl fmt::Debug for FollowingAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowingAgent")
            .field("live", &self.live)
            .field("max_redirects", &self.max_redirects)
            .finish_non_exhaustive()
    }
}

/// Why [`FollowingAgent`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// A hop failed: a pin failure, a downgrade refused by the agent, a transport error or a
    /// 4xx/5xx status (ureq's error, with the failing URL).
    #[error("request to {url} failed: {source}")]
    Request {
        /// The URL of the failing hop.
        url: String,
        /// What ureq said (a pin failure or downgrade refusal is in its chain of sources:
        /// [`crate::downgrade::pin_failure_in`], [`crate::downgrade::downgrade_in`]).
        #[source]
        source: Box<ureq::Error>,
    },
    /// A redirect to cleartext from or to a pinned host (the refusal is the source, so
    /// [`crate::downgrade::downgrade_in`] finds it as for every other integration).
    #[error("redirect not followed")]
    Downgrade(#[from] crate::downgrade::DowngradeError),
    /// The server kept redirecting past the limit.
    #[error(
        "too many redirects: still redirected after {max} hops ({}); refused to follow further",
        chain.join(" -> ")
    )]
    TooManyRedirects {
        /// The limit.
        max: usize,
        /// Every URL requested, in order, and the last `Location`.
        chain: Vec<String>,
    },
    /// A redirect whose `Location` is not a URL.
    #[error("{status} redirect from {from} has an unusable Location {location:?}: {reason}")]
    BadLocation {
        /// The URL that answered.
        from: String,
        /// Its status.
        status: u16,
        /// The header as sent.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL to request is not a URL.
    #[error("cannot parse the URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

impl FollowingAgent {
    /// At most `max` redirects (default [`MAX_REDIRECTS`]); 0 follows none and refuses a
    /// redirect with [`FollowError::TooManyRedirects`].
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// The pinned agent underneath (it does not follow redirects).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `GET url`, following redirects.
    pub fn get(&self, url: &str) -> Result<ureq::Response, FollowError> {
        self.call("GET", url)
    }

    /// `method url` without a body, following redirects.
    pub fn call(&self, method: &str, url: &str) -> Result<ureq::Response, FollowError> {
        let mut current = url::Url::parse(url).map_err(|e| FollowError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let mut method = method.to_string();
        let mut chain = Vec::new();
        loop {
            chain.push(current.to_string());
            let response = self
                .agent
                .request_url(&method, &current)
                .call()
                .map_err(|e| FollowError::Request {
                    url: current.to_string(),
                    source: Box::new(e),
                })?;
            let status = response.status();
            let Some(location) = response
                .header("location")
                .filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308))
            else {
                return Ok(response);
            };
            let next = current
                .join(location)
                .map_err(|e| FollowError::BadLocation {
                    from: current.to_string(),
                    status,
                    location: location.to_string(),
                    reason: e.to_string(),
                })?;
            // The agent's middleware checked this redirect already; the hop is followed only
            // after this check too, so it holds whatever agent settings are in place.
            check_redirect_url(&self.live.policy(), &current, &next)?;
            if chain.len() > self.max_redirects {
                chain.push(next.to_string());
                return Err(FollowError::TooManyRedirects {
                    max: self.max_redirects,
                    chain,
                });
            }
            if (status == 303 && method != "HEAD")
                || (matches!(status, 301 | 302) && method == "POST")
            {
                method = "GET".into();
            }
            current = next;
        }
    }
}

/// A `ureq::AgentBuilder` with the pinned TLS connector, the downgrade middleware and
/// `redirects(0)` in place. Do not replace the TLS connector or raise `redirects`: ureq
/// would follow redirects without the downgrade check.
pub fn agent_builder(source: impl IntoLivePolicy) -> Result<ureq::AgentBuilder, Error> {
    let live = source.into_live_policy()?;
    Ok(ureq::AgentBuilder::new()
        .tls_connector(Arc::new(PinnedTls {
            configs: PerGeneration::new(live.clone()),
        }))
        .redirects(0)
        .middleware(Downgrade { live }))
}

/// ureq's TLS hook: a rustls client connection over the pinned config in force (HTTP/1.1).
struct PinnedTls {
    configs: PerGeneration<Arc<rustls::ClientConfig>>,
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
        let Ok((generation, config)) = self.configs.get(|g| {
            Ok::<_, core::convert::Infallible>(g.client_config_with_alpn(super::http_alpn(false)))
        });
        let mut conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // Finish the handshake here, so a pin failure is reported as what it is rather than as
        // a failure to write the request.
        while conn.is_handshaking() {
            conn.complete_io(&mut io)?;
        }
        Ok(Box::new(TlsStream {
            tls: rustls::StreamOwned::new(conn, io),
            live: self.configs.live().clone(),
            generation: generation.number(),
            answered: false,
        }))
    }
}

/// A pinned TLS connection, made under one generation of the policy.
struct TlsStream {
    tls: rustls::StreamOwned<rustls::ClientConnection, Box<dyn ureq::ReadWrite>>,
    live: LivePolicy,
    generation: u64,
    /// Something was read since the last write: the next write starts a new request (ureq
    /// reuses pooled connections), which must not go out under an older generation.
    answered: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("keypin::TlsStream")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.answered = true;
        self.tls.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.answered) {
            let now = self.live.number();
            if now != self.generation {
                // ureq retries a request whose first write on a pooled connection fails, on a
                // new connection: one made under the generation in force.
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!(
                        "this pooled connection was made under pin policy generation {}, \
                         generation {now} is in force: not reused",
                        self.generation
                    ),
                ));
            }
        }
        self.tls.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tls.flush()
    }
}

impl ureq::ReadWrite for TlsStream {
    fn socket(&self) -> Option<&TcpStream> {
        self.tls.get_ref().socket()
    }
}

/// Refuses cleartext to pinned hosts, and redirects to cleartext from or to them, against
/// the policy in force.
struct Downgrade {
    live: LivePolicy,
}
fn refused(e: crate::downgrade::DowngradeError) -> ureq::Error {
    ureq::Error::from(io::Error::new(io::ErrorKind::PermissionDenied, e))
}

impl ureq::Middleware for Downgrade {
    fn handle(
        &self,
        request: ureq::Request,
        next: ureq::MiddlewareNext<'_>,
    ) -> Result<ureq::Response, ureq::Error> {
        let url = request.request_url()?;
        let policy = self.live.policy();
        check_request(&policy, url.scheme(), url.host(), request.url()).map_err(refused)?;
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
            check_redirect_url(&policy, &base, &to).map_err(refused)?;
        }
        Ok(response)
    }
}

fn refused_other(reason: String) -> ureq::Error {
    ureq::Error::from(io::Error::new(io::ErrorKind::InvalidData, reason))
}
