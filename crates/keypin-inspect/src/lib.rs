//! What pins are computed over, read from files and from live servers.
//!
//! - [`keyfile`]: certificates, public keys, private keys and CSRs in PEM or DER, each reduced
//!   to the DER `SubjectPublicKeyInfo` its pin is computed over.
//! - [`cert`]: human descriptions of certificates (subject, validity, key type, pins).
//! - [`fetch`]: a TLS handshake that takes the chain a server presents, and its stapled OCSP
//!   response, so that keypin's own verifier can judge them afterwards.
//!
//! The `keypin` command is a thin layer over this crate; the fuzz targets exercise the same
//! readers.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod cert;
mod error;
pub mod fetch;
pub mod keyfile;

pub use error::InspectError;
