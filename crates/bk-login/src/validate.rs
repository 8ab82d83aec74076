//! Validating a user's `bk_token` into a [`User`], with a short cache.
//!
//! A web app that receives the BlueKing login cookie asks `is_login` whether the token is
//! valid and whose it is, then `get_user` for that user's profile (`PROTOCOL.md` 7).
//! [`LoginValidator`] does both and caches the answer per token for a short time
//! ([`LoginValidator::ttl`], default 60 s), so a burst of requests from one user costs two
//! API calls. Invalid tokens are never cached (the error is returned every time), the cache
//! holds at most [`LoginValidator::max_entries`] tokens (expired ones go first, then the
//! oldest), and tokens never appear in `Debug` output.
//!
//! ```no_run
//! use bk_login::validate::LoginValidator;
//!
//! # async fn demo(client: bk_runtime::Client, cookie: &str) -> Result<(), bk_runtime::Error> {
//! let validator = LoginValidator::new(&client);
//! let user = validator.validate(cookie).await?;
//! println!("hello {}", user.bk_username);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::types::User;
use crate::BkLogin;

/// Default time a validated token is trusted without asking again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Default number of cached tokens.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// Cached users by token, with the time they were validated.
type Cache = HashMap<String, (Instant, Arc<User>)>;

/// Turns `bk_token`s into users (`is_login` + `get_user`), with a short TTL cache.
/// Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct LoginValidator {
    login: BkLogin,
    ttl: Duration,
    max_entries: usize,
    cache: Arc<Mutex<Cache>>,
}

impl fmt::Debug for LoginValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginValidator")
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .field("cached", &self.cached())
            .finish_non_exhaustive()
    }
}

impl LoginValidator {
    /// A validator calling through `client` (app credentials; no user auth needed).
    pub fn new(client: &bk_runtime::Client) -> Self {
        LoginValidator {
            login: BkLogin::new(client.clone()),
            ttl: DEFAULT_TTL,
            max_entries: DEFAULT_MAX_ENTRIES,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// How long a validated token is trusted (0 disables the cache).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Most cached tokens (at least 1).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// Number of tokens in the cache (expired ones included until evicted).
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    /// Forgets one token (e.g. on logout).
    pub fn invalidate(&self, bk_token: &str) {
        self.lock().remove(bk_token);
    }

    /// Forgets every token.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user `bk_token` belongs to. Errors: the API error of `is_login` for an invalid or
    /// expired token (code 1306000 on the ESB), or of `get_user`.
    pub async fn validate(&self, bk_token: &str) -> Result<Arc<User>, bk_runtime::Error> {
        if !self.ttl.is_zero() {
            let cache = self.lock();
            if let Some((at, user)) = cache.get(bk_token) {
                if at.elapsed() < self.ttl {
                    return Ok(user.clone());
                }
            }
        }
        let who = self.login.is_login(bk_token).send().await?;
        let user = self
            .login
            .get_user()
            .bk_username(who.bk_username)
            .send()
            .await?;
        let user = Arc::new(user);
        if !self.ttl.is_zero() {
            let mut cache = self.lock();
            if cache.len() >= self.max_entries && !cache.contains_key(bk_token) {
                let ttl = self.ttl;
                cache.retain(|_, (at, _)| at.elapsed() < ttl);
                if cache.len() >= self.max_entries {
                    if let Some(oldest) = cache
                        .iter()
                        .min_by_key(|(_, (at, _))| *at)
                        .map(|(k, _)| k.clone())
                    {
                        cache.remove(&oldest);
                    }
                }
            }
            cache.insert(bk_token.to_string(), (Instant::now(), user.clone()));
        }
        Ok(user)
    }
}
