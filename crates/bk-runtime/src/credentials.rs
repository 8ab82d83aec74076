//! User credentials that change while the client lives: a [`CredentialProvider`] supplies
//! them and renews them when the platform rejects them.
//!
//! Set one with [`ClientBuilder::credential_provider`](crate::ClientBuilder::credential_provider).
//! The client then
//!
//! 1. asks [`CredentialProvider::user_auth`] for the user credentials before its first
//!    call (the builder's [`user`](crate::ClientBuilder::user) is not used);
//! 2. when a call fails because the platform rejected the *user* credentials (ESB code
//!    1306000 whose message says the `bk_token` / `access_token` / user authentication is
//!    invalid or expired, or API gateway code 1640102 `USER_VERIFY_FAILED`), asks
//!    [`CredentialProvider::refresh`] once for new ones and repeats the call once with
//!    them. The repeat happens even for non-idempotent APIs, outside the retry policy:
//!    the ESB and the gateway check credentials before they forward a call to the
//!    backend, so a rejected call never ran;
//! 3. if the refresh fails, or the repeated call is rejected again, returns the
//!    authentication error (with the provider's error as its source). It never loops.
//!
//! Refreshes are single-flight: when many concurrent calls fail with the same stale
//! credentials, the provider is asked once and every call waits for that one answer.
//! Calls that started after the refresh already use the new credentials.
//!
//! ```no_run
//! use bk_runtime::{BoxFuture, CredentialProvider, Error, UserAuth};
//!
//! struct Login; // e.g. exchanges a refresh token for a new bk_token
//!
//! impl CredentialProvider for Login {
//!     fn user_auth(&self) -> BoxFuture<'_, Result<UserAuth, Error>> {
//!         Box::pin(async { Ok(UserAuth::BkToken("first-token".into())) })
//!     }
//!     fn refresh<'a>(&'a self, _failed: &'a UserAuth) -> BoxFuture<'a, Result<UserAuth, Error>> {
//!         Box::pin(async { Err(Error::credentials("cannot log in again")) })
//!     }
//! }
//! # fn main() -> Result<(), Error> {
//! let client = bk_runtime::Client::builder()
//!     .endpoint("http://paas.example.com")
//!     .app_code("my-app")
//!     .app_secret("s3cr3t")
//!     .credential_provider(std::sync::Arc::new(Login))
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use futures::future::{FutureExt as _, Shared};
use http::HeaderMap;

use crate::auth::Auth;
use crate::config::{Config, UserAuth};
use crate::error::{Error, ErrorKind};
use crate::request;
use crate::secret::Secret;

/// A boxed, sendable future, as returned by [`CredentialProvider`] methods.
pub type BoxFuture<'a, T> = futures::future::BoxFuture<'a, T>;

/// Supplies the user credentials of a client and renews them. See the
/// [module documentation](self).
///
/// Object safe: the methods return boxed futures (`Box::pin(async move { .. })`).
/// Implementations must not put secrets in the messages of the errors they return.
pub trait CredentialProvider: Send + Sync + 'static {
    /// The credentials to start with; called once, before the client's first call.
    fn user_auth(&self) -> BoxFuture<'_, Result<UserAuth, Error>>;

    /// New credentials to replace `failed`, which the platform has just rejected.
    /// Called at most once per rejection, however many calls saw it.
    fn refresh<'a>(&'a self, failed: &'a UserAuth) -> BoxFuture<'a, Result<UserAuth, Error>>;
}

/// ESB code of every auth failure (and of much else).
const ESB_GENERIC: i64 = 1_306_000;
/// API gateway: user verification failed.
const GATEWAY_USER_VERIFY_FAILED: i64 = 1_640_102;

/// Whether `err` says the platform rejected the user credentials (not the app's, and
/// not a permission problem), so that new credentials may fix it.
pub(crate) fn is_user_auth_failure(err: &Error) -> bool {
    if err.code() == Some(GATEWAY_USER_VERIFY_FAILED) {
        return true;
    }
    match err.kind() {
        ErrorKind::Api {
            code: Some(ESB_GENERIC),
            message,
            ..
        } => user_auth_message(message),
        _ => false,
    }
}

/// Recognises the ESB's wording of a rejected user credential, English or Chinese:
/// it names the credential (or user authentication, or login) and says it is invalid,
/// expired or failed. Messages about a `bk_username` not being trusted are not such
/// failures: no new token would change them.
fn user_auth_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if m.contains("whitelist") || m.contains("white list") || message.contains("白名单") {
        return false;
    }
    let names = [
        "bk_token",
        "access_token",
        "user authentication",
        "user auth",
        "log in again",
        "login again",
    ]
    .iter()
    .any(|n| m.contains(n))
        || ["用户认证", "登录态", "登录"]
            .iter()
            .any(|n| message.contains(n));
    let verdict = ["invalid", "expired", "failed", "fail", "not valid"]
        .iter()
        .any(|v| m.contains(v))
        || ["无效", "过期", "失败"].iter().any(|v| message.contains(v));
    names && verdict
}

