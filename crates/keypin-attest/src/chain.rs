//! Certificate path validation for both platforms: webpki with aws-lc-rs's algorithms, the
//! caller's trust anchors, at the injected time. Attestation leaves carry no extended key
//! usage, so none is required (one that is present must not be a TLS usage either way: webpki
//! is given serverAuth "if present", which an attestation certificate never carries).

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

/// Why a chain did not validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChainError {
    /// No path from the leaf to one of the trusted roots.
    UnknownRoot,
    /// A certificate on every candidate path had expired at the given time.
    Expired { not_after: UnixTime },
    /// A certificate was not yet valid at the given time.
    NotYetValid { not_before: UnixTime },
    /// Anything else webpki refused (bad signature, CA constraints, unparsable certificate).
    Invalid(String),
}

/// Validates `leaf` up to one of `anchors` through `intermediates` at `now`.
pub(crate) fn verify(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> Result<(), ChainError> {
    let ee = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| ChainError::Invalid(format!("leaf: {e}")))?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        intermediates,
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| match e {
        webpki::Error::UnknownIssuer => ChainError::UnknownRoot,
        webpki::Error::CertExpired { not_after, .. } => ChainError::Expired { not_after },
        webpki::Error::CertNotValidYet { not_before, .. } => ChainError::NotYetValid { not_before },
        other => ChainError::Invalid(format!("{other:?}")),
    })
}

/// Trust anchors from embedded PEM certificates, parsed once per process.
pub(crate) fn anchors_from_pem(pems: &[&str]) -> Vec<TrustAnchor<'static>> {
    use rustls_pki_types::pem::PemObject as _;
    pems.iter()
        .filter_map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
        .filter_map(|der| {
            webpki::anchor_from_trusted_cert(&der)
                .ok()
                .map(|a| a.to_owned())
        })
        .collect()
}

/// Formats a Unix time as RFC 3339 (UTC, seconds), for messages.
pub(crate) fn rfc3339(t: UnixTime) -> String {
    let secs = t.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
