//! App and user authentication (PROTOCOL.md 1, "Authentication").
//!
//! Source: the `X-Bkapi-Authorization` header's JSON object when the header is present (the
//! parameters are then ignored for auth), else the parameters. `access_token` counts only in
//! the header. App auth order: header `access_token` > `bk_signature` in the query >
//! `bk_app_secret`. User auth order: `access_token` > `bk_token` (checked with the state's
//! login) > `bk_username` (only when the app is trusted, see
//! [`crate::SimConfig::trust_bk_username`]).
//!
//! Every API requires both app and user auth (the specs carry no per-API flag; the real ESB
//! requires a user for almost every component). Failures are code 1306000 (a malformed header
//! is 1306406), HTTP 200, with a message naming what is missing or wrong.

use serde_json::{Map, Value};

use crate::signature::{self, NonceCache, MAX_AGE_SECS};

/// Parameter and header keys that carry credentials; removed from the parameters the
/// validator and the state see, unless the API itself declares a parameter of that name.
pub const AUTH_KEYS: &[&str] = &[
    "bk_app_code",
    "bk_app_secret",
    "app_code",
    "app_secret",
    "bk_token",
    "bk_username",
    "username",
    "access_token",
    "bk_signature",
    "bk_timestamp",
    "bk_nonce",
];

/// How the app proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAuth {
    /// Header `access_token` issued by the simulated login.
    AccessToken,
    /// Signature mode.
    Signature,
    /// `bk_app_secret`.
    Secret,
}

/// How the user proved themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAuth {
    /// Header `access_token`.
    AccessToken,
    /// `bk_token` from the simulated login.
    BkToken,
    /// Plain `bk_username` (trusted app).
    Username,
}

/// A successfully authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The app.
    pub app_code: String,
    /// The user.
    pub username: String,
    /// How the app authenticated.
    pub app_auth: AppAuth,
    /// How the user authenticated.
    pub user_auth: UserAuth,
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The `X-Bkapi-Authorization` header is not a JSON object: 1306406.
    BadHeader(String),
    /// App or user auth failed: 1306000.
    Failed(String),
}

impl AuthError {
    /// The ESB code of the failure.
    pub fn code(&self) -> i64 {
        match self {
            AuthError::BadHeader(_) => crate::envelope::codes::ESB_ARGUMENT,
            AuthError::Failed(_) => crate::envelope::codes::ESB_GENERIC,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            AuthError::BadHeader(m) | AuthError::Failed(m) => m,
        }
    }
}

/// What authentication looks at.
pub(crate) struct AuthRequest<'a> {
    /// Raw `X-Bkapi-Authorization` header, when present.
    pub header: Option<&'a [u8]>,
    /// The request parameters.
    pub params: &'a Map<String, Value>,
    /// The decoded query pairs (signature mode reads them for POST too).
    pub query: &'a [(String, String)],
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path as the client sent it.
    pub path: &'a str,
    /// The raw body of a POST.
    pub body: Option<&'a [u8]>,
}

/// The simulator's knowledge needed to authenticate.
pub(crate) struct AuthContext<'a> {
    pub app_code: &'a str,
    pub app_secret: &'a str,
    pub trust_bk_username: bool,
    pub now: i64,
    pub token_user: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub nonces: &'a std::sync::Mutex<NonceCache>,
}

/// A credential value as a string: strings as they are, numbers rendered, others absent.
fn cred(src: &Map<String, Value>, key: &str) -> Option<String> {
    match src.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first(src: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| cred(src, k))
}

fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Authenticates a request.
pub(crate) fn authenticate(
    req: &AuthRequest<'_>,
    ctx: &AuthContext<'_>,
) -> Result<Identity, AuthError> {
    let header_map;
    let (src, from_header) = match req.header {
        Some(raw) => {
            header_map = match serde_json::from_slice::<Value>(raw) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(AuthError::BadHeader(
                        "X-Bkapi-Authorization header must be a JSON object, e.g. \
                         {\"bk_app_code\": \"..\", \"bk_app_secret\": \"..\", \"bk_username\": \"..\"}"
                            .into(),
                    ))
                }
            };
            (&header_map, true)
        }
        None => (req.params, false),
    };

    let app_code = first(src, &["bk_app_code", "app_code"]);

    // 1. access_token (header only): app and user at once.
    if from_header {
        if let Some(token) = cred(src, "access_token") {
            return match (ctx.token_user)(&token) {
                Some(username) => Ok(Identity {
                    app_code: app_code.unwrap_or_else(|| ctx.app_code.to_string()),
                    username,
                    app_auth: AppAuth::AccessToken,
                    user_auth: UserAuth::AccessToken,
                }),
                None => Err(AuthError::Failed(
                    "access_token is invalid or has expired".into(),
                )),
            };
        }
    }

    // 2. App auth: signature mode, else secret.
    let app_auth = if let Some(sig) = query_value(req.query, "bk_signature") {
        let app_code = app_code
            .clone()
            .ok_or_else(|| AuthError::Failed("bk_app_code is required".into()))?;
        check_signature(req, ctx, &app_code, sig)?;
        AppAuth::Signature
    } else {
        let app_code = app_code
            .clone()
            .ok_or_else(|| AuthError::Failed("bk_app_code is required".into()))?;
        let secret = first(src, &["bk_app_secret", "app_secret"]).ok_or_else(|| {
            AuthError::Failed(
                "bk_app_secret is required (or sign the request with bk_signature, \
                 bk_timestamp and bk_nonce)"
                    .into(),
            )
        })?;
        if app_code != ctx.app_code
            || !constant_time_eq(secret.as_bytes(), ctx.app_secret.as_bytes())
        {
            return Err(AuthError::Failed(format!(
                "app code [{app_code}] or app secret is incorrect"
            )));
        }
        AppAuth::Secret
    };
    let app_code = app_code.unwrap_or_default();

    // 3. User auth.
    if let Some(token) = cred(src, "bk_token") {
        return match (ctx.token_user)(&token) {
            Some(username) => Ok(Identity {
                app_code,
                username,
                app_auth,
                user_auth: UserAuth::BkToken,
            }),
            None => Err(AuthError::Failed(
                "user authentication failed, the bk_token is invalid or has expired, \
                 please log in again"
                    .into(),
            )),
        };
    }
    if let Some(username) = first(src, &["bk_username", "username"]) {
        if ctx.trust_bk_username {
            return Ok(Identity {
                app_code,
                username,
                app_auth,
                user_auth: UserAuth::Username,
            });
        }
        return Err(AuthError::Failed(format!(
            "user authentication failed, app [{app_code}] is not on the skip-user-auth \
             whitelist, so bk_username is not accepted; please provide bk_token or access_token"
        )));
    }
    Err(AuthError::Failed(
        "user authentication failed, please provide a valid user identity, such as \
         bk_username, bk_token, access_token"
            .into(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_signature(
    req: &AuthRequest<'_>,
    ctx: &AuthContext<'_>,
    app_code: &str,
    sig: &str,
) -> Result<(), AuthError> {
    if app_code != ctx.app_code {
        return Err(AuthError::Failed(format!(
            "app code [{app_code}] or app secret is incorrect"
        )));
    }
    let nonce = match query_value(req.query, "bk_nonce").map(|n| n.trim().parse::<i64>()) {
        Some(Ok(n)) if n > 0 => n as u64,
        Some(_) => {
            return Err(AuthError::Failed(
                "bk_nonce is invalid, it must be a positive integer".into(),
            ))
        }
        None => return Err(AuthError::Failed("bk_nonce is required".into())),
    };
    let timestamp = match query_value(req.query, "bk_timestamp").map(|t| t.trim().parse::<i64>()) {
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            return Err(AuthError::Failed(
                "bk_timestamp is invalid, it must be an integer (unix seconds)".into(),
            ))
        }
        None => return Err(AuthError::Failed("bk_timestamp is required".into())),
    };
    if timestamp < ctx.now - MAX_AGE_SECS {
        return Err(AuthError::Failed(format!(
            "bk_timestamp [{timestamp}] has expired, it is more than {MAX_AGE_SECS} seconds old"
        )));
    }
    let message = signature::string_to_sign(req.method, req.path, req.query, req.body);
    if !signature::verify(ctx.app_secret, &message, sig) {
        return Err(AuthError::Failed(
            "bk_signature is incorrect, the signature does not match the request".into(),
        ));
    }
    let fresh = match ctx.nonces.lock() {
        Ok(mut cache) => cache.check_and_insert(app_code, nonce, timestamp, ctx.now),
        Err(poisoned) => poisoned
            .into_inner()
            .check_and_insert(app_code, nonce, timestamp, ctx.now),
    };
    if !fresh {
        return Err(AuthError::Failed(format!(
            "bk_nonce [{nonce}] has already been used, a signed request cannot be replayed"
        )));
    }
    Ok(())
}
