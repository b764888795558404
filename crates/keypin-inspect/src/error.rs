//! What this crate's readers refuse, and where.

use std::path::PathBuf;

/// Why a key file could not be read, a certificate described, or a server's chain fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A key file holds nothing a pin can be computed over, or something malformed.
    #[error("{}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the PEM block or structure it is in, and what is accepted.
        reason: String,
    },
    /// A certificate does not parse.
    #[error("cannot parse certificate: {0}")]
    Certificate(String),
    /// A host, address or option for a fetch is not usable.
    #[error("{0}")]
    Target(String),
    /// The address to dial does not resolve.
    #[error("cannot resolve {target}")]
    Resolve {
        /// The address.
        target: String,
        /// What the resolver said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS connection could not be set up.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// No TCP connection could be made.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The address dialled.
        target: String,
        /// What went wrong (each address tried).
        reason: String,
    },
    /// The TLS handshake did not reach the server's certificate.
    #[error("TLS handshake with {target} ({peer}) failed: {reason}")]
    Handshake {
        /// The address dialled.
        target: String,
        /// The address connected to.
        peer: std::net::SocketAddr,
        /// What failed.
        reason: String,
    },
    /// The handshake finished without a server certificate.
    #[error("the server sent no certificate")]
    NoCertificate,
}

/// Why an inner reader refused its input; the public functions wrap it with the file.
pub(crate) type Reason = String;

/// Prefixes a reason with where it was found (a PEM block, a key structure).
pub(crate) fn within(context: impl std::fmt::Display) -> impl FnOnce(Reason) -> Reason {
    move |reason| format!("{context}: {reason}")
}
