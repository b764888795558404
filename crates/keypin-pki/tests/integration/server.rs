//! The loopback server against a real rustls client.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;

use keypin_pki::{
    CertSpec, Chain, KeyAlg, ServerOptions, ServerVersions, TlsServer, issue, self_signed,
};
use rustls::{CertificateError, Error as TlsError, ProtocolVersion};

use crate::common::{WAIT, assert_ok_reply, client_config, get, tls_error};

const HOST: &str = "api.keypin.test";

fn serve_and_get(chain: &Chain) {
    let server = TlsServer::start(chain.server_options()).unwrap();
    let reply = get(server.addr(), HOST, client_config(chain.root_store()))
        .unwrap_or_else(|e| panic!("{:?} chain: {e}", chain.leaf.key_alg()));
    assert_ok_reply(&reply);

    let log = server.wait_for_connections(1, WAIT);
    assert_eq!(log.len(), 1);
    let row = &log[0];
    assert!(row.handshake_completed, "{row:?}");
    assert!(row.app_data_seen, "{row:?}");
    assert_eq!(row.alert_or_error, None);
    assert_eq!(row.sni.as_deref(), Some(HOST));
    assert_eq!(row.protocol_version, Some(ProtocolVersion::TLSv1_3));
    assert!(!row.resumed);
    assert!(row.finished);
}

#[test]
fn every_usable_key_type_serves_a_verifiable_chain() {
    for alg in KeyAlg::ALL {
        // RSA-4096 is slow to generate (its own test); RSA-1024 must fail (below).
        if matches!(alg, KeyAlg::Rsa4096 | KeyAlg::Rsa1024) {
            continue;
        }
        let chain = Chain::generate("Keypin Test", &[HOST], alg).unwrap();
        serve_and_get(&chain);
    }
}

#[test]
fn rsa_4096_chain_serves() {
    let chain = Chain::generate("Keypin Big", &[HOST], KeyAlg::Rsa4096).unwrap();
    serve_and_get(&chain);
}

#[test]
fn rsa_1024_chain_is_refused_by_the_client() {
    let chain = Chain::generate("Keypin Weak", &[HOST], KeyAlg::Rsa1024).unwrap();
    // The server can still present it (aws-lc-rs would not load the key).
    let server = TlsServer::start(chain.server_options()).unwrap();
    let err = get(server.addr(), HOST, client_config(chain.root_store())).unwrap_err();
    assert_eq!(
        tls_error(&err),
        &TlsError::InvalidCertificate(CertificateError::BadSignature)
    );
    let log = server.wait_for_connections(1, WAIT);
    assert!(!log[0].handshake_completed);
    assert!(log[0].alert_or_error.is_some());
}

#[test]
fn rsa_1024_leaf_under_a_strong_ca_fails_on_the_handshake_signature() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let weak = issue(
        CertSpec::leaf(&[HOST]).key_alg(KeyAlg::Rsa1024),
        &chain.intermediate,
    )
    .unwrap();
    for versions in [ServerVersions::Tls13Only, ServerVersions::Tls12Only] {
        let mut opts = ServerOptions::new(
            vec![weak.cert.clone(), chain.intermediate.cert.clone()],
            weak.key.clone_key(),
        );
        opts.versions = versions;
        let server = TlsServer::start(opts).unwrap();
        let err = get(server.addr(), HOST, client_config(chain.root_store())).unwrap_err();
        // The path is valid; the 1024-bit key's (correct) signature over the handshake is
        // refused by aws-lc-rs, which verifies RSA only from 2048 bits.
        assert_eq!(
            tls_error(&err),
            &TlsError::InvalidCertificate(CertificateError::BadSignature),
            "{versions:?}"
        );
    }
}

#[test]
fn client_with_another_root_fails_and_the_server_logs_the_alert() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let other = Chain::generate("Other", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = TlsServer::start(chain.server_options()).unwrap();

    let err = get(server.addr(), HOST, client_config(other.root_store())).unwrap_err();
    assert_eq!(
        tls_error(&err),
        &TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
    );

    let log = server.wait_for_connections(1, WAIT);
    assert_eq!(log.len(), 1);
    assert!(!log[0].handshake_completed);
    assert!(!log[0].app_data_seen);
    assert_eq!(log[0].sni.as_deref(), Some(HOST));
    let alert = log[0].alert_or_error.as_deref().unwrap();
    assert!(alert.contains("alert"), "{alert}");
}

#[test]
fn wrong_host_name_fails() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = TlsServer::start(chain.server_options()).unwrap();
    let err = get(
        server.addr(),
        "other.keypin.test",
        client_config(chain.root_store()),
    )
    .unwrap_err();
    assert!(
        matches!(
            tls_error(&err),
            TlsError::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
        ),
        "{err}"
    );
}

#[test]
fn tls12_only_server_negotiates_tls12() {
    for alg in [KeyAlg::EcdsaP256, KeyAlg::Rsa2048, KeyAlg::Ed25519] {
        let chain = Chain::generate("Keypin", &[HOST], alg).unwrap();
        let mut opts = chain.server_options();
        opts.versions = ServerVersions::Tls12Only;
        let server = TlsServer::start(opts).unwrap();
        assert_ok_reply(&get(server.addr(), HOST, client_config(chain.root_store())).unwrap());
        let log = server.wait_for_connections(1, WAIT);
        assert_eq!(
            log[0].protocol_version,
            Some(ProtocolVersion::TLSv1_2),
            "{alg}"
        );
        assert!(log[0].handshake_completed && log[0].app_data_seen);
    }
}

