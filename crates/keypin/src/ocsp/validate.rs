//! Steps 2 to 5: the response matched to the leaf and its issuer on the verified path, its
//! signer checked, its freshness and status judged; and the must-staple extension.

use super::parse::{RawSpki, Responder};
#[allow(clippy::wildcard_imports)]
use super::*;

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
pub(super) fn strip_sequence(der: &[u8]) -> &[u8] {
    AnyRef::from_der(der).map_or(der, |a| a.value())
}

/// `SEQUENCE { contents }` in DER.
pub(super) fn wrap_sequence(contents: &[u8]) -> Option<Vec<u8>> {
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

impl Responder {
    /// Does the responderID name `issuer`?
    pub(super) fn names(&self, issuer: &Issuer) -> bool {
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
