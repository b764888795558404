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

use super::{Gate, router};

/// The RFC 9266 exporter label.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// How long a client may take for its TLS handshake and each request head.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// The `tls-exporter` value of the connection a request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsExporter(pub [u8; 32]);

/// Serves the gate over TLS on `listener` until the future is dropped.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    gate: Arc<Gate>,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let app = router(gate);
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(sock)).await
            else {
                return;
            };
            let Ok(exporter) =
                stream
                    .get_ref()
                    .1
                    .export_keying_material([0u8; 32], TLS_EXPORTER_LABEL, None)
            else {
                return;
            };
            serve_connection(stream, peer, TlsExporter(exporter), app).await;
        });
    }
}

async fn serve_connection<I>(io: I, peer: SocketAddr, exporter: TlsExporter, app: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(exporter.clone());
        let mut app = app.clone();
        app.call(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_DEADLINE);
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}
