//! Errors: one enum for the crate, and the detailed values its variants carry that have no
//! module of their own below it. A leaf: it names the failure types of `pin`, `policy` and
//! `verify`, and no module it names depends on it, so every module may return [`Error`].

use core::fmt;
use std::path::PathBuf;

use crate::pin::PinParseError;
use crate::policy::PolicyError;
use crate::verify::PinFailure;

/// Everything keypin can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pin string could not be parsed.
    #[error(transparent)]
    Pin(#[from] PinParseError),
    /// A policy file was refused; every problem found is listed.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The verified path carries none of the expected pins.
    #[error(transparent)]
    PinMismatch(#[from] Box<PinFailure>),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A certificate could not be parsed or the trust store could not be built.
    #[error("{context}: {source}")]
    Certificate {
        /// What was being read.
        context: String,
        /// What webpki said.
        source: webpki::Error,
    },
    /// A client identity (certificate chain and key for mTLS) was refused.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A cleartext request or redirect to a pinned host was refused.
    #[error(transparent)]
    Downgrade(#[from] DowngradeError),
    /// An HTTP client integration could not be built.
    #[error("cannot build the {client} client: {reason}")]
    HttpClient {
        /// Which integration.
        client: &'static str,
        /// What it said.
        reason: String,
    },
    /// A TLS configuration could not be built.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A CT log list cannot be used where it was given.
    #[error("CT log list: {reason}")]
    CtLogList {
        /// What is wrong, and what to do.
        reason: String,
    },
}

/// Why a client identity was refused, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityError {
    /// The file (or name) the problem is in.
    pub source_name: String,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client identity {}: {}", self.source_name, self.reason)
    }
}

impl std::error::Error for IdentityError {}

/// A cleartext request that pinning forbids. Hosts are compared in their one normal spelling
/// (an IPv4-mapped IPv6 address is the IPv4 address), the one the policy's rules use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DowngradeError {
    /// The URL that was refused.
    pub url: String,
    /// The host with a pin rule that made it refused, normalised (no brackets, IPv4-mapped
    /// IPv6 as IPv4).
    pub pinned_host: String,
    /// For a redirect: the https URL that redirected to `url`.
    pub redirected_from: Option<String>,
    /// Where the rule is (policy source and line).
    pub rule_location: String,
}

impl fmt::Display for DowngradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.redirected_from {
            Some(from) => write!(
                f,
                "refused to follow the redirect from {from} to {}: {} is pinned ({}), so it is never \
                 contacted without TLS and its responses never send the client to cleartext \
                 (SSL stripping); treat the redirect as an attack, or fix the server to redirect to https://",
                self.url, self.pinned_host, self.rule_location
            ),
            None => write!(
                f,
                "refused to request {} over cleartext: {} is pinned ({}), so it is only contacted \
                 over https://; use an https:// URL",
                self.url, self.pinned_host, self.rule_location
            ),
        }
    }
}

impl std::error::Error for DowngradeError {}
