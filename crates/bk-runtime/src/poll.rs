//! Polling a long-running task until it is done: the loop shared by the workflow helpers
//! (JOB v3 and v2 runs, GSE process commands, ...).
//!
//! A [`Poller`] calls a `fetch` future, hands its answer to a synchronous `done` check, and
//! sleeps between polls with a delay that starts at [`Poller::initial_delay`] and grows by
//! half up to [`Poller::max_delay`]. It stops at the first answer `done` accepts, at the
//! first `fetch` error ([`PollError::Failed`]), or after the first poll that ends past
//! [`Poller::timeout`] ([`PollError::TimedOut`]). The last sleep is shortened so that the
//! final poll happens at the deadline, not after it.
//!
//! `done` is a plain closure, so it may update state of the caller (last status seen,
//! progress callbacks) that the `fetch` future must not borrow.
//!
//! ```
//! use std::time::Duration;
//! use bk_runtime::poll::Poller;
//!
//! # async fn demo() {
//! let poller = Poller::new(Duration::from_millis(1), Duration::from_millis(4))
//!     .timeout(Some(Duration::from_secs(5)));
//! let mut n = 0;
//! let end = poller
//!     .run(
//!         || async { Ok::<_, std::io::Error>(3) },
//!         |answer, info| {
//!             n = info.polls;
//!             *answer == 3
//!         },
//!     )
//!     .await
//!     .unwrap();
//! assert_eq!((end.value, end.polls, n), (3, 1, 1));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// Growth of the delay between two polls.
const BACKOFF_FACTOR: f64 = 1.5;

/// How to poll: delays and overall timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poller {
    /// Delay after the first poll (default 1 s).
    pub initial_delay: Duration,
    /// Longest delay between two polls (default 5 s); each delay is 1.5 times the last.
    pub max_delay: Duration,
    /// Give up after this long (default 1 h); `None` polls until the task is done.
    pub timeout: Option<Duration>,
}

impl Default for Poller {
    fn default() -> Self {
        Poller {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            timeout: Some(Duration::from_secs(3600)),
        }
    }
}

/// What the `done` check of [`Poller::run`] sees with each answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInfo {
    /// Polls so far, this one included (1 for the first).
    pub polls: u32,
    /// Time since polling began.
    pub elapsed: Duration,
}

/// The answer that ended the polling.
#[derive(Debug, Clone, PartialEq)]
pub struct Polled<T> {
    /// The answer `done` accepted.
    pub value: T,
    /// Polls made.
    pub polls: u32,
    /// Time spent polling.
    pub elapsed: Duration,
}

/// Why polling stopped without an accepted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum PollError<E> {
    /// A `fetch` failed; polling stopped at once.
    Failed(E),
    /// The timeout passed before `done` accepted an answer.
    TimedOut {
        /// Polls made.
        polls: u32,
        /// Time spent polling.
        elapsed: Duration,
    },
}

impl<E: fmt::Display> fmt::Display for PollError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Failed(e) => write!(f, "{e}"),
            PollError::TimedOut { polls, elapsed } => {
                write!(f, "not done after {polls} polls in {elapsed:?}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PollError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PollError::Failed(e) => Some(e),
            PollError::TimedOut { .. } => None,
        }
    }
}

impl Poller {
    /// Polls with these delays and the default timeout (1 h).
    pub fn new(initial_delay: Duration, max_delay: Duration) -> Self {
        Poller {
            initial_delay,
            max_delay,
            ..Poller::default()
        }
    }

    /// Sets the overall timeout (`None`: none).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The delay that follows `delay`.
    fn next_delay(&self, delay: Duration) -> Duration {
        delay
            .mul_f64(BACKOFF_FACTOR)
            .min(self.max_delay.max(self.initial_delay))
    }

    /// Calls `fetch` until `done` accepts its answer, sleeping between polls.
    ///
    /// Errors: [`PollError::Failed`] with the first `fetch` error, [`PollError::TimedOut`]
    /// when the timeout passed (the last answer was seen by `done`, so the caller may keep
    /// whatever it needs from it).
    pub async fn run<T, E, F, Fut, D>(
        &self,
        mut fetch: F,
        mut done: D,
    ) -> Result<Polled<T>, PollError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        D: FnMut(&T, &PollInfo) -> bool,
    {
        let started = Instant::now();
        let deadline = self.timeout.map(|t| started + t);
        let mut delay = self.initial_delay;
        let mut polls = 0u32;
        loop {
            let value = fetch().await.map_err(PollError::Failed)?;
            polls = polls.saturating_add(1);
            let info = PollInfo {
                polls,
                elapsed: started.elapsed(),
            };
            if done(&value, &info) {
                return Ok(Polled {
                    value,
                    polls,
                    elapsed: started.elapsed(),
                });
            }
            let now = Instant::now();
            match deadline {
                Some(d) if now >= d => {
                    return Err(PollError::TimedOut {
                        polls,
                        elapsed: started.elapsed(),
                    })
                }
                Some(d) => tokio::time::sleep(delay.min(d - now)).await,
                None => tokio::time::sleep(delay).await,
            }
            delay = self.next_delay(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn delays_grow_by_half_up_to_the_cap() {
        let p = Poller::new(Duration::from_millis(100), Duration::from_millis(300));
        let mut d = p.initial_delay;
        let mut seen = Vec::new();
        for _ in 0..5 {
            d = p.next_delay(d);
            seen.push(d.as_millis());
        }
        assert_eq!(seen, vec![150, 225, 300, 300, 300]);
        // A cap below the start keeps the start.
        let p = Poller::new(Duration::from_millis(100), Duration::from_millis(10));
        assert_eq!(p.next_delay(p.initial_delay), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn stops_when_done_and_counts_polls() {
        let p = Poller::new(Duration::from_millis(1), Duration::from_millis(2));
        let n = Cell::new(0u32);
        let mut infos = Vec::new();
        let r = p
            .run(
                || {
                    n.set(n.get() + 1);
                    let v = n.get();
                    async move { Ok::<u32, String>(v) }
                },
                |v, info| {
                    infos.push(info.polls);
                    *v == 4
                },
            )
            .await
            .unwrap();
        assert_eq!(r.value, 4);
        assert_eq!(r.polls, 4);
        assert_eq!(infos, vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn first_error_stops() {
        let p = Poller::new(Duration::from_millis(1), Duration::from_millis(2));
        let n = Cell::new(0u32);
        let r = p
            .run(
                || {
                    n.set(n.get() + 1);
                    let v = n.get();
                    async move {
                        if v == 2 {
                            Err("boom".to_string())
                        } else {
                            Ok(v)
                        }
                    }
                },
                |_, _| false,
            )
            .await;
        assert_eq!(r, Err(PollError::Failed("boom".to_string())));
        assert_eq!(n.get(), 2);
    }

    #[tokio::test]
    async fn times_out_with_a_last_poll_at_the_deadline() {
        let p = Poller::new(Duration::from_millis(5), Duration::from_millis(20))
            .timeout(Some(Duration::from_millis(60)));
        let started = Instant::now();
        let r = p.run(|| async { Ok::<_, String>(()) }, |_, _| false).await;
        let took = started.elapsed();
        match r {
            Err(PollError::TimedOut { polls, elapsed }) => {
                assert!(polls >= 3, "{polls}");
                assert!(elapsed >= Duration::from_millis(60), "{elapsed:?}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
