//! Client configuration: [`Config`], its [`ClientBuilder`] and loading from
//! the environment with the variable names of the official SDKs.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`AuthMode`] | [`AuthMode::Header`] |
//! | [`ApiVersion`] | [`ApiVersion::V2`] |
//! | language | `en` |
//! | connect timeout | 5 s |
//! | request (per-attempt) timeout | 30 s |
//! | operation timeout (all attempts and waits) | 60 s |
//! | retries | [`RetryPolicy::default`]: 3 attempts, full-jitter backoff from 500 ms, token bucket of 500 |
//! | TLS certificate verification | on |
//! | max response body | 64 MiB |
//! | response cache ([`ClientBuilder::cache`]) | off |
//! | API gateway stage ([`crate::gateway`]) | per-gateway mapping, else `prod` |
//! | credential provider ([`crate::credentials`]) | none: the builder's [`UserAuth`] is used for the client's life |
//! | metrics hook ([`crate::metrics`], cargo feature `metrics`) | installed when the feature is on |
//!
//! # Sources
//!
//! [`ClientBuilder::from_env`] reads the environment only;
//! [`ClientBuilder::from_profile`] a profile of the config file only ([`crate::profile`]);
//! [`ClientBuilder::from_default_sources`] both: the profile first, then every
//! environment variable that is set overrides the profile's value. Builder methods called
//! afterwards override both.

use std::time::Duration;

use url::Url;

use std::sync::Arc;

use crate::credentials::CredentialProvider;
use crate::error::Error;
use crate::gateway::{self, GatewaySettings};
use crate::hooks::{Hook, Hooks};
use crate::retry::{RetryPolicy, TokenBucket};
use crate::secret::Secret;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default per-request timeout (send, wait for the answer and read the body).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default budget of a whole call: every attempt and every wait between them.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Default limit on the size of a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// ESB API version: selects the `{bk_api_ver}` part of the path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `/api/c/compapi/v2/{component}/{api}/` (the default).
    #[default]
    V2,
    /// `/api/c/compapi/{component}/{api}/`.
    V1,
}

impl ApiVersion {
    /// The text substituted for `{bk_api_ver}`: `"/v2"` or `""`.
    pub const fn path_segment(self) -> &'static str {
        match self {
            ApiVersion::V2 => "/v2",
            ApiVersion::V1 => "",
        }
    }
}

/// How the app credentials travel to the ESB.
///
/// The default is [`AuthMode::Header`]: it keeps secrets out of URLs (which
/// end up in proxy and access logs), is what the official `bkapi-client-core`
/// always sends and is understood by the current ESB and the API gateway.
/// Choose [`AuthMode::Params`] for the legacy ESB (`paas-ce`), which reads
/// credentials only from the parameters.
///
/// Whatever the mode, a [`UserAuth::AccessToken`] is always sent alone in the
/// `X-Bkapi-Authorization` header: the ESB honours `access_token` only there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// Classic client: `bk_app_code`, `bk_app_secret` and the user key in the
    /// query string for `GET` and in the JSON body for `POST`.
    Params,
    /// `X-Bkapi-Authorization: {"bk_app_code", "bk_app_secret", "bk_token"|"bk_username"}`.
    #[default]
    Header,
    /// HMAC-SHA1 signature (`bk_signature`, `bk_timestamp`, `bk_nonce` in the
    /// query); the secret itself never travels. See [`crate::signature`].
    Signature,
}

/// The user on whose behalf calls are made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UserAuth {
    /// A login ticket (`bk_token` cookie of the BlueKing login), checked by `bk_login`.
    BkToken(Secret),
    /// A user name; accepted only for apps on the ESB's skip-user-auth whitelist.
    BkUsername(String),
    /// An OAuth access token; identifies both app and user.
    AccessToken(Secret),
    /// No user: app-only calls.
    #[default]
    None,
}

/// Immutable client configuration, built by [`ClientBuilder`].
///
/// `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) endpoint: Url,
    pub(crate) app_code: String,
    pub(crate) app_secret: Secret,
    pub(crate) user: UserAuth,
    pub(crate) api_version: ApiVersion,
    pub(crate) language: String,
    pub(crate) use_test_env: bool,
    pub(crate) auth_mode: AuthMode,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) retry_policy: RetryPolicy,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) max_response_bytes: usize,
    pub(crate) cache: Option<crate::cache::Cache>,
    pub(crate) gateway: GatewaySettings,
}

