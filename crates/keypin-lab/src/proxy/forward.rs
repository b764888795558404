//! The `{proxy}` of `keypin lab run`: a forwarding proxy in front of the lab's own scenario
//! servers, so a client that cannot resolve `<id>.lab.localhost` to loopback (Python, wget,
//! Java, Go, an app) still reaches every scenario: it asks the proxy for the scenario's host
//! and port, and the tunnel goes to that scenario's server, which judges as always. It tunnels
//! only to the lab's own ports on the lab's address: it is no open proxy.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::relay;
use super::request::{self, ProxyRequest};
use crate::Error;
use crate::scenario::HOST_SUFFIX;

/// A running forwarder; stops when dropped.
#[derive(Debug)]
pub(crate) struct Forwarder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Forwards tunnels for `*.lab.localhost` hosts to `ports` on `lab_ip`; listens on
    /// `lab_ip`, a port the OS picks.
    pub(crate) fn start(lab_ip: IpAddr, ports: HashSet<u16>) -> Result<Self, Error> {
        let io = |context: &str| {
            let context = context.to_owned();
            move |source| Error::Io { context, source }
        };
        let listener =
            TcpListener::bind(SocketAddr::new(lab_ip, 0)).map_err(io("starting the {proxy}"))?;
        let addr = listener.local_addr().map_err(io("starting the {proxy}"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("starting the {proxy}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let ports = Arc::new(ports);
        let thread = thread::Builder::new()
            .name("keypin-lab-forward".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let ports = Arc::clone(&ports);
                            let _spawned = thread::Builder::new()
                                .name("keypin-lab-forward-conn".into())
                                .spawn(move || forward(stream, lab_ip, &ports));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(3)),
                    }
                }
            })
            .map_err(io("starting the {proxy}"))?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://ADDR:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ignored = t.join();
        }
    }
}

fn forward(mut stream: TcpStream, lab_ip: IpAddr, ports: &HashSet<u16>) {
    let ready = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(10))));
    if ready.is_err() {
        return;
    }
    let (host, port, early) = match request::read(&mut stream) {
        Ok(ProxyRequest::Connect { host, port }) => (host, port, Vec::new()),
        Ok(ProxyRequest::Http {
            host,
            port,
            head,
            rest,
        }) => (host, port, [head, rest].concat()),
        Err(r) => return super::refuse(&stream, r.status, &r.reason),
    };
    let in_lab = host
        .strip_suffix(HOST_SUFFIX)
        .is_some_and(|label| label.ends_with('.'));
    if !in_lab || !ports.contains(&port) {
        return super::refuse(
            &stream,
            403,
            &format!("{host}:{port} is not a scenario of this lab"),
        );
    }
    let Ok(upstream) =
        TcpStream::connect_timeout(&SocketAddr::new(lab_ip, port), Duration::from_secs(5))
    else {
        return super::refuse(
            &stream,
            502,
            &format!("the scenario server on port {port} is down"),
        );
    };
    if early.is_empty() {
        use std::io::Write as _;
        if stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
    relay::splice(stream, upstream, &early);
}
