//! `keypin lab proxy`: an intercepting HTTP proxy that tests a real app the way an attacker
//! (or a pentester with mitmproxy, Burp or Charles) does. The app's traffic goes through the
//! proxy; for each `CONNECT host:port` tunnel it presents a chain minted on the fly for the
//! exact host asked for, from the scenario in force (one scenario, or `--cycle`: each new
//! connection to a host gets the next one), or passes the tunnel through to the real server
//! (P0, the positive control). The verdict is the lab's usual one: did the client send
//! application data over the forged channel.
//!
//! What it does not do: it does not decrypt P0's traffic (it only reads the record layer), and
//! a client that sends its ClientHello before the proxy answers `CONNECT` is judged on that
//! ClientHello only as far as the scenario server reads it.

pub(crate) mod forward;
mod mint;
pub(crate) mod relay;
mod report;
pub(crate) mod request;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use mint::ProxyScenario;
pub use report::{ProxyReport, ProxyVerdict};

use crate::Error;
use crate::pki::LabPki;
use crate::server::{Behaviour, ConnRow, Log, lock, serve};
use mint::Minter;
use request::ProxyRequest;

/// How long a client may take to send its proxy request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dialling the real server may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Tunnels one run logs; past it the proxy answers `503` (stop it and judge): a client that
/// opens tunnels forever must not grow the log without bound.
const MAX_LOGGED_TUNNELS: usize = 100_000;
/// How often an idle listener checks its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// Which scenario a new tunnel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyMode {
    /// Every tunnel gets this scenario.
    Fixed(ProxyScenario),
    /// Each new tunnel to a host gets the next scenario of [`ProxyScenario::ALL`].
    Cycle,
}

/// Settings of an intercepting proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Where to listen (loopback unless the caller says otherwise).
    pub listen: SocketAddr,
    /// Which scenario each tunnel gets.
    pub mode: ProxyMode,
    /// Where the real server of a host is (`--upstream-resolve HOST=ADDR:PORT`); other hosts
    /// are resolved with the system resolver.
    pub upstream: HashMap<String, SocketAddr>,
    /// Stop accepting after this many tunnels (`None`: until stopped).
    pub max_connections: Option<usize>,
    /// Tunnels open at once; a client over it gets `503`.
    pub max_tunnels: usize,
}

impl ProxyOptions {
    /// A proxy on `listen` in `mode`, with no upstream overrides and no connection limit.
    pub fn new(listen: SocketAddr, mode: ProxyMode) -> Self {
        Self {
            listen,
            mode,
            upstream: HashMap::new(),
            max_connections: None,
            max_tunnels: 1024,
        }
    }
}

/// What one tunnel showed.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct TunnelRow {
    /// The host the client asked for.
    pub host: String,
    /// The port it asked for.
    pub port: u16,
    /// The scenario the tunnel got.
    pub scenario: ProxyScenario,
    /// The client sent application data over the tunnel.
    pub sent_data: bool,
    /// What happened, in words.
    pub detail: String,
    /// The tunnel is closed.
    pub finished: bool,
}

