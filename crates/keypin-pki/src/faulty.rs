//! Misbehaving TLS "servers" on 127.0.0.1 for fault-injection tests: they accept a connection
//! and then close it, answer garbage, stall, or drip a handshake record a byte at a time. A
//! client under test must fail cleanly, with a clear error, within its timeout.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Error;

/// How a [`FaultyServer`] misbehaves on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Accepts, then closes at once without reading.
    CloseAtOnce,
    /// Reads the ClientHello, then closes mid-handshake.
    CloseAfterHello,
    /// Reads the ClientHello and answers with bytes that are not TLS (an HTTP error page),
    /// then keeps the connection open.
    Garbage,
    /// Reads the ClientHello and never answers (the connection stays open).
    Stall,
    /// Reads the ClientHello, sends the header of a 16 KiB handshake record, then one byte
    /// of it every 200 ms: a client with only a per-read timeout waits forever.
    Drip,
}

impl Fault {
    /// Every fault, for table-driven tests.
    pub const ALL: [Fault; 5] = [
        Fault::CloseAtOnce,
        Fault::CloseAfterHello,
        Fault::Garbage,
        Fault::Stall,
        Fault::Drip,
    ];

    /// A short name (`close-at-once`, ...), usable as a host label.
    pub fn name(self) -> &'static str {
        match self {
            Fault::CloseAtOnce => "close-at-once",
            Fault::CloseAfterHello => "close-after-hello",
            Fault::Garbage => "garbage",
            Fault::Stall => "stall",
            Fault::Drip => "drip",
        }
    }
}

/// A listener on 127.0.0.1 that misbehaves as its [`Fault`] says, one thread per connection.
/// Stops (and closes every connection it holds) when dropped.
#[derive(Debug)]
pub struct FaultyServer {
    addr: SocketAddr,
    fault: Fault,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(20);

impl FaultyServer {
    /// Starts a server with `fault` on a free loopback port.
    pub fn start(fault: Fault) -> Result<FaultyServer, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(Error::io("binding the faulty server to 127.0.0.1"))?;
        listener.set_nonblocking(true).map_err(Error::io(
            "making the faulty server's listener non-blocking",
        ))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("reading the faulty server's address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = std::thread::Builder::new()
            .name(format!("faulty-{}", fault.name()))
            .spawn(move || accept_loop(&listener, fault, &s, &a))
            .map_err(Error::io("starting the faulty server's accept thread"))?;
        Ok(FaultyServer {
            addr,
            fault,
            stop,
            accepted,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its fault.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, fault: Fault, stop: &Arc<AtomicBool>, n: &AtomicUsize) {
    let mut workers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                n.fetch_add(1, Ordering::SeqCst);
                let stop = stop.clone();
                workers.push(std::thread::spawn(move || misbehave(sock, fault, &stop)));
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Reads until the first bytes of the ClientHello arrived (or the client gave up).
fn read_hello(sock: &mut TcpStream) -> bool {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    matches!(sock.read(&mut buf), Ok(n) if n > 0)
}

/// Keeps `sock` open, doing nothing, until the server stops or the client closes.
fn hold(sock: &mut TcpStream, stop: &AtomicBool) {
    let _ = sock.set_read_timeout(Some(POLL));
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn misbehave(mut sock: TcpStream, fault: Fault, stop: &AtomicBool) {
    let _ = sock.set_nonblocking(false);
    match fault {
        Fault::CloseAtOnce => {}
        Fault::CloseAfterHello => {
            read_hello(&mut sock);
        }
        Fault::Garbage => {
            if read_hello(&mut sock) {
                let _ = sock.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nnot TLS!!\r\n",
                );
                hold(&mut sock, stop);
            }
        }
        Fault::Stall => {
            if read_hello(&mut sock) {
                hold(&mut sock, stop);
            }
        }
        Fault::Drip => {
            if read_hello(&mut sock) {
                // A handshake record (22), TLS 1.2 framing, 16,384 bytes long.
                if sock.write_all(&[22, 3, 3, 0x40, 0x00]).is_err() {
                    return;
                }
                let _ = sock.set_nonblocking(true);
                let mut buf = [0u8; 512];
                for _ in 0..16_384 {
                    for _ in 0..10 {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(POLL);
                    }
                    if matches!(sock.read(&mut buf), Ok(0)) {
                        return; // the client hung up
                    }
                    // Any byte will do: the client cannot judge the record until it is whole.
                    if sock.write_all(&[0]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
