//! Tunnels: bytes copied both ways until both sides are done, watching the TLS records go by.
//! For the pass-through control (P0) the proxy cannot read the traffic, but the record layer
//! tells it whether the client went on after the server's certificate: a client that accepts
//! sends application data records (in TLS 1.3 its Finished is one, its request another); one
//! that refuses sends an alert (in TLS 1.3 an encrypted one, so also a record of type 23, but
//! only one) and closes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

/// How long a tunnel may stay silent in one direction before the proxy closes it.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;

/// What the record layer showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Observation {
    /// Application data records the client sent.
    pub(crate) client_app_records: usize,
    /// A cleartext alert record the client sent.
    pub(crate) client_alert: bool,
    /// The server's ServerHello chose TLS 1.3.
    pub(crate) tls13: bool,
    /// Bytes each way.
    pub(crate) up: u64,
    pub(crate) down: u64,
}

impl Observation {
    /// Did the client send application data (its request) over the tunnel?
    pub(crate) fn client_sent_data(&self) -> bool {
        let needed = if self.tls13 { 2 } else { 1 };
        self.client_app_records >= needed
    }
}

/// Walks TLS record headers in a byte stream that arrives in pieces.
#[derive(Default)]
struct Records {
    header: Vec<u8>,
    /// Bytes of the current record's body still to skip.
    left: usize,
    /// The first handshake record's body, kept to read the ServerHello.
    first: Option<Vec<u8>>,
    keep_first: bool,
}

impl Records {
    fn server() -> Self {
        Self {
            keep_first: true,
            ..Self::default()
        }
    }

    /// Feeds `bytes`; calls `on_record(type)` at each record header.
    fn feed(&mut self, mut bytes: &[u8], on_record: &mut impl FnMut(u8)) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = self.left.min(bytes.len());
                if let Some(first) = self.first.as_mut().filter(|_| self.keep_first) {
                    first.extend_from_slice(&bytes[..n]);
                }
                self.left -= n;
                if self.left == 0 && self.first.is_some() {
                    self.keep_first = false;
                }
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 5 {
                let kind = self.header[0];
                self.left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                on_record(kind);
                if self.keep_first && self.first.is_none() && kind == CONTENT_HANDSHAKE {
                    self.first = Some(Vec::with_capacity(self.left));
                }
                self.header.clear();
            }
        }
    }
}

/// Whether a ServerHello handshake message selects TLS 1.3 (supported_versions = 0x0304).
fn server_hello_is_tls13(msg: &[u8]) -> bool {
    let parse = || -> Option<bool> {
        if *msg.first()? != 2 {
            return Some(false);
        }
        let mut i = 4 + 2 + 32; // header, legacy_version, random
        i += 1 + usize::from(*msg.get(i)?); // session id
        i += 2 + 1; // cipher suite, compression
        let versions = crate::hello::extension(msg, i, crate::hello::SUPPORTED_VERSIONS)?;
        Some(versions == Some(&[0x03, 0x04][..]))
    };
    parse().unwrap_or(false)
}

/// Copies `from` to `to` until `from` ends, then half-closes `to`; `seen` sees every chunk.
fn pump(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8])) -> u64 {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                total += n as u64;
            }
        }
    }
    let _ignored = to.shutdown(Shutdown::Write);
    total
}

/// Runs a tunnel between `client` and `upstream` until both directions end; `early` is what
/// the client already sent past its proxy request. Returns what the records showed.
pub(crate) fn tunnel(client: TcpStream, mut upstream: TcpStream, early: &[u8]) -> Observation {
    for s in [&client, &upstream] {
        let _ignored = s.set_read_timeout(Some(IDLE));
        let _ignored = s.set_nodelay(true);
    }
    let mut up_records = Records::default();
    let mut obs = Observation::default();
    let on_client_record = |kind: u8, obs: &mut Observation| match kind {
        CONTENT_APPLICATION_DATA => obs.client_app_records += 1,
        CONTENT_ALERT => obs.client_alert = true,
        _ => {}
    };
    if !early.is_empty() {
        up_records.feed(early, &mut |k| on_client_record(k, &mut obs));
        if upstream.write_all(early).is_err() {
            return obs;
        }
    }
    let (Ok(client_read), Ok(upstream_read)) = (client.try_clone(), upstream.try_clone()) else {
        return obs;
    };
    let down = thread::Builder::new()
        .name("keypin-proxy-down".into())
        .spawn(move || {
            let mut records = Records::server();
            let total = pump(upstream_read, client, |chunk| {
                records.feed(chunk, &mut |_| {})
            });
            let tls13 = records.first.as_deref().is_some_and(server_hello_is_tls13);
            (total, tls13)
        });
    let mut client_obs = Observation::default();
    let up = pump(client_read, upstream, |chunk| {
        up_records.feed(chunk, &mut |k| on_client_record(k, &mut client_obs));
    });
    obs.client_app_records += client_obs.client_app_records;
    obs.client_alert |= client_obs.client_alert;
    obs.up = up + early.len() as u64;
    if let Ok(Ok((down, tls13))) = down.map(|h| h.join()) {
        obs.down = down;
        obs.tls13 = tls13;
    }
    obs
}

/// A plain two-way copy (the `{proxy}` forwarder of `lab run`: the scenario servers judge).
pub(crate) fn splice(client: TcpStream, upstream: TcpStream, early: &[u8]) {
    let _observed = tunnel(client, upstream, early);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_across_chunk_boundaries() {
        let mut stream = Vec::new();
        for (kind, len) in [(22u8, 300usize), (20, 1), (23, 53), (23, 120), (21, 2)] {
            stream.extend_from_slice(&[kind, 3, 3]);
            stream.extend_from_slice(&(len as u16).to_be_bytes());
            stream.extend(std::iter::repeat_n(0xab, len));
        }
        for chunk in [1usize, 3, 7, 4096] {
            let mut r = Records::default();
            let mut kinds = Vec::new();
            for piece in stream.chunks(chunk) {
                r.feed(piece, &mut |k| kinds.push(k));
            }
            assert_eq!(kinds, [22, 20, 23, 23, 21], "chunk {chunk}");
        }
    }

    #[test]
    fn a_tls13_server_hello_is_told_from_a_tls12_one() {
        let hello = |ext: &[u8]| {
            let mut body = vec![3, 3];
            body.extend([7u8; 32]);
            body.extend([0, 0x13, 0x01, 0]);
            body.extend((ext.len() as u16).to_be_bytes());
            body.extend_from_slice(ext);
            let mut msg = vec![2, 0, 0, body.len() as u8];
            msg.extend(body);
            msg
        };
        assert!(server_hello_is_tls13(&hello(&[0, 0x2b, 0, 2, 3, 4])));
        assert!(!server_hello_is_tls13(&hello(&[])));
        assert!(!server_hello_is_tls13(&hello(&[0, 0x2b, 0, 2, 3, 3])));
        assert!(!server_hello_is_tls13(&[2, 0, 0]));
    }
}
