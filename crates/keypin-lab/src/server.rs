//! The scenario servers: one listener (one port) per scenario, on plain threads, each logging
//! what every connection did. The verdict comes from these logs.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ServerConnection, StreamOwned};
use serde::Serialize;

use crate::Error;
use crate::scenario::{Endpoint, Scenario};

/// How long a connection to a scenario server may stay idle before the server gives up on it
/// (the proxy's tunnels wait longer: an app holds its connections open).
const IO_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_REQUEST: usize = 64 * 1024;
/// How often an idle listener checks for new connections and for the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(3);
const BODY: &str = "hello from the keypin lab\n";

/// What one accepted connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConnRow {
    /// The TLS handshake finished (server side).
    pub handshake_completed: bool,
    /// The client sent application data (an HTTP request) after the handshake, or in
    /// cleartext where it should not have.
    pub app_data_seen: bool,
    /// The client offered only TLS 1.0/1.1 (a version fallback).
    pub offered_old_tls: bool,
    /// The alert or error that ended the connection, if any.
    pub alert_or_error: Option<String>,
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// The server is done with the connection.
    pub finished: bool,
}

pub(crate) type Log = Arc<Mutex<Vec<ConnRow>>>;

pub(crate) fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<ConnRow>> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

fn update(log: &Log, row: usize, f: impl FnOnce(&mut ConnRow)) {
    if let Some(r) = lock(log).get_mut(row) {
        f(r);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Behaviour {
    Tls,
    OldTls,
    DropTls,
    /// The cleartext side of SSL stripping: any request counts.
    PlainHttp,
}

#[derive(Debug)]
struct Listener {
    addr: SocketAddr,
    log: Log,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(
        listener: TcpListener,
        behaviour: Behaviour,
        config: Option<Arc<ServerConfig>>,
        redirect: Option<String>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, std::io::Error> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let log: Log = Arc::default();
        let thread = {
            let log = Arc::clone(&log);
            thread::Builder::new()
                .name(format!("keypin-lab-{}", addr.port()))
                .spawn(move || accept_loop(listener, behaviour, config, redirect, stop, log))?
        };
        Ok(Self {
            addr,
            log,
            thread: Some(thread),
        })
    }
}

/// The running endpoint of one scenario.
#[derive(Debug)]
pub struct Endpoints {
    /// The scenario's main (https) address.
    pub addr: SocketAddr,
    /// For SSL stripping: the cleartext http address the redirect points at.
    pub http_addr: Option<SocketAddr>,
    main: Listener,
    http: Option<Listener>,
}

impl Endpoints {
    /// Log rows of the main listener.
    pub fn main_log(&self) -> Vec<ConnRow> {
        lock(&self.main.log).clone()
    }

    /// Log rows of the cleartext listener (SSL stripping), empty for other scenarios.
    pub fn http_log(&self) -> Vec<ConnRow> {
        self.http
            .as_ref()
            .map(|l| lock(&l.log).clone())
            .unwrap_or_default()
    }

    /// Forgets earlier connections (between two clients tested against one server).
    pub fn clear(&self) {
        lock(&self.main.log).clear();
        if let Some(h) = &self.http {
            lock(&h.log).clear();
        }
    }

    /// Waits up to `grace` for every connection accepted so far to finish. Waits a few
    /// accept-poll intervals first, so a client that connected, sent and quit before the accept
    /// loop looked is still logged.
    pub fn settle(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        thread::sleep(ACCEPT_POLL * 4);
        loop {
            let done = lock(&self.main.log).iter().all(|r| r.finished)
                && self
                    .http
                    .as_ref()
                    .is_none_or(|h| lock(&h.log).iter().all(|r| r.finished));
            if done || Instant::now() >= deadline {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// All scenario servers of a lab, running until dropped.
#[derive(Debug)]
pub struct LabServer {
    endpoints: Vec<Endpoints>,
    stop: Arc<AtomicBool>,
}

fn bind(ip: IpAddr, port: u16, scenario: &str) -> Result<TcpListener, Error> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).map_err(|source| Error::Bind {
        scenario: scenario.to_owned(),
        addr,
        hint: match source.kind() {
            ErrorKind::AddrInUse => " (the port is in use: pick another --base-port, or leave it out to let the OS choose)",
            ErrorKind::AddrNotAvailable => " (no local interface has this address)",
            _ => "",
        },
        source,
    })
}

impl LabServer {
    /// Starts every scenario's endpoint on `ip`. With `base_port`, scenario `i` listens on
    /// `base_port + i` and the cleartext listeners follow the last scenario; otherwise the OS
    /// picks free ports.
    pub fn start(
        scenarios: &[Scenario],
        ip: IpAddr,
        base_port: Option<u16>,
    ) -> Result<Self, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = LabServer {
            endpoints: Vec::new(),
            stop: Arc::clone(&stop),
        };
        let mut extra_port = base_port.map(|b| b.saturating_add(scenarios.len() as u16));
        for (i, s) in scenarios.iter().enumerate() {
            let port = base_port.map_or(0, |b| b.saturating_add(i as u16));
            let listener = bind(ip, port, s.id)?;
            let io = |source| Error::Io {
                context: format!("starting the server of scenario {}", s.id),
                source,
            };
            let endpoints = match &s.endpoint {
                Endpoint::Tls {
                    chain,
                    key,
                    redirect_to_http,
                    ocsp,
                } => {
                    let config = Arc::new(tls_config(s.id, chain, key, ocsp.clone())?);
                    let http = if *redirect_to_http {
                        let port = extra_port.map_or(0, |p| p);
                        extra_port = extra_port.map(|p| p.saturating_add(1));
                        let l = bind(ip, port, s.id)?;
                        Some(
                            Listener::start(l, Behaviour::PlainHttp, None, None, Arc::clone(&stop))
                                .map_err(io)?,
                        )
                    } else {
                        None
                    };
                    let redirect = http
                        .as_ref()
                        .map(|h| format!("http://{}:{}/", s.host, h.addr.port()));
                    let main = Listener::start(
                        listener,
                        Behaviour::Tls,
                        Some(config),
                        redirect,
                        Arc::clone(&stop),
                    )
                    .map_err(io)?;
                    Endpoints {
                        addr: main.addr,
                        http_addr: http.as_ref().map(|h| h.addr),
                        main,
                        http,
                    }
                }
                Endpoint::MutualTls {
                    chain,
                    key,
                    verifier,
                } => {
                    let config = Arc::new(mtls_config(s.id, chain, key, Arc::clone(verifier))?);
                    let main = Listener::start(
                        listener,
                        Behaviour::Tls,
                        Some(config),
                        None,
                        Arc::clone(&stop),
                    )
                    .map_err(io)?;
                    Endpoints {
                        addr: main.addr,
                        http_addr: None,
                        main,
                        http: None,
                    }
                }
                Endpoint::OldTls | Endpoint::DropTls => {
                    let behaviour = if matches!(s.endpoint, Endpoint::OldTls) {
                        Behaviour::OldTls
                    } else {
                        Behaviour::DropTls
                    };
                    let main = Listener::start(listener, behaviour, None, None, Arc::clone(&stop))
                        .map_err(io)?;
                    Endpoints {
                        addr: main.addr,
                        http_addr: None,
                        main,
                        http: None,
                    }
                }
            };
            server.endpoints.push(endpoints);
        }
        Ok(server)
    }

    /// The endpoints, in scenario order.
    pub fn endpoints(&self) -> &[Endpoints] {
        &self.endpoints
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for e in &mut self.endpoints {
            for l in [Some(&mut e.main), e.http.as_mut()].into_iter().flatten() {
                if let Some(t) = l.thread.take() {
                    let _ignored = t.join();
                }
            }
        }
    }
}

fn tls_config(
    id: &str,
    chain: &[rustls_pki_types::CertificateDer<'static>],
    key: &rustls_pki_types::PrivateKeyDer<'static>,
    ocsp: Option<Vec<u8>>,
) -> Result<ServerConfig, Error> {
    let tls_err = |source| Error::Tls {
        scenario: id.to_owned(),
        source,
    };
    let signing = keypin_pki::signing_key(key.clone_key())
        .map_err(Error::pki(format!("the signing key of scenario {id}")))?;
    // The chain is served as given (reversed, stuffed, incomplete): no consistency check.
    let mut certified = CertifiedKey::new(chain.to_vec(), signing);
    certified.ocsp = ocsp;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified))))
}

