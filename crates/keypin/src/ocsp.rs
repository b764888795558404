//! OCSP staple validation (RFC 6960), behind the `ocsp` feature.
//!
//! A server may staple a signed OCSP response to its certificate in the handshake; rustls
//! hands it to the verifier. A rule's `ocsp` field says what keypin does with it
//! ([`OcspMode`]): ignore it (default), check it when one is stapled, or require one. A leaf
//! carrying the must-staple extension (RFC 7633: TLS Feature listing `status_request`) always
//! requires one, whatever the rule says.
//!
//! A stapled response is accepted only when, in this order:
//! 1. it parses: `OCSPResponse` with `responseStatus` successful and a `BasicOCSPResponse`
//!    (RFC 6960 4.2.1);
//! 2. one of its `SingleResponse`s is about this leaf: the `CertID` hashes (SHA-1, SHA-256,
//!    SHA-384 or SHA-512) match the issuer's name and key on the verified path, and the serial
//!    matches the leaf's (4.1.1);
//! 3. its signature verifies with the issuer's key, or with the key of a delegated responder
//!    certificate carried in the response that the issuer signed *directly*, that is valid now
//!    and that carries `id-kp-OCSPSigning` (4.2.2.2); checked with webpki and the provider's
//!    algorithms;
//! 4. every matching `SingleResponse` is fresh at the injected clock's time: `thisUpdate` no
//!    more than [`CLOCK_SKEW_SECS`] in the future, `nextUpdate` not passed; a response
//!    without `nextUpdate` is accepted for [`MAX_AGE_WITHOUT_NEXT_UPDATE_SECS`] after its
//!    `thisUpdate` (Mozilla's choice) (4.2.2.1);
//! 5. every matching `SingleResponse` says `good`: `revoked` and `unknown` refuse. An
//!    authentic `revoked` is reported as such even when the response is no longer fresh:
//!    revocation does not expire.
//!
//! Not checked: the revocation status of a delegated responder certificate itself
//! (`id-pkix-ocsp-nocheck` is the norm for them), and the response's `responderID` (the
//! signature decides who signed). OCSP is checked for hosts a rule covers; other hosts get
//! ordinary validation only, as without the feature.
//!
//! SCTs a validated response carries (RFC 6962 §3.3, `SingleResponse` extension
//! 1.3.6.1.4.1.11129.2.4.5) count toward a rule's `require_sct` with feature `ct`: see
//! `keypin::ct` ("SCTs in a stapled OCSP response"), including why a rule that ignores OCSP
//! still validates a staple when it requires SCTs. [`validate_staple`] returns them.
//!
//! [`parse_response`] is the parser alone, for fuzzing and tools.

use core::fmt;
use std::sync::Arc;

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use der::{Decode, Encode, Sequence};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, Der, TrustAnchor, UnixTime};
use x509_ocsp::{BasicOcspResponse, CertStatus as RawStatus, OcspResponseStatus, ResponseData};

use crate::clock::format_rfc3339;
use crate::dn::format_name;
use crate::policy::OcspMode;

/// How far in the future a response's `thisUpdate` may be (clocks differ): 5 minutes.
pub const CLOCK_SKEW_SECS: u64 = 5 * 60;

/// How long a response without `nextUpdate` is accepted after its `thisUpdate`: 24 hours.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE_SECS: u64 = 24 * 60 * 60;

/// Largest stapled response looked at; anything bigger is refused unread.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// RFC 6962 §3.3: the OCSP `SingleResponse` extension carrying SCTs.
const ID_OCSP_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.5");
const ID_PE_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");
/// The DER encoding of the TLS Feature extension's OID, for a quick scan of the leaf.
const TLS_FEATURE_OID_DER: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18];
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9), the OID's value bytes as webpki wants them.
const ID_KP_OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
/// The TLS extension number of status_request (RFC 6066), listed by must-staple leaves.
const STATUS_REQUEST: u16 = 5;

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

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

