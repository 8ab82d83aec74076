//! Hooks: user code called around every attempt of every call, for audit
//! logs and custom metrics.
//!
//! Register any number with [`ClientBuilder::hook`](crate::ClientBuilder::hook);
//! they run in registration order, synchronously, on the task making the call,
//! so they must be quick (hand heavy work to a channel). They see no secret:
//! only the API, the attempt, the HTTP status, the code, the request id and
//! the (redacted) [`Error`].
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use bk_runtime::hooks::{AttemptInfo, Hook, ResponseInfo};
//!
//! #[derive(Default)]
//! struct CountFailures(AtomicU64);
//!
//! impl Hook for CountFailures {
//!     fn on_error(&self, _: &AttemptInfo<'_>, _: &bk_runtime::Error, _will_retry: bool) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! let client = bk_runtime::Client::builder()
//!     .endpoint("http://paas.example.com")
//!     .app_code("a")
//!     .app_secret("s")
//!     .hook(std::sync::Arc::new(CountFailures::default()))
//!     .build();
//! # let _ = client;
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::meta::Method;

/// The attempt a hook is called for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AttemptInfo<'a> {
    /// ESB component (`"cc"`), or the gateway name for an API gateway resource.
    pub component: &'a str,
    /// API name (`"search_business"`), or the resource path for an API gateway resource.
    pub api: &'a str,
    /// Whether the call targets an API gateway resource ([`crate::gateway`]).
    pub gateway: bool,
    /// HTTP method.
    pub method: Method,
    /// Whether the API is idempotent (untyped calls count as not idempotent).
    pub idempotent: bool,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// How long the client waited before this attempt (zero for the first).
    pub backoff: Duration,
    /// Time taken by the attempt: zero in [`Hook::before_send`], the attempt's
    /// duration in [`Hook::after_response`] and [`Hook::on_error`].
    pub elapsed: Duration,
    /// Size of the request body in bytes (0 for query-string methods, and in
    /// [`Hook::before_send`]).
    pub request_body_bytes: u64,
}

/// A response that carried a BlueKing envelope (`result` true or false).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResponseInfo<'a> {
    /// HTTP status.
    pub http_status: u16,
    /// Envelope `result`.
    pub result: bool,
    /// Envelope `code`.
    pub code: i64,
    /// Request id, when the server sent one.
    pub request_id: Option<&'a str>,
    /// Time taken by the attempt.
    pub duration: Duration,
    /// Size of the response body in bytes.
    pub body_bytes: u64,
}

/// Callbacks around each attempt. Every method has an empty default.
pub trait Hook: Send + Sync + 'static {
    /// Before an attempt is sent.
    fn before_send(&self, attempt: &AttemptInfo<'_>) {
        let _ = attempt;
    }

    /// After an attempt got an envelope, successful or not (`result: false`
    /// is then also reported to [`Hook::on_error`]).
    fn after_response(&self, attempt: &AttemptInfo<'_>, response: &ResponseInfo<'_>) {
        let _ = (attempt, response);
    }

    /// After an attempt failed (transport, timeout, HTTP status, non-JSON body
    /// or `result: false`); `will_retry` tells whether another attempt follows.
    fn on_error(&self, attempt: &AttemptInfo<'_>, error: &Error, will_retry: bool) {
        let _ = (attempt, error, will_retry);
    }
}

/// The hooks of a client.
#[derive(Clone, Default)]
pub(crate) struct Hooks(Vec<Arc<dyn Hook>>);

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hooks({})", self.0.len())
    }
}

impl Hooks {
    pub(crate) fn push(&mut self, hook: Arc<dyn Hook>) {
        self.0.push(hook);
    }

    pub(crate) fn before_send(&self, a: &AttemptInfo<'_>) {
        self.0.iter().for_each(|h| h.before_send(a));
    }

    pub(crate) fn after_response(&self, a: &AttemptInfo<'_>, r: &ResponseInfo<'_>) {
        self.0.iter().for_each(|h| h.after_response(a, r));
    }

    pub(crate) fn on_error(&self, a: &AttemptInfo<'_>, e: &Error, will_retry: bool) {
        self.0.iter().for_each(|h| h.on_error(a, e, will_retry));
    }
}
