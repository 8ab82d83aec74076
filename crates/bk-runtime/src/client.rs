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
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::config::{ClientBuilder, Config};
use crate::credentials::{self, AuthState, CredentialProvider, Creds};
use crate::envelope::{self, RawResponse};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::hooks::{AttemptInfo, Hooks, ResponseInfo};
use crate::meta::{valid_api, valid_component, ApiMeta, Method, Target};
use crate::redact;
use crate::request::{self, PreparedRequest};
use crate::retry::{self, token_bucket, RetryPolicy, TokenBucket};
use crate::transport::{self, AttemptLimit};

/// Per-call settings that override the client's defaults.
///
/// ```
/// use std::time::Duration;
/// use bk_runtime::{CallOptions, RetryPolicy};
/// let opts = CallOptions::new()
///     .retry(RetryPolicy::disabled())
///     .timeout(Duration::from_secs(5));
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Retry policy of this call (default: the client's [`Config::retry_policy`]).
    pub retry: Option<RetryPolicy>,
    /// Operation timeout of this call: every attempt and wait included
    /// (default: the client's [`Config::operation_timeout`]).
    pub timeout: Option<Duration>,
    /// Skip the client's response [`Cache`](crate::cache::Cache) for this call: always
    /// send, and let the fresh answer replace the cached one (default `false`).
    pub no_cache: bool,
}

impl CallOptions {
    /// No override.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `policy` for this call.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Bounds this call, retries included, by `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bypasses the response cache: the call is always sent and its fresh answer replaces
    /// the cached one (see [`crate::cache`]).
    pub fn no_cache(mut self) -> Self {
        self.no_cache = true;
        self
    }
}

