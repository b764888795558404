//! A loopback TLS server for tests and demos: serves one chain, answers HTTP requests with a
//! fixed body, and logs what each connection did.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls::{HandshakeKind, InconsistentKeys, ServerConnection, StreamOwned};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;
use crate::rsa_legacy::{LegacyRsaSigningKey, RsaPrivateKey};

/// How long a connection may sit idle (reading or writing) before the server gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests larger than this are refused, so a runaway client cannot fill memory.
const MAX_REQUEST: usize = 64 * 1024;

/// The body of every HTTP response.
pub const RESPONSE_BODY: &str = "hello from keypin-pki\n";

/// Which TLS versions the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerVersions {
    /// TLS 1.3 only.
    Tls13Only,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 and 1.2.
    #[default]
    Both,
}

impl ServerVersions {
    fn rustls(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        match self {
            ServerVersions::Tls13Only => &TLS13,
            ServerVersions::Tls12Only => &TLS12,
            ServerVersions::Both => &BOTH,
        }
    }
}

/// What the server serves and how.
#[derive(Debug)]
pub struct ServerOptions {
    /// The certificates sent to the client, leaf first. Sent as given, so a test can send a
    /// wrong or padded chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key. RSA keys below 2048 bits, which aws-lc-rs refuses, are
    /// handled by this crate's own test-only RSA code.
    pub key: PrivateKeyDer<'static>,
    /// ALPN protocols offered (none by default).
    pub alpn: Vec<Vec<u8>>,
    /// TLS versions accepted (default both 1.2 and 1.3).
    pub versions: ServerVersions,
    /// Stop accepting after this many connections (default: no limit).
    pub max_connections: Option<usize>,
    /// A DER OCSP response to staple (default: none), sent to clients that ask for one
    /// (status_request) in TLS 1.2 and 1.3. See [`crate::OcspResponseSpec`].
    pub ocsp: Option<Vec<u8>>,
    /// Ask for client certificates (mTLS) and check them with this verifier (default: none,
    /// no client authentication).
    pub client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    /// Serve each connection on the accept thread, one after the other, instead of starting
    /// a thread per connection (default: false). For benchmarks with many servers and one
    /// connection each at a time, where spawning and tearing down a thread per handshake
    /// would cost the server more than the handshake.
    pub one_at_a_time: bool,
}

impl ServerOptions {
    /// Options serving `chain` with `key`, and defaults for everything else.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            chain,
            key,
            alpn: Vec::new(),
            versions: ServerVersions::default(),
            max_connections: None,
            ocsp: None,
            client_verifier: None,
            one_at_a_time: false,
        }
    }
}

/// What happened on one accepted connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLog {
    /// The TLS handshake finished from the server's side.
    pub handshake_completed: bool,
    /// The client sent application data after the handshake.
    pub app_data_seen: bool,
    /// The first alert or error that ended the connection early (a fatal alert from the
    /// client shows as `received fatal alert: ...`); `None` for a clean connection.
    pub alert_or_error: Option<String>,
    /// The server name the client sent (SNI), if any.
    pub sni: Option<String>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The negotiated TLS version, once known.
    pub protocol_version: Option<rustls::ProtocolVersion>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The handshake resumed an earlier session.
    pub resumed: bool,
    /// The server is done with this connection; no field changes after this.
    pub finished: bool,
}

impl ConnectionLog {
    fn new(peer: SocketAddr) -> Self {
        Self {
            handshake_completed: false,
            app_data_seen: false,
            alert_or_error: None,
            sni: None,
            peer,
            protocol_version: None,
            alpn: None,
            resumed: false,
            finished: false,
        }
    }
}

type Log = Arc<Mutex<Vec<ConnectionLog>>>;