impl Config {
    /// Base URL of the ESB (no trailing slash in its path).
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }
    /// App code (`bk_app_code`).
    pub fn app_code(&self) -> &str {
        &self.app_code
    }
    /// App secret (`bk_app_secret`).
    pub fn app_secret(&self) -> &Secret {
        &self.app_secret
    }
    /// User identity.
    pub fn user(&self) -> &UserAuth {
        &self.user
    }
    /// API version used for `{bk_api_ver}`.
    pub fn api_version(&self) -> ApiVersion {
        self.api_version
    }
    /// Value of the `Blueking-Language` and `Accept-Language` headers.
    pub fn language(&self) -> &str {
        &self.language
    }
    /// Whether requests carry `X-Use-Test-Env: 1`.
    pub fn use_test_env(&self) -> bool {
        self.use_test_env
    }
    /// How credentials are sent.
    pub fn auth_mode(&self) -> AuthMode {
        self.auth_mode
    }
    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Per-attempt (request) timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// Budget of a whole call, retries and waits included.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }
    /// The default retry policy of calls.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }
    /// Whether TLS certificate verification is disabled.
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }
    /// Largest accepted response body, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }
    /// The response cache of cacheable APIs, if one was given.
    pub fn cache(&self) -> Option<&crate::cache::Cache> {
        self.cache.as_ref()
    }
    /// API gateway URL template (`BK_API_URL_TMPL`), e.g. `http://bkapi.example.com/api/{api_name}`.
    pub fn gateway_url_template(&self) -> Option<&str> {
        self.gateway.url_template.as_deref()
    }
    /// API gateway stage URL template (`BK_API_STAGE_URL_TMPL`), e.g. `http://{stage}-{api_name}.example.com`.
    pub fn gateway_stage_url_template(&self) -> Option<&str> {
        self.gateway.stage_url_template.as_deref()
    }
    /// Stage per gateway name (`BK_API_DEFAULT_STAGE_MAPPINGS`).
    pub fn stage_mappings(&self) -> &std::collections::BTreeMap<String, String> {
        &self.gateway.stage_mappings
    }
    /// The stage of gateway `name`: its mapping, else the default stage, else `prod`.
    pub fn stage_of(&self, name: &str) -> &str {
        self.gateway.stage_of(name)
    }
}

/// Builder for [`Client`](crate::Client).
///
/// ```no_run
/// # fn main() -> Result<(), bk_runtime::Error> {
/// use bk_runtime::{Client, UserAuth};
/// let client = Client::builder()
///     .endpoint("http://paas.example.com")
///     .app_code("my-app")
///     .app_secret("s3cr3t")
///     .user(UserAuth::BkUsername("admin".into()))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientBuilder {
    endpoint: Option<String>,
    app_code: Option<String>,
    app_secret: Option<Secret>,
    user: UserAuth,
    api_version: ApiVersion,
    language: Option<String>,
    use_test_env: bool,
    auth_mode: AuthMode,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    retry_policy: RetryPolicy,
    token_bucket: Option<TokenBucket>,
    hooks: Hooks,
    accept_invalid_certs: bool,
    max_response_bytes: Option<usize>,
    cache: Option<crate::cache::Cache>,
    gateway: GatewaySettings,
    provider: Option<ProviderSlot>,
    #[cfg(feature = "metrics")]
    no_metrics: bool,
}

/// A credential provider in a builder (`Debug` names no secret).
#[derive(Clone)]
struct ProviderSlot(Arc<dyn CredentialProvider>);

impl std::fmt::Debug for ProviderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialProvider")
    }
}

/// Names read by [`ClientBuilder::from_env`], first match wins.
const ENV_ENDPOINT: &[&str] = &["BK_COMPONENT_API_URL"];
const ENV_APP_CODE: &[&str] = &["BK_APP_CODE", "BKPAAS_APP_ID", "APP_CODE"];
const ENV_APP_SECRET: &[&str] = &["BK_APP_SECRET", "BKPAAS_APP_SECRET", "SECRET_KEY"];

