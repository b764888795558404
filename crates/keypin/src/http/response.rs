//! Reading one HTTP/1.1 response with every part bounded while it is read: each status and
//! header line ([`MAX_LINE`]), the whole head ([`MAX_HEAD`]), each chunk-size line
//! ([`MAX_CHUNK_LINE`]), the trailers ([`MAX_TRAILERS`]) and the body (the caller's cap). No
//! line is buffered past its bound, so a server that streams one endless line costs the
//! caller at most the bound plus one read buffer. Framing that two parsers could read
//! differently (Transfer-Encoding with Content-Length, conflicting lengths, unknown codings)
//! is refused (RFC 9112 section 6).

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

use super::{HttpError, Response, io_text};

/// The status line and the header fields together, terminating blank line included.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// One status or header line.
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// One chunk-size line, extensions included.
pub(crate) const MAX_CHUNK_LINE: usize = 1024;
/// The trailer section of a chunked body, terminating blank line included.
pub(crate) const MAX_TRAILERS: usize = 16 * 1024;

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads one response from `stream`; the body (read only for 2xx other than 204) capped at
/// `max` bytes.
pub(crate) fn read_response<R: Read>(stream: R, max: usize) -> Result<Response, HttpError> {
    let mut reader = BufReader::new(stream);
    let mut head = Budget::new(MAX_HEAD, "response head (status line and headers together)");
    let status = match head.line(&mut reader, MAX_LINE, "the status line")? {
        Some(line) => line,
        None => {
            return Err(HttpError::Other(
                "the server closed the connection without an answer".into(),
            ));
        }
    };
    let code = parse_status(&status)?;
    let (etag, framing) = read_headers(&mut reader, &mut head)?;
    if !(200..300).contains(&code) || code == 204 {
        return Ok(Response {
            status: code,
            etag,
            body: Vec::new(),
        });
    }
    let body = match framing {
        Framing::Length(len) => read_exact_body(&mut reader, len, max)?,
        Framing::Chunked => read_chunked(&mut reader, max)?,
        Framing::UntilClose => read_until_close(&mut reader, max)?,
    };
    Ok(Response {
        status: code,
        etag,
        body,
    })
}

/// `HTTP/1.x NNN reason`, NNN from 100 to 599.
fn parse_status(line: &[u8]) -> Result<u16, HttpError> {
    let text = String::from_utf8_lossy(line);
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.")
        || code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        let shown: String = text.chars().take(80).collect();
        return Err(HttpError::Other(format!("not an HTTP response: {shown:?}")));
    }
    // RFC 9110 section 15: the first digit is the class, 1 to 5.
    code.parse()
        .ok()
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| HttpError::Other(format!("bad status code {code:?}")))
}

/// The header fields up to the blank line: the ETag and the body's framing.
fn read_headers<R: BufRead>(
    reader: &mut R,
    head: &mut Budget,
) -> Result<(Option<String>, Framing), HttpError> {
    let mut etag = None;
    let mut length: Option<u64> = None;
    let mut codings: Vec<String> = Vec::new();
    for number in 2.. {
        let what = format!("header line {number}");
        let Some(line) = head.line(reader, MAX_LINE, &what)? else {
            return Err(HttpError::Other(format!(
                "the server closed the connection inside the response head, at {what}"
            )));
        };
        if line.is_empty() {
            break;
        }
        let (name, value) = split_field(&line, &what)?;
        if name.eq_ignore_ascii_case("etag") {
            etag = Some(value.into_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(content_length(&value, length, &what)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(
                value
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty()),
            );
        }
    }
    let framing = match (codings.as_slice(), length) {
        ([], Some(len)) => Framing::Length(len),
        ([], None) => Framing::UntilClose,
        (_, Some(_)) => {
            return Err(HttpError::Other(
                "ambiguous framing: both Transfer-Encoding and Content-Length".into(),
            ));
        }
        ([only], None) if only == "chunked" => Framing::Chunked,
        (all, None) => {
            let other = all
                .iter()
                .find(|c| *c != "chunked")
                .map_or("chunked", String::as_str);
            return Err(HttpError::Other(format!(
                "unsupported transfer coding {other:?} in \"Transfer-Encoding: {}\" (only \"chunked\" alone is accepted)",
                all.join(", ")
            )));
        }
    };
    Ok((etag, framing))
}

/// `name: value`, with no whitespace inside the name or before the colon and no folded lines
/// (RFC 9112 sections 5.1 and 5.2: both are ways to make two parsers disagree).
fn split_field<'a>(line: &'a [u8], what: &str) -> Result<(&'a str, Cow<'a, str>), HttpError> {
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| HttpError::Other(format!("{what} is not a header field (no colon)")))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            let shown: String = String::from_utf8_lossy(name).chars().take(40).collect();
            HttpError::Other(format!(
                "{what}: bad header name {shown:?} (empty, whitespace or a folded line)"
            ))
        })?;
    Ok((name, String::from_utf8_lossy(value.trim_ascii())))
}