#[derive(Debug)]
struct State {
    options: ProxyOptions,
    minter: Minter,
    rows: Mutex<Vec<TunnelRow>>,
    /// Per host: how many tunnels it has had (the `--cycle` position).
    counts: Mutex<HashMap<String, usize>>,
    /// Cleartext `http://` requests, by host.
    cleartext: Mutex<Vec<String>>,
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// A running intercepting proxy. Stops when dropped; [`InterceptProxy::finish`] stops it and
/// returns the report.
#[derive(Debug)]
pub struct InterceptProxy {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
}

impl InterceptProxy {
    /// Starts the proxy over the lab PKI `pki` (its rogue CAs sign the forged chains).
    pub fn start(pki: Arc<LabPki>, options: ProxyOptions) -> Result<Self, Error> {
        let listener = TcpListener::bind(options.listen).map_err(|source| Error::Bind {
            scenario: "proxy".into(),
            addr: options.listen,
            hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                " (the port is in use: pick another --listen port)"
            } else {
                ""
            },
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            context: "reading the proxy's address".into(),
            source,
        })?;
        listener.set_nonblocking(true).map_err(|source| Error::Io {
            context: "configuring the proxy's listener".into(),
            source,
        })?;
        let state = Arc::new(State {
            minter: Minter::new(pki),
            options,
            rows: Mutex::default(),
            counts: Mutex::default(),
            cleartext: Mutex::default(),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            thread::Builder::new()
                .name("keypin-lab-proxy".into())
                .spawn(move || accept_loop(&listener, &state, &stop))
                .map_err(|source| Error::Io {
                    context: "starting the proxy thread".into(),
                    source,
                })?
        };
        Ok(Self {
            addr,
            state,
            stop,
            thread: Some(thread),
            started: Instant::now(),
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy URL for clients (`http://ADDR:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether the proxy took its `max_connections` tunnels and all of them are closed.
    pub fn is_done(&self) -> bool {
        let limit = self.state.options.max_connections;
        limit.is_some_and(|n| self.state.accepted.load(Ordering::SeqCst) >= n)
            && self.state.open.load(Ordering::SeqCst) == 0
    }

    /// Waits until every tunnel accepted so far is closed, at most `grace`.
    pub fn settle(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        thread::sleep(ACCEPT_POLL * 2);
        while self.state.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// What the tunnels so far showed.
    pub fn report(&self) -> ProxyReport {
        let rows = self
            .state
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let cleartext = self
            .state
            .cleartext
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ProxyReport::from_rows(rows, cleartext, self.started.elapsed())
    }

    /// Stops accepting, gives open tunnels `grace` to finish, and returns the report.
    pub fn finish(mut self, grace: Duration) -> ProxyReport {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ignored = t.join();
        }
        self.settle(grace);
        self.report()
    }
}

impl Drop for InterceptProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ignored = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let accepted = state.accepted.load(Ordering::SeqCst);
        let limit_reached = accepted >= MAX_LOGGED_TUNNELS
            || state.options.max_connections.is_some_and(|n| accepted >= n);
        let stream = match listener.accept() {
            Ok((stream, _)) if !limit_reached => stream,
            Ok((stream, _)) => {
                refuse(
                    &stream,
                    503,
                    "the proxy took its --max-connections tunnels (or its log is full): stop it \
                     and judge",
                );
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if state.open.load(Ordering::SeqCst) >= state.options.max_tunnels {
            refuse(&stream, 503, "too many tunnels open at once");
            continue;
        }
        state.open.fetch_add(1, Ordering::SeqCst);
        let state2 = Arc::clone(state);
        let spawned = thread::Builder::new()
            .name("keypin-lab-tunnel".into())
            .spawn(move || {
                handle(stream, &state2);
                state2.open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            state.open.fetch_sub(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Answers a proxy request the proxy will not serve.
pub(crate) fn refuse(mut stream: &TcpStream, status: u16, reason: &str) {
    let text = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body = format!("keypin lab proxy: {reason}\n");
    let _ignored = stream.set_nonblocking(false);
    let _ignored = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ignored = write!(
        stream,
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(mut stream: TcpStream, state: &State) {
    let configured = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(REQUEST_TIMEOUT)));
    if configured.is_err() {
        return;
    }
    let request = match request::read(&mut stream) {
        Ok(r) => r,
        Err(r) => return refuse(&stream, r.status, &r.reason),
    };
    match request {
        ProxyRequest::Http {
            host,
            port,
            head,
            rest,
        } => plain_http(stream, state, &host, port, &[head, rest].concat()),
        ProxyRequest::Connect { host, port } => connect(stream, state, host, port),
    }
}

/// A cleartext request: noted (a pinned app should never send one), relayed to the server.
fn plain_http(stream: TcpStream, state: &State, host: &str, port: u16, request: &[u8]) {
    {
        // Each host once, and a bounded list: the report names hosts, not requests.
        let mut hosts = state
            .cleartext
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if hosts.len() < MAX_LOGGED_TUNNELS && !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_owned());
        }
    }
    match dial(state, host, port) {
        Ok(upstream) => relay::splice(stream, upstream, request),
        Err(e) => refuse(&stream, 502, &e),
    }
}

/// Where `host`'s real server is: `--upstream-resolve`, else the system resolver.
fn dial(state: &State, host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = match state.options.upstream.get(host) {
        Some(addr) => vec![*addr],
        None => (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
            .collect(),
    };
    let mut last = format!("{host}:{port} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("cannot connect to {host} at {addr}: {e}"),
        }
    }
    Err(last)
}

/// The scenario of the next tunnel to `host`.
fn next_scenario(state: &State, host: &str) -> ProxyScenario {
    match state.options.mode {
        ProxyMode::Fixed(s) => s,
        ProxyMode::Cycle => {
            let mut counts = state.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = counts.entry(host.to_owned()).or_insert(0);
            let s = ProxyScenario::ALL[*n % ProxyScenario::ALL.len()];
            *n += 1;
            s
        }
    }
}

fn connect(mut stream: TcpStream, state: &State, host: String, port: u16) {
    state.accepted.fetch_add(1, Ordering::SeqCst);
    let scenario = next_scenario(state, &host);
    let index = {
        let mut rows = state.rows.lock().unwrap_or_else(PoisonError::into_inner);
        rows.push(TunnelRow {
            host: host.clone(),
            port,
            scenario,
            sent_data: false,
            detail: String::new(),
            finished: false,
        });
        rows.len() - 1
    };
    let (sent_data, detail) = match run_tunnel(&mut stream, state, &host, port, scenario) {
        Ok(judged) => judged,
        Err(e) => {
            refuse(&stream, 502, &e);
            (false, e)
        }
    };
    if let Some(row) = state
        .rows
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(index)
    {
        row.sent_data = sent_data;
        row.detail = detail;
        row.finished = true;
    }
}

/// Serves one tunnel; `Ok((sent_data, detail))`, or `Err` before the tunnel was opened.
fn run_tunnel(
    stream: &mut TcpStream,
    state: &State,
    host: &str,
    port: u16,
    scenario: ProxyScenario,
) -> Result<(bool, String), String> {
    const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    if scenario == ProxyScenario::P0 {
        let upstream = dial(state, host, port)?;
        stream.write_all(ESTABLISHED).map_err(|e| e.to_string())?;
        let client = stream.try_clone().map_err(|e| e.to_string())?;
        let obs = relay::tunnel(client, upstream, &[]);
        let detail = if obs.client_sent_data() {
            format!(
                "went on to send application data to the real server ({} bytes up, {} down)",
                obs.up, obs.down
            )
        } else if obs.client_alert || obs.client_app_records == 1 {
            "sent an alert after the real server's certificate and closed".to_owned()
        } else {
            "closed without sending application data".to_owned()
        };
        return Ok((obs.client_sent_data(), detail));
    }
    if scenario == ProxyScenario::A7 && state.minter.wants_genuine(host) {
        fetch_genuine(state, host, port);
    }
    let config = state
        .minter
        .config(host, scenario)
        .map_err(|e| e.to_string())?;
    stream.write_all(ESTABLISHED).map_err(|e| e.to_string())?;
    let behaviour = if config.is_some() {
        Behaviour::Tls
    } else {
        Behaviour::OldTls
    };
    let log: Log = Arc::new(Mutex::new(vec![ConnRow::default()]));
    let client = stream.try_clone().map_err(|e| e.to_string())?;
    let outcome = serve(client, behaviour, config, None, &log, 0, relay::IDLE);
    let row = lock(&log).first().cloned().unwrap_or_default();
    Ok(judge(scenario, &row, outcome.err()))
}

/// The verdict of a forged tunnel from the scenario server's log row.
fn judge(scenario: ProxyScenario, row: &ConnRow, error: Option<String>) -> (bool, String) {
    if scenario == ProxyScenario::A14 {
        if row.offered_old_tls {
            return (true, "offered TLS 1.0/1.1 to a TLS 1.0 server".into());
        }
        if row.app_data_seen {
            return (true, "fell back to cleartext".into());
        }
    } else if row.app_data_seen {
        return (true, "sent an HTTP request over the forged channel".into());
    }
    let why = error.unwrap_or_else(|| "closed without a request".into());
    let detail = if row.handshake_completed {
        format!("handshake completed, then {why}")
    } else {
        why
    };
    (false, detail)
}

/// Fetches the certificates `host`'s real server sends, once, for pin stuffing (A7).
fn fetch_genuine(state: &State, host: &str, port: u16) {
    let target = match state.options.upstream.get(host) {
        Some(addr) => keypin_inspect::fetch::Target::new(
            &format!("{host}:{port}"),
            Some(&addr.to_string()),
            DIAL_TIMEOUT,
        ),
        None => keypin_inspect::fetch::Target::new(&format!("{host}:{port}"), None, DIAL_TIMEOUT),
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let fetched = target.ok().and_then(|t| {
        keypin_inspect::fetch::Fetcher::new(&provider)
            .ok()?
            .fetch(&t)
            .ok()
    });
    let certs = fetched
        .map(|f| std::iter::once(f.leaf).chain(f.rest).collect())
        .unwrap_or_default();
    state.minter.set_genuine(host, certs);
}
