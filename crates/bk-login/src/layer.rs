//! BlueKing login for axum apps (cargo feature `axum`): a tower [`Layer`] and an extractor.
//!
//! [`LoginLayer`] reads the `bk_token` cookie that the BlueKing login service sets for the
//! whole platform domain, validates it with a [`LoginValidator`] (`is_login` + `get_user`,
//! with its short TTL cache, so a burst of requests from one user costs two API calls) and
//! puts the user into the request extensions, where the [`CurrentUser`] extractor finds it.
//!
//! A request without a valid token is answered by the layer, never by the handler:
//!
//! - [`LoginMode::Api`]: `401` with a JSON body in the BlueKing envelope shape,
//!   `{"result": false, "code": 401, "message": "...", "data": {"login_url": "..."}}`, so a
//!   front end can send the browser to `data.login_url`;
//! - [`LoginMode::Page`]: `302` to `{login_url}?c_url={original URL}`, percent-encoded,
//!   which brings the user back after logging in;
//! - [`LoginMode::Auto`] (default): `302` for page loads (`GET`/`HEAD` that accept
//!   `text/html` and are not `X-Requested-With: XMLHttpRequest`), `401` JSON otherwise,
//!   as BlueKing's Django framework does for AJAX and page requests.
//!
//! The `c_url` parameter name is what the BlueKing login page reads; PROTOCOL.md does not
//! document the redirect, so the shape above is a choice that follows the apps built on
//! BlueKing's framework (blueapps). The original URL is [`LoginLayer::public_base_url`]
//! plus the request's path and query when set (recommended behind a proxy), else built
//! from the `Host` header (and `X-Forwarded-Proto`/`X-Forwarded-Host` only with
//! [`LoginLayer::trust_forwarded_headers`]).
//!
//! The validator's client calls `is_login` with the app's credentials and needs a user
//! identity the ESB accepts for the app itself (e.g. `BK_USERNAME` for an app on the
//! skip-user-auth whitelist), as with [`LoginValidator`] alone.
//!
//! When the login service cannot be asked (connection refused, timeout, 5xx), the layer
//! answers `503` with a JSON body (and the ESB request id when known) instead of sending
//! users to log in again. Tokens never appear in answers, logs or `Debug` output.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use bk_login::layer::{CurrentUser, LoginLayer};
//! use bk_login::validate::LoginValidator;
//!
//! async fn me(CurrentUser(user): CurrentUser) -> String {
//!     format!("hello {}", user.bk_username)
//! }
//!
//! # fn demo(client: bk_runtime::Client) {
//! let login = LoginLayer::new(LoginValidator::new(&client), "https://paas.example.com/login/")
//!     .public_base_url("https://app.example.com");
//! let app: Router = Router::new().route("/me", get(me)).layer(login);
//! # let _ = app;
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bk_runtime::ErrorKind;
use serde_json::json;
use tower_layer::Layer;
use tower_service::Service;

use crate::types::User;
use crate::validate::LoginValidator;

/// The cookie the BlueKing login service sets.
pub const DEFAULT_COOKIE: &str = "bk_token";

/// What the layer answers to a request without a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginMode {
    /// `401` with a JSON body holding `data.login_url`.
    Api,
    /// `302` to the login page with `c_url` set to the original URL.
    Page,
    /// `302` for browser page loads, `401` JSON for everything else.
    #[default]
    Auto,
}

/// The user the [`LoginLayer`] validated, in the request extensions; also an axum
/// extractor. As an extractor it fails with `500` when no login layer covers the route
/// (a wiring mistake); `Option<CurrentUser>` gives `None` instead.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentUser(pub Arc<User>);

impl Deref for CurrentUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| {
                envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no login user: the LoginLayer does not cover this route",
                    None,
                )
            })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

#[derive(Debug)]
struct Settings {
    login_url: String,
    mode: LoginMode,
    cookie: String,
    public_base_url: Option<String>,
    trust_forwarded: bool,
}

/// The login layer; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct LoginLayer {
    validator: LoginValidator,
    settings: Arc<Settings>,
}

impl fmt::Debug for LoginLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginLayer")
            .field("validator", &self.validator)
            .field("settings", &self.settings)
            .finish()
    }
}