/// Default options, for [`Client::send`].
static NO_OPTIONS: CallOptions = CallOptions {
    retry: None,
    timeout: None,
    no_cache: false,
};

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
    /// The user credentials in force (renewed by a credential provider, if any).
    creds: Creds,
    http: transport::Http,
    bucket: TokenBucket,
    hooks: Hooks,
    uris: request::UriCache,
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

    pub(crate) fn from_parts(
        config: Config,
        bucket: TokenBucket,
        hooks: Hooks,
        provider: Option<Arc<dyn CredentialProvider>>,
    ) -> Result<Client, Error> {
        let creds = Creds::new(&config, provider)?;
        let http = transport::http_client(&config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                creds,
                http,
                bucket,
                hooks,
                uris: request::UriCache::default(),
            }),
        })
    }

    /// The retry budget of this client.
    pub fn token_bucket(&self) -> &TokenBucket {
        &self.inner.bucket
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
    ///
    /// Failed attempts are retried by the client's [`RetryPolicy`] within its
    /// operation timeout; see [`Client::send_with`] to override them.
    pub async fn send<Req, T>(&self, meta: &'static ApiMeta, req: &Req) -> Result<T, Error>
    where
        Req: Serialize + ?Sized,
        T: DeserializeOwned + Send,
    {
        self.send_with(meta, req, &NO_OPTIONS).await
    }

    /// [`Client::send`] with per-call [`CallOptions`] (retry policy, operation timeout).
    pub async fn send_with<Req, T>(
        &self,
        meta: &'static ApiMeta,
        req: &Req,
        opts: &CallOptions,
    ) -> Result<T, Error>
    where
        Req: Serialize + ?Sized,
        T: DeserializeOwned + Send,
    {
        let params = serde_json::to_value(req).map_err(|e| serialize_error(meta, e))?;
        if meta.cache_ttl_secs.is_some() && self.inner.config.cache.is_some() {
            return self.send_cached(meta, params, opts).await;
        }
        self.send_uncached(meta, params, opts).await
    }

    /// One pass over a success response: its `data` is decoded straight into `T` (see
    /// [`envelope::DataSink`]); anything else takes the general path.
    async fn send_uncached<T: DeserializeOwned + Send>(
        &self,
        meta: &'static ApiMeta,
        params: Value,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        let mut sink = envelope::Typed::<T>(None);
        let raw = self
            .execute(Target::from_meta(meta), params, opts, true, Some(&mut sink))
            .await?;
        if let Some(v) = sink.0 {
            return Ok(v);
        }
        envelope::decode_data::<T>(&raw.data)
            .map_err(|f| self.decode_error(meta.component, meta.name, &raw, f))
    }

    /// [`Client::send_with`] for an API the client caches: answered from the cache, shared
    /// with an identical call in flight, or fetched and kept. Boxed, so that the cache's
    /// machinery does not enlarge the future of every other call.
    fn send_cached<'a, T: DeserializeOwned + Send + 'a>(
        &'a self,
        meta: &'static ApiMeta,
        params: Value,
        opts: &'a CallOptions,
    ) -> futures::future::BoxFuture<'a, Result<T, Error>> {
        Box::pin(async move {
            // Cached per user in force; not before a credential provider has named one.
            let user = self.user();
            let known = !(self.inner.creds.has_provider() && user == crate::UserAuth::None);
            let Some(plan) = known
                .then(|| crate::cache::plan(&self.inner.config, &user, meta, &params, opts))
                .flatten()
            else {
                return self.send_uncached(meta, params, opts).await;
            };
            let (client, call_opts) = (self.clone(), opts.clone());
            let raw = plan
                .fetch(async move {
                    let target = Target::from_meta(meta);
                    client.execute(target, params, &call_opts, true, None).await
                })
                .await?;
            envelope::decode_data::<T>(&raw.data).map_err(|f| {
                plan.forget();
                self.decode_error(meta.component, meta.name, &raw, f)
            })
        })
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
        self.execute(Target::from_meta(meta), params, &NO_OPTIONS, false, None)
            .await
    }

    /// The user credentials in force: the builder's, or the last ones a
    /// [`CredentialProvider`] supplied (`UserAuth::None` before the provider's first answer).
    pub fn user(&self) -> crate::UserAuth {
        self.inner.creds.current().user.clone()
    }

    /// Sends to an explicit target (the API gateway) and decodes `data` into `T`.
    pub(crate) async fn send_target<T: DeserializeOwned>(
        &self,
        target: Target<'_>,
        params: Value,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        let (component, api) = (target.component, target.api);
        let raw = self.execute(target, params, opts, true, None).await?;
        envelope::decode_data::<T>(&raw.data)
            .map_err(|f| self.decode_error(component, api, &raw, f))
    }

    /// Untyped escape hatch: `POST /api/c/compapi{ver}/{component}/{api}/`
    /// with `params`, returning the envelope `data`.
    pub async fn call(&self, component: &str, api: &str, params: Value) -> Result<Value, Error> {
        self.call_with(Method::Post, component, api, params).await
    }

    /// Like [`Client::call`] with an explicit method.
    ///
    /// Untyped calls count as not idempotent: they are retried only after
    /// failures that prove the request was not executed.
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
            .execute(
                Target::dynamic(method, component, api),
                params,
                &NO_OPTIONS,
                true,
                None,
            )
            .await?;
        match envelope::decode_data::<Value>(&raw.data) {
            Ok(v) => Ok(v),
            Err(f) => Err(self.decode_error(component, api, &raw, f)),
        }
    }

    /// The non-generic core: attempts, retries, one span per call and per
    /// attempt. With `check`, `result: false` is an [`ErrorKind::Api`] error;
    /// without, the last envelope is returned as it is. With a `sink`, the data of a
    /// success envelope goes into the sink (and the returned envelope's `data` is `null`).
    async fn execute(
        &self,
        target: Target<'_>,
        params: Value,
        opts: &CallOptions,
        check: bool,
        sink: Option<&mut dyn envelope::DataSink>,
    ) -> Result<RawResponse, Error> {
        let span = tracing::debug_span!(
            "bk_call",
            component = target.component,
            api = target.api,
            method = target.method.as_str(),
            attempts = Empty,
            http_status = Empty,
            code = Empty,
            request_id = Empty,
            duration_ms = Empty,
        );
        let started = Instant::now();
        let (result, attempts) = self
            .attempts(&target, params, opts, check, sink)
            .instrument(span.clone())
            .await;
        if !span.is_disabled() {
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            span.record("attempts", attempts);
            match &result {
                Ok(raw) => record_response(&span, raw),
                Err(e) => record_error(&span, e),
            }
        }
        result.map_err(|e| {
            e.with_target(target.component, target.api)
                .with_attempts(attempts)
        })
    }

    /// The retry loop. Returns the outcome and the number of attempts made.
    async fn attempts(
        &self,
        target: &Target<'_>,
        params: Value,
        opts: &CallOptions,
        check: bool,
        mut sink: Option<&mut dyn envelope::DataSink>,
    ) -> (Result<RawResponse, Error>, u32) {
        let inner = &*self.inner;
        let config = &inner.config;
        let policy = opts.retry.unwrap_or(config.retry_policy);
        let budget = opts.timeout.unwrap_or(config.operation_timeout);
        let deadline = Instant::now() + budget;
        let mut info = AttemptInfo {
            component: target.component,
            api: target.api,
            gateway: target.gateway_base.is_some(),
            method: target.method,
            idempotent: target.idempotent,
            attempt: 0,
            backoff: Duration::ZERO,
            elapsed: Duration::ZERO,
            request_body_bytes: 0,
        };
        // Tokens taken for the retry in flight, given back if it succeeds.
        let mut held = 0;
        // Whether this call already renewed its credentials (at most once per call).
        let mut refreshed = false;
        loop {
            info.attempt += 1;
            info.elapsed = Duration::ZERO;
            info.request_body_bytes = 0;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return (
                    Err(Error::timeout(TimeoutKind::Operation, budget)),
                    info.attempt - 1,
                );
            }
            let current = inner.creds.current();
            let state = if current.ready {
                current
            } else {
                match tokio::time::timeout(remaining, inner.creds.ready(config)).await {
                    Ok(Ok(state)) => state,
                    Ok(Err(e)) => return (Err(e), info.attempt - 1),
                    Err(_) => {
                        return (
                            Err(Error::timeout(TimeoutKind::Operation, budget)),
                            info.attempt - 1,
                        )
                    }
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limit = if remaining < config.request_timeout {
                AttemptLimit {
                    duration: remaining,
                    which: TimeoutKind::Operation,
                    reported: budget,
                }
            } else {
                AttemptLimit {
                    duration: config.request_timeout,
                    which: TimeoutKind::Request,
                    reported: config.request_timeout,
                }
            };
            inner.hooks.before_send(&info);
            let span = tracing::debug_span!(
                "bk_attempt",
                attempt = info.attempt,
                backoff_ms = info.backoff.as_millis() as u64,
                http_status = Empty,
                code = Empty,
                request_id = Empty,
                duration_ms = Empty,
            );
            let started = Instant::now();
            let (outcome, sizes) = self
                .exchange(target, &state, &params, limit, sink.as_deref_mut())
                .instrument(span.clone())
                .await;
            let took = started.elapsed();
            info.elapsed = took;
            info.request_body_bytes = sizes.request;
            if !span.is_disabled() {
                span.record("duration_ms", took.as_millis() as u64);
            }
            let (raw, err) = match outcome {
                Ok(raw) => {
                    record_response(&span, &raw);
                    inner.hooks.after_response(
                        &info,
                        &ResponseInfo {
                            http_status: raw.http_status,
                            result: raw.result,
                            code: raw.code,
                            request_id: raw.request_id.as_deref(),
                            duration: took,
                            body_bytes: sizes.response,
                        },
                    );
                    match raw.api_error() {
                        None => {
                            inner.bucket.release(if held > 0 {
                                held
                            } else {
                                token_bucket::SUCCESS_REWARD
                            });
                            return (Ok(raw), info.attempt);
                        }
                        Some(e) => (Some(raw), e),
                    }
                }
                Err(e) => {
                    record_error(&span, &e);
                    (None, e)
                }
            };
            let err = err.with_target(target.component, target.api);

            // Rejected user credentials: renew them once and repeat the call at once.
            // This is safe even for non-idempotent APIs: the ESB and the API gateway
            // check credentials before forwarding a call, so a rejected call never ran.
            // It does not count against the retry policy.
            if !refreshed && inner.creds.has_provider() && credentials::is_user_auth_failure(&err) {
                refreshed = true;
                let remaining = deadline.saturating_duration_since(Instant::now());
                let renewed = match tokio::time::timeout(
                    remaining,
                    inner.creds.refresh(config, &state),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(Error::timeout(TimeoutKind::Operation, budget)),
                };
                match renewed {
                    Ok(_) => {
                        inner.hooks.on_error(&info, &err, true);
                        tracing::debug!(
                            attempt = info.attempt,
                            error = %err,
                            "user credentials renewed: repeating the call"
                        );
                        info.backoff = Duration::ZERO;
                        continue;
                    }
                    Err(refresh_error) => {
                        inner.hooks.on_error(&info, &err, false);
                        tracing::debug!(
                            error = %err,
                            refresh_error = %refresh_error,
                            "user credentials rejected and the credential provider could not renew them"
                        );
                        let err = err.with_source(refresh_error);
                        return match raw {
                            Some(raw) if !check => (Ok(raw), info.attempt),
                            _ => (Err(err), info.attempt),
                        };
                    }
                }
            }

            // The credential repeat is not one of the policy's attempts.
            let counted = info.attempt - u32::from(refreshed);
            let delay = self.retry_delay(target, &policy, counted, &err, deadline);
            inner.hooks.on_error(&info, &err, delay.is_some());
            let Some((delay, cost)) = delay else {
                return match raw {
                    Some(raw) if !check => (Ok(raw), info.attempt),
                    _ => (Err(err), info.attempt),
                };
            };
            held = cost;
            tracing::debug!(
                attempt = info.attempt,
                backoff_ms = delay.as_millis() as u64,
                error = %err,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            info.backoff = delay;
        }
    }

    /// Whether to retry after `err`, and if so the wait and the tokens taken.
    fn retry_delay(
        &self,
        target: &Target<'_>,
        policy: &RetryPolicy,
        attempt: u32,
        err: &Error,
        deadline: Instant,
    ) -> Option<(Duration, u32)> {
        if attempt >= policy.get_max_attempts() {
            return None;
        }
        let verdict = retry::classify(err);
        if !verdict.allows_retry(target.idempotent) {
            return None;
        }
        let hint = err.retry_after();
        if hint.is_some_and(|h| h > policy.get_max_server_wait()) {
            return None;
        }
        let delay = policy.backoff().delay(attempt, hint);
        if Instant::now() + delay >= deadline {
            return None;
        }
        let mut cost = 0;
        if policy.uses_token_bucket() {
            cost = if verdict.timeout {
                token_bucket::TIMEOUT_RETRY_COST
            } else {
                token_bucket::RETRY_COST
            };
            if !self.inner.bucket.try_acquire(cost) {
                tracing::debug!(
                    available = self.inner.bucket.available(),
                    "retry budget exhausted: not retrying"
                );
                return None;
            }
        }
        Some((delay, cost))
    }

    async fn exchange(
        &self,
        target: &Target<'_>,
        state: &AuthState,
        params: &Value,
        limit: AttemptLimit,
        sink: Option<&mut (dyn envelope::DataSink + '_)>,
    ) -> (Result<RawResponse, Error>, Sizes) {
        let inner = &*self.inner;
        let mut sizes = Sizes::default();
        let mut req = match request::build(&inner.config, state, &inner.uris, target, params) {
            Ok(req) => req,
            Err(e) => return (Err(e), sizes),
        };
        sizes.request = req.body.as_ref().map_or(0, |b| b.len() as u64);
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        if debug {
            let body = req.body_json().map(|mut b| {
                redact::redact_json(&mut b, target.sensitive);
                b.to_string()
            });
            let url = req
                .url()
                .map(|u| redact::redact_url(&u, target.sensitive).to_string())
                .unwrap_or_default();
            tracing::debug!(url = %url, body = body.as_deref().unwrap_or(""), "sending request");
        }
        // The headers move into the request; a copy is kept only for the debug log.
        let headers = if debug {
            req.headers.clone()
        } else {
            std::mem::take(&mut req.headers)
        };
        let secrets =
            |f: &mut dyn FnMut(&str)| inner.creds.for_each_secret(&inner.config, state, f);
        let plain_json = target.gateway_base.is_some();
        let outcome = match transport::send(&inner.http, &inner.config, &req, headers, limit).await
        {
            Ok(resp) => {
                sizes.response = resp.body.len() as u64;
                match sink.and_then(|sink| sink.take_success(&resp, &secrets)) {
                    Some(raw) => Ok(raw),
                    None => envelope::parse(&resp, &secrets, plain_json),
                }
            }
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
        (outcome, sizes)
    }

    #[cold]
    fn decode_error(
        &self,
        component: &str,
        api: &str,
        raw: &RawResponse,
        failure: envelope::DecodeFailure,
    ) -> Error {
        let state = self.inner.creds.current();
        let owned = self.inner.creds.secret_values(&self.inner.config, &state);
        let secrets: Vec<&str> = owned.iter().map(|s| s.expose()).collect();
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

/// Body sizes of one exchange, for hooks and metrics.
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    request: u64,
    response: u64,
}

/// Records an envelope on a call's or attempt's span (field lookups are skipped when no
/// subscriber wants the span).
fn record_response(span: &tracing::Span, raw: &RawResponse) {
    if span.is_disabled() {
        return;
    }
    span.record("http_status", raw.http_status);
    span.record("code", raw.code);
    if let Some(id) = &raw.request_id {
        span.record("request_id", id.as_str());
    }
}

fn record_error(span: &tracing::Span, e: &Error) {
    if span.is_disabled() {
        return;
    }
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

#[cold]
fn serialize_error(meta: &ApiMeta, e: serde_json::Error) -> Error {
    Error::invalid_request(format!("request parameters cannot be serialized: {e}"))
        .with_source(e)
        .with_target(meta.component, meta.name)
}

#[cold]
fn log_failure(req: &PreparedRequest, target: &Target<'_>, what: &str) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let Some(url) = req.url() else {
            return;
        };
        let curl = redact::to_curl(
            req.method,
            &url,
            &req.headers,
            req.body_json().as_ref(),
            target.sensitive,
        );
        tracing::debug!(%curl, error = what, "request failed");
    }
}