impl ClientBuilder {
    /// A builder with every default and no endpoint or credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder filled from the process environment; see [`ClientBuilder::from_lookup`].
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A builder filled from a variable lookup function (the environment in
    /// [`ClientBuilder::from_env`]). Empty values count as unset.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `BK_COMPONENT_API_URL` | endpoint (required) |
    /// | `BK_APP_CODE` (`BKPAAS_APP_ID`, `APP_CODE`) | app code (required unless `BK_ACCESS_TOKEN`) |
    /// | `BK_APP_SECRET` (`BKPAAS_APP_SECRET`, `SECRET_KEY`) | app secret (required unless `BK_ACCESS_TOKEN`) |
    /// | `BK_ACCESS_TOKEN`, `BK_TOKEN`, `BK_USERNAME` | user identity, in this order of precedence |
    /// | `DEFAULT_BK_API_VER` | `v2` (default) or `v1` |
    /// | `BK_API_USE_TEST_ENV` | `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` |
    /// | `BK_LANGUAGE` | `Blueking-Language` header (default `en`) |
    /// | `BK_API_AUTH_MODE` | `header` (default), `params` or `signature` (blueking-rs only) |
    /// | `BK_API_CLIENT_ENABLE_SSL_VERIFY` | `false` disables TLS verification (default `true`) |
    /// | `BK_API_URL_TMPL` | API gateway URL template with `{api_name}` ([`crate::gateway`]) |
    /// | `BK_API_STAGE_URL_TMPL` | API gateway URL template with `{api_name}` and `{stage}` (Go SDK) |
    /// | `BK_API_DEFAULT_STAGE_MAPPINGS` | JSON object: gateway name to stage, e.g. `{"bk-user": "test"}` |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let b = ClientBuilder::new().with_env(&lookup)?;
        if b.endpoint.is_none() {
            return Err(Error::config(
                "environment variable BK_COMPONENT_API_URL is not set",
            ));
        }
        b.check_app_credentials(
            "environment variable BK_APP_CODE (or BKPAAS_APP_ID, APP_CODE) is not set",
            "environment variable BK_APP_SECRET (or BKPAAS_APP_SECRET, SECRET_KEY) is not set",
        )?;
        Ok(b)
    }

    /// Errors `no_code` / `no_secret` when the app credentials are missing and the
    /// user is not an access token.
    pub(crate) fn check_app_credentials(
        &self,
        no_code: &str,
        no_secret: &str,
    ) -> Result<(), Error> {
        if matches!(self.user, UserAuth::AccessToken(_)) || self.provider.is_some() {
            return Ok(());
        }
        if self.app_code.as_deref().is_none_or(str::is_empty) {
            return Err(Error::config(no_code));
        }
        if self.app_secret.as_ref().is_none_or(Secret::is_empty) {
            return Err(Error::config(no_secret));
        }
        Ok(())
    }

