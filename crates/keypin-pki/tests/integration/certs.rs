//! What the factory writes into certificates, read back with x509-parser.

use aws_lc_rs::signature;
use keypin_pki::{
    CertSpec, Chain, Error, Issued, KeyAlg, TlsServer, issue, self_signed, write_pem_files,
};
use rustls::{CertificateError, Error as TlsError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::macros::datetime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{X509Certificate, parse_x509_certificate};
use x509_parser::public_key::PublicKey;

use crate::common::{client_config, get, tls_error};

const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

fn parse(issued: &Issued) -> X509Certificate<'_> {
    let (rest, cert) = parse_x509_certificate(issued.cert.as_ref()).unwrap();
    assert!(rest.is_empty());
    cert
}

fn cn<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a str> {
    cert.subject()
        .iter_common_name()
        .next()
        .map(|a| a.as_str().unwrap())
}

fn dns_sans(cert: &X509Certificate<'_>) -> Option<Vec<String>> {
    cert.subject_alternative_name().unwrap().map(|san| {
        san.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect()
    })
}

/// Checks `child`'s signature with `issuer`'s RSA key, for the given algorithm.
fn rsa_signature_verifies(
    child: &Issued,
    issuer: &Issued,
    alg: &'static signature::RsaParameters,
) -> bool {
    let child = parse(child);
    let issuer = parse(issuer);
    signature::UnparsedPublicKey::new(alg, &issuer.public_key().subject_public_key.data)
        .verify(child.tbs_certificate.as_ref(), &child.signature_value.data)
        .is_ok()
}

#[test]
fn ca_and_leaf_carry_the_expected_extensions() {
    let chain = Chain::generate(
        "Keypin",
        &["a.keypin.test", "b.keypin.test"],
        KeyAlg::Rsa2048,
    )
    .unwrap();

    for ca in [&chain.root, &chain.intermediate] {
        assert!(ca.is_ca());
        let cert = parse(ca);
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical);
        assert!(bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, None);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert!(!ku.digital_signature());
        assert!(cert.extended_key_usage().unwrap().is_none());
        assert_eq!(
            cert.subject()
                .iter_organization()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "Keypin"
        );
    }
    assert_eq!(cn(&parse(&chain.root)), Some("Keypin Root CA"));
    assert_eq!(chain.root.subject_cn(), "Keypin Root CA");
    assert_eq!(chain.intermediate.subject_cn(), "Keypin Issuing CA");
    assert_eq!(
        parse(&chain.intermediate).issuer(),
        parse(&chain.root).subject()
    );

    let leaf = parse(&chain.leaf);
    assert!(!chain.leaf.is_ca());
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment());
    assert!(!ku.key_cert_sign());
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert_eq!(dns_sans(&leaf).unwrap(), ["a.keypin.test", "b.keypin.test"]);
    assert_eq!(cn(&leaf), Some("a.keypin.test"));
    assert_eq!(leaf.issuer(), parse(&chain.intermediate).subject());
    assert_eq!(
        leaf.signature_algorithm.algorithm.to_id_string(),
        SHA256_WITH_RSA
    );

    // No keyEncipherment for an EC leaf.
    let ec = issue(CertSpec::leaf(&["c.keypin.test"]), &chain.intermediate).unwrap();
    assert!(
        !parse(&ec)
            .key_usage()
            .unwrap()
            .unwrap()
            .value
            .key_encipherment()
    );

    // pathLenConstraint when asked for.
    let limited = issue(CertSpec::ca("Limited CA").path_len(0), &chain.root).unwrap();
    assert_eq!(
        parse(&limited)
            .basic_constraints()
            .unwrap()
            .unwrap()
            .value
            .path_len_constraint,
        Some(0)
    );
}

#[test]
fn spki_der_is_the_certificates_spki_for_every_key_type() {
    let root = self_signed(CertSpec::ca("SPKI Root")).unwrap();
    for alg in KeyAlg::ALL {
        if alg == KeyAlg::Rsa4096 {
            continue; // slow; covered by the server test
        }
        let leaf = issue(CertSpec::leaf(&["spki.keypin.test"]).key_alg(alg), &root).unwrap();
        assert_eq!(leaf.key_alg(), alg);
        let cert = parse(&leaf);
        assert_eq!(leaf.spki_der(), cert.public_key().raw, "{alg}");
        if let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() {
            let bits = match alg {
                KeyAlg::Rsa1024 => 1024,
                KeyAlg::Rsa2048 => 2048,
                KeyAlg::Rsa3072 => 3072,
                other => panic!("{other} parsed as RSA"),
            };
            assert_eq!(rsa.key_size(), bits);
        } else {
            assert!(!alg.is_rsa(), "{alg}");
        }
        // The private key is PKCS#8 and rustls' PEM reader reads it back.
        assert!(matches!(leaf.key, PrivateKeyDer::Pkcs8(_)));
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap();
        assert_eq!(key.secret_der(), leaf.key.secret_der());
        let cert = CertificateDer::from_pem_slice(leaf.cert_pem().as_bytes()).unwrap();
        assert_eq!(cert, leaf.cert);
    }
}

