//! `keypin bundle serve DIR --listen ADDR`: a small HTTP/1.1 server (std threads) for
//! development and tests. It serves the files directly inside DIR by name, read afresh on every
//! request, with a strong ETag; `If-None-Match` with the current ETag gets `304 Not Modified`.
//! In production any static host or CDN serves the same files.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::site::{etag, plain_name};
use super::usage;
use crate::Failure;

/// Request heads larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// The directory whose files are served.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
}

pub(super) fn run(args: ServeArgs) -> Result<u8, Failure> {
    if !args.dir.is_dir() {
        return Err(usage(anyhow::anyhow!(
            "{} is not a directory",
            args.dir.display()
        )));
    }
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))
        .map_err(usage)?;
    let addr = listener
        .local_addr()
        .context("no local address")
        .map_err(usage)?;
    say!("serving {} on http://{addr}/", args.dir.display());
    let _ = std::io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let dir = args.dir.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            if let Err(e) = handle(stream, &dir) {
                eprintln!("keypin bundle serve: {e:#}");
            }
        });
    }
    Ok(0)
}

struct Request {
    method: String,
    path: String,
    if_none_match: Option<String>,
}

fn read_request(stream: &TcpStream) -> anyhow::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut head_len = 0usize;
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    head_len += line.len();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut if_none_match = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            break;
        }
        head_len += header.len();
        if head_len > MAX_HEAD {
            anyhow::bail!("request head over {MAX_HEAD} bytes");
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(value.trim().to_string());
        }
    }
    Ok(Some(Request {
        method,
        path,
        if_none_match,
    }))
}

/// One request per connection (`Connection: close`): simple, and enough for pin updates.
fn handle(mut stream: TcpStream, dir: &Path) -> anyhow::Result<()> {
    let Some(req) = read_request(&stream)? else {
        return Ok(());
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return respond(&mut stream, "405 Method Not Allowed", &[], b"", head_only);
    }
    let Some(file) = file_for(dir, &req.path) else {
        return respond(&mut stream, "404 Not Found", &[], b"not found\n", head_only);
    };
    let Ok(body) = std::fs::read(&file) else {
        return respond(&mut stream, "404 Not Found", &[], b"not found\n", head_only);
    };
    if looks_like_private_key(&body) {
        eprintln!(
            "keypin bundle serve: refusing to serve {}: it holds a private key",
            file.display()
        );
        return respond(&mut stream, "404 Not Found", &[], b"not found\n", head_only);
    }
    let etag = etag(&body);
    let matches = req.if_none_match.as_deref().is_some_and(|v| {
        v.trim() == "*"
            || v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
    });
    if matches {
        return respond(
            &mut stream,
            "304 Not Modified",
            &[("ETag", &etag)],
            b"",
            true,
        );
    }
    respond(
        &mut stream,
        "200 OK",
        &[("ETag", &etag), ("Content-Type", "application/json")],
        &body,
        head_only,
    )
}

/// Only plain names directly inside DIR (`site::plain_name`).
fn file_for(dir: &Path, path: &str) -> Option<PathBuf> {
    let path = path.split('?').next()?;
    let name = path.strip_prefix('/')?;
    plain_name(name).then(|| dir.join(name))
}

/// Signing keys must stay offline; a key left in the served directory is never sent.
fn looks_like_private_key(body: &[u8]) -> bool {
    body.windows(b"PRIVATE KEY-----".len())
        .any(|w| w == b"PRIVATE KEY-----")
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> anyhow::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()?;
    Ok(())
}
