//! Human descriptions of certificates and keys (x509-parser), as `keypin inspect` and `keypin check`
//! show them.

use keypin::{pin::Pin, pin::PinFormat};
use serde::Serialize;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// One certificate, as `inspect` prints it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub key_type: String,
    pub key_bits: Option<usize>,
    pub dns_names: Vec<String>,
    /// Bare base64 SHA-256 of the DER SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// Bare base64 SHA-256 of the certificate DER (absent for an anchor known only as a key).
    pub cert_sha256: Option<String>,
    pub is_ca: bool,
    pub self_signed: bool,
}

/// Describes a DER certificate; `now` is Unix seconds.
pub fn describe_cert(der: &[u8], now: i64) -> Result<CertInfo, crate::InspectError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| crate::InspectError::Certificate(e.to_string()))?;
    // The pin is the one the verifier computes: over the SPKI as webpki reads it. x509-parser's
    // raw SPKI differs when the SPKI holds bytes after its key (found by the cert_inspect fuzz
    // target); its reading is kept only for certificates webpki cannot read at all.
    let spki_pin = Pin::spki_of_cert(&rustls_pki_types::CertificateDer::from(der))
        .unwrap_or_else(|_| Pin::from_spki_der(cert.tbs_certificate.subject_pki.raw));
    let (key_type, key_bits) = key_description(&cert.tbs_certificate.subject_pki);
    let not_after = cert.validity().not_after.timestamp();
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_string()),
                    GeneralName::IPAddress(ip) => ip_string(ip),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CertInfo {
        subject: name_string(cert.subject()),
        issuer: name_string(cert.issuer()),
        not_before: keypin::clock::format_rfc3339(cert.validity().not_before.timestamp()),
        not_after: keypin::clock::format_rfc3339(not_after),
        days_left: (not_after - now).div_euclid(86_400),
        key_type,
        key_bits,
        dns_names,
        spki_sha256: spki_pin.to_format(PinFormat::Base64),
        cert_sha256: Some(Pin::from_cert_der(der).to_format(PinFormat::Base64)),
        is_ca: cert.is_ca(),
        self_signed: cert.subject() == cert.issuer(),
    })
}

/// Describes a trust anchor known only by its subject and key (no certificate).
pub fn describe_anchor_key(subject: &str, spki_pin: &Pin) -> CertInfo {
    CertInfo {
        subject: subject.to_string(),
        issuer: subject.to_string(),
        not_before: String::new(),
        not_after: String::new(),
        days_left: 0,
        key_type: "unknown (trust anchor without certificate)".into(),
        key_bits: None,
        dns_names: Vec::new(),
        spki_sha256: spki_pin.to_format(PinFormat::Base64),
        cert_sha256: None,
        is_ca: true,
        self_signed: true,
    }
}

fn ip_string(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| std::net::IpAddr::from(a).to_string()),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| std::net::IpAddr::from(a).to_string()),
        _ => None,
    }
}

/// `CN=…, O=…` in certificate order, like `keypin::dn::format_name`.
pub fn name_string(name: &X509Name<'_>) -> String {
    keypin::dn::format_name(name_content(name.as_raw()))
}

/// The DER content of a Name (its outer SEQUENCE header stripped).
fn name_content(raw: &[u8]) -> &[u8] {
    match raw.get(1) {
        Some(&l) if l < 0x80 => raw.get(2..).unwrap_or(&[]),
        Some(&l) => raw.get(2 + usize::from(l & 0x7f)..).unwrap_or(&[]),
        None => &[],
    }
}

/// `("RSA", Some(2048))`, `("EC P-256", Some(256))`, `("Ed25519", Some(256))`.
pub fn key_description(spki: &SubjectPublicKeyInfo<'_>) -> (String, Option<usize>) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".into(), Some(rsa.key_size())),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let (name, bits) = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("EC P-256", 256),
                Some("1.3.132.0.34") => ("EC P-384", 384),
                Some("1.3.132.0.35") => ("EC P-521", 521),
                _ => ("EC (other curve)", 0),
            };
            (name.into(), (bits > 0).then_some(bits))
        }
        _ if alg == "1.3.101.112" => ("Ed25519".into(), Some(256)),
        _ if alg == "1.3.101.113" => ("Ed448".into(), Some(456)),
        _ => (format!("unknown ({alg})"), None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A certificate whose SPKI SEQUENCE holds 9 bytes after a shortened key BIT STRING: the
    /// SPKI pin shown must be the verifier's (webpki's), not one over x509-parser's raw slice.
    #[test]
    fn spki_pin_is_the_verifiers_when_the_spki_has_trailing_bytes() {
        let leaf = keypin_pki::self_signed(
            keypin_pki::CertSpec::leaf(&["api.example.com"]).key_alg(keypin_pki::KeyAlg::EcdsaP256),
        )
        .unwrap();
        let mut der = leaf.cert.as_ref().to_vec();
        let spki = leaf.spki_der();
        let at = der.windows(spki.len()).position(|w| w == spki).unwrap();
        // 30 59 | 30 13 <algorithm> | 03 42 00 04 <point>: shorten the BIT STRING to 57 bytes.
        assert_eq!(der[at + 23..at + 25], [0x03, 0x42]);
        der[at + 24] = 0x39;
        let webpki = Pin::spki_of_cert(&rustls_pki_types::CertificateDer::from(&der[..])).unwrap();
        let info = describe_cert(&der, 0).unwrap();
        assert_eq!(info.spki_sha256, webpki.base64());
    }
}
