//! A rustls client for talking to the test server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::ServerName;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Connects, sends a GET, and returns the whole reply.
pub fn get(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> io::Result<String> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config, server_name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply)?;
    Ok(reply)
}

/// The rustls error inside an I/O error from a TLS stream.
pub fn tls_error(e: &io::Error) -> &rustls::Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {e:?}"))
}

pub fn assert_ok_reply(reply: &str) {
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "reply: {reply:?}");
    assert!(
        reply.ends_with(keypin_pki::RESPONSE_BODY),
        "reply: {reply:?}"
    );
}
