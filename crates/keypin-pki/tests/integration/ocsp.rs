//! The OCSP responses keypin-pki makes, read back field by field with RustCrypto's x509-ocsp
//! (keypin's tests check them against OpenSSL and through handshakes).

use der::{Decode, Encode};
use keypin_pki::{
    CertSpec, Chain, KeyAlg, OcspHash, OcspResponseSpec, OcspStatus, issue, ocsp_error_response,
};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId};

fn basic(der: &[u8]) -> BasicOcspResponse {
    let outer = OcspResponse::from_der(der).unwrap();
    assert_eq!(outer.response_status, OcspResponseStatus::Successful);
    BasicOcspResponse::from_der(outer.response_bytes.unwrap().response.as_bytes()).unwrap()
}

#[test]
fn responses_say_what_the_spec_asked() {
    for alg in [KeyAlg::EcdsaP256, KeyAlg::Ed25519, KeyAlg::Rsa2048] {
        let chain = Chain::generate("Ocsp", &["ocsp.keypin.test"], alg).unwrap();
        let (leaf, int) = (&chain.leaf, &chain.intermediate);
        let leaf_cert = Certificate::from_der(leaf.cert.as_ref()).unwrap();
        let serial = leaf_cert.tbs_certificate.serial_number.clone();

        let good = basic(&OcspResponseSpec::new(leaf, int).build().unwrap());
        let single = &good.tbs_response_data.responses[0];
        assert_eq!(single.cert_status, CertStatus::good());
        assert_eq!(single.cert_id.serial_number, serial);
        assert_eq!(
            single.cert_id.issuer_name_hash.as_bytes().len(),
            20,
            "SHA-1"
        );
        assert!(single.next_update.is_some());
        assert!(
            good.certs.is_none(),
            "issuer-signed: no certificate included"
        );
        assert!(matches!(
            good.tbs_response_data.responder_id,
            ResponderId::ByKey(_)
        ));

        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let revoked = basic(
            &OcspResponseSpec::new(leaf, int)
                .status(OcspStatus::Revoked {
                    at,
                    reason: Some(1),
                })
                .hash(OcspHash::Sha256)
                .next_update(None)
                .build()
                .unwrap(),
        );
        let single = &revoked.tbs_response_data.responses[0];
        match single.cert_status {
            CertStatus::Revoked(info) => {
                assert_eq!(
                    info.revocation_time.0.to_unix_duration().as_secs(),
                    1_800_000_000
                );
                assert!(info.revocation_reason.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            single.cert_id.issuer_name_hash.as_bytes().len(),
            32,
            "SHA-256"
        );
        assert!(single.next_update.is_none());

        let responder = issue(CertSpec::ocsp_responder("Responder").key_alg(alg), int).unwrap();
        let delegated = basic(
            &OcspResponseSpec::new(leaf, int)
                .signed_by(&responder)
                .serial(&[0x01, 0x02])
                .build()
                .unwrap(),
        );
        let certs = delegated.certs.unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].to_der().unwrap(), responder.cert.as_ref());
        assert_eq!(
            delegated.tbs_response_data.responses[0]
                .cert_id
                .serial_number
                .as_bytes(),
            [0x01, 0x02]
        );
        let bare = basic(
            &OcspResponseSpec::new(leaf, int)
                .signed_by(&responder)
                .include_signer_cert(false)
                .build()
                .unwrap(),
        );
        assert!(bare.certs.is_none());

        // A forged response differs from the genuine one in its signature only.
        let spec = OcspResponseSpec::new(leaf, int).this_update(at);
        let (a, b) = (
            basic(&spec.build().unwrap()),
            basic(&spec.clone().corrupt_signature().build().unwrap()),
        );
        assert_eq!(a.tbs_response_data, b.tbs_response_data);
        if alg == KeyAlg::Ed25519 || alg == KeyAlg::Rsa2048 {
            // Deterministic signatures: the forged one is the genuine one with a bit flipped.
            let (a, b) = (a.signature.raw_bytes(), b.signature.raw_bytes());
            let last = a.len() - 1;
            assert_eq!(a[..last], b[..last]);
            assert_eq!(a[last] ^ b[last], 0x01);
        }
    }
}

#[test]
fn error_responses_carry_only_a_status() {
    for (code, status) in [
        (1, OcspResponseStatus::MalformedRequest),
        (2, OcspResponseStatus::InternalError),
        (3, OcspResponseStatus::TryLater),
        (5, OcspResponseStatus::SigRequired),
        (6, OcspResponseStatus::Unauthorized),
    ] {
        let r = OcspResponse::from_der(&ocsp_error_response(code).unwrap()).unwrap();
        assert_eq!(r.response_status, status);
        assert!(r.response_bytes.is_none());
    }
    for code in [0, 4, 7] {
        let e = ocsp_error_response(code).unwrap_err();
        assert!(e.to_string().contains("use 1, 2, 3, 5 or 6"), "{e}");
    }
}

#[test]
fn must_staple_and_responder_certificates() {
    let chain = Chain::generate("Ocsp", &["ocsp.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let tls_feature = const_oid_tls_feature();
    let ms = issue(
        CertSpec::leaf(&["ocsp.keypin.test"]).must_staple(),
        &chain.intermediate,
    )
    .unwrap();
    let exts = |der: &[u8]| {
        Certificate::from_der(der)
            .unwrap()
            .tbs_certificate
            .extensions
            .unwrap_or_default()
    };
    let feature = exts(ms.cert.as_ref())
        .into_iter()
        .find(|e| e.extn_id == tls_feature)
        .expect("TLS Feature extension");
    assert_eq!(
        Vec::<u16>::from_der(feature.extn_value.as_bytes()).unwrap(),
        [5]
    );
    assert!(
        !exts(chain.leaf.cert.as_ref())
            .iter()
            .any(|e| e.extn_id == tls_feature)
    );

    // A responder certificate: id-kp-OCSPSigning as its only extended key usage, no SAN.
    let responder = issue(CertSpec::ocsp_responder("Responder"), &chain.intermediate).unwrap();
    let eku_oid = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.37");
    let san_oid = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17");
    let exts = exts(responder.cert.as_ref());
    let eku = exts.iter().find(|e| e.extn_id == eku_oid).expect("EKU");
    let purposes = Vec::<der::asn1::ObjectIdentifier>::from_der(eku.extn_value.as_bytes()).unwrap();
    assert_eq!(
        purposes,
        [der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9")]
    );
    assert!(!exts.iter().any(|e| e.extn_id == san_oid));
    assert_eq!(responder.subject_cn(), "Responder");
}

fn const_oid_tls_feature() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24")
}
