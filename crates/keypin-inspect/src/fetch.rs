//! Connecting to a server to see what it serves.
//!
//! The handshake here accepts any certificate chain on purpose: `keypin inspect` must show a
//! chain that does not validate, and `keypin check` must judge the chain with keypin's own
//! verifier, in the same code path an app runs. The server still has to prove it holds the leaf's private
//! key (handshake signatures are verified), and no application data is ever sent.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{InspectError, Reason, within};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Where to connect and whom to expect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Target {
    /// The name for SNI and the certificate name check.
    pub host: String,
    pub port: u16,
    /// Where to dial (`ADDR:PORT` or `HOST:PORT`).
    pub dial: String,
    pub server_name: ServerName<'static>,
    /// The deadline for connecting, and then for the whole handshake.
    pub timeout: Duration,
}

impl Target {
    /// `target` is `HOST`, `HOST:PORT`, `IP`, `[IPv6]:PORT` (port 443 by default); `connect`,
    /// an `ADDR:PORT` to dial instead of resolving the host (SNI and the name check still use
    /// the host); `timeout`, above zero.
    pub fn new(
        target: &str,
        connect: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, InspectError> {
        let refuse = |reason: Reason| InspectError::Target(reason);
        if timeout.is_zero() {
            return Err(refuse("the timeout must be longer than zero".into()));
        }
        let (host, port) = split_host_port(target).map_err(refuse)?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| refuse(format!("{host:?} is not a valid host name or IP address")))?;
        let dial = match connect {
            Some(addr) => {
                let (h, p) = split_host_port(addr)
                    .map_err(within(format!(
                        "connect address {addr:?} must be ADDR:PORT"
                    )))
                    .map_err(refuse)?;
                if !addr.contains(':') && !addr.ends_with(']') {
                    return Err(refuse(format!(
                        "connect address {addr:?} must be ADDR:PORT"
                    )));
                }
                join_host_port(&h, p)
            }
            None => join_host_port(&host, port),
        };
        Ok(Self {
            host,
            port,
            dial,
            server_name,
            timeout,
        })
    }
}

fn split_host_port(s: &str) -> Result<(String, u16), Reason> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty host".into());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: missing ']' after an IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p, s)?,
            None if after.is_empty() => 443,
            None => return Err(format!("{s:?}: expected :PORT after ']'")),
        };
        return Ok((host.to_string(), port));
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok((s.to_string(), 443));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), parse_port(p, s)?)),
        None => Ok((s.to_string(), 443)),
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, Reason> {
    match p.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{whole:?}: {p:?} is not a port number (1-65535)")),
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What the server presented.
#[derive(Debug)]
#[non_exhaustive]
pub struct Fetched {
    /// The address connected to.
    pub peer: SocketAddr,
    /// The server's certificate, then the rest of what it sent, in its order.
    pub leaf: CertificateDer<'static>,
    pub rest: Vec<CertificateDer<'static>>,
    /// The OCSP response the server stapled (empty: none).
    pub ocsp: Vec<u8>,
    /// `TLS 1.3` or `TLS 1.2`.
    pub version: String,
    /// The negotiated cipher suite, as rustls names it.
    pub cipher: String,
}

/// Fetches served chains: one client configuration, tuned for fetching, shared by every fetch.
///
/// The handshake accepts any certificate chain (see the module docs); each fetch gets its own
/// verifier that keeps the stapled OCSP response for [`Fetched::ocsp`].
#[derive(Debug, Clone)]
pub struct Fetcher {
    config: Arc<rustls::ClientConfig>,
    algs: WebPkiSupportedAlgorithms,
}

impl Fetcher {
    /// A fetcher on `provider` (its signature algorithms verify the handshake signatures).
    pub fn new(provider: &CryptoProvider) -> Result<Self, rustls::Error> {
        // Classical key exchange only: a chain fetch carries no secrets worth a post-quantum
        // hybrid, and leaving out ML-KEM saves work on both ends when many hosts are checked.
        let mut provider = provider.clone();
        provider.kx_groups = vec![
            rustls::crypto::aws_lc_rs::kx_group::X25519,
            rustls::crypto::aws_lc_rs::kx_group::SECP256R1,
        ];
        // SHA-256 suites first: the fetch sends no application data, and SHA-256 runs on the
        // CPU's SHA extensions where SHA-384's key schedule does not (7 % of a 500-host
        // `keypin monitor` run).
        provider.cipher_suites.sort_by_key(|s| {
            use rustls::CipherSuite as C;
            !matches!(
                s.suite(),
                C::TLS13_AES_128_GCM_SHA256
                    | C::TLS13_CHACHA20_POLY1305_SHA256
                    | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                    | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                    | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                    | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            )
        });
        let algs = provider.signature_verification_algorithms;
        let verifier = Arc::new(AnyChain {
            algs,
            staple: Arc::default(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Every fetch must see the chain: never resume.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
            algs,
        })
    }

    /// Connects, completes a handshake, takes the served chain and its staple, and closes.
    pub fn fetch(&self, target: &Target) -> Result<Fetched, InspectError> {
        let (mut sock, peer) = connect(target)?;
        // The staple reaches only the verifier: this connection's own verifier keeps it.
        let staple = Arc::new(OnceLock::new());
        let mut config = (*self.config).clone();
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AnyChain {
                algs: self.algs,
                staple: staple.clone(),
            }));
        let mut conn = rustls::ClientConnection::new(Arc::new(config), target.server_name.clone())?;
        // One deadline for the whole handshake: a per-read timeout alone lets a server that
        // drips a byte now and then hold the fetch forever. The deadline is checked on every
        // read and write.
        let mut timed = Deadline {
            sock: &mut sock,
            until: Instant::now() + target.timeout,
        };
        handshake(&mut conn, &mut timed).map_err(|e| handshake_error(&e, target, peer))?;
        let version = conn
            .protocol_version()
            .map(|v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
                rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default();
        let served: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        // The client's last flight and the close_notify leave together, in one write.
        conn.send_close_notify();
        while conn.wants_write() {
            if !matches!(conn.write_tls(&mut timed), Ok(n) if n > 0) {
                break;
            }
        }
        let mut served = served.into_iter();
        let leaf = served.next().ok_or(InspectError::NoCertificate)?;
        Ok(Fetched {
            peer,
            leaf,
            rest: served.collect(),
            ocsp: staple.get().cloned().unwrap_or_default(),
            version,
            cipher,
        })
    }
}

/// A TCP connection to the first of the target's addresses that answers.
fn connect(target: &Target) -> Result<(TcpStream, SocketAddr), InspectError> {
    let addrs: Vec<SocketAddr> = target
        .dial
        .to_socket_addrs()
        .map_err(|source| InspectError::Resolve {
            target: target.dial.clone(),
            source,
        })?
        .collect();
    let mut last_err = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, target.timeout) {
            Ok(s) => return Ok((s, *addr)),
            Err(e) => last_err = Some(format!("{addr}: {e}")),
        }
    }
    Err(InspectError::Connect {
        target: target.dial.clone(),
        reason: last_err.unwrap_or_else(|| "no address".into()),
    })
}

