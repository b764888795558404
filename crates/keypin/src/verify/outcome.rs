//! What a verification says: the verdict, the verified path as it is described in reports,
//! and the failures, one per step that can refuse.

use core::fmt;
use std::sync::Arc;

use rustls::{CertificateError, OtherError};
use rustls_pki_types::CertificateDer;

use crate::clock::Date;
use crate::pin::Pin;
use crate::policy::{Enforcement, PinPosition, ReportOnlyReason};

/// Where a certificate sits on a verified path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The server's own certificate.
    Leaf,
    /// An intermediate CA used on the path (index from the leaf side, 0 = the leaf's issuer).
    Intermediate(usize),
    /// The trust anchor that ends the path.
    TrustAnchor,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("leaf"),
            Self::Intermediate(_) => f.write_str("intermediate"),
            Self::TrustAnchor => f.write_str("trust anchor"),
        }
    }
}

/// One certificate of a verified path, as shown in diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEntry {
    /// Leaf, intermediate or anchor.
    pub position: Position,
    /// The subject, like `CN=api.example.com, O=Example`.
    pub subject: String,
    /// The SPKI pin.
    pub spki_pin: Pin,
    /// The certificate pin; `None` for a trust anchor known only as a key (no certificate).
    pub cert_pin: Option<Pin>,
    /// The certificate itself; `None` for a trust anchor known only as a key.
    pub der: Option<CertificateDer<'static>>,
}

/// A key the rule lists in `bad_pins`, found on a candidate verified path: that path did not
/// count as pinned, whatever pins it carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPinOnPath {
    /// The bad pin (as listed in the rule).
    pub pin: Pin,
    /// Where it sat on the path.
    pub position: Position,
    /// That certificate's subject.
    pub subject: String,
}

impl fmt::Display for BadPinOnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Position::Intermediate(i) => write!(f, "{} at intermediate #{i}", self.pin)?,
            p => write!(f, "{} at the {p}", self.pin)?,
        }
        write!(f, " ({})", self.subject)
    }
}

/// A verified path whose certificates carry none of the expected pins, or only paths that
/// carry a key the rule lists in `bad_pins`.
#[derive(Clone, Debug)]
pub struct PinFailure {
    /// The server name connected to.
    pub host: String,
    /// The verified path(s) webpki found, leaf first; none carried a pin. Usually one.
    pub paths: Vec<Vec<PathEntry>>,
    /// The pins the rule expected.
    pub expected: Vec<Pin>,
    /// The rule's host patterns, for the message.
    pub rule_hosts: Vec<String>,
    /// Where the rule is (policy source and line).
    pub rule_location: String,
    /// What the rule did about it.
    pub enforcement: Enforcement,
    /// The chain as the server sent it, leaf first (for reports: RFC 7469's
    /// `served-certificate-chain`).
    pub served_chain: Vec<CertificateDer<'static>>,
    /// Keys from the rule's `bad_pins` found on the paths above (each once): a path carrying
    /// one is never pinned, even when a good pin is on it too. Empty when no path had one.
    pub bad_pins_on_path: Vec<BadPinOnPath>,
    /// Where the expected pins count (`pin_position`).
    pub pin_position: PinPosition,
    /// Pins the leaf had to carry as well (`leaf_pins`); empty when the rule has none.
    pub expected_leaf: Vec<Pin>,
}

