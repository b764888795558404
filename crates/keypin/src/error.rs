//! Errors: one enum for the crate, and the detailed values its variants carry.

use core::fmt;
use std::path::PathBuf;

use crate::pin::ACCEPTED_FORMS;
use crate::verifier::PinFailure;

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
    Identity(#[from] crate::identity::IdentityError),
    /// A cleartext request or redirect to a pinned host was refused.
    #[error(transparent)]
    Downgrade(#[from] crate::downgrade::DowngradeError),
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

/// A pin string that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinParseError {
    input: String,
    reason: String,
}

impl PinParseError {
    pub(crate) fn new(input: &str, reason: &str) -> Self {
        let mut input = input.trim().to_string();
        if input.len() > 120 {
            let mut cut = 120;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            input.truncate(cut);
            input.push('…');
        }
        Self {
            input,
            reason: reason.to_string(),
        }
    }

    /// Why the pin was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PinParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid pin {:?}: {}; accepted forms: {ACCEPTED_FORMS}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for PinParseError {}

/// One problem found in a policy, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key the problem is about, such as `rule[2].pins[1]`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A policy that was refused, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Where the policy came from (a path, or a name for embedded text).
    pub source_name: String,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        write!(
            f,
            "policy {} refused ({n} problem{})",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            write!(f, "\n  {}", self.source_name)?;
            if let Some(line) = d.line {
                write!(f, ":{line}")?;
                if let Some(col) = d.column {
                    write!(f, ":{col}")?;
                }
            }
            if let Some(field) = &d.field {
                write!(f, ": {field}")?;
            }
            write!(f, ": {}", d.message)?;
            if let Some(hint) = &d.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
