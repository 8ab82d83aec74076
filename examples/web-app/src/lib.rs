//! An axum web app on BlueKing, in the shape of the platform's integration guide samples.
//!
//! - Every page and API below `/` except `/healthz` and `/itsm/callback` sits behind the
//!   BlueKing login ([`bk_login::layer::LoginLayer`]): a request without a valid `bk_token`
//!   cookie is redirected to the login page (pages) or answered 401 (APIs).
//! - `GET /api/me`: the logged-in user.
//! - `GET /api/biz/{bk_biz_id}/hosts/{ip}[?bk_cloud_id=N]`: a host of a business found in CC
//!   by inner IP (`list_biz_hosts_topo` with a host property filter, generated `bk-cc`
//!   client), with its sets and modules.
//! - `POST /api/jobs` `{bk_biz_id, host_ids, script, account_alias?}`: starts a script on
//!   hosts with JOB (`fast_execute_script` through [`bk_jobv3::run`]) and answers its
//!   `job_instance_id` at once; `GET /api/jobs/{bk_biz_id}/{job_instance_id}` reads its status.
//! - `POST /itsm/callback`: ITSM approval callbacks, verified with ITSM and logged
//!   ([`bk_itsm::callback`]).
//!
//! Every failure of a BlueKing call becomes an HTTP answer in one place, the
//! [`IntoResponse`] of [`AppError`]: see [`status_of`].
//!
//! The calls to CC and JOB are made with the app's own client identity (`BK_USERNAME`, for
//! an app on the ESB's skip-user-auth whitelist); the logged-in user is recorded as the
//! job's requester in the task name.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bk_cc::types::{FilterCondition, FilterOperator, FilterRule, Page, PropertyFilter};
use bk_cc::CcExt;
use bk_itsm::callback::{ApprovalCallback, ApprovalEvent, HandlerResult};
use bk_jobv3::run::{RunError, Scope};
use bk_jobv3::Jobv3Ext;
use bk_login::layer::{CurrentUser, LoginLayer};
use bk_login::validate::LoginValidator;
use bk_runtime::{Client, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

/// Settings of the web app.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The BlueKing login page (`BK_LOGIN_URL`), e.g. `https://paas.example.com/login/`.
    pub login_url: String,
    /// The app's public URL, used for the login redirect's `c_url` (`BK_APP_PUBLIC_URL`);
    /// `None`: taken from the request's `Host` header.
    pub public_url: Option<String>,
    /// How long a validated `bk_token` is trusted without asking bk_login again.
    pub login_ttl: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            login_url: "http://127.0.0.1/login/".into(),
            public_url: None,
            login_ttl: bk_login::validate::DEFAULT_TTL,
        }
    }
}

#[derive(Clone)]
struct AppState {
    client: Client,
}

/// The app: every route, the login layer in front of the protected ones. `client` serves
/// the BlueKing calls and the login validation.
pub fn app(client: &Client, cfg: &WebConfig) -> Router {
    app_with_validator(client, LoginValidator::new(client).ttl(cfg.login_ttl), cfg)
}

/// [`app`] with a login validator of its own (another client, a shared cache);
/// `cfg.login_ttl` is then the validator's business.
pub fn app_with_validator(client: &Client, validator: LoginValidator, cfg: &WebConfig) -> Router {
    let mut login = LoginLayer::new(validator, cfg.login_url.clone());
    if let Some(url) = &cfg.public_url {
        login = login.public_base_url(url.clone());
    }
    let approvals = ApprovalCallback::new(client).handler(log_approval);
    let state = AppState {
        client: client.clone(),
    };
    Router::new()
        .route("/", get(index))
        .route("/api/me", get(me))
        .route("/api/biz/{bk_biz_id}/hosts/{ip}", get(host_by_ip))
        .route("/api/jobs", post(start_job))
        .route("/api/jobs/{bk_biz_id}/{job_instance_id}", get(job_status))
        .layer(login)
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
        .merge(approvals.router("/itsm/callback"))
}

async fn log_approval(ev: ApprovalEvent) -> HandlerResult {
    tracing::info!(
        sn = %ev.sn,
        status = %ev.current_status,
        approved = ev.approved(),
        approver = ev.approver.as_deref().unwrap_or("-"),
        "itsm ticket decided"
    );
    Ok(())
}

