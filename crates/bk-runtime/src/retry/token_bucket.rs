//! A client-wide retry budget, after smithy-rs' standard retry strategy: each
//! retry takes tokens from a shared bucket (5, or 10 after a timeout), a
//! successful retry gives its tokens back and every other success adds one.
//! When the platform fails for everyone, the bucket empties after a hundred
//! retries or so and calls fail at once instead of multiplying the load: an
//! outage does not turn into a retry storm.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Default capacity (smithy-rs: 500).
pub const DEFAULT_CAPACITY: u32 = 500;
/// Tokens taken by a retry.
pub const RETRY_COST: u32 = 5;
/// Tokens taken by a retry after a timeout.
pub const TIMEOUT_RETRY_COST: u32 = 10;
/// Tokens added by a success that needed no retry.
pub const SUCCESS_REWARD: u32 = 1;

/// A shared retry budget. Cheap to clone: clones share the tokens, so one
/// bucket may serve several clients.
#[derive(Clone)]
pub struct TokenBucket {
    inner: Arc<Bucket>,
}

struct Bucket {
    capacity: u32,
    tokens: AtomicU32,
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("capacity", &self.inner.capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket::new(DEFAULT_CAPACITY)
    }
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens.
    pub fn new(capacity: u32) -> Self {
        TokenBucket {
            inner: Arc::new(Bucket {
                capacity,
                tokens: AtomicU32::new(capacity),
            }),
        }
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.inner.tokens.load(Ordering::Acquire)
    }

    /// The capacity.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }

    /// Takes `cost` tokens if there are that many; `false` (and nothing
    /// taken) otherwise.
    pub fn try_acquire(&self, cost: u32) -> bool {
        self.inner
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// Gives back `amount` tokens, never above the capacity.
    pub fn release(&self, amount: u32) {
        let cap = self.inner.capacity;
        let _ = self
            .inner
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(cap))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_and_refills() {
        let b = TokenBucket::new(12);
        assert!(b.try_acquire(RETRY_COST));
        assert!(b.try_acquire(RETRY_COST));
        assert!(!b.try_acquire(RETRY_COST));
        assert_eq!(b.available(), 2);
        b.release(RETRY_COST);
        assert_eq!(b.available(), 7);
        b.release(100);
        assert_eq!(b.available(), 12);
        let shared = b.clone();
        assert!(shared.try_acquire(TIMEOUT_RETRY_COST));
        assert_eq!(b.available(), 2);
    }
}