impl LoginLayer {
    /// A layer validating with `validator` and sending users without a valid token to
    /// `login_url` (the BlueKing login page, e.g. `https://paas.example.com/login/`), in
    /// [`LoginMode::Auto`].
    pub fn new(validator: LoginValidator, login_url: impl Into<String>) -> Self {
        LoginLayer {
            validator,
            settings: Arc::new(Settings {
                login_url: login_url.into(),
                mode: LoginMode::Auto,
                cookie: DEFAULT_COOKIE.to_string(),
                public_base_url: None,
                trust_forwarded: false,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut s = Settings {
            login_url: self.settings.login_url.clone(),
            mode: self.settings.mode,
            cookie: self.settings.cookie.clone(),
            public_base_url: self.settings.public_base_url.clone(),
            trust_forwarded: self.settings.trust_forwarded,
        };
        f(&mut s);
        self.settings = Arc::new(s);
        self
    }

    /// What to answer without a valid token (default [`LoginMode::Auto`]).
    pub fn mode(self, mode: LoginMode) -> Self {
        self.edit(|s| s.mode = mode)
    }

    /// The cookie holding the token (default [`DEFAULT_COOKIE`]).
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|s| s.cookie = name)
    }

    /// The app's public base URL (`https://app.example.com/prefix`): the `c_url` of a
    /// redirect is this plus the request's path and query, whatever the `Host` header says.
    pub fn public_base_url(self, url: impl Into<String>) -> Self {
        let url = url.into().trim_end_matches('/').to_string();
        self.edit(|s| s.public_base_url = Some(url))
    }

    /// Believe `X-Forwarded-Proto` and `X-Forwarded-Host` when building `c_url` (only
    /// behind a proxy that sets them; default `false`).
    pub fn trust_forwarded_headers(self, yes: bool) -> Self {
        self.edit(|s| s.trust_forwarded = yes)
    }

    /// The validator (e.g. to [`LoginValidator::invalidate`] a token on logout).
    pub fn validator(&self) -> &LoginValidator {
        &self.validator
    }
}

impl<S> Layer<S> for LoginLayer {
    type Service = LoginService<S>;