/// Drives the handshake until the server's last flight is processed, without sending the
/// client's own last flight: the caller sends it together with the close_notify, so a fetch
/// costs the server two wake-ups, not four. (rustls' `complete_io` would write the client's
/// Finished on its own, and `Deadline` writes every queued record in one `writev`.)
fn handshake(conn: &mut rustls::ClientConnection, io: &mut Deadline<'_>) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    while conn.is_handshaking() {
        while conn.wants_write() {
            if conn.write_tls(io)? == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
        }
        if conn.read_tls(io)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = conn.process_new_packets() {
            // Send the alert rustls queued, as complete_io does, so the server learns why.
            let _ = conn.write_tls(io);
            return Err(Error::new(ErrorKind::InvalidData, e));
        }
    }
    Ok(())
}

/// A socket whose reads and writes may take only what is left before `until`.
struct Deadline<'a> {
    sock: &'a mut TcpStream,
    until: Instant,
}

impl Deadline<'_> {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.sock.set_read_timeout(Some(left))?;
        self.sock.read(buf)
    }
}

impl std::io::Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// A handshake failure in words: a timeout or a closed connection says so plainly (the OS's
/// "Resource temporarily unavailable" does not).
fn handshake_error(e: &std::io::Error, target: &Target, peer: SocketAddr) -> InspectError {
    use std::io::ErrorKind;
    let secs = target.timeout.as_secs();
    let what = match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
            "timed out: the handshake did not complete within {secs} s (the server stalled; \
             raise the timeout if it is just slow)"
        ),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            format!("the server closed the connection mid-handshake ({e})")
        }
        _ => e.to_string(),
    };
    InspectError::Handshake {
        target: target.dial.clone(),
        peer,
        reason: what,
    }
}

/// Accepts any chain (it is judged afterwards by keypin's verifier); verifies the handshake
/// signatures for real, so the server proves it holds the leaf's key.
#[derive(Debug)]
struct AnyChain {
    algs: WebPkiSupportedAlgorithms,
    /// Where this connection's stapled OCSP response is kept (empty: none stapled).
    staple: Arc<OnceLock<Vec<u8>>>,
}

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A handshake verifies the server's certificate once; a second call cannot happen on
        // this connection's verifier, and would keep the first staple.
        let _ = self.staple.set(ocsp_response.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let rows: &[(&str, Option<(&str, u16)>)] = &[
            ("example.com", Some(("example.com", 443))),
            ("example.com:8443", Some(("example.com", 8443))),
            ("127.0.0.1:4433", Some(("127.0.0.1", 4433))),
            ("[::1]:4433", Some(("::1", 4433))),
            ("[::1]", Some(("::1", 443))),
            ("::1", Some(("::1", 443))),
            ("example.com:0", None),
            ("example.com:http", None),
            ("", None),
        ];
        for (input, want) in rows {
            let got = split_host_port(input).ok();
            assert_eq!(
                got.as_ref().map(|(h, p)| (h.as_str(), *p)),
                *want,
                "{input}"
            );
        }
    }
}
