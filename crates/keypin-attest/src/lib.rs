//! Server-side verification of app attestation: Apple App Attest and Android Key Attestation.
//!
//! In-app pinning can be switched off by whoever controls the device (a repackaged build, a
//! hooked verifier); a server that only talks to genuine app instances cannot. This crate is
//! the part of that server that judges the evidence an app sends, and nothing else: it does no
//! I/O, never reads the clock (the time to verify at is passed in), and bounds every input
//! before it decodes it.
//!
//! - [`apple`]: App Attest attestation objects and assertions, verified in the order of Apple's
//!   "Validating apps that connect to your server", each failure a named [`apple::AppleFailure`].
//! - [`android`]: Key Attestation certificate chains: the chain to one of Google's roots, the
//!   revocation status list, and the KeyDescription extension judged against a
//!   [`android::AndroidPolicy`]; the result is a report of every fact checked and the verdict.
//! - [`danger`]: the same checks against test roots instead of Apple's and Google's, for
//!   simulated devices in tests and demos; never for production.
//!
//! ```
//! use keypin_attest::apple::{AppId, AttestationRequest, Environment, verify_attestation};
//! use keypin_attest::UnixTime;
//!
//! let app_id = AppId::parse("6MURL8TA57.de.vincent-haupert.apple-appattest-poc").unwrap();
//! let request = AttestationRequest {
//!     app_id: &app_id,
//!     key_id: &[0u8; 32],
//!     client_data_hash: b"the server's challenge, hashed by the app",
//!     environment: Environment::Production,
//!     now: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
//! };
//! // Not an attestation object: refused, with the reason.
//! assert!(verify_attestation(b"not cbor", &request).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

pub mod android;
pub mod apple;
mod cbor;
mod chain;
pub mod danger;
mod der;

pub use rustls_pki_types::UnixTime;

/// SHA-256 of `parts` concatenated, computed without building the concatenation.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Lower-case hex of `bytes`, for messages and reports.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[doc(hidden)]
pub mod __fuzz {
    //! Entry points for the fuzz targets only; not a stable API.
    pub use crate::android::key_description::KeyDescription;
    pub use crate::cbor::decode_attestation_object;
}
