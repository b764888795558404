//! The errors that cross the boundary, and the guard that keeps panics on this side.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Why a call failed. In Kotlin, `KeypinException` with one subclass per variant; its message
/// is keypin's own (what was wrong, where, and what to do).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum KeypinError {
    /// The policy text or its source is invalid (with file, line and field).
    #[error("{0}")]
    Policy(String),
    /// A bundle or root was refused (signature, version, app, expiry, ...).
    #[error("{0}")]
    Bundle(String),
    /// The verified path does not validate under keypin (dates, name, signatures).
    #[error("{0}")]
    Certificate(String),
    /// A pin update failed; the last good pins stay in force.
    #[error("{0}")]
    Update(String),
    /// A state directory could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// An argument was out of bounds or malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// A bug in keypin (a panic caught at the boundary); nothing was changed in force.
    #[error("{0}")]
    Internal(String),
}

/// Runs `f`, turning a panic into [`KeypinError::Internal`] so that none crosses the FFI
/// boundary. `what` names the call for the message.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, KeypinError>) -> Result<T, KeypinError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(KeypinError::Internal(format!(
                "keypin-ffi: internal error in {what} (a panic, caught at the FFI boundary): {detail}; please report it"
            )))
        }
    }
}