/// A `Content-Length` value (a comma-separated list of identical values is one value, RFC 9110
/// section 8.6), checked against an earlier one.
fn content_length(value: &str, before: Option<u64>, what: &str) -> Result<u64, HttpError> {
    let mut length = before;
    for v in value.split(',').map(str::trim) {
        if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::Other(format!(
                "{what}: bad Content-Length {value:?}"
            )));
        }
        let n: u64 = v
            .parse()
            .map_err(|_| HttpError::Other(format!("{what}: bad Content-Length {value:?}")))?;
        match length {
            Some(earlier) if earlier != n => {
                return Err(HttpError::Other(format!(
                    "ambiguous framing: conflicting Content-Length values {earlier} and {n} ({what})"
                )));
            }
            _ => length = Some(n),
        }
    }
    length.ok_or_else(|| HttpError::Other(format!("{what}: empty Content-Length")))
}

fn read_exact_body<R: Read>(reader: &mut R, len: u64, max: usize) -> Result<Vec<u8>, HttpError> {
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or(HttpError::TooLarge)?;
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| HttpError::Other(format!("truncated response: {}", io_text(&e))))?;
    Ok(body)
}

fn read_until_close<R: Read>(reader: &mut R, max: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    // One byte past the cap tells "exactly at the cap" from "over it".
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut body)
        .map_err(|e| HttpError::Other(io_text(&e)))?;
    if body.len() > max {
        return Err(HttpError::TooLarge);
    }
    Ok(body)
}

/// A chunked body (RFC 9112 section 7.1): chunks against the body cap, then the trailers,
/// which are read (bounded) and dropped.
fn read_chunked<R: BufRead>(reader: &mut R, max: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    for number in 1.. {
        let what = format!("the chunk-size line of chunk {number}");
        let line = Budget::unlimited()
            .line(reader, MAX_CHUNK_LINE, &what)?
            .ok_or_else(|| {
                HttpError::Other(format!(
                    "truncated chunked body: no size for chunk {number}"
                ))
            })?;
        let size = chunk_size(&line, number)?;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|s| body.len().checked_add(*s).is_some_and(|total| total <= max))
            .ok_or(HttpError::TooLarge)?;
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| HttpError::Other(format!("truncated chunk {number}: {}", io_text(&e))))?;
        chunk_end(reader, number, size)?;
    }
    let mut trailers = Budget::new(MAX_TRAILERS, "trailers (all trailer lines together)");
    loop {
        match trailers.line(reader, MAX_TRAILERS, "a trailer line")? {
            Some(line) if line.is_empty() => return Ok(body),
            Some(_) => {}
            None => {
                return Err(HttpError::Other(
                    "truncated chunked body: the connection closed inside the trailers".into(),
                ));
            }
        }
    }
}

