//! Pin-failure reports (cargo feature `reports`, off by default): what happened, sent to a
//! report URI off the handshake path.
//!
//! A [`ReportSender`] is a [`crate::events::PinEventSink`]: give it to the pinned configuration and
//! every refused or report-only pin mismatch, every chain-validation failure of a pinned host,
//! every connection on expired pins and every failed pin update becomes a [`Report`]: the
//! RFC 7469 §3 report (every field; chains in PEM) plus TrustKit's app fields plus keypin's own
//! (`policy-version`, `mode`, `failure`, `rule`, and `runtime-findings`: the app's runtime
//! integrity findings as last set with [`ReportSender::set_runtime_findings`] or a
//! [`crate::events::PinEvent::RuntimeFindings`]). `keypin collector serve` accepts it, and so
//! does any HPKP or TrustKit report server (they ignore what they do not know).
//!
//! ```no_run
//! use std::sync::Arc;
//! use keypin::report::{ReportSender, ReportSenderConfig};
//! use keypin::{PinnedConfig, Policy, Roots, clock::SystemClock};
//!
//! let policy = Arc::new(Policy::from_file("pins.toml")?); // rules may set report_uris
//! let mut config = ReportSenderConfig::new("/var/lib/myapp/keypin");
//! config.default_report_uris = vec!["https://reports.example.com/v1/reports".into()];
//! config.app.bundle_id = Some("com.example.app".into());
//! config.app.version = Some("1.4.2".into());
//! let sender = ReportSender::start(config, policy.clone(), Roots::webpki(), Arc::new(SystemClock))?;
//! let tls = PinnedConfig::builder(policy, Roots::webpki()).events(sender.clone()).build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the updater, start the sender first (the store's configurations take it as their
//! event sink), then `sender.follow(&store.live())`, or use [`ReportSender::start_live`] when
//! the sink is wired otherwise: each report then carries the rules, report URIs and version
//! (the bundle's) of the generation in force.
//!
//! How it sends: the handshake thread builds the report and puts it on a bounded queue (when
//! full, the oldest report is dropped and counted: [`ReportSender::dropped`]); one thread
//! batches reports per URI (a JSON array per POST), retries failures with exponential backoff
//! and jitter, and sends an identical report (time aside) at most once per 24 hours — a state
//! file in the state directory (written atomically) keeps that across restarts.
//!
//! Report URIs on a pinned host: delivery is pinned by the same policy (RFC 7469 §3) and
//! retried on failure; only a rule that says `report_delivery = "unpinned"` lets reports to its
//! hosts through on ordinary validation. Deliveries never raise pin events, so a failing
//! report host cannot start a report loop.

mod dedup;
mod model;
mod sender;
mod wire;

pub use dedup::{DEDUP_FILE, DEDUP_TEMP_FILE, SentLedger};
pub use model::{AppInfo, FailureKind};
pub use sender::{ReportError, ReportSender, ReportSenderConfig, ReportStats};
pub use wire::{ReceivedReport, Report};
