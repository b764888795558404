//! OCSP responses (RFC 6960) for tests: good, revoked, unknown, stale, signed by the issuer,
//! by a delegated responder, by a certificate that may not sign, or by an unrelated key; and
//! deliberately broken ones (wrong serial, forged signature, error status).

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use rcgen::SigningKey;
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::{Extension, Extensions};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::Error;
use crate::cert::Issued;
use crate::ct::{SctSpec, sct_list, x509_entry_sct};
use crate::key::KeyAlg;

/// The status a response gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspStatus {
    /// Not revoked.
    Good,
    /// Revoked at `at`, with an optional RFC 5280 reason code (1 = keyCompromise, ...).
    Revoked {
        /// Revocation time.
        at: OffsetDateTime,
        /// CRLReason code; codes RFC 5280 does not define are left out.
        reason: Option<u8>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// The hash of the response's CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OcspHash {
    /// SHA-1, what most responders use (default).
    #[default]
    Sha1,
    /// SHA-256.
    Sha256,
}

/// What to put in an OCSP response about `leaf`, issued by `issuer`. By default: status good,
/// thisUpdate an hour ago, nextUpdate in 4 days, a SHA-1 CertID, signed by the issuer's key.
///
/// ```
/// use keypin_pki::{Chain, KeyAlg, OcspResponseSpec, OcspStatus};
///
/// let chain = Chain::generate("Example", &["localhost"], KeyAlg::EcdsaP256)?;
/// let good: Vec<u8> = OcspResponseSpec::new(&chain.leaf, &chain.intermediate).build()?;
/// let revoked = OcspResponseSpec::new(&chain.leaf, &chain.intermediate)
///     .status(OcspStatus::Revoked { at: time::OffsetDateTime::now_utc(), reason: Some(1) })
///     .build()?;
/// assert_ne!(good, revoked);
/// # Ok::<(), keypin_pki::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OcspResponseSpec<'a> {
    leaf: &'a Issued,
    issuer: &'a Issued,
    status: OcspStatus,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    hash: OcspHash,
    signer: Option<&'a Issued>,
    include_signer: bool,
    responder_id: Option<&'a Issued>,
    serial: Option<Vec<u8>>,
    corrupt_signature: bool,
    scts: Vec<SctSpec<'a>>,
    sct_list_bytes: Option<Vec<u8>>,
}

