//! Step 1: the stapled bytes parsed (RFC 6960 4.2.1), bounded, into the responses they hold.

#[allow(clippy::wildcard_imports)]
use super::*;

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

    pub(super) fn digest(self, data: &[u8]) -> Option<aws_lc_rs::digest::Digest> {
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
    pub(super) tbs: Vec<u8>,
    pub(super) signature_algorithm: Vec<u8>,
    pub(super) signature: Vec<u8>,
    pub(super) certs: Vec<CertificateDer<'static>>,
    pub(super) responses: Vec<SingleResponse>,
    pub(super) produced_at: UnixTime,
    pub(super) responder: Responder,
}

/// The `responderID`: who the response says signed it.
#[derive(Debug, Clone)]
pub(super) enum Responder {
    /// The DER Name.
    ByName(Vec<u8>),
    /// SHA-1 of the responder's public key bits.
    ByKey(Vec<u8>),
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
pub(super) struct RawSpki<'a> {
    pub(super) algorithm: AnyRef<'a>,
    pub(super) subject_public_key: BitStringRef<'a>,
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
