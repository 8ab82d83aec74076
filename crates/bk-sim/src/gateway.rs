//! The API gateway front (PROTOCOL.md 2, "API gateway errors"): every spec'd API also
//! answers as a gateway resource, so that gateway mode is tested over loopback.
//!
//! URL: `/api/{gateway}/{stage}/{api}/` (trailing slash optional), the layout of
//! `BK_API_URL_TMPL = {sim}/api/{api_name}`: the gateway name is the ESB component and the
//! resource is the ESB API (`/api/cc/prod/search_business/`). Any stage made of ASCII
//! letters, digits, `_` and `-` is served. Paths under `/api/c/compapi` stay ESB paths.
//!
//! What differs from the ESB front:
//! - auth: the `X-Bkapi-Authorization` header only (no parameters, no signature). A
//!   missing or wrong app: HTTP 401, 1640101 `APP_VERIFY_FAILED`; a missing or rejected
//!   user: HTTP 401, 1640102 `USER_VERIFY_FAILED`; a header that is not a JSON object:
//!   HTTP 400, 1640001 `INVALID_ARGS`;
//! - an unknown resource: HTTP 404, 1640401 `API_NOT_FOUND`;
//! - every gateway error carries `X-Bkapi-Error-Code` / `X-Bkapi-Error-Message` and the
//!   body `{"code", "code_name", "message", "result": false, "data": null}`;
//! - faults: the ESB's own failures become their gateway forms (backend failure
//!   1306201: HTTP 502 1650200; legacy rate limit 1306429: HTTP 429 1642901 with
//!   `X-Bkapi-RateLimit-Reset`); HTTP statuses, gateway rate limits, resets, truncated,
//!   slow and HTML bodies, latency and backend envelopes (CMDB 1199997) are as on the ESB.
//!
//! After auth, the call runs through the ESB pipeline (method, test env, parameters,
//! validation, state or spec answer): the backend answers its envelope with HTTP 200.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::auth::{AppAuth, Identity, UserAuth};
use crate::faults::FaultKind;
use crate::route::{self, ApiVersion, Route};
use crate::Inner;

/// Gateway error codes (blueking-apigateway-apisix `bk-core/errorx.lua`).
pub mod codes {
    /// Invalid arguments (HTTP 400), also a malformed auth header.
    pub const INVALID_ARGS: i64 = 1640001;
    /// App verification failed (HTTP 401).
    pub const APP_VERIFY_FAILED: i64 = 1640101;
    /// User verification failed (HTTP 401).
    pub const USER_VERIFY_FAILED: i64 = 1640102;
    /// No such resource (HTTP 404).
    pub const API_NOT_FOUND: i64 = 1640401;
}

/// Which front a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// `/api/c/compapi/...`.
    Esb,
    /// `/api/{gateway}/{stage}/{api}/`.
    Gateway,
}

/// Why a path is not a gateway resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// Not a gateway path at all (ESB paths, `/`, ...): the ESB's 404.
    NotGateway,
    /// A gateway path naming no resource: the gateway's 404.
    UnknownResource,
}

/// A gateway error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// HTTP status.
    pub status: u16,
    /// Gateway code.
    pub code: i64,
    /// Gateway code name (`USER_VERIFY_FAILED`).
    pub code_name: &'static str,
    /// Message.
    pub message: String,
}

impl GatewayError {
    fn new(status: u16, code: i64, code_name: &'static str, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            code,
            code_name,
            message: message.into(),
        }
    }

    /// The 404 of an unknown resource.
    pub fn not_found(path: &str) -> Self {
        GatewayError::new(
            404,
            codes::API_NOT_FOUND,
            "API_NOT_FOUND",
            format!("API not found [method=?, path={path}]"),
        )
    }

    /// The body: `{"code", "code_name", "message", "result": false, "data": null}`.
    pub fn body(&self) -> Value {
        crate::envelope::gateway_error(self.code, self.code_name, &self.message)
    }

    /// The error headers.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("X-Bkapi-Error-Code", self.code.to_string()),
            ("X-Bkapi-Error-Message", self.message.clone()),
        ]
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The API a gateway path names, and its stage.
pub fn route(path: &str) -> Result<(Route, String), Miss> {
    if path.starts_with(route::PREFIX) {
        return Err(Miss::NotGateway);
    }
    let rest = path.strip_prefix("/api/").ok_or(Miss::NotGateway)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let [gateway, stage, api] = segments.as_slice() else {
        return Err(Miss::UnknownResource);
    };
    if !valid_name(gateway) || !valid_name(stage) {
        return Err(Miss::UnknownResource);
    }
    let bundle = bk_spec::bundle();
    let component = bundle.component(gateway).ok_or(Miss::UnknownResource)?;
    let api = component.api(api).ok_or(Miss::UnknownResource)?;
    Ok((
        Route {
            version: ApiVersion::V2,
            component,
            api,
        },
        stage.to_string(),
    ))
}