    /// Whether an endpoint is set.
    pub(crate) fn has_endpoint(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Overrides this builder's settings with every variable of [`ClientBuilder::from_lookup`]
    /// that `lookup` finds set (non-empty); unset variables leave the settings alone. A user
    /// variable replaces the user whatever its kind. Malformed values are errors naming the
    /// variable; missing required ones are not (the build reports them).
    pub(crate) fn with_env(
        mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let get = |names: &[&str]| {
            names.iter().find_map(|n| {
                lookup(n)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            })
        };
        if let Some(v) = get(ENV_ENDPOINT) {
            self.endpoint = Some(v);
        }
        if let Some(v) = get(ENV_APP_CODE) {
            self.app_code = Some(v);
        }
        if let Some(v) = get(ENV_APP_SECRET) {
            self.app_secret = Some(Secret::from(v));
        }
        if let Some(t) = get(&["BK_ACCESS_TOKEN"]) {
            self.user = UserAuth::AccessToken(t.into());
        } else if let Some(t) = get(&["BK_TOKEN"]) {
            self.user = UserAuth::BkToken(t.into());
        } else if let Some(u) = get(&["BK_USERNAME"]) {
            self.user = UserAuth::BkUsername(u);
        }
        if let Some(v) = get(&["DEFAULT_BK_API_VER"]) {
            self.api_version = parse_api_version(&v).ok_or_else(|| {
                Error::config(format!(
                    "environment variable DEFAULT_BK_API_VER has invalid value {v:?}: expected \"v2\" or \"v1\""
                ))
            })?;
        }
        if let Some(v) = get(&["BK_API_USE_TEST_ENV"]) {
            self.use_test_env = parse_bool("BK_API_USE_TEST_ENV", &v)?;
        }
        if let Some(v) = get(&["BK_LANGUAGE"]) {
            self.language = Some(v);
        }
        if let Some(v) = get(&["BK_API_AUTH_MODE"]) {
            self.auth_mode = parse_auth_mode(&v).ok_or_else(|| {
                Error::config(format!(
                    "environment variable BK_API_AUTH_MODE has invalid value {v:?}: expected \"header\", \"params\" or \"signature\""
                ))
            })?;
        }
        if let Some(v) = get(&["BK_API_CLIENT_ENABLE_SSL_VERIFY"]) {
            self.accept_invalid_certs = !parse_bool("BK_API_CLIENT_ENABLE_SSL_VERIFY", &v)?;
        }
        if let Some(v) = get(&["BK_API_URL_TMPL"]) {
            self.gateway.url_template = Some(v);
        }
        if let Some(v) = get(&["BK_API_STAGE_URL_TMPL"]) {
            self.gateway.stage_url_template = Some(v);
        }
        if let Some(v) = get(&["BK_API_DEFAULT_STAGE_MAPPINGS"]) {
            self.gateway.stage_mappings = gateway::parse_stage_mappings(&v).map_err(|e| {
                Error::config(format!(
                    "environment variable BK_API_DEFAULT_STAGE_MAPPINGS is malformed: {e} \
                     (expected JSON such as {{\"bk-user\": \"prod\"}})"
                ))
            })?;
        }
        Ok(self)
    }

    /// Base URL of the ESB, e.g. `http://paas.example.com` (a trailing slash
    /// and a path prefix are accepted).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// App code (`bk_app_code`).
    pub fn app_code(mut self, code: impl Into<String>) -> Self {
        self.app_code = Some(code.into());
        self
    }
    /// App secret (`bk_app_secret`).
    pub fn app_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.app_secret = Some(secret.into());
        self
    }
    /// User identity (default [`UserAuth::None`]).
    pub fn user(mut self, user: UserAuth) -> Self {
        self.user = user;
        self
    }
    /// API version (default [`ApiVersion::V2`]).
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }
    /// Language header value (default `en`).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
    /// Route calls to the test backend (`X-Use-Test-Env: 1`).
    pub fn use_test_env(mut self, yes: bool) -> Self {
        self.use_test_env = yes;
        self
    }
    /// How credentials are sent (default [`AuthMode::Header`]).
    pub fn auth_mode(mut self, mode: AuthMode) -> Self {
        self.auth_mode = mode;
        self
    }
    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }
    /// Per-attempt timeout covering send, wait and body read (default 30 s).
    /// Exceeding it: [`TimeoutKind::Request`](crate::TimeoutKind::Request).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }
    /// Same as [`ClientBuilder::request_timeout`].
    pub fn attempt_timeout(self, timeout: Duration) -> Self {
        self.request_timeout(timeout)
    }
    /// Budget of a whole call: every attempt and every wait between them
    /// (default 60 s). Exceeding it: [`TimeoutKind::Operation`](crate::TimeoutKind::Operation).
    /// Override per call with [`CallOptions::timeout`](crate::CallOptions::timeout).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }
    /// Default retry policy of calls (default [`RetryPolicy::default`]).
    /// Override per call with [`CallOptions::retry`](crate::CallOptions::retry).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }
    /// The retry budget shared by every call of the client (default: a new
    /// bucket of 500 tokens per built client). Pass clones of one bucket to
    /// several builders to share a budget.
    pub fn token_bucket(mut self, bucket: TokenBucket) -> Self {
        self.token_bucket = Some(bucket);
        self
    }
    /// Registers a [`Hook`] called around every attempt.
    pub fn hook(mut self, hook: Arc<dyn Hook>) -> Self {
        self.hooks.push(hook);
        self
    }
    /// Disable TLS certificate verification. Dangerous: anyone on the path can
    /// read the app secret. A warning is logged when the client is built.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.accept_invalid_certs = yes;
        self
    }
    /// Largest accepted response body in bytes (default 64 MiB).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }
    /// Caches the answers of APIs whose spec allows it, in `cache` (default: no cache).
    /// Off by default because a cached answer may be a TTL old; see [`crate::cache`].
    /// Pass clones of one cache to several builders to share it (keys keep their
    /// identities apart).
    pub fn cache(mut self, cache: crate::cache::Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// API gateway URL template with the `{api_name}` placeholder, e.g.
    /// `http://bkapi.example.com/api/{api_name}` (`BK_API_URL_TMPL`); `/{stage}` and the
    /// resource path follow. See [`crate::gateway`].
    pub fn gateway_url_template(mut self, template: impl Into<String>) -> Self {
        self.gateway.url_template = Some(template.into());
        self
    }
    /// API gateway URL template with the `{api_name}` and `{stage}` placeholders, e.g.
    /// `http://{stage}-{api_name}.example.com` (`BK_API_STAGE_URL_TMPL`, Go SDK); used
    /// when no [`ClientBuilder::gateway_url_template`] is set.
    pub fn gateway_stage_url_template(mut self, template: impl Into<String>) -> Self {
        self.gateway.stage_url_template = Some(template.into());
        self
    }
    /// The stage of each gateway (`BK_API_DEFAULT_STAGE_MAPPINGS`), replacing any mapping
    /// set before. Gateways not named use [`ClientBuilder::default_stage`].
    pub fn stage_mappings<K, V>(mut self, mappings: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.gateway.stage_mappings = mappings
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }
    /// The stage of gateways without a mapping (default `prod`).
    pub fn default_stage(mut self, stage: impl Into<String>) -> Self {
        self.gateway.default_stage = Some(stage.into());
        self
    }
    /// Supplies and renews the user credentials; the builder's
    /// [`user`](ClientBuilder::user) is then not used. See [`crate::credentials`].
    pub fn credential_provider(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.provider = Some(ProviderSlot(provider));
        self
    }
    /// Whether to install the [`MetricsHook`](crate::metrics::MetricsHook) (default
    /// `true` when the `metrics` feature is on).
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, yes: bool) -> Self {
        self.no_metrics = !yes;
        self
    }

    /// Validates the settings into a [`Config`].
    pub fn build_config(self) -> Result<Config, Error> {
        self.into_parts().map(|parts| parts.0)
    }

    #[allow(clippy::type_complexity)]
    fn into_parts(
        self,
    ) -> Result<
        (
            Config,
            TokenBucket,
            Hooks,
            Option<Arc<dyn CredentialProvider>>,
        ),
        Error,
    > {
        let raw = self
            .endpoint
            .ok_or_else(|| Error::config("endpoint is not set (BK_COMPONENT_API_URL)"))?;
        let endpoint = parse_endpoint(&raw)?;
        // App credentials are checked again once a provider has supplied the user.
        let access_token = matches!(self.user, UserAuth::AccessToken(_)) || self.provider.is_some();
        let app_code = match self.app_code {
            Some(c) if !c.is_empty() => c,
            _ if access_token => String::new(),
            _ => return Err(Error::config("app_code is not set (BK_APP_CODE)")),
        };
        let app_secret = match self.app_secret {
            Some(s) if !s.is_empty() => s,
            _ if access_token => Secret::new(""),
            _ => return Err(Error::config("app_secret is not set (BK_APP_SECRET)")),
        };
        let language = self.language.unwrap_or_else(|| "en".to_owned());
        if http::HeaderValue::from_str(&language).is_err() {
            return Err(Error::config(format!(
                "language {language:?} is not a valid header value"
            )));
        }
        if self.connect_timeout == Some(Duration::ZERO)
            || self.request_timeout == Some(Duration::ZERO)
            || self.operation_timeout == Some(Duration::ZERO)
        {
            return Err(Error::config("timeouts must be greater than zero"));
        }
        let config = Config {
            endpoint,
            app_code,
            app_secret,
            user: self.user,
            api_version: self.api_version,
            language,
            use_test_env: self.use_test_env,
            auth_mode: self.auth_mode,
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            request_timeout: self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            operation_timeout: self.operation_timeout.unwrap_or(DEFAULT_OPERATION_TIMEOUT),
            retry_policy: self.retry_policy,
            accept_invalid_certs: self.accept_invalid_certs,
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            cache: self.cache,
            gateway: self.gateway,
        };
        config.gateway.validate()?;
        #[allow(unused_mut)]
        let mut hooks = self.hooks;
        #[cfg(feature = "metrics")]
        if !self.no_metrics {
            hooks.push(Arc::new(crate::metrics::MetricsHook::new()));
        }
        Ok((
            config,
            self.token_bucket.unwrap_or_default(),
            hooks,
            self.provider.map(|p| p.0),
        ))
    }

    /// Builds the client.
    pub fn build(self) -> Result<crate::Client, Error> {
        let (config, bucket, hooks, provider) = self.into_parts()?;
        crate::Client::from_parts(config, bucket, hooks, provider)
    }
}

