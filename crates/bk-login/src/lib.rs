//! Typed client for the BlueKing `bk_login` component: BlueKing login service (users and login sessions).
//!
//! Everything under `generated` comes from `specs/bk_login/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_login::BkLoginExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.bk_login();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod validate;

#[cfg(feature = "axum")]
pub mod layer;
