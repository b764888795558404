//! Pinned HTTP clients, each behind its own cargo feature: `reqwest` (0.13), `hyper`
//! (hyper-rustls 0.27), `tokio-rustls` (0.26) and `ureq` (2).
//!
//! Each takes a [`crate::PinnedConfigBuilder`], so pins, roots, clock, events and a client
//! identity (mTLS) are set up the same way for all of them; the crypto provider is always
//! passed explicitly (aws-lc-rs unless you give another), so a second provider in the
//! dependency tree never makes rustls panic. The HTTP ones also refuse `http://` URLs and
//! https-to-http redirects for pinned hosts ([`crate::downgrade`]).
//!
//! Errors: a pin failure or a downgrade refusal sits somewhere in the HTTP client's error
//! chain; [`crate::downgrade::pin_failure_in`] and [`crate::downgrade::downgrade_in`] find
//! them.

#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tokio-rustls")]
pub mod tokio_rustls;
#[cfg(feature = "ureq")]
pub mod ureq;

/// ALPN for HTTP clients that speak both versions: HTTP/2 first, then HTTP/1.1.
#[cfg(any(feature = "reqwest", feature = "ureq"))]
pub(crate) fn http_alpn(h2: bool) -> Vec<Vec<u8>> {
    if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}
