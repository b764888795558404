//! What an OCSP check says when it refuses: the staple's problem, why it was checked, and the
//! failure a handshake reports.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What was wrong with a stapled response (or its absence).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OcspError {
    /// The bytes are not a well-formed OCSP response.
    Malformed {
        /// Which part could not be read.
        part: &'static str,
        /// What the DER decoder said.
        detail: String,
    },
    /// The responder answered with an error status instead of a response.
    NotSuccessful {
        /// The RFC 6960 name of the status (`tryLater`, `internalError`, ...).
        status: &'static str,
    },
    /// The response is not a `BasicOCSPResponse`.
    UnsupportedResponseType {
        /// The response type's OID.
        oid: String,
    },
    /// No response was stapled, but one is required.
    NoStaple,
    /// None of the response's `SingleResponse`s is about this certificate.
    NoResponseForCertificate {
        /// The leaf's serial number, hex.
        serial: String,
        /// How many `SingleResponse`s the response holds.
        responses: usize,
    },
    /// The response's signature algorithm is not one the crypto provider verifies, for the
    /// signer's key type.
    UnsupportedSignatureAlgorithm,
    /// The signature verifies with neither the issuer's key nor the key of any certificate
    /// included in the response.
    BadSignature {
        /// How many certificates the response included.
        included_certs: usize,
    },
    /// A certificate included in the response made the signature, but it may not speak for
    /// the issuer.
    ResponderNotAuthorised {
        /// The responder certificate's subject.
        responder: String,
        /// Why it is not a valid delegated responder.
        reason: String,
    },
    /// `thisUpdate` is in the future.
    NotYetValid {
        /// The response's `thisUpdate`.
        this_update: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// `nextUpdate` has passed.
    Stale {
        /// The response's `nextUpdate`.
        next_update: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// A response without `nextUpdate` older than [`MAX_AGE_WITHOUT_NEXT_UPDATE_SECS`].
    TooOld {
        /// The response's `thisUpdate`.
        this_update: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// The certificate is revoked.
    Revoked {
        /// When it was revoked.
        at: UnixTime,
        /// The reason given, if any (RFC 5280 CRLReason name).
        reason: Option<&'static str>,
    },
    /// The responder does not know the certificate.
    Unknown,
    /// The leaf certificate could not be read to look for the must-staple extension.
    LeafUnreadable {
        /// What failed.
        detail: String,
    },
}

fn time(t: UnixTime) -> String {
    format_rfc3339(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

impl fmt::Display for OcspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { part, detail } => {
                write!(
                    f,
                    "the stapled OCSP response is malformed: {part}: {detail}"
                )
            }
            Self::NotSuccessful { status } => write!(
                f,
                "the stapled OCSP response carries no status: the responder answered {status}"
            ),
            Self::UnsupportedResponseType { oid } => write!(
                f,
                "the stapled OCSP response has type {oid}, not id-pkix-ocsp-basic"
            ),
            Self::NoStaple => f.write_str("the server stapled no OCSP response"),
            Self::NoResponseForCertificate { serial, responses } => write!(
                f,
                "the stapled OCSP response is not about this certificate: none of its {responses} \
                 SingleResponse(s) names serial {serial} under the issuer on the verified path"
            ),
            Self::UnsupportedSignatureAlgorithm => f.write_str(
                "the stapled OCSP response is signed with an algorithm keypin does not accept",
            ),
            Self::BadSignature { included_certs } => write!(
                f,
                "the stapled OCSP response's signature does not verify with the issuer's key \
                 nor with any of the {included_certs} certificate(s) it includes (forged, or \
                 signed by an unrelated key)"
            ),
            Self::ResponderNotAuthorised { responder, reason } => write!(
                f,
                "the stapled OCSP response is signed by {responder}, which is not authorised \
                 to speak for the issuer: {reason}"
            ),
            Self::NotYetValid { this_update, now } => write!(
                f,
                "the stapled OCSP response is not valid yet: thisUpdate is {}, now is {}",
                time(*this_update),
                time(*now)
            ),
            Self::Stale { next_update, now } => write!(
                f,
                "the stapled OCSP response is stale since {} (its nextUpdate); now is {}",
                time(*next_update),
                time(*now)
            ),
            Self::TooOld { this_update, now } => write!(
                f,
                "the stapled OCSP response has no nextUpdate and is older than {} h: \
                 thisUpdate is {}, now is {}",
                MAX_AGE_WITHOUT_NEXT_UPDATE_SECS / 3600,
                time(*this_update),
                time(*now)
            ),
            Self::Revoked { at, reason } => {
                write!(f, "the certificate was REVOKED at {}", time(*at))?;
                match reason {
                    Some(r) => write!(f, " (reason: {r})"),
                    None => Ok(()),
                }
            }
            Self::Unknown => {
                f.write_str("the OCSP responder says the certificate's status is unknown")
            }
            Self::LeafUnreadable { detail } => write!(
                f,
                "cannot read the leaf certificate's extensions to look for must-staple: {detail}"
            ),
        }
    }
}

impl std::error::Error for OcspError {}

/// Why a stapled response was checked (or required).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// The rule's `ocsp` setting.
    Rule(OcspMode),
    /// The leaf carries the must-staple extension (or could not be read to find out).
    MustStaple,
}

/// An OCSP check that refused a connection: the host, what was wrong, and why it was checked.
#[derive(Debug, Clone)]
pub struct OcspFailure {
    /// The server name connected to.
    pub host: String,
    /// What was wrong.
    pub error: OcspError,
    /// Why the staple was checked.
    pub requirement: Requirement,
    /// Where the rule is (policy source and line).
    pub rule_location: String,
}

impl fmt::Display for OcspFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OCSP check failed for {}: {}; connection refused",
            self.host, self.error
        )?;
        match self.requirement {
            Requirement::MustStaple => write!(
                f,
                "\n  checked because: the certificate carries (or may carry) the must-staple \
                 extension (TLS Feature status_request), which requires a valid staple whatever \
                 the rule ({}) says",
                self.rule_location
            )?,
            Requirement::Rule(mode) => write!(
                f,
                "\n  checked because: the rule ({}) says ocsp = \"{}\"",
                self.rule_location,
                mode.as_str()
            )?,
        }
        let next = match &self.error {
            OcspError::Revoked { .. } => {
                "the certificate's CA revoked it: do not trust this server until it deploys a new certificate"
            }
            OcspError::Stale { .. } | OcspError::TooOld { .. } | OcspError::NotYetValid { .. } => {
                "the server must refresh its stapled response; also check this device's clock"
            }
            OcspError::NoStaple => {
                "enable OCSP stapling on the server (and make sure it can reach its CA's responder)"
            }
            _ => {
                "the server's staple cannot be trusted: treat this connection as intercepted or misconfigured"
            }
        };
        write!(f, "\n  next: {next}")
    }
}

impl std::error::Error for OcspFailure {}

impl OcspFailure {
    /// Recovers the OCSP failure from a rustls error produced by the pinning verifier.
    pub fn of(error: &rustls::Error) -> Option<&OcspFailure> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<OcspFailure>()
            }
            _ => None,
        }
    }

    /// The same, for the `std::io::Error` that rustls' stream types return.
    pub fn of_io(error: &std::io::Error) -> Option<&OcspFailure> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(Self::of)
    }

    pub(crate) fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}
