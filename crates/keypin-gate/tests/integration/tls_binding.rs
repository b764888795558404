//! Channel binding with the gate terminating TLS: the app takes its connection's tls-exporter
//! value and the server's SPKI pin with `keypin::channel_binding`, signs them into its client
//! data, and sends the assertion on that connection (accepted); an assertion naming another
//! connection's exporter, as an intercepting proxy's upstream connection would carry, is
//! refused.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;

use base64::Engine as _;
use keypin_pki::{Chain, KeyAlg};
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

use crate::common::*;

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(port: u16, chain: &Chain) -> Tls {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(chain.root_store())
        .with_no_client_auth();
    let conn = ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, TcpStream::connect(("127.0.0.1", port)).unwrap());
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// One POST on `tls`, `Connection: close`; the response read to the end of its body.
fn post(mut tls: Tls, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    write!(
        tls,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8(reply).unwrap();
    let (head, json) = text.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

struct Setup {
    g: TestGate,
    chain: Chain,
    port: u16,
}

async fn setup() -> Setup {
    let chain = Chain::generate("Gate", &["localhost"], KeyAlg::EcdsaP256).unwrap();
    let pin = keypin_gate::sha256(&[&chain.leaf.spki_der()]);
    let g = start(
        &format!(
            "served_spki_sha256 = [\"{}\"]",
            base64::engine::general_purpose::STANDARD.encode(pin)
        ),
        "production",
    )
    .await;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.served(), chain.leaf.key.clone_key())
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(keypin_gate::server::serve_tls(
        listener,
        Arc::clone(&g.gate),
        Arc::new(server),
    ));
    Setup { g, chain, port }
}

/// Client data for `challenge` naming `bound_to`'s channel, as the app makes it.
fn bound_client_data(challenge: &[u8], bound_to: &Tls) -> Vec<u8> {
    let binding = keypin::channel_binding::channel_binding(&bound_to.conn).unwrap();
    keypin_gate::client_data::build_full(
        challenge,
        "POST",
        "/v1/orders",
        b"{}",
        Some(binding.server_spki.digest()),
        Some(&binding.tls_exporter),
        None,
    )
}

/// An assertion naming `conn`'s channel, sent on `conn`.
fn assert_bound_to(
    conn: Tls,
    challenge: &[u8],
    install: &str,
    key: &mut keypin_pki::attest_sim::SimAppleKey,
) -> (u16, Value) {
    let cd = bound_client_data(challenge, &conn);
    let assertion = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
    post(
        conn,
        "/v1/assert",
        &ios_assert_body(install, &cd, &assertion),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_exporter_of_the_same_connection_is_accepted() {
    let s = setup().await;
    let (install, mut key) = s.g.genuine_ios().await;
    let challenge = s.g.challenge().await;
    let (status, body) = tokio::task::block_in_place(|| {
        let conn = connect(s.port, &s.chain);
        assert_bound_to(conn, &challenge, &install, &mut key)
    });
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_mismatch_tls_exporter_of_another_connection() {
    let s = setup().await;
    let (install, mut key) = s.g.genuine_ios().await;
    let challenge = s.g.challenge().await;
    let (status, body) = tokio::task::block_in_place(|| {
        // The app's connection ends at an interceptor; the gate sees the interceptor's own.
        let apps_side = connect(s.port, &s.chain);
        let gates_side = connect(s.port, &s.chain);
        let cd = bound_client_data(&challenge, &apps_side);
        let assertion = key.assert(&keypin_gate::sha256(&[&cd])).unwrap();
        post(
            gates_side,
            "/v1/assert",
            &ios_assert_body(&install, &cd, &assertion),
        )
    });
    assert_eq!(status, 401, "{body}");
    assert!(
        error_of(&body).contains("tls-exporter value is not this connection's"),
        "{body}"
    );
    let log = s.g.gate.store.audit_log().unwrap();
    assert!(
        log.iter().any(|(e, _, _)| e == "channel binding mismatch"),
        "{log:?}"
    );
}

/// A TLS-terminating interceptor on 127.0.0.1: presents `rogue` to the app and forwards the
/// bytes over its own TLS connection to the gate on `upstream`.
async fn intercepting_proxy(rogue: &Chain, gate_chain: &Chain, upstream: u16) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(rogue.served(), rogue.leaf.key.clone_key())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(gate_chain.root_store())
        .with_no_client_auth();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (acceptor, connector) = (acceptor.clone(), connector.clone());
            tokio::spawn(async move {
                let mut app_side = acceptor.accept(sock).await.unwrap();
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                let mut gate_side = connector
                    .connect("localhost".try_into().unwrap(), tcp)
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut app_side, &mut gate_side).await;
            });
        }
    });
    port
}

/// The scenario: the app's pinning is off and a rogue CA is trusted on the device (a
/// user-installed CA), so its TLS connection ends at an interceptor that relays to the gate.
/// The assertion is genuine, but the channel it names is not the gate's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_mismatch_through_an_intercepting_proxy_with_a_trusted_rogue_ca() {
    let s = setup().await;
    let rogue = Chain::generate("Rogue", &["localhost"], KeyAlg::EcdsaP256).unwrap();
    let proxy = intercepting_proxy(&rogue, &s.chain, s.port).await;
    let (install, mut key) = s.g.genuine_ios().await;
    let challenge = s.g.challenge().await;
    let (status, body) = tokio::task::block_in_place(|| {
        // Pinning off: the app accepts whatever its trust store accepts, here the rogue CA.
        let conn = connect(proxy, &rogue);
        assert_bound_to(conn, &challenge, &install, &mut key)
    });
    assert_eq!(status, 401, "{body}");
    assert!(
        error_of(&body).contains("tls-exporter value is not this connection's"),
        "{body}"
    );
}
