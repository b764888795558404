//! Client identities from PKCS#12 files: written by p12-keystore (AES and legacy 3DES) and,
//! when the `openssl` command is installed, by OpenSSL itself. (The identity they make is the
//! same `ClientIdentity` that tests/mtls.rs takes through real mTLS handshakes.)

use std::process::Command;

use keypin::{identity::ClientIdentity, pin::Pin};
use keypin_pki::{CertSpec, Issued, KeyAlg, issue, self_signed};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain,
};
use rustls_pki_types::PrivateKeyDer;

fn pkcs8(issued: &Issued) -> Vec<u8> {
    match &issued.key {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        other => panic!("{other:?}"),
    }
}

fn p12(client: &Issued, ca: &Issued, password: &str, alg: EncryptionAlgorithm) -> Vec<u8> {
    let mut store = KeyStore::new();
    let chain = PrivateKeyChain::new(
        vec![1u8, 2, 3, 4],
        PrivateKey::from_der(&pkcs8(client)).unwrap(),
        [
            Certificate::from_der(client.cert.as_ref()).unwrap(),
            Certificate::from_der(ca.cert.as_ref()).unwrap(),
        ],
    );
    store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .encryption_algorithm(alg)
        .write()
        .unwrap()
}

#[test]
fn pkcs12_identities_load_and_bad_ones_are_refused() {
    let ca = self_signed(CertSpec::ca("P12 CA")).unwrap();
    for alg in [KeyAlg::EcdsaP256, KeyAlg::Rsa2048] {
        let client = issue(CertSpec::client("p12-client").key_alg(alg), &ca).unwrap();
        for enc in [
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
        ] {
            let bytes = p12(&client, &ca, "s3cret", enc);
            let id = ClientIdentity::from_pkcs12(&bytes, "s3cret", "client.p12").unwrap();
            assert_eq!(id.chain().len(), 2);
            assert_eq!(id.chain()[0], client.cert, "{alg:?} {enc:?}: leaf first");
            assert_eq!(
                id.spki_pin().unwrap(),
                Pin::from_spki_der(&client.spki_der())
            );
        }
    }
    let client = issue(CertSpec::client("p12-client"), &ca).unwrap();
    let bytes = p12(
        &client,
        &ca,
        "s3cret",
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
    );
    let e = ClientIdentity::from_pkcs12(&bytes, "wrong", "client.p12").unwrap_err();
    assert!(e.to_string().contains("client.p12"), "{e}");
    assert!(e.to_string().contains("wrong password"), "{e}");
    let e = ClientIdentity::from_pkcs12(b"not a p12", "x", "junk.p12").unwrap_err();
    assert!(
        e.to_string()
            .contains("junk.p12: not a readable PKCS#12 file"),
        "{e}"
    );
}

#[test]
fn pkcs12_written_by_openssl_loads() {
    let have_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_openssl {
        eprintln!("openssl not found: skipping the OpenSSL-written PKCS#12 test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = self_signed(CertSpec::ca("P12 CA")).unwrap();
    let client = issue(CertSpec::client("openssl-client"), &ca).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cert = write("c.pem", client.cert_pem());
    let key = write("k.pem", client.key_pem());
    let chain = write("ca.pem", ca.cert_pem());
    let out = dir.path().join("id.p12");
    let status = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:s3cret", "-inkey"])
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-certfile")
        .arg(&chain)
        .arg("-out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let id = ClientIdentity::from_pkcs12_file(&out, "s3cret").unwrap();
    assert_eq!(id.chain()[0], client.cert);
    assert_eq!(id.chain().len(), 2);
}
