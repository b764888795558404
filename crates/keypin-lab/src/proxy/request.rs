//! The one request a proxy client sends before its tunnel: `CONNECT host:port` (RFC 9110
//! §9.3.6), or an absolute-form request for plain http (`GET http://host/...`). Read under a
//! size bound and the socket's deadline, before anything is expanded.

use std::io::Read;

/// The longest request head a client may send (request line and headers).
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// What the client asked the proxy for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyRequest {
    /// A tunnel to `host:port`; the client speaks TLS next.
    Connect { host: String, port: u16 },
    /// A cleartext request for `http://host:port/...`; `head` is the whole request head as
    /// received (forwarded as is), `rest` what followed it in the same reads (a body start).
    Http {
        host: String,
        port: u16,
        head: Vec<u8>,
        rest: Vec<u8>,
    },
}

#[cfg(test)]
impl ProxyRequest {
    /// The host the client named (lower case, no brackets).
    pub(crate) fn host(&self) -> &str {
        match self {
            Self::Connect { host, .. } | Self::Http { host, .. } => host,
        }
    }
}

/// Why a request was refused: the status line to answer with, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// Reads one request head (up to the blank line, at most [`MAX_HEAD`] bytes) and parses it.
pub(crate) fn read(stream: &mut impl Read) -> Result<ProxyRequest, Refusal> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let end = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(refuse(400, "the client closed before its request ended")),
            Ok(n) => n,
            Err(e) => return Err(refuse(408, format!("reading the request: {e}"))),
        };
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            break searched_from + i + 4;
        }
        if head.len() > MAX_HEAD {
            return Err(refuse(
                431,
                format!("the request head is over {MAX_HEAD} bytes"),
            ));
        }
    };
    let rest = head.split_off(end);
    if head.len() > MAX_HEAD {
        return Err(refuse(
            431,
            format!("the request head is over {MAX_HEAD} bytes"),
        ));
    }
    parse(head, rest)
}

fn parse(head: Vec<u8>, rest: Vec<u8>) -> Result<ProxyRequest, Refusal> {
    let text = std::str::from_utf8(&head)
        .map_err(|_| refuse(400, "the request head is not UTF-8 text"))?;
    let line = text.split("\r\n").next().unwrap_or_default();
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(refuse(400, format!("malformed request line {line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(refuse(505, format!("unsupported protocol {version:?}")));
    }
    if method == "CONNECT" {
        let (host, port) = authority(target, None)?;
        return Ok(ProxyRequest::Connect { host, port });
    }
    let Some(after) = target.strip_prefix("http://") else {
        let hint = if target.starts_with("https://") {
            "an https:// URL goes through CONNECT"
        } else {
            "a proxy takes CONNECT host:port or an absolute http:// URL"
        };
        return Err(refuse(
            400,
            format!("{method} {target:?} is not a proxy request: {hint}"),
        ));
    };
    let authority_text = after.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = authority(authority_text, Some(80))?;
    Ok(ProxyRequest::Http {
        host,
        port,
        head,
        rest,
    })
}

/// `host:port`, `[v6]:port`, or (with a default port) a bare host.
fn authority(text: &str, default_port: Option<u16>) -> Result<(String, u16), Refusal> {
    let bad = || refuse(400, format!("{text:?} is not HOST:PORT"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (text, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => default_port.ok_or_else(bad)?,
    };
    if host.is_empty()
        || host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
    {
        return Err(bad());
    }
    Ok((host.trim_end_matches('.').to_ascii_lowercase(), port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_as_proxies_read_them() {
        let ok: &[(&str, &str, u16, bool)] = &[
            (
                "CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                "api.example.com",
                443,
                true,
            ),
            (
                "CONNECT API.Example.COM.:8443 HTTP/1.0\r\n\r\n",
                "api.example.com",
                8443,
                true,
            ),
            ("CONNECT [::1]:443 HTTP/1.1\r\n\r\n", "::1", 443, true),
            (
                "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n",
                "a.example",
                80,
                false,
            ),
            (
                "POST http://a.example:8080 HTTP/1.1\r\n\r\n",
                "a.example",
                8080,
                false,
            ),
        ];
        for (text, host, port, connect) in ok {
            let r = read(&mut text.as_bytes()).unwrap();
            assert_eq!(r.host(), *host, "{text}");
            match r {
                ProxyRequest::Connect { port: p, .. } => assert!(*connect && p == *port),
                ProxyRequest::Http { port: p, .. } => assert!(!connect && p == *port),
            }
        }
        let bad: &[(&str, u16)] = &[
            ("CONNECT api.example.com HTTP/1.1\r\n\r\n", 400),
            ("CONNECT api.example.com:0 HTTP/1.1\r\n\r\n", 400),
            ("CONNECT a b:1 HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET https://a.example/ HTTP/1.1\r\n\r\n", 400),
            ("CONNECT a.example:443 HTTP/2\r\n\r\n", 505),
            ("CONNECT a.example:443 HTTP/1.1\r\n", 400),
        ];
        for (text, status) in bad {
            assert_eq!(
                read(&mut text.as_bytes()).unwrap_err().status,
                *status,
                "{text}"
            );
        }
        let huge = format!(
            "CONNECT a:1 HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(read(&mut huge.as_bytes()).unwrap_err().status, 431);
    }
}
