//! The event hook: how the verifier tells the rest of the app that pinning fired.
//!
//! The verifier calls [`PinEventSink::pin_event`] on the handshake thread, so a sink must
//! return at once. [`ChannelSink`] does that: it hands the event to a bounded queue with
//! `try_send` and counts what it had to drop; a reporter drains the queue elsewhere.

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use rustls_pki_types::{CertificateDer, UnixTime};

use crate::policy::{ReportOnlyReason, Rule};
use crate::runtime::RuntimeFinding;
use crate::verify::PinFailure;

/// Something pinning wants someone to know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PinEvent {
    /// A pin mismatch refused the connection.
    Refused {
        /// The details.
        failure: Box<PinFailure>,
    },
    /// A pin mismatch was let through because the rule is report-only (configured, or
    /// because its pins expired).
    ReportOnlyMismatch {
        /// Why the rule was only reporting.
        reason: ReportOnlyReason,
        /// The details.
        failure: Box<PinFailure>,
    },
    /// A host covered by a rule presented a chain that failed ordinary validation (an
    /// untrusted issuer, an expired or misnamed certificate, ...): the connection was refused
    /// before any pin could match. The classic interception case. Sent only on that failure.
    ChainInvalid {
        /// The host connected to.
        host: String,
        /// The port, when known (a rustls verifier is never told it: `None` from a handshake).
        port: Option<u16>,
        /// The chain as the server sent it, leaf first.
        served_chain: Vec<CertificateDer<'static>>,
        /// The rule that covers the host.
        rule: Box<Rule>,
        /// Where the rule is (policy source and line).
        rule_location: String,
        /// Why validation failed.
        error: rustls::Error,
        /// When it happened.
        at: UnixTime,
    },
    /// A rule's Certificate Transparency requirement refused the connection (feature `ct`).
    #[cfg(feature = "ct")]
    CtRefused {
        /// The details: each SCT and why it did or did not count.
        failure: Box<crate::ct::CtFailure>,
    },
    /// A connection used a rule whose pins have expired: it is no longer enforced.
    /// Sent on every such connection, whether the pins matched or not, so that an expired
    /// pin set is never silent.
    PinsExpired {
        /// The host connected to.
        host: String,
        /// The rule's last valid date, `YYYY-MM-DD`.
        expires: String,
        /// When it was seen.
        at: UnixTime,
    },
    /// A pin update was refused or could not be fetched. The last good pins stay in force
    /// (never less than the embedded policy); the updater retries with backoff.
    UpdateFailed {
        /// Why, for a person.
        reason: String,
        /// The version of the bundle still in force, if any (none: the embedded policy).
        current_version: Option<u64>,
        /// When it happened.
        at: UnixTime,
    },
    /// New pins from a verified bundle are in force for new connections.
    PinsUpdated {
        /// The bundle's version.
        version: u64,
        /// When it happened.
        at: UnixTime,
    },
    /// The OCSP check (rule `ocsp = ...` or a must-staple leaf) refused the connection:
    /// revoked, stale, forged or missing staple.
    #[cfg(feature = "ocsp")]
    OcspRefused {
        /// The details.
        failure: Box<crate::ocsp::OcspFailure>,
    },
    /// mTLS, server side: a client with a valid chain was refused because no key on its
    /// path is pinned for an identity in force ([`crate::verify::PinnedClientVerifier`]).
    ClientRefused {
        /// The details.
        failure: Box<crate::verify::ClientPinFailure>,
    },
    /// mTLS, server side: a client was accepted on pins that have expired, because its
    /// identity says `on_expiry = "accept-and-report"`. Sent on every such connection.
    ClientPinsExpired {
        /// The identity's name.
        identity: String,
        /// The identity's last valid date, `YYYY-MM-DD`.
        expires: String,
        /// When it was seen.
        at: UnixTime,
    },
    /// The app's runtime integrity findings changed (keypin-shield's watcher sends this; the
    /// first scan reports every finding as appeared). A report sender (feature `reports`)
    /// given this event attaches `current` to the reports it makes from then on. Bounded by
    /// [`crate::runtime::bounded`].
    RuntimeFindings {
        /// Every finding of the latest scan.
        current: Vec<RuntimeFinding>,
        /// New since the previous scan.
        appeared: Vec<RuntimeFinding>,
        /// Gone since the previous scan.
        cleared: Vec<RuntimeFinding>,
        /// When the scan ran.
        at: UnixTime,
    },
    /// A runtime integrity scan could not run: nothing is known about the process now (never
    /// a clean result). A report sender stops attaching findings until the next
    /// [`PinEvent::RuntimeFindings`].
    RuntimeScanFailed {
        /// Why, for a person.
        reason: String,
        /// When it happened.
        at: UnixTime,
    },
}

/// Receives pin events. Called on the handshake path: implementations must not block.
pub trait PinEventSink: Send + Sync + fmt::Debug {
    /// Takes one event.
    fn pin_event(&self, event: PinEvent);
}

/// A sink that queues events on a bounded channel without ever blocking the handshake.
#[derive(Debug)]
pub struct ChannelSink {
    tx: SyncSender<PinEvent>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// A sink with room for `capacity` undelivered events, and the receiving end.
    pub fn new(capacity: usize) -> (Self, Receiver<PinEvent>) {
        let (tx, rx) = sync_channel(capacity);
        (
            Self {
                tx,
                dropped: AtomicU64::new(0),
            },
            rx,
        )
    }

    /// How many events were dropped because the queue was full or the receiver gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PinEventSink for ChannelSink {
    fn pin_event(&self, event: PinEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A sink that writes each event to the `log` crate at warn level (and the event goes nowhere else).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSink;

impl PinEventSink for LogSink {
    fn pin_event(&self, event: PinEvent) {
        match &event {
            PinEvent::Refused { failure } => log::error!("keypin: {failure}"),
            PinEvent::ReportOnlyMismatch { failure, .. } => log::warn!("keypin: {failure}"),
            PinEvent::ChainInvalid { host, error, .. } => {
                log::error!("keypin: the chain of pinned host {host} failed validation: {error}")
            }
            #[cfg(feature = "ct")]
            PinEvent::CtRefused { failure } => log::error!("keypin: {failure}"),
            PinEvent::PinsExpired { host, expires, .. } => log::warn!(
                "keypin: the pins for {host} expired after {expires} and are only reported, not enforced; ship new pins"
            ),
            PinEvent::UpdateFailed { reason, .. } => {
                log::warn!("keypin: pin update failed, keeping the last good pins: {reason}")
            }
            PinEvent::PinsUpdated { version, .. } => {
                log::info!("keypin: pin bundle v{version} is in force for new connections")
            }
            #[cfg(feature = "ocsp")]
            PinEvent::OcspRefused { failure } => log::error!("keypin: {failure}"),
            PinEvent::ClientRefused { failure } => log::error!("keypin: {failure}"),
            PinEvent::ClientPinsExpired {
                identity, expires, ..
            } => log::warn!(
                "keypin: client identity {identity:?} accepted on pins that EXPIRED after {expires}; ship its new key"
            ),
            PinEvent::RuntimeFindings {
                appeared, cleared, ..
            } => {
                for f in appeared {
                    log::warn!(
                        "keypin: runtime finding {} ({}): {}",
                        f.id,
                        f.severity.as_str(),
                        f.evidence
                    );
                }
                for f in cleared {
                    log::info!("keypin: runtime finding {} cleared", f.id);
                }
            }
            PinEvent::RuntimeScanFailed { reason, .. } => {
                log::warn!("keypin: runtime integrity scan failed: {reason}")
            }
        }
    }
}