/// The status a `SingleResponse` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked at `at`.
    Revoked {
        /// Revocation time.
        at: UnixTime,
        /// RFC 5280 CRLReason name, if given.
        reason: Option<&'static str>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// The hash algorithm of a `CertID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertIdHash {
    /// SHA-1 (the common choice; fine here, it only names the issuer).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// Anything else: such a `CertID` matches nothing.
    Other,
}

impl CertIdHash {
    fn of(oid: &ObjectIdentifier) -> Self {
        match *oid {
            o if o == SHA1 => Self::Sha1,
            o if o == SHA256 => Self::Sha256,
            o if o == SHA384 => Self::Sha384,
            o if o == SHA512 => Self::Sha512,
            _ => Self::Other,
        }
    }

    fn digest(self, data: &[u8]) -> Option<aws_lc_rs::digest::Digest> {
        use aws_lc_rs::digest;
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
            Self::Other => return None,
        };
        Some(digest::digest(alg, data))
    }
}

/// One `SingleResponse`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleResponse {
    /// The `CertID`'s hash algorithm.
    pub hash: CertIdHash,
    /// Hash of the issuer's DER-encoded name.
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's public key bits.
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number (DER INTEGER contents).
    pub serial: Vec<u8>,
    /// The status.
    pub status: CertStatus,
    /// `thisUpdate`.
    pub this_update: UnixTime,
    /// `nextUpdate`, if given.
    pub next_update: Option<UnixTime>,
    /// The content of the `singleExtensions` entry 1.3.6.1.4.1.11129.2.4.5 (RFC 6962 §3.3:
    /// SCTs over this certificate as an `x509_entry`), if present: the DER OCTET STRING that
    /// wraps the TLS-encoded `SignedCertificateTimestampList`, unread (the `ct` module reads
    /// it, and only once the response validated).
    pub sct_extension: Option<Vec<u8>>,
}

/// A parsed stapled response: what [`parse_response`] returns. Nothing in it is verified yet.
#[derive(Debug, Clone)]
pub struct OcspResponse {
    tbs: Vec<u8>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
    responses: Vec<SingleResponse>,
    produced_at: UnixTime,
    responder: Responder,
}

/// The `responderID`: who the response says signed it.
#[derive(Debug, Clone)]
enum Responder {
    /// The DER Name.
    ByName(Vec<u8>),
    /// SHA-1 of the responder's public key bits.
    ByKey(Vec<u8>),
}

impl Responder {
    /// Does the responderID name `issuer`?
    fn names(&self, issuer: &Issuer) -> bool {
        match self {
            Self::ByName(name) => wrap_sequence(&issuer.subject).is_some_and(|n| n == *name),
            Self::ByKey(hash) => issuer.key_bits().is_some_and(|key| {
                CertIdHash::Sha1
                    .digest(&key)
                    .is_some_and(|d| d.as_ref() == hash.as_slice())
            }),
        }
    }
}

impl OcspResponse {
    /// The `SingleResponse`s, in order.
    pub fn responses(&self) -> &[SingleResponse] {
        &self.responses
    }
    /// The certificates included in the response (delegated responder candidates).
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
    /// `producedAt`.
    pub fn produced_at(&self) -> UnixTime {
        self.produced_at
    }
}

#[derive(Sequence)]
struct RawBasic<'a> {
    tbs_response_data: AnyRef<'a>,
    signature_algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    certs: Option<Vec<AnyRef<'a>>>,
}

#[derive(Sequence)]
struct RawSpki<'a> {
    algorithm: AnyRef<'a>,
    subject_public_key: BitStringRef<'a>,
}

fn malformed(part: &'static str) -> impl Fn(der::Error) -> OcspError {
    move |e| OcspError::Malformed {
        part,
        detail: e.to_string(),
    }
}

fn unix(t: &x509_ocsp::OcspGeneralizedTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.0.to_unix_duration())
}