    fn layer(&self, inner: S) -> LoginService<S> {
        LoginService {
            inner,
            validator: self.validator.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// The service [`LoginLayer`] wraps around a route or router.
#[derive(Clone)]
pub struct LoginService<S> {
    inner: S,
    validator: LoginValidator,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for LoginService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginService")
            .field("validator", &self.validator)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S> Service<Request> for LoginService<S>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone is not ready; the ready one is taken (the usual tower pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            let Some(token) = token_from(req.headers(), &settings.cookie) else {
                return Ok(unauthenticated(&settings, &req, "login required"));
            };
            match validator.validate(&token).await {
                Ok(user) => {
                    req.extensions_mut().insert(CurrentUser(user));
                    inner.call(req).await.map(IntoResponse::into_response)
                }
                Err(e) if rejects_token(&e) => {
                    tracing::debug!(error = %e, "bk_token rejected by the login service");
                    Ok(unauthenticated(
                        &settings,
                        &req,
                        "the login has expired or is invalid",
                    ))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot validate bk_token");
                    Ok(envelope(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the login service cannot be reached; try again later",
                        e.request_id(),
                    ))
                }
            }
        })
    }
}

/// Whether a validation error means "this token is no good" (rather than "cannot ask").
fn rejects_token(e: &bk_runtime::Error) -> bool {
    match e.kind() {
        ErrorKind::Api { .. } => true,
        ErrorKind::HttpStatus { status, .. } => *status == 401 || *status == 403,
        _ => false,
    }
}

/// The value of cookie `name`, if present and not empty.
fn token_from(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

fn envelope(status: StatusCode, message: &str, request_id: Option<&str>) -> Response {
    let mut body = json!({
        "result": false,
        "code": status.as_u16(),
        "message": message,
        "data": null,
    });
    if let Some(id) = request_id {
        body["request_id"] = json!(id);
    }
    (status, Json(body)).into_response()
}

fn is_page_load(req: &Request) -> bool {
    let h = req.headers();
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let xhr = h
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
    let html = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    get && !xhr && html
}

fn first_value<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A host (and port) safe to put in a URL: no path, user info, spaces or controls.
fn sane_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The URL the user asked for, absolute when the host is known.
fn original_url(settings: &Settings, req: &Request) -> String {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(req.uri());
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if let Some(base) = &settings.public_base_url {
        return format!("{base}{path}");
    }
    let h = req.headers();
    let forwarded = |name| {
        if settings.trust_forwarded {
            first_value(h, name)
        } else {
            None
        }
    };
    let scheme = match forwarded("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ => uri.scheme_str().unwrap_or("http"),
    };
    let host = forwarded("x-forwarded-host")
        .or_else(|| first_value(h, header::HOST.as_str()))
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .filter(|h| sane_host(h));
    match host {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.to_string(),
    }
}

/// `{login_url}?c_url={url}` (or `&c_url=` when the login URL has a query).
fn login_redirect(settings: &Settings, req: &Request) -> String {
    let c_url: String =
        url::form_urlencoded::byte_serialize(original_url(settings, req).as_bytes()).collect();
    let sep = if settings.login_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}c_url={c_url}", settings.login_url)
}

fn unauthenticated(settings: &Settings, req: &Request, message: &str) -> Response {
    let location = login_redirect(settings, req);
    let redirect = match settings.mode {
        LoginMode::Api => false,
        LoginMode::Page => true,
        LoginMode::Auto => is_page_load(req),
    };
    if redirect {
        if let Ok(v) = HeaderValue::from_str(&location) {
            return (StatusCode::FOUND, [(header::LOCATION, v)]).into_response();
        }
    }
    let body = json!({
        "result": false,
        "code": 401,
        "message": message,
        "data": {"login_url": location},
    });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn settings() -> Settings {
        Settings {
            login_url: "http://paas.example.com/login/".into(),
            mode: LoginMode::Auto,
            cookie: DEFAULT_COOKIE.into(),
            public_base_url: None,
            trust_forwarded: false,
        }
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn reads_the_cookie() {
        let r = req(
            "/",
            &[("cookie", "a=1; bk_token=tok123 ; c=3"), ("cookie", "d=4")],
        );
        assert_eq!(
            token_from(r.headers(), "bk_token").as_deref(),
            Some("tok123")
        );
        assert_eq!(token_from(r.headers(), "d").as_deref(), Some("4"));
        let r = req("/", &[("cookie", "bk_token=; other=x")]);
        assert_eq!(token_from(r.headers(), "bk_token"), None);
        assert_eq!(token_from(req("/", &[]).headers(), "bk_token"), None);
    }

    #[test]
    fn redirect_urls() {
        let s = settings();
        let r = req("/hosts/10.0.0.1?x=1&y=2", &[("host", "app.local:8000")]);
        assert_eq!(
            login_redirect(&s, &r),
            "http://paas.example.com/login/?c_url=http%3A%2F%2Fapp.local%3A8000%2Fhosts%2F10.0.0.1%3Fx%3D1%26y%3D2"
        );
        // Forwarded headers are ignored unless trusted; bad hosts are dropped.
        let r = req(
            "/p",
            &[
                ("host", "evil.com/x"),
                ("x-forwarded-host", "a.example.com"),
            ],
        );
        assert_eq!(original_url(&s, &r), "/p");
        let trusted = Settings {
            trust_forwarded: true,
            ..settings()
        };
        let r = req(
            "/p",
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.example.com, b"),
            ],
        );
        assert_eq!(original_url(&trusted, &r), "https://a.example.com/p");
        let based = Settings {
            public_base_url: Some("https://app.example.com/pre".into()),
            login_url: "http://paas/login/?app=1".into(),
            ..settings()
        };
        let r = req("/p?q=1", &[("host", "ignored")]);
        assert_eq!(
            login_redirect(&based, &r),
            "http://paas/login/?app=1&c_url=https%3A%2F%2Fapp.example.com%2Fpre%2Fp%3Fq%3D1"
        );
    }

    #[test]
    fn page_loads() {
        assert!(is_page_load(&req("/", &[("accept", "text/html,*/*")])));
        assert!(!is_page_load(&req("/", &[("accept", "application/json")])));
        assert!(!is_page_load(&req(
            "/",
            &[
                ("accept", "text/html"),
                ("x-requested-with", "XMLHttpRequest")
            ]
        )));
    }
}