/// The credentials in force: what requests are built with.
pub(crate) struct AuthState {
    /// Bumped by every installed refresh.
    pub(crate) generation: u64,
    /// `false` while a provider has not supplied the first credentials.
    pub(crate) ready: bool,
    pub(crate) user: UserAuth,
    pub(crate) auth: Auth,
    /// Base headers of ESB requests (auth header per the client's mode).
    pub(crate) headers: HeaderMap,
    /// Base headers of API gateway requests (always the auth header).
    pub(crate) gateway_headers: HeaderMap,
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("generation", &self.generation)
            .field("ready", &self.ready)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    pub(crate) fn new(
        config: &Config,
        user: UserAuth,
        generation: u64,
        ready: bool,
    ) -> Result<Self, Error> {
        if ready {
            check_app_credentials(config, &user)?;
        }
        let auth = Auth::new(config, &user, config.auth_mode)?;
        let mut headers = request::base_headers(config, &auth)?;
        // ESB requests all go to the endpoint's host; gateway hosts vary per gateway.
        if let Some(host) = request::host_header(&config.endpoint) {
            headers.insert(http::header::HOST, host);
        }
        let gateway_auth = Auth::new(config, &user, crate::AuthMode::Header)?;
        let gateway_headers = request::base_headers(config, &gateway_auth)?;
        Ok(AuthState {
            generation,
            ready,
            user,
            auth,
            headers,
            gateway_headers,
        })
    }
}

/// App credentials are needed unless the user is an access token.
fn check_app_credentials(config: &Config, user: &UserAuth) -> Result<(), Error> {
    if matches!(user, UserAuth::AccessToken(_)) {
        return Ok(());
    }
    if config.app_code.is_empty() {
        return Err(Error::config(
            "app_code is not set (BK_APP_CODE); it is required unless the user is an access token",
        ));
    }
    if config.app_secret.is_empty() {
        return Err(Error::config(
            "app_secret is not set (BK_APP_SECRET); it is required unless the user is an access token",
        ));
    }
    Ok(())
}

type FlightResult = Result<Arc<AuthState>, Arc<Error>>;
type Flight = Shared<BoxFuture<'static, FlightResult>>;

/// How many replaced user secrets are remembered for scrubbing server text.
const RETIRED_MAX: usize = 8;

