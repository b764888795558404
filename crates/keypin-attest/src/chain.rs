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

/// Formats a Unix time as RFC 3339 (UTC, whole seconds), for messages.
pub(crate) fn rfc3339(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} seconds after 1970", t.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (1_611_404_013, "2021-01-23T12:13:33Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (2_524_607_999, "2049-12-31T23:59:59Z"),
        ] {
            assert_eq!(
                rfc3339(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    secs
                ))),
                text
            );
        }
    }

    #[test]
    fn embedded_roots_all_parse() {
        assert_eq!(
            anchors_from_pem(&[crate::apple::APPLE_APP_ATTESTATION_ROOT_CA_PEM]).len(),
            1
        );
        let google = [
            crate::android::GOOGLE_RSA_ROOT_PEM,
            crate::android::GOOGLE_EC_ROOT_PEM,
        ];
        assert_eq!(anchors_from_pem(&google).len(), 2);
    }
}