#[test]
fn sessions_resume_with_the_same_client_config() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    for versions in [ServerVersions::Tls13Only, ServerVersions::Tls12Only] {
        let mut opts = chain.server_options();
        opts.versions = versions;
        let server = TlsServer::start(opts).unwrap();
        let config = client_config(chain.root_store());
        assert_ok_reply(&get(server.addr(), HOST, Arc::clone(&config)).unwrap());
        assert_ok_reply(&get(server.addr(), HOST, Arc::clone(&config)).unwrap());
        // A fresh config has no session to resume.
        assert_ok_reply(&get(server.addr(), HOST, client_config(chain.root_store())).unwrap());
        let log = server.wait_for_connections(3, WAIT);
        let resumed: Vec<bool> = log.iter().map(|r| r.resumed).collect();
        assert_eq!(resumed, [false, true, false], "{versions:?}");
    }
}

#[test]
fn alpn_is_negotiated_and_logged() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let mut opts = chain.server_options();
    opts.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let server = TlsServer::start(opts).unwrap();
    let mut config = (*client_config(chain.root_store())).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    assert_ok_reply(&get(server.addr(), HOST, Arc::new(config)).unwrap());
    let log = server.wait_for_connections(1, WAIT);
    assert_eq!(log[0].alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn ip_address_san_verifies() {
    let root = self_signed(CertSpec::ca("Keypin IP Root")).unwrap();
    let leaf = issue(
        CertSpec::leaf(&[]).ip_sans(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        &root,
    )
    .unwrap();
    assert_eq!(leaf.subject_cn(), "");
    let server = TlsServer::start(ServerOptions::new(
        vec![leaf.cert.clone()],
        leaf.key.clone_key(),
    ))
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.cert.clone()).unwrap();
    assert_ok_reply(&get(server.addr(), "127.0.0.1", client_config(roots)).unwrap());
    let log = server.wait_for_connections(1, WAIT);
    assert_eq!(log[0].sni, None, "no SNI for an IP address");
}

#[test]
fn cross_signed_intermediate_builds_a_path_to_the_other_root() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let other_root = self_signed(CertSpec::ca("Other Root CA")).unwrap();
    let cross = issue(CertSpec::reissue(&chain.intermediate), &other_root).unwrap();
    assert_eq!(cross.spki_der(), chain.intermediate.spki_der());
    assert_eq!(cross.subject_cn(), chain.intermediate.subject_cn());

    let server = TlsServer::start(ServerOptions::new(
        vec![chain.leaf.cert.clone(), cross.cert.clone()],
        chain.leaf.key.clone_key(),
    ))
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other_root.cert.clone()).unwrap();
    assert_ok_reply(&get(server.addr(), HOST, client_config(roots)).unwrap());
}

#[test]
fn mismatched_key_is_refused_at_start() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let err = TlsServer::start(ServerOptions::new(
        chain.served(),
        chain.intermediate.key.clone_key(),
    ))
    .unwrap_err();
    assert!(matches!(err, keypin_pki::Error::Tls { .. }), "{err}");
}

#[test]
fn max_connections_stops_accepting() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let mut opts = chain.server_options();
    opts.max_connections = Some(1);
    let server = TlsServer::start(opts).unwrap();
    let config = client_config(chain.root_store());
    assert_ok_reply(&get(server.addr(), HOST, Arc::clone(&config)).unwrap());
    server.wait_for_connections(1, WAIT);
    assert!(get(server.addr(), HOST, config).is_err());
    assert_eq!(server.connections().len(), 1);
}

#[test]
fn shutdown_closes_the_port_promptly() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = TlsServer::start(chain.server_options()).unwrap();
    let addr = server.addr();
    assert_eq!(server.port(), addr.port());
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let started = std::time::Instant::now();
    server.shutdown();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn silent_client_is_logged_without_hanging_the_test() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let server = TlsServer::start(chain.server_options()).unwrap();
    // Connect and close without a byte of TLS.
    drop(TcpStream::connect(server.addr()).unwrap());
    let log = server.wait_for_connections(1, WAIT);
    assert_eq!(log.len(), 1);
    assert!(log[0].finished);
    assert!(!log[0].handshake_completed);
    assert!(log[0].alert_or_error.is_some());
}

#[test]
fn one_at_a_time_serves_connections_in_turn_on_the_accept_thread() {
    let chain = Chain::generate("Keypin", &[HOST], KeyAlg::EcdsaP256).unwrap();
    let mut opts = chain.server_options();
    opts.one_at_a_time = true;
    opts.max_connections = Some(3);
    let server = TlsServer::start(opts).unwrap();
    for _ in 0..3 {
        assert_ok_reply(&get(server.addr(), HOST, client_config(chain.root_store())).unwrap());
    }
    let log = server.wait_for_connections(3, WAIT);
    assert_eq!(log.len(), 3);
    for row in &log {
        assert!(
            row.handshake_completed && row.app_data_seen && row.finished,
            "{row:?}"
        );
        assert_eq!(row.alert_or_error, None);
    }
    server.shutdown();
}
