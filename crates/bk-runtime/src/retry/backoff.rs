//! Exponential backoff with full jitter (the AWS "full jitter" scheme, as in
//! smithy-rs): before retry `n` (1-based) wait a uniformly random time in
//! `[0, min(max, initial * 2^(n-1))]`. A server hint (`Retry-After`,
//! `X-Bkapi-RateLimit-Reset`) replaces the random wait: the client waits
//! exactly what it was told.

use std::time::Duration;

/// The backoff schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Cap of the first wait.
    pub initial: Duration,
    /// Cap of every wait.
    pub max: Duration,
}

impl Backoff {
    /// Upper bound of the wait before retry `retry` (1-based): `min(max, initial * 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `retry`, given a uniform random number `unit` in `[0, 1)`
    /// and the server's hint, if any.
    pub fn delay_with(&self, retry: u32, unit: f64, hint: Option<Duration>) -> Duration {
        if let Some(h) = hint {
            return h;
        }
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// [`Backoff::delay_with`] with a fresh random number.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        self.delay_with(retry, rand::random::<f64>(), hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_and_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(4), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(1));
        assert_eq!(b.ceiling(1000), Duration::from_secs(1));
        assert_eq!(b.delay_with(3, 0.5, None), Duration::from_millis(200));
        assert_eq!(b.delay_with(3, 0.0, None), Duration::ZERO);
        for _ in 0..100 {
            assert!(b.delay(2, None) <= Duration::from_millis(200));
        }
    }

    #[test]
    fn hint_wins() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let h = Some(Duration::from_secs(3));
        assert_eq!(b.delay_with(1, 0.9, h), Duration::from_secs(3));
    }
}
