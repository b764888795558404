//! The crate's one error type; each variant maps to one HTTP status.

/// Why a request or a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The evidence did not convince (401): attestation, assertion, challenge, counter or
    /// channel binding; the text names the failure.
    #[error("{0}")]
    Refused(String),
    /// Unknown app or install (404).
    #[error("{0}")]
    NotFound(String),
    /// The configuration is wrong (file, field, reason).
    #[error("gate configuration: {0}")]
    Config(String),
    /// The database failed (500).
    #[error("database: {0}")]
    Store(#[from] rusqlite::Error),
    /// Token signing or verification failed.
    #[error("token: {0}")]
    Token(String),
}
