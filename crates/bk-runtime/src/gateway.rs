//! API gateway mode: calling a resource of a BlueKing API gateway (`bk-apigateway`)
//! through the same send, retry, redaction and hook path as ESB calls.
//!
//! # URLs
//!
//! The URL of a resource is built from a template, as the official SDKs do:
//!
//! | setting | env | example | URL of resource `/users/` of gateway `bk-user`, stage `prod` |
//! |---|---|---|---|
//! | [`ClientBuilder::gateway_url_template`] | `BK_API_URL_TMPL` | `http://bkapi.example.com/api/{api_name}` | `http://bkapi.example.com/api/bk-user/prod/users/` |
//! | [`ClientBuilder::gateway_stage_url_template`] | `BK_API_STAGE_URL_TMPL` (Go SDK) | `http://{stage}-{api_name}.example.com` | `http://prod-bk-user.example.com/users/` |
//!
//! `{api_name}` is replaced by the gateway name and `{stage}` by the stage. When both
//! templates are set, `BK_API_URL_TMPL` wins (the Go SDK's order) and `/{stage}` is
//! appended to it unless it already holds `{stage}`.
//!
//! The stage is, in this order: [`Gateway::stage`] for one handle, the gateway's entry in
//! [`ClientBuilder::stage_mappings`] (`BK_API_DEFAULT_STAGE_MAPPINGS`, JSON
//! `{"bk-user": "test"}` as in bkapi-client-core), [`ClientBuilder::default_stage`], `prod`.
//!
//! # Wire
//!
//! Credentials always travel in the `X-Bkapi-Authorization` header (the gateway reads no
//! other place), whatever the client's [`AuthMode`](crate::AuthMode). `GET` and `DELETE`
//! send the parameters in the query string, `POST`, `PUT` and `PATCH` as a JSON body.
//!
//! Gateway errors (`X-Bkapi-Error-Code`, `X-Bkapi-Error-Message`, HTTP 400..504) become an
//! [`ErrorKind::HttpStatus`](crate::ErrorKind::HttpStatus) with the gateway code, message,
//! status and `X-Bkapi-Request-Id`, and are retried by the usual rules: rate limits (429,
//! 1642901..1642904) after the server's `X-Bkapi-RateLimit-Reset` / `Retry-After`, even for
//! non-idempotent resources since the gateway rejected them before forwarding; 500, 502,
//! 503 and 504 only for idempotent ones; 400, 401, 403, 404 and 413 never.
//!
//! A 2xx answer that is a BlueKing envelope (`result` / `code`) is checked like an ESB
//! answer and its `data` returned; any other JSON body is returned whole, since gateway
//! resources may front services that do not use the envelope.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! use bk_runtime::{Client, Method};
//! let client = Client::builder()
//!     .gateway_url_template("http://bkapi.example.com/api/{api_name}")
//!     .stage_mappings([("bk-user", "test")])
//!     .app_code("my-app")
//!     .app_secret("s3cr3t")
//!     .build()?;
//! let users = client
//!     .gateway("bk-user")
//!     .call(Method::Get, "/api/v1/users/", serde_json::json!({"page": 1}))
//!     .await?;
//! # let _ = users; Ok(()) }
//! ```
//!
//! [`ClientBuilder::gateway_url_template`]: crate::ClientBuilder::gateway_url_template
//! [`ClientBuilder::gateway_stage_url_template`]: crate::ClientBuilder::gateway_stage_url_template
//! [`ClientBuilder::stage_mappings`]: crate::ClientBuilder::stage_mappings
//! [`ClientBuilder::default_stage`]: crate::ClientBuilder::default_stage

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::client::{CallOptions, Client};
use crate::error::Error;
use crate::meta::{Method, Target};

/// Stage used when neither the handle nor the mappings name one.
pub const DEFAULT_STAGE: &str = "prod";
/// Placeholder of the gateway name in the URL templates.
pub const API_NAME_PLACEHOLDER: &str = "{api_name}";
/// Placeholder of the stage in the URL templates.
pub const STAGE_PLACEHOLDER: &str = "{stage}";

/// The gateway settings of a [`Config`](crate::Config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GatewaySettings {
    pub(crate) url_template: Option<String>,
    pub(crate) stage_url_template: Option<String>,
    pub(crate) stage_mappings: BTreeMap<String, String>,
    pub(crate) default_stage: Option<String>,
}

