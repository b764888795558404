//! keypin: certificate and public-key pinning for rustls, checked on the verified path.
//!
//! A rogue, compromised or user-installed certificate authority can issue a certificate for
//! your API that ordinary validation accepts. Pinning says which keys your API may present;
//! keypin checks those pins on the path webpki actually validated (never on what the server
//! merely sent), keeps chain validation, dates and the hostname check, and on failure tells
//! you which host, which certificates and which pins.
//!
//! ```
//! # // Roots::webpki() needs the default `webpki-roots` feature.
//! # #[cfg(feature = "webpki-roots")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use keypin::{PinnedConfig, Policy, Roots};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [[rule]]
//!     hosts = ["api.example.com"]
//!     pins = ["sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",  # current key
//!             "sha256/fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="]  # backup key
//!     expires = "2027-06-30"
//! "#, "embedded policy")?;
//! let config: rustls::ClientConfig = PinnedConfig::builder(policy, Roots::webpki()).build()?;
//! let config = Arc::new(config); // use with rustls::ClientConnection, tokio-rustls, ...
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "webpki-roots"))]
//! # fn main() {}
//! ```
//!
//! Modules: [`pin`] (pins and their spellings), [`host`] (host patterns), [`policy`] (rules,
//! parsing, lookup), [`verifier`] (the rustls verifier), [`roots`], [`events`], [`clock`],
//! [`bundle`] (signed, versioned pin bundles and their root of trust), [`live`] (the policy in
//! force: one handle that every integration and the report sender read); with the `updater`
//! feature, `updater` (fetches bundles and moves the live policy forward for new
//! connections: `PolicyStore::live`); with the
//! `reports` feature, `report` (sends pin-failure reports to a collector, off the handshake path).
//! `ct` feature, `ct` (Certificate Transparency: SCTs embedded or in a validated OCSP staple,
//! against a signed log list).
//! `ocsp` feature, `ocsp` (stapled OCSP responses, checked per rule and for must-staple leaves).
//! mTLS: [`identity`] (the client's certificate and key), [`client_verifier`] (the server
//! side: client chains checked against CAs and a per-identity key allowlist). With the
//! `reqwest`, `hyper`, `tokio-rustls` or `ureq` feature, `integrations` (pinned HTTP clients
//! that also refuse `http://` and https-to-http redirects for pinned hosts).

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod bundle;
pub mod client_verifier;
pub mod clock;
mod config;
#[cfg(feature = "ct")]
pub mod ct;
pub mod dn;
pub mod downgrade;
mod error;
pub mod events;
pub mod host;
#[cfg(any(feature = "updater", feature = "reports"))]
mod http;
pub mod identity;
#[cfg(any(
    feature = "reqwest",
    feature = "hyper",
    feature = "tokio-rustls",
    feature = "ureq"
))]
pub mod integrations;
pub mod live;
#[cfg(feature = "ocsp")]
pub mod ocsp;
#[cfg(any(feature = "updater", feature = "reports"))]
mod persist;
pub mod pin;
pub mod policy;
#[cfg(feature = "reports")]
pub mod report;
pub mod roots;
mod spki_memo;
#[cfg(feature = "updater")]
pub mod updater;
pub mod verifier;
pub mod verify_cache;

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[cfg(any(feature = "updater", feature = "reports"))]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::http::response::fuzz::*;
}

pub use client_verifier::{
    ClientIdentityRule, ClientMatch, ClientOnExpiry, ClientPinFailure, ClientPolicy,
    ClientVerifyError, PinnedClientVerifier,
};
pub use clock::{Clock, Date, ManualClock, SystemClock};
pub use config::{PinnedConfig, PinnedConfigBuilder, Resumption};
pub use downgrade::DowngradeError;
pub use error::{Diagnostic, Error, PinParseError, PolicyError};
pub use events::{ChannelSink, LogSink, PinEvent, PinEventSink};
pub use host::HostPattern;
pub use identity::{ClientIdentity, IdentityError};
pub use pin::{Pin, PinFormat, PinKind};
pub use policy::{
    AnchorSource, Enforcement, Mode, OcspMode, OnExpiry, Policy, ReportDelivery, ReportOnlyReason,
    Rule, RuleSpec, SctRequirement,
};
pub use roots::Roots;
pub use verifier::{
    PathEntry, PinFailure, PinMatch, PinningVerifier, Position, Verdict, VerifyError,
};