impl<'a> OcspResponseSpec<'a> {
    /// A good response for `leaf`, signed by `issuer` (see the type's docs for the defaults).
    pub fn new(leaf: &'a Issued, issuer: &'a Issued) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            leaf,
            issuer,
            status: OcspStatus::Good,
            this_update: now - Duration::hours(1),
            next_update: Some(now + Duration::days(4)),
            hash: OcspHash::default(),
            signer: None,
            include_signer: true,
            responder_id: None,
            serial: None,
            corrupt_signature: false,
            scts: Vec::new(),
            sct_list_bytes: None,
        }
    }

    /// The certificate's status.
    pub fn status(mut self, status: OcspStatus) -> Self {
        self.status = status;
        self
    }

    /// thisUpdate (also used as producedAt).
    pub fn this_update(mut self, at: OffsetDateTime) -> Self {
        self.this_update = at;
        self
    }

    /// nextUpdate; `None` leaves it out.
    pub fn next_update(mut self, at: Option<OffsetDateTime>) -> Self {
        self.next_update = at;
        self
    }

    /// The CertID hash.
    pub fn hash(mut self, hash: OcspHash) -> Self {
        self.hash = hash;
        self
    }

    /// Signs with `signer`'s key instead of the issuer's, and includes `signer`'s certificate
    /// in the response (a delegated responder, or an impostor). The signer is not checked:
    /// tests sign with certificates that may not sign.
    pub fn signed_by(mut self, signer: &'a Issued) -> Self {
        self.signer = Some(signer);
        self
    }

    /// With [`Self::signed_by`]: whether the signer's certificate goes into the response
    /// (default true). Without it, only the key is used: "signed by an unrelated key".
    pub fn include_signer_cert(mut self, include: bool) -> Self {
        self.include_signer = include;
        self
    }

    /// Writes `named`'s key hash as the responderID instead of the signer's (a response that
    /// names one responder and is signed by another).
    pub fn responder_id(mut self, named: &'a Issued) -> Self {
        self.responder_id = Some(named);
        self
    }

    /// Names another serial number (big-endian magnitude) in the CertID: a response about
    /// another certificate.
    pub fn serial(mut self, serial: &[u8]) -> Self {
        self.serial = Some(serial.to_vec());
        self
    }

    /// Flips a bit of the signature after signing: a forged response.
    pub fn corrupt_signature(mut self) -> Self {
        self.corrupt_signature = true;
        self
    }

    /// Adds the SCT-list extension (RFC 6962 §3.3, 1.3.6.1.4.1.11129.2.4.5) to the
    /// `SingleResponse`, with one SCT per spec signed by its log over the leaf as an
    /// `x509_entry` ([`crate::ct::x509_entry_sct`]).
    pub fn scts(mut self, scts: &[SctSpec<'a>]) -> Self {
        self.scts = scts.to_vec();
        self
    }

    /// Puts `list` as it is (a TLS `SignedCertificateTimestampList`, or anything) in the
    /// SCT-list extension instead of [`Self::scts`]: SCTs signed over another entry type, or
    /// a malformed list.
    pub fn sct_list_bytes(mut self, list: Vec<u8>) -> Self {
        self.sct_list_bytes = Some(list);
        self
    }

    /// The `singleExtensions` carrying the SCT list, if any.
    fn sct_extensions(&self) -> Result<Option<Extensions>, Error> {
        let list = match &self.sct_list_bytes {
            Some(list) => list.clone(),
            None if self.scts.is_empty() => return Ok(None),
            None => {
                let scts = self
                    .scts
                    .iter()
                    .map(|spec| x509_entry_sct(spec, self.leaf.cert.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?;
                sct_list(&scts)?
            }
        };
        let inner = OctetString::new(list)
            .and_then(|o| o.to_der())
            .map_err(der_err("the SCT list"))?;
        Ok(Some(vec![Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.5"),
            critical: false,
            extn_value: OctetString::new(inner).map_err(der_err("the SCT extension"))?,
        }]))
    }

    /// The DER `OCSPResponse`, as a server staples it.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        let leaf = parse_cert(self.leaf, "the leaf")?;
        let issuer = parse_cert(self.issuer, "the issuer")?;
        let serial = match &self.serial {
            Some(magnitude) => {
                let mut bytes = magnitude.clone();
                if bytes.first().is_none_or(|b| b & 0x80 != 0) {
                    bytes.insert(0, 0);
                }
                SerialNumber::new(&bytes).map_err(der_err("the CertID serial"))?
            }
            None => leaf.tbs_certificate.serial_number.clone(),
        };
        let (hash_oid, digest) = match self.hash {
            OcspHash::Sha1 => (
                ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            ),
            OcspHash::Sha256 => (
                ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
                &aws_lc_rs::digest::SHA256,
            ),
        };
        let hash = |data: &[u8]| {
            OctetString::new(aws_lc_rs::digest::digest(digest, data).as_ref())
                .map_err(der_err("a CertID hash"))
        };
        let issuer_name = issuer
            .tbs_certificate
            .subject
            .to_der()
            .map_err(der_err("the issuer name"))?;
        let issuer_key = issuer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: hash_oid,
                parameters: Some(Null.into()),
            },
            issuer_name_hash: hash(&issuer_name)?,
            issuer_key_hash: hash(issuer_key)?,
            serial_number: serial,
        };
        let cert_status = match self.status {
            OcspStatus::Good => CertStatus::good(),
            OcspStatus::Unknown => CertStatus::unknown(),
            OcspStatus::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                revocation_time: time(at)?,
                revocation_reason: reason.and_then(crl_reason),
            }),
        };

        let signer = self.signer.unwrap_or(self.issuer);
        let signer_cert = parse_cert(signer, "the signer")?;
        let named = parse_cert(self.responder_id.unwrap_or(signer), "the named responder")?;
        let signer_key_hash = OctetString::new(
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                named
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            )
            .as_ref(),
        )
        .map_err(der_err("the responder key hash"))?;
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(signer_key_hash),
            produced_at: time(self.this_update)?,
            responses: vec![SingleResponse {
                cert_id,
                cert_status,
                this_update: time(self.this_update)?,
                next_update: self.next_update.map(time).transpose()?,
                single_extensions: self.sct_extensions()?,
            }],
            response_extensions: None,
        };
        let tbs = data.to_der().map_err(der_err("tbsResponseData"))?;
        let mut signature = signer
            .key_material()
            .sign(&tbs)
            .map_err(Error::rcgen("signing the OCSP response"))?;
        if self.corrupt_signature
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
        let certs = match (self.signer, self.include_signer) {
            (Some(_), true) => Some(vec![signer_cert]),
            _ => None,
        };
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: signature_algorithm(signer.key_alg())?,
            signature: BitString::from_bytes(&signature).map_err(der_err("the signature"))?,
            certs,
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(der_err("the OCSPResponse"))
    }
}

