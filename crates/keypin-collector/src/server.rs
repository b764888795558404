//! The HTTP service: open ingest (a report URI must be), the query API (bearer token) and the
//! dashboard (a session from a login with the token), a body deadline and size cap per route,
//! per-client rate limits and login throttling, retention, and a graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{
    DefaultBodyLimit, Extension, Form, Path, Query as QueryParams, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use keypin::clock::{Clock, SystemClock};

use crate::accept::{Front, Limits, serve_app};
use crate::alerts::AlertSettings;
use crate::client::{Cidr, Client, ClientKey, Transport};
use crate::dashboard::filter::FilterParams;
use crate::dashboard::{self, LoginNotice};
use crate::metrics::Metrics;
use crate::report::{network_of, parse_body};
use crate::session::Sessions;
use crate::store::{Query, Store, StoreError};

/// Largest request body accepted (report ingest).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Largest login or logout body: a form with the token, with room to spare.
pub const MAX_LOGIN_BODY: usize = 1024;

/// Failed logins allowed from one client in a burst, then one more every
/// [`LOGIN_REFILL_SECS`]: 5 a minute.
const LOGIN_BURST: f64 = 5.0;
const LOGIN_REFILL_SECS: u64 = 12;

/// Clients tracked at most by each limiter. Past it, clients whose allowance is whole again are
/// forgotten (they lose nothing); if that frees nothing, new clients are refused rather than
/// the map cleared (which would hand every throttled client a fresh allowance).
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// How often each instance asks whether retention is due.
const RETENTION_TICK_SECS: u64 = 3600;

/// Retention runs at most once in this many seconds across the instances sharing a store:
/// under the tick, so one instance's next tick always finds it due.
const RETENTION_PERIOD_SECS: i64 = 3000;

/// The dashboard's session cookie.
const SESSION_COOKIE: &str = "keypin_session";

/// Service settings. Start from [`Settings::new`] and change what differs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The bearer token for the query API, and what logs in to the dashboard.
    pub token: String,
    /// Requests per second allowed per client (an IPv4 address or an IPv6 /64; burst: twice
    /// that).
    pub rate_limit: u32,
    /// Keep reports this many days.
    pub retention_days: u32,
    /// Proxies whose `X-Forwarded-For` names the client (the right-most address outside
    /// these ranges). From anyone else the header is ignored. Empty: the peer is the client.
    pub trusted_proxies: Vec<Cidr>,
    /// Serve HTTPS with this configuration (see [`crate::tls::server_config`]); `None`: HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A dashboard session ends this long after login (or at logout).
    pub session_lifetime: Duration,
    /// The time sessions expire by and reports are stamped with.
    pub clock: Arc<dyn Clock>,
    /// Alert rules and where their deliveries are recorded; `None`: no alerts.
    pub alerts: Option<AlertSettings>,
    /// `GET /metrics` without the token (for a scraper that cannot send one); by default it
    /// needs the token, as the query API does.
    pub metrics_public: bool,
}

impl Settings {
    /// `token`, 100 requests per second per client, 90 days of retention, no trusted proxy,
    /// plain HTTP, 12-hour sessions, the system clock, no alerts, `/metrics` behind the token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            rate_limit: 100,
            retention_days: 90,
            trusted_proxies: Vec::new(),
            tls: None,
            session_lifetime: Duration::from_secs(12 * 3600),
            clock: Arc::new(SystemClock),
            alerts: None,
            metrics_public: false,
        }
    }
}

struct AppState {
    store: Arc<dyn Store>,
    body_timeout: Duration,
    settings: Settings,
    requests: Buckets,
    login_attempts: Buckets,
    sessions: Sessions,
    metrics: Arc<Metrics>,
}

