//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong while making certificates or running the test server.
///
/// Each variant says what was being done when it failed, so a failing test reads well.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// rcgen refused to build or sign a certificate or key.
    Rcgen {
        /// What was being done.
        context: String,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// A file or socket operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// rustls refused a configuration, key or certificate.
    Tls {
        /// What was being done.
        context: String,
        /// rustls' error.
        source: rustls::Error,
    },
    /// A key-generation or signing primitive failed.
    Crypto {
        /// What was being done.
        context: String,
    },
    /// A DER structure this crate reads (an RSA key, a certificate it is re-signing) was not
    /// what it expected.
    Der {
        /// What was wrong.
        context: String,
    },
    /// The requested combination is not something this crate can produce.
    Unsupported {
        /// What was asked for, and why it cannot be done.
        what: String,
    },
}

impl Error {
    pub(crate) fn rcgen(context: impl Into<String>) -> impl FnOnce(rcgen::Error) -> Error {
        let context = context.into();
        move |source| Error::Rcgen { context, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    pub(crate) fn tls(context: impl Into<String>) -> impl FnOnce(rustls::Error) -> Error {
        let context = context.into();
        move |source| Error::Tls { context, source }
    }

    pub(crate) fn crypto(context: impl Into<String>) -> Error {
        Error::Crypto {
            context: context.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rcgen { context, source } => write!(f, "{context}: {source}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Tls { context, source } => write!(f, "{context}: {source}"),
            Error::Crypto { context } => write!(f, "{context}: cryptographic operation failed"),
            Error::Der { context } => write!(f, "{context}"),
            Error::Unsupported { what } => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rcgen { source, .. } => Some(source),
            Error::Io { source, .. } => Some(source),
            Error::Tls { source, .. } => Some(source),
            Error::Crypto { .. } | Error::Der { .. } | Error::Unsupported { .. } => None,
        }
    }
}
