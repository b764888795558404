//! The HTTP service: routes, per-route body caps and deadlines, per-address rate limits, and
//! the register and assert flows. Every refusal is a JSON `{"error": …}` naming what failed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::config::GateConfig;
use crate::store::Store;
use crate::token::Signer;
use crate::{GateError, unix_now};

mod flows;
mod tls;

pub use tls::{TLS_EXPORTER_LABEL, TlsExporter, serve_tls, serve_tls_with};

/// How long a request body may take to arrive.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// The most tracked client addresses for rate limiting.
const MAX_TRACKED: usize = 10_000;

/// The service's shared state.
#[derive(Debug)]
pub struct Gate {
    /// The configuration.
    pub config: GateConfig,
    /// The database.
    pub store: Store,
    pub(crate) signer: Signer,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Gate {
    /// A gate with this configuration and database.
    pub fn new(config: GateConfig, store: Store) -> Arc<Self> {
        Arc::new(Self {
            signer: Signer::new(config.key_rotation_secs, config.token_lifetime_secs),
            config,
            store,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The current key set, as `/.well-known/jwks.json` serves it.
    pub fn jwks(&self) -> Result<crate::Jwks, GateError> {
        self.signer.jwks(&self.store, unix_now())
    }

    fn allow(&self, ip: IpAddr) -> bool {
        let rate = f64::from(self.config.rate_limit_per_sec);
        let burst = rate * 2.0;
        let Ok(mut map) = self.buckets.lock() else {
            return false;
        };
        let now = Instant::now();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (t, last)| *t + now.duration_since(*last).as_secs_f64() * rate < burst);
            if map.len() >= MAX_TRACKED {
                return false;
            }
        }
        let (tokens, last) = map.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        let status = match &self {
            GateError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GateError::Refused(_) => StatusCode::UNAUTHORIZED,
            GateError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        json_error(status, self.to_string())
    }
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// What a connection may cost before it sends a request: the same discipline as the
/// collector's accept loop (a client that drips a request head, or opens connections and sends
/// nothing, cannot hold the gate).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take for its TLS handshake and for each request head.
    pub header_deadline: Duration,
    /// Connections open at once; one over it is closed at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_deadline: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// The routes, with body caps, deadlines and rate limits.
pub fn router(gate: Arc<Gate>) -> Router {
    Router::new()
        .route("/v1/challenge", post(flows::challenge))
        .route("/v1/register", post(flows::register))
        .route("/v1/assert", post(flows::assert))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(middleware::from_fn_with_state(Arc::clone(&gate), guard))
        .with_state(gate)
}

/// Serves the gate in plain HTTP on `listener` (behind a TLS terminator) until the future is
/// dropped, with the default [`Limits`].
pub async fn serve(listener: tokio::net::TcpListener, gate: Arc<Gate>) -> std::io::Result<()> {
    serve_with(listener, gate, Limits::default()).await
}

/// [`serve`] with `limits`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    gate: Arc<Gate>,
    limits: Limits,
) -> std::io::Result<()> {
    tls::accept_loop(listener, router(gate), None, limits).await
}

async fn jwks(State(gate): State<Arc<Gate>>) -> Response {
    match gate.jwks() {
        Ok(set) => axum::Json(set).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The largest body each route takes; routes without a body take none.
fn body_cap(method: &Method, path: &str) -> usize {
    match (method, path) {
        (&Method::POST, "/v1/challenge") => 1024,
        (&Method::POST, "/v1/register") => 96 * 1024,
        (&Method::POST, "/v1/assert") => 16 * 1024,
        _ => 0,
    }
}

/// Rate limit on the request head, then the whole body within its cap and deadline.
async fn guard(
    State(gate): State<Arc<Gate>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if !gate.allow(peer.ip()) {
        return json_error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded: {} requests per second per address",
                gate.config.rate_limit_per_sec
            ),
        );
    }
    let cap = body_cap(req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, cap)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is unreadable or over {cap} bytes, the most {} {} takes",
                    parts.method,
                    parts.uri.path()
                ),
            );
        }
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_DEADLINE.as_secs()
                ),
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(
    route: &str,
    body: &[u8],
) -> Result<T, GateError> {
    serde_json::from_slice(body).map_err(|e| GateError::BadRequest(format!("{route}: {e}")))
}
