//! Configuration errors: what the service was given at start-up and could not use.

use std::path::PathBuf;

/// A setting the collector cannot serve with. Each says which input and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--trust-proxy` was not an address range.
    #[error("--trust-proxy {value:?}: {why} (e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7)")]
    Cidr {
        /// The value given (at most 64 characters of it).
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// A TLS certificate or key file could not be read or parsed.
    #[error("{path}: {why}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        why: String,
    },
    /// The certificate chain and key do not make a usable TLS configuration.
    #[error("TLS certificate {cert} with key {key}: {why}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        why: String,
    },
}

/// An error and its causes, each once ("error connecting to server: Connection refused").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}