#[test]
fn reused_key_gives_the_same_spki_in_another_certificate() {
    let root = self_signed(CertSpec::ca("Reuse Root")).unwrap();
    let first = issue(
        CertSpec::leaf(&["one.keypin.test"]).key_alg(KeyAlg::Ed25519),
        &root,
    )
    .unwrap();
    let other_root = self_signed(CertSpec::ca("Other Root").key_alg(KeyAlg::EcdsaP384)).unwrap();
    // key_alg after key() is ignored: the key decides.
    let second = issue(
        CertSpec::leaf(&["two.keypin.test"])
            .key(&first)
            .key_alg(KeyAlg::Rsa2048),
        &other_root,
    )
    .unwrap();
    assert_eq!(second.spki_der(), first.spki_der());
    assert_eq!(second.key_alg(), KeyAlg::Ed25519);
    assert_eq!(parse(&second).public_key().raw, first.spki_der());
    assert_ne!(second.cert, first.cert);
    assert_eq!(second.key.secret_der(), first.key.secret_der());
    assert_ne!(parse(&second).serial, parse(&first).serial);

    // A fresh key differs.
    let third = issue(CertSpec::leaf(&["one.keypin.test"]), &root).unwrap();
    assert_ne!(third.spki_der(), first.spki_der());
}