impl fmt::Display for PinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.enforcement {
            Enforcement::Enforce => "connection refused".to_string(),
            Enforcement::ReportOnly(ReportOnlyReason::Configured) => {
                "allowed (rule is report-only)".to_string()
            }
            Enforcement::ReportOnly(ReportOnlyReason::Expired { expires }) => format!(
                "allowed because the pins EXPIRED after {expires}: pinning is not enforced for this host until new pins ship"
            ),
        };
        if self.bad_pins_on_path.is_empty() {
            write!(
                f,
                "pin verification failed for {}: no certificate on the verified path matches the pinned keys; {verdict}",
                self.host
            )?;
        } else {
            write!(
                f,
                "pin verification failed for {}: the verified path carries a key the rule lists in bad_pins; {verdict}",
                self.host
            )?;
            for bad in &self.bad_pins_on_path {
                write!(f, "\n  bad key on the path: {bad}")?;
            }
        }
        write_paths(f, &self.paths)?;
        write!(
            f,
            "\n  pins expected by the rule for {} ({}):",
            self.rule_hosts.join(", "),
            self.rule_location
        )?;
        for p in &self.expected {
            write!(f, "\n    {p}")?;
        }
        match self.pin_position {
            PinPosition::Any => {}
            PinPosition::Leaf => write!(
                f,
                "\n  (pin_position = \"leaf\": they count only on the leaf)"
            )?,
            PinPosition::Ca => write!(
                f,
                "\n  (pin_position = \"ca\": they count only on an intermediate or the trust anchor)"
            )?,
        }
        if !self.expected_leaf.is_empty() {
            write!(f, "\n  and on the leaf one of (leaf_pins):")?;
            for p in &self.expected_leaf {
                write!(f, "\n    {p}")?;
            }
        }
        write!(
            f,
            "\n  next: if the server's keys changed on purpose, ship the new pin (`keypin inspect {}` shows it); \
             otherwise treat this connection as intercepted",
            self.host
        )
    }
}

impl std::error::Error for PinFailure {}

/// Which pin let a connection through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinMatch {
    /// The pin.
    pub pin: Pin,
    /// The certificate that carries it.
    pub position: Position,
    /// That certificate's subject.
    pub subject: String,
}

/// The result of a successful verification.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Verdict {
    /// No rule covers the host: ordinary validation passed.
    NotPinned,
    /// A pin matched on the verified path.
    Matched(PinMatch),
    /// No pin matched, but the rule only reports.
    ReportOnlyMismatch(Box<PinFailure>),
}

/// Why verification failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum VerifyError {
    /// The chain did not validate (untrusted issuer, expired, bad signature, ...), or the
    /// certificate is not valid for the host.
    Certificate(rustls::Error),
    /// The chain validated but carries none of the pins, and the rule enforces.
    PinMismatch(Box<PinFailure>),
    /// The rule requires Certificate Transparency and the leaf's SCTs do not meet it.
    #[cfg(feature = "ct")]
    Ct(Box<crate::ct::CtFailure>),
    /// The path and pins are fine, but the OCSP check the rule (or a must-staple leaf) asks
    /// for failed.
    #[cfg(feature = "ocsp")]
    Ocsp(Box<crate::ocsp::OcspFailure>),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "certificate validation failed: {e}"),
            Self::PinMismatch(p) => p.fmt(f),
            #[cfg(feature = "ct")]
            Self::Ct(c) => c.fmt(f),
            #[cfg(feature = "ocsp")]
            Self::Ocsp(o) => o.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<VerifyError> for rustls::Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Certificate(e) => e,
            VerifyError::PinMismatch(p) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*p))))
            }
            #[cfg(feature = "ct")]
            VerifyError::Ct(c) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*c))))
            }
            #[cfg(feature = "ocsp")]
            VerifyError::Ocsp(o) => o.into_rustls(),
        }
    }
}

impl VerifyError {
    /// Recovers the pin failure from a rustls error produced by [`PinningVerifier`](super::PinningVerifier), if it is one.
    pub fn pin_failure_of(error: &rustls::Error) -> Option<&PinFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<PinFailure>()
            }
            _ => None,
        }
    }

    /// Recovers the Certificate Transparency failure from a rustls error produced by
    /// [`PinningVerifier`](super::PinningVerifier), if it is one.
    #[cfg(feature = "ct")]
    pub fn ct_failure_of(error: &rustls::Error) -> Option<&crate::ct::CtFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<crate::ct::CtFailure>()
            }
            _ => None,
        }
    }

    /// The same, for the `std::io::Error` that rustls' stream types return.
    pub fn pin_failure_of_io(error: &std::io::Error) -> Option<&PinFailure> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(Self::pin_failure_of)
    }
}

/// The client that a handshake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMatch {
    /// The identity's name.
    pub identity: String,
    /// The pin that matched.
    pub pin: Pin,
    /// Where on the verified path it matched.
    pub position: Position,
    /// The identity's pins had expired and it is accepted only because its `on_expiry` says
    /// so.
    pub expired: bool,
}