/// Builds the router around a store. Its handlers need the [`Client`] the accept loop sets on
/// each request (without it they answer 500), so it is served only by [`serve_with_limits`].
fn router(
    store: Arc<dyn Store>,
    settings: Settings,
    limits: Limits,
    metrics: Arc<Metrics>,
) -> Router {
    let rate = f64::from(settings.rate_limit.max(1));
    let lifetime = i64::try_from(settings.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    let state = Arc::new(AppState {
        store,
        requests: Buckets::new(rate, rate * 2.0),
        login_attempts: Buckets::new(1.0 / LOGIN_REFILL_SECS as f64, LOGIN_BURST),
        sessions: Sessions::new(lifetime),
        body_timeout: limits.body_timeout,
        settings,
        metrics,
    });
    Router::new()
        .route("/v1/reports", post(ingest).get(list))
        .route("/v1/summary", get(summary))
        .route("/", get(page))
        .route("/reports/{id}", get(report_page))
        .route("/v1/reports.csv", get(download_csv))
        .route("/v1/reports.json", get(download_json))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/metrics", get(metrics_page))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(from_fn_with_state(state.clone(), bounded_body))
        .layer(from_fn_with_state(state.clone(), count_ingest))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests. Retention runs hourly;
/// alert rules, if any, every [`AlertSettings::every`]. Uses the default [`Limits`].
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
    let clock = settings.clock.clone();
    // Every instance ticks; the store lets one of those sharing it run each period.
    let retention = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(RETENTION_TICK_SECS));
        loop {
            tick.tick().await;
            let s = retention_store.clone();
            let t = now(clock.as_ref());
            let cutoff = t - days * 86_400;
            let _ =
                tokio::task::spawn_blocking(move || s.retention(t, cutoff, RETENTION_PERIOD_SECS))
                    .await;
        }
    });
    let metrics = Arc::new(Metrics::new());
    // Off the ingest path: its own task, reading what ingest committed.
    let alerts = match settings.alerts.clone() {
        Some(a) => Some(
            crate::alerts::start(a, settings.clock.clone(), metrics.clone())
                .await
                .inspect_err(|_| retention.abort())?,
        ),
        None => None,
    };
    let front = Front {
        tls: settings.tls.clone(),
        trusted: settings.trusted_proxies.clone().into(),
    };
    let app = router(store, settings, limits, metrics);
    let result = serve_app(listener, app, limits, front, shutdown).await;
    retention.abort();
    if let Some(a) = alerts {
        a.abort();
    }
    result
}

fn now(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.now().as_secs()).unwrap_or(i64::MAX)
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// The largest body each route takes. Routes that take none get 0: a GET with a body, or a
/// body on a path that does not exist, is refused before anything waits for it.
fn body_cap(method: &Method, path: &str) -> usize {
    match (method, path) {
        _ if is_ingest(method, path) => MAX_BODY,
        (&Method::POST, "/login" | "/logout") => MAX_LOGIN_BODY,
        _ => 0,
    }
}

fn is_ingest(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/v1/reports"
}

/// Reads every request's whole body before its handler runs: within the body deadline (a
/// client trickling a body would otherwise hold a connection slot for as long as it likes,
/// on any route, with no token) and within the route's cap. Nothing is handled from a partial
/// body; the handler gets the bytes.
///
/// Report ingest is rate-limited here, on the request head: a client over its rate is refused
/// before a byte of its body is read (or waited for).
async fn bounded_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let cap = body_cap(req.method(), req.uri().path());
    if is_ingest(req.method(), req.uri().path()) && !ingest_allowed(&state, &req) {
        let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded".into());
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let deadline = state.body_timeout;
    let (parts, body) = req.into_parts();
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over {cap} bytes, the most {} {} takes",
                parts.method,
                parts.uri.path()
            ),
        )
    };
    // A declared length over the cap is refused without reading a byte of it.
    if body.size_hint().lower() > cap as u64 {
        return too_large();
    }
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, cap)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return too_large();
                }
                source = s.source();
            }
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            );
        }
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    deadline.as_secs_f64()
                ),
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Takes a token from the ingest bucket of the request's client. A request without the
/// [`Client`] the accept loop sets is refused here too (its handler would answer 500).
fn ingest_allowed(state: &AppState, req: &Request) -> bool {
    req.extensions()
        .get::<Client>()
        .is_some_and(|c| state.requests.take(ClientKey::of(c.ip)))
}

/// Token buckets per client.
struct Buckets {
    per_sec: f64,
    burst: f64,
    map: Mutex<HashMap<ClientKey, (f64, Instant)>>,
}