/// A TLS server on `127.0.0.1`, on a port the OS picks, serving on background threads.
///
/// Each connection runs on its own thread: the handshake, then, if the client sends an HTTP
/// request (anything ending in a blank line), a `200 OK` reply with [`RESPONSE_BODY`], a
/// close_notify, and the end. Every socket has a 5 s read and write timeout, so a stuck
/// client never hangs a test. Sessions can be resumed (tickets and a session cache).
///
/// ```
/// use keypin_pki::{Chain, KeyAlg, TlsServer};
///
/// let chain = Chain::generate("Example", &["localhost"], KeyAlg::EcdsaP256)?;
/// let server = TlsServer::start(chain.server_options())?;
/// assert_ne!(server.port(), 0);
/// server.shutdown();
/// # Ok::<(), keypin_pki::Error>(())
/// ```
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Log,
    accept_thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Binds `127.0.0.1:0` and starts serving `opts`.
    pub fn start(opts: ServerOptions) -> Result<TlsServer, Error> {
        let config = Arc::new(server_config(
            opts.chain,
            opts.key,
            opts.versions,
            opts.alpn,
            opts.ocsp,
            opts.client_verifier,
        )?);

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(Error::io("binding the test TLS server to 127.0.0.1"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("reading the test TLS server's address"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let log: Log = Arc::default();
        let accept_thread = {
            let stop = Arc::clone(&stop);
            let log = Arc::clone(&log);
            let max = opts.max_connections;
            let inline = opts.one_at_a_time;
            thread::Builder::new()
                .name(format!("keypin-pki-accept-{}", addr.port()))
                .spawn(move || accept_loop(listener, config, stop, log, max, inline))
                .map_err(Error::io("starting the test TLS server's accept thread"))?
        };

        Ok(TlsServer {
            addr,
            stop,
            log,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the server listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A snapshot of the log, one row per accepted connection in accept order. Rows of
    /// connections still in progress may change; see [`TlsServer::wait_for_connections`].
    pub fn connections(&self) -> Vec<ConnectionLog> {
        lock(&self.log).clone()
    }

    /// Waits until at least `count` connections were accepted and every accepted connection
    /// is [`finished`](ConnectionLog::finished), or until `timeout`; then returns the log.
    /// Use it after a client failed, when the server may not have seen the alert yet.
    pub fn wait_for_connections(&self, count: usize, timeout: Duration) -> Vec<ConnectionLog> {
        let deadline = Instant::now() + timeout;
        loop {
            let rows = self.connections();
            let done = rows.len() >= count && rows.iter().all(|r| r.finished);
            if done || Instant::now() >= deadline {
                return rows;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops accepting connections and waits for the accept thread to end. Connections
    /// already accepted run to completion (bounded by the 5 s socket timeouts). Dropping the
    /// server does the same.
    pub fn shutdown(self) {
        // Drop does the work.
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept_thread.take() {
            // Wake the blocking accept() so it sees the flag. If the loop already ended
            // (max_connections reached) nothing listens and the connect fails harmlessly.
            if !handle.is_finished() {
                let _ignored = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            }
            let _ignored = handle.join();
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: ServerVersions,
    alpn: Vec<Vec<u8>>,
    ocsp: Option<Vec<u8>>,
    client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signing_key = load_signing_key(&provider, key)?;
    let mut certified = CertifiedKey::new(chain, signing_key);
    certified.ocsp = ocsp;
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(Error::Tls {
                context: "checking that the server key belongs to the first certificate of the \
                          chain"
                    .to_owned(),
                source: e,
            });
        }
    }

    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions.rustls())
        .map_err(Error::tls(
            "choosing the test TLS server's protocol versions",
        ))?;
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = alpn;
    // Stateless tickets for resumption; the default in-memory session cache stays in place
    // for TLS 1.2 clients that do not take tickets.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .map_err(Error::tls("creating the session ticketer"))?;
    Ok(config)
}

/// Loads a server's private key into a rustls signing key the way [`TlsServer`] does,
/// including RSA keys below 2048 bits (which aws-lc-rs refuses) through this crate's
/// test-only RSA code: for servers built elsewhere (the attack lab) that serve such keys.
pub fn signing_key(key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
    load_signing_key(&rustls::crypto::aws_lc_rs::default_provider(), key)
}

fn load_signing_key(
    provider: &CryptoProvider,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<dyn SigningKey>, Error> {
    let pkcs8 = match &key {
        PrivateKeyDer::Pkcs8(pkcs8) => Some(pkcs8.secret_pkcs8_der().to_vec()),
        _ => None,
    };
    match provider.key_provider.load_private_key(key) {
        Ok(signing_key) => Ok(signing_key),
        Err(source) => {
            // aws-lc-rs refuses RSA keys below 2048 bits; serve those with our own code.
            if let Some(rsa) = pkcs8.and_then(|der| RsaPrivateKey::from_pkcs8(&der).ok())
                && rsa.modulus_len() < 256
            {
                return Ok(Arc::new(LegacyRsaSigningKey(Arc::new(rsa))));
            }
            Err(Error::Tls {
                context: "loading the test TLS server's private key".to_owned(),
                source,
            })
        }
    }
}

fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<ConnectionLog>> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

fn update(log: &Log, row: usize, f: impl FnOnce(&mut ConnectionLog)) {
    if let Some(entry) = lock(log).get_mut(row) {
        f(entry);
    }
}

fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    stop: Arc<AtomicBool>,
    log: Log,
    max_connections: Option<usize>,
    inline: bool,
) {
    let mut accepted = 0usize;
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(_) => {
                // Out of file descriptors or an aborted connection: back off and go on.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        let row = {
            let mut rows = lock(&log);
            rows.push(ConnectionLog::new(peer));
            rows.len() - 1
        };
        accepted += 1;

        if inline {
            let outcome = serve(stream, Arc::clone(&config), &log, row);
            finish(&log, row, outcome);
        } else {
            spawn_connection(stream, &config, &log, row);
        }

        if max_connections.is_some_and(|max| accepted >= max) {
            break;
        }
    }
}

/// Runs one connection on a thread of its own.
fn spawn_connection(stream: TcpStream, config: &Arc<ServerConfig>, log: &Log, row: usize) {
    let spawned = {
        let config = Arc::clone(config);
        let log = Arc::clone(log);
        thread::Builder::new()
            .name(format!("keypin-pki-conn-{row}"))
            .spawn(move || {
                let outcome = serve(stream, config, &log, row);
                finish(&log, row, outcome);
            })
    };
    if let Err(e) = spawned {
        update(log, row, |entry| {
            entry.alert_or_error = Some(format!("could not start a connection thread: {e}"));
            entry.finished = true;
        });
    }
}

/// Marks a connection's row done, with the error that ended it, if any.
fn finish(log: &Log, row: usize, outcome: Result<(), String>) {
    update(log, row, |entry| {
        if let Err(e) = outcome {
            entry.alert_or_error.get_or_insert(e);
        }
        entry.finished = true;
    });
}

/// Runs one connection; `Err` carries the text for [`ConnectionLog::alert_or_error`].
fn serve(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    log: &Log,
    row: usize,
) -> Result<(), String> {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| format!("configuring the socket: {e}"))?;
    let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, stream);
    drive_handshake(&mut tls, |sni| {
        update(log, row, |entry| entry.sni = Some(sni))
    })
    .map_err(|e| e.describe(describe_io))?;
    let version = tls.conn.protocol_version();
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    let resumed = tls.conn.handshake_kind() == Some(HandshakeKind::Resumed);
    update(log, row, |entry| {
        entry.handshake_completed = true;
        entry.protocol_version = version;
        entry.alpn = alpn;
        entry.resumed = resumed;
    });

    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if request.is_empty() {
                    update(log, row, |entry| entry.app_data_seen = true);
                }
                request.extend_from_slice(&buf[..n]);
                if request.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
                if request.len() > MAX_REQUEST {
                    return Err(format!("request larger than {MAX_REQUEST} bytes"));
                }
            }
            Err(e) => return Err(describe_io(&e)),
        }
    }

    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{RESPONSE_BODY}",
        RESPONSE_BODY.len()
    );
    tls.write_all(response.as_bytes())
        .map_err(|e| describe_io(&e))?;
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        tls.conn
            .write_tls(&mut tls.sock)
            .map_err(|e| describe_io(&e))?;
    }
    let _ignored = tls.sock.shutdown(Shutdown::Write);
    Ok(())
}

