//! Certificate inspection: keypin-inspect's readers (`keypin inspect`'s `describe_cert`,
//! `keypin pin`'s key-file reader), next to the library's webpki-based SPKI extraction.
//!
//! Asserts a parser differential cannot creep in: when x509-parser (what the CLI shows) and
//! webpki (what the verifier pins) both read a certificate, they find the same SPKI pin; every
//! item the key-file reader returns carries exactly one DER SubjectPublicKeyInfo, and for a
//! certificate it is the one webpki sees.
#![no_main]

use std::path::Path;

use keypin::pin::Pin;
use keypin_fuzz::NOW_SECS;
use keypin_inspect::{cert, keyfile};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

fuzz_target!(|data: &[u8]| {
    let now = i64::try_from(NOW_SECS).unwrap_or(i64::MAX);
    let cert = CertificateDer::from(data);
    let webpki_pin = Pin::spki_of_cert(&cert).ok();
    if let Ok(info) = cert::describe_cert(data, now) {
        // describe_cert reads the first certificate and ignores trailing bytes; webpki refuses
        // trailing bytes, so compare only when webpki read the same certificate.
        if let Some(pin) = webpki_pin {
            assert_eq!(
                info.spki_sha256,
                pin.base64(),
                "x509-parser and webpki disagree on the SPKI"
            );
        }
        assert_eq!(info.cert_sha256, Some(Pin::from_cert_der(data).base64()));
    }
    if let Ok(items) = keyfile::parse_key_material(data, Path::new("fuzz.pem")) {
        assert!(!items.is_empty());
        for m in items {
            let (rest, _) = SubjectPublicKeyInfo::from_der(&m.spki_der).unwrap_or_else(|e| {
                panic!(
                    "{} yields an SPKI x509-parser cannot read: {e}",
                    m.kind.name()
                )
            });
            assert!(rest.is_empty(), "{} SPKI has trailing bytes", m.kind.name());
            match (&m.kind, &m.cert_der) {
                (keyfile::MaterialKind::Certificate, Some(der)) => {
                    let pin = Pin::spki_of_cert(&CertificateDer::from(der.as_slice()))
                        .unwrap_or_else(|e| panic!("certificate item webpki cannot read: {e:?}"));
                    assert_eq!(pin, Pin::from_spki_der(&m.spki_der));
                }
                (keyfile::MaterialKind::Certificate, None) => panic!("certificate without DER"),
                (_, Some(_)) => panic!("{} item carries certificate DER", m.kind.name()),
                (_, None) => {}
            }
        }
    }
});
