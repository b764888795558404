//! Fetchers: how the updater gets bytes. Bundles and roots are self-authenticating (signed), so
//! the transport needs no trust of its own; the cap on bytes is enforced while reading.

use core::fmt;
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::store::PolicyStore;

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// New content, with its ETag when the server sent one.
    Content {
        /// The bytes (at most the cap).
        body: Vec<u8>,
        /// The validator for the next conditional request.
        etag: Option<String>,
    },
    /// `304 Not Modified`: the ETag sent still matches.
    NotModified,
    /// The name does not exist (`404`): e.g. no next root yet.
    NotFound,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// More than the cap; reading stopped at the cap.
    #[error("{name}: response over the {max}-byte cap; refused")]
    TooLarge {
        /// What was fetched.
        name: String,
        /// The cap.
        max: usize,
    },
    /// Network or protocol trouble.
    #[error("{name}: {reason}")]
    Transport {
        /// What was fetched.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// Gets named files (`bundle.json`, `root-2.json`, ...) from wherever bundles are published.
pub trait Fetcher: Send + Sync + fmt::Debug {
    /// Fetches `name`, conditionally on `etag`, reading at most `max_bytes` of body.
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError>;
}

/// Plain HTTP/1.1 over std (one request per connection). Meant for development and tests
/// against `keypin bundle serve`; in production prefer an HTTPS fetcher through a pinned client
/// (the signatures protect the content either way, but HTTPS also hides what is fetched).
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    base: BaseUrl,
    timeout: Duration,
}

impl HttpFetcher {
    /// A fetcher for `http://host:port/prefix/`. Only `http://` URLs are accepted.
    pub fn new(base_url: &str) -> Result<Self, FetchError> {
        Ok(Self {
            base: BaseUrl::parse(base_url, "http", 80)?,
            timeout: Duration::from_secs(15),
        })
    }

    /// Time allowed for a whole fetch: connect, TLS handshake, request and response
    /// (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn get(&self, name: &str, etag: Option<&str>, max: usize) -> Result<Fetched, GetError> {
        let stream = connect(&self.base, self.timeout, None)?;
        exchange(stream, &self.base, name, etag, max)
    }
}

/// `scheme://host[:port][/prefix]`, parsed once.
#[derive(Debug, Clone)]
struct BaseUrl {
    host: String,
    port: u16,
    prefix: String,
}

impl BaseUrl {
    fn parse(url: &str, scheme: &str, default_port: u16) -> Result<Self, FetchError> {
        let bad = |reason: String| FetchError::Transport {
            name: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| bad(format!("only {scheme}:// URLs are accepted here")))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad(format!("bad port {p:?}")))?,
            ),
            None => (authority, default_port),
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let prefix = path.trim_end_matches('/');
        Ok(Self {
            host: host.to_string(),
            port,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
        })
    }

    fn describe(&self, scheme: &str, name: &str) -> String {
        format!(
            "{scheme}://{}:{}{}/{name}",
            self.host, self.port, self.prefix
        )
    }
}

/// A socket with one deadline for the whole exchange: each read and write may take only what
/// is left of it, so a server that drips a byte now and then cannot hold the updater (a
/// per-read timeout alone would wait forever).
#[derive(Debug)]
struct Deadline {
    sock: TcpStream,
    until: Instant,
}

impl Deadline {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out: the exchange did not complete within the fetcher's timeout",
            ));
        }
        Ok(left)
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.sock.set_read_timeout(Some(left))?;
        self.sock.read(buf).map_err(timed_out)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// The OS reports a socket timeout as "Resource temporarily unavailable"; say what it is.
fn timed_out(e: std::io::Error) -> std::io::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out: no answer within the fetcher's timeout",
        ),
        _ => e,
    }
}

fn connect(
    base: &BaseUrl,
    timeout: Duration,
    fixed: Option<SocketAddr>,
) -> Result<Deadline, GetError> {
    let until = Instant::now() + timeout;
    let addr = match fixed {
        Some(addr) => addr,
        None => (base.host.as_str(), base.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| GetError::Other("no address".into()))?,
    };
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    Ok(Deadline { sock, until })
}

