//! keypin-ffi: the narrow surface of keypin that the Kotlin library (`bindings/kotlin`) calls,
//! exported with UniFFI (proc-macros, no UDL).
//!
//! Not the whole library: one object, [`Keypin`], that holds the policy in force and answers
//!
//! - [`Keypin::from_toml`] / [`Keypin::from_bundle`]: a policy from TOML text, or from a
//!   signed bundle verified against the app's root;
//! - [`Keypin::check`]: the pin check on a chain the platform already **verified** (DER, leaf
//!   first, ending with the trust anchor's certificate), never the list a server sent. keypin
//!   validates that path again with the platform's anchor as its only root and matches the
//!   pins on it ([`keypin::verify::PinningVerifier::verify_chain`]), so a certificate that is
//!   not on the verified path never counts (CVE-2016-2402), and the verdict names the matched
//!   pin and its position, or the failure (host, path, expected pins, report-only);
//! - [`Keypin::start_updater`] / [`Keypin::update_now`]: keypin's own updater
//!   ([`keypin::live::updater::Updater`]: root rotations, rollback mark, persistence in the
//!   app's state directory) over a fetcher the app implements ([`BundleFetcher`], OkHttp on the
//!   JVM); the decision and the policy generation in force come back;
//! - [`Keypin::pending_reports`] / [`Keypin::reports_delivered`]: pin-failure reports built by
//!   keypin and de-duplicated across restarts ([`keypin::report::SentLedger`]); the app sends
//!   the bytes.
//!
//! Errors cross as [`KeypinError`] (a Kotlin exception whose message is the library's own).
//! No panic crosses the boundary: every exported call runs under [`guard`], which turns a
//! panic into [`KeypinError::Internal`].
//!
//! # Unsafe code
//!
//! This is the one crate of the workspace that does not `forbid(unsafe_code)`: the
//! `extern "C"` functions UniFFI's macros generate here are unsafe code by nature. The code
//! written in this crate has no `unsafe` block; the rest of the workspace stays `forbid`.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

mod core;
mod error;
mod reports;
mod types;
mod update;

pub use crate::core::{Keypin, KeypinOptions};
pub use error::{KeypinError, guard};
pub use reports::PendingReport;
pub use types::{PathCert, PathPosition, PinFailureInfo, Verdict};
pub use update::{BundleFetcher, FetchFailure, FetchResult, UpdateDecision, UpdaterOptions};

uniffi::setup_scaffolding!();
