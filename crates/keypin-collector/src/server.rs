//! The HTTP service: open ingest (a report URI must be), token-protected query API and
//! dashboard, a body cap, per-client rate limits, retention, and a graceful shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Query as QueryParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accept::{Limits, serve_app};
use crate::dashboard;
use crate::report::{network_of, parse_body};
use crate::store::{Query, Store, StoreError};

/// Largest request body accepted.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Service settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The bearer token for the query API and the dashboard.
    pub token: String,
    /// Requests per second allowed per client address (burst: twice that).
    pub rate_limit: u32,
    /// Keep reports this many days.
    pub retention_days: u32,
}

struct AppState {
    store: Arc<dyn Store>,
    settings: Settings,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    body_timeout: Duration,
}

/// Builds the router around a store, with the default [`Limits`].
pub fn router(store: Arc<dyn Store>, settings: Settings) -> Router {
    router_with_limits(store, settings, Limits::default())
}

/// Builds the router around a store; `limits.body_timeout` bounds how long ingest waits for
/// a request body.
pub fn router_with_limits(store: Arc<dyn Store>, settings: Settings, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        store,
        settings,
        buckets: Mutex::new(HashMap::new()),
        body_timeout: limits.body_timeout,
    });
    Router::new()
        .route("/v1/reports", post(ingest).get(list))
        .route("/v1/summary", get(summary))
        .route("/", get(page))
        .route("/login", get(login_page).post(login))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests. Retention runs hourly.
/// Uses the default [`Limits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, store, settings, Limits::default(), shutdown).await
}

/// [`serve`] with explicit connection limits.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    settings: Settings,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let retention_store = store.clone();
    let days = i64::from(settings.retention_days);
    let retention = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let s = retention_store.clone();
            let cutoff = now() - days * 86_400;
            let _ = tokio::task::spawn_blocking(move || s.delete_before(cutoff)).await;
        }
    });
    let app = router_with_limits(store, settings, limits);
    let result = serve_app(listener, app, limits, shutdown).await;
    retention.abort();
    result
}

fn now() -> i64 {
    rustls_pki_types::UnixTime::now().as_secs() as i64
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

impl AppState {
    /// Token bucket per client address.
    fn allow(&self, ip: IpAddr) -> bool {
        let rate = f64::from(self.settings.rate_limit.max(1));
        let Ok(mut b) = self.buckets.lock() else {
            return false;
        };
        if b.len() > 100_000 {
            b.clear(); // bounded memory under address churn
        }
        let now = Instant::now();
        let (tokens, last) = b.entry(ip).or_insert((rate * 2.0, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate * 2.0);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = self.settings.token.as_bytes();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("keypin_token="));
        [bearer, cookie]
            .into_iter()
            .flatten()
            .any(|t| constant_time_eq(t.as_bytes(), expected))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn ingest(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    if !state.allow(peer.ip()) {
        let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded".into());
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    // The whole body within the deadline (a client trickling it would hold a connection and
    // a slot forever), and no more than the cap. Nothing is stored from a partial body.
    let body = match tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, MAX_BODY))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut too_large = false;
            while let Some(s) = source {
                too_large |= s.is::<http_body_util::LengthLimitError>();
                source = s.source();
            }
            return if too_large {
                json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over {MAX_BODY} bytes"),
                )
            } else {
                json_error(
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            };
        }
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs()
                ),
            );
        }
    };
    let received = now();
    let reports = match parse_body(&body, &network_of(peer.ip()), received) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let n = reports.len();
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.insert(received, reports)).await {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "stored": n })),
        )
            .into_response(),
        // Not stored, and not a transient outage a quick retry fixes: 507 says so (a sender
        // keeps the report queued and retries with its backoff).
        Ok(Err(e @ StoreError::Full { .. })) => {
            json_error(StatusCode::INSUFFICIENT_STORAGE, e.to_string())
        }
        Ok(Err(e)) => json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct ListParams {
    host: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<ListParams>,
) -> Response {
    if !state.authorized(&headers) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required".into(),
        );
    }
    let since = match p.since.as_deref() {
        None => None,
        Some(s) => match s.parse::<i64>().ok().or_else(|| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        }) {
            Some(t) => Some(t),
            None => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("since={s:?}: expected Unix seconds or an RFC 3339 time"),
                );
            }
        },
    };
    let q = Query {
        host: p.host.map(|h| h.to_ascii_lowercase()),
        since,
        limit: p.limit.unwrap_or(100).min(1000),
    };
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.reports(&q)).await {
        Ok(Ok(r)) => axum::Json(r).into_response(),
        Ok(Err(e)) => json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn summary(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.authorized(&headers) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required".into(),
        );
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.summary(now())).await {
        Ok(Ok(s)) => axum::Json(s).into_response(),
        Ok(Err(e)) => json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.authorized(&headers) {
        return Redirect::to("/login").into_response();
    }
    let store = state.store.clone();
    let t = now();
    match tokio::task::spawn_blocking(move || store.summary(t)).await {
        Ok(Ok(s)) => Html(dashboard::render(&s, t)).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
}

/// The login form; `?token=` logs in directly (for bookmarks and headless checks).
async fn login_page(
    State(state): State<Arc<AppState>>,
    QueryParams(p): QueryParams<LoginForm>,
) -> Response {
    match p.token {
        Some(t) => login_with(&state, &t),
        None => Html(dashboard::login(false)).into_response(),
    }
}

async fn login(State(state): State<Arc<AppState>>, Form(f): Form<LoginForm>) -> Response {
    login_with(&state, f.token.as_deref().unwrap_or(""))
}

fn login_with(state: &AppState, token: &str) -> Response {
    if !constant_time_eq(token.as_bytes(), state.settings.token.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, Html(dashboard::login(true))).into_response();
    }
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "keypin_token={token}; HttpOnly; Secure; SameSite=Strict; Path=/"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
