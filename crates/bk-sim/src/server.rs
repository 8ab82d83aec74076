//! The HTTP server: accept loop, per-connection control (for connection faults), and the
//! request pipeline route -> faults -> method -> test env -> parameters -> auth ->
//! validation -> state or spec answer -> envelope.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::{Extension, Router};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{self, AuthContext, AuthError, AuthRequest, Identity};
use crate::envelope::{self, codes, REQUEST_ID_HEADER};
use crate::faults::FaultKind;
use crate::gateway::{self, Front};
use crate::route::{self, Route};
use crate::state::{Call, Outcome};
use crate::{lock, synth, validate, AnswerSource, Inner, RequestRecord};

/// The running server: its accept task and the shutdown signal every connection watches.
#[derive(Debug)]
pub(crate) struct Server {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    pub(crate) fn start(
        rt: &tokio::runtime::Handle,
        listener: TcpListener,
        inner: Arc<Inner>,
    ) -> Server {
        let (stop, stop_rx) = watch::channel(false);
        let router = Router::new().fallback(handle).with_state(inner);
        let task = rt.spawn(accept_loop(listener, router, stop_rx));
        Server { stop, task }
    }

    /// Signals every connection and the accept loop to stop.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }

    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        // Let the connection tasks see the signal and drop their sockets.
        tokio::task::yield_now().await;
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(serve_connection(stream, router.clone(), stop.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Per-connection control shared between the handler and the socket wrapper.
#[derive(Debug, Default)]
pub(crate) struct ConnCtx {
    killed: AtomicBool,
}

impl ConnCtx {
    /// From now on the connection fails every read and write and is closed with a reset.
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// A TCP stream that can be killed from the handler: every I/O fails once killed, and the
/// socket is closed with RST (zero linger) so the client sees a reset.
struct KillIo {
    inner: TcpStream,
    ctx: Arc<ConnCtx>,
    reset_armed: bool,
}

impl KillIo {
    fn check(&mut self) -> Option<io::Error> {
        if self.ctx.is_killed() {
            if !self.reset_armed {
                self.reset_armed = true;
                // Zero linger: close() sends RST at once and does not block. (`set_linger`
                // works on every Tokio 1.x; its newer `set_zero_linger` needs 1.50.)
                #[allow(deprecated)]
                let _ = self.inner.set_linger(Some(Duration::ZERO));
            }
            Some(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            None
        }
    }
}

impl AsyncRead for KillIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

async fn serve_connection(stream: TcpStream, router: Router, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let ctx = Arc::new(ConnCtx::default());
    let io = TokioIo::new(KillIo {
        inner: stream,
        ctx: ctx.clone(),
        reset_armed: false,
    });
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ctx.clone());
        let mut router = router.clone();
        async move {
            let resp = tower_service::Service::call(&mut router, req).await;
            Ok::<_, Infallible>(match resp {
                Ok(r) => r,
                Err(never) => match never {},
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(64 * 1024)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    if *stop.borrow() {
        return;
    }
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {}
    }
}

/// What the pipeline produced for one call, before faults shape the wire answer.
struct Reply {
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
    code: Option<i64>,
    executed: bool,
    source: Option<AnswerSource>,
    identity: Option<Identity>,
}

impl Reply {
    fn envelope(body: Value) -> Reply {
        let code = body.get("code").and_then(Value::as_i64);
        Reply {
            status: StatusCode::OK,
            body,
            headers: Vec::new(),
            code,
            executed: false,
            source: None,
            identity: None,
        }
    }

    fn error(code: i64, message: &str, request_id: &str) -> Reply {
        Reply::envelope(envelope::failure(code, message, None, request_id))
    }
}

fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()))
}

fn response(
    status: StatusCode,
    content_type: &str,
    body: Body,
    request_id: &str,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    r
}

fn with_headers(mut r: Response<Body>, headers: &[(&'static str, String)]) -> Response<Body> {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The axum handler behind every path.
async fn handle(
    AxState(inner): AxState<Arc<Inner>>,
    Extension(ctx): Extension<Arc<ConnCtx>>,
    req: Request,
) -> Response<Body> {
    let request_id = envelope::new_request_id();
    let at = SystemTime::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    lock(&inner.stats).requests += 1;

    let mut record = RequestRecord {
        at,
        request_id: request_id.clone(),
        method: method.to_string(),
        path: path.clone(),
        api: None,
        status: None,
        code: None,
        fault: None,
        executed: false,
        source: None,
        app_code: None,
        username: None,
    };

    let (route, front) = match route::route(&path) {
        Some(r) => (r, Front::Esb),
        None => match gateway::route(&path) {
            Ok((r, _stage)) => (r, Front::Gateway),
            Err(gateway::Miss::UnknownResource) => {
                let e = gateway::GatewayError::not_found(&path);
                record.status = Some(e.status);
                record.code = Some(e.code);
                inner.record(record);
                let r = response(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    Body::from(json_bytes(&e.body())),
                    &request_id,
                );
                return with_headers(r, &e.headers());
            }
            Err(gateway::Miss::NotGateway) => {
                record.status = Some(404);
                inner.record(record);
                return response(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    Body::from(json_bytes(&envelope::not_found())),
                    &request_id,
                );
            }
        },
    };
    let key = route.key();
    record.api = Some(key.clone());
    *lock(&inner.stats).calls.entry(key.clone()).or_default() += 1;

    let decision = {
        let mut g = lock(&inner.faults);
        g.1.decide(&route.component.name, &route.api.name)
    };
    if !decision.latency.is_zero() {
        *lock(&inner.stats)
            .faults
            .entry("latency".into())
            .or_default() += 1;
        tokio::time::sleep(decision.latency).await;
    }
    let fault = match front {
        Front::Esb => decision.fault,
        Front::Gateway => decision.fault.map(gateway::adapt_fault),
    };
    if let Some(f) = &fault {
        *lock(&inner.stats)
            .faults
            .entry(f.name().into())
            .or_default() += 1;
        record.fault = Some(f.name().to_string());
    }

    // Faults that happen before the call is executed.
    if let Some(f) = fault.as_ref().filter(|f| !f.executes()) {
        let (resp, status, code) = pre_execution_fault(f, &route, &ctx, &request_id);
        record.status = status;
        record.code = code;
        inner.record(record);
        return resp;
    }

    let reply = process(&inner, route, &key, req, &request_id, front).await;
    record.executed = reply.executed;
    record.source = reply.source;
    record.code = reply.code;
    if let Some(id) = &reply.identity {
        record.app_code = Some(id.app_code.clone());
        record.username = Some(id.username.clone());
    }
    if reply.executed {
        let mut s = lock(&inner.stats);
        s.executions += 1;
        *s.executions_per_api.entry(key).or_default() += 1;
    }

    let body = json_bytes(&reply.body);
    let resp = match fault {
        Some(FaultKind::ResetAfterExecution) => {
            ctx.kill();
            record.status = None;
            response(
                StatusCode::OK,
                "application/json",
                Body::empty(),
                &request_id,
            )
        }
        Some(FaultKind::HttpStatus(status)) => {
            let (resp, code) = gateway_status(status, &request_id);
            record.status = Some(status);
            record.code = Some(code);
            resp
        }
        Some(FaultKind::TruncatedBody) => {
            record.status = Some(reply.status.as_u16());
            truncated(reply.status, body, ctx.clone(), &request_id)
        }
        Some(FaultKind::SlowBody { chunk_delay }) => {
            record.status = Some(reply.status.as_u16());
            slow(reply.status, body, chunk_delay, &request_id)
        }
        _ => {
            record.status = Some(reply.status.as_u16());
            let r = response(
                reply.status,
                "application/json",
                Body::from(body),
                &request_id,
            );
            with_headers(r, &reply.headers)
        }
    };
    inner.record(record);
    resp
}

fn gateway_status(status: u16, request_id: &str) -> (Response<Body>, i64) {
    let (code, name, message) = match status {
        502 => (1650200, "BAD_GATEWAY", "Bad Gateway"),
        503 => (1650300, "SERVICE_UNAVAILABLE", "Service Unavailable"),
        504 => (
            1650401,
            "REQUEST_BACKEND_TIMEOUT",
            "Request backend service timeout",
        ),
        _ => (1650001, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
    };
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = envelope::gateway_error(code, name, message);
    let r = response(
        status_code,
        "application/json",
        Body::from(json_bytes(&body)),
        request_id,
    );
    let r = with_headers(
        r,
        &[
            ("X-Bkapi-Error-Code", code.to_string()),
            ("X-Bkapi-Error-Message", message.to_string()),
        ],
    );
    (r, code)
}

fn pre_execution_fault(
    f: &FaultKind,
    route: &Route,
    ctx: &Arc<ConnCtx>,
    request_id: &str,
) -> (Response<Body>, Option<u16>, Option<i64>) {
    let envelope_reply = |code: i64, message: String| {
        let body = envelope::failure(code, &message, None, request_id);
        (
            response(
                StatusCode::OK,
                "application/json",
                Body::from(json_bytes(&body)),
                request_id,
            ),
            Some(200),
            Some(code),
        )
    };
    match f {
        FaultKind::ResetBeforeExecution => {
            ctx.kill();
            (
                response(
                    StatusCode::OK,
                    "application/json",
                    Body::empty(),
                    request_id,
                ),
                None,
                None,
            )
        }
        FaultKind::HttpStatus(s) => {
            let (r, code) = gateway_status(*s, request_id);
            (r, Some(*s), Some(code))
        }
        FaultKind::GatewayRateLimit { retry_after_secs } => {
            let message = "API rate limit exceeded by stage global limit";
            let body = envelope::gateway_error(
                codes::GATEWAY_RATE_LIMITED,
                "RATE_LIMIT_RESTRICTION",
                message,
            );
            let reset = retry_after_secs.max(&1);
            let r = response(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                Body::from(json_bytes(&body)),
                request_id,
            );
            let r = with_headers(
                r,
                &[
                    ("Retry-After", retry_after_secs.to_string()),
                    ("X-Bkapi-RateLimit-Limit", "100".into()),
                    ("X-Bkapi-RateLimit-Remaining", "0".into()),
                    ("X-Bkapi-RateLimit-Reset", reset.to_string()),
                    ("X-Bkapi-RateLimit-Plugin", "bk-rate-limit".into()),
                    (
                        "X-Bkapi-Error-Code",
                        codes::GATEWAY_RATE_LIMITED.to_string(),
                    ),
                    ("X-Bkapi-Error-Message", message.into()),
                ],
            );
            (r, Some(429), Some(codes::GATEWAY_RATE_LIMITED))
        }
        FaultKind::EsbBackendFailed => envelope_reply(
            codes::ESB_BACKEND_FAILED,
            format!(
                "Request to the backend of component [{}] failed: connection refused or timed out",
                route.key()
            ),
        ),
        FaultKind::EsbRateLimited => envelope_reply(
            codes::ESB_RATE_LIMITED,
            format!(
                "Request rate of app exceeds the limit of component [{}], please try again later",
                route.key()
            ),
        ),
        FaultKind::CmdbTooManyRequests => envelope_reply(
            codes::CC_TOO_MANY_REQUESTS,
            "too many requests, please try again later".into(),
        ),
        FaultKind::HtmlBody => {
            let html = "<!DOCTYPE html>\n<html><head><title>BlueKing</title></head>\n\
                        <body><h1>502 Bad Gateway</h1><p>The upstream server is not \
                        available. Please log in again or try later.</p></body></html>\n";
            (
                response(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    Body::from(html),
                    request_id,
                ),
                Some(200),
                None,
            )
        }
        // Executing kinds never get here; answer a plain 500 rather than panic.
        _ => {
            let (r, code) = gateway_status(500, request_id);
            (r, Some(500), Some(code))
        }
    }
}

fn truncated(
    status: StatusCode,
    body: Bytes,
    ctx: Arc<ConnCtx>,
    request_id: &str,
) -> Response<Body> {
    let full = body.len();
    let half = body.slice(0..full / 2);
    let stream = futures::stream::unfold(0u8, move |step| {
        let half = half.clone();
        let ctx = ctx.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, io::Error>(half), 1)),
                1 => {
                    // give hyper time to flush the first half, then drop the connection
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    ctx.kill();
                    Some((Err(io::Error::from(io::ErrorKind::ConnectionReset)), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = response(
        status,
        "application/json",
        Body::from_stream(stream),
        request_id,
    );
    if let Ok(v) = HeaderValue::from_str(&full.to_string()) {
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    r
}

fn slow(status: StatusCode, body: Bytes, delay: Duration, request_id: &str) -> Response<Body> {
    let full = body.len();
    let chunk = full.div_ceil(8).max(1);
    let stream = futures::stream::unfold(0usize, move |offset| {
        let body = body.clone();
        async move {
            if offset >= body.len() {
                return None;
            }
            if offset > 0 {
                tokio::time::sleep(delay).await;
            }
            let end = (offset + chunk).min(body.len());
            Some((Ok::<Bytes, io::Error>(body.slice(offset..end)), end))
        }
    });
    let mut r = response(
        status,
        "application/json",
        Body::from_stream(stream),
        request_id,
    );
    if let Ok(v) = HeaderValue::from_str(&full.to_string()) {
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    r
}

fn use_test_env(headers: &HeaderMap) -> bool {
    match headers.get("X-Use-Test-Env") {
        None => false,
        Some(v) => {
            let v = String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase();
            v != "0" && v != "false"
        }
    }
}

fn is_cc(route: &Route) -> bool {
    route.component.name == "cc"
}

/// Everything after routing and faults: the call as the ESB would handle it.
async fn process(
    inner: &Inner,
    route: Route,
    key: &str,
    req: Request,
    request_id: &str,
    front: Front,
) -> Reply {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();

    // The API gateway checks credentials before anything reaches the backend.
    let gateway_identity = match front {
        Front::Esb => None,
        Front::Gateway => match gateway::authenticate(&parts.headers, inner) {
            Ok(id) => Some(id),
            Err(e) => {
                let mut r = Reply::envelope(e.body());
                r.status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED);
                r.headers = e.headers();
                r.code = Some(e.code);
                return r;
            }
        },
    };

    // Method: the spec's, or one another official source uses for the same API.
    let allowed = route.api.method.as_str() == method
        || route
            .api
            .also_seen
            .iter()
            .any(|s| s.method.map(|m| m.as_str()) == Some(method));
    if !allowed {
        return Reply::error(
            codes::ESB_METHOD_NOT_SUPPORTED,
            &format!(
                "component [{key}] does not support the method [{method}], use {}",
                route.api.method.as_str()
            ),
            request_id,
        );
    }

    if use_test_env(&parts.headers) && !inner.test_env_available {
        return Reply::error(
            codes::ESB_NO_TEST_ENV,
            &format!(
                "the test environment of component [{key}] is not configured \
                 (requested with X-Use-Test-Env)"
            ),
            request_id,
        );
    }

    let raw_query = parts.uri.query().unwrap_or("");
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();

    let body = if parts.method == Method::POST {
        match axum::body::to_bytes(body, inner.max_body_bytes).await {
            Ok(b) => Some(b),
            Err(_) => {
                return Reply::error(
                    codes::ESB_GENERIC,
                    &format!(
                        "Request parameters error: the request body is larger than {} bytes \
                         or could not be read",
                        inner.max_body_bytes
                    ),
                    request_id,
                )
            }
        }
    } else {
        None
    };

    // Parameters: GET from the query; POST from the body (JSON when it starts with `{`).
    let (mut params, from_strings) = match &body {
        None => (pairs_to_map(&query), true),
        Some(b) => {
            let trimmed = b.trim_ascii_start();
            if trimmed.first() == Some(&b'{') {
                match serde_json::from_slice::<Value>(trimmed) {
                    Ok(Value::Object(m)) => (m, false),
                    Ok(_) => (Map::new(), false),
                    Err(e) => {
                        return Reply::error(
                            codes::ESB_GENERIC,
                            &format!("Request parameters error: the body is not valid JSON: {e}"),
                            request_id,
                        )
                    }
                }
            } else {
                let pairs: Vec<(String, String)> =
                    url::form_urlencoded::parse(b).into_owned().collect();
                (pairs_to_map(&pairs), true)
            }
        }
    };

    // Auth.
    let auth_header = parts
        .headers
        .get("X-Bkapi-Authorization")
        .map(|v| v.as_bytes());
    let state = inner.state.clone();
    let token_user = move |t: &str| state.token_user(t);
    let identity = if let Some(id) = gateway_identity {
        id
    } else {
        let req = AuthRequest {
            header: auth_header,
            params: &params,
            query: &query,
            method,
            path: parts.uri.path(),
            body: body.as_deref(),
        };
        let ctx = AuthContext {
            app_code: &inner.app_code,
            app_secret: &inner.app_secret,
            trust_bk_username: inner.trust_bk_username,
            now: now_secs(),
            token_user: &token_user,
            nonces: &inner.nonces,
        };
        match auth::authenticate(&req, &ctx) {
            Ok(id) => id,
            Err(e @ (AuthError::BadHeader(_) | AuthError::Failed(_))) => {
                return Reply::error(e.code(), e.message(), request_id)
            }
        }
    };

    // Credentials are not parameters, unless the API declares them (`is_login`'s bk_token).
    for k in auth::AUTH_KEYS {
        if route.api.param(k).is_none() {
            params.remove(*k);
        }
    }
    if from_strings {
        validate::coerce_params(route.component, route.api, &mut params);
    }
    let params = Value::Object(params);

    if let Err(invalid) = validate::validate_params(route.component, route.api, &params) {
        let (code, message) = validation_error(&route, &invalid);
        let mut r = Reply::error(code, &message, request_id);
        r.identity = Some(identity);
        return r;
    }

    // Execute.
    let call = Call {
        component: &route.component.name,
        api: &route.api.name,
        params: &params,
        username: Some(&identity.username),
        request_id,
    };
    let outcome = inner.state.handle(&call).await;
    let (body, source) = match outcome {
        Some(Outcome::Data(data)) => (envelope::success(data, request_id), AnswerSource::State),
        Some(Outcome::Error {
            code,
            message,
            permission,
        }) => (
            envelope::failure(code, &message, permission, request_id),
            AnswerSource::State,
        ),
        None => match &route.api.example {
            Some(example) => (
                envelope::success(example.clone(), request_id),
                AnswerSource::Example,
            ),
            None => (
                envelope::success(synth::response_data(route.component, route.api), request_id),
                AnswerSource::Synthesized,
            ),
        },
    };
    let mut r = Reply::envelope(body);
    r.executed = true;
    r.source = Some(source);
    r.identity = Some(identity);
    r
}

fn validation_error(route: &Route, invalid: &validate::Invalid) -> (i64, String) {
    use validate::Problem;
    if !is_cc(route) {
        return (codes::ESB_ARGUMENT, format!("Parameters error [{invalid}]"));
    }
    // CMDB's own codes for page limits (PROTOCOL.md 3), 1199006 for everything else.
    if invalid.path.ends_with(".limit") {
        match &invalid.problem {
            Problem::Maximum(max) => {
                let code = if route.api.name == "list_biz_hosts_topo" {
                    codes::CC_PAGE_LIMIT_EXCEEDED
                } else {
                    codes::CC_LIMIT_EXCEEDED
                };
                return (code, format!("{} exceed the limit {max}", invalid.path));
            }
            Problem::Minimum(_) if route.api.name == "list_biz_hosts_topo" => {
                return (
                    codes::CC_PAGE_LIMIT_ZERO,
                    format!("{} must be set and greater than 0", invalid.path),
                );
            }
            _ => {}
        }
    }
    (
        codes::CC_INVALID_PARAMS,
        format!("params is invalid: {invalid}"),
    )
}

/// Query or form pairs as a parameter map; the last value of a repeated key wins (Django's
/// `QueryDict.dict()`).
fn pairs_to_map(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m
}