/// Why a request failed: a BlueKing call, or the request itself.
#[derive(Debug)]
pub enum AppError {
    /// A BlueKing API call failed.
    Bk(bk_runtime::Error),
    /// The request is wrong (bad IP, empty script, ...).
    BadRequest(String),
    /// Nothing matches.
    NotFound(String),
    /// Waiting for something took too long.
    Timeout(String),
}

impl From<bk_runtime::Error> for AppError {
    fn from(e: bk_runtime::Error) -> Self {
        AppError::Bk(e)
    }
}

impl From<RunError> for AppError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Api(e) => AppError::Bk(e),
            other => AppError::Timeout(other.to_string()),
        }
    }
}

/// ESB codes that mean "not allowed" (PROTOCOL.md 2), and CMDB's IAM denial.
const FORBIDDEN_CODES: &[i64] = &[1306402, 1306403, 9900403];
/// ESB codes that mean "the backend failed" (PROTOCOL.md 2).
const BACKEND_CODES: &[i64] = &[1306201, 1306203, 1306208, 1306209, 1306404, 1306405];
/// Words of the ESB's 1306000 messages when app or user authentication failed (the ESB
/// uses that one code for authentication, validation and component failures alike).
const AUTH_WORDS: &[&str] = &[
    "authentication",
    "bk_token",
    "access_token",
    "app secret",
    "app_secret",
    "bk_app_code",
    "signature",
    "log in",
];

/// The HTTP status a failed BlueKing call is answered with:
///
/// | failure | status |
/// |---|---|
/// | user or app authentication (ESB 1306401, 1306000 about auth, gateway 401) | 401 |
/// | permission (IAM object attached, ESB 1306402/1306403, CMDB 9900403, gateway 403) | 403 |
/// | rate limited (gateway 429, ESB 1306429, CMDB 1199997) | 429 |
/// | timeout (connect, request, operation; gateway 504) | 504 |
/// | backend, transport, non-JSON or undecodable answers, ESB 1306201.. | 502 |
/// | any other API error: arguments, not found, business rules | 400 |
pub fn status_of(e: &bk_runtime::Error) -> StatusCode {
    if e.permission().is_some() {
        return StatusCode::FORBIDDEN;
    }
    match e.kind() {
        ErrorKind::Api { code, message, .. } => {
            let code = code.unwrap_or(0);
            let lower = message.to_ascii_lowercase();
            if code == 1306401 || (code == 1306000 && AUTH_WORDS.iter().any(|w| lower.contains(w)))
            {
                StatusCode::UNAUTHORIZED
            } else if FORBIDDEN_CODES.contains(&code) {
                StatusCode::FORBIDDEN
            } else if code == 1306429 || code == 1199997 {
                StatusCode::TOO_MANY_REQUESTS
            } else if BACKEND_CODES.contains(&code) {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::BAD_REQUEST
            }
        }
        ErrorKind::HttpStatus { status, .. } => match status {
            401 => StatusCode::UNAUTHORIZED,
            403 => StatusCode::FORBIDDEN,
            429 => StatusCode::TOO_MANY_REQUESTS,
            504 => StatusCode::GATEWAY_TIMEOUT,
            400 | 413 => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        },
        ErrorKind::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
        ErrorKind::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            AppError::Bk(e) => {
                let status = status_of(e);
                if status.is_server_error() {
                    tracing::warn!(error = %e, "BlueKing call failed");
                } else {
                    tracing::info!(error = %e, "BlueKing call refused");
                }
                (
                    status,
                    json!({
                        "result": false,
                        "code": e.code(),
                        // The runtime's errors never hold secrets (they are redacted).
                        "message": e.to_string(),
                        "component": e.component(),
                        "api": e.api(),
                        "request_id": e.request_id(),
                    }),
                )
            }
            AppError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                json!({"result": false, "code": null, "message": m, "request_id": null}),
            ),
            AppError::NotFound(m) => (
                StatusCode::NOT_FOUND,
                json!({"result": false, "code": null, "message": m, "request_id": null}),
            ),
            AppError::Timeout(m) => (
                StatusCode::GATEWAY_TIMEOUT,
                json!({"result": false, "code": null, "message": m, "request_id": null}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

async fn index(CurrentUser(user): CurrentUser) -> Html<String> {
    let name: String = user
        .chname
        .as_deref()
        .unwrap_or(&user.bk_username)
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '_' || *c == '-')
        .collect();
    Html(format!(
        "<!doctype html><title>bk web app</title><h1>Hello, {name}</h1>\
         <p>Try <code>/api/me</code> or <code>/api/biz/&lt;id&gt;/hosts/&lt;ip&gt;</code>.</p>"
    ))
}

async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({
        "bk_username": user.bk_username,
        "chname": user.chname,
        "email": user.email,
        "language": user.language,
    }))
}