/// How a server-side handshake ended early.
#[derive(Debug)]
pub enum HandshakeEnd {
    /// The client closed the connection before the handshake finished.
    ClosedByClient,
    /// An I/O or TLS error (rustls errors arrive wrapped in `InvalidData`).
    Io(io::Error),
}

impl HandshakeEnd {
    /// Text for a connection log, with `io` describing I/O errors.
    pub fn describe(&self, io: impl Fn(&io::Error) -> String) -> String {
        match self {
            Self::ClosedByClient => "the client closed the connection during the handshake".into(),
            Self::Io(e) => io(e),
        }
    }
}

/// Drives a server-side TLS handshake to its end, reporting the client's SNI name as soon as
/// it is known (the lab's and this crate's servers both log it, even for failed handshakes).
pub fn drive_handshake(
    tls: &mut StreamOwned<ServerConnection, TcpStream>,
    mut on_sni: impl FnMut(String),
) -> Result<(), HandshakeEnd> {
    let mut sni_seen = false;
    while tls.conn.is_handshaking() {
        let progress = tls.conn.complete_io(&mut tls.sock);
        if !sni_seen && let Some(sni) = tls.conn.server_name() {
            sni_seen = true;
            on_sni(sni.to_owned());
        }
        match progress {
            Ok((0, 0)) if tls.conn.is_handshaking() => return Err(HandshakeEnd::ClosedByClient),
            Ok(_) => {}
            Err(e) => return Err(HandshakeEnd::Io(e)),
        }
    }
    Ok(())
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!(
                "timed out after {} s waiting for the client",
                IO_TIMEOUT.as_secs()
            )
        }
        io::ErrorKind::UnexpectedEof => {
            "the client closed the connection without close_notify".to_owned()
        }
        // rustls errors (alerts received, bad messages) come wrapped in InvalidData.
        _ => e.to_string(),
    }
}
