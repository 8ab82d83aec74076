//! [`RetryPolicy`]: how often and how patiently a call is retried.
//!
//! # Defaults ([`RetryPolicy::default`])
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | max attempts | 3 | first try + 2 retries |
//! | initial backoff | 500 ms | cap of the first random wait (full jitter) |
//! | max backoff | 20 s | cap of every random wait |
//! | max server wait | 30 s | a `Retry-After` longer than this is not waited for: the call fails at once |
//! | token bucket | on | retries draw on the client's [`TokenBucket`](super::TokenBucket) |
//!
//! The whole operation (every attempt and every wait) is also bounded by the
//! client's operation timeout; a retry whose wait would overrun it is not made.

use std::time::Duration;

use super::backoff::Backoff;

/// Default number of attempts (first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default cap of the first backoff.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Default cap of every backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Default longest server-requested wait that is honoured.
pub const DEFAULT_MAX_SERVER_WAIT: Duration = Duration::from_secs(30);

/// How a call is retried. See the [module documentation](self) for the defaults.
///
/// ```
/// use std::time::Duration;
/// use bk_runtime::RetryPolicy;
/// let patient = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(200));
/// let never = RetryPolicy::disabled();
/// assert_eq!(never.get_max_attempts(), 1);
/// # let _ = patient;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    max_server_wait: Duration,
    use_token_bucket: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff {
                initial: DEFAULT_INITIAL_BACKOFF,
                max: DEFAULT_MAX_BACKOFF,
            },
            max_server_wait: DEFAULT_MAX_SERVER_WAIT,
            use_token_bucket: true,
        }
    }
}

impl RetryPolicy {
    /// The default policy.
    pub fn standard() -> Self {
        Self::default()
    }

    /// No retries: one attempt.
    pub fn disabled() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, first try included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Cap of the first random wait; later caps double.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.backoff.initial = d;
        self
    }

    /// Cap of every random wait.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.backoff.max = d;
        self
    }

    /// Longest `Retry-After` / `X-Bkapi-RateLimit-Reset` that is waited for;
    /// a longer one ends the call with the rate-limit error.
    pub fn max_server_wait(mut self, d: Duration) -> Self {
        self.max_server_wait = d;
        self
    }

    /// Whether retries draw on the client's token bucket (default `true`).
    pub fn token_bucket(mut self, yes: bool) -> Self {
        self.use_token_bucket = yes;
        self
    }

    /// Attempts in all.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff schedule.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Longest honoured server wait.
    pub fn get_max_server_wait(&self) -> Duration {
        self.max_server_wait
    }

    /// Whether retries draw on the token bucket.
    pub fn uses_token_bucket(&self) -> bool {
        self.use_token_bucket
    }
}