/// The CRLF (or bare LF) after a chunk's data.
fn chunk_end<R: Read>(reader: &mut R, number: usize, size: usize) -> Result<(), HttpError> {
    let mut byte = [0u8; 1];
    let mut next = |reader: &mut R| {
        reader.read_exact(&mut byte).map(|()| byte[0]).map_err(|e| {
            HttpError::Other(format!(
                "truncated chunked body after chunk {number}: {}",
                io_text(&e)
            ))
        })
    };
    let mut b = next(reader)?;
    if b == b'\r' {
        b = next(reader)?;
    }
    if b != b'\n' {
        return Err(HttpError::Other(format!(
            "chunk {number} is longer than its size {size} (no CRLF after its data)"
        )));
    }
    Ok(())
}

/// The hexadecimal size before any `;extension`.
fn chunk_size(line: &[u8], number: usize) -> Result<u64, HttpError> {
    let text = String::from_utf8_lossy(line);
    let hex = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let shown: String = text.chars().take(40).collect();
        return Err(HttpError::Other(format!(
            "bad chunk size {shown:?} for chunk {number}"
        )));
    }
    u64::from_str_radix(hex, 16)
        .map_err(|_| HttpError::Other(format!("bad chunk size {hex:?} for chunk {number}")))
}

/// What is left of a byte limit shared by several lines.
struct Budget {
    left: usize,
    total: usize,
    name: &'static str,
}

impl Budget {
    fn new(total: usize, name: &'static str) -> Self {
        Self {
            left: total,
            total,
            name,
        }
    }

    /// For a line bounded only by its own limit.
    fn unlimited() -> Self {
        Self::new(usize::MAX, "")
    }