/// `v2` / `v1` (case-insensitive, a leading `/` allowed).
pub(crate) fn parse_api_version(v: &str) -> Option<ApiVersion> {
    match v.trim().to_ascii_lowercase().trim_start_matches('/') {
        "v2" => Some(ApiVersion::V2),
        "v1" => Some(ApiVersion::V1),
        _ => None,
    }
}

/// `header` / `params` / `signature` (case-insensitive).
pub(crate) fn parse_auth_mode(v: &str) -> Option<AuthMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "header" => Some(AuthMode::Header),
        "params" => Some(AuthMode::Params),
        "signature" => Some(AuthMode::Signature),
        _ => None,
    }
}

fn parse_bool(var: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::config(format!(
            "environment variable {var} has invalid value {v:?}: expected true or false"
        ))),
    }
}

/// Parses and normalises the endpoint: http(s), a host, no query or fragment,
/// no trailing slash in the path.
fn parse_endpoint(raw: &str) -> Result<Url, Error> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| Error::config(format!("endpoint {raw:?} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "endpoint {raw:?} must use http or https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!("endpoint {raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "endpoint {raw:?} must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config("endpoint must not contain user info"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn config_msg(e: Error) -> String {
        match e.kind() {
            ErrorKind::Config { message } => message.clone(),
            k => panic!("expected Config, got {k:?}"),
        }
    }

    #[test]
    fn env_minimal_and_aliases() {
        let c = ClientBuilder::from_lookup(lookup(&[
            ("BK_COMPONENT_API_URL", "http://paas.example.com/"),
            ("BKPAAS_APP_ID", "app"),
            ("SECRET_KEY", "sek"),
            ("BK_USERNAME", "admin"),
        ]))
        .unwrap()
        .build_config()
        .unwrap();
        assert_eq!(c.app_code(), "app");
        assert_eq!(c.app_secret().expose(), "sek");
        assert_eq!(c.user(), &UserAuth::BkUsername("admin".into()));
        assert_eq!(c.api_version(), ApiVersion::V2);
        assert_eq!(c.auth_mode(), AuthMode::Header);
        assert_eq!(c.language(), "en");
        assert_eq!(c.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.request_timeout(), DEFAULT_REQUEST_TIMEOUT);
        assert!(!c.accepts_invalid_certs());
        assert_eq!(c.endpoint().as_str(), "http://paas.example.com/");
    }

    #[test]
    fn env_full() {
        let c = ClientBuilder::from_lookup(lookup(&[
            ("BK_COMPONENT_API_URL", "https://paas.example.com/prefix/"),
            ("BK_APP_CODE", "app"),
            ("BK_APP_SECRET", "sek"),
            ("BK_TOKEN", "tok"),
            ("BK_USERNAME", "ignored"),
            ("DEFAULT_BK_API_VER", "v1"),
            ("BK_API_USE_TEST_ENV", "True"),
            ("BK_LANGUAGE", "zh-hans"),
            ("BK_API_AUTH_MODE", "signature"),
        ]))
        .unwrap()
        .build_config()
        .unwrap();
        assert_eq!(c.user(), &UserAuth::BkToken("tok".into()));
        assert_eq!(c.api_version(), ApiVersion::V1);
        assert!(c.use_test_env());
        assert_eq!(c.language(), "zh-hans");
        assert_eq!(c.auth_mode(), AuthMode::Signature);
        assert_eq!(c.endpoint().path(), "/prefix");
    }

    #[test]
    fn env_access_token_needs_no_secret() {
        let c = ClientBuilder::from_lookup(lookup(&[
            ("BK_COMPONENT_API_URL", "http://x"),
            ("BK_ACCESS_TOKEN", "at"),
        ]))
        .unwrap()
        .build_config()
        .unwrap();
        assert_eq!(c.user(), &UserAuth::AccessToken("at".into()));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let m = config_msg(ClientBuilder::from_lookup(lookup(&[])).unwrap_err());
        assert!(m.contains("BK_COMPONENT_API_URL"), "{m}");
        let m = config_msg(
            ClientBuilder::from_lookup(lookup(&[("BK_COMPONENT_API_URL", "http://x")]))
                .unwrap_err(),
        );
        assert!(m.contains("BK_APP_CODE"), "{m}");
        let m = config_msg(
            ClientBuilder::from_lookup(lookup(&[
                ("BK_COMPONENT_API_URL", "http://x"),
                ("BK_APP_CODE", "a"),
                ("BK_APP_SECRET", ""),
            ]))
            .unwrap_err(),
        );
        assert!(m.contains("BK_APP_SECRET"), "{m}");
        let m = config_msg(
            ClientBuilder::from_lookup(lookup(&[
                ("BK_COMPONENT_API_URL", "http://x"),
                ("BK_APP_CODE", "a"),
                ("BK_APP_SECRET", "s"),
                ("DEFAULT_BK_API_VER", "v3"),
            ]))
            .unwrap_err(),
        );
        assert!(m.contains("DEFAULT_BK_API_VER") && m.contains("v3"), "{m}");
        let m = config_msg(
            ClientBuilder::from_lookup(lookup(&[
                ("BK_COMPONENT_API_URL", "http://x"),
                ("BK_APP_CODE", "a"),
                ("BK_APP_SECRET", "s"),
                ("BK_API_USE_TEST_ENV", "maybe"),
            ]))
            .unwrap_err(),
        );
        assert!(m.contains("BK_API_USE_TEST_ENV"), "{m}");
    }

    #[test]
    fn env_gateway_settings() {
        let base = [
            ("BK_COMPONENT_API_URL", "http://x"),
            ("BK_APP_CODE", "a"),
            ("BK_APP_SECRET", "s"),
        ];
        let mut vars = base.to_vec();
        vars.push(("BK_API_URL_TMPL", "http://bkapi.example.com/api/{api_name}"));
        vars.push((
            "BK_API_STAGE_URL_TMPL",
            "http://{stage}-{api_name}.example.com",
        ));
        vars.push(("BK_API_DEFAULT_STAGE_MAPPINGS", r#"{"bk-user": "test"}"#));
        let c = ClientBuilder::from_lookup(lookup(&vars))
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(
            c.gateway_url_template(),
            Some("http://bkapi.example.com/api/{api_name}")
        );
        assert_eq!(
            c.gateway_stage_url_template(),
            Some("http://{stage}-{api_name}.example.com")
        );
        assert_eq!(c.stage_of("bk-user"), "test");
        assert_eq!(c.stage_of("bk-other"), "prod");

        for (var, value) in [
            ("BK_API_DEFAULT_STAGE_MAPPINGS", "bk-user=test"),
            ("BK_API_DEFAULT_STAGE_MAPPINGS", r#"{"bk-user": 1}"#),
            ("BK_API_DEFAULT_STAGE_MAPPINGS", r#"["test"]"#),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            let m = config_msg(ClientBuilder::from_lookup(lookup(&vars)).unwrap_err());
            assert!(m.contains(var), "{m}");
        }
        for (var, value) in [
            ("BK_API_URL_TMPL", "http://bkapi.example.com/api/"),
            ("BK_API_STAGE_URL_TMPL", "http://{api_name}.example.com"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            let m = config_msg(
                ClientBuilder::from_lookup(lookup(&vars))
                    .unwrap()
                    .build_config()
                    .unwrap_err(),
            );
            assert!(m.contains(var), "{m}");
        }
    }

    #[test]
    fn bad_endpoints() {
        for bad in [
            "",
            "paas.example.com",
            "ftp://x",
            "http://x/?a=1",
            "http://u:p@x",
        ] {
            let r = ClientBuilder::new()
                .endpoint(bad)
                .app_code("a")
                .app_secret("s")
                .build_config();
            assert!(r.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn zero_timeout_rejected() {
        let r = ClientBuilder::new()
            .endpoint("http://x")
            .app_code("a")
            .app_secret("s")
            .request_timeout(Duration::ZERO)
            .build_config();
        assert!(r.is_err());
    }
}