fn reason_name(r: x509_cert::ext::pkix::CrlReason) -> &'static str {
    use x509_cert::ext::pkix::CrlReason as R;
    match r {
        R::Unspecified => "unspecified",
        R::KeyCompromise => "keyCompromise",
        R::CaCompromise => "cACompromise",
        R::AffiliationChanged => "affiliationChanged",
        R::Superseded => "superseded",
        R::CessationOfOperation => "cessationOfOperation",
        R::CertificateHold => "certificateHold",
        R::RemoveFromCRL => "removeFromCRL",
        R::PrivilegeWithdrawn => "privilegeWithdrawn",
        R::AaCompromise => "aACompromise",
    }
}

/// Parses a stapled OCSP response (the DER `OCSPResponse` a server sends), without verifying
/// anything: structure, status, type, and every field the checks use. Safe on any input
/// (fuzzed); refuses input above [`MAX_RESPONSE_LEN`].
pub fn parse_response(der: &[u8]) -> Result<OcspResponse, OcspError> {
    if der.len() > MAX_RESPONSE_LEN {
        return Err(OcspError::Malformed {
            part: "OCSPResponse",
            detail: format!(
                "{} bytes, more than the {MAX_RESPONSE_LEN} accepted",
                der.len()
            ),
        });
    }
    // RFC 6960 4.2.1: OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] OPTIONAL }
    let outer = x509_ocsp::OcspResponse::from_der(der).map_err(malformed("OCSPResponse"))?;
    if outer.response_status != OcspResponseStatus::Successful {
        let status = match outer.response_status {
            OcspResponseStatus::MalformedRequest => "malformedRequest",
            OcspResponseStatus::InternalError => "internalError",
            OcspResponseStatus::TryLater => "tryLater",
            OcspResponseStatus::SigRequired => "sigRequired",
            OcspResponseStatus::Unauthorized => "unauthorized",
            OcspResponseStatus::Successful => "successful",
        };
        return Err(OcspError::NotSuccessful { status });
    }
    let bytes = outer.response_bytes.ok_or(OcspError::Malformed {
        part: "responseBytes",
        detail: "missing from a successful response".into(),
    })?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(OcspError::UnsupportedResponseType {
            oid: bytes.response_type.to_string(),
        });
    }
    let basic_der = bytes.response.as_bytes();
    // The whole BasicOCSPResponse must decode (strict DER), before its parts are used.
    BasicOcspResponse::from_der(basic_der).map_err(malformed("BasicOCSPResponse"))?;
    let raw = RawBasic::from_der(basic_der).map_err(malformed("BasicOCSPResponse"))?;
    let tbs = raw
        .tbs_response_data
        .to_der()
        .map_err(malformed("tbsResponseData"))?;
    let data = ResponseData::from_der(&tbs).map_err(malformed("tbsResponseData"))?;
    let signature = raw.signature.as_bytes().ok_or(OcspError::Malformed {
        part: "signature",
        detail: "BIT STRING with unused bits".into(),
    })?;
    let mut certs = Vec::new();
    for c in raw.certs.unwrap_or_default() {
        certs.push(CertificateDer::from(
            c.to_der().map_err(malformed("certs"))?,
        ));
    }
    let responses = data
        .responses
        .iter()
        .map(|r| SingleResponse {
            hash: CertIdHash::of(&r.cert_id.hash_algorithm.oid),
            issuer_name_hash: r.cert_id.issuer_name_hash.as_bytes().to_vec(),
            issuer_key_hash: r.cert_id.issuer_key_hash.as_bytes().to_vec(),
            serial: r.cert_id.serial_number.as_bytes().to_vec(),
            status: match &r.cert_status {
                RawStatus::Good(_) => CertStatus::Good,
                RawStatus::Revoked(info) => CertStatus::Revoked {
                    at: unix(&info.revocation_time),
                    reason: info.revocation_reason.map(reason_name),
                },
                RawStatus::Unknown(_) => CertStatus::Unknown,
            },
            this_update: unix(&r.this_update),
            next_update: r.next_update.as_ref().map(unix),
            sct_extension: r
                .single_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == ID_OCSP_SCT_LIST)
                .map(|e| e.extn_value.as_bytes().to_vec()),
        })
        .collect();
    Ok(OcspResponse {
        tbs,
        signature_algorithm: raw.signature_algorithm.value().to_vec(),
        signature: signature.to_vec(),
        certs,
        responses,
        produced_at: unix(&data.produced_at),
        responder: match &data.responder_id {
            x509_ocsp::ResponderId::ByName(name) => {
                Responder::ByName(name.to_der().map_err(malformed("responderID"))?)
            }
            x509_ocsp::ResponderId::ByKey(hash) => Responder::ByKey(hash.as_bytes().to_vec()),
        },
    })
}

