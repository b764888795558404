//! An mTLS server that pins its clients' keys, and keypin's client for it.
//!
//! Demo (no arguments): makes a throwaway PKI, starts the server on 127.0.0.1, and connects
//! twice: with the pinned client key (accepted) and with another key from the same CA
//! (refused, with the server's diagnostics).
//!
//! ```text
//! cargo run -p keypin --example mtls_server
//! ```
//!
//! With files: `mtls_server SERVER_CERT SERVER_KEY CLIENT_CA_PEM CLIENTS_TOML [ADDR]` serves
//! until killed and prints each client's identity, or why it was refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use keypin::{
    PinnedConfig, Policy, Roots, clock::SystemClock, identity::ClientIdentity, pin::Pin,
    policy::ClientPolicy, verify::ClientVerifyError, verify::PinnedClientVerifier,
};
use keypin_pki::{CertSpec, Chain, KeyAlg, issue, self_signed};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => demo(),
        [cert, key, ca, clients, rest @ ..] => {
            let addr = rest.first().map_or("127.0.0.1:8443", String::as_str);
            let chain =
                CertificateDer::pem_file_iter(cert)?.collect::<std::result::Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_file(key)?;
            let mut roots = Roots::empty();
            roots.add_pem_file(ca)?;
            let server = Server::new(chain, key, ClientPolicy::from_file(clients)?, roots)?;
            let listener = TcpListener::bind(addr)?;
            println!("mTLS server on {addr}, clients from {clients}");
            loop {
                let (tcp, peer) = listener.accept()?;
                match server.handle(tcp) {
                    Ok(identity) => println!("{peer}: served client {identity:?}"),
                    Err(e) => println!("{peer}: refused: {e}"),
                }
            }
        }
        _ => Err(
            "usage: mtls_server [SERVER_CERT SERVER_KEY CLIENT_CA_PEM CLIENTS_TOML [ADDR]]".into(),
        ),
    }
}

struct Server {
    config: Arc<rustls::ServerConfig>,
    verifier: Arc<PinnedClientVerifier>,
}

impl Server {
    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        clients: ClientPolicy,
        client_ca: Roots,
    ) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(PinnedClientVerifier::new(
            clients,
            client_ca,
            &provider,
            Arc::new(SystemClock),
        )?);
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier.clone())
            .with_single_cert(chain, key)?;
        // rustls does not verify a client again when it resumes a session: keep no sessions,
        // so every connection is checked against the allowlist as it is now.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Self {
            config: Arc::new(config),
            verifier,
        })
    }

    /// One connection: handshake, read a request, answer with the client's identity.
    fn handle(&self, mut tcp: TcpStream) -> Result<String> {
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut conn = rustls::ServerConnection::new(Arc::clone(&self.config))?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                let refusal = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
                    .and_then(ClientVerifyError::pin_failure_of)
                    .map(|f| f.to_string());
                return Err(refusal.unwrap_or_else(|| e.to_string()).into());
            }
        }
        let client = self.verifier.verify_peer(&conn)?;
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        let mut buf = [0u8; 1024];
        let _ = tls.read(&mut buf)?;
        let body = format!("hello, {}\n", client.identity);
        tls.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )?;
        tls.conn.send_close_notify();
        tls.flush()?;
        Ok(client.identity)
    }
}

fn demo() -> Result<()> {
    // The server's own chain (pinned by the client), and the CA that issues client certs.
    let server_chain = Chain::generate("Example Server", &["localhost"], KeyAlg::EcdsaP256)?;
    let client_ca = self_signed(CertSpec::ca("Example Client CA"))?;
    let pinned = issue(CertSpec::client("billing-service"), &client_ca)?;
    let stranger = issue(CertSpec::client("billing-service"), &client_ca)?;
    let spare = self_signed(CertSpec::ca("spare key"))?;

    let clients = ClientPolicy::from_toml_str(
        &format!(
            "[[client]]\nname = \"billing-service\"\npins = [\"{}\", \"{}\"]\nexpires = \"2099-12-31\"\n",
            Pin::from_spki_der(&pinned.spki_der()),
            Pin::from_spki_der(&spare.spki_der())
        ),
        "clients.toml",
    )?;
    let server = Arc::new(Server::new(
        server_chain.served(),
        server_chain.leaf.key.clone_key(),
        clients,
        Roots::empty().with_cert(client_ca.cert.clone())?,
    )?);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let accept = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            for _ in 0..2 {
                if let Ok((tcp, _)) = listener.accept() {
                    match server.handle(tcp) {
                        Ok(identity) => println!("server: accepted client {identity:?}"),
                        Err(e) => println!("server: refused a client:\n{e}"),
                    }
                }
            }
        })
    };

    // keypin's client: pins the server, presents its identity.
    let server_pins = Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"localhost\"]\npins = [\"{}\", \"{}\"]\n",
            Pin::from_spki_der(&server_chain.intermediate.spki_der()),
            Pin::from_spki_der(&spare.spki_der())
        ),
        "server-pins.toml",
    )?;
    for (what, client) in [
        ("pinned client", &pinned),
        ("unpinned client from the same CA", &stranger),
    ] {
        let identity =
            ClientIdentity::new(vec![client.cert.clone()], client.key.clone_key(), what)?;
        let config = PinnedConfig::builder(
            server_pins.clone(),
            Roots::empty().with_cert(server_chain.root.cert.clone())?,
        )
        .client_identity(identity)
        .build()?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into()?)?;
        let mut tcp = TcpStream::connect(addr)?;
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        let outcome = tls
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .and_then(|()| {
                let mut reply = String::new();
                tls.read_to_string(&mut reply).map(|_| reply)
            });
        match outcome {
            Ok(reply) => println!("client ({what}): {}", reply.lines().last().unwrap_or("")),
            Err(e) => println!("client ({what}): refused by the server: {e}"),
        }
    }
    accept.join().map_err(|_| "the server thread panicked")?;
    Ok(())
}
