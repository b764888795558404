//! The verdict of a check, as records the bindings can read.

use keypin::verify::{PathEntry, PinFailure, PinMatch, Position};

/// Where a certificate sits on the verified path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PathPosition {
    /// The server's certificate.
    Leaf,
    /// An intermediate CA (0 = the leaf's issuer).
    Intermediate {
        /// Index from the leaf side.
        index: u32,
    },
    /// The trust anchor that ends the path.
    TrustAnchor,
}

impl From<Position> for PathPosition {
    fn from(p: Position) -> Self {
        match p {
            Position::Leaf => Self::Leaf,
            Position::Intermediate(i) => Self::Intermediate {
                index: u32::try_from(i).unwrap_or(u32::MAX),
            },
            Position::TrustAnchor => Self::TrustAnchor,
        }
    }
}

/// One certificate of the verified path, as a failure describes it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PathCert {
    /// Leaf, intermediate or anchor.
    pub position: PathPosition,
    /// The subject, like `CN=api.example.com, O=Example`.
    pub subject: String,
    /// Its SPKI pin, `sha256/...`.
    pub spki_pin: String,
}

impl From<&PathEntry> for PathCert {
    fn from(e: &PathEntry) -> Self {
        Self {
            position: e.position.into(),
            subject: e.subject.clone(),
            spki_pin: e.spki_pin.to_string(),
        }
    }
}

/// A verified path that carries none of the expected pins.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PinFailureInfo {
    /// The host connected to.
    pub host: String,
    /// The verified path, leaf first.
    pub path: Vec<PathCert>,
    /// The pins the rule expected.
    pub expected: Vec<String>,
    /// True when the rule only reports (configured, or its pins expired): the connection may
    /// go on. False: refuse it.
    pub report_only: bool,
    /// keypin's full message (host, path, expected pins, what to do next).
    pub message: String,
}

impl PinFailureInfo {
    pub(crate) fn of(failure: &PinFailure, report_only: bool) -> Self {
        Self {
            host: failure.host.clone(),
            path: failure
                .paths
                .first()
                .map(|p| p.iter().map(PathCert::from).collect())
                .unwrap_or_default(),
            expected: failure.expected.iter().map(ToString::to_string).collect(),
            report_only,
            message: failure.to_string(),
        }
    }
}

/// What a check decided.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    /// No rule covers the host: the platform's validation is all there is.
    NotPinned {
        /// The policy generation that decided.
        generation: u64,
    },
    /// A pin matched on the verified path.
    Matched {
        /// The pin, `sha256/...`.
        pin: String,
        /// The certificate that carries it.
        position: PathPosition,
        /// That certificate's subject.
        subject: String,
        /// The policy generation that decided.
        generation: u64,
    },
    /// No pin on the verified path: refuse unless `failure.report_only`.
    Failed {
        /// Host, path, expected pins, report-only.
        failure: PinFailureInfo,
        /// The policy generation that decided.
        generation: u64,
    },
}

impl Verdict {
    pub(crate) fn matched(m: &PinMatch, generation: u64) -> Self {
        Self::Matched {
            pin: m.pin.to_string(),
            position: m.position.into(),
            subject: m.subject.clone(),
            generation,
        }
    }
}
