//! The [`Client`]: one connection pool and one configuration shared by every
//! component, and the call path used by generated code.
//!
//! The call path is split so that generic code stays tiny: [`Client::send`]
//! serializes the request to a `serde_json::Value`, hands it to a
//! non-generic core that builds, sends and classifies the exchange, and ends
//! with a small generic decode of the raw `data`. Six hundred APIs thus share
//! one copy of the machinery.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::auth::Auth;
use crate::config::{ClientBuilder, Config};
use crate::envelope::{self, RawResponse};
use crate::error::{Error, ErrorKind};
use crate::meta::{valid_api, valid_component, ApiMeta, Method, Target};
use crate::redact;
use crate::request::{self, PreparedRequest};
use crate::transport;

/// Longest serde message kept in a decode error, in characters.
const DECODE_MESSAGE_MAX_CHARS: usize = 512;

/// A BlueKing ESB client. Cheap to clone: clones share one connection pool
/// and one configuration.
///
/// ```no_run
/// # async fn demo() -> Result<(), bk_runtime::Error> {
/// let client = bk_runtime::Client::from_env()?;
/// let data = client.call("cc", "search_business", serde_json::json!({})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    auth: Auth,
    headers: HeaderMap,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with every default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment, with the variable names of
    /// the official SDKs; see [`ClientBuilder::from_lookup`] for the list.
    /// The error names the missing or malformed variable.
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env()?.build()
    }

    pub(crate) fn from_config(config: Config) -> Result<Client, Error> {
        let auth = Auth::new(&config)?;
        let headers = request::base_headers(&config, &auth)?;
        let http = transport::http_client(&config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                auth,
                headers,
                http,
            }),
        })
    }

    /// The configuration of this client.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Calls the API described by `meta` with the parameters `req` (which
    /// must serialize to a JSON object, without auth keys) and decodes the
    /// envelope `data` into `T`.
    ///
    /// Errors: [`ErrorKind::InvalidRequest`] if `req` does not serialize to an
    /// object, [`ErrorKind::Api`] if the envelope says `result: false`,
    /// [`ErrorKind::Decode`] (with the JSON path) if `data` does not fit `T`,
    /// and the transport kinds.
    pub async fn send<Req, T>(&self, meta: &'static ApiMeta, req: &Req) -> Result<T, Error>
    where
        Req: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let params = serde_json::to_value(req).map_err(|e| serialize_error(meta, e))?;
        let raw = self
            .execute_checked(Target::from_meta(meta), params)
            .await?;
        match envelope::decode_data::<T>(&raw.data) {
            Ok(v) => Ok(v),
            Err(f) => Err(self.decode_error(meta.component, meta.name, &raw, f)),
        }
    }

    /// Calls the API described by `meta` and returns the whole envelope with
    /// `data` left raw.
    ///
    /// Unlike [`Client::send`], an envelope with `result: false` is returned
    /// as `Ok` (inspect [`RawResponse::result`]); transport failures, non-2xx
    /// statuses and non-JSON bodies are still errors.
    pub async fn send_raw(
        &self,
        meta: &'static ApiMeta,
        params: Value,
    ) -> Result<RawResponse, Error> {
        self.execute(Target::from_meta(meta), params).await
    }

    /// Untyped escape hatch: `POST /api/c/compapi{ver}/{component}/{api}/`
    /// with `params`, returning the envelope `data`.
    pub async fn call(&self, component: &str, api: &str, params: Value) -> Result<Value, Error> {
        self.call_with(Method::Post, component, api, params).await
    }

    /// Like [`Client::call`] with an explicit method.
    ///
    /// `component` must consist of ASCII letters, digits, `_` and `-`; `api`
    /// of `/`-separated segments of those and `.`.
    pub async fn call_with(
        &self,
        method: Method,
        component: &str,
        api: &str,
        params: Value,
    ) -> Result<Value, Error> {
        if !valid_component(component) || !valid_api(api) {
            return Err(Error::invalid_request(format!(
                "invalid component or API name {component:?}/{api:?}"
            ))
            .with_target(component, api));
        }
        let raw = self
            .execute_checked(Target::dynamic(method, component, api), params)
            .await?;
        match envelope::decode_data::<Value>(&raw.data) {
            Ok(v) => Ok(v),
            Err(f) => Err(self.decode_error(component, api, &raw, f)),
        }
    }

    /// [`Client::execute`], with `result: false` turned into an [`ErrorKind::Api`] error.
    async fn execute_checked(
        &self,
        target: Target<'_>,
        params: Value,
    ) -> Result<RawResponse, Error> {
        let (component, api) = (target.component, target.api);
        let raw = self.execute(target, params).await?;
        match raw.api_error() {
            Some(e) => Err(e.with_target(component, api)),
            None => Ok(raw),
        }
    }

    /// The non-generic core: build, send, classify. One span per call.
    async fn execute(&self, target: Target<'_>, params: Value) -> Result<RawResponse, Error> {
        let span = tracing::debug_span!(
            "bk_call",
            component = target.component,
            api = target.api,
            method = target.method.as_str(),
            http_status = Empty,
            code = Empty,
            request_id = Empty,
            duration_ms = Empty,
        );
        let started = Instant::now();
        let result = self
            .exchange(&target, params)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(raw) => {
                span.record("http_status", raw.http_status);
                span.record("code", raw.code);
                if let Some(id) = &raw.request_id {
                    span.record("request_id", id.as_str());
                }
            }
            Err(e) => {
                if let Some(s) = e.http_status() {
                    span.record("http_status", s);
                }
                if let Some(c) = e.code() {
                    span.record("code", c);
                }
                if let Some(id) = e.request_id() {
                    span.record("request_id", id);
                }
            }
        }
        result.map_err(|e| e.with_target(target.component, target.api))
    }

    async fn exchange(&self, target: &Target<'_>, params: Value) -> Result<RawResponse, Error> {
        let inner = &*self.inner;
        let req = request::build(&inner.config, &inner.auth, &inner.headers, target, params)?;
        if tracing::enabled!(tracing::Level::DEBUG) {
            let body = req.body_json.as_ref().map(|b| {
                let mut b = b.clone();
                redact::redact_json(&mut b, target.sensitive);
                b.to_string()
            });
            tracing::debug!(
                url = %redact::redact_url(&req.url, target.sensitive),
                body = body.as_deref().unwrap_or(""),
                "sending request"
            );
        }
        let secrets = inner.config.secret_values();
        let outcome = match transport::send(&inner.http, &inner.config, &req).await {
            Ok(resp) => envelope::parse(&resp, &secrets),
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(raw) if raw.result => {}
            Ok(raw) => log_failure(
                &req,
                target,
                &format!("API error {}: {:?}", raw.code, raw.message),
            ),
            Err(e) => log_failure(&req, target, &e.to_string()),
        }
        outcome
    }

    #[cold]
    fn decode_error(
        &self,
        component: &str,
        api: &str,
        raw: &RawResponse,
        failure: envelope::DecodeFailure,
    ) -> Error {
        let secrets = self.inner.config.secret_values();
        let message = redact::truncate_chars(
            redact::scrub(&failure.error.to_string(), &secrets),
            DECODE_MESSAGE_MAX_CHARS,
        );
        let e = Error::from_kind(ErrorKind::Decode {
            path: failure.path,
            message,
        })
        .with_source(failure.error)
        .with_target(component, api)
        .with_http(raw.http_status, raw.request_id.clone());
        tracing::debug!(error = %e, "response data does not match the typed response");
        e
    }
}

#[cold]
fn serialize_error(meta: &ApiMeta, e: serde_json::Error) -> Error {
    Error::invalid_request(format!("request parameters cannot be serialized: {e}"))
        .with_source(e)
        .with_target(meta.component, meta.name)
}

#[cold]
fn log_failure(req: &PreparedRequest, target: &Target<'_>, what: &str) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let curl = redact::to_curl(
            req.method,
            &req.url,
            &req.headers,
            req.body_json.as_ref(),
            target.sensitive,
        );
        tracing::debug!(%curl, error = what, "request failed");
    }
}
