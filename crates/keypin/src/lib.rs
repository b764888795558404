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
//! The crate reads in the order a connection uses it:
//! - [`policy`]: what is pinned. Rules for hosts ([`pin`], [`host`]), parsed once from TOML
//!   into a typed, indexed [`Policy`]; the mTLS client allowlist too.
//! - [`verify`]: how it is checked. The rustls verifier ([`verify::PinningVerifier`], built by
//!   [`PinnedConfig`] over [`Roots`]): path building with the pins checked on the verified
//!   path, the hostname, then the optional checks (OCSP, CT); its verdicts and failures; the
//!   verification cache; and the server side of mTLS ([`verify::PinnedClientVerifier`]).
//! - [`live`]: how it changes. One handle for the policy in force ([`live::LivePolicy`]) that
//!   every integration reads per connection; signed pin bundles ([`live::bundle`]) and, with
//!   the `updater` feature, the updater that moves the live policy forward.
//! - What a failure produces: [`events`] (one event per decision), and with the `reports`
//!   feature, `report` (pin-failure reports sent to a collector, off the handshake path).
//! - Protocols behind features: `ct` (Certificate Transparency: SCTs embedded or in a validated
//!   OCSP staple, against a signed log list), `ocsp` (stapled OCSP responses).
//! - Around it: [`identity`] (the client's certificate and key for mTLS), [`downgrade`]
//!   (refusing `http://` to pinned hosts), [`clock`], [`dn`]; with the `reqwest`, `hyper`,
//!   `tokio-rustls` or `ureq` feature, `integrations` (pinned HTTP clients that follow the
//!   live policy).
//!
//! Each item has one public path; the root holds the entry points only: [`Policy`],
//! [`PinnedConfig`], [`Roots`] and the crate's [`Error`].

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod channel_binding;
pub mod clock;
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
mod roots;
pub mod runtime;
pub mod verify;

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[cfg(any(feature = "updater", feature = "reports"))]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::http::response::fuzz::*;
}

pub use error::Error;
pub use policy::index::Policy;
pub use roots::Roots;
pub use verify::config::{PinnedConfig, PinnedConfigBuilder, Resumption};