#[test]
fn expired_leaf_has_the_requested_dates_and_is_refused() {
    let chain = Chain::generate("Keypin", &["old.keypin.test"], KeyAlg::EcdsaP256).unwrap();
    let not_before = datetime!(2020-01-01 00:00:00 UTC);
    let not_after = datetime!(2021-06-30 12:34:56.789 UTC);
    let expired = issue(
        CertSpec::leaf(&["old.keypin.test"]).validity(not_before, not_after),
        &chain.intermediate,
    )
    .unwrap();
    let cert = parse(&expired);
    assert_eq!(cert.validity().not_before.to_datetime(), not_before);
    // Sub-second parts cannot be written; they are dropped.
    assert_eq!(
        cert.validity().not_after.to_datetime(),
        datetime!(2021-06-30 12:34:56 UTC)
    );
    assert_eq!(expired.not_after(), datetime!(2021-06-30 12:34:56 UTC));
    assert_eq!(expired.not_before(), not_before);

    let server = TlsServer::start(keypin_pki::ServerOptions::new(
        vec![expired.cert.clone(), chain.intermediate.cert.clone()],
        expired.key.clone_key(),
    ))
    .unwrap();
    let err = get(
        server.addr(),
        "old.keypin.test",
        client_config(chain.root_store()),
    )
    .unwrap_err();
    assert!(
        matches!(
            tls_error(&err),
            TlsError::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{err}"
    );
}

#[test]
fn default_validity_covers_now() {
    let leaf = self_signed(CertSpec::leaf(&["now.keypin.test"])).unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert!(leaf.not_before() < now - time::Duration::hours(23));
    assert!(leaf.not_after() > now + time::Duration::days(364));
}

#[test]
fn names_can_be_removed_or_changed() {
    let root = self_signed(CertSpec::ca("Names Root")).unwrap();

    let cn_only = issue(CertSpec::leaf(&["cn.keypin.test"]).no_san(), &root).unwrap();
    let cert = parse(&cn_only);
    assert_eq!(cn(&cert), Some("cn.keypin.test"));
    assert!(cert.subject_alternative_name().unwrap().is_none());

    let san_only = issue(
        CertSpec::leaf(&["san.keypin.test"]).common_name(None),
        &root,
    )
    .unwrap();
    let cert = parse(&san_only);
    assert_eq!(cn(&cert), None);
    assert_eq!(san_only.subject_cn(), "");
    assert_eq!(dns_sans(&cert).unwrap(), ["san.keypin.test"]);

    let renamed = issue(
        CertSpec::leaf(&["x.keypin.test"])
            .common_name(Some("Custom Name"))
            .organization("Keypin Org"),
        &root,
    )
    .unwrap();
    assert_eq!(cn(&parse(&renamed)), Some("Custom Name"));
    assert_eq!(renamed.subject_cn(), "Custom Name");

    assert!(matches!(
        issue(CertSpec::leaf(&["bücher.example"]), &root),
        Err(Error::Rcgen { .. })
    ));
}

#[test]
fn sha1_signatures_from_rsa_issuers() {
    let root = self_signed(CertSpec::ca("SHA1 Root").key_alg(KeyAlg::Rsa2048)).unwrap();
    let intermediate = issue(
        CertSpec::ca("SHA1 Issuing CA")
            .key_alg(KeyAlg::Rsa2048)
            .sha1_signature(),
        &root,
    )
    .unwrap();
    let cert = parse(&intermediate);
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        SHA1_WITH_RSA
    );
    assert_eq!(
        cert.tbs_certificate.signature.algorithm.to_id_string(),
        SHA1_WITH_RSA
    );
    assert!(rsa_signature_verifies(
        &intermediate,
        &root,
        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
    ));
    assert!(!rsa_signature_verifies(
        &intermediate,
        &root,
        &signature::RSA_PKCS1_2048_8192_SHA256
    ));
    // The rest of the certificate is untouched: it can still sign.
    let leaf = issue(CertSpec::leaf(&["sha1.keypin.test"]), &intermediate).unwrap();

    // webpki refuses the SHA-1 link.
    let server = TlsServer::start(keypin_pki::ServerOptions::new(
        vec![leaf.cert.clone(), intermediate.cert.clone()],
        leaf.key.clone_key(),
    ))
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.cert.clone()).unwrap();
    let err = get(server.addr(), "sha1.keypin.test", client_config(roots)).unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::InvalidCertificate(_)),
        "{err}"
    );

    // A self-signed SHA-1 root, with a weak key too.
    let weak_root = self_signed(
        CertSpec::ca("Weak SHA1 Root")
            .key_alg(KeyAlg::Rsa1024)
            .sha1_signature(),
    )
    .unwrap();
    assert!(rsa_signature_verifies(
        &weak_root,
        &weak_root,
        &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
    ));

    // Only RSA issuers can do it.
    let ec_root = self_signed(CertSpec::ca("EC Root")).unwrap();
    assert!(matches!(
        issue(
            CertSpec::leaf(&["x.keypin.test"]).sha1_signature(),
            &ec_root
        ),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn weak_rsa_issuer_signs_verifiable_certificates() {
    let weak_root = self_signed(CertSpec::ca("Weak Root").key_alg(KeyAlg::Rsa1024)).unwrap();
    let leaf = issue(CertSpec::leaf(&["weak.keypin.test"]), &weak_root).unwrap();
    assert_eq!(
        parse(&leaf).signature_algorithm.algorithm.to_id_string(),
        SHA256_WITH_RSA
    );
    assert!(rsa_signature_verifies(
        &leaf,
        &weak_root,
        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
    ));
    assert!(rsa_signature_verifies(
        &weak_root,
        &weak_root,
        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
    ));
}

#[test]
fn clones_keep_signing_with_the_same_key() {
    let root = self_signed(CertSpec::ca("Clone Root")).unwrap();
    let copy = root.clone();
    drop(root);
    let leaf = issue(CertSpec::leaf(&["clone.keypin.test"]), &copy).unwrap();
    let cert = parse(&leaf);
    assert_eq!(cert.issuer(), parse(&copy).subject());
    // Debug output never shows the key.
    let debug = format!("{copy:?}");
    assert!(debug.contains("Clone Root"));
    assert!(!debug.contains(&format!("{:?}", &copy.key.secret_der()[..8])));
}

#[test]
fn pem_files_are_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = self_signed(CertSpec::leaf(&["files.keypin.test"])).unwrap();
    let (crt, key) = write_pem_files(&dir.path().join("sub"), "server", &leaf).unwrap();
    assert_eq!(crt, dir.path().join("sub/server.crt"));
    assert_eq!(key, dir.path().join("sub/server.key"));
    assert_eq!(CertificateDer::from_pem_file(&crt).unwrap(), leaf.cert);
    assert_eq!(
        PrivateKeyDer::from_pem_file(&key).unwrap().secret_der(),
        leaf.key.secret_der()
    );
    assert!(
        std::fs::read_to_string(&crt)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