/// The gateway form of a fault.
pub(crate) fn adapt_fault(f: FaultKind) -> FaultKind {
    match f {
        FaultKind::EsbBackendFailed => FaultKind::HttpStatus(502),
        FaultKind::EsbRateLimited => FaultKind::GatewayRateLimit {
            retry_after_secs: 1,
        },
        other => other,
    }
}

fn cred(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Gateway auth: the `X-Bkapi-Authorization` header only.
pub(crate) fn authenticate(headers: &HeaderMap, inner: &Inner) -> Result<Identity, GatewayError> {
    let app_failed =
        |m: &str| GatewayError::new(401, codes::APP_VERIFY_FAILED, "APP_VERIFY_FAILED", m);
    let user_failed =
        |m: &str| GatewayError::new(401, codes::USER_VERIFY_FAILED, "USER_VERIFY_FAILED", m);
    let Some(raw) = headers.get("X-Bkapi-Authorization") else {
        return Err(app_failed(
            "App authentication failed, please provide a valid X-Bkapi-Authorization header \
             with bk_app_code and bk_app_secret",
        ));
    };
    let Ok(Value::Object(src)) = serde_json::from_slice::<Value>(raw.as_bytes()) else {
        return Err(GatewayError::new(
            400,
            codes::INVALID_ARGS,
            "INVALID_ARGS",
            "Parameters error [reason=\"the X-Bkapi-Authorization header must be a JSON object\"]",
        ));
    };
    let app_code = cred(&src, "bk_app_code").or_else(|| cred(&src, "app_code"));

    if let Some(token) = cred(&src, "access_token") {
        return match inner.state.token_user(&token) {
            Some(username) => Ok(Identity {
                app_code: app_code.unwrap_or_else(|| inner.app_code.clone()),
                username,
                app_auth: AppAuth::AccessToken,
                user_auth: UserAuth::AccessToken,
            }),
            None => Err(user_failed(
                "User authentication failed, the access_token is invalid or has expired",
            )),
        };
    }

    let Some(app_code) = app_code else {
        return Err(app_failed(
            "App authentication failed, bk_app_code is required",
        ));
    };
    let secret = cred(&src, "bk_app_secret").or_else(|| cred(&src, "app_secret"));
    let app_ok = app_code == inner.app_code
        && secret.is_some_and(|s| constant_time_eq(s.as_bytes(), inner.app_secret.as_bytes()));
    if !app_ok {
        return Err(app_failed(&format!(
            "App authentication failed, app code [{app_code}] or app secret is incorrect"
        )));
    }

    if let Some(token) = cred(&src, "bk_token") {
        return match inner.state.token_user(&token) {
            Some(username) => Ok(Identity {
                app_code,
                username,
                app_auth: AppAuth::Secret,
                user_auth: UserAuth::BkToken,
            }),
            None => Err(user_failed(
                "User authentication failed, the bk_token is invalid or has expired, please log in again",
            )),
        };
    }
    match cred(&src, "bk_username").or_else(|| cred(&src, "username")) {
        Some(username) if inner.trust_bk_username => Ok(Identity {
            app_code,
            username,
            app_auth: AppAuth::Secret,
            user_auth: UserAuth::Username,
        }),
        Some(_) => Err(user_failed(&format!(
            "User authentication failed, app [{app_code}] may not name a user by bk_username; \
             provide bk_token or access_token"
        ))),
        None => Err(user_failed(
            "User authentication failed, please provide a valid user identity, such as \
             bk_token or access_token",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_paths() {
        let (r, stage) = route("/api/cc/prod/search_business/").unwrap();
        assert_eq!(r.key(), "cc.search_business");
        assert_eq!(stage, "prod");
        assert!(route("/api/bk_login/test/get_user").is_ok());
        assert_eq!(
            route("/api/c/compapi/v2/cc/search_business/").unwrap_err(),
            Miss::NotGateway
        );
        assert_eq!(route("/").unwrap_err(), Miss::NotGateway);
        for p in [
            "/api/cc/prod/nope/",
            "/api/nope/prod/search_business/",
            "/api/cc/search_business/",
            "/api/cc/pr od/search_business/",
            "/api/cc/prod/a/b/",
        ] {
            assert_eq!(route(p).unwrap_err(), Miss::UnknownResource, "{p}");
        }
    }
}
