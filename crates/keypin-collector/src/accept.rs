//! The accept loop, with the limits a report URI open to the internet needs and that
//! `axum::serve` does not set: a deadline for request headers (slowloris: connections that
//! send a header byte now and then, or nothing at all, are closed), a cap on open connections
//! (memory stays bounded however many sockets a client opens) and on those from one client (so
//! one address cannot hold them all), a deadline for the TLS handshake, accept errors that do
//! not end the service (out of file descriptors: wait and retry), and a graceful shutdown.
//! Request bodies get their deadline and size cap per route in `server.rs`. Every request
//! leaves here carrying its [`Client`] (the address, through a trusted proxy's header).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

use crate::client::{Cidr, ClientKey, Transport, canonical, client_of};

/// Limits on each connection and on all of them together.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's headers must arrive within this time from when the server starts waiting
    /// for them (also ends idle keep-alive connections); with TLS, the handshake must finish
    /// within it too. Default 10 s.
    pub header_timeout: Duration,
    /// A request's body must arrive within this time once its headers are in, on every route
    /// (each route also has its own size cap). Default 10 s.
    pub body_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog. Default 1,024.
    pub max_connections: usize,
    /// Open connections at most from one client (an IPv4 address or an IPv6 /64), so that one
    /// address cannot hold every slot; further connections from it are closed at once. A
    /// trusted proxy is exempt (its clients are counted by the rate limits). Default 64.
    pub max_connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 64,
        }
    }
}

/// How connections are served: TLS or not, and whose forwarding headers are believed.
#[derive(Clone)]
pub(crate) struct Front {
    /// Serve TLS with this configuration.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Proxies whose `X-Forwarded-For` is read.
    pub(crate) trusted: Arc<[Cidr]>,
}

/// Open connections per client; an entry lives while its client has one open.
#[derive(Default)]
struct PerClient(Mutex<HashMap<ClientKey, usize>>);

/// One connection counted against its client; released when dropped.
struct Slot {
    counts: Arc<PerClient>,
    key: ClientKey,
}

impl PerClient {
    /// Counts a new connection from `key`, unless it already has `max` open.
    fn claim(self: &Arc<Self>, key: ClientKey, max: usize) -> Option<Slot> {
        let mut counts = self.0.lock().ok()?;
        let open = counts.entry(key).or_insert(0);
        if *open >= max.max(1) {
            return None;
        }
        *open += 1;
        Some(Slot {
            counts: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.0.lock()
            && let Some(open) = counts.get_mut(&self.key)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets each connection finish its
/// request in flight (bounded by the header and body deadlines) and returns.
pub(crate) async fn serve_app(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    front: Front,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
    let tls = front.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let (close_tx, close_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // the semaphore is never closed
            },
            () = &mut shutdown => break,
        };
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(_) => {
                    // EMFILE, ENFILE, ECONNABORTED...: the listener is still good.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A client at its connection cap is closed at once: it cannot queue behind its own
        // connections and hold the slot while it waits. A trusted proxy carries everyone's
        // connections and is not capped (the rate limits count its clients).
        let peer_ip = canonical(peer.ip());
        let slot = if front.trusted.iter().any(|c| c.contains(peer_ip)) {
            None
        } else {
            match per_client.claim(ClientKey::of(peer_ip), limits.max_connections_per_client) {
                Some(slot) => Some(slot),
                None => {
                    drop(sock);
                    continue;
                }
            }
        };
        let _ = sock.set_nodelay(true);
        let app = app.clone();
        let trusted = front.trusted.clone();
        let tls = tls.clone();
        let closing = close_rx.clone();
        tokio::spawn(async move {
            // The client's count is released before the global permit (fields drop in
            // order): the loop takes the next connection only once the count is down.
            let _held = (slot, permit);
            match tls {
                None => {
                    serve_connection(sock, peer, Transport::Plain, app, limits, trusted, closing)
                        .await;
                }
                // The handshake gets the header deadline: a client that opens a connection
                // and never finishes its hello is a slowloris too.
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(sock)).await
                    {
                        serve_connection(
                            stream,
                            peer,
                            Transport::Tls,
                            app,
                            limits,
                            trusted,
                            closing,
                        )
                        .await;
                    }
                }
            }
        });
    }
    drop(close_rx);
    let _ = close_tx.send(true);
    close_tx.closed().await;
    Ok(())
}

/// HTTP/1.1 on one connection until it ends or the service shuts down.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    transport: Transport,
    app: Router,
    limits: Limits,
    trusted: Arc<[Cidr]>,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let client = client_of(peer.ip(), transport, req.headers(), &trusted);
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(client);
        let mut app = app.clone();
        app.call(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        }
    }
    drop(closing);
}