/// A server config that demands a client certificate and checks it with `verifier`.
fn mtls_config(
    id: &str,
    chain: &[rustls_pki_types::CertificateDer<'static>],
    key: &rustls_pki_types::PrivateKeyDer<'static>,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> Result<ServerConfig, Error> {
    let tls_err = |source| Error::Tls {
        scenario: id.to_owned(),
        source,
    };
    let signing = keypin_pki::signing_key(key.clone_key())
        .map_err(Error::pki(format!("the signing key of scenario {id}")))?;
    let certified = CertifiedKey::new(chain.to_vec(), signing);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // Every connection gets a full client check (rustls skips it on resumption).
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

fn accept_loop(
    listener: TcpListener,
    behaviour: Behaviour,
    config: Option<Arc<ServerConfig>>,
    redirect: Option<String>,
    stop: Arc<AtomicBool>,
    log: Log,
) {
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let row = {
            let mut rows = lock(&log);
            rows.push(ConnRow::default());
            rows.len() - 1
        };
        let log = Arc::clone(&log);
        let config = config.clone();
        let redirect = redirect.clone();
        let spawned = thread::Builder::new()
            .name("keypin-lab-conn".into())
            .spawn(move || {
                let outcome = serve(
                    stream,
                    behaviour,
                    config,
                    redirect.as_deref(),
                    &log,
                    row,
                    IO_TIMEOUT,
                );
                update(&log, row, |r| {
                    if let Err(e) = outcome {
                        r.alert_or_error.get_or_insert(e);
                    }
                    r.finished = true;
                });
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

pub(crate) fn serve(
    stream: TcpStream,
    behaviour: Behaviour,
    config: Option<Arc<ServerConfig>>,
    redirect: Option<&str>,
    log: &Log,
    row: usize,
    idle: Duration,
) -> Result<(), String> {
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(idle)))
        .and_then(|()| stream.set_write_timeout(Some(idle)))
        .map_err(|e| format!("configuring the socket: {e}"))?;
    match (behaviour, config) {
        (Behaviour::Tls, Some(config)) => serve_tls(stream, config, redirect, log, row),
        (Behaviour::OldTls, _) => serve_old_tls(stream, log, row),
        (Behaviour::DropTls | Behaviour::PlainHttp, _) => serve_cleartext(stream, log, row),
        (Behaviour::Tls, None) => Err("no TLS configuration".into()),
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out waiting for the client".into(),
        ErrorKind::UnexpectedEof => "the client closed the connection".into(),
        _ => e.to_string(),
    }
}

fn serve_tls(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    redirect: Option<&str>,
    log: &Log,
    row: usize,
) -> Result<(), String> {
    let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, stream);
    keypin_pki::drive_handshake(&mut tls, |sni| update(log, row, |r| r.sni = Some(sni)))
        .map_err(|e| e.describe(io_text))?;
    update(log, row, |r| r.handshake_completed = true);
    read_request(&mut tls, log, row)?;
    let response = match redirect {
        Some(location) => format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        ),
        None => ok_response(),
    };
    tls.write_all(response.as_bytes())
        .map_err(|e| io_text(&e))?;
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock).map_err(|e| io_text(&e))?;
    }
    let _ignored = tls.sock.shutdown(Shutdown::Write);
    Ok(())
}