/// One HTTP/1.1 GET over `stream`, the body capped at `max` bytes.
fn exchange<S: Read + Write>(
    mut stream: S,
    base: &BaseUrl,
    name: &str,
    etag: Option<&str>,
    max: usize,
) -> Result<Fetched, GetError> {
    let inm = etag
        .map(|e| format!("If-None-Match: {e}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {}/{name} HTTP/1.1\r\nHost: {}\r\n{inm}Connection: close\r\n\r\n",
        base.prefix, base.host
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| describe_io(&e))?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    if reader.read_line(&mut status).map_err(|e| describe_io(&e))? == 0 {
        return Err(GetError::Other(
            "the server closed the connection without an answer".into(),
        ));
    }
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| GetError::Other(format!("not an HTTP response: {:?}", status.trim())))?;
    let mut etag = None;
    let mut length: Option<usize> = None;
    let mut head = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| describe_io(&e))? == 0 {
            break;
        }
        head += line.len();
        if head > 16 * 1024 {
            return Err(GetError::Other("response head over 16 KiB".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if k.eq_ignore_ascii_case("etag") {
                etag = Some(v.trim().to_string());
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok();
            }
        }
    }
    match code {
        304 => return Ok(Fetched::NotModified),
        404 => return Ok(Fetched::NotFound),
        200 => {}
        other => return Err(GetError::Other(format!("HTTP status {other}"))),
    }
    let body = match length {
        Some(len) if len > max => return Err(GetError::TooLarge),
        Some(len) => {
            let mut body = vec![0; len];
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("truncated response: {e}"))?;
            body
        }
        None => {
            let mut body = Vec::new();
            // One byte past the cap tells "exactly at the cap" from "over it".
            let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
            reader
                .take(cap)
                .read_to_end(&mut body)
                .map_err(|e| describe_io(&e))?;
            if body.len() > max {
                return Err(GetError::TooLarge);
            }
            body
        }
    };
    Ok(Fetched::Content { body, etag })
}

/// An I/O error in words a person can act on.
fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => {
            format!("the server closed the connection before the exchange completed ({e})")
        }
        _ => e.to_string(),
    }
}

enum GetError {
    TooLarge,
    Other(String),
}

impl GetError {
    /// The public error for fetching `name` from `base` over `scheme` with a cap of `max` bytes.
    fn into_fetch_error(self, base: &BaseUrl, scheme: &str, name: &str, max: usize) -> FetchError {
        match self {
            Self::TooLarge => FetchError::TooLarge {
                name: name.to_string(),
                max,
            },
            Self::Other(reason) => FetchError::Transport {
                name: base.describe(scheme, name),
                reason,
            },
        }
    }
}

impl From<String> for GetError {
    fn from(reason: String) -> Self {
        Self::Other(reason)
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        self.get(name, etag, max_bytes)
            .map_err(|e| e.into_fetch_error(&self.base, "http", name, max_bytes))
    }
}

impl<F: Fetcher + ?Sized> Fetcher for Arc<F> {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        (**self).fetch(name, etag, max_bytes)
    }
}

/// HTTPS through keypin's own pinned client: each request uses the client configuration the
/// [`PolicyStore`] has in force (so the update host is pinned by the policy, which should carry
/// a rule for it), or a fixed configuration.
#[derive(Debug, Clone)]
pub struct HttpsFetcher {
    base: BaseUrl,
    timeout: Duration,
    tls: TlsSource,
    connect_to: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
enum TlsSource {
    Store(Arc<PolicyStore>),
    Fixed(Arc<ClientConfig>),
}

impl HttpsFetcher {
    /// A fetcher for `https://host[:port]/prefix/` that connects with the live pinned config.
    pub fn new(base_url: &str, store: Arc<PolicyStore>) -> Result<Self, FetchError> {
        Self::with_tls(base_url, TlsSource::Store(store))
    }

    /// A fetcher that always connects with `config` (e.g. a `PinnedConfig` of its own).
    pub fn with_config(base_url: &str, config: Arc<ClientConfig>) -> Result<Self, FetchError> {
        Self::with_tls(base_url, TlsSource::Fixed(config))
    }

    fn with_tls(base_url: &str, tls: TlsSource) -> Result<Self, FetchError> {
        Ok(Self {
            base: BaseUrl::parse(base_url, "https", 443)?,
            timeout: Duration::from_secs(15),
            tls,
            connect_to: None,
        })
    }

    /// Time allowed for a whole fetch: connect, TLS handshake, request and response
    /// (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to `addr` instead of resolving the URL's host (like curl's `--resolve`); the
    /// TLS server name and the pins are still the URL's host.
    pub fn connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    fn get(&self, name: &str, etag: Option<&str>, max: usize) -> Result<Fetched, GetError> {
        let config = match &self.tls {
            TlsSource::Store(store) => store.client_config(),
            TlsSource::Fixed(config) => config.clone(),
        };
        let server_name = ServerName::try_from(self.base.host.clone())
            .map_err(|e| format!("{:?} is not a server name: {e}", self.base.host))?;
        let conn = ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
        let tcp = connect(&self.base, self.timeout, self.connect_to)?;
        exchange(StreamOwned::new(conn, tcp), &self.base, name, etag, max)
    }
}

impl Fetcher for HttpsFetcher {
    fn fetch(
        &self,
        name: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        self.get(name, etag, max_bytes)
            .map_err(|e| e.into_fetch_error(&self.base, "https", name, max_bytes))
    }
}
