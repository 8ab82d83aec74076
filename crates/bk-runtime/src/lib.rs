//! Runtime shared by every generated BlueKing client crate.
//!
//! One [`Client`] (one connection pool) serves every component. Generated
//! code describes each API with a `const` [`ApiMeta`] and calls
//! [`Client::send`]; the runtime builds the request ([`request`]), adds the
//! credentials ([`auth`], [`signature`]), sends it (`transport`), reads the
//! envelope ([`envelope`]) and turns every failure into one [`Error`] whose
//! `Display` names the API, HTTP status, code, message and request id.
//! Secrets ([`Secret`]) never reach `Debug`, `Display`, errors or logs
//! ([`redact`]).
//!
//! ```no_run
//! use bk_runtime::{ApiMeta, Client, Method};
//!
//! const SEARCH_BUSINESS: ApiMeta = ApiMeta {
//!     component: "cc",
//!     name: "search_business",
//!     method: Method::Post,
//!     path: "/api/c/compapi{bk_api_ver}/cc/search_business/",
//!     idempotent: true,
//!     sensitive: &[],
//!     cache_ttl_secs: None,
//! };
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = Client::from_env()?;
//! let data: serde_json::Value = client
//!     .send(&SEARCH_BUSINESS, &serde_json::json!({"fields": ["bk_biz_id"]}))
//!     .await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod client;
pub mod config;
pub mod credentials;
pub mod envelope;
pub mod error;
pub mod formats;
pub mod gateway;
pub mod hooks;
pub mod meta;
#[cfg(feature = "metrics")]
pub mod metrics;
mod no_data;
pub mod pagination;
pub mod poll;
pub mod profile;
pub mod redact;
pub mod registry;
pub mod request;
pub mod retry;
pub mod secret;
pub mod serde_helpers;
pub mod signature;
mod transport;

pub use client::{CallOptions, Client};
pub use config::{ApiVersion, AuthMode, ClientBuilder, Config, UserAuth};
pub use credentials::{BoxFuture, CredentialProvider};
pub use envelope::RawResponse;
pub use error::{Error, ErrorKind, TimeoutKind};
pub use gateway::Gateway;
pub use hooks::Hook;
pub use meta::{ApiMeta, Method};
pub use no_data::NoData;
pub use registry::{check_data, testing, ApiEntry, DataMismatch};
pub use retry::{RetryPolicy, TokenBucket};
pub use secret::Secret;

/// Re-exports for generated crates, so that they may depend on `bk-runtime` alone.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;
}

/// The runtime's internals that its benchmarks measure (`crates/bk-bench`). Not an API: it
/// may change in any release.
#[doc(hidden)]
pub mod __bench {
    pub use crate::envelope::decode_response;
}