fn ok_response() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{BODY}",
        BODY.len()
    )
}

/// Reads one request (up to the blank line); the first byte marks the connection accepted.
fn read_request(stream: &mut impl Read, log: &Log, row: usize) -> Result<(), String> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) if request.is_empty() => {
                return Err("the client closed the connection without a request".into());
            }
            Ok(0) => return Ok(()),
            Ok(n) => {
                update(log, row, |r| r.app_data_seen = true);
                request.extend_from_slice(&buf[..n]);
                if request.windows(4).any(|w| w == b"\r\n\r\n") {
                    return Ok(());
                }
                if request.len() > MAX_REQUEST {
                    return Err("request too large".into());
                }
            }
            Err(e) => return Err(io_text(&e)),
        }
    }
}

/// The cleartext side: a TLS ClientHello is answered with a cleartext error and does not
/// count; anything else is a cleartext request and does.
fn serve_cleartext(mut stream: TcpStream, log: &Log, row: usize) -> Result<(), String> {
    let mut first = [0u8; 1];
    match stream.read(&mut first) {
        Ok(0) => return Err("the client closed the connection without a request".into()),
        Ok(_) => {}
        Err(e) => return Err(io_text(&e)),
    }
    if first[0] == 0x16 {
        let _ignored = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ignored = stream.shutdown(Shutdown::Write);
        // Drain what the client still sends (its alert), then close.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        return Err("TLS ClientHello answered in cleartext; the client did not fall back".into());
    }
    update(log, row, |r| r.app_data_seen = true);
    read_request(&mut stream, log, row)?;
    stream
        .write_all(ok_response().as_bytes())
        .map_err(|e| io_text(&e))?;
    let _ignored = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Answers a ClientHello with a TLS 1.0 ServerHello. A client offering only TLS 1.0/1.1, or
/// sending cleartext, fell back.
fn serve_old_tls(mut stream: TcpStream, log: &Log, row: usize) -> Result<(), String> {
    let mut buf = vec![0u8; 5];
    stream.read_exact(&mut buf).map_err(|e| io_text(&e))?;
    if buf[0] != 0x16 {
        update(log, row, |r| r.app_data_seen = true);
        return Err("the client sent cleartext instead of a ClientHello".into());
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).map_err(|e| io_text(&e))?;
    let max = max_offered_version(&body).unwrap_or(0);
    if max != 0 && max <= 0x0302 {
        update(log, row, |r| r.offered_old_tls = true);
    }
    let mut random = [0u8; 32];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    // ServerHello: TLS 1.0, no session id, TLS_RSA_WITH_AES_128_CBC_SHA, no compression.
    let mut hello = vec![0x03, 0x01];
    hello.extend_from_slice(&random);
    hello.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00]);
    let mut handshake = vec![0x02, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    stream.write_all(&record).map_err(|e| io_text(&e))?;
    let mut reply = [0u8; 7];
    match stream.read_exact(&mut reply) {
        Ok(()) if reply[0] == 0x15 => Err(format!(
            "TLS 1.0 ServerHello sent; the client answered with alert {}",
            reply[6]
        )),
        Ok(()) => Err("TLS 1.0 ServerHello sent; the client went on".into()),
        Err(e) => Err(format!("TLS 1.0 ServerHello sent; {}", io_text(&e))),
    }
}

/// The highest TLS version a ClientHello handshake message offers (0x0301 = TLS 1.0 ...).
fn max_offered_version(msg: &[u8]) -> Option<u16> {
    // handshake header (4), client_version (2), random (32)
    let legacy = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    let mut i = 4 + 2 + 32;
    i += 1 + usize::from(*msg.get(i)?); // session id
    i += 2 + usize::from(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?])); // suites
    i += 1 + usize::from(*msg.get(i)?); // compression
    match crate::hello::extension(msg, i, crate::hello::SUPPORTED_VERSIONS)? {
        // A length byte, then 2-byte versions (GREASE ignored).
        Some(data) => data
            .get(1..)?
            .chunks_exact(2)
            .map(|v| u16::from_be_bytes([v[0], v[1]]))
            .filter(|v| v & 0x0f0f != 0x0a0a)
            .max(),
        None => Some(legacy),
    }
}
