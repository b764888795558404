//! The gate terminating TLS itself: each connection's RFC 9266 `tls-exporter` value is handed
//! to the handlers (as a [`TlsExporter`] request extension), so an assertion must name the
//! very connection it arrives on. A party in between that terminates the app's TLS has two
//! connections with two different exporter values, and cannot make the app sign the one the
//! gate sees.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower_service::Service as _;

use super::{Gate, Limits, router};

/// The RFC 9266 exporter label.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The `tls-exporter` value of the connection a request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsExporter(pub [u8; 32]);

/// Serves the gate over TLS on `listener` until the future is dropped, with the default
/// [`Limits`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    gate: Arc<Gate>,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    serve_tls_with(listener, gate, config, Limits::default()).await
}

/// [`serve_tls`] with `limits`.
pub async fn serve_tls_with(
    listener: tokio::net::TcpListener,
    gate: Arc<Gate>,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    accept_loop(listener, router(gate), Some(acceptor), limits).await
}

/// Accepts connections (over TLS with `acceptor`): at most `limits.max_connections` at once,
/// each with `limits.header_deadline` for its handshake and each request head.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Over the cap: closed at once (dropped), never queued.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let deadline = limits.header_deadline;
            match acceptor {
                None => serve_connection(sock, peer, None, app, deadline).await,
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(deadline, acceptor.accept(sock)).await
                    else {
                        return;
                    };
                    let Ok(exporter) = stream.get_ref().1.export_keying_material(
                        [0u8; 32],
                        TLS_EXPORTER_LABEL,
                        None,
                    ) else {
                        return;
                    };
                    serve_connection(stream, peer, Some(TlsExporter(exporter)), app, deadline)
                        .await;
                }
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    exporter: Option<TlsExporter>,
    app: axum::Router,
    header_deadline: Duration,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(exporter) = &exporter {
            req.extensions_mut().insert(exporter.clone());
        }
        let mut app = app.clone();
        app.call(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_deadline);
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}
