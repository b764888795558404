//! A small HTTP/1.1 client over std, shared by the updater (GET of bundles) and the report
//! sender (POST of reports): URL parsing, connecting with timeouts, one request per
//! connection, a capped response body. TLS is the caller's business: it hands in a stream
//! (plain TCP, or rustls over TCP with keypin's pinned configuration). Reading the response,
//! with every line, the head, the chunks and the trailers bounded, is `response`.

pub(crate) mod response;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// `scheme://host[:port][/path]`, parsed once. Only `http` and `https`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The host as written (a name or an IP address; IPv6 without brackets).
    pub host: String,
    /// The port, or the scheme's default.
    pub port: u16,
    /// The path without a trailing slash; empty for the root.
    pub path: String,
}

impl Url {
    /// Parses `url`, accepting only the listed schemes. The error says what is wrong.
    pub(crate) fn parse(url: &str, schemes: &[&'static str]) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not a URL (no scheme://)"))?;
        let scheme = schemes
            .iter()
            .copied()
            .find(|s| s.eq_ignore_ascii_case(scheme))
            .ok_or_else(|| {
                format!(
                    "{url:?}: only {} URLs are accepted here",
                    schemes
                        .iter()
                        .map(|s| format!("{s}://"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            })?;
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(format!("{url:?}: credentials in a URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, parse_port(url, p)?),
                None if after.is_empty() => (h, default_port),
                None => return Err(format!("{url:?}: unexpected {after:?} after the host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(url, p)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{url:?}: the host contains spaces or control characters"
            ));
        }
        let path = path.trim_end_matches('/');
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{url:?}: the path contains spaces or control characters"
            ));
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            },
        })
    }

    /// The URL again, normalised.
    // Only the updater names URLs in its errors.
    #[cfg_attr(not(feature = "updater"), allow(dead_code))]
    pub(crate) fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}{}", self.scheme, self.port, self.path)
    }
}

fn parse_port(url: &str, p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{url:?}: bad port {p:?}"))
}

/// A TCP connection to `host:port` (or to `fixed`), with one deadline (`timeout` from now) for
/// the connection and the whole exchange on it.
pub(crate) fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    fixed: Option<SocketAddr>,
) -> Result<Deadline, String> {
    let until = std::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = match fixed {
        Some(addr) => vec![addr],
        None => (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
    };
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(sock) => return Ok(Deadline { sock, until }),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// A socket with one deadline for the whole exchange: each read and write may take only what
/// is left of it, so a server that drips a byte now and then cannot hold the caller (a
/// per-read timeout alone would wait forever).
#[derive(Debug)]
pub(crate) struct Deadline {
    sock: TcpStream,
    until: std::time::Instant,
}

impl Deadline {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out: the exchange did not complete within the timeout",
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
            "timed out: no answer within the timeout",
        ),
        _ => e,
    }
}

/// One request.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The host header.
    pub host: &'a str,
    /// The path, starting with `/`.
    pub path: &'a str,
    /// Extra headers.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (sent with a `Content-Length` when not empty or when the method is POST).
    pub body: &'a [u8],
}

/// One response. The body is read only for 2xx statuses.
#[derive(Debug)]
// The report sender needs only the status; the updater reads everything.
#[cfg_attr(not(feature = "updater"), allow(dead_code))]
pub(crate) struct Response {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The body was over the cap.
    TooLarge,
    /// Anything else, for a person.
    Other(String),
}

impl From<String> for HttpError {
    fn from(reason: String) -> Self {
        Self::Other(reason)
    }
}

/// One HTTP/1.1 exchange over `stream` (`Connection: close`), the body capped at `max` bytes.
pub(crate) fn exchange<S: Read + Write>(
    mut stream: S,
    req: &Request<'_>,
    max: usize,
) -> Result<Response, HttpError> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        req.method,
        if req.path.is_empty() { "/" } else { req.path },
        req.host
    );
    for (k, v) in req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !req.body.is_empty() || req.method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("\r\n");
    // One write, so the request goes out in as few TLS records and segments as possible.
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(req.body);
    stream
        .write_all(&bytes)
        .and_then(|()| stream.flush())
        .map_err(|e| io_text(&e))?;
    response::read_response(stream, max)
}

/// An I/O error as text; a pin failure inside it (from keypin's verifier) by its first line,
/// not rustls' debug dump.
pub(crate) fn io_text(e: &std::io::Error) -> String {
    if let Some(p) = crate::verify::VerifyError::pin_failure_of_io(e) {
        return p.to_string().lines().next().unwrap_or_default().to_string();
    }
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

/// `base` scaled by a random factor in [0.75, 1.25), so a fleet does not retry in lockstep.
pub(crate) fn jitter(base: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let r = aws_lc_rs::rand::fill(&mut byte).map_or(0.5, |()| {
        f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX)
    });
    base.mul_f64(0.75 + 0.5 * r)
}

/// The exponential backoff after `failures` consecutive failures: `min` doubled per failure
/// after the first, at most `max`, with jitter.
// The updater computes its own (it also shortens waits near a bundle's expiry).
#[cfg_attr(not(feature = "reports"), allow(dead_code))]
pub(crate) fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(20);
    jitter(min.saturating_mul(factor).min(max))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = [
            ("http://h", "http", "h", 80, ""),
            (
                "https://H.example:8443/v1/reports/",
                "https",
                "h.example",
                8443,
                "/v1/reports",
            ),
            ("https://[::1]:9/x", "https", "::1", 9, "/x"),
            ("http://127.0.0.1:5/", "http", "127.0.0.1", 5, ""),
        ];
        for (url, scheme, host, port, path) in ok {
            let u = Url::parse(url, &["http", "https"]).unwrap();
            assert_eq!(
                (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
                (scheme, host, port, path),
                "{url}"
            );
        }
        let bad = [
            ("ftp://h/", "only http:// and https://"),
            ("h/x", "no scheme"),
            ("http://:80/", "no host"),
            ("http://h:0/", "bad port"),
            ("http://h:99999/", "bad port"),
            ("http://u:p@h/", "credentials"),
            ("http://h/a b", "spaces"),
        ];
        for (url, want) in bad {
            let e = Url::parse(url, &["http", "https"]).unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
        }
        assert!(Url::parse("http://h", &["https"]).is_err());
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let min = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for (failures, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let d = backoff(failures, min, max).as_secs_f64() * 1000.0;
            let base = f64::from(base);
            assert!(
                d >= base * 0.75 - 1e-6 && d < base * 1.25 + 1e-6,
                "{failures}: {d}"
            );
        }
    }
}
