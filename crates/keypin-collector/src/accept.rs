//! The accept loop, with the limits a report URI open to the internet needs and that
//! `axum::serve` does not set: a deadline for request headers (slowloris: connections that
//! send a header byte now and then, or nothing at all, are closed), a cap on open connections
//! (memory stays bounded however many sockets a client opens), a deadline for request bodies
//! (enforced in the ingest handler), accept errors that do not end the service (out of file
//! descriptors: wait and retry), and a graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

/// Limits on each connection and on all of them together.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's headers must arrive within this time from when the server starts waiting
    /// for them (also ends idle keep-alive connections). Default 10 s.
    pub header_timeout: Duration,
    /// A request's body must arrive within this time once its headers are in. Default 10 s.
    pub body_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog. Default 1,024.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets each connection finish its
/// request in flight (bounded by the header and body deadlines) and returns.
pub(crate) async fn serve_app(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
        let _ = sock.set_nodelay(true);
        let app = app.clone();
        let mut closing = close_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut app = app.clone();
                app.call(req.map(Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(sock), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(closing);
        });
    }
    drop(close_rx);
    let _ = close_tx.send(true);
    close_tx.closed().await;
    Ok(())
}
