//! A test PKI factory and a loopback TLS server, for keypin's tests, its `keypin demo`
//! command and the attack lab.
//!
//! Everything is generated at run time with rcgen on the aws-lc-rs backend: CA and leaf
//! certificates with any common key type ([`KeyAlg`]), ready three-level chains ([`Chain`]),
//! the same key in several certificates ([`CertSpec::key`]), and deliberately broken
//! certificates (expired, CN-only, SHA-1-signed, 1024-bit RSA) that a pinning client must
//! refuse; OCSP responses ([`OcspResponseSpec`]: good, revoked, stale, delegated, forged),
//! must-staple leaves and responder certificates. [`TlsServer`] serves any chain on
//! `127.0.0.1` (stapling a response if asked) and logs what each client did.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use keypin_pki::{Chain, KeyAlg, TlsServer};
//!
//! let chain = Chain::generate("Example", &["localhost"], KeyAlg::EcdsaP256)?;
//! let server = TlsServer::start(chain.server_options())?;
//!
//! let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
//! let config = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(chain.root_store())
//!     .with_no_client_auth();
//! let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into()?)?;
//! let tcp = std::net::TcpStream::connect(server.addr())?;
//! let mut tls = rustls::StreamOwned::new(conn, tcp);
//! tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
//! let mut reply = String::new();
//! tls.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not for production: the 1024-bit RSA and SHA-1 support uses this crate's own
//! variable-time RSA code, which exists only to make weak test certificates.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod attest_sim;
mod cert;
mod chain;
mod ct;
mod der;
mod error;
mod faulty;
mod files;
mod key;
mod ocsp;
mod rsa_legacy;
mod server;

pub use cert::{CertSpec, Issued, issue, self_signed};
pub use chain::Chain;
pub use ct::{SctSpec, TestLog, issue_with_scts, log_list_json, sct_list, x509_entry_sct};
pub use error::Error;
pub use faulty::{Fault, FaultyServer};
pub use files::write_pem_files;
pub use key::KeyAlg;
pub use ocsp::{OcspHash, OcspResponseSpec, OcspStatus, ocsp_error_response};
pub use server::{
    ConnectionLog, HandshakeEnd, RESPONSE_BODY, ServerOptions, ServerVersions, TlsServer,
    drive_handshake, signing_key,
};