/// The issuer of the leaf, as the verified path gives it: its name and key decide the
/// `CertID` and who may sign.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The Name's contents (no outer SEQUENCE), as webpki keeps it.
    subject: Vec<u8>,
    /// The SubjectPublicKeyInfo's contents (no outer SEQUENCE).
    spki: Vec<u8>,
}

impl Issuer {
    /// The issuer from its certificate.
    pub fn from_cert(cert: &CertificateDer<'_>) -> Result<Self, webpki::Error> {
        let anchor = webpki::anchor_from_trusted_cert(cert)?;
        Ok(Self::from_anchor(&anchor))
    }

    /// The issuer from a trust anchor (a root known only by name and key).
    pub fn from_anchor(anchor: &TrustAnchor<'_>) -> Self {
        Self {
            subject: anchor.subject.as_ref().to_vec(),
            spki: anchor.subject_public_key_info.as_ref().to_vec(),
        }
    }

    pub(crate) fn from_path_cert(cert: &webpki::Cert<'_>) -> Self {
        let spki = cert.subject_public_key_info();
        Self {
            subject: cert.subject().to_vec(),
            spki: strip_sequence(spki.as_ref()).to_vec(),
        }
    }

    /// The subjectPublicKey bits (what CertID and responderID key hashes cover).
    fn key_bits(&self) -> Option<Vec<u8>> {
        wrap_sequence(&self.spki).and_then(|d| {
            RawSpki::from_der(&d)
                .ok()
                .and_then(|s| s.subject_public_key.as_bytes().map(<[u8]>::to_vec))
        })
    }

    fn anchor(&self) -> TrustAnchor<'_> {
        TrustAnchor {
            subject: Der::from(self.subject.as_slice()),
            subject_public_key_info: Der::from(self.spki.as_slice()),
            name_constraints: None,
        }
    }
}

/// The contents of a DER SEQUENCE (the input itself if it is not one).
fn strip_sequence(der: &[u8]) -> &[u8] {
    AnyRef::from_der(der).map_or(der, |a| a.value())
}

/// `SEQUENCE { contents }` in DER.
fn wrap_sequence(contents: &[u8]) -> Option<Vec<u8>> {
    AnyRef::new(der::Tag::Sequence, contents)
        .and_then(|a| a.to_der())
        .ok()
}

/// Does `leaf` carry the must-staple extension (TLS Feature listing status_request)?
pub fn is_must_staple(leaf: &CertificateDer<'_>) -> Result<bool, OcspError> {
    // Fast path: without the extension's OID anywhere in the certificate, it cannot be there.
    if !leaf
        .as_ref()
        .windows(TLS_FEATURE_OID_DER.len())
        .any(|w| w == TLS_FEATURE_OID_DER)
    {
        return Ok(false);
    }
    let unreadable = |e: der::Error| OcspError::LeafUnreadable {
        detail: e.to_string(),
    };
    let cert = x509_cert::Certificate::from_der(leaf.as_ref()).map_err(unreadable)?;
    let mut must_staple = false;
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id == ID_PE_TLS_FEATURE {
            // RFC 7633: Features ::= SEQUENCE OF INTEGER
            let features = Vec::<u16>::from_der(ext.extn_value.as_bytes()).map_err(|e| {
                OcspError::LeafUnreadable {
                    detail: format!("malformed TLS Feature extension: {e}"),
                }
            })?;
            must_staple |= features.contains(&STATUS_REQUEST);
        }
    }
    Ok(must_staple)
}