/// Query of the host lookup.
#[derive(Debug, Deserialize)]
struct HostQuery {
    bk_cloud_id: Option<i64>,
}

/// Host attributes the lookup returns.
const HOST_FIELDS: &[&str] = &[
    "bk_host_id",
    "bk_host_innerip",
    "bk_host_outerip",
    "bk_cloud_id",
    "bk_host_name",
    "bk_os_type",
    "bk_os_name",
    "operator",
    "bk_bak_operator",
    "bk_agent_id",
];

async fn host_by_ip(
    State(st): State<AppState>,
    Path((biz, ip)): Path<(i64, String)>,
    Query(q): Query<HostQuery>,
) -> Result<Json<Value>, AppError> {
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{ip:?} is not an IP address")))?;
    let mut rules = vec![FilterRule {
        field: Some("bk_host_innerip".into()),
        operator: Some(FilterOperator::Equal),
        value: Some(json!(ip.to_string())),
        ..Default::default()
    }];
    if let Some(cloud) = q.bk_cloud_id {
        rules.push(FilterRule {
            field: Some("bk_cloud_id".into()),
            operator: Some(FilterOperator::Equal),
            value: Some(json!(cloud)),
            ..Default::default()
        });
    }
    let found = st
        .client
        .cc()
        .list_biz_hosts_topo(
            biz,
            Page {
                start: Some(0),
                limit: 500,
                ..Default::default()
            },
            HOST_FIELDS.iter().map(|f| f.to_string()).collect(),
        )
        .host_property_filter(PropertyFilter {
            condition: Some(FilterCondition::And),
            rules: Some(rules),
        })
        .send()
        .await?;
    match found.info.as_slice() {
        [] => Err(AppError::NotFound(format!(
            "no host of business {biz} has inner IP {ip}"
        ))),
        [one] => Ok(Json(json!(one))),
        many => Ok(Json(json!({"ambiguous": true, "hosts": many}))),
    }
}

/// Body of `POST /api/jobs`.
#[derive(Debug, Deserialize)]
struct StartJob {
    bk_biz_id: i64,
    host_ids: Vec<i64>,
    script: String,
    #[serde(default)]
    account_alias: Option<String>,
}

async fn start_job(
    State(st): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(req): Json<StartJob>,
) -> Result<Json<Value>, AppError> {
    if req.host_ids.is_empty() {
        return Err(AppError::BadRequest("host_ids is empty".into()));
    }
    if req.script.trim().is_empty() {
        return Err(AppError::BadRequest("script is empty".into()));
    }
    let job = st
        .client
        .jobv3()
        .run_script(Scope::biz(req.bk_biz_id), req.script)
        .hosts(req.host_ids)
        .account_alias(req.account_alias.unwrap_or_else(|| "root".into()))
        .task_name(format!("web-app run for {}", user.bk_username))
        .start()
        .await?;
    tracing::info!(job = job.job_instance_id, user = %user.bk_username, "job started");
    Ok(Json(json!({
        "job_instance_id": job.job_instance_id,
        "step_instance_id": job.step_instance_id,
    })))
}

async fn job_status(
    State(st): State<AppState>,
    Path((biz, id)): Path<(i64, i64)>,
) -> Result<Json<Value>, AppError> {
    let status = st
        .client
        .jobv3()
        .job(Scope::biz(biz), id)
        .status(false)
        .await?;
    Ok(Json(json!(status)))
}