/// A client whose verified path carries no pin of any identity in force.
///
/// `Debug` prints the same text as `Display`: rustls formats the error a verifier returns
/// with `Debug`, and server logs should show the diagnostics, not a struct dump.
#[derive(Clone)]
pub struct ClientPinFailure {
    /// The verified path(s) the client presented, leaf first (the leaf's SPKI pin is the
    /// client's key).
    pub paths: Vec<Vec<PathEntry>>,
    /// An identity whose pins are on the path but expired (and refuse after expiry).
    pub expired_identity: Option<(String, Date)>,
    /// The identities allowed, with their pins (in the policy's order).
    pub expected: Vec<(String, Vec<Pin>)>,
    /// Where the allowlist came from.
    pub policy_source: String,
}

impl ClientPinFailure {
    /// The SPKI pin of the key the client presented.
    pub fn presented_key(&self) -> Option<Pin> {
        self.paths
            .first()
            .and_then(|p| p.first())
            .map(|e| e.spki_pin)
    }
}

impl fmt::Display for ClientPinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self
            .paths
            .first()
            .and_then(|p| p.first())
            .map_or("?", |e| e.subject.as_str());
        match &self.expired_identity {
            Some((name, date)) => write!(
                f,
                "client certificate refused: the client ({subject}) is identity {name:?}, whose pins EXPIRED after {date}"
            )?,
            None => write!(
                f,
                "client certificate refused: the client ({subject}) has a valid chain but no key on it is pinned for any client identity"
            )?,
        }
        write_paths(f, &self.paths)?;
        write!(f, "\n  identities allowed by {}:", self.policy_source)?;
        for (name, pins) in self.expected.iter().take(16) {
            let pins: Vec<String> = pins.iter().map(ToString::to_string).collect();
            write!(f, "\n    {name}: {}", pins.join(", "))?;
        }
        if self.expected.len() > 16 {
            write!(f, "\n    ... and {} more", self.expected.len() - 16)?;
        }
        match &self.expired_identity {
            Some((name, _)) => write!(
                f,
                "\n  next: ship the new key of {name:?} with a new expiry date, or move the date if the key is still good"
            ),
            None => write!(
                f,
                "\n  next: if this client is legitimate, add its key pin ({}) to its identity; otherwise it is an unknown client of a trusted CA",
                self.presented_key()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for ClientPinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ClientPinFailure {}

/// Why a client chain was refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientVerifyError {
    /// The chain did not validate (untrusted issuer, expired, no clientAuth usage, ...).
    Certificate(rustls::Error),
    /// The chain validated but carries no pin of an identity in force.
    PinMismatch(Box<ClientPinFailure>),
}

impl fmt::Display for ClientVerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "client certificate validation failed: {e}"),
            Self::PinMismatch(p) => p.fmt(f),
        }
    }
}

impl std::error::Error for ClientVerifyError {}

impl From<ClientVerifyError> for rustls::Error {
    fn from(e: ClientVerifyError) -> Self {
        match e {
            ClientVerifyError::Certificate(e) => e,
            ClientVerifyError::PinMismatch(p) => {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(*p))))
            }
        }
    }
}

impl ClientVerifyError {
    /// Recovers the client pin failure from the rustls error a server connection returned.
    pub fn pin_failure_of(error: &rustls::Error) -> Option<&ClientPinFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<ClientPinFailure>()
            }
            _ => None,
        }
    }
}

/// The verified paths of a failure, numbered when there are several, one certificate a line.
fn write_paths(f: &mut fmt::Formatter<'_>, paths: &[Vec<PathEntry>]) -> fmt::Result {
    for (i, path) in paths.iter().enumerate() {
        if paths.len() == 1 {
            write!(f, "\n  verified path:")?;
        } else {
            write!(f, "\n  verified path {}:", i + 1)?;
        }
        for (j, e) in path.iter().enumerate() {
            write!(
                f,
                "\n    [{j}] {:<12} {}  {}",
                e.position.to_string(),
                e.spki_pin,
                e.subject
            )?;
        }
    }
    Ok(())
}