/// Verifies `signature` over `message` with the key of `spki_contents` (a SubjectPublicKeyInfo
/// without its outer SEQUENCE), using one of `algs` whose identifiers match.
fn verify_signature(
    algs: &WebPkiSupportedAlgorithms,
    spki_contents: &[u8],
    signature_algorithm: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), OcspError> {
    let spki = wrap_sequence(spki_contents)
        .and_then(|d| {
            RawSpki::from_der(&d)
                .ok()
                .map(|s| (s.algorithm.value().to_vec(), s.subject_public_key))
                .and_then(|(alg, key)| key.as_bytes().map(|k| (alg, k.to_vec())))
        })
        .ok_or(OcspError::UnsupportedSignatureAlgorithm)?;
    let (key_alg, key) = spki;
    let mut known = false;
    for alg in algs.all {
        if alg.public_key_alg_id().as_ref() == key_alg.as_slice()
            && alg.signature_alg_id().as_ref() == signature_algorithm
        {
            known = true;
            if alg.verify_signature(&key, message, signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(if known {
        OcspError::BadSignature { included_certs: 0 }
    } else {
        OcspError::UnsupportedSignatureAlgorithm
    })
}

/// Checks a stapled response for `leaf`, issued by `issuer`, at `now`: the whole check of the
/// module docs, steps 1 to 5. `Ok` means a fresh, authentic response says "good".
pub fn check_staple(
    staple: &[u8],
    leaf: &CertificateDer<'_>,
    issuer: &Issuer,
    now: UnixTime,
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), OcspError> {
    validate_staple(staple, leaf, issuer, now, algs).map(|_| ())
}

/// What a staple that passed [`check_staple`] carries for Certificate Transparency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatedStaple {
    /// The SCT extensions (see [`SingleResponse::sct_extension`]) of the `SingleResponse`s
    /// about this certificate, in order; empty when they carry none.
    pub sct_extensions: Vec<Vec<u8>>,
}

/// [`check_staple`], returning what the validated response carries for CT: only a response
/// that passed every check gives its SCTs.
pub fn validate_staple(
    staple: &[u8],
    leaf: &CertificateDer<'_>,
    issuer: &Issuer,
    now: UnixTime,
    algs: &WebPkiSupportedAlgorithms,
) -> Result<ValidatedStaple, OcspError> {
    // 1. Parse.
    let response = parse_response(staple)?;
    let serial = webpki::EndEntityCert::try_from(leaf)
        .map(|ee| ee.serial().to_vec())
        .map_err(|e| OcspError::LeafUnreadable {
            detail: format!("{e:?}"),
        })?;

    // 2. The SingleResponses about this certificate: CertID over the verified issuer.
    let issuer_name = wrap_sequence(&issuer.subject).unwrap_or_default();
    let issuer_key = issuer.key_bits().unwrap_or_default();
    let matching: Vec<&SingleResponse> = response
        .responses
        .iter()
        .filter(|r| {
            r.serial == serial
                && r.hash
                    .digest(&issuer_name)
                    .is_some_and(|d| d.as_ref() == r.issuer_name_hash.as_slice())
                && r.hash
                    .digest(&issuer_key)
                    .is_some_and(|d| d.as_ref() == r.issuer_key_hash.as_slice())
        })
        .collect();
    if matching.is_empty() {
        return Err(OcspError::NoResponseForCertificate {
            serial: serial.iter().map(|b| format!("{b:02x}")).collect(),
            responses: response.responses.len(),
        });
    }

    // 3. Who signed: the issuer itself, or a delegated responder it issued directly.
    check_signer(&response, issuer, now, algs)?;

    // 4 and 5. Freshness and status of every SingleResponse about this certificate; an
    // authentic "revoked" wins over staleness (revocation is permanent).
    let sct_extensions = matching
        .iter()
        .filter_map(|r| r.sct_extension.clone())
        .collect();
    for r in matching {
        if let CertStatus::Revoked { at, reason } = r.status {
            return Err(OcspError::Revoked { at, reason });
        }
        if r.this_update.as_secs() > now.as_secs().saturating_add(CLOCK_SKEW_SECS) {
            return Err(OcspError::NotYetValid {
                this_update: r.this_update,
                now,
            });
        }
        match r.next_update {
            Some(next_update) if now.as_secs() >= next_update.as_secs() => {
                return Err(OcspError::Stale { next_update, now });
            }
            None if now.as_secs()
                >= r.this_update
                    .as_secs()
                    .saturating_add(MAX_AGE_WITHOUT_NEXT_UPDATE_SECS) =>
            {
                return Err(OcspError::TooOld {
                    this_update: r.this_update,
                    now,
                });
            }
            _ => {}
        }
        if r.status == CertStatus::Unknown {
            return Err(OcspError::Unknown);
        }
    }
    Ok(ValidatedStaple { sct_extensions })
}

fn check_signer(
    response: &OcspResponse,
    issuer: &Issuer,
    now: UnixTime,
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), OcspError> {
    let signed_by = |spki_contents: &[u8]| {
        verify_signature(
            algs,
            spki_contents,
            &response.signature_algorithm,
            &response.tbs,
            &response.signature,
        )
    };
    // The responderID only decides which key is tried first (one signature check saved for
    // delegated responses); the signatures decide who signed.
    let issuer_first = response.responder.names(issuer);
    let mut unsupported = true;
    let issuer_signed = |unsupported: &mut bool| match signed_by(&issuer.spki) {
        Ok(()) => true,
        Err(e) => {
            *unsupported &= e == OcspError::UnsupportedSignatureAlgorithm;
            false
        }
    };
    if issuer_first && issuer_signed(&mut unsupported) {
        return Ok(());
    }
    let mut refused = None;
    for cert in &response.certs {
        let Ok(responder) = webpki::EndEntityCert::try_from(cert) else {
            continue;
        };
        let spki = responder.subject_public_key_info();
        if let Err(e) = signed_by(strip_sequence(spki.as_ref())) {
            unsupported &= e == OcspError::UnsupportedSignatureAlgorithm;
            continue;
        }
        // This certificate's key made the signature: is it a delegated responder of the
        // issuer (RFC 6960 4.2.2.2)? Issued directly by the issuer (the issuer is the only
        // anchor and there are no intermediates), valid now, with id-kp-OCSPSigning.
        let anchor = [issuer.anchor()];
        match responder.verify_for_usage(
            algs.all,
            &anchor,
            &[],
            now,
            webpki::KeyUsage::required(ID_KP_OCSP_SIGNING),
            None,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => {
                refused.get_or_insert(OcspError::ResponderNotAuthorised {
                    responder: format_name(responder.subject()),
                    reason: responder_problem(&e),
                });
            }
        }
    }
    // A certificate carrying the issuer's own key (the issuer's certificate, included by the
    // responder) is not a delegate, but its signature is the issuer's.
    if !issuer_first && issuer_signed(&mut unsupported) {
        return Ok(());
    }
    Err(match refused {
        Some(e) => e,
        None if unsupported => OcspError::UnsupportedSignatureAlgorithm,
        None => OcspError::BadSignature {
            included_certs: response.certs.len(),
        },
    })
}

fn responder_problem(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        #[allow(deprecated)] // matched for completeness; webpki 0.103 uses the Context form
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            "its certificate lacks the id-kp-OCSPSigning extended key usage".into()
        }
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => {
            "its certificate was not issued directly by the certificate's issuer".into()
        }
        E::CertExpired { not_after, .. } => format!(
            "its certificate expired at {}",
            format_rfc3339(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
        ),
        E::CertNotValidYet { not_before, .. } => format!(
            "its certificate is not valid before {}",
            format_rfc3339(i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX))
        ),
        E::CaUsedAsEndEntity => "its certificate is a CA certificate".into(),
        other => format!("its certificate does not validate under the issuer: {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oid_scan_bytes_match_the_oid() {
        assert_eq!(ID_PE_TLS_FEATURE.to_der().unwrap(), TLS_FEATURE_OID_DER);
        let eku = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
        assert_eq!(eku.as_bytes(), ID_KP_OCSP_SIGNING);
    }
}