impl GatewaySettings {
    /// Checks the templates, the mapping and the default stage.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(t) = &self.url_template {
            check_template(t, "gateway URL template (BK_API_URL_TMPL)", false)?;
        }
        if let Some(t) = &self.stage_url_template {
            check_template(
                t,
                "gateway stage URL template (BK_API_STAGE_URL_TMPL)",
                true,
            )?;
        }
        for (name, stage) in &self.stage_mappings {
            if !valid_name(name) {
                return Err(Error::config(format!(
                    "stage mappings (BK_API_DEFAULT_STAGE_MAPPINGS): invalid gateway name {name:?}: \
                     use ASCII letters, digits, '_' and '-'"
                )));
            }
            if !valid_name(stage) {
                return Err(Error::config(format!(
                    "stage mappings (BK_API_DEFAULT_STAGE_MAPPINGS): invalid stage {stage:?} for \
                     gateway {name:?}: use ASCII letters, digits, '_' and '-'"
                )));
            }
        }
        if let Some(s) = &self.default_stage {
            if !valid_name(s) {
                return Err(Error::config(format!(
                    "invalid default stage {s:?}: use ASCII letters, digits, '_' and '-'"
                )));
            }
        }
        Ok(())
    }

    /// The stage of `name` when the handle names none.
    pub(crate) fn stage_of<'a>(&'a self, name: &str) -> &'a str {
        self.stage_mappings
            .get(name)
            .or(self.default_stage.as_ref())
            .map(String::as_str)
            .unwrap_or(DEFAULT_STAGE)
    }

    /// The base URL of gateway `name` at `stage`, without a trailing slash.
    pub(crate) fn base_url(&self, name: &str, stage: &str) -> Result<String, Error> {
        let template =
            match (&self.url_template, &self.stage_url_template) {
                (Some(t), _) if t.contains(STAGE_PLACEHOLDER) => t.clone(),
                (Some(t), _) => format!("{}/{STAGE_PLACEHOLDER}", t.trim_end_matches('/')),
                (None, Some(t)) => t.clone(),
                (None, None) => return Err(Error::config(
                    "no API gateway URL template: set BK_API_URL_TMPL (or BK_API_STAGE_URL_TMPL), \
                     or call ClientBuilder::gateway_url_template",
                )),
            };
        Ok(template
            .replace(API_NAME_PLACEHOLDER, name)
            .replace(STAGE_PLACEHOLDER, stage)
            .trim_end_matches('/')
            .to_owned())
    }
}

/// Parses `BK_API_DEFAULT_STAGE_MAPPINGS`: a JSON object of gateway name to stage.
pub(crate) fn parse_stage_mappings(text: &str) -> Result<BTreeMap<String, String>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(map) = v else {
        return Err("must be a JSON object such as {\"bk-user\": \"prod\"}".into());
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format!(
                "the stage of {k:?} must be a string, not {}",
                type_name(&other)
            )),
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_template(t: &str, what: &str, needs_stage: bool) -> Result<(), Error> {
    if !t.contains(API_NAME_PLACEHOLDER) {
        return Err(Error::config(format!(
            "{what} {t:?} must contain the placeholder {API_NAME_PLACEHOLDER}"
        )));
    }
    if needs_stage && !t.contains(STAGE_PLACEHOLDER) {
        return Err(Error::config(format!(
            "{what} {t:?} must contain the placeholder {STAGE_PLACEHOLDER}"
        )));
    }
    let sample = t
        .replace(API_NAME_PLACEHOLDER, "api")
        .replace(STAGE_PLACEHOLDER, "prod");
    let url = Url::parse(&sample)
        .map_err(|e| Error::config(format!("{what} {t:?} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!(
            "{what} {t:?} must be an http or https URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "{what} {t:?} must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(format!("{what} must not contain user info")));
    }
    Ok(())
}

/// A gateway or stage name: ASCII letters, digits, `_` and `-`.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A resource path: starts with `/`, `/`-separated segments of ASCII letters, digits,
/// `_`, `-`, `.` and `~` (none `.` or `..`), an optional trailing `/`.
pub(crate) fn valid_path(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty()
        && rest.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b == b'~'
                })
        })
}

/// A handle on one API gateway, made by [`Client::gateway`]. Cheap to make and clone.
///
/// See the [module documentation](self) for URLs, stages, auth and errors.
#[derive(Clone)]
pub struct Gateway {
    client: Client,
    name: String,
    stage: Option<String>,
    idempotent: Option<bool>,
    sensitive: &'static [&'static str],
    options: CallOptions,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("stage", &self.stage_name())
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A handle on the API gateway `name` (e.g. `"bk-user"`), calling its resources
    /// with this client's credentials, retry policy, timeouts and hooks.
    pub fn gateway(&self, name: impl Into<String>) -> Gateway {
        Gateway {
            client: self.clone(),
            name: name.into(),
            stage: None,
            idempotent: None,
            sensitive: &[],
            options: CallOptions::default(),
        }
    }
}