    /// One line ending in LF (CRLF or LF; the ending is removed), at most `line_max` bytes and
    /// what is left of the budget; `None` at the end of the stream before any byte. Never
    /// reads past the limit: `take` stops `read_until` there.
    fn line<R: BufRead>(
        &mut self,
        reader: &mut R,
        line_max: usize,
        what: &str,
    ) -> Result<Option<Vec<u8>>, HttpError> {
        let limit = line_max.min(self.left);
        let mut line = Vec::new();
        reader
            .by_ref()
            .take(limit as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| HttpError::Other(io_text(&e)))?;
        if line.last() != Some(&b'\n') {
            if line.is_empty() && limit > 0 {
                return Ok(None);
            }
            if line.len() < limit {
                return Err(HttpError::Other(format!(
                    "the server closed the connection inside {what}"
                )));
            }
            return Err(HttpError::Other(if self.left <= line_max {
                format!("{} over {}, at {what}", self.name, kib(self.total))
            } else {
                format!("{what} over {} (the limit on one line)", kib(line_max))
            }));
        }
        self.left -= line.len();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}

fn kib(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Hooks for `fuzz/fuzz_targets/http_response.rs` (re-exported as `keypin::__fuzz`).
pub(crate) mod fuzz {
    use super::{HttpError, read_response};

    /// The body cap the fuzz hooks use (small, so the fuzzer reaches it).
    pub const HTTP_BODY_MAX: usize = 4096;

    /// A parsed response.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct HttpResponse {
        /// The status code.
        pub status: u16,
        /// The `ETag` header's value.
        pub etag: Option<String>,
        /// The body (2xx other than 204 only).
        pub body: Vec<u8>,
    }

    /// Parses `bytes` as one response, as the client reads it from a socket.
    pub fn http_response(bytes: &[u8]) -> Result<HttpResponse, String> {
        http_response_in_pieces(bytes, usize::MAX)
    }

    /// The same, with the stream handing out at most `piece` bytes per read.
    pub fn http_response_in_pieces(bytes: &[u8], piece: usize) -> Result<HttpResponse, String> {
        let reader = Pieces {
            rest: bytes,
            piece: piece.max(1),
        };
        match read_response(reader, HTTP_BODY_MAX) {
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                etag: r.etag,
                body: r.body,
            }),
            Err(HttpError::TooLarge) => Err(format!("body over {HTTP_BODY_MAX} bytes")),
            Err(HttpError::Other(e)) => Err(e),
        }
    }

    /// An in-memory stream that returns at most `piece` bytes per read.
    pub(super) struct Pieces<'a> {
        pub(super) rest: &'a [u8],
        pub(super) piece: usize,
    }

    impl std::io::Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.piece).min(self.rest.len());
            let (now, later) = self.rest.split_at(n);
            buf[..n].copy_from_slice(now);
            self.rest = later;
            Ok(n)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    /// `prefix`, then `filler` forever; counts what the parser pulled.
    struct Endless {
        prefix: &'static [u8],
        filler: &'static [u8],
        at: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            for b in buf.iter_mut() {
                *b = match self.prefix.get(self.at) {
                    Some(b) => *b,
                    None => self.filler[(self.at - self.prefix.len()) % self.filler.len()],
                };
                self.at += 1;
            }
            Ok(buf.len())
        }
    }

    /// BufReader's buffer: what may be read past a bound.
    const SLACK: usize = 8 * 1024;

    #[test]
    fn endless_input_is_read_only_up_to_its_bound() {
        const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let cases: [(&'static [u8], &'static [u8], usize, &str); 6] = [
            (b"HTTP/1.1 200 ", b"A", MAX_LINE, "status line over 8 KiB"),
            (
                b"HTTP/1.1 200 OK\r\nX: ",
                b"a",
                MAX_LINE,
                "header line 2 over 8 KiB",
            ),
            (
                b"HTTP/1.1 200 OK\r\n",
                b"X: b\r\n",
                MAX_HEAD,
                "response head",
            ),
            (
                CHUNKED,
                b"0",
                MAX_HEAD + MAX_CHUNK_LINE,
                "chunk-size line of chunk 1 over 1 KiB",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
                b"T: y\r\n",
                MAX_HEAD + MAX_CHUNK_LINE + MAX_TRAILERS,
                "trailers (all trailer lines together) over 16 KiB",
            ),
            (CHUNKED, b"1\r\na\r\n", MAX_HEAD + 7 * 1024, "TooLarge"),
        ];
        for (prefix, filler, bound, want) in cases {
            let mut stream = Endless {
                prefix,
                filler,
                at: 0,
            };
            let err = match read_response(&mut stream, 1024) {
                Err(HttpError::Other(e)) => e,
                Err(HttpError::TooLarge) => "TooLarge".into(),
                Ok(r) => panic!("{want}: accepted {r:?}"),
            };
            assert!(err.contains(want), "{want}: {err}");
            assert!(
                stream.at <= bound + SLACK,
                "{want}: read {} bytes",
                stream.at
            );
        }
    }

    #[test]
    fn status_codes_outside_100_to_599_are_refused() {
        // Found by fuzz/fuzz_targets/http_response.rs (seeds/http_response/regression-status-000).
        for (line, want) in [
            ("HTTP/1.1 000 OK", Err("bad status code \"000\"")),
            ("HTTP/1.1 099 X", Err("bad status code \"099\"")),
            ("HTTP/1.1 600 X", Err("bad status code \"600\"")),
            ("HTTP/1.1 999", Err("bad status code \"999\"")),
            ("HTTP/1.1 100 Continue", Ok(100)),
            ("HTTP/1.0 599", Ok(599)),
        ] {
            let input = format!("{line}\r\nContent-Length: 0\r\n\r\n");
            let got = fuzz::http_response(input.as_bytes()).map(|r| r.status);
            match (got, want) {
                (Ok(code), Ok(w)) => assert_eq!(code, w, "{line}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{line}: {e}"),
                (got, _) => panic!("{line}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_result_does_not_depend_on_how_reads_split() {
        let inputs: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\nT: t\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
            b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi",
        ];
        for input in inputs {
            let whole = fuzz::http_response(input);
            for piece in [1, 2, 3, 7] {
                assert_eq!(fuzz::http_response_in_pieces(input, piece), whole);
            }
        }
    }
}