/// The credentials of a client and the single-flight machinery that renews them.
pub(crate) struct Creds {
    current: RwLock<Arc<AuthState>>,
    provider: Option<Arc<dyn CredentialProvider>>,
    /// The fetch in progress (or last finished), for the generation it replaces.
    flight: Mutex<Option<(u64, Flight)>>,
    /// User secrets replaced by refreshes: still scrubbed from server text.
    retired: Mutex<Vec<Secret>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Creds {
    pub(crate) fn new(
        config: &Config,
        provider: Option<Arc<dyn CredentialProvider>>,
    ) -> Result<Self, Error> {
        let ready = provider.is_none();
        let state = AuthState::new(config, config.user.clone(), 0, ready)?;
        Ok(Creds {
            current: RwLock::new(Arc::new(state)),
            provider,
            flight: Mutex::new(None),
            retired: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn has_provider(&self) -> bool {
        self.provider.is_some()
    }

    /// The credentials in force.
    pub(crate) fn current(&self) -> Arc<AuthState> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The credentials to send with, asking the provider for the first ones if needed.
    pub(crate) async fn ready(&self, config: &Config) -> Result<Arc<AuthState>, Error> {
        let state = self.current();
        if state.ready {
            return Ok(state);
        }
        self.fetch(config, &state).await
    }

    /// New credentials after `failed` was rejected: one provider call per generation,
    /// shared by every caller that saw the same rejection.
    pub(crate) async fn refresh(
        &self,
        config: &Config,
        failed: &AuthState,
    ) -> Result<Arc<AuthState>, Error> {
        self.fetch(config, failed).await
    }

    async fn fetch(&self, config: &Config, stale: &AuthState) -> Result<Arc<AuthState>, Error> {
        let Some(provider) = self.provider.clone() else {
            return Err(Error::credentials("no credential provider is set"));
        };
        let flight = {
            let current = self.current();
            if current.generation != stale.generation {
                // Someone else already replaced the stale credentials.
                return Ok(current);
            }
            let mut slot = lock(&self.flight);
            match &*slot {
                // A fetch for these credentials is under way: join it. A finished one
                // that failed is not reused, so that a later call may try again.
                Some((generation, f))
                    if *generation == stale.generation && !matches!(f.peek(), Some(Err(_))) =>
                {
                    f.clone()
                }
                _ => {
                    let f = new_flight(provider, config.clone(), stale);
                    *slot = Some((stale.generation, f.clone()));
                    f
                }
            }
        };
        match flight.await {
            Ok(state) => {
                self.install(&state);
                Ok(self.current())
            }
            Err(e) => Err(Error::credentials(e.to_string()).with_source(e)),
        }
    }

    /// Makes `state` the credentials in force, unless newer ones already are.
    fn install(&self, state: &Arc<AuthState>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if state.generation <= current.generation && current.ready {
            return;
        }
        if let UserAuth::BkToken(s) | UserAuth::AccessToken(s) = &current.user {
            if current.ready && !s.is_empty() {
                let mut retired = lock(&self.retired);
                if retired.len() >= RETIRED_MAX {
                    retired.remove(0);
                }
                retired.push(s.clone());
            }
        }
        *current = state.clone();
    }

    /// Calls `f` with every value of [`Creds::secret_values`], without copying them.
    pub(crate) fn for_each_secret(
        &self,
        config: &Config,
        state: &AuthState,
        f: &mut dyn FnMut(&str),
    ) {
        let mut visit = |s: &Secret| {
            if !s.is_empty() {
                f(s.expose());
            }
        };
        visit(&config.app_secret);
        if let UserAuth::BkToken(s) | UserAuth::AccessToken(s) = &state.user {
            visit(s);
        }
        if let UserAuth::BkToken(s) | UserAuth::AccessToken(s) = &config.user {
            visit(s);
        }
        for s in lock(&self.retired).iter() {
            visit(s);
        }
    }

    /// Every secret that server text must be scrubbed of: the app secret, the user
    /// secret in force and the ones it replaced.
    pub(crate) fn secret_values(&self, config: &Config, state: &AuthState) -> Vec<Secret> {
        let mut v = vec![config.app_secret.clone()];
        if let UserAuth::BkToken(s) | UserAuth::AccessToken(s) = &state.user {
            v.push(s.clone());
        }
        if let UserAuth::BkToken(s) | UserAuth::AccessToken(s) = &config.user {
            v.push(s.clone());
        }
        v.extend(lock(&self.retired).iter().cloned());
        v.retain(|s| !s.is_empty());
        v
    }
}

/// The provider call and the new state, as a future any number of callers can await.
fn new_flight(provider: Arc<dyn CredentialProvider>, config: Config, stale: &AuthState) -> Flight {
    let initial = !stale.ready;
    let failed = stale.user.clone();
    let generation = stale.generation + 1;
    async move {
        let user = if initial {
            tracing::debug!("asking the credential provider for user credentials");
            provider.user_auth().await
        } else {
            tracing::debug!(
                "user credentials rejected: asking the credential provider to refresh them"
            );
            provider.refresh(&failed).await
        }
        .map_err(Arc::new)?;
        AuthState::new(&config, user, generation, true)
            .map(Arc::new)
            .map_err(Arc::new)
    }
    .boxed()
    .shared()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, message: &str) -> Error {
        Error::from_kind(ErrorKind::Api {
            code: Some(code),
            message: message.into(),
            permission: None,
        })
    }

    #[test]
    fn recognises_user_auth_failures() {
        for m in [
            "user authentication failed, the bk_token is invalid or has expired, please log in again",
            "access_token is invalid or has expired",
            "User authentication failed, please log in again",
            "用户认证失败，请重新登录",
            "登录态无效",
        ] {
            assert!(is_user_auth_failure(&api(1306000, m)), "{m}");
        }
        for m in [
            "user authentication failed, app [x] is not on the skip-user-auth whitelist, so \
             bk_username is not accepted; please provide bk_token or access_token",
            "app code [x] or app secret is incorrect",
            "Parameters error [bk_biz_id is required]",
        ] {
            assert!(!is_user_auth_failure(&api(1306000, m)), "{m}");
        }
        assert!(!is_user_auth_failure(&api(1306402, "bk_token invalid")));
        let gw = Error::from_kind(ErrorKind::HttpStatus {
            status: 401,
            code: Some(1640102),
            message: None,
            snippet: String::new(),
        });
        assert!(is_user_auth_failure(&gw));
        let app = Error::from_kind(ErrorKind::HttpStatus {
            status: 401,
            code: Some(1640101),
            message: None,
            snippet: String::new(),
        });
        assert!(!is_user_auth_failure(&app));
    }
}