impl Gateway {
    /// Calls the resources of this stage instead of the configured one.
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }

    /// Whether the resources called through this handle may be repeated safely
    /// (retried after failures where the request may have run). Default: what HTTP
    /// says of the method (`GET`, `PUT`, `DELETE` yes; `POST`, `PATCH` no).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = Some(yes);
        self
    }

    /// Parameter paths to redact in logs, as [`ApiMeta::sensitive`](crate::ApiMeta::sensitive).
    pub fn sensitive(mut self, paths: &'static [&'static str]) -> Self {
        self.sensitive = paths;
        self
    }

    /// Per-call options (retry policy, operation timeout) for calls through this handle.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// The gateway name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage calls go to.
    pub fn stage_name(&self) -> &str {
        match &self.stage {
            Some(s) => s,
            None => self.client.config().gateway.stage_of(&self.name),
        }
    }

    /// The URL of resource `path`, without parameters.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        let base = self.base(path)?;
        Url::parse(&format!("{base}{path}")).map_err(|e| {
            Error::invalid_request(format!(
                "gateway resource {path:?} gives an invalid URL: {e}"
            ))
        })
    }

    fn base(&self, path: &str) -> Result<String, Error> {
        let invalid = |what: String| Error::invalid_request(what).with_target(&self.name, path);
        if !valid_name(&self.name) {
            return Err(invalid(format!(
                "invalid gateway name {:?}: use ASCII letters, digits, '_' and '-'",
                self.name
            )));
        }
        let stage = self.stage_name();
        if !valid_name(stage) {
            return Err(invalid(format!(
                "invalid stage {stage:?}: use ASCII letters, digits, '_' and '-'"
            )));
        }
        if !valid_path(path) {
            return Err(invalid(format!(
                "invalid resource path {path:?}: it must start with '/' and hold only \
                 '/'-separated segments of ASCII letters, digits, '_', '-', '.' and '~'"
            )));
        }
        self.client
            .config()
            .gateway
            .base_url(&self.name, stage)
            .map_err(|e| e.with_target(&self.name, path))
    }

    fn target<'a>(&'a self, method: Method, path: &'a str) -> Result<Target<'a>, Error> {
        let base = self.base(path)?;
        Ok(Target {
            component: &self.name,
            api: path,
            method,
            path: Cow::Borrowed(path),
            sensitive: self.sensitive,
            idempotent: self.idempotent.unwrap_or(method.is_idempotent()),
            static_path: None,
            gateway_base: Some(base),
        })
    }

    /// Calls resource `path` (e.g. `"/api/v1/users/"`) with `params` (a JSON object or
    /// `null`) and returns the envelope `data`, or the whole JSON body when the
    /// resource does not answer the BlueKing envelope.
    pub async fn call(&self, method: Method, path: &str, params: Value) -> Result<Value, Error> {
        self.send(method, path, &params).await
    }

    /// [`Gateway::call`] with typed parameters and result.
    pub async fn send<Req, T>(&self, method: Method, path: &str, req: &Req) -> Result<T, Error>
    where
        Req: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let target = self.target(method, path)?;
        let params = serde_json::to_value(req).map_err(|e| {
            Error::invalid_request(format!("request parameters cannot be serialized: {e}"))
                .with_source(e)
                .with_target(&self.name, path)
        })?;
        self.client.send_target(target, params, &self.options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_stages() {
        let mut g = GatewaySettings {
            url_template: Some("http://bkapi.example.com/api/{api_name}/".into()),
            ..Default::default()
        };
        g.validate().unwrap();
        assert_eq!(
            g.base_url("bk-user", "prod").unwrap(),
            "http://bkapi.example.com/api/bk-user/prod"
        );
        g.url_template = None;
        g.stage_url_template = Some("http://{stage}-{api_name}.example.com/".into());
        g.validate().unwrap();
        assert_eq!(
            g.base_url("bk-user", "dev").unwrap(),
            "http://dev-bk-user.example.com"
        );
        g.stage_mappings.insert("bk-user".into(), "test".into());
        assert_eq!(g.stage_of("bk-user"), "test");
        assert_eq!(g.stage_of("other"), DEFAULT_STAGE);
        g.default_stage = Some("stag".into());
        assert_eq!(g.stage_of("other"), "stag");
    }

    #[test]
    fn bad_templates() {
        for (url, stage) in [
            (Some("http://bkapi.example.com/api/"), None),
            (Some("bkapi/{api_name}"), None),
            (Some("ftp://x/{api_name}"), None),
            (Some("http://x/{api_name}?a=1"), None),
            (None, Some("http://x/{api_name}")),
        ] {
            let g = GatewaySettings {
                url_template: url.map(Into::into),
                stage_url_template: stage.map(Into::into),
                ..Default::default()
            };
            assert!(g.validate().is_err(), "{url:?} {stage:?}");
        }
    }

    #[test]
    fn mappings() {
        let m = parse_stage_mappings(r#"{"a": "prod", "b-c": "test"}"#).unwrap();
        assert_eq!(m["b-c"], "test");
        assert!(parse_stage_mappings("a=prod").unwrap_err().contains("JSON"));
        assert!(parse_stage_mappings("[1]").is_err());
        assert!(parse_stage_mappings(r#"{"a": 1}"#).is_err());
    }

    #[test]
    fn paths() {
        for ok in ["/", "/users/", "/api/v1/users", "/a.b/~c/"] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "", "users/", "//", "/a//b", "/../x", "/a?b=1", "/a b", "/a#x",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