/// An `OCSPResponse` that carries only an error status (`responseStatus` 1, 2, 3, 5 or 6:
/// malformedRequest, internalError, tryLater, sigRequired, unauthorized), as a responder
/// answers when it has no answer.
pub fn ocsp_error_response(status: u8) -> Result<Vec<u8>, Error> {
    let response = match status {
        1 => OcspResponse::malformed_request(),
        2 => OcspResponse::internal_error(),
        3 => OcspResponse::try_later(),
        5 => OcspResponse::sig_required(),
        6 => OcspResponse::unauthorized(),
        other => {
            return Err(Error::Unsupported {
                what: format!("OCSP error status {other} (use 1, 2, 3, 5 or 6)"),
            });
        }
    };
    debug_assert_ne!(response.response_status, OcspResponseStatus::Successful);
    response
        .to_der()
        .map_err(der_err("the OCSP error response"))
}

fn der_err(what: &'static str) -> impl Fn(der::Error) -> Error {
    move |e| Error::Der {
        context: format!("encoding {what}: {e}"),
    }
}

fn parse_cert(cert: &Issued, what: &str) -> Result<Certificate, Error> {
    Certificate::from_der(cert.cert.as_ref()).map_err(|e| Error::Der {
        context: format!("reading {what} certificate: {e}"),
    })
}

fn time(t: OffsetDateTime) -> Result<OcspGeneralizedTime, Error> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| Error::Unsupported {
        what: format!("an OCSP time before 1970 ({t})"),
    })?;
    GeneralizedTime::from_unix_duration(core::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(der_err("an OCSP time"))
}

fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        8 => CrlReason::RemoveFromCRL,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

/// The signature AlgorithmIdentifier for what the key signs with (see [`KeyAlg`]).
fn signature_algorithm(alg: KeyAlg) -> Result<AlgorithmIdentifierOwned, Error> {
    let (oid, null_params) = match alg {
        KeyAlg::EcdsaP256 => ("1.2.840.10045.4.3.2", false),
        KeyAlg::EcdsaP384 => ("1.2.840.10045.4.3.3", false),
        KeyAlg::EcdsaP521 => ("1.2.840.10045.4.3.4", false),
        KeyAlg::Ed25519 => ("1.3.101.112", false),
        KeyAlg::Rsa1024 | KeyAlg::Rsa2048 | KeyAlg::Rsa3072 | KeyAlg::Rsa4096 => {
            ("1.2.840.113549.1.1.11", true)
        }
    };
    let oid = ObjectIdentifier::new(oid).map_err(|e| Error::Der {
        context: format!("signature algorithm OID {oid}: {e}"),
    })?;
    Ok(AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(|| Any::from(Null)),
    })
}