impl Buckets {
    fn new(per_sec: f64, burst: f64) -> Self {
        Self {
            per_sec,
            burst,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket; `false` if it is empty (or cannot be tracked).
    fn take(&self, key: ClientKey) -> bool {
        let Ok(mut map) = self.map.lock() else {
            return false;
        };
        let now = Instant::now();
        if map.len() >= MAX_TRACKED_CLIENTS && !map.contains_key(&key) {
            map.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * self.per_sec < self.burst
            });
            if map.len() >= MAX_TRACKED_CLIENTS {
                return false;
            }
        }
        let (tokens, last) = map.entry(key).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back the token [`Buckets::take`] took.
    fn refund(&self, key: ClientKey) {
        if let Ok(mut map) = self.map.lock()
            && let Some((tokens, _)) = map.get_mut(&key)
        {
            *tokens = (*tokens + 1.0).min(self.burst);
        }
    }
}

impl AppState {
    fn now(&self) -> i64 {
        now(self.settings.clock.as_ref())
    }

    /// Whether `given` is the token, compared in constant time. An empty token (a
    /// misconfiguration) matches nothing rather than everything.
    fn is_token(&self, given: &str) -> bool {
        let expected = self.settings.token.as_bytes();
        !expected.is_empty() && constant_time_eq(given.as_bytes(), expected)
    }

    /// The bearer token (the API's way in), or a live dashboard session.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| self.is_token(t)) {
            return true;
        }
        let now = self.now();
        session_ids(headers).any(|id| self.sessions.is_live(id, now))
    }
}

/// The session ids in a request's cookies.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn ingest(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<Client>,
    body: Bytes,
) -> Response {
    // The client's rate was checked on the request head (bounded_body).
    let received = state.now();
    let reports = match parse_body(&body, &network_of(client.ip), received) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let n = reports.len();
    let store = state.store.clone();
    let metrics = state.metrics.clone();
    match tokio::task::spawn_blocking(move || {
        metrics.time("insert", || store.insert(received, reports))
    })
    .await
    {
        Ok(Ok(())) => {
            state.metrics.accepted(n);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({ "stored": n })),
            )
                .into_response()
        }
        // Not stored, and not a transient outage a quick retry fixes: 507 says so (a sender
        // keeps the report queued and retries with its backoff).
        Ok(Err(e @ StoreError::Full { .. })) => {
            json_error(StatusCode::INSUFFICIENT_STORAGE, e.to_string())
        }
        Ok(Err(e)) => json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Counts every ingest answer that is not an acceptance (a refusal by its reason, or the
/// rate limit), whichever layer gave it.
async fn count_ingest(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let ingest = is_ingest(req.method(), req.uri().path());
    let r = next.run(req).await;
    if ingest {
        state.metrics.ingest_status(r.status().as_u16());
    }
    r
}

/// `GET /metrics`: the token (or a session) unless [`Settings::metrics_public`].
async fn metrics_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.settings.metrics_public && !state.authorized(&headers) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required (or start the collector with --metrics-public)".into(),
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        state.metrics.render(),
    )
        .into_response()
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
    let t = state.now();
    match tokio::task::spawn_blocking(move || store.summary(t)).await {
        Ok(Ok(s)) => axum::Json(s).into_response(),
        Ok(Err(e)) => json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The overview, filtered by the query parameters ([`FilterParams`]).
async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    QueryParams(p): QueryParams<FilterParams>,
) -> Response {
    if !state.authorized(&headers) {
        return to_login(&uri);
    }
    let t = state.now();
    let f = match p.filter(t) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let store = state.store.clone();
    html(
        tokio::task::spawn_blocking(move || dashboard::overview::render_for(store.as_ref(), &f, t))
            .await,
    )
}

/// A report's page.
async fn report_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<i64>,
) -> Response {
    if !state.authorized(&headers) {
        return to_login(&uri);
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.report(id)).await {
        Ok(Ok(Some(r))) => Html(dashboard::detail::render(&r)).into_response(),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, format!("no report {id}")).into_response(),
        other => html(other.map(|r| r.map(|_| String::new()))),
    }
}

/// To the login page, which comes back to `uri` after the login.
fn to_login(uri: &axum::http::Uri) -> Response {
    let back = uri.path_and_query().map_or("/", |p| p.as_str());
    Redirect::to(&format!(
        "/login?next={}",
        dashboard::filter::encode(local_path(Some(back)))
    ))
    .into_response()
}

