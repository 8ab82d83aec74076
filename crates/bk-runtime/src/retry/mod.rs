//! Retries: which failures are worth another attempt ([`classifier`]), how long
//! to wait before it ([`backoff`]), how many retries a client may spend while
//! the platform is failing ([`token_bucket`]), and the knobs ([`policy`]).
//!
//! The loop that uses them lives in [`crate::client`]. Idempotency decides
//! what may be retried: an API whose [`ApiMeta::idempotent`](crate::ApiMeta)
//! is `false` is retried only when the failure proves the request was never
//! executed ([`Verdict::not_executed`]).

pub mod backoff;
pub mod classifier;
pub mod policy;
pub mod token_bucket;

pub use classifier::{classify, Verdict};
pub use policy::RetryPolicy;
pub use token_bucket::TokenBucket;