/// A rendered page, or why not.
fn html(r: Result<Result<String, StoreError>, tokio::task::JoinError>) -> Response {
    match r {
        Ok(Ok(page)) => Html(page).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn download_csv(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    p: QueryParams<FilterParams>,
) -> Response {
    download(state, headers, p, true).await
}

async fn download_json(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    p: QueryParams<FilterParams>,
) -> Response {
    download(state, headers, p, false).await
}

/// The filtered reports as a file: the newest `EXPORT_CAP` at most; `X-Keypin-Truncated: true`
/// when there were more.
async fn download(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<FilterParams>,
    csv: bool,
) -> Response {
    if !state.authorized(&headers) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "a bearer token or a dashboard session is required".into(),
        );
    }
    let f = match p.filter(state.now()) {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let store = state.store.clone();
    let (rows, truncated) =
        match tokio::task::spawn_blocking(move || dashboard::export::rows_for(store.as_ref(), &f))
            .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return json_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    let (body, kind, name) = if csv {
        (
            dashboard::export::csv(&rows),
            "text/csv; charset=utf-8",
            "attachment; filename=\"keypin-reports.csv\"",
        )
    } else {
        (
            dashboard::export::json(&rows, truncated),
            "application/json",
            "attachment; filename=\"keypin-reports.json\"",
        )
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
    h.insert(
        "x-keypin-truncated",
        HeaderValue::from_static(if truncated { "true" } else { "false" }),
    );
    r
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
    /// Where to go after the login: a path on this collector (see [`local_path`]).
    next: Option<String>,
}

/// `next` when it is a path on this collector (`/` then no second `/` or `\\`, printable
/// ASCII, at most 2,048 bytes), `/` otherwise: a login link cannot send the browser to
/// another site (an open redirect).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.len() <= 2048
                && p.starts_with('/')
                && !p[1..].starts_with(['/', '\\'])
                && p.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\') =>
        {
            p
        }
        _ => "/",
    }
}

/// The login form. A token in the URL is refused, not used: URLs land in access logs, browser
/// history and Referer headers.
async fn login_page(QueryParams(p): QueryParams<LoginForm>) -> Response {
    let next = local_path(p.next.as_deref());
    if p.token.is_some() {
        return (
            StatusCode::BAD_REQUEST,
            Html(dashboard::login(LoginNotice::TokenInUrl, next)),
        )
            .into_response();
    }
    Html(dashboard::login(LoginNotice::None, next)).into_response()
}

/// Logs in with the token from the form body.
///
/// 1. Each attempt takes one of the client's login tokens (5, refilled one per 12 s); with
///    none left the attempt is refused unchecked, so a right guess while throttled tells the
///    guesser nothing.
/// 2. The token is compared in constant time.
/// 3. A right token gives the attempt back, and a new random session (never the token) goes in
///    an `HttpOnly; SameSite=Strict` cookie, `Secure` when the browser came over TLS.
async fn login(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<Client>,
    Form(f): Form<LoginForm>,
) -> Response {
    let key = ClientKey::of(client.ip);
    let next = local_path(f.next.as_deref());
    // 1.
    if !state.login_attempts.take(key) {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Html(dashboard::login(LoginNotice::Throttled, next)),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(LOGIN_REFILL_SECS));
        return r;
    }
    // 2.
    let token = f.token.unwrap_or_default();
    if !state.is_token(&token) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(dashboard::login(LoginNotice::WrongToken, next)),
        )
            .into_response();
    }
    // 3.
    state.login_attempts.refund(key);
    let Some(id) = state.sessions.create(state.now()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no random session id could be made; try again",
        )
            .into_response();
    };
    with_cookie(
        Redirect::to(next).into_response(),
        &id,
        state.sessions.lifetime_secs(),
        client.transport,
    )
}

/// Ends the session in the request's cookie (on the server: the id is dead whatever the
/// browser keeps) and clears the cookie.
async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    for id in session_ids(&headers) {
        state.sessions.end(id);
    }
    with_cookie(
        Redirect::to("/login").into_response(),
        "",
        0,
        client.transport,
    )
}

/// Sets the session cookie on `r`.
fn with_cookie(mut r: Response, id: &str, max_age: i64, transport: Transport) -> Response {
    let secure = match transport {
        Transport::Tls => "; Secure",
        Transport::Plain => "",
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
